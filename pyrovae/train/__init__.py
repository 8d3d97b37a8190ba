"""Training: SVI with checkpoints, resume, logging and a NaN guard."""
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .encode import Codes
from .fit import Run, TrainingDiverged, build, fit, load_run

__all__ = ["TrainConfig", "Codes", "Run", "TrainingDiverged", "build", "fit", "load_run", "load_checkpoint",
           "save_checkpoint"]

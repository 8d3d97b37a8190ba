"""Training: SVI with checkpoints, resume, logging and a NaN guard."""
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .fit import Run, TrainingDiverged, build, fit, load_run

__all__ = ["TrainConfig", "Run", "TrainingDiverged", "build", "fit", "load_run", "load_checkpoint",
           "save_checkpoint"]

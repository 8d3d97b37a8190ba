"""The full description of a training run, saved as ``config.json`` in the run dir."""
import dataclasses
import json
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PyroVAEError
from ..utils import PRECISIONS


@dataclass
class TrainConfig:
    objective: str = "beta-vae"
    objective_options: dict = field(default_factory=dict)  # the objective's hyperparameters
    dataset: str = "dsprites"  # a registered name or the path of the user's data
    path: str = None  # the official dSprites npz, when dataset == "dsprites"
    prior: str = "normal"
    guide: str = "diagonal"
    likelihood: str = "bernoulli"
    arch: str = "auto"
    latent_dim: int = 10
    steps: int = None  # None: a budget that suits the device (see default_steps)
    batch_size: int = 64
    lr: float = 1e-4
    seed: int = 0
    device: str = "auto"
    out: str = None  # None: runs/<objective>-seed<seed>
    checkpoint_every: int = 500
    log_every: int = 50
    plots: bool = True
    evaluate: bool = True
    eval_points: int = None  # None: a size that suits the device
    precision: str = "auto"  # fp32, bf16 (mixed: the networks in bf16) or auto (bf16 where native)
    jit: bool = False  # compile the loss with torch's JIT tracer (see pyrovae.objectives.base)

    @classmethod
    def from_dict(cls, values):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise PyroVAEError(f"unknown config key(s) {', '.join(sorted(unknown))}")
        return cls(**values)

    def to_dict(self):
        return dataclasses.asdict(self)

    def validate(self):
        def positive_int(name):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise PyroVAEError(f"{name.replace('_', '-')} must be a positive integer, got {value!r}")

        for name in ("latent_dim", "steps", "batch_size", "checkpoint_every", "log_every", "eval_points"):
            positive_int(name)
        if not self.lr > 0:
            raise PyroVAEError(f"lr must be > 0, got {self.lr}")
        if self.precision not in PRECISIONS:
            raise PyroVAEError(f"unknown precision {self.precision!r}: use {', '.join(PRECISIONS)}")
        if not isinstance(self.jit, bool):
            raise PyroVAEError(f"jit must be true or false, got {self.jit!r}")
        return self


#: 30 epochs of dSprites at batch 64, the thesis' budget (Mushom 2020, Table 5.1): the GPU default.
LITERATURE_STEPS = 22_260
#: On a CPU with no --steps the trainer times its first steps and trains for about this long: with the
#: metric suite and the plots the default job stays within 10 minutes on our 2-core CPUs.
CPU_TRAIN_SECONDS = 480


def cpu_step_budget(seconds_per_step):
    """Steps that fit in :data:`CPU_TRAIN_SECONDS` (at least 100, at most the literature budget)."""
    return int(min(LITERATURE_STEPS, max(100, CPU_TRAIN_SECONDS / seconds_per_step)))


def provenance():
    """Package versions, Python, platform and the git revision of the code that runs."""
    import numpy
    import pyro
    import sklearn
    import torch

    from .. import __version__

    try:
        repo = Path(__file__).resolve().parents[2]
        rev = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=5).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        rev, dirty = None, None
    return {
        "pyrovae": __version__, "torch": torch.__version__, "pyro": pyro.__version__,
        "numpy": numpy.__version__, "sklearn": sklearn.__version__, "python": sys.version.split()[0],
        "platform": platform.platform(), "git_rev": rev, "git_dirty": dirty,
        "command": sys.argv,
    }


def write_json(path, obj):
    """Write JSON atomically (a killed process never leaves half a file)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    tmp.replace(path)

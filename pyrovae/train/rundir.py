"""The run dir contract: the files a run writes, its saved config, and which changes of the config a
saved run tolerates.

A run dir holds ``config.json`` (``{"config": {...}, "seed": ..., "starts": [provenance, ...]}``),
``log.jsonl`` (one line per logged step), ``checkpoint.pt``, once evaluated ``metrics.json`` and, with
``config.tensorboard``, TensorBoard's event files in ``tensorboard/``.
"""
import json
import platform
import subprocess
import sys
from pathlib import Path

import numpy
import pyro
import sklearn
import torch

from .. import __version__
from ..errors import PyroVAEError

CONFIG = "config.json"
LOG = "log.jsonl"
CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"

#: config keys that change how a run computes (where, in which precision, how often it logs and saves,
#: whether it plots or logs to TensorBoard), not what it computes
RUNTIME_KEYS = frozenset({"device", "checkpoint_every", "log_every", "plots", "precision", "jit", "tensorboard"})
#: config keys that may differ when a run is resumed; everything else must match the saved run
RESUMABLE_CHANGES = RUNTIME_KEYS | {"steps", "evaluate", "eval_points"}


def log_records(path):
    """The records of a ``log.jsonl``, one dict per line; [] when there is none. A run killed in the
    middle of a write leaves a last line without its newline: it is left out rather than parsed."""
    path = Path(path)
    text = path.read_text() if path.exists() else ""
    return [json.loads(line) for line in text.split("\n")[:-1] if line.strip()]


def read_config(run_dir, missing_ok=False):
    """The config (a dict) saved in ``run_dir``'s config.json. A missing file is an error, or None when
    ``missing_ok``; a corrupt one is always an error."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        if missing_ok:
            return None
        raise PyroVAEError(f"{run_dir} is not a pyrovae run dir (no {CONFIG})")
    try:
        return json.loads(path.read_text())["config"]
    except (ValueError, KeyError, TypeError):
        raise PyroVAEError(f"{path} is corrupt: delete the run dir to start over") from None


def changed_keys(saved, current, ignore=RESUMABLE_CHANGES):
    """The keys of ``current`` (sorted) whose value differs from ``saved``'s, leaving out ``ignore``.
    Only the keys of ``current`` compare: leave out those that should not (e.g. values left to a default)."""
    return sorted(k for k, v in current.items() if k not in ignore and saved.get(k) != v)


def run_dir_of(config):
    """Where ``config``'s run goes (a :class:`~pyrovae.train.TrainConfig`): its ``out``, else
    ``runs/<objective>-seed<seed>``."""
    return Path(config.out or f"runs/{config.objective}-seed{config.seed}")


def provenance():
    """Package versions, Python, platform and the git revision of the code that runs."""
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

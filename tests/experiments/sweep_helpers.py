"""Helpers of the sweep and report tests: paths and the command line in a subprocess."""
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
TOY = str(EXAMPLES / "toy_shapes.py")
# a run of a few seconds: 20 steps of a small MLP on toy shapes, no plots, no evaluation
FAST = {"dataset": "toy-shapes", "arch": "mlp", "latent_dim": 3, "steps": 20, "batch_size": 32, "lr": 3e-3,
        "device": "cpu", "log_every": 10, "checkpoint_every": 10, "plots": False, "evaluate": False}


def write_spec(path, **spec):
    """``spec`` as YAML at ``path`` (importing the toy-shapes plugin unless it says otherwise)."""
    spec.setdefault("imports", [TOY])
    path.write_text(yaml.safe_dump(spec))
    return path


def cli_env():
    """The environment for a ``python -m pyrovae.cli`` subprocess: this checkout first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("OMP_NUM_THREADS", "1")  # one torch thread per worker: steady timings on a shared CPU
    return env


def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "pyrovae.cli", *map(str, args)], capture_output=True, text=True,
                          env=cli_env(), cwd=REPO, timeout=timeout)

"""Helpers of the sweep and report tests: paths and the command line in a subprocess."""
import os
import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


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

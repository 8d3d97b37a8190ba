"""Shared fixtures of the sweep and report tests: the tiny example sweep, run once per session."""
import pytest
from sweep_helpers import EXAMPLES, run_cli


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory):
    """``pyrovae sweep examples/tiny_sweep.yaml --workers 2``: (sweep dir, completed process)."""
    out = tmp_path_factory.mktemp("tiny") / "sweep"
    proc = run_cli("sweep", EXAMPLES / "tiny_sweep.yaml", "--workers", 2, "--out", out)
    return out, proc


@pytest.fixture(autouse=True)
def one_thread_per_worker(monkeypatch):
    """Sweep workers started by the tests use one torch thread each (OpenMP threads that outnumber the
    free cores make every step many times slower on a shared 2-core machine)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")

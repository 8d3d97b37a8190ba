import os
from pathlib import Path

import pytest
import torch

from pyrovae.utils import free_cores

# One thread per test process keeps timings stable on the 2-core CI machine and avoids
# OpenMP oversubscription when a test starts a subprocess.
torch.set_num_threads(1)
# fit() takes its threads from OMP_NUM_THREADS, else every free core: under pytest-xdist each worker gets its
# share of the cores, not all of them (oversubscribed OpenMP threads make a step several times slower).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, free_cores() // _WORKERS)))
os.environ.setdefault("MPLBACKEND", "Agg")

SHARED_DOCS = Path(__file__).resolve().parents[1].parent / "shared" / "docs"


@pytest.fixture
def shared_docs():
    """Path to ../shared/docs; tests that need it skip cleanly when it is absent."""
    if not SHARED_DOCS.is_dir():
        pytest.skip("../shared/docs is not present beside the repository")
    return SHARED_DOCS


@pytest.fixture
def float64():
    """Run a test with float64 as torch's default dtype (tight numerical comparisons)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)

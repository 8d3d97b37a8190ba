"""Small shared helpers: device choice, CPU threads, seeding."""
import contextlib
import os
import random

import numpy as np
import torch

from .errors import PyroVAEError


def resolve_device(device="auto"):
    """``"auto"`` gives CUDA when present, else the CPU; anything else is checked and returned."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError:
        raise PyroVAEError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PyroVAEError("--device cuda asked for, but no CUDA GPU is available: use --device cpu or auto")
    return device


def free_cores():
    """Cores this process may use (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def set_cpu_threads(n=None):
    """Match torch's intra-op threads to the cores we may use; oversubscribed OpenMP threads make conv
    steps several times slower. ``OMP_NUM_THREADS``, when set, wins."""
    if n is None:
        n = int(os.environ.get("OMP_NUM_THREADS", 0)) or free_cores()
    torch.set_num_threads(n)
    return n


@contextlib.contextmanager
def cpu_threads(n=None):
    """:func:`set_cpu_threads` for the duration of a block, then the caller's thread count again (a
    library call must not change a setting of the whole process)."""
    previous = torch.get_num_threads()
    try:
        yield set_cpu_threads(n)
    finally:
        torch.set_num_threads(previous)


def seed_everything(seed):
    """Seed Python, NumPy, torch (CPU and CUDA) and Pyro."""
    import pyro

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    pyro.set_rng_seed(seed)

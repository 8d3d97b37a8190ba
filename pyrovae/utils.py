"""Small shared helpers: device choice, precision, CPU threads, the allocator, seeding."""
import contextlib
import contextvars
import ctypes
import logging
import os
import random
import signal
import sys
import threading

import numpy as np
import pyro
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


PRECISIONS = ("auto", "fp32", "bf16")


def native_bf16(device):
    """Whether ``device`` runs bf16 matrix work natively: a CUDA GPU with bf16 tensor cores (Ampere or
    newer), or a CPU whose oneDNN has bf16 instructions (AMX or AVX512-BF16 on x86, the BF16 extension
    on Arm). Elsewhere bf16 is emulated and slower than fp32 (7-12x on our AVX2-only CPUs)."""
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return False
        try:
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # older torch: no emulation to exclude
            return torch.cuda.is_bf16_supported()
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    capabilities = getattr(torch.cpu, "get_capabilities", None)  # (recent torch; older ones: the fallback)
    if capabilities is not None:
        caps = capabilities()
        return any(bool(caps.get(flag)) for flag in ("amx_bf16", "avx512_bf16", "bf16", "sve_bf16"))
    return any(getattr(torch.cpu, name, lambda: False)() for name in
               ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))


def resolve_precision(precision, device):
    """``"fp32"`` or ``"bf16"``: ``"auto"`` is bf16 on a CPU where :func:`native_bf16` holds, else fp32.

    Not on a GPU: there the standard nets at batch 64 are launch-bound, and autocast's cast kernels made
    the step 1.1-1.3x slower than fp32 on an H200 (docs/results/gpu/README.md); ``"bf16"`` still runs it."""
    if precision not in PRECISIONS:
        raise PyroVAEError(f"unknown precision {precision!r}: use {', '.join(PRECISIONS)}")
    if precision == "auto":
        device = torch.device(device)
        return "bf16" if device.type == "cpu" and native_bf16(device) else "fp32"
    return precision


# The dtype the networks compute in for the step running now (None: float32). A context variable, so
# that only the trainer's step is mixed precision and everything else (evaluation, plots) stays fp32.
_NETWORK_DTYPE = contextvars.ContextVar("pyrovae_network_dtype", default=None)


@contextlib.contextmanager
def network_precision(precision):
    """Run the networks called through :func:`run_network` in ``precision`` ("bf16" or "fp32") inside
    the block."""
    token = _NETWORK_DTYPE.set(torch.bfloat16 if precision == "bf16" else None)
    try:
        yield
    finally:
        _NETWORK_DTYPE.reset(token)


def network_dtype():
    """The dtype set by :func:`network_precision` for the networks now (None: float32)."""
    return _NETWORK_DTYPE.get()


def run_network(net, x):
    """``net(x)``, under bf16 autocast inside :func:`network_precision` ("bf16"), with a float32 output:
    mixed precision covers the networks' forward and backward only, so log-densities, KLs and
    every estimate built on the output stay float32."""
    dtype = _NETWORK_DTYPE.get()
    if dtype is None:
        return net(x)
    with torch.autocast(x.device.type, dtype=dtype):
        out = net(x)
    return out.float()


# Whether the networks' parameters go through Pyro's param store on every call (see register_module).
_REGISTER_PARAMS = contextvars.ContextVar("pyrovae_register_params", default=True)


@contextlib.contextmanager
def params_outside_pyro():
    """Inside the block :func:`register_module` does nothing: for a step whose optimiser is a torch one
    over ``module.parameters()`` (pyrovae's trainer), so nothing reads Pyro's param store."""
    token = _REGISTER_PARAMS.set(False)
    try:
        yield
    finally:
        _REGISTER_PARAMS.reset(token)


def register_module(name, module):
    """``pyro.module(name, module)``, the registration that lets Pyro's own SVI and optimisers find the
    parameters (as param sites of the trace, on every call); skipped inside :func:`params_outside_pyro`.
    There it would send every parameter (about 30 for the standard nets) through Pyro's effect
    handlers on every step, for sites nothing reads: about 3 % of a bf16 conv step on our CPU."""
    if _REGISTER_PARAMS.get():
        pyro.module(name, module)
    return module


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


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_MALLOC_TUNED = []


def tune_malloc():
    """Make glibc's malloc keep a CPU step's large temporaries for reuse instead of mmap-ing and
    page-faulting them afresh every step (26-28 % of a step's time on our CPUs): the equivalent of
    ``MALLOC_MMAP_THRESHOLD_=32MB MALLOC_TRIM_THRESHOLD_=2GB MALLOC_TOP_PAD_=256MB``. The cost is
    memory: freed blocks up to 2 GB stay with the process. Applied once per process through
    ``mallopt``; skipped on other C libraries and when the user set any ``MALLOC_*_`` variable or
    ``GLIBC_TUNABLES`` (their settings win). Returns whether it is in effect."""
    if _MALLOC_TUNED:
        return _MALLOC_TUNED[0]
    ok = False
    user_set = "GLIBC_TUNABLES" in os.environ or any(
        k.startswith("MALLOC_") and k.endswith("_") for k in os.environ)
    if sys.platform.startswith("linux") and not user_set:
        try:
            libc = ctypes.CDLL(None)
            if not hasattr(libc, "gnu_get_libc_version"):  # glibc only (musl has no such symbol)
                raise AttributeError("not glibc")
            # mallopt takes an int: 2 GB - 1 is the largest trim threshold it accepts; 32 MB the largest
            # mmap threshold on 64-bit glibc.
            ok = all(libc.mallopt(param, value) == 1 for param, value in (
                (_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 2**31 - 1), (_M_TOP_PAD, 256 << 20)))
        except (OSError, AttributeError):
            ok = False
    if ok:
        logging.getLogger(__name__).debug("glibc malloc tuned: mmap threshold 32 MB, trim 2 GB, top pad 256 MB")
    _MALLOC_TUNED.append(ok)
    return ok


def seed_everything(seed):
    """Seed Python, NumPy, torch (CPU and CUDA) and Pyro."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    pyro.set_rng_seed(seed)


@contextlib.contextmanager
def signal_handlers(handler, signals):
    """Run a block with ``handler`` for ``signals``, then put the previous handlers back. Python sets
    handlers from the main thread only; in any other thread the block runs with the handlers as they are."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)

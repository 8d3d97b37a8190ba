"""Streaming one array of an official ``.npz`` file, without loading the whole file (they hold gigabytes)."""
import numpy as np

from ..errors import PyroVAEError


def _read_npy_header(f):
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    return np.lib.format.read_array_header_2_0(f)


def npz_member(zf, name, path, official):
    """(open member file positioned at the data, shape, dtype) of ``name`` in the npz."""
    member = name + ".npy"
    if member not in zf.namelist():
        present = ", ".join(n[:-4] for n in zf.namelist()) or "none"
        raise PyroVAEError(f"{path} has no '{name}' array (it has {present}): give the official {official}")
    f = zf.open(member)
    shape, fortran, dtype = _read_npy_header(f)
    if fortran and len(shape) > 1:
        f.close()
        raise PyroVAEError(f"{path}: '{name}' is stored in Fortran order: re-save it with np.savez(path, "
                           f"{name}=np.ascontiguousarray({name}), ...)")
    return f, tuple(shape), dtype

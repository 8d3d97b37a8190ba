"""Active units (Burda et al. 2016): code dimension d is active when Var_x(E_q[z_d | x]) > 0.01."""
import numpy as np

from ..errors import PyroVAEError


def active_units(codes, threshold=0.01):
    """Number of code dimensions whose variance across data exceeds ``threshold`` (Burda et al. 2016)."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2:
        raise PyroVAEError(f"codes must be a 2-D array [N, D], got shape {codes.shape}")
    return int((codes.var(axis=0) > threshold).sum())

"""The geometry of dSprites' sprites (see :mod:`pyrovae.data.dsprites` for the model): the factor grid and
the integer tables the renderer reads (row runs of ellipses and hearts on a lattice, snapped square
corners), built once and cached on disk."""
import hashlib
import warnings
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from .cache import default_cache_dir

FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
IMAGE_SIZE = 64
OFFICIAL_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"

SQUARE_HALF_SIDE = 9.6  # px at scale 1 (side 19.2 = 0.3 · 64)
ELLIPSE_AXES = (12.763, 7.215)  # semi-axes (u, v) at scale 1
HEART_PARAMS = (0.5997, 0.6619, 1.437)  # u = a·16 sin³t, v = −b·(13 cos t − …) − c
SNAP = 256  # the GPU's vertex grid: 1/256 px

# Lattice of row offsets: Y = (m − 480.5)/31 with m = 31·row − 32·posY_class. The table keeps |Y| ≤ 14 px
# (every sprite has radius ≤ 13.6 px); rows beyond are clamped onto the (empty) first/last entries.
M0, M1 = 46, 915
NUM_M = M1 - M0 + 1
_GEOMETRY_VERSION = "dsprites-geometry-v2"



def factor_values():
    """The official latent values of each factor, by name (class k of a factor has value ``[k]``)."""
    return {
        "shape": np.array([1.0, 2.0, 3.0]),
        "scale": np.linspace(0.5, 1.0, 6),
        "orientation": np.linspace(0.0, 2 * np.pi, 40),
        "pos_x": np.linspace(0.0, 1.0, 32),
        "pos_y": np.linspace(0.0, 1.0, 32),
    }



def _angles():
    """cos θ, sin θ of the 40 orientations; θ = 2π is taken as exactly 0 (real frames are identical)."""
    theta = factor_values()["orientation"]
    cos, sin = np.cos(theta), np.sin(theta)
    cos[-1], sin[-1] = cos[0], sin[0]
    return cos, sin


def heart_curve(t):
    """Canonical heart (scale 1, θ = 0, v down) at curve parameters ``t``: arrays (u, v)."""
    a, b, c = HEART_PARAMS
    u = a * 16 * np.sin(t) ** 3
    v = -b * (13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)) - c
    return u, v


def _lower_threshold(x):
    """Smallest lattice column n with (n − 480.5)/31 > x."""
    return np.floor(31 * x + 480.5).astype(np.int64) + 1


def _upper_threshold(x):
    """Smallest lattice column n with (n − 480.5)/31 ≥ x (lit columns are n < this)."""
    return np.ceil(31 * x + 480.5).astype(np.int64)


def _ellipse_runs(scales, cos, sin):
    """[6, 40, M, 2] lattice thresholds (start, stop) of the ellipse's run on each lattice row."""
    a, b = ELLIPSE_AXES
    s = scales[:, None, None]
    c, sn = cos[None, :, None], sin[None, :, None]
    y = ((np.arange(M0, M1 + 1) - 480.5) / 31)[None, None, :]
    # (c·X − sn·Y)²/a² + (sn·X + c·Y)²/b² < s²  as  P·X² + Q·X + R < 0
    p = c**2 / a**2 + sn**2 / b**2
    q = 2 * y * c * sn * (1 / b**2 - 1 / a**2)
    r = y**2 * (sn**2 / a**2 + c**2 / b**2) - s**2
    disc = q**2 - 4 * p * r
    root = np.sqrt(np.maximum(disc, 0.0))
    lo, hi = (-q - root) / (2 * p), (-q + root) / (2 * p)
    runs = np.stack(np.broadcast_arrays(_lower_threshold(lo), _upper_threshold(hi)), axis=-1)
    runs[disc <= 0] = 0
    return runs


def _heart_runs(scales, cos, sin, num_vertices=8192, iterations=48):
    """[6, 40, M, 2, 2] lattice thresholds of the heart's (up to two) runs on each lattice row.

    The curve, sampled at ``num_vertices`` parameters, finds which lattice rows each segment crosses
    (half-open, so every row meets an even number of crossings); each crossing is then solved on the exact
    curve by bisection in t, and a row's sorted crossings pair up into runs (even-odd rule)."""
    t = np.arange(num_vertices + 1) * (2 * np.pi / num_vertices)
    u, v = heart_curve(t)
    combos = [(i, j) for i in range(len(scales)) for j in range(len(cos))]
    keys, t_lo, t_hi, rows, sc, cs, ss = [], [], [], [], [], [], []
    for combo, (i, j) in enumerate(combos):
        s, c, sn = scales[i], cos[j], sin[j]
        y = s * (-sn * u + c * v)
        y0, y1 = y[:-1], y[1:]
        m_first = np.ceil(31 * np.minimum(y0, y1) + 480.5).astype(np.int64)
        m_stop = np.ceil(31 * np.maximum(y0, y1) + 480.5).astype(np.int64)
        count = m_stop - m_first
        seg = np.repeat(np.arange(num_vertices), count)
        m = np.repeat(m_first, count) + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        keys.append(combo * NUM_M + (m - M0))
        t_lo.append(t[seg]), t_hi.append(t[seg + 1]), rows.append((m - 480.5) / 31)
        sc.append(np.full(len(m), s)), cs.append(np.full(len(m), c)), ss.append(np.full(len(m), sn))
    key, lo, hi, target, s, c, sn = (np.concatenate(z) for z in (keys, t_lo, t_hi, rows, sc, cs, ss))

    def row_of(tt):
        uu, vv = heart_curve(tt)
        return s * (-sn * uu + c * vv) - target

    f_lo = row_of(lo)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        f_mid = row_of(mid)
        same = np.sign(f_mid) == np.sign(f_lo)
        lo, f_lo = np.where(same, mid, lo), np.where(same, f_mid, f_lo)
        hi = np.where(same, hi, mid)
    tt = 0.5 * (lo + hi)
    uu, vv = heart_curve(tt)
    x = s * (c * uu + sn * vv)

    order = np.lexsort((x, key))
    key, x = key[order], x[order]
    starts = np.searchsorted(key, key, side="left")
    rank = np.arange(len(key)) - starts
    counts = np.bincount(key, minlength=len(combos) * NUM_M)
    if (counts % 2).any() or counts.max() > 4:
        raise RuntimeError("heart table: a lattice row meets the curve an odd number of times or more than 4")
    runs = np.zeros((len(combos) * NUM_M, 2, 2), np.int64)
    is_start = rank % 2 == 0
    runs[key[is_start], rank[is_start] // 2, 0] = _lower_threshold(x[is_start])
    runs[key[~is_start], rank[~is_start] // 2, 1] = _upper_threshold(x[~is_start])
    return runs.reshape(len(scales), len(cos), NUM_M, 2, 2)


def _square_vertices(scales, cos, sin):
    """Snapped corners of the square in 1/256 px: x [6, 40, 32, 4] (by pos_x class) and y (by pos_y).

    Corners (u, v) = (−h, −h), (h, −h), (h, h), (−h, h) with h = 9.6·s, which makes every edge function
    E = (x1 − x0)(Y − y0) − (y1 − y0)(X − x0) positive inside."""
    h = SQUARE_HALF_SIDE * scales[:, None, None, None]
    cu = np.array([-1.0, 1.0, 1.0, -1.0])[None, None, None, :] * h
    cv = np.array([-1.0, -1.0, 1.0, 1.0])[None, None, None, :] * h
    c, sn = cos[None, :, None, None], sin[None, :, None, None]
    centre = (16 + 32 * factor_values()["pos_x"])[None, None, :, None]  # pos_y has the same values
    x = np.round(SNAP * (centre + c * cu + sn * cv)).astype(np.int64)
    y = np.round(SNAP * (centre - sn * cu + c * cv)).astype(np.int64)
    return x, y


def build_geometry():
    """The renderer's tables (numpy): ``runs`` int16 [2·6·40·M, 4] (ellipse then heart: lattice thresholds
    start1, stop1, start2, stop2 per lattice row), ``square_x``/``square_y`` int32 [6·40·32, 4]."""
    scales = factor_values()["scale"]
    cos, sin = _angles()
    ellipse = np.zeros((6, 40, NUM_M, 2, 2), np.int64)
    ellipse[..., 0, :] = _ellipse_runs(scales, cos, sin)
    heart = _heart_runs(scales, cos, sin)
    runs = np.stack([ellipse, heart])  # [2, 6, 40, M, 2, 2]
    if runs[:, :, :, [0, -1]].any():
        raise RuntimeError("dSprites geometry: a sprite reaches the edge of the row table")
    square_x, square_y = _square_vertices(scales, cos, sin)
    return {"runs": runs.reshape(-1, 4).astype(np.int16),
            "square_x": square_x.reshape(-1, 4).astype(np.int32),
            "square_y": square_y.reshape(-1, 4).astype(np.int32)}


def _geometry_key():
    text = repr((_GEOMETRY_VERSION, SQUARE_HALF_SIDE, ELLIPSE_AXES, HEART_PARAMS, SNAP, M0, M1))
    return hashlib.sha1(text.encode()).hexdigest()[:12]


_GEOMETRY = {}  # cache file -> tables, shared by every DSprites of the process


def load_geometry(cache_dir=None):
    """The renderer's tables, read from the cache dir (built and written there atomically on first use)."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache_dir / f"dsprites_geometry_{_geometry_key()}.npz"
    if path in _GEOMETRY:
        return _GEOMETRY[path]
    tables = None
    try:
        with np.load(path) as f:
            tables = {k: f[k] for k in ("runs", "square_x", "square_y")}
        expected = {"runs": ((2 * 6 * 40 * NUM_M, 4), np.int16), "square_x": ((6 * 40 * 32, 4), np.int32),
                    "square_y": ((6 * 40 * 32, 4), np.int32)}
        if any((tables[k].shape, tables[k].dtype) != v for k, v in expected.items()):
            tables = None
    except Exception:  # absent or unreadable: rebuild
        tables = None
    if tables is None:
        tables = build_geometry()
        try:
            atomic_write(path, lambda tmp: np.savez(tmp, **tables))
        except OSError as error:  # read-only home: keep working, only slower to start
            warnings.warn(f"could not cache the dSprites tables in {cache_dir} ({error}); set PYROVAE_CACHE "
                          "to a writable folder to start faster", stacklevel=3)
    _GEOMETRY[path] = tables
    return tables

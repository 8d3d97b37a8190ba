"""dSprites (Matthey, Higgins, Hassabis & Lerchner 2017, "dSprites: Disentanglement testing Sprites
dataset", github.com/deepmind/dsprites-dataset, Apache-2.0), rendered procedurally and faithfully.

The 737,280 binary 64×64 images cover every combination of five factors exactly once, in the official
order (last factor fastest; flat index = classes · [245760, 40960, 1024, 32, 1]):

=========== ==== =================================================
factor      size official value of class k
=========== ==== =================================================
shape          3 1, 2, 3 = square, ellipse, heart
scale          6 linspace(0.5, 1, 6)
orientation   40 linspace(0, 2π, 40) (classes 0 and 39: the same image)
pos_x         32 linspace(0, 1, 32)
pos_y         32 linspace(0, 1, 32) (grows downwards, in image rows)
=========== ==== =================================================

Geometry (fitted to real images; see shared/docs/dsprites.md). x = column, y = row (row 0 on top);
pixel (r, c) is sampled at its centre (c + ½, r + ½), binary, no anti-aliasing. The sprite centre is
(cx, cy) = (16 + 32·posX, 16 + 32·posY). With X = c + ½ − cx, Y = r + ½ − cy, θ the orientation and s the
scale, the canonical coordinates are u = (cosθ·X − sinθ·Y)/s, v = (sinθ·X + cosθ·Y)/s (θ turns the sprite
counter-clockwise as displayed). A pixel is lit iff (u, v) is strictly inside:

* ellipse: (u/12.763)² + (v/7.215)² < 1;
* heart: the curve u = 0.5997·16 sin³t, v = −0.6619·(13 cos t − 5 cos 2t − 2 cos 3t − cos 4t) − 1.437
  (lobes up, point down; its centroid lies 1.99·s px above the rotation centre);
* square (side 19.2·s): drawn as the GPU draws LÖVE's 4-vertex polygon — corners (±9.6s, ±9.6s) mapped to
  x = cx + cosθ·u + sinθ·v, y = cy − sinθ·u + cosθ·v, snapped to multiples of 1/256 px; a pixel is lit
  iff every edge function is > 0 at its centre, or == 0 on a left or bottom edge (the top-left rule of
  OpenGL's y-up window space). All of this is exact integer arithmetic in units of 1/256 px.

This model matches real dSprites images with mean IoU 0.9997 (96 % of images pixel-identical, squares
all but exactly; the rest are ellipses and hearts off by 1–3 boundary pixels).

How it is fast. Every row of every image is one or two runs of lit columns. Pixel centres relative to
the sprite centre lie on a 1/31-pixel lattice (31·Y = 31r − 32·posY_class − 480.5), so the runs of the
ellipse and heart are tabulated once per (shape, scale, orientation, lattice row) as integer lattice
thresholds (the heart's crossings with each lattice row are solved on the exact parametric curve); the
square's runs come from its snapped edge functions. A row's run becomes a 64-bit mask (bit c = column c)
and the masks become pixels. The tables take 3.5 MB (built in about a second, then cached in the user
cache dir); the full set renders in seconds on 2 CPU cores, and :meth:`DSprites.batch` runs the same
integer code with torch on the device of its indices (integer arithmetic on the same tables, so the
images do not depend on the device).

With ``path=`` the official ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` is used instead: it is
streamed once (validated: shapes, dtypes, binary pixels, official order of ``latents_classes``), stored
bit-packed (377 MB) as a ``.npy`` in the cache dir, and memory-mapped afterwards.
"""
import functools
import hashlib
import os
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import PyroVAEError

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
_M0, _M1 = 46, 915
_NUM_M = _M1 - _M0 + 1
_GEOMETRY_VERSION = "dsprites-geometry-v2"


class DSpritesIndexError(PyroVAEError, IndexError):
    """An index outside the dataset (an IndexError, so iteration stops as for a sequence)."""


def factor_values():
    """The official latent values of each factor, by name (class k of a factor has value ``[k]``)."""
    return {
        "shape": np.array([1.0, 2.0, 3.0]),
        "scale": np.linspace(0.5, 1.0, 6),
        "orientation": np.linspace(0.0, 2 * np.pi, 40),
        "pos_x": np.linspace(0.0, 1.0, 32),
        "pos_y": np.linspace(0.0, 1.0, 32),
    }


def default_cache_dir():
    """``$PYROVAE_CACHE`` or ``~/.cache/pyrovae``."""
    return Path(os.environ.get("PYROVAE_CACHE") or Path.home() / ".cache" / "pyrovae")


# --------------------------------------------------------------------------------------------------------
# geometry tables


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
    y = ((np.arange(_M0, _M1 + 1) - 480.5) / 31)[None, None, :]
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
        keys.append(combo * _NUM_M + (m - _M0))
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
    counts = np.bincount(key, minlength=len(combos) * _NUM_M)
    if (counts % 2).any() or counts.max() > 4:
        raise RuntimeError("heart table: a lattice row meets the curve an odd number of times or more than 4")
    runs = np.zeros((len(combos) * _NUM_M, 2, 2), np.int64)
    is_start = rank % 2 == 0
    runs[key[is_start], rank[is_start] // 2, 0] = _lower_threshold(x[is_start])
    runs[key[~is_start], rank[~is_start] // 2, 1] = _upper_threshold(x[~is_start])
    return runs.reshape(len(scales), len(cos), _NUM_M, 2, 2)


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
    ellipse = np.zeros((6, 40, _NUM_M, 2, 2), np.int64)
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
    text = repr((_GEOMETRY_VERSION, SQUARE_HALF_SIDE, ELLIPSE_AXES, HEART_PARAMS, SNAP, _M0, _M1))
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _publish(tmp, path):
    """Rename the finished temporary file onto ``path`` (atomic), readable like a normal file."""
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _atomic_save(path, save):
    """Write ``path`` through ``save(file_object)`` into a temporary file of the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            save(f)
        _publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
        expected = {"runs": ((2 * 6 * 40 * _NUM_M, 4), np.int16), "square_x": ((6 * 40 * 32, 4), np.int32),
                    "square_y": ((6 * 40 * 32, 4), np.int32)}
        if any((tables[k].shape, tables[k].dtype) != v for k, v in expected.items()):
            tables = None
    except Exception:  # absent or unreadable: rebuild
        tables = None
    if tables is None:
        tables = build_geometry()
        try:
            _atomic_save(path, lambda f: np.savez(f, **tables))
        except OSError as error:  # read-only home: keep working, only slower to start
            warnings.warn(f"could not cache the dSprites tables in {cache_dir} ({error}); set PYROVAE_CACHE "
                          "to a writable folder to start faster", stacklevel=3)
    _GEOMETRY[path] = tables
    return tables


# --------------------------------------------------------------------------------------------------------
# the renderer (torch, any device)


@functools.lru_cache(maxsize=1)
def _row_mask_table():
    """[65·65] int64: bits lo … hi−1 set (the mask of columns lo ≤ c < hi), 0 where hi ≤ lo."""
    table = np.zeros((65, 65), np.uint64)
    for lo in range(65):
        for hi in range(lo + 1, 65):
            table[lo, hi] = np.uint64(((1 << hi) - (1 << lo)) & (2**64 - 1))
    return table.view(np.int64).reshape(-1)


class _Tables:
    """The geometry tables as torch tensors on one device."""

    def __init__(self, tables, device):
        def tensor(a):
            return torch.from_numpy(np.ascontiguousarray(a)).to(device)

        self.runs = tensor(tables["runs"])
        self.square_x = tensor(tables["square_x"])  # int32
        self.square_y = tensor(tables["square_y"])
        self.row_masks = tensor(_row_mask_table())
        self.rows = torch.arange(IMAGE_SIZE, dtype=torch.int32, device=device)
        self.shifts = torch.arange(IMAGE_SIZE, device=device)


def _square_masks(t, scale, ori, px, py):
    """Row masks [n, 64] of squares: the snapped polygon's edge functions, exact in 1/256 px units (int32
    suffices: |E| < 2·(2·9.6·256)·(64·256) < 2^31)."""
    x = t.square_x[(scale * 40 + ori) * 32 + px]  # [n, 4] int32
    y = t.square_y[(scale * 40 + ori) * 32 + py]
    a = y - y.roll(-1, dims=1)  # ∂E/∂X = −(y1 − y0)
    b = x.roll(-1, dims=1) - x  # ∂E/∂Y = x1 − x0
    # a centre exactly on an edge is lit only on left edges (a > 0) and bottom edges (a = 0, b < 0)
    strict = ~((a > 0) | ((a == 0) & (b < 0)))
    # E(c, r) − strict = 256a·c + C(r) with pixel centre (256c + 128, 256r + 128); lit iff ≥ 0 for all edges
    k0 = a * (128 - x) + b * (128 - y) - strict.int()
    c = torch.addcmul(k0[:, None, :], (SNAP * b)[:, None, :], t.rows[None, :, None])  # [n, 64, 4]
    step = (SNAP * a.abs()).clamp(min=1)[:, None, :]
    q = torch.div(c, step, rounding_mode="floor")
    a = a[:, None, :]
    lo = torch.where(a > 0, -q, 0)  # c ≥ ceil(−C / 256a)
    hi = torch.where(a < 0, q + 1, IMAGE_SIZE)  # c ≤ floor(C / 256|a|)
    lo = torch.maximum(torch.maximum(lo[..., 0], lo[..., 1]), torch.maximum(lo[..., 2], lo[..., 3]))
    hi = torch.minimum(torch.minimum(hi[..., 0], hi[..., 1]), torch.minimum(hi[..., 2], hi[..., 3]))
    # a horizontal edge (a = 0) that excludes the row empties it
    out = ((a == 0) & (c < 0)).any(-1)
    lo = lo.clamp_(0, IMAGE_SIZE).masked_fill_(out, IMAGE_SIZE)
    return t.row_masks[lo * 65 + hi.clamp_(0, IMAGE_SIZE)]


def _curved_masks(t, shape, scale, ori, px, py, two_runs=True):
    """Row masks [n, 64] of ellipses (shape 1) and hearts (shape 2) from the lattice tables."""
    m = 31 * t.rows[None, :] - 32 * py[:, None] - _M0
    base = ((shape - 1) * 6 + scale) * 40 + ori
    rows = t.runs[base[:, None] * _NUM_M + m.clamp(0, _NUM_M - 1)]  # [n, 64, 4] lattice thresholds
    if not two_runs:
        rows = rows[..., :2]
    # lattice column n = 31c − 32·pos_x: c ≥ ceil((threshold + 32·pos_x) / 31)
    cols = torch.div(rows.int() + (32 * px + 30).int()[:, None, None], 31, rounding_mode="floor")
    cols = cols.clamp_(0, IMAGE_SIZE)
    masks = t.row_masks[cols[..., 0] * 65 + cols[..., 1]]
    if two_runs:
        masks = masks | t.row_masks[cols[..., 2] * 65 + cols[..., 3]]
    return masks


def _row_masks(t, classes, split=False):
    """Row masks [n, 64] int64 (bit c = column c) of images with factor classes [n, 5] (on t's device).

    ``split`` renders each shape separately (faster for big CPU batches; needs a host sync on GPUs)."""
    shape, scale, ori, px, py = classes.unbind(1)
    if not split:
        square = _square_masks(t, scale, ori, px, py)
        curved = _curved_masks(t, shape.clamp(min=1), scale, ori, px, py)
        return torch.where((shape == 0)[:, None], square, curved)
    out = torch.empty(len(classes), IMAGE_SIZE, dtype=torch.int64, device=classes.device)
    for k in range(3):
        idx = (shape == k).nonzero().squeeze(1)
        if len(idx):
            sub = classes[idx].unbind(1)
            out[idx] = _square_masks(t, *sub[1:]) if k == 0 else _curved_masks(t, *sub, two_runs=k == 2)
    return out


def _masks_to_pixels(masks, shifts, dtype=torch.float32):
    """[n, 64] row masks -> [n, 64, 64] 0/1 images of ``dtype`` (torch, on the masks' device)."""
    return ((masks[..., None] >> shifts) & 1).to(dtype)


def _masks_to_uint8(masks):
    """[n, 64] int64 row masks (numpy) -> [n, 64, 64] uint8 0/1."""
    packed = np.ascontiguousarray(masks, dtype="<i8").view(np.uint8).reshape(len(masks), IMAGE_SIZE, 8)
    return np.unpackbits(packed, axis=-1, bitorder="little")


def _packed_to_pixels(packed, shifts, dtype=torch.float32):
    """[n, 64, 8] uint8 rows packed with bitorder 'little' -> [n, 64, 64] images (torch)."""
    bits = (packed[..., None].long() >> shifts[:8]) & 1
    return bits.reshape(len(packed), IMAGE_SIZE, IMAGE_SIZE).to(dtype)


def _check_classes(classes, sizes, names=FACTOR_NAMES):
    """``classes`` as an int64 array [n, K], checked against the grid ``sizes`` (factors called ``names``)."""
    if isinstance(classes, torch.Tensor):
        classes = classes.detach().cpu().numpy()
    classes = np.asarray(classes)
    if classes.ndim != 2 or classes.shape[1] != len(sizes):
        raise PyroVAEError(f"factor classes must be an integer array of shape [n, {len(sizes)}] "
                           f"({', '.join(names)}), got shape {classes.shape}: use classes[None] for one image")
    if not (np.issubdtype(classes.dtype, np.integer) or (classes.size == 0 and classes.dtype == np.float64)):
        raise PyroVAEError(f"factor classes must be integers, got dtype {classes.dtype}: "
                           "pass class indices (e.g. classes.astype(int)), not factor values")
    classes = np.ascontiguousarray(classes, dtype=np.int64)
    if classes.size:
        bad = (classes < 0) | (classes >= np.asarray(sizes))
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise PyroVAEError(f"factor class {classes[row, col]} of {names[col]} (row {row}) is out of range: "
                               f"{names[col]} classes are 0 … {sizes[col] - 1}")
    return classes


def render_dsprites(classes, cache_dir=None, chunk=2048):
    """dSprites images of factor classes [n, 5] (shape, scale, orientation, pos_x, pos_y):
    uint8 [n, 64, 64] of 0/1, deterministic (integer arithmetic on fixed tables). See the module doc."""
    classes = _check_classes(classes, FACTOR_SIZES)
    return _render(_Tables(load_geometry(cache_dir), "cpu"), classes, chunk)


def _render(t, classes, chunk=2048):
    out = np.empty((len(classes), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for start in range(0, len(classes), chunk):
        part = torch.from_numpy(classes[start:start + chunk])
        out[start:start + chunk] = _masks_to_uint8(_row_masks(t, part, split=len(part) > 512).numpy())
    return out


# --------------------------------------------------------------------------------------------------------
# the official file


def _read_npy_header(f, name, path):
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    return np.lib.format.read_array_header_2_0(f)


def _npz_member(zf, name, path, official=OFFICIAL_FILE):
    """(open member file positioned at the data, shape, dtype) of ``name`` in the npz."""
    member = name + ".npy"
    if member not in zf.namelist():
        present = ", ".join(n[:-4] for n in zf.namelist()) or "none"
        raise PyroVAEError(f"{path} has no '{name}' array (it has {present}): give the official {official}")
    f = zf.open(member)
    shape, fortran, dtype = _read_npy_header(f, name, path)
    if fortran and len(shape) > 1:
        f.close()
        raise PyroVAEError(f"{path}: '{name}' is stored in Fortran order: re-save it with np.savez(path, "
                           f"{name}=np.ascontiguousarray({name}), ...)")
    return f, tuple(shape), dtype


def _check_official_classes(zf, path, bases, sizes):
    """``latents_classes`` must be the grid ``sizes`` (plus the one-valued colour) in the official order."""
    n = int(np.prod(sizes))
    f, shape, dtype = _npz_member(zf, "latents_classes", path)
    with f:
        if shape != (n, len(sizes) + 1) or not np.issubdtype(dtype, np.integer):
            raise PyroVAEError(f"{path}: latents_classes has shape {shape} and dtype {dtype}, expected shape "
                               f"{(n, len(sizes) + 1)} of integers: give the official {OFFICIAL_FILE}")
        nbytes = int(np.prod(shape)) * dtype.itemsize
        data = f.read(nbytes)
    if len(data) != nbytes:
        raise PyroVAEError(f"{path} is truncated (latents_classes is incomplete): download it again")
    classes = np.frombuffer(data, dtype=dtype).reshape(shape)
    expected = np.zeros_like(classes)
    expected[:, 1:] = (np.arange(n)[:, None] // np.asarray(bases)) % np.asarray(sizes)
    if not np.array_equal(classes, expected):
        row = int(np.argmax((classes != expected).any(1)))
        raise PyroVAEError(f"{path}: latents_classes row {row} is {classes[row].tolist()}, expected "
                           f"{expected[row].tolist()} (the official order, last factor fastest): give the official "
                           f"{OFFICIAL_FILE} unshuffled")


def _write_packed(f, n, path, tmp, chunk):
    """Stream n binary images from ``f`` into ``tmp`` as packed rows [n, 64, 8] (bitorder 'little')."""
    packed = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, IMAGE_SIZE, 8))
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        data = f.read(k * IMAGE_SIZE * IMAGE_SIZE)
        if len(data) != k * IMAGE_SIZE * IMAGE_SIZE:
            raise PyroVAEError(f"{path} is truncated (imgs ends at image {start}): download it again")
        imgs = np.frombuffer(data, np.uint8).reshape(k, IMAGE_SIZE, IMAGE_SIZE)
        if imgs.max(initial=0) > 1:
            raise PyroVAEError(f"{path}: imgs has values other than 0 and 1 (max {imgs.max()} in images {start} … "
                               f"{start + k - 1}): give the official binary {OFFICIAL_FILE}")
        packed[start:start + k] = np.packbits(imgs, axis=-1, bitorder="little")
    packed.flush()


def _pack_official(path, out_path, bases, sizes, chunk=8192):
    """Stream ``imgs`` and ``latents_classes`` of the official npz at ``path``, check them against the grid
    ``sizes`` (official order: flat index = classes · bases), and write the images bit-packed
    (np.packbits, bitorder 'little', [N, 64, 8] uint8) to ``out_path`` atomically. Reads the file once,
    holding one chunk of images at a time (the official file is 3 GB uncompressed)."""
    n = int(np.prod(sizes))
    no_space = ("set PYROVAE_CACHE (or cache_dir) to a writable folder with 400 MB free")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise PyroVAEError(f"{path} is not a valid .npz file ({error}): give the official {OFFICIAL_FILE}") from None
    try:
        with zf:
            _check_official_classes(zf, path, bases, sizes)
            f, shape, dtype = _npz_member(zf, "imgs", path)
            with f:
                if shape != (n, IMAGE_SIZE, IMAGE_SIZE) or dtype != np.uint8:
                    raise PyroVAEError(f"{path}: imgs has shape {shape} and dtype {dtype}, expected shape "
                                       f"{(n, IMAGE_SIZE, IMAGE_SIZE)} of uint8 0/1 (the complete official dSprites): "
                                       f"give the official {OFFICIAL_FILE}")
                try:
                    out_path.parent.mkdir(parents=True, exist_ok=True)
                    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
                    os.close(fd)
                except OSError as error:
                    raise PyroVAEError(f"cannot write the packed copy of {path} ({error}): {no_space}") from None
                try:
                    _write_packed(f, n, path, tmp, chunk)
                    _publish(tmp, out_path)
                except BaseException as error:
                    Path(tmp).unlink(missing_ok=True)
                    if isinstance(error, OSError):
                        raise PyroVAEError(f"cannot write the packed copy of {path} ({error}): {no_space}") from None
                    raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as error:
        if isinstance(error, PyroVAEError):
            raise
        raise PyroVAEError(f"{path} is corrupt ({type(error).__name__}: {error}): download the official "
                           f"{OFFICIAL_FILE} again") from None


# --------------------------------------------------------------------------------------------------------
# the dataset


class DSprites:
    """dSprites: 737,280 binary 64×64 images on the factor grid shape × scale × orientation × pos_x × pos_y
    (Matthey et al. 2017), rendered on demand (see the module doc for the geometry) or, with ``path``, read
    from the official ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``.

    Follows pyrovae's training protocol (``batch(indices)`` on the indices' device, no DataLoader) and
    disentanglement_lib's ground-truth protocol (``sample_factors``, ``sample_observations_from_factors``).
    ``cache_dir`` (default ``$PYROVAE_CACHE`` or ``~/.cache/pyrovae``) keeps the renderer's tables and the
    bit-packed official images, so that the second start is instant.

    The grid is ``factor_sizes``; the official file must hold exactly that grid in the official order
    (a subclass with a smaller grid, as the tests use, accepts the matching smaller file).
    """

    name = "dsprites"
    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    observation_shape = (1, IMAGE_SIZE, IMAGE_SIZE)

    def __init__(self, path=None, cache_dir=None):
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        sizes = np.asarray(self.factor_sizes, dtype=np.int64)
        self._sizes = sizes
        self._bases = np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]]).astype(np.int64)
        self._len = int(np.prod(sizes))
        self._tables = {}
        self.path = None
        self._packed = None
        if path is not None:
            self.path = Path(path).expanduser()
            self._packed = self._load_official(self.path)
        self._geometry = load_geometry(self.cache_dir)  # render() stays procedural with an official file too

    # ----- the official file
    def _load_official(self, path):
        if not path.exists():
            raise PyroVAEError(f"dSprites file {path} does not exist: give the path of {OFFICIAL_FILE} "
                               "or leave the path unset to render dSprites procedurally")
        if not path.is_file():
            raise PyroVAEError(f"dSprites path {path} is not a file: give the path of {OFFICIAL_FILE}")
        stat = path.stat()
        source = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, tuple(self._sizes.tolist()))
        key = hashlib.sha1(repr(source).encode()).hexdigest()[:16]
        packed_path = self.cache_dir / f"dsprites_packed_{key}.npy"
        if not packed_path.exists():
            _pack_official(path, packed_path, self._bases, tuple(self._sizes.tolist()))
        try:
            packed = np.load(packed_path, mmap_mode="r")
        except (OSError, ValueError):
            packed = None
        if packed is None or packed.shape != (self._len, IMAGE_SIZE, 8) or packed.dtype != np.uint8:
            packed_path.unlink(missing_ok=True)  # a damaged cache entry: pack again
            _pack_official(path, packed_path, self._bases, tuple(self._sizes.tolist()))
            packed = np.load(packed_path, mmap_mode="r")
        return packed

    # ----- sizes and factors
    def __len__(self):
        return self._len

    def factor_values(self):
        """Official latent values of each factor by name (class k of a factor has value ``[k]``)."""
        return factor_values()

    def index_to_factors(self, flat_index):
        """Factor classes int64 [n, 5] of flat indices (official order, last factor fastest)."""
        flat = np.atleast_1d(np.asarray(flat_index))
        if flat.ndim != 1 or not (np.issubdtype(flat.dtype, np.integer) or flat.size == 0):
            raise PyroVAEError(f"flat indices must be a 1-D integer array, got shape {flat.shape} and dtype "
                               f"{flat.dtype}")
        flat = flat.astype(np.int64)
        if flat.size and (flat.min() < 0 or flat.max() >= self._len):
            raise PyroVAEError(f"flat index {int(flat[(flat < 0) | (flat >= self._len)][0])} is out of range: "
                               f"indices are 0 … {self._len - 1}")
        return (flat[:, None] // self._bases) % self._sizes

    def factors_to_index(self, factors):
        """Flat indices int64 [n] of factor classes [n, 5] (official order)."""
        factors = np.asarray(factors)
        if factors.ndim == 1:
            factors = factors[None]
        return _check_classes(factors, tuple(self._sizes.tolist())) @ self._bases

    # ----- images
    def render(self, classes):
        """Procedural images uint8 [n, 64, 64] of 0/1 of factor classes [n, 5] (deterministic)."""
        return _render(self._device_tables(torch.device("cpu")), _check_classes(classes, tuple(self._sizes.tolist())))

    def _images(self, flat):
        """uint8 [n, 64, 64] of valid flat indices (from the official file when loaded)."""
        if self._packed is not None:
            return np.unpackbits(self._packed[flat], axis=-1, bitorder="little")
        return _render(self._device_tables(torch.device("cpu")), (flat[:, None] // self._bases) % self._sizes)

    def __getitem__(self, index):
        if isinstance(index, slice):
            flat = np.arange(*index.indices(self._len))
        else:
            if isinstance(index, torch.Tensor):
                index = index.detach().cpu().numpy()
            flat = np.asarray(index)
            if flat.dtype == np.bool_ and flat.shape == (self._len,):
                flat = np.flatnonzero(flat)
            if not (np.issubdtype(flat.dtype, np.integer) or (flat.size == 0 and flat.ndim == 1)) or flat.ndim > 1:
                raise PyroVAEError(f"dSprites index must be an int, a slice or a 1-D integer array, got "
                                   f"{type(index).__name__} of dtype {flat.dtype} and shape {flat.shape}")
            flat = flat.astype(np.int64)
            bad = (flat < -self._len) | (flat >= self._len)
            if bad.any():
                raise DSpritesIndexError(f"dSprites index {int(np.atleast_1d(flat)[np.atleast_1d(bad)][0])} is out of "
                                         f"range for {self._len} images")
            flat = np.where(flat < 0, flat + self._len, flat)
        images = self._images(np.atleast_1d(flat))
        return images[0] if np.ndim(flat) == 0 else images

    def sample_factors(self, num, random_state):
        """Factor classes int64 [num, 5]: ``random_state.randint(size_k, size=num)`` for each factor in order
        (exactly disentanglement_lib's draws)."""
        factors = np.zeros((num, len(self._sizes)), dtype=np.int64)
        for k, size in enumerate(self._sizes):
            factors[:, k] = random_state.randint(size, size=num)
        return factors

    def sample_observations_from_factors(self, factors, random_state):
        """Images float32 [n, 1, 64, 64] (0/1) of factor classes [n, 5], as disentanglement_lib's dSprites
        (its one-valued colour factor draws ``randint(1)``, which consumes no random numbers)."""
        flat = self.factors_to_index(factors)
        if random_state is not None:
            random_state.randint(1, size=len(flat))  # the colour factor, as disentanglement_lib draws it
        return self._images(flat).astype(np.float32)[:, None]

    def sample(self, num, random_state):
        """(factors [num, 5], observations [num, 1, 64, 64]) drawn as in disentanglement_lib."""
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)

    # ----- the training path
    def _device_tables(self, device):
        device = torch.device(device)
        if device not in self._tables:
            t = _Tables(self._geometry, device)
            t.bases = torch.as_tensor(self._bases, device=device)
            t.sizes = torch.as_tensor(self._sizes, device=device)
            self._tables[device] = t
        return self._tables[device]

    def batch(self, indices):
        """Images float32 [B, 1, 64, 64] (0/1) of flat indices [B] (a LongTensor), made on ``indices.device``."""
        if not (isinstance(indices, torch.Tensor) and indices.dtype in (torch.int64, torch.int32) and indices.ndim == 1):
            what = f"{type(indices).__name__} {getattr(indices, 'dtype', '')} {tuple(getattr(indices, 'shape', ()))}"
            raise PyroVAEError(f"DSprites.batch needs a 1-D int64 tensor of flat indices, got {what}")
        if len(indices) and not bool(((indices >= 0) & (indices < self._len)).all()):
            raise PyroVAEError(f"DSprites.batch: flat indices must lie in 0 … {self._len - 1}")
        t = self._device_tables(indices.device)
        indices = indices.long()
        if self._packed is not None:
            rows = torch.from_numpy(self._packed[indices.cpu().numpy()]).to(indices.device)
            return _packed_to_pixels(rows, t.shifts)[:, None]
        classes = torch.div(indices[:, None], t.bases, rounding_mode="floor") % t.sizes
        return _masks_to_pixels(_row_masks(t, classes), t.shifts)[:, None]

    @property
    def nbytes(self):
        """Bytes of memory this object holds: the geometry tables and their copies on each device used (on
        the CPU they share the numpy memory). A memory-mapped official file is not counted: the OS pages
        it in and out of its file cache."""
        held = sum(a.nbytes for a in self._geometry.values())
        for device, t in self._tables.items():
            shared = ("runs", "square_x", "square_y") if device.type == "cpu" else ()
            held += sum(x.numel() * x.element_size() for name, x in vars(t).items() if name not in shared)
        return held

    def __getstate__(self):  # pickle (e.g. to worker processes) as the recipe, not the tables or the file
        return {"path": self.path, "cache_dir": self.cache_dir}

    def __setstate__(self, state):
        self.__init__(path=state["path"], cache_dir=state["cache_dir"])

    def __repr__(self):
        source = f"official file {self.path}" if self.path is not None else "procedural"
        return f"DSprites({len(self)} images, {source})"

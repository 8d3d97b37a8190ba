"""The dSprites renderer, in torch on any device: every row of an image is one or two runs of lit columns,
read from the geometry tables as 64-bit masks (bit c = column c) and expanded into pixels (see
:mod:`pyrovae.data.dsprites` for the geometry)."""
import functools

import numpy as np
import torch

from .dsprites_geometry import FACTOR_NAMES, FACTOR_SIZES, IMAGE_SIZE, M0, NUM_M, SNAP, load_geometry
from .grid import check_classes


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
    m = 31 * t.rows[None, :] - 32 * py[:, None] - M0
    base = ((shape - 1) * 6 + scale) * 40 + ori
    rows = t.runs[base[:, None] * NUM_M + m.clamp(0, NUM_M - 1)]  # [n, 64, 4] lattice thresholds
    if not two_runs:
        rows = rows[..., :2]
    # lattice column n = 31c − 32·pos_x: c ≥ ceil((threshold + 32·pos_x) / 31)
    cols = torch.div(rows.int() + (32 * px + 30).int()[:, None, None], 31, rounding_mode="floor")
    cols = cols.clamp_(0, IMAGE_SIZE)
    masks = t.row_masks[cols[..., 0] * 65 + cols[..., 1]]
    if two_runs:
        masks = masks | t.row_masks[cols[..., 2] * 65 + cols[..., 3]]
    return masks


def row_masks(t, classes, split=False):
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


def masks_to_pixels(masks, shifts, dtype=torch.float32):
    """[n, 64] row masks -> [n, 64, 64] 0/1 images of ``dtype`` (torch, on the masks' device)."""
    return ((masks[..., None] >> shifts) & 1).to(dtype)


def _masks_to_uint8(masks):
    """[n, 64] int64 row masks (numpy) -> [n, 64, 64] uint8 0/1."""
    packed = np.ascontiguousarray(masks, dtype="<i8").view(np.uint8).reshape(len(masks), IMAGE_SIZE, 8)
    return np.unpackbits(packed, axis=-1, bitorder="little")


def packed_to_pixels(packed, shifts, dtype=torch.float32):
    """[n, 64, 8] uint8 rows packed with bitorder 'little' -> [n, 64, 64] images (torch)."""
    bits = (packed[..., None].long() >> shifts[:8]) & 1
    return bits.reshape(len(packed), IMAGE_SIZE, IMAGE_SIZE).to(dtype)


def render_dsprites(classes, cache_dir=None, chunk=2048):
    """dSprites images of factor classes [n, 5] (shape, scale, orientation, pos_x, pos_y):
    uint8 [n, 64, 64] of 0/1, deterministic (integer arithmetic on fixed tables). See the module doc."""
    classes = check_classes(classes, FACTOR_SIZES, FACTOR_NAMES)
    return render(_Tables(load_geometry(cache_dir), "cpu"), classes, chunk)


def render(t, classes, chunk=2048):
    """uint8 [n, 64, 64] images of checked factor classes [n, 5] (numpy) with the CPU tables ``t``."""
    out = np.empty((len(classes), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for start in range(0, len(classes), chunk):
        part = torch.from_numpy(classes[start:start + chunk])
        out[start:start + chunk] = _masks_to_uint8(row_masks(t, part, split=len(part) > 512).numpy())
    return out

"""SmallNORB (LeCun, Huang & Bottou 2004, "Learning Methods for Generic Object Recognition with Invariance
to Pose and Lighting", cs.nyu.edu/~ylclab/data/norb-v1.0-small/), read from its six official files::

    smallnorb-5x46789x9x18x6x2x96x96-training-{dat,cat,info}.mat
    smallnorb-5x01235x9x18x6x2x96x96-testing-{dat,cat,info}.mat

(distributed gzipped: gunzip them first). Each is a binary matrix in the format of the dataset's page:
little-endian int32 magic number (0x1E3D4C55 = bytes, 0x1E3D4C54 = int32, 0x1E3D4C51 = float32,
0x1E3D4C53 = float64, 0x1E3D4C56 = int16), int32 ndim, then max(3, ndim) int32 dimensions (unused
ones are 1), then the data in C order. ``dat``: bytes [24300, 2, 96, 96] (stereo pairs); ``cat``: int32
[24300] (category 0–4); ``info``: int32 [24300, 4] (instance 0–9, elevation 0–8, azimuth 0, 2, …, 34,
lighting 0–5).

As in disentanglement_lib, both files together (48,600 images: every category × instance × elevation ×
azimuth × lighting once) form the dataset; only the first image of each stereo pair is used, resized
from 96×96 to 64×64 with PIL's Lanczos ("antialias") filter. The factors are

========= ==== ===========================================
factor    size
========= ==== ===========================================
category     5 animal, human, airplane, truck, car
elevation    9 30°, 35°, …, 70°
azimuth     18 0°, 20°, …, 340° (the file's value / 2)
lighting     6
========= ==== ===========================================

and the instance is not a factor: ``sample_observations_from_factors`` draws it uniformly from the
random state (after the given factors, as disentanglement_lib does). ``batch(indices)`` indexes all
48,600 images. The ``dat`` files are memory-mapped and each batch resizes only its own images, so the
dataset holds the 1.5 MB of labels, not the 0.9 GB of pixels. Observations are float32 [n, 1, 64, 64]
in [0, 1] (disentanglement_lib reads the bytes as int8 through PIL's 32-bit mode, pyrovae as uint8, the
documented type, through its 8-bit mode: the same filter, up to rounding at the 8-bit range's ends).
"""
import logging
from pathlib import Path

import numpy as np

from ..errors import PyroVAEError
from .grid import GridDataset

log = logging.getLogger(__name__)

FACTOR_NAMES = ("category", "elevation", "azimuth", "lighting")
FACTOR_SIZES = (5, 9, 18, 6)
GRID_SIZES = (5, 10, 9, 18, 6)  # category, instance, elevation, azimuth, lighting
PARTS = ("smallnorb-5x46789x9x18x6x2x96x96-training-{}.mat", "smallnorb-5x01235x9x18x6x2x96x96-testing-{}.mat")
MAGIC = {0x1E3D4C55: np.uint8, 0x1E3D4C54: np.int32, 0x1E3D4C51: np.float32, 0x1E3D4C53: np.float64,
         0x1E3D4C56: np.int16}
FORMAT = ("the NORB binary matrix format: int32 magic, int32 ndim, max(3, ndim) int32 dims, data; "
          "see cs.nyu.edu/~ylclab/data/norb-v1.0-small/")


def read_header(path):
    """(dtype, shape, data offset) of a NORB binary matrix file, checked against its size."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise PyroVAEError(f"{path.name} is too short for a NORB header: expected {FORMAT}")
        magic, ndim = np.frombuffer(head, "<i4")
        if int(magic) not in MAGIC or not 1 <= ndim <= 16:
            raise PyroVAEError(f"{path.name} has magic number {int(magic):#x} and ndim {int(ndim)}: expected {FORMAT}")
        dims = np.frombuffer(f.read(4 * max(3, int(ndim))), "<i4")
    if len(dims) < max(3, int(ndim)) or (dims < 1).any():
        raise PyroVAEError(f"{path.name} has a broken header (dimensions {dims.tolist()}): expected {FORMAT}")
    dtype, shape = np.dtype(MAGIC[int(magic)]).newbyteorder("<"), tuple(int(d) for d in dims[:ndim])
    offset = 8 + 4 * max(3, int(ndim))
    size = offset + int(np.prod(shape)) * dtype.itemsize
    if path.stat().st_size != size:
        raise PyroVAEError(f"{path.name} has {path.stat().st_size} bytes but its header {shape} {dtype} says {size}: "
                           "download and gunzip it again")
    return dtype, shape, offset


def _expect(path, kind, found, dtype, shape):
    if found[0] != dtype or found[1] != shape:
        raise PyroVAEError(f"{path.name} holds {found[0]} {found[1]}, expected the official {kind} matrix "
                           f"{np.dtype(dtype)} {shape} in {FORMAT}")


class SmallNORB(GridDataset):
    """SmallNORB from its six official ``.mat`` files (``path``: their folder, or any one of them)."""

    name = "smallnorb"
    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    observation_shape = (1, 64, 64)

    def __init__(self, path=None):
        self._init_args = {"path": path}
        expected = "the folder of the six official smallnorb-5x*x9x18x6x2x96x96-{training,testing}-{dat,cat,info}.mat"
        if path is None:
            raise PyroVAEError(f"smallnorb is read from its official files, which pyrovae never downloads: give "
                               f"{expected} (--path FOLDER; see docs/datasets.md)")
        folder = Path(path).expanduser()
        folder = folder.parent if folder.is_file() else folder
        if not folder.is_dir():
            raise PyroVAEError(f"smallnorb path {path} does not exist: give {expected}")
        self.path = folder
        self._dat, features = [], []
        for part in PARTS:
            files = {kind: folder / part.format(kind) for kind in ("dat", "cat", "info")}
            for file in files.values():
                if not file.is_file():
                    hint = " (gunzip the .gz first)" if file.with_name(file.name + ".gz").exists() else ""
                    raise PyroVAEError(f"smallnorb: {file.name} is missing from {folder}{hint}: give {expected}")
            dtype, shape, offset = read_header(files["dat"])
            _expect(files["dat"], "dat", (dtype, shape), np.uint8, (24300, 2, 96, 96))
            self._dat.append(np.memmap(files["dat"], dtype=np.uint8, mode="r", offset=offset, shape=shape))
            category = self._read_all(files["cat"], "cat", (24300,))
            info = self._read_all(files["info"], "info", (24300, 4))
            features.append(np.column_stack([category, info]).astype(np.int64))
        features = np.concatenate(features)
        if (features[:, 3] % 2).any():
            raise PyroVAEError(f"smallnorb: an azimuth in the info files is odd: expected 0, 2, …, 34 in {FORMAT}")
        features[:, 3] //= 2  # azimuth 0, 2, …, 34 -> class 0 … 17
        bad = (features < 0) | (features >= np.asarray(GRID_SIZES))
        if bad.any():
            row, col = np.argwhere(bad)[0]
            name = ("category", "instance", "elevation", "azimuth / 2", "lighting")[col]
            raise PyroVAEError(f"smallnorb: image {row} has {name} {features[row, col]}, outside 0 … "
                               f"{GRID_SIZES[col] - 1}: give the official files")
        bases = np.concatenate([np.cumprod(np.asarray(GRID_SIZES)[::-1])[::-1][1:], [1]])
        atoms = features @ bases
        if len(np.unique(atoms)) != int(np.prod(GRID_SIZES)):
            raise PyroVAEError("smallnorb: the training and testing files together do not hold every category × "
                               "instance × elevation × azimuth × lighting exactly once: give the official files")
        lookup = np.empty(len(atoms), dtype=np.int64)
        lookup[atoms] = np.arange(len(atoms))
        self._set_grid(GRID_SIZES, [0, 2, 3, 4], lookup)
        log.info("smallnorb: %s (dat files memory-mapped, images resized per batch)", folder)

    @staticmethod
    def _read_all(path, kind, shape):
        dtype, found, offset = read_header(path)
        _expect(path, kind, (dtype, found), np.int32, shape)
        return np.fromfile(path, dtype=dtype, offset=offset).reshape(shape)

    def _read(self, index):
        from PIL import Image  # needed only once, to resize the official files into the cache

        out = np.empty((len(index), 1, 64, 64), dtype=np.uint8)
        part_size = len(self._dat[0])
        for i, image in enumerate(index):
            left = self._dat[int(image) // part_size][int(image) % part_size, 0]  # the first camera of the pair
            out[i, 0] = np.asarray(Image.fromarray(np.ascontiguousarray(left)).resize((64, 64), Image.LANCZOS))
        return out

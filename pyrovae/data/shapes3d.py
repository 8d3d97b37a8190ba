"""Shapes3D (Burgess & Kim 2018, "3D Shapes Dataset", github.com/deepmind/3d-shapes, Apache-2.0), read
from the official ``3dshapes.h5`` with h5py (the optional extra ``pip install 'pyrovae[datasets]'``).

The file holds two HDF5 datasets: ``images`` uint8 [480000, 64, 64, 3] and ``labels`` float64
[480000, 6], one image per combination of the six factors, last factor fastest:

============ ==== =====================================================
factor       size values in ``labels`` (the README's description)
============ ==== =====================================================
floor_hue      10 10 hues in [0, 1]
wall_hue       10 10 hues in [0, 1]
object_hue     10 10 hues in [0, 1]
scale           8 8 scales
shape           4 0, 1, 2, 3
orientation    15 15 angles in [−30, 30]
============ ==== =====================================================

Class k of a factor is its k-th smallest value in ``labels`` (``factor_values()``); the loader relies on
the values' order only, not on the values themselves. (disentanglement_lib calls the factors floor
color, wall color, object color, object size, object type and azimuth.)

On opening, the labels (23 MB) are read once and checked to be this grid in this order; the
images are never loaded as a whole: each batch reads only its images from the file (HDF5 decompresses
the chunks that hold them, through a chunk cache of ``chunk_cache_mb``). Observations are float32
[n, 3, 64, 64] in [0, 1] (channels first).
"""
import logging

import numpy as np

from ..errors import PyroVAEError, import_extra
from .grid import GridDataset, official_path

log = logging.getLogger(__name__)

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
OFFICIAL_FILE = "3dshapes.h5"


class Shapes3D(GridDataset):
    """Shapes3D from the official ``3dshapes.h5`` (``path``: the file, or the folder that holds it)."""

    name = "shapes3d"
    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    observation_shape = (3, 64, 64)

    def __init__(self, path=None, chunk_cache_mb=32):
        self._init_args = {"path": path, "chunk_cache_mb": chunk_cache_mb}
        n = int(np.prod(self.factor_sizes))
        self.expected = (f"the official {OFFICIAL_FILE} (HDF5 datasets 'images' uint8 [{n}, 64, 64, 3] and 'labels' "
                         f"float64 [{n}, 6])")
        self.path = official_path(path, OFFICIAL_FILE, "shapes3d", self.expected)
        h5py = import_extra("h5py", "datasets", "reading 3dshapes.h5")
        try:
            self._file = h5py.File(self.path, "r", rdcc_nbytes=int(chunk_cache_mb * 2**20))
        except OSError as error:
            raise PyroVAEError(f"{self.path} is not a readable HDF5 file ({error}): give {self.expected}") from None
        keys = sorted(self._file.keys())
        shapes = {k: (tuple(getattr(self._file[k], "shape", ())), getattr(self._file[k], "dtype", None)) for k in keys}
        if shapes.get("images") != ((n, 64, 64, 3), np.dtype(np.uint8)) or \
                shapes.get("labels") != ((n, len(self.factor_sizes)), np.dtype(np.float64)):
            found = ", ".join(f"{k} {s[0]} {s[1]}" for k, s in shapes.items()) or "nothing"
            raise PyroVAEError(f"{self.path.name} holds {found}: give {self.expected}")
        self._images = self._file["images"]
        self.values = self._check_labels(self._file["labels"][...])
        self._set_grid(self.factor_sizes, range(len(self.factor_sizes)))
        log.info("shapes3d: %s (images read on demand, chunks %s, compression %s)", self.path,
                 self._images.chunks, self._images.compression)

    def _check_labels(self, labels):
        """The factor values (tuple of arrays) after checking that ``labels`` is the official grid."""
        n, values = len(labels), []
        bases = np.concatenate([np.cumprod(np.asarray(self.factor_sizes)[::-1])[::-1][1:], [1]])
        for k, (name, size) in enumerate(zip(self.factor_names, self.factor_sizes)):
            column = labels[:, k]
            distinct = np.unique(column)
            if len(distinct) != size or not np.isfinite(distinct).all():
                raise PyroVAEError(f"{self.path.name}: labels column {k} ({name}) has {len(distinct)} distinct values, "
                                   f"expected {size}: give {self.expected}")
            classes = np.searchsorted(distinct, column)
            expected = (np.arange(n) // bases[k]) % size
            if not np.array_equal(classes, expected):
                row = int(np.argmax(classes != expected))
                raise PyroVAEError(f"{self.path.name}: label row {row} has {name} class {classes[row]}, expected "
                                   f"{expected[row]} (the official order, last factor fastest): give the unshuffled "
                                   f"{self.expected}")
            values.append(distinct)
        return tuple(values)

    def factor_values(self):
        """The label values of each factor, by name (class k of a factor has value ``[k]``)."""
        return dict(zip(self.factor_names, self.values))

    def _read(self, index):
        # one read per image: much faster in h5py than one fancy-indexed selection of many images
        return np.stack([self._images[int(i)] for i in index]).transpose(0, 3, 1, 2).copy()

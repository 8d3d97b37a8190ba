"""Cars3D (Reed, Zhang, Zhang & Lee 2015, "Deep Visual Analogy-Making", NeurIPS; the ``cars`` folder of
``nips2015-analogy-data.tar.gz`` from www.scottreed.info), read from its official ``cars/*.mat`` files
with ``scipy.io.loadmat``.

Each of the 183 files is one car model: the variable ``im``, uint8 [128, 128, 3, 24, 4] = height, width,
RGB, 24 azimuths, 4 elevations. The factors, as in disentanglement_lib:

========= ==== ==================================================================
factor    size
========= ==== ==================================================================
elevation    4
azimuth     24
object     183 the car model: its file's position in ``cars/list.txt`` when present,
               else in the sorted file names (disentanglement_lib takes the folder
               listing's order, which the file system decides)
========= ==== ==================================================================

Every image is resized to 64×64 with PIL's Lanczos ("antialias") filter, as disentanglement_lib does
(its ``thumbnail((64, 64))`` is the same resize for these square images). All 17,568 resized images are
kept in memory as uint8 (216 MB; disentanglement_lib keeps them as float64, 1.7 GB); reading and resizing
the 183 files takes about 15 s on 2 CPU cores. Observations are float32 [n, 3, 64, 64] in [0, 1].
"""
import logging
from pathlib import Path

import numpy as np

from ..errors import PyroVAEError
from .grid import GridDataset

log = logging.getLogger(__name__)

FACTOR_NAMES = ("elevation", "azimuth", "object")
FACTOR_SIZES = (4, 24, 183)


class Cars3D(GridDataset):
    """Cars3D from the official ``cars/*.mat`` (``path``: the ``cars`` folder or the folder that holds it)."""

    name = "cars3d"
    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    observation_shape = (3, 64, 64)

    def __init__(self, path=None):
        self._init_args = {"path": path}
        elevations, azimuths, objects = self.factor_sizes
        expected = (f"the official cars folder of Reed et al. 2015 ({objects} .mat files, each with the variable 'im', "
                    f"uint8 [128, 128, 3, {azimuths}, {elevations}])")
        if path is None:
            raise PyroVAEError(f"cars3d is read from its official files, which pyrovae never downloads: give {expected} "
                               "(--path FOLDER; see docs/datasets.md)")
        folder = Path(path).expanduser()
        if (folder / "cars").is_dir():
            folder = folder / "cars"
        if not folder.is_dir():
            raise PyroVAEError(f"cars3d path {path} is not a folder: give {expected}")
        self.path = folder
        files = self._files(folder, expected)
        self._set_grid(self.factor_sizes, range(3))
        self._images = np.empty((len(self), 3, 64, 64), dtype=np.uint8)
        grid = np.stack(np.meshgrid(np.arange(elevations), np.arange(azimuths), indexing="ij"), -1).reshape(-1, 2)
        for o, file in enumerate(files):
            pictures = self._load(file, expected)  # [azimuth, elevation, 64, 64, 3]
            index = grid[:, 0] * self._bases[0] + grid[:, 1] * self._bases[1] + o
            self._images[index] = pictures[grid[:, 1], grid[:, 0]].transpose(0, 3, 1, 2)
        log.info("cars3d: %d objects from %s (%.0f MB in memory)", len(files), folder, self._images.nbytes / 1e6)

    def _files(self, folder, expected):
        listing = folder / "list.txt"
        if listing.is_file():
            names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
            files = [folder / (n if n.endswith(".mat") else n + ".mat") for n in names]
            missing = [f.name for f in files if not f.is_file()]
            if missing:
                raise PyroVAEError(f"cars3d: {missing[0]} (listed in list.txt) is missing from {folder}: give {expected}")
        else:
            files = sorted(folder.glob("*.mat"))
        if len(files) != self.factor_sizes[2]:
            raise PyroVAEError(f"cars3d: {folder} holds {len(files)} .mat files, expected {self.factor_sizes[2]}: "
                               f"give {expected}")
        return files

    def _load(self, file, expected):
        """Resized images uint8 [azimuth, elevation, 64, 64, 3] of one car file."""
        # slow to import, and needed only once, to unpack the official files into the cache
        import scipy.io
        from PIL import Image

        try:
            im = scipy.io.loadmat(file, variable_names=["im"]).get("im")
        except Exception as error:  # noqa: BLE001 - any reader error is a bad file
            raise PyroVAEError(f"cars3d: cannot read {file.name} ({type(error).__name__}: {error}): give {expected}") from None
        if im is None or im.ndim != 5 or im.dtype != np.uint8 or im.shape[2] != 3 or im.shape[0] != im.shape[1] \
                or im.shape[0] < 64 or im.shape[3:] != (self.factor_sizes[1], self.factor_sizes[0]):
            found = "no variable 'im'" if im is None else f"'im' {im.dtype} {list(im.shape)}"
            raise PyroVAEError(f"cars3d: {file.name} holds {found}: give {expected}")
        out = np.empty((im.shape[3], im.shape[4], 64, 64, 3), dtype=np.uint8)
        for a in range(im.shape[3]):
            for e in range(im.shape[4]):
                picture = Image.fromarray(np.ascontiguousarray(im[:, :, :, a, e]))
                out[a, e] = np.asarray(picture.resize((64, 64), Image.LANCZOS))
        return out

    def _read(self, index):
        return self._images[index]

    @property
    def nbytes(self):
        """Bytes of the resized images held in memory."""
        return self._images.nbytes

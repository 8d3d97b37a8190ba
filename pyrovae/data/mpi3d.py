"""MPI3D (Gondal et al. 2019, "On the Transfer of Inductive Bias from Simulation to the Real World: a New
Disentanglement Dataset", github.com/rr-learning/disentanglement_dataset, CC BY 4.0), read from one of
the official ``mpi3d_toy.npz``, ``mpi3d_realistic.npz`` or ``mpi3d_real.npz``.

Each file holds one array, ``images`` uint8 [1036800, 64, 64, 3]: one image per combination of the seven
factors, last factor fastest (the files have no labels; the order is the one their README documents,
``images.reshape(6, 6, 2, 3, 3, 40, 40, 64, 64, 3)``):

================ ==== ===========================================================
factor           size values
================ ==== ===========================================================
object_color        6 white, green, red, blue, brown, olive
object_shape        6 cone, cube, cylinder, hexagonal, pyramid, sphere
object_size         2 small, large
camera_height       3 top, center, bottom
background_color    3 purple, sea green, salmon
first_dof          40 rotation about the first axis of the robot arm
second_dof         40 rotation about the second axis
================ ==== ===========================================================

(Early releases had 4 colours and 4 shapes, 460,800 images; disentanglement_lib still uses those sizes
for ``mpi3d_toy`` and ``mpi3d_realistic``. This loader reads the 1,036,800-image files.)

Memory: ``np.load(path, mmap_mode="r")`` does not memory-map an ``.npz`` (numpy reads the member into
memory, 12.7 GB here). An ``.npz`` is a zip archive, so when ``images.npy`` is *stored* in it
(``np.savez``, no compression) its bytes lie contiguous in the file and are memory-mapped in place: only
the pages a batch touches are read. When it is *deflated* (``np.savez_compressed``) it cannot be mapped:
it is decompressed once, chunk by chunk, into an uncompressed ``.npy`` in the cache dir (``$PYROVAE_CACHE``
or ``~/.cache/pyrovae``; 12.7 GB of disk), which is memory-mapped from then on.
"""
import hashlib
import logging
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..errors import PyroVAEError
from .cache import default_cache_dir
from .grid import GridDataset, official_path
from .npz import npz_member

log = logging.getLogger(__name__)

FACTOR_NAMES = ("object_color", "object_shape", "object_size", "camera_height", "background_color",
                "first_dof", "second_dof")
FACTOR_SIZES = (6, 6, 2, 3, 3, 40, 40)


class MPI3D(GridDataset):
    """MPI3D from an official ``mpi3d_*.npz`` (``path``: the file, or a folder holding exactly one)."""

    name = "mpi3d"
    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    observation_shape = (3, 64, 64)

    def __init__(self, path=None, cache_dir=None):
        self._init_args = {"path": path, "cache_dir": cache_dir}
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        n = int(np.prod(self.factor_sizes))
        self.expected = f"mpi3d_*.npz (one array 'images', uint8 [{n}, 64, 64, 3])"
        self.path = official_path(path, "mpi3d_*.npz", "mpi3d", "an official " + self.expected)
        self._images, self.storage = self._open((n, 64, 64, 3))
        self._set_grid(self.factor_sizes, range(len(self.factor_sizes)))
        log.info("mpi3d: %s (%s)", self.path, self.storage)

    def _open(self, shape):
        try:
            zf = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError, ValueError) as error:
            raise PyroVAEError(f"{self.path} is not a valid .npz file ({error}): give the official {self.expected}") from None
        with zf:
            f, found, dtype = npz_member(zf, "images", self.path, self.expected)
            with f:
                header = f.tell()
            if found != shape or dtype != np.uint8:
                raise PyroVAEError(f"{self.path.name}: images has shape {found} and dtype {dtype}: give the official "
                                   f"{self.expected}")
            info = zf.getinfo("images.npy")
            if info.compress_type == zipfile.ZIP_STORED:
                offset = self._member_offset(info) + header
                if os.path.getsize(self.path) < offset + int(np.prod(shape)):
                    raise PyroVAEError(f"{self.path} is truncated: download it again")
                return np.memmap(self.path, dtype=np.uint8, mode="r", offset=offset, shape=shape), \
                    "stored npz member, memory-mapped in place"
            return self._unpacked(zf, shape), "compressed npz member, unpacked once into the cache dir and memory-mapped"

    def _member_offset(self, info):
        """Byte offset of the member's data: after its local file header (30 bytes, name, extra field)."""
        with open(self.path, "rb") as raw:
            raw.seek(info.header_offset)
            head = raw.read(30)
        if len(head) != 30 or head[:4] != b"PK\x03\x04":
            raise PyroVAEError(f"{self.path} is corrupt (bad zip header of images.npy): download it again")
        name_length, extra_length = struct.unpack("<HH", head[26:30])
        return info.header_offset + 30 + name_length + extra_length

    def _unpacked(self, zf, shape, chunk=8192):
        stat = self.path.stat()
        key = hashlib.sha1(repr((str(self.path.resolve()), stat.st_size, stat.st_mtime_ns, shape)).encode()).hexdigest()[:16]
        out = self.cache_dir / f"mpi3d_images_{key}.npy"
        if out.exists():
            try:
                images = np.load(out, mmap_mode="r")
                if images.shape == shape and images.dtype == np.uint8:
                    return images
            except (OSError, ValueError):
                pass
            out.unlink(missing_ok=True)  # a damaged cache entry: unpack again
        log.info("mpi3d: %s is compressed; unpacking its images once into %s (%.1f GB)", self.path.name, out,
                 np.prod(shape) / 1e9)
        no_space = f"set PYROVAE_CACHE (or cache_dir) to a writable folder with {np.prod(shape) / 1e9:.1f} GB free"

        def unpack(tmp):
            copy = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
            f, _, _ = npz_member(zf, "images", self.path, self.expected)
            with f:
                per_image = int(np.prod(shape[1:]))
                for start in range(0, shape[0], chunk):
                    k = min(chunk, shape[0] - start)
                    data = f.read(k * per_image)
                    if len(data) != k * per_image:
                        raise PyroVAEError(f"{self.path} is truncated (images end at image {start}): download it again")
                    copy[start:start + k] = np.frombuffer(data, np.uint8).reshape(k, *shape[1:])
            copy.flush()

        try:
            atomic_write(out, unpack)
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            raise PyroVAEError(f"{self.path} is corrupt ({type(error).__name__}: {error}): download it again") from None
        except OSError as error:
            raise PyroVAEError(f"cannot unpack {self.path.name} into {out.parent} ({error}): {no_space}") from None
        return np.load(out, mmap_mode="r")

    def _read(self, index):
        return np.ascontiguousarray(self._images[index].transpose(0, 3, 1, 2))

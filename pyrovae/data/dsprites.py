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

import hashlib
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_write
from ..errors import PyroVAEError
from .cache import default_cache_dir
from .dsprites_geometry import FACTOR_NAMES, FACTOR_SIZES, IMAGE_SIZE, OFFICIAL_FILE, factor_values, load_geometry
from .dsprites_render import _Tables, masks_to_pixels, packed_to_pixels, render, row_masks
from .grid import check_classes, check_indices
from .npz import npz_member


class DSpritesIndexError(PyroVAEError, IndexError):
    """An index outside the dataset (an IndexError, so iteration stops as for a sequence)."""


# --------------------------------------------------------------------------------------------------------
# the official file


def _check_official_classes(zf, path, bases, sizes):
    """``latents_classes`` must be the grid ``sizes`` (plus the one-valued colour) in the official order."""
    n = int(np.prod(sizes))
    f, shape, dtype = npz_member(zf, "latents_classes", path, OFFICIAL_FILE)
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
    """Stream n binary images from ``f`` into the file ``tmp`` as packed rows [n, 64, 8] (bitorder 'little')."""
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
            f, shape, dtype = npz_member(zf, "imgs", path, OFFICIAL_FILE)
            with f:
                if shape != (n, IMAGE_SIZE, IMAGE_SIZE) or dtype != np.uint8:
                    raise PyroVAEError(f"{path}: imgs has shape {shape} and dtype {dtype}, expected shape "
                                       f"{(n, IMAGE_SIZE, IMAGE_SIZE)} of uint8 0/1 (the complete official dSprites): "
                                       f"give the official {OFFICIAL_FILE}")
                try:
                    atomic_write(out_path, lambda tmp: _write_packed(f, n, path, tmp, chunk))
                except OSError as error:
                    raise PyroVAEError(f"cannot write the packed copy of {path} ({error}): {no_space}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as error:
        if isinstance(error, PyroVAEError):
            raise
        raise PyroVAEError(f"{path} is corrupt ({type(error).__name__}: {error}): download the official "
                           f"{OFFICIAL_FILE} again") from None



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
        flat = check_indices(flat_index, self._len, "flat indices")
        return (flat[:, None] // self._bases) % self._sizes

    def factors_to_index(self, factors):
        """Flat indices int64 [n] of factor classes [n, 5] (official order)."""
        factors = np.asarray(factors)
        if factors.ndim == 1:
            factors = factors[None]
        return check_classes(factors, tuple(self._sizes.tolist()), self.factor_names) @ self._bases

    # ----- images
    def render(self, classes):
        """Procedural images uint8 [n, 64, 64] of 0/1 of factor classes [n, 5] (deterministic)."""
        classes = check_classes(classes, tuple(self._sizes.tolist()), self.factor_names)
        return render(self._device_tables(torch.device("cpu")), classes)

    def _images(self, flat):
        """uint8 [n, 64, 64] of valid flat indices (from the official file when loaded)."""
        if self._packed is not None:
            return np.unpackbits(self._packed[flat], axis=-1, bitorder="little")
        return render(self._device_tables(torch.device("cpu")), (flat[:, None] // self._bases) % self._sizes)

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
            return packed_to_pixels(rows, t.shifts)[:, None]
        classes = torch.div(indices[:, None], t.bases, rounding_mode="floor") % t.sizes
        return masks_to_pixels(row_masks(t, classes), t.shifts)[:, None]

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

"""Images on a complete grid of discrete factors, read from a dataset's official files: the part that
Shapes3D, MPI3D, SmallNORB and Cars3D share (see :mod:`~pyrovae.data.shapes3d` and its siblings).

A grid dataset holds one image per combination ("atom") of its grid factors. The factors a metric sees
are ``factor_names`` / ``factor_sizes``; a grid may also have nuisance factors that are not part of the
ground truth (SmallNORB's object instance): ``sample_observations_from_factors`` draws them uniformly
from the random state, after the given factors, exactly as disentanglement_lib's
``SplitDiscreteStateSpace.sample_all_factors`` does. The atom of grid classes ``c`` is ``c · bases``
(last factor fastest); ``lookup[atom]`` is its image index (the identity when the file stores the
images in grid order).

The protocol is DSprites': ``len``, ``observation_shape``, ``batch(indices)`` (the trainer's path: float32
[B, C, H, W] in [0, 1] on the indices' device), ``sample_factors``, ``sample_observations_from_factors``
(float32 [n, C, H, W], numpy), ``sample``, ``index_to_factors`` and ``factors_to_index``. A subclass
implements ``_read(indices) -> uint8 [m, C, H, W]`` for sorted, unique image indices and keeps its
constructor's arguments in ``_init_args`` (a grid dataset pickles as that recipe, not as open files).
"""
from pathlib import Path

import numpy as np
import torch

from ..errors import PyroVAEError


def check_indices(index, length, what):
    """``index`` as an int64 array [n] of indices into ``length`` images (``what`` names them in errors)."""
    index = np.atleast_1d(np.asarray(index))
    if index.ndim != 1 or not (np.issubdtype(index.dtype, np.integer) or index.size == 0):
        raise PyroVAEError(f"{what} must be a 1-D integer array, got shape {index.shape} and dtype {index.dtype}")
    index = index.astype(np.int64)
    if index.size and (index.min() < 0 or index.max() >= length):
        raise PyroVAEError(f"{what} {int(index[(index < 0) | (index >= length)][0])} is out of range: "
                           f"they are 0 … {length - 1}")
    return index


def check_classes(classes, sizes, names):
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


def official_path(path, pattern, dataset, expected):
    """The official file ``path``, or the one file matching ``pattern`` in the folder ``path``; a one-line
    error naming ``expected`` (the official file and its format) otherwise."""
    if path is None:
        raise PyroVAEError(f"{dataset} is read from its official file, which pyrovae never downloads: give its path "
                           f"(--path FILE, {expected}; see docs/datasets.md)")
    path = Path(path).expanduser()
    if not path.exists():
        raise PyroVAEError(f"{dataset} path {path} does not exist: give {expected}")
    if path.is_dir():
        found = sorted(path.glob(pattern))
        if len(found) != 1:
            what = "no file" if not found else f"{len(found)} files ({', '.join(f.name for f in found)})"
            raise PyroVAEError(f"{dataset}: the folder {path} holds {what} matching {pattern}: give the path of "
                               f"{expected}")
        path = found[0]
    return path


class GridDataset:
    """Base of the datasets whose images cover a factor grid (see the module docstring)."""

    name = None
    factor_names = ()
    factor_sizes = ()
    observation_shape = ()

    def _set_grid(self, grid_sizes, latent, lookup=None):
        """Grid factor sizes (nuisance factors included), the grid positions of ``factor_names``, and the
        image index of every atom (None: the images are stored in grid order)."""
        self._grid = np.asarray(grid_sizes, dtype=np.int64)
        self._latent = np.asarray(latent, dtype=np.int64)
        self._nuisance = np.array([i for i in range(len(self._grid)) if i not in set(latent)], dtype=np.int64)
        self._bases = np.concatenate([np.cumprod(self._grid[::-1])[::-1][1:], [1]]).astype(np.int64)
        self._len = int(np.prod(self._grid))
        self._lookup = lookup
        self._atoms = None  # image index -> atom, built when index_to_factors first needs it

    # ----- sizes and factors
    def __len__(self):
        return self._len

    def factors_to_index(self, factors, random_state=None):
        """Image indices int64 [n] of factor classes [n, K]; nuisance factors are drawn from
        ``random_state`` (required when the grid has any)."""
        factors = check_classes(factors, tuple(self.factor_sizes), tuple(self.factor_names))
        grid = np.zeros((len(factors), len(self._grid)), dtype=np.int64)
        grid[:, self._latent] = factors
        if len(self._nuisance) and random_state is None:
            raise PyroVAEError(f"{self.name} draws the nuisance factor(s) at random: pass a numpy RandomState")
        for i in self._nuisance:  # disentanglement_lib's order: after the given factors, one draw per factor
            grid[:, i] = random_state.randint(self._grid[i], size=len(factors))
        atoms = grid @ self._bases
        return atoms if self._lookup is None else self._lookup[atoms]

    def index_to_factors(self, index):
        """Factor classes int64 [n, K] (nuisance factors left out) of image indices [n]."""
        index = check_indices(index, self._len, f"{self.name} image indices")
        if self._lookup is not None:
            if self._atoms is None:
                self._atoms = np.empty(self._len, dtype=np.int64)
                self._atoms[self._lookup] = np.arange(self._len)
            index = self._atoms[index]
        return ((index[:, None] // self._bases) % self._grid)[:, self._latent]

    def sample_factors(self, num, random_state):
        """Factor classes int64 [num, K]: ``random_state.randint(size_k, size=num)`` for each factor in
        order (disentanglement_lib's draws)."""
        factors = np.zeros((num, len(self.factor_sizes)), dtype=np.int64)
        for k, size in enumerate(self.factor_sizes):
            factors[:, k] = random_state.randint(size, size=num)
        return factors

    def sample_observations_from_factors(self, factors, random_state):
        """Images float32 [n, C, H, W] in [0, 1] of factor classes [n, K] (disentanglement_lib's draws)."""
        return self._pixels(self.factors_to_index(factors, random_state))

    def sample(self, num, random_state):
        """(factors [num, K], observations [num, C, H, W]) drawn as in disentanglement_lib."""
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)

    # ----- images
    def images(self, index):
        """uint8 [n, C, H, W] of image indices [n] (each distinct image read once, in file order)."""
        index = np.asarray(index, dtype=np.int64)
        if index.size == 0:
            return np.zeros((0, *self.observation_shape), dtype=np.uint8)
        unique, inverse = np.unique(index, return_inverse=True)
        return self._read(unique)[inverse.reshape(-1)]

    def _pixels(self, index):
        return self.images(index).astype(np.float32) / np.float32(255)

    def batch(self, indices):
        """Images float32 [B, C, H, W] in [0, 1] of image indices [B] (a LongTensor), on ``indices.device``."""
        if not (isinstance(indices, torch.Tensor) and indices.dtype in (torch.int64, torch.int32)
                and indices.ndim == 1):
            what = f"{type(indices).__name__} {getattr(indices, 'dtype', '')} {tuple(getattr(indices, 'shape', ()))}"
            raise PyroVAEError(f"{type(self).__name__}.batch needs a 1-D int64 tensor of image indices, got {what}")
        index = indices.cpu().numpy().astype(np.int64)
        if index.size and (index.min() < 0 or index.max() >= self._len):
            raise PyroVAEError(f"{type(self).__name__}.batch: image indices must lie in 0 … {self._len - 1}")
        pixels = torch.from_numpy(self.images(index)).to(indices.device)
        return pixels.float().div_(255)

    def _read(self, index):
        raise NotImplementedError

    def __getstate__(self):  # pickle (e.g. to worker processes) as the recipe, not the open files
        return dict(self._init_args)

    def __setstate__(self, state):
        self.__init__(**state)

    def __repr__(self):
        return f"{type(self).__name__}({len(self)} images from {getattr(self, 'path', None)})"

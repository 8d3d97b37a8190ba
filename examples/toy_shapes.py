"""A 16×16 ground-truth dataset for quick sweeps on a CPU: registers ``toy-shapes`` in pyrovae's datasets.

dSprites in miniature: a square or an ellipse (shape), at three scales, on an 8 × 8 grid of positions,
drawn like dSprites (point sampling at pixel centres, binary) with dSprites' geometry scaled from 64 to
16 pixels. 2 × 3 × 8 × 8 = 384 images, every combination once, with the factor protocol the metrics use
(``factor_sizes``, ``sample_factors``, ``sample_observations_from_factors``).

Use it from a sweep spec with ``imports: [toy_shapes.py]`` (a path relative to the spec) and
``datasets: [toy-shapes]``, or ``import toy_shapes`` before ``pyrovae.train.fit``.
"""
import numpy as np
import torch

from pyrovae.data import DATASETS, ArrayDataset

SIZE = 16
FACTOR_NAMES = ("shape", "scale", "posX", "posY")
FACTOR_SIZES = (2, 3, 8, 8)


def render(shape, scale, pos_x, pos_y, size=SIZE):
    """One binary image [size, size]: shape 0 square, 1 ellipse; pos in [0, 1]; scale in [0.5, 1]."""
    k = size / 64.0
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    u = (cols - (16 + 32 * pos_x) * k) / (scale * k)
    v = (rows - (16 + 32 * pos_y) * k) / (scale * k)
    if shape == 0:
        inside = (np.abs(u) < 9.6) & (np.abs(v) < 9.6)
    else:
        inside = (u / 12.763) ** 2 + (v / 7.215) ** 2 < 1
    return inside.astype(np.float32)


class ToyShapes(ArrayDataset):
    def __init__(self):
        grids = np.stack(np.meshgrid(*[np.arange(n) for n in FACTOR_SIZES], indexing="ij"), -1).reshape(-1, 4)
        scales = np.linspace(0.6, 1.0, FACTOR_SIZES[1])
        positions = np.linspace(0, 1, FACTOR_SIZES[2])
        images = np.stack([render(s, scales[c], positions[x], positions[y]) for s, c, x, y in grids])[:, None]
        super().__init__(images, factors=grids, factor_names=FACTOR_NAMES, name="toy-shapes")
        self.factor_sizes = FACTOR_SIZES
        self._bases = np.cumprod((1,) + FACTOR_SIZES[::-1])[::-1][1:]

    def sample_factors(self, num, random_state):
        return np.stack([random_state.randint(n, size=num) for n in self.factor_sizes], axis=1)

    def sample_observations_from_factors(self, factors, random_state):
        index = np.asarray(factors, dtype=np.int64) @ self._bases
        return self.observations[torch.as_tensor(index)].numpy()


DATASETS.setdefault("toy-shapes", lambda **kwargs: ToyShapes(**kwargs))

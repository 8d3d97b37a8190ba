"""Shapes dSprites does not have, drawn like dSprites: test images for a domain shift."""
import numpy as np

from ..errors import PyroVAEError


def render_shapes(shape, num, size=64, seed=0):
    """Binary images [num, 1, size, size] of a shape dSprites does not have ("triangle" or "cross"),
    drawn like dSprites (point sampling at pixel centres; centre 16 + 32·pos, scale in [0.5, 1],
    orientation in [0, 2π), dSprites' geometry scaled by size / 64)."""
    rng = np.random.RandomState(seed)
    k = size / 64.0
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    images = np.zeros((num, 1, size, size), dtype=np.float32)
    for i in range(num):
        px, py, s, theta = rng.uniform(), rng.uniform(), rng.uniform(0.5, 1.0), rng.uniform(0, 2 * np.pi)
        X, Y = cols - (16 + 32 * px) * k, rows - (16 + 32 * py) * k
        u = (np.cos(theta) * X - np.sin(theta) * Y) / (s * k)
        v = (np.sin(theta) * X + np.cos(theta) * Y) / (s * k)
        if shape == "triangle":  # equilateral, circumradius 12 px at scale 1 (inradius 6)
            inside = np.ones_like(u, dtype=bool)
            for angle in (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3):
                inside &= u * np.cos(angle) + v * np.sin(angle) < 6.0
        elif shape == "cross":  # two bars 19.2 × 6.4 px at scale 1 (the square's side)
            inside = ((np.abs(u) < 9.6) & (np.abs(v) < 3.2)) | ((np.abs(u) < 3.2) & (np.abs(v) < 9.6))
        else:
            raise PyroVAEError(f"unknown shape {shape!r}: triangle or cross")
        images[i, 0] = inside
    return images

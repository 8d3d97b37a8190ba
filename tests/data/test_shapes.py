"""The shapes dSprites lacks, drawn at its geometry (the domain-shift inputs of the report)."""
import numpy as np
import pytest

from pyrovae.data.shapes import render_shapes
from pyrovae.errors import PyroVAEError


def test_unseen_shapes_are_drawn_at_dsprites_geometry():
    tri, cross = render_shapes("triangle", 50, seed=0), render_shapes("cross", 50, seed=0)
    assert tri.shape == cross.shape == (50, 1, 64, 64) and set(np.unique(tri)) == {0.0, 1.0}
    # area at scale s: triangle 3·√3·6²·s² ≈ 187 s², cross (2·19.2·6.4 − 6.4²)·s² ≈ 205 s², s in [0.5, 1]
    for images, area in ((tri, 187.1), (cross, 204.8)):
        lit = images.reshape(50, -1).sum(1)
        assert np.all(lit >= 0.2 * area) and np.all(lit <= 1.1 * area)
    assert np.array_equal(render_shapes("cross", 3, seed=1), render_shapes("cross", 3, seed=1))
    small = render_shapes("triangle", 4, size=16, seed=0)
    assert small.shape == (4, 1, 16, 16) and small.sum() > 0
    with pytest.raises(PyroVAEError, match="unknown shape"):
        render_shapes("star", 1)

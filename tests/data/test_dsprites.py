"""Procedural dSprites against the figures of shared/docs/dsprites.md (measured on real images), an
independent per-pixel implementation of the same model, and the real 20,000-image subset."""
import os
import pickle
import shutil
import zipfile

import numpy as np
import pytest
import torch

from pyrovae.data import dsprites as D
from pyrovae.data import dsprites_geometry as geometry
from pyrovae.data.dsprites import DSprites
from pyrovae.data.dsprites_render import render_dsprites
from pyrovae.errors import PyroVAEError

SCALES = np.linspace(0.5, 1, 6)
THETAS = np.linspace(0, 2 * np.pi, 40)
POS = np.linspace(0, 1, 32)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("pyrovae-cache")


@pytest.fixture(scope="module")
def ds(cache):
    return DSprites(cache_dir=cache)


def grid(*columns):
    """Every combination of the given class lists, as an int array [n, 5]."""
    return np.stack(np.meshgrid(*columns, indexing="ij"), -1).reshape(-1, 5)


# ---------------------------------------------------------------------------------------------- factors


def test_factor_grid_names_order_and_round_trip(ds):
    assert DSprites.factor_names == ("shape", "scale", "orientation", "pos_x", "pos_y")
    assert DSprites.factor_sizes == (3, 6, 40, 32, 32) and len(ds) == 737280
    assert ds.observation_shape == (1, 64, 64)
    values = ds.factor_values()
    np.testing.assert_array_equal(values["shape"], [1, 2, 3])
    np.testing.assert_array_equal(values["scale"], np.linspace(0.5, 1, 6))
    np.testing.assert_array_equal(values["orientation"], np.linspace(0, 2 * np.pi, 40))
    np.testing.assert_array_equal(values["pos_x"], np.linspace(0, 1, 32))
    np.testing.assert_array_equal(values["pos_y"], np.linspace(0, 1, 32))
    # official order: flat = classes · [245760, 40960, 1024, 32, 1], the last factor fastest
    np.testing.assert_array_equal(ds.factors_to_index(np.eye(5, dtype=int)), [245760, 40960, 1024, 32, 1])
    np.testing.assert_array_equal(ds.index_to_factors([0, 1, 32, 1024, 40960, 245760, 737279]),
                                  [[0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 1, 0, 0],
                                   [0, 1, 0, 0, 0], [1, 0, 0, 0, 0], [2, 5, 39, 31, 31]])
    flat = np.random.RandomState(0).randint(len(ds), size=5000)
    np.testing.assert_array_equal(ds.factors_to_index(ds.index_to_factors(flat)), flat)
    every = ds.index_to_factors(np.arange(len(ds)))
    assert len(np.unique(ds.factors_to_index(every))) == len(ds)


def test_order_matches_the_real_latent_values(ds, shared_docs):
    real = np.load(shared_docs / "dsprites" / "real_subset_20000.npz")
    classes = ds.index_to_factors(real["original_dataset_indices"])
    values = ds.factor_values()
    derived = np.stack([values[name][classes[:, k]] for k, name in enumerate(ds.factor_names)], 1)
    np.testing.assert_allclose(derived, real["latents_values"], atol=1e-9)


def test_sample_factors_reproduces_disentanglement_lib_draws(ds):
    factors = ds.sample_factors(100, np.random.RandomState(7))
    rs = np.random.RandomState(7)
    expected = np.stack([rs.randint(size, size=100) for size in (3, 6, 40, 32, 32)], axis=1)
    np.testing.assert_array_equal(factors, expected)
    assert factors.dtype == np.int64 and factors.shape == (100, 5)
    # observations: float32 [n, 1, 64, 64], the images of those factors; like disentanglement_lib's colour
    # draw (randint(1)), they leave the random stream where it was
    rs, twin = np.random.RandomState(3), np.random.RandomState(3)
    obs = ds.sample_observations_from_factors(factors[:20], rs)
    assert obs.dtype == np.float32 and obs.shape == (20, 1, 64, 64)
    np.testing.assert_array_equal(obs[:, 0], ds.render(factors[:20]))
    assert rs.randint(1 << 30) == twin.randint(1 << 30)
    f2, o2 = ds.sample(10, np.random.RandomState(7))
    np.testing.assert_array_equal(f2, ds.sample_factors(10, np.random.RandomState(7)))
    np.testing.assert_array_equal(o2[:, 0], ds.render(f2))


# ---------------------------------------------------------------------------------------------- geometry


def test_counts_boxes_and_centroid_at_the_origin(ds):
    images = ds.render(grid([0, 1, 2], range(6), [0], [0], [0])).reshape(3, 6, 64, 64)
    counts = images.sum((2, 3))
    np.testing.assert_array_equal(counts[0], [100, 144, 196, 256, 324, 400])  # square: exact
    assert np.abs(counts[1] - [76, 104, 144, 184, 228, 288]).max() <= 2, counts[1]
    assert np.abs(counts[2] - [58, 84, 108, 140, 182, 222]).max() <= 2, counts[2]
    boxes = {
        0: [((11 - k, 20 + k), (11 - k, 20 + k)) for k in range(6)],
        1: [((12, 19), (10, 21)), ((12, 19), (8, 23)), ((11, 20), (7, 24)), ((10, 21), (6, 25)),
            ((10, 21), (5, 26)), ((9, 22), (3, 28))],
        2: [((11, 19), (11, 20)), ((10, 20), (10, 21)), ((9, 21), (9, 22)), ((9, 22), (8, 23)),
            ((8, 22), (7, 24)), ((7, 23), (6, 25))],
    }
    for shape, expected in boxes.items():
        for scale, (rows, cols) in enumerate(expected):
            img = images[shape, scale]
            r, c = np.nonzero(img.any(1))[0], np.nonzero(img.any(0))[0]
            assert ((r[0], r[-1]), (c[0], c[-1])) == (rows, cols), (shape, scale)
    for shape, centroid in ((0, (16.0, 16.0)), (1, (16.0, 16.0)), (2, (14.07, 16.0))):
        r, c = np.nonzero(images[shape, 5])
        np.testing.assert_allclose((r.mean() + 0.5, c.mean() + 0.5), centroid, atol=0.03)


def test_mean_lit_pixels_per_shape_and_scale(ds):
    # real means over orientations and positions (spec §3); per-image SD ≤ 3.2 px, 1,500 images per cell
    expected = [[92.2, 132.8, 180.7, 235.9, 298.7, 368.6],
                [72.4, 104.1, 141.7, 185.2, 234.5, 289.3],
                [56.1, 80.9, 109.9, 143.7, 181.9, 224.5]]
    rs = np.random.RandomState(1)
    n = 1500
    for shape in range(3):
        for scale in range(6):
            classes = np.stack([np.full(n, shape), np.full(n, scale), rs.randint(40, size=n),
                                rs.randint(32, size=n), rs.randint(32, size=n)], 1)
            mean = ds.render(classes).sum((1, 2)).mean()
            assert abs(mean - expected[shape][scale]) < 0.4, (shape, scale, mean)


def test_extents_at_the_extreme_positions(ds):
    # rows at the top/bottom positions (every pos_x), columns at the left/right ones (every pos_y)
    top_bottom = ds.render(grid([0, 1, 2], [5], range(40), range(32), [0, 31])).reshape(3, -1, 64, 64)
    left_right = ds.render(grid([0, 1, 2], [5], range(40), [0, 31], range(32))).reshape(3, -1, 64, 64)
    for shape, (first, last) in enumerate([(2, 61), (3, 60), (5, 58)]):
        rows = np.nonzero(top_bottom[shape].any((0, 2)))[0]
        cols = np.nonzero(left_right[shape].any((0, 1)))[0]
        assert (rows[0], rows[-1], cols[0], cols[-1]) == (first, last, first, last), shape
    # centres: (16 + 32·posX, 16 + 32·posY), posY in image rows (downwards)
    classes = grid([1], [5], [0], range(0, 32, 5), range(0, 32, 5))
    for cls, img in zip(classes, ds.render(classes)):
        r, c = np.nonzero(img)
        np.testing.assert_allclose((c.mean() + 0.5, r.mean() + 0.5), 16 + 32 * POS[cls[3:]], atol=0.35)


def test_rotation_direction_and_the_duplicate_orientation(ds):
    heart = ds.render(grid([2], [5], range(40), [15], [15]))
    cx = 16 + 32 * POS[15]

    def tip_and_centroid(img):  # mean column of the lowest lit row, mean column of all lit pixels
        r, c = np.nonzero(img)
        return (c[r == r.max()] + 0.5).mean() - cx, (c + 0.5).mean() - cx

    np.testing.assert_allclose(tip_and_centroid(heart[0]), 0, atol=0.05)  # θ = 0: point straight down
    # θ increasing turns counter-clockwise as displayed: the point moves bottom -> bottom-right, the lobes
    # (and the centroid, 2 px above the centre) to the left; the opposite for θ slightly below 2π
    for ori in (1, 2, 3):
        tip, centroid = tip_and_centroid(heart[ori])
        assert tip > 0.5 and centroid < -0.3, (ori, tip, centroid)
    tip, centroid = tip_and_centroid(heart[38])
    assert tip < -0.5 and centroid > 0.3, (tip, centroid)
    # orientation classes 0 and 39 (θ = 0, 2π) give identical images for every shape, scale and position
    classes = grid([0, 1, 2], range(6), [0], range(0, 32, 3), range(0, 32, 7))
    turned = classes.copy()
    turned[:, 2] = 39
    np.testing.assert_array_equal(ds.render(classes), ds.render(turned))
    # the square repeats every π/2 (up to the lattice), so orientation 10 ≈ 0 but is not the same image
    square = ds.render(grid([0], [5], [0, 10], [7], [7]))
    assert 0 < (square[0] != square[1]).sum() < 60


def reference_images(classes):
    """The spec's model pixel by pixel (independent of the renderer's tables): point sampling at pixel
    centres; ellipse by its equation, heart by the radial test about (0, −1) on 400,001 curve samples,
    square as the snapped GPU polygon with the top-left tie rule evaluated in float64 (exact here)."""
    t = np.linspace(0, 2 * np.pi, 400001)
    hu = 0.5997 * 16 * np.sin(t) ** 3
    hv = -0.6619 * (13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)) - 1.437
    phi, rho = np.arctan2(hu, hv + 1), np.hypot(hu, hv + 1)
    order = np.argsort(phi)
    phi, rho = phi[order], rho[order]
    r, c = np.mgrid[0:64, 0:64]
    out = []
    for shape, scale, ori, px, py in classes:
        s, th, cx, cy = SCALES[scale], THETAS[ori], 16 + 32 * POS[px], 16 + 32 * POS[py]
        if shape == 0:
            h = 9.6 * s
            cu, cv = np.array([-h, h, h, -h]), np.array([-h, -h, h, h])
            x = np.round(256 * (cx + np.cos(th) * cu + np.sin(th) * cv)) / 256
            y = np.round(256 * (cy - np.sin(th) * cu + np.cos(th) * cv)) / 256
            lit = np.ones((64, 64), bool)
            for k in range(4):
                x0, y0, x1, y1 = x[k], y[k], x[(k + 1) % 4], y[(k + 1) % 4]
                e = (x1 - x0) * (r + 0.5 - y0) - (y1 - y0) * (c + 0.5 - x0)
                left_or_bottom = y1 < y0 or (y1 == y0 and x1 < x0)
                lit &= (e >= 0) if left_or_bottom else (e > 0)
        else:
            X, Y = c + 0.5 - cx, r + 0.5 - cy
            u, v = (np.cos(th) * X - np.sin(th) * Y) / s, (np.sin(th) * X + np.cos(th) * Y) / s
            if shape == 1:
                lit = (u / 12.763) ** 2 + (v / 7.215) ** 2 < 1
            else:
                lit = np.hypot(u, v + 1) < np.interp(np.arctan2(u, v + 1), phi, rho, period=2 * np.pi)
        out.append(lit)
    return np.array(out, np.uint8)


def test_renderer_equals_the_per_pixel_model(ds):
    rs = np.random.RandomState(5)
    classes = ds.sample_factors(450, rs)
    classes[:40, 2] = rs.choice([0, 10, 20, 29, 39], 40)  # plenty of axis-aligned squares (edge ties)
    classes[:40, 0] = 0
    # the only exact ties of the grid: scale 0.6 at position 8 (a snapped left/top edge through pixel centres,
    # lit) and 23 (right/bottom edge, unlit)
    ties = grid([0], [1], [0, 39], [8, 23], [8, 23])
    classes = np.concatenate([ties, classes])
    wrong = (ds.render(classes) != reference_images(classes)).sum((1, 2))
    assert wrong.sum() == 0, f"{(wrong > 0).sum()} images differ, e.g. classes {classes[wrong.argmax()]}"


def test_real_subset_iou(ds, shared_docs):
    real = np.load(shared_docs / "dsprites" / "real_subset_20000.npz")
    truth = real["imgs"].astype(bool)
    classes = ds.index_to_factors(real["original_dataset_indices"])
    ours = ds.render(classes).astype(bool)
    iou = (truth & ours).sum((1, 2)) / np.maximum((truth | ours).sum((1, 2)), 1)
    same = (truth == ours).all((1, 2))
    summary = (f"IoU mean {iou.mean():.5f}, p5 {np.percentile(iou, 5):.4f}, worst {iou.min():.4f}; "
               f"{same.mean():.2%} identical; per shape " +
               ", ".join(f"{iou[classes[:, 0] == k].mean():.5f}" for k in range(3)))
    print(summary)
    assert iou.mean() >= 0.9995 and iou.min() >= 0.95 and same.mean() >= 0.95, summary
    assert iou[classes[:, 0] == 0].mean() >= 0.99995, summary  # squares: the GPU rule makes them exact
    assert abs(ours.mean() - truth.mean()) < 2e-5, summary


# ---------------------------------------------------------------------------------------------- API


def test_determinism_cache_and_batch(ds, cache, tmp_path, monkeypatch):
    rs = np.random.RandomState(2)
    classes = ds.sample_factors(300, rs)
    images = ds.render(classes)
    assert images.dtype == np.uint8 and images.shape == (300, 64, 64) and set(np.unique(images)) == {0, 1}
    np.testing.assert_array_equal(images, ds.render(classes))
    np.testing.assert_array_equal(images, render_dsprites(classes, cache_dir=cache))
    # a second start reads the tables from the cache (no rebuild) and draws the same images
    monkeypatch.setattr(geometry, "_GEOMETRY", {})
    monkeypatch.setattr(geometry, "build_geometry", lambda: pytest.fail("tables rebuilt despite the cache"))
    np.testing.assert_array_equal(DSprites(cache_dir=cache).render(classes), images)
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []  # no temporary files left
    # a damaged cache file is rebuilt (atomically) into the same tables
    monkeypatch.undo()
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for tables in cache.glob("dsprites_geometry_*.npz"):
        (damaged / tables.name).write_bytes(tables.read_bytes()[:1000])
    np.testing.assert_array_equal(DSprites(cache_dir=damaged).render(classes), images)
    for rebuilt in damaged.iterdir():
        with np.load(rebuilt) as new, np.load(cache / rebuilt.name) as old:
            assert new.files == old.files and all(np.array_equal(new[k], old[k]) for k in old.files)
    # batch (the training path, torch) equals render, on the device of the indices
    flat = ds.factors_to_index(classes)
    batch = ds.batch(torch.as_tensor(flat))
    assert batch.dtype == torch.float32 and batch.shape == (300, 1, 64, 64) and batch.device.type == "cpu"
    np.testing.assert_array_equal(batch[:, 0].numpy(), images)
    if torch.cuda.is_available():
        np.testing.assert_array_equal(ds.batch(torch.as_tensor(flat, device="cuda")).cpu().numpy(), batch.numpy())
    # __getitem__: int, numpy int, negative, slice, array
    np.testing.assert_array_equal(ds[int(flat[0])], images[0])
    np.testing.assert_array_equal(ds[np.int64(flat[1])], images[1])
    np.testing.assert_array_equal(ds[flat[:5]], images[:5])
    np.testing.assert_array_equal(ds[-1], ds.render([[2, 5, 39, 31, 31]])[0])
    np.testing.assert_array_equal(ds[32:35], ds.render([[0, 0, 0, 1, 0], [0, 0, 0, 1, 1], [0, 0, 0, 1, 2]]))
    with pytest.raises(IndexError, match="out of range"):
        ds[len(ds)]
    assert ds.nbytes <= 100 * 2**20
    copy = pickle.loads(pickle.dumps(ds))  # pickles as its recipe (path, cache dir), not its tables
    assert len(pickle.dumps(ds)) < 1000
    np.testing.assert_array_equal(copy.render(classes), images)


def test_bad_inputs_give_one_line_errors(ds):
    cases = [
        (lambda: ds.render(np.zeros(5, int)), "shape"),
        (lambda: ds.render(np.zeros((2, 4), int)), "shape"),
        (lambda: ds.render(np.zeros((2, 5))), "integers"),
        (lambda: ds.render([[3, 0, 0, 0, 0]]), "shape classes are 0 … 2"),
        (lambda: ds.render([[0, 0, 40, 0, 0]]), "orientation"),
        (lambda: ds.render([[0, 0, 0, 0, -1]]), "pos_y"),
        (lambda: ds.factors_to_index([[0, 6, 0, 0, 0]]), "scale"),
        (lambda: ds.index_to_factors([737280]), "out of range"),
        (lambda: ds.batch(torch.zeros(3)), "int64 tensor"),
        (lambda: ds.batch(torch.tensor([0, 737280])), "0 … 737279"),
        (lambda: ds[0.5], "index"),
    ]
    for call, message in cases:
        with pytest.raises(PyroVAEError, match=message) as info:
            call()
        assert "\n" not in str(info.value)


# ---------------------------------------------------------------------------------------------- path=


class SmallGrid(DSprites):
    """A reduced grid (its first classes of orientation and position): the loader checks a file against
    ``factor_sizes``, so this accepts an official-format file of 288 images."""

    factor_sizes = (3, 6, 4, 2, 2)


def official_format(path, imgs, classes, compressed=True):
    values = np.zeros(classes.shape)
    (np.savez_compressed if compressed else np.savez)(path, imgs=imgs, latents_classes=classes, latents_values=values)
    return path


def small_official(tmp_path, cache):
    (tmp_path / "cache").mkdir()
    for tables in cache.glob("dsprites_geometry_*.npz"):  # the renderer's tables, not rebuilt for each test
        shutil.copy(tables, tmp_path / "cache")
    ds = SmallGrid(cache_dir=tmp_path / "cache")
    classes = ds.index_to_factors(np.arange(len(ds)))
    imgs = ds.render(classes)
    imgs[::7, 0, 0] = 1  # marks that only the file has: images must come from it
    return ds, imgs, np.concatenate([np.zeros((len(ds), 1), np.int64), classes], 1)


def test_official_file_is_loaded_packed_and_cached(ds, cache, tmp_path, monkeypatch):
    small, imgs, classes = small_official(tmp_path, cache)
    path = official_format(tmp_path / "dsprites.npz", imgs, classes)
    ds = SmallGrid(path=path, cache_dir=tmp_path / "cache")
    assert len(ds) == 288
    packed = list((tmp_path / "cache").glob("dsprites_packed_*.npy"))
    assert len(packed) == 1 and np.load(packed[0], mmap_mode="r").shape == (288, 64, 8)
    np.testing.assert_array_equal(ds[np.arange(288)], imgs)
    np.testing.assert_array_equal(ds[7], imgs[7])
    np.testing.assert_array_equal(ds.batch(torch.arange(288))[:, 0].numpy(), imgs)
    np.testing.assert_array_equal(ds.sample_observations_from_factors(classes[:, 1:], None)[:, 0], imgs)
    np.testing.assert_array_equal(ds.render(classes[:, 1:]), small.render(classes[:, 1:]))  # still procedural
    assert len(pickle.dumps(ds)) < 1000 and np.array_equal(pickle.loads(pickle.dumps(ds))[np.arange(288)], imgs)
    # second start: memory-mapped from the cache, the npz is not read again
    monkeypatch.setattr(D, "_pack_official", lambda *a, **k: pytest.fail("packed again despite the cache"))
    again = SmallGrid(path=path, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again.batch(torch.arange(288))[:, 0].numpy(), imgs)


def test_official_file_errors(ds, cache, tmp_path, monkeypatch):
    monkeypatch.setattr(geometry, "build_geometry", lambda: pytest.fail("tables rebuilt despite the cache"))
    small, imgs, classes = small_official(tmp_path, cache)
    cache = tmp_path / "cache"

    def error(path, grid=SmallGrid):
        with pytest.raises(PyroVAEError) as info:
            grid(path=path, cache_dir=cache)
        message = str(info.value)
        assert "\n" not in message and str(path) in message
        return message

    assert "does not exist" in error(tmp_path / "nope.npz")
    (tmp_path / "corrupt.npz").write_bytes(b"garbage")
    assert "not a valid .npz" in error(tmp_path / "corrupt.npz")
    whole = official_format(tmp_path / "whole.npz", imgs, classes).read_bytes()
    (tmp_path / "truncated.npz").write_bytes(whole[: len(whole) // 2])
    assert "not a valid .npz" in error(tmp_path / "truncated.npz")
    wrong = official_format(tmp_path / "wrong.npz", np.zeros((10, 32, 32), np.uint8), np.zeros((10, 6), np.int64))
    assert "shape" in error(wrong) and "shape" in error(wrong, DSprites)
    # a consistent file of a smaller grid is not the official dSprites: rejected with the expected shape
    assert "(737280, 6)" in error(official_format(tmp_path / "subset.npz", imgs, classes), DSprites)
    assert "uint8" in error(official_format(tmp_path / "float.npz", imgs.astype(np.float32), classes))
    assert "other than 0 and 1" in error(official_format(tmp_path / "gray.npz", imgs * 255, classes))
    assert "integers" in error(official_format(tmp_path / "fclasses.npz", imgs, classes.astype(float)))
    assert "official order" in error(official_format(tmp_path / "shuffled.npz", imgs, classes[::-1].copy()))
    np.savez(tmp_path / "noimgs.npz", latents_classes=classes)
    assert "no 'imgs'" in error(tmp_path / "noimgs.npz")
    os.mkdir(tmp_path / "folder.npz")
    assert "not a file" in error(tmp_path / "folder.npz")
    assert not any(p.name.startswith(".") for p in cache.iterdir())  # failed packs leave no temporary files
    assert zipfile.is_zipfile(tmp_path / "whole.npz")

"""The user's data files: formats, normalisation and one-line errors for bad data."""
import matplotlib.image as mpimg
import numpy as np
import pytest
import torch

from pyrovae.data import load_dataset
from pyrovae.data.files import load_data_file, normalise_images
from pyrovae.errors import PyroVAEError


def _images(n=6, shape=(5, 7), seed=0):
    return np.random.RandomState(seed).randint(0, 256, size=(n, *shape)).astype(np.uint8)


def test_npz_with_uint8_images_and_labels(tmp_path):
    images, labels = _images(), np.array([0, 1, 2, 0, 1, 2])
    np.savez(tmp_path / "d.npz", images=images, labels=labels)
    data = load_dataset(str(tmp_path / "d.npz"))
    assert data.observation_shape == (1, 5, 7) and len(data) == 6
    batch = data.batch(torch.arange(6))
    assert batch.dtype == torch.float32
    assert torch.allclose(batch[:, 0], torch.as_tensor(images / 255.0, dtype=torch.float32))
    assert data.factors.shape == (6, 1) and data.factor_sizes == (3,)


@pytest.mark.parametrize("key", ["images", "imgs", "x"])
def test_npz_image_keys_and_official_dsprites_layout(tmp_path, key):
    imgs = (np.random.RandomState(0).rand(4, 8, 8) > 0.5).astype(np.uint8)
    np.savez(tmp_path / "d.npz", **{key: imgs}, latents_classes=np.arange(8).reshape(4, 2))
    data = load_data_file(tmp_path / "d.npz")
    assert data.factors.shape == (4, 2)
    # uint8 0/1 (the official dSprites file) are pixel levels 0 and 1/255 unless stored as bool; a bool
    # array keeps 0/1
    np.savez(tmp_path / "b.npz", **{key: imgs.astype(bool)})
    assert set(np.unique(load_data_file(tmp_path / "b.npz").observations.numpy())) <= {0.0, 1.0}


def test_channel_layouts_are_normalised_to_channels_first():
    rgb_last = np.random.rand(3, 6, 5, 3).astype(np.float32)
    out = normalise_images(rgb_last)
    assert out.shape == (3, 3, 6, 5) and np.allclose(out[:, 1], rgb_last[..., 1])
    assert normalise_images(np.random.rand(3, 1, 6, 5)).shape == (3, 1, 6, 5)
    assert normalise_images(np.random.rand(3, 6, 5)).shape == (3, 1, 6, 5)
    assert normalise_images(np.random.rand(3, 10)).shape == (3, 10)
    ints = np.array([[0, 1], [1, 0]], dtype=np.int64)
    assert normalise_images(ints).max() == 1.0
    assert normalise_images(np.array([[0, 255]], dtype=np.int32)).max() == 1.0


def test_npy_of_floats(tmp_path):
    x = np.random.rand(5, 4, 4).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    data = load_data_file(tmp_path / "x.npy", factors=np.arange(5) % 2)
    assert data.observation_shape == (1, 4, 4) and data.factor_sizes == (2,)


@pytest.mark.parametrize("array, message", [
    (np.zeros(5), "rank 2"),
    (np.zeros((2, 3, 4, 5, 6)), "rank 2"),
    (np.zeros((2, 6, 6, 6)), "cannot tell the channel axis"),
    (np.array([[0.1, np.nan], [0.2, 0.3]]), "1 NaN or infinite"),
    (np.array([[0.1, np.inf]]), "NaN or infinite"),
    (np.array([[0, 300]], dtype=np.int64), "neither 0/1 nor 0..255"),
    (np.array([[-1, 1]], dtype=np.int8), "neither 0/1 nor 0..255"),
    (np.array([["a", "b"]]), "must be numeric"),
    (np.zeros((0, 4, 4)), "empty"),
])
def test_bad_image_arrays_give_one_line_errors(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(PyroVAEError, match=message) as error:
        load_data_file(tmp_path / "bad.npy")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("labels, message", [
    (np.arange(5), "5 label rows for 6 images"),
    (np.array([0.5, 1, 2, 0, 1, 2]), "non-integral"),
    (np.array([-1, 1, 2, 0, 1, 2]), ">= 0"),
    (np.array([np.nan, 1, 2, 0, 1, 2]), "NaN"),
    (np.zeros((6, 2, 2)), r"shape \[N\] or \[N, K\]"),
])
def test_bad_labels_give_one_line_errors(tmp_path, labels, message):
    np.savez(tmp_path / "d.npz", images=_images(), labels=labels)
    with pytest.raises(PyroVAEError, match=message) as error:
        load_data_file(tmp_path / "d.npz")
    assert "\n" not in str(error.value)


def test_npz_without_images_lists_its_keys(tmp_path):
    np.savez(tmp_path / "d.npz", pictures=_images())
    with pytest.raises(PyroVAEError, match="key 'images'.*found keys: pictures"):
        load_data_file(tmp_path / "d.npz")


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(PyroVAEError, match="does not exist"):
        load_data_file(tmp_path / "nope.npz")
    (tmp_path / "d.txt").write_text("1 2 3")
    with pytest.raises(PyroVAEError, match="cannot read d.txt"):
        load_data_file(tmp_path / "d.txt")
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(PyroVAEError, match="not a readable .npz"):
        load_data_file(tmp_path / "broken.npz")
    with pytest.raises(PyroVAEError, match="unknown dataset 'mnist'"):
        load_dataset("mnist")


def _save_png(path, image):
    """uint8 grayscale [H, W] or RGB [H, W, 3] as a plain PNG (Pillow ships with matplotlib)."""
    from PIL import Image

    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(path)


def _write_pngs(folder, images):
    folder.mkdir()
    for i, image in enumerate(images):
        _save_png(folder / f"img_{i:02d}.png", image)


def test_folder_of_grayscale_pngs_with_labels_npy(tmp_path):
    images = _images(4, (6, 5))
    _write_pngs(tmp_path / "imgs", images)
    np.save(tmp_path / "imgs" / "labels.npy", np.array([1, 0, 1, 2]))
    data = load_data_file(tmp_path / "imgs")
    assert data.observation_shape == (1, 6, 5)
    assert np.allclose(data.observations.numpy()[:, 0], images / 255.0, atol=1e-6)
    assert data.factors[:, 0].tolist() == [1, 0, 1, 2]


def test_folder_with_factors_csv_matched_by_file_name(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rgb = _images(3, (4, 4, 3), seed=1)
    for i, image in enumerate(rgb):
        _save_png(folder / f"{'cab'[i]}.png", image)
    (folder / "factors.csv").write_text("file,colour,size\nb.png,1,0\na.png,0,1\nc.png,2,1\n")
    data = load_data_file(folder)
    assert data.observation_shape == (3, 4, 4)
    assert data.factor_names == ("colour", "size")
    # sorted files a, b, c were written from rgb[1], rgb[2], rgb[0]
    assert data.factors.tolist() == [[0, 1], [1, 0], [2, 1]]
    assert np.allclose(data.observations.numpy()[0], rgb[1].transpose(2, 0, 1) / 255.0, atol=1e-6)
    # an alpha channel is dropped (imsave writes RGBA)
    mpimg.imsave(folder / "d.png", rgb[0] / 255.0)
    (folder / "factors.csv").unlink()
    assert load_data_file(folder).observation_shape == (3, 4, 4)


def test_folder_errors(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    with pytest.raises(PyroVAEError, match="holds no .png images"):
        load_data_file(folder)
    _save_png(folder / "a.png", np.zeros((4, 4)))
    _save_png(folder / "b.png", np.zeros((5, 4)))
    with pytest.raises(PyroVAEError, match="b.png has shape .* resize all images to one size"):
        load_data_file(folder)
    (folder / "b.png").unlink()
    _save_png(folder / "b.png", np.zeros((4, 4, 3)))
    with pytest.raises(PyroVAEError, match="all grayscale or all RGB"):
        load_data_file(folder)
    _save_png(folder / "b.png", np.zeros((4, 4)))
    (folder / "factors.csv").write_text("file,k\na.png,0\n")
    with pytest.raises(PyroVAEError, match="no row for image b.png"):
        load_data_file(folder)
    (folder / "factors.csv").write_text("k\n0\n1\n2\n")
    with pytest.raises(PyroVAEError, match="3 label rows for 2 images"):
        load_data_file(folder)
    (folder / "c.png").write_bytes(b"garbage")
    with pytest.raises(PyroVAEError, match="cannot read image c.png"):
        load_data_file(folder)

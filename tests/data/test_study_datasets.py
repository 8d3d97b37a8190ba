"""Shapes3D, MPI3D, SmallNORB and Cars3D from tiny files written in each official format: the loaders read
them through the public API, the factor round trip returns the stored image, and a wrong file is a
one-line error naming the expected format."""
import sys
import tracemalloc

import numpy as np
import pytest
import torch

from pyrovae.data import load_dataset
from pyrovae.data.cars3d import Cars3D
from pyrovae.data.mpi3d import MPI3D
from pyrovae.errors import PyroVAEError


def one_line_error(fn, *needles):
    with pytest.raises(PyroVAEError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, message
    return message


def grid_factors(index, sizes):
    return np.stack(np.unravel_index(np.asarray(index), sizes), axis=1)


def check_round_trip(data, index, stored):
    """``sample_observations_from_factors`` of the factors of ``index`` and ``batch(index)`` return the stored
    uint8 images ``stored`` [n, C, H, W] / 255."""
    expected = stored.astype(np.float32) / 255
    factors = grid_factors(index, data.factor_sizes)
    np.testing.assert_array_equal(data.sample_observations_from_factors(factors, np.random.RandomState(0)), expected)
    np.testing.assert_array_equal(data.batch(torch.as_tensor(index)).numpy(), expected)
    np.testing.assert_array_equal(data.index_to_factors(index), factors)


# ----- Shapes3D: 3dshapes.h5 ------------------------------------------------------------------------------
SHAPES3D_VALUES = [np.linspace(0, 0.9, 10)] * 3 + [np.linspace(0.75, 1.25, 8), np.arange(4.0), np.linspace(-30, 30, 15)]


def write_3dshapes(path, images, labels=None):
    """The official layout, full size: ``images`` uint8 [480000, 64, 64, 3] (chunked per image and gzip-compressed,
    so that the unwritten images take no space) and ``labels`` float64 [480000, 6] in the official order."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("images", shape=(480000, 64, 64, 3), dtype=np.uint8, chunks=(1, 64, 64, 3),
                                compression="gzip")
        for index, image in images.items():
            dset[index] = image
        if labels is None:
            labels = np.stack(np.meshgrid(*SHAPES3D_VALUES, indexing="ij"), -1).reshape(-1, 6)
        f.create_dataset("labels", data=labels, chunks=(24000, 6), compression="gzip")
    return path


@pytest.fixture(scope="module")
def shapes3d_file(tmp_path_factory):
    rng = np.random.RandomState(0)
    index = np.array([0, 1, 15, 4321, 250_000, 479_999])
    images = {int(i): rng.randint(0, 256, (64, 64, 3)).astype(np.uint8) for i in index}
    return write_3dshapes(tmp_path_factory.mktemp("shapes3d") / "3dshapes.h5", images), index, images


def test_shapes3d_round_trip_without_loading_the_images(shapes3d_file):
    path, index, images = shapes3d_file
    tracemalloc.start()
    data = load_dataset("shapes3d", path=str(path.parent))  # the folder that holds 3dshapes.h5
    order = np.array([index[3], index[0], index[5], index[3]])  # unsorted, with a repeat
    check_round_trip(data, order, np.stack([images[int(i)].transpose(2, 0, 1) for i in order]))
    data.sample(64, np.random.RandomState(1))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # the labels (23 MB) are read once to check the grid; the 5.9 GB of images never are
    assert peak < 100e6, peak
    assert len(data) == 480000 and data.observation_shape == (3, 64, 64)
    assert data.factor_sizes == (10, 10, 10, 8, 4, 15)
    np.testing.assert_allclose(data.factor_values()["orientation"], np.linspace(-30, 30, 15))
    np.testing.assert_array_equal(data.batch(torch.tensor([7])).numpy(), 0)  # an image never written: zeros


def test_shapes3d_wrong_files(tmp_path, shapes3d_file, monkeypatch):
    h5py = pytest.importorskip("h5py")
    expected = "'images' uint8 [480000, 64, 64, 3] and 'labels' float64 [480000, 6]"
    with h5py.File(tmp_path / "small.h5", "w") as f:
        f["images"] = np.zeros((10, 64, 64, 3), np.uint8)
    one_line_error(lambda: load_dataset("shapes3d", path=str(tmp_path / "small.h5")), "3dshapes.h5", expected)
    (tmp_path / "text.h5").write_text("not hdf5")
    one_line_error(lambda: load_dataset("shapes3d", path=str(tmp_path / "text.h5")), "not a readable HDF5", expected)
    labels = np.stack(np.meshgrid(*SHAPES3D_VALUES, indexing="ij"), -1).reshape(-1, 6)[::-1]
    write_3dshapes(tmp_path / "shuffled.h5", {}, labels=labels)
    one_line_error(lambda: load_dataset("shapes3d", path=str(tmp_path / "shuffled.h5")), "official order")
    one_line_error(lambda: load_dataset("shapes3d"), "--path", "never downloads")
    one_line_error(lambda: load_dataset("shapes3d", path=str(tmp_path)), "no file matching 3dshapes.h5")
    monkeypatch.setitem(sys.modules, "h5py", None)  # h5py not installed
    one_line_error(lambda: load_dataset("shapes3d", path=str(shapes3d_file[0])), "pip install 'pyrovae[datasets]'")


# ----- MPI3D: mpi3d_*.npz ------------------------------------------------------------------------------------
class TinyMPI3D(MPI3D):
    """MPI3D on a smaller grid (the loader takes the grid from ``factor_sizes``), as the tests write small files."""

    factor_sizes = (2, 1, 2, 1, 1, 2, 3)


@pytest.mark.parametrize("compressed", [False, True])
def test_mpi3d_round_trip_stored_and_compressed(tmp_path, compressed):
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, (24, 64, 64, 3)).astype(np.uint8)
    (np.savez_compressed if compressed else np.savez)(tmp_path / "mpi3d_toy.npz", images=images)
    data = TinyMPI3D(path=tmp_path / "mpi3d_toy.npz", cache_dir=tmp_path / "cache")
    unpacked = list((tmp_path / "cache").glob("mpi3d_images_*.npy"))
    if compressed:  # a deflated member cannot be mapped: unpacked once into the cache dir, mapped from there
        assert len(unpacked) == 1 and "compressed" in data.storage
    else:  # a stored member is memory-mapped in place, nothing is copied
        assert not unpacked and "in place" in data.storage
        assert isinstance(data._images, np.memmap) and str(data._images.filename) == str(tmp_path / "mpi3d_toy.npz")
    index = np.array([23, 0, 7, 7, 12])
    check_round_trip(data, index, images[index].transpose(0, 3, 1, 2))
    again = TinyMPI3D(path=tmp_path, cache_dir=tmp_path / "cache")  # the folder; the cache is reused
    check_round_trip(again, np.arange(24), images.transpose(0, 3, 1, 2))


def test_mpi3d_wrong_files(tmp_path):
    expected = "mpi3d_*.npz (one array 'images', uint8 [1036800, 64, 64, 3])"
    np.savez(tmp_path / "mpi3d_small.npz", images=np.zeros((10, 64, 64, 3), np.uint8))
    one_line_error(lambda: load_dataset("mpi3d", path=str(tmp_path / "mpi3d_small.npz")), "(10, 64, 64, 3)", expected)
    np.savez(tmp_path / "mpi3d_keys.npz", imgs=np.zeros((10, 64, 64, 3), np.uint8))
    one_line_error(lambda: load_dataset("mpi3d", path=str(tmp_path / "mpi3d_keys.npz")), "no 'images' array", expected)
    (tmp_path / "mpi3d_text.npz").write_text("not a zip")
    one_line_error(lambda: load_dataset("mpi3d", path=str(tmp_path / "mpi3d_text.npz")), "not a valid .npz", expected)
    one_line_error(lambda: load_dataset("mpi3d", path=str(tmp_path)), "3 files", expected)


# ----- SmallNORB: smallnorb-*-{dat,cat,info}.mat ------------------------------------------------------------
NORB_PARTS = ("smallnorb-5x46789x9x18x6x2x96x96-training-{}.mat", "smallnorb-5x01235x9x18x6x2x96x96-testing-{}.mat")
NORB_INSTANCES = ((4, 6, 7, 8, 9), (0, 1, 2, 3, 5))


def norb_header(magic, dims):
    return np.array([magic, len(dims), *dims, *[1] * (3 - len(dims))], "<i4").tobytes()


def write_smallnorb(folder, left_images, right_value=7, seed=0):
    """The six official files, full size, rows in a random order; ``dat`` is sparse (zeros) except the left and
    right images of the rows keyed in ``left_images`` by (category, instance, elevation, azimuth class,
    lighting). Returns {key: global image index}."""
    rng = np.random.RandomState(seed)
    where = {}
    for part, (name, instances) in enumerate(zip(NORB_PARTS, NORB_INSTANCES)):
        grid = np.stack(np.meshgrid(np.arange(5), instances, np.arange(9), np.arange(18), np.arange(6),
                                    indexing="ij"), -1).reshape(-1, 5)
        rows = grid[rng.permutation(len(grid))]
        (folder / name.format("cat")).write_bytes(norb_header(0x1E3D4C54, [24300]) + rows[:, 0].astype("<i4").tobytes())
        info = np.column_stack([rows[:, 1], rows[:, 2], 2 * rows[:, 3], rows[:, 4]]).astype("<i4")
        (folder / name.format("info")).write_bytes(norb_header(0x1E3D4C54, [24300, 4]) + info.tobytes())
        with open(folder / name.format("dat"), "wb") as f:
            f.write(norb_header(0x1E3D4C55, [24300, 2, 96, 96]))
            f.truncate(24 + 24300 * 2 * 96 * 96)
            for key, image in left_images.items():
                match = np.flatnonzero((rows == np.asarray(key)).all(1))
                if len(match):
                    f.seek(24 + int(match[0]) * 2 * 96 * 96)
                    f.write(np.asarray(image, np.uint8).tobytes() + np.full((96, 96), right_value, np.uint8).tobytes())
                    where[key] = part * 24300 + int(match[0])
    return where


def test_smallnorb_round_trip_draws_the_instance(tmp_path):
    factors = (3, 4, 11, 2)  # category, elevation, azimuth class, lighting
    left = {(3, i, 4, 11, 2): np.full((96, 96), 10 + 20 * i) for i in range(10)}  # one constant image per instance
    half = np.zeros((96, 96), np.uint8)
    half[:, 48:] = 200  # dark left half, bright right half
    left[(0, 0, 0, 0, 0)] = half
    where = write_smallnorb(tmp_path, left)
    data = load_dataset("smallnorb", path=str(tmp_path / (NORB_PARTS[0].format("dat"))))  # any file: its folder
    assert len(data) == 48600 and data.factor_sizes == (5, 9, 18, 6) and data.observation_shape == (1, 64, 64)
    n = 40
    observed = data.sample_observations_from_factors(np.tile(factors, (n, 1)), np.random.RandomState(5))
    instances = np.random.RandomState(5).randint(10, size=n)  # the only draw: the instance, after the factors
    np.testing.assert_array_equal(observed, np.broadcast_to(((10 + 20 * instances) / 255).astype(np.float32)[:, None, None, None],
                                                            (n, 1, 64, 64)))
    assert len(set(instances)) > 5  # the instance really varies
    image = data.batch(torch.tensor([where[(0, 0, 0, 0, 0)]]))[0, 0].numpy()  # the left camera, resized, not transposed
    assert image.shape == (64, 64) and np.all(image[:, :28] == 0) and np.allclose(image[:, 36:], 200 / 255)
    np.testing.assert_array_equal(data.index_to_factors([where[(3, 7, 4, 11, 2)], where[(0, 0, 0, 0, 0)]]),
                                  [factors, (0, 0, 0, 0)])


def test_smallnorb_wrong_files(tmp_path):
    write_smallnorb(tmp_path, {})
    info = tmp_path / NORB_PARTS[1].format("info")
    good = info.read_bytes()
    info.write_bytes(np.array([0x1234], "<i4").tobytes() + good[4:])
    one_line_error(lambda: load_dataset("smallnorb", path=str(tmp_path)), "magic number 0x1234", "NORB binary matrix format")
    info.write_bytes(good[:-4])
    one_line_error(lambda: load_dataset("smallnorb", path=str(tmp_path)), "download and gunzip")
    info.write_bytes(norb_header(0x1E3D4C54, [24300, 5]) + bytes(24300 * 5 * 4))
    one_line_error(lambda: load_dataset("smallnorb", path=str(tmp_path)), "int32 (24300, 4)", "NORB binary matrix format")
    info.rename(info.with_name(info.name + ".gz"))
    one_line_error(lambda: load_dataset("smallnorb", path=str(tmp_path)), "missing", "gunzip")


# ----- Cars3D: cars/*.mat -------------------------------------------------------------------------------------
class TinyCars3D(Cars3D):
    """Cars3D with 2 car models (the loader takes the object count from ``factor_sizes``)."""

    factor_sizes = (4, 24, 2)


def write_car(path, offset):
    """One official car file: ``im`` uint8 [128, 128, 3, 24, 4], image (azimuth a, elevation e) constant
    ``offset + 4 a + e``."""
    import scipy.io

    values = (offset + 4 * np.arange(24)[:, None] + np.arange(4)[None, :]).astype(np.uint8)  # [24, 4]
    scipy.io.savemat(path, {"im": np.broadcast_to(values, (128, 128, 3, 24, 4)).copy()}, do_compression=True)


def test_cars3d_round_trip_in_list_order(tmp_path):
    cars = tmp_path / "cars"
    cars.mkdir()
    write_car(cars / "car_a_mesh.mat", offset=0)
    write_car(cars / "car_b_mesh.mat", offset=100)
    (cars / "list.txt").write_text("car_b_mesh\ncar_a_mesh\n")  # object 0 is car_b
    data = TinyCars3D(path=tmp_path)  # the folder that holds cars/
    index = np.array([0, 1, 2, 191, 100, 57])
    elevation, azimuth, car = grid_factors(index, data.factor_sizes).T
    value = np.where(car == 0, 100, 0) + 4 * azimuth + elevation
    check_round_trip(data, index, np.broadcast_to(value[:, None, None, None], (len(index), 3, 64, 64)).astype(np.uint8))
    assert data.nbytes == 4 * 24 * 2 * 3 * 64 * 64


def test_cars3d_wrong_files(tmp_path):
    import scipy.io

    write_car(tmp_path / "car_a_mesh.mat", offset=0)
    one_line_error(lambda: load_dataset("cars3d", path=str(tmp_path)), "holds 1 .mat files, expected 183",
                   "'im', uint8 [128, 128, 3, 24, 4]")
    scipy.io.savemat(tmp_path / "car_b_mesh.mat", {"images": np.zeros((2, 2), np.uint8)})
    one_line_error(lambda: TinyCars3D(path=tmp_path), "car_b_mesh.mat holds no variable 'im'")
    scipy.io.savemat(tmp_path / "car_b_mesh.mat", {"im": np.zeros((128, 128, 3, 4, 24), np.uint8)})
    one_line_error(lambda: TinyCars3D(path=tmp_path), "[128, 128, 3, 4, 24]", "[128, 128, 3, 24, 4]")
    (tmp_path / "car_b_mesh.mat").write_text("garbage")
    one_line_error(lambda: TinyCars3D(path=tmp_path), "cannot read car_b_mesh.mat")


def test_grid_datasets_pickle_as_their_recipe(tmp_path):
    import pickle

    images = np.random.RandomState(0).randint(0, 256, (24, 64, 64, 3)).astype(np.uint8)
    np.savez(tmp_path / "mpi3d_toy.npz", images=images)
    data = pickle.loads(pickle.dumps(TinyMPI3D(path=tmp_path, cache_dir=tmp_path / "cache")))
    check_round_trip(data, np.arange(24), images.transpose(0, 3, 1, 2))


def test_train_on_shapes3d_from_the_command_line(shapes3d_file, tmp_path, capsys):
    from pyrovae.cli import main

    fast = ["--steps", "2", "--batch-size", "8", "--no-evaluate", "--no-plots", "--no-progress", "--device", "cpu",
            "--likelihood", "continuous-bernoulli"]
    assert main(["train", "--dataset", "shapes3d", "--path", str(shapes3d_file[0]), *fast, "--out", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "checkpoint.pt").is_file()
    capsys.readouterr()  # the first run's own lines
    assert main(["train", "--dataset", "smallnorb", *fast, "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--path FOLDER" in err and "Traceback" not in err

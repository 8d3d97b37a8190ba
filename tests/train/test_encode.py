"""pyrovae encode and Run.encode: a trained encoder's means and scales on the user's data, in batches, with
one-line errors for data it cannot encode."""
import numpy as np
import pytest
import torch

from pyrovae.cli import main
from pyrovae.errors import PyroVAEError
from pyrovae.train import fit, load_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("encode")
    rng = np.random.RandomState(0)
    np.save(tmp / "data.npy", (rng.rand(40, 1, 8, 8) < 0.3).astype(np.float32))
    fit({"dataset": str(tmp / "data.npy"), "steps": 3, "batch_size": 8, "latent_dim": 3, "out": str(tmp / "run"),
         "evaluate": False, "plots": False, "device": "cpu"}, progress=False)
    return tmp / "run"


def test_encode_gives_the_guides_means_and_scales_in_batches(run_dir):
    run = load_run(run_dir, device="cpu")
    x = np.load(run_dir.parent / "data.npy")
    means, scales = run.encode(x, batch_size=7)
    loc, scale = run.guide.encode(torch.as_tensor(x))
    np.testing.assert_allclose(means, loc.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scales, scale.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert means.shape == (40, 3) and means.dtype == np.float32 and (scales > 0).all()
    assert np.array_equal(run.encode(run.dataset, limit=5).means, run.encode(torch.as_tensor(x[:5])).means)


def test_bad_input_gives_one_line_errors(run_dir, tmp_path):
    run = load_run(run_dir, device="cpu")
    bad = np.zeros((4, 1, 8, 8), np.float32)
    bad[2, 0, 1, 1] = np.nan
    for data, message in ((np.zeros((4, 1, 16, 16), np.float32), "trained on points of shape (1, 8, 8)"),
                          (bad, "point 2 of the data holds NaN"), (np.zeros(4), "need a batch dimension")):
        with pytest.raises(PyroVAEError) as e:
            run.encode(data)
        assert message in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(PyroVAEError, match="does not exist"):
        load_run(tmp_path / "nope")


def test_cli_encode_writes_means_and_scales(run_dir, tmp_path, capsys):
    out = tmp_path / "codes.npz"
    assert main(["encode", str(run_dir), str(run_dir.parent / "data.npy"), "--out", str(out), "--device", "cpu",
                 "--batch-size", "16", "--limit", "20"]) == 0
    codes = np.load(out)
    assert codes["means"].shape == codes["scales"].shape == (20, 3)
    assert "20 codes of 3 dimensions" in capsys.readouterr().out
    np.save(tmp_path / "wide.npy", np.zeros((4, 1, 16, 16), np.float32))
    for argv, message in (([str(tmp_path / "no-run"), str(tmp_path / "wide.npy")], "does not exist"),
                          ([str(run_dir), str(tmp_path / "wide.npy")], "trained on points of shape"),
                          ([str(run_dir), str(tmp_path / "missing.npy")], "missing.npy")):
        assert main(["encode", *argv, "--out", str(out), "--device", "cpu"]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_encode_on_a_gpu_matches_the_cpu(run_dir):
    cpu = load_run(run_dir, device="cpu").encode(np.load(run_dir.parent / "data.npy"))
    gpu = load_run(run_dir, device="cuda").encode(np.load(run_dir.parent / "data.npy"))
    np.testing.assert_allclose(gpu.means, cpu.means, rtol=1e-4, atol=1e-5)

"""The baseline table of the β-VAE paper on dSprites at a tiny budget: every row, scores in [0, 1], the
ground truth on top, PCA/ICA of the requested dimension and deterministic for a seed, and the command."""
import json
import math

import numpy as np
import pytest
import torch

from pyrovae.cli import main
from pyrovae.data import load_dataset
from pyrovae.experiments.baselines import (
    BASELINES,
    COLUMNS,
    PUBLISHED,
    baseline_table,
    format_markdown,
    ica_representation,
    pca_representation,
    score_representation,
    write_baselines,
)
from pyrovae.utils import resolve_precision

SIZES = {"num_train": 100, "num_test": 50, "num_sampled": 30}
SCORE_KEYS = [key for key, _ in COLUMNS]


@pytest.fixture(scope="module")
def dsprites():
    return load_dataset("dsprites")


@pytest.fixture(scope="module")
def table(tmp_path_factory, dsprites):
    out = tmp_path_factory.mktemp("baselines")
    with pytest.MonkeyPatch.context() as mp:  # fit() takes its torch threads from it: one, as in the other tests
        mp.setenv("OMP_NUM_THREADS", "1")
        result = baseline_table(dsprites, latent_dim=10, seeds=[0], train_steps=2, batch_size=8, device="cpu",
                                out=out, echo=lambda *a: None, **SIZES)
    return result, out


def test_every_row_has_finite_scores_in_the_unit_interval(table):
    result, out = table
    assert list(result["rows"]) == list(BASELINES)
    for name, row in result["rows"].items():
        (scores,) = row["per_seed"]
        expected_dims = {"ground_truth": 5, "raw_pixels": 64 * 64}.get(name, 10)
        assert scores["dims"] == expected_dims, name
        for key in SCORE_KEYS:
            value = scores[key]
            if name == "raw_pixels" and key.startswith(("sap", "dci")):
                assert value is None and "4096 dimensions" in scores["skipped"][key.split("_")[0]]
                continue
            assert value is not None and math.isfinite(value) and 0.0 <= value <= 1.0, (name, key, value)
        assert row["summary"]["beta_vae"]["mean"] == scores["beta_vae"]
    # the trained rows were trained, into out/runs
    for name in ("vae", "beta_vae", "aae", "infogan"):
        assert result["rows"][name]["per_seed"][0]["steps"] == 2
    assert (out / "runs" / "beta-vae-seed0" / "checkpoint.pt").is_file()
    assert (out / "runs" / "infogan-seed0" / "infogan.pt").is_file()
    # the VAE rows train in the precision the table records (auto resolved for the device)
    saved = json.loads((out / "runs" / "beta-vae-seed0" / "config.json").read_text())["config"]
    assert saved["precision"] == result["precision"] == resolve_precision("auto", torch.device("cpu"))


def test_the_ground_truth_scores_near_one_and_beats_the_fixed_baselines(table):
    rows = table[0]["rows"]
    truth = rows["ground_truth"]["per_seed"][0]
    assert truth["beta_vae"] >= 0.95 and truth["beta_vae_standardised"] >= 0.95 and truth["factor_vae"] >= 0.95
    assert truth["mig"] > 0.4 and truth["dci_disentanglement"] > 0.7
    for name in ("raw_pixels", "pca", "ica", "untrained_vae"):
        other = rows[name]["per_seed"][0]
        assert other["mig"] < truth["mig"] - 0.2 and other["factor_vae"] < truth["factor_vae"], name


def test_markdown_and_json_hold_the_table_beside_the_published_numbers(table, tmp_path):
    result, _ = table
    json_path, md_path = write_baselines(result, tmp_path)
    saved = json.loads(json_path.read_text())
    assert saved["rows"].keys() == result["rows"].keys() and saved["sizes"]["num_train"] == 100
    text = md_path.read_text()
    assert text == format_markdown(result)
    for label in ("ground truth", "raw pixels", "PCA", "ICA", "untrained VAE", "VAE", "β-VAE (β=4)", "InfoGAN", "AAE"):
        assert f"| {label} |" in text
    for mean, _sd in PUBLISHED.values():
        assert f"{mean:g}" in text
    assert "45.75 ± 0.8 %" in text and "73.5 ± 0.9 %" in text
    assert "2019 study" in text and "Higgins et al. (2017)" in text and "not yet measured" in text


def test_pca_and_ica_have_the_requested_dimension_and_are_deterministic_for_a_seed(table, dsprites):
    obs = dsprites.sample_observations_from_factors(dsprites.sample_factors(20, np.random.RandomState(5)), None)
    for build in (pca_representation, ica_representation):
        first, _ = build(dsprites, 3, 200, seed=1)
        again, _ = build(dsprites, 3, 200, seed=1)
        other, _ = build(dsprites, 3, 200, seed=2)
        codes = first(obs)
        assert codes.shape == (20, 3)
        assert np.array_equal(codes, again(obs))
        assert not np.allclose(codes, other(obs))  # another seed fits on other images
    # the table's PCA and ICA scores are reproduced exactly by a fresh fit with the same seed
    result = table[0]
    quick = ("beta_vae", "factor_vae", "mig")
    for name, build in (("pca", pca_representation), ("ica", ica_representation)):
        represent, _ = build(dsprites, 10, SIZES["num_train"], seed=0)
        again = score_representation(dsprites, represent, 0, batch_size=8, scores=quick, **SIZES)
        saved = result["rows"][name]["per_seed"][0]
        for key in quick:
            assert again[key] == saved[key], (name, key)


def test_the_baselines_command(table, tmp_path, capsys):
    _, out = table
    vae_run = out / "runs" / "vae-seed0"
    code = main(["baselines", "--only", "ground_truth", "--run", f"my-vae={vae_run}", "--num-train", "60",
                 "--num-test", "30", "--num-sampled", "10", "--device", "cpu", "--out", str(tmp_path / "b")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    saved = json.loads((tmp_path / "b" / "baselines.json").read_text())
    assert list(saved["rows"]) == ["ground_truth", "my_vae"]
    assert saved["rows"]["my_vae"]["per_seed"][0]["run_dir"] == str(vae_run)
    assert "| ground truth |" in (tmp_path / "b" / "baselines.md").read_text()
    for argv, message in ((["--only", "nope"], "unknown baseline(s) nope"),
                          (["--run", "vae"], "--run takes NAME=RUN_DIR"),
                          (["--run", f"vae={tmp_path}"], "not a pyrovae run dir"),
                          (["--dataset", str(tmp_path / "x.npy")], "x.npy"),
                          (["--num-train", "1"], "num-train must be an integer >= 2"),
                          (["--seeds", "-1"], "seeds must be")):
        code = main(["baselines", "--device", "cpu", "--out", str(tmp_path / "c"), *argv])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err, (argv, err)

"""``pyrovae evaluate --metrics``: a selection of metrics merged into metrics.json, with both MIGs side by side."""
import json

import pytest

from pyrovae.cli import main
from pyrovae.evaluation import parse_metrics

TRAIN = ["train", "--dataset", "digits", "--likelihood", "continuous-bernoulli", "--steps", "20", "--batch-size", "32",
         "--latent-dim", "3", "--no-evaluate", "--no-plots", "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluate") / "run"
    assert main(TRAIN + ["--out", str(out)]) == 0
    return out


def test_selected_metrics_merge_and_both_migs_are_printed(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--device", "cpu", "--eval-points", "300", "--metrics", "mig"]) == 0
    first = json.loads((run_dir / "metrics.json").read_text())
    assert "discrete_mig" in first["mig"] and "chen_mig" not in first and "beta_vae" not in first
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--device", "cpu", "--eval-points", "300", "--metrics", "chen-mig"]) == 0
    out = capsys.readouterr().out
    merged = json.loads((run_dir / "metrics.json").read_text())
    assert merged["mig"] == first["mig"]  # kept from the first call
    chen = merged["chen_mig"]
    assert chen["num_points"] == 300 and chen["points"] == "sampled" and 0 <= chen["mig"] <= 1
    assert set(chen["gaps"]) == {"digit"} and chen["standard_error"] > 0
    assert f"MIG: {first['mig']['discrete_mig']:.4f} (the study's, discrete) | {chen['mig']:.4f}" in out
    assert "differ because" in out


def test_bad_metric_names_and_guides_are_one_line_errors(run_dir, tmp_path, capsys):
    assert main(["evaluate", str(run_dir), "--device", "cpu", "--metrics", "mig,nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown metric(s) nope" in err and "chen-mig" in err
    assert main(["evaluate", str(run_dir), "--device", "cpu", "--chen-points", "many"]) == 2
    assert "--chen-points must be 'all'" in capsys.readouterr().err
    iaf = tmp_path / "iaf"
    assert main(TRAIN + ["--out", str(iaf), "--guide", "iaf", "--steps", "2"]) == 0
    capsys.readouterr()  # the training's own lines
    assert main(["evaluate", str(iaf), "--device", "cpu", "--eval-points", "100", "--metrics", "chen-mig"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--guide diagonal or lowrank" in err


def test_the_default_suite_includes_both_migs():
    assert {"mig", "chen-mig"} <= set(parse_metrics(None)) and parse_metrics("all") == parse_metrics(None)
    assert parse_metrics("Chen_MIG, modularity_explicitness") == ["chen-mig", "modularity"]

"""The benchmark scripts that the lead runs elsewhere (a GPU, an AMX CPU) start and fail cleanly here."""
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
# this checkout first on the path (the scripts import pyrovae)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
       "PYTHONPATH": os.pathsep.join([str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}


def import_benchmark(name):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


def run(script, *args, timeout=300):
    return subprocess.run([sys.executable, str(BENCHMARKS / script), *args], env=ENV, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given where there is no GPU")
def test_gpu_acceptance_without_a_gpu_says_so_in_one_line():
    done = run("gpu_acceptance.py")
    assert done.returncode == 2 and "no CUDA GPU" in done.stderr and done.stderr.count("\n") == 1


def test_train_step_benchmark_prints_its_rows(tmp_path):
    out = tmp_path / "rows.json"
    done = run("train_step.py", "--device", "cpu", "--nets", "mlp", "--rounds", "1", "--steps", "1", "--jit",
               "--precision", "fp32", "--malloc-pairs", "1", "--json", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(out.read_text())
    rows = record["rows"]
    assert [r["impl"] for r in rows] == ["pyrovae", "pyrovae --jit"] and all(r["ms"] > 0 for r in rows)
    # one pair of child processes: the eager step timed once with pyrovae's malloc settings, once without
    pairs = {(p["network"], p["impl"]): p for p in record["malloc_pairs"]}
    assert set(pairs) == {(rows[0]["network"], "pyrovae")}
    assert all(len(p["tuned_ms"]) == len(p["default_ms"]) == 1 and p["ratio"][0] > 0 for p in pairs.values())


def test_precision_quality_window_means(tmp_path):
    window_means = import_benchmark("precision_quality").window_means
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps({"step": s, "recon": float(s), "kl": 1.0}) + "\n" for s in range(50, 1001, 50)))
    means = window_means(log, 500)  # the records at 550 ... 1000, 50 steps each
    assert means == {"recon": pytest.approx(sum(range(550, 1001, 50)) / 10), "kl": 1.0}


def test_budget_curve_continues_an_adopted_run(tmp_path):
    import argparse

    import numpy as np

    budget_curve = import_benchmark("budget_curve")
    data = tmp_path / "data.npy"
    np.save(data, (np.random.RandomState(0).rand(64, 1, 8, 8) < 0.3).astype(np.float32))
    source = tmp_path / "source"
    done = subprocess.run([sys.executable, "-m", "pyrovae.cli", "train", "--objective", "beta-vae", "--beta", "2",
                           "--dataset", str(data), "--steps", "4", "--batch-size", "8", "--checkpoint-every", "2",
                           "--log-every", "2", "--device", "cpu", "--out", str(source), "--no-evaluate",
                           "--no-plots", "--no-progress"], env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "curve"
    assert budget_curve.adopt(out, source, eval_points=10_000) == 4
    assert json.loads((out / "run" / "config.json").read_text())["config"]["out"] == str(out / "run")
    assert (out / "step_4" / "checkpoint.pt").is_file() and not (out / "step_4" / "metrics.json").exists()

    args = argparse.Namespace(objective="beta-vae", seed=0, set=["beta=2"], checkpoint_every=2, log_every=2,
                              train_args=[])
    assert budget_curve.train_to(out, 8, args) == 8  # --resume accepts the adopted run and goes on
    assert [json.loads(line)["step"] for line in (out / "run" / "log.jsonl").read_text().splitlines()] == [2, 4, 6, 8]
    with pytest.raises(SystemExit, match="status 2"):  # another seed is another run: refused, not adopted
        budget_curve.train_to(out, 10, argparse.Namespace(**{**vars(args), "seed": 1}))


def test_budget_curve_evaluates_its_milestones_after_training(tmp_path, monkeypatch):
    import csv

    import numpy as np

    rng = np.random.RandomState(0)
    factors = np.stack([np.arange(48) % 4, np.arange(48) // 4 % 3], axis=1)
    data = tmp_path / "data.npz"
    np.savez(data, imgs=(rng.rand(48, 1, 8, 8) < 0.2 + 0.15 * factors[:, :1, None, None]).astype(np.float32),
             factors=factors)
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    budget_curve = import_benchmark("budget_curve")
    out = tmp_path / "curve"
    step_at_evaluation, evaluate = [], budget_curve.evaluate

    def recording_evaluate(dest, args):
        step_at_evaluation.append(budget_curve.last_step(out / "run"))
        evaluate(dest, args)

    monkeypatch.setattr(budget_curve, "evaluate", recording_evaluate)
    budget_curve.main(["--objective", "vae", "--milestones", "2,4", "--out", str(out), "--eval-points", "48",
                       "--eval-device", "cpu", "--checkpoint-every", "2", "--log-every", "2", "--",
                       "--dataset", str(data), "--batch-size", "8", "--device", "cpu"])
    # not beside the training (on 2 cores that made it ~10x slower): both once it had reached step 4
    assert step_at_evaluation == [4, 4]
    with open(out / "curve.csv") as f:
        assert [int(row["step"]) for row in csv.DictReader(f)] == [2, 4]
    assert all((out / f"step_{step}" / name).is_file() for step in (2, 4) for name in ("metrics.json", "traversals.png"))


def test_mig_variants_scores_every_point_at_both_bin_counts(tmp_path):
    import numpy as np

    from pyrovae.metrics import mutual_info_gap
    from pyrovae.train import load_run

    rng = np.random.RandomState(0)
    factors = np.stack([np.arange(48) % 4, np.arange(48) // 4 % 3], axis=1)
    images = (rng.rand(48, 1, 8, 8) < 0.2 + 0.15 * factors[:, :1, None, None]).astype(np.float32)
    data = tmp_path / "data.npz"
    np.savez(data, imgs=images, factors=factors)
    run_dir = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "pyrovae.cli", "train", "--objective", "vae", "--dataset", str(data),
                           "--steps", "2", "--batch-size", "8", "--device", "cpu", "--out", str(run_dir),
                           "--no-evaluate", "--no-plots", "--no-progress"], env=ENV, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    row = import_benchmark("mig_variants").mig_variants(run_dir)
    run = load_run(run_dir, device="cpu")
    means = run.encode(run.dataset, batch_size=16).means
    assert row["points"] == 48 and row["step"] == 2 and row["study_mig"] is None  # not evaluated: no metrics.json
    assert row["full_20_bins"] == pytest.approx(mutual_info_gap(means, factors, num_bins=20))
    assert row["full_10_bins"] == pytest.approx(mutual_info_gap(means, factors, num_bins=10))

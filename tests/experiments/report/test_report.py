import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from sweep_helpers import EXAMPLES

from pyrovae.cli import main
from pyrovae.errors import PyroVAEError
from pyrovae.experiments.report import write_report
from pyrovae.experiments.results import load_results
from pyrovae.experiments.sweep import run_sweep

HERE = Path(__file__).resolve().parents[1]  # tests/experiments: crash_plugin.py
SECTIONS = ["## 1. Runs", "## 2. Scores per objective and hyperparameter (Tables 5.3, 5.6)",
            "## 3. Reconstruction error against regularisation strength (Fig. 5.11)",
            "## 4. Disentanglement against reconstruction", "## 5. The rate–distortion plane",
            "## 6. Rank correlations between metrics (Fig. 5.13)",
            "## 7. Unsupervised against supervised metrics (Fig. 5.16)",
            "## 8. Metric distributions over seeds and hyperparameters (Figs. 5.14–5.15)",
            "## 9. Downstream sample efficiency (Fig. 5.19)",
            "## 10. Aggregate posterior against the prior (Fig. 5.12)",
            "## 11. Active and passive latents (Fig. 5.6)",
            "## 12. Domain shift: noise, inverted colours, unseen shapes (Figs. 5.17–5.18)"]
NUMBER = re.compile(r"-?\d+\.\d{2,}")


def sections(text):
    """{heading: body} of the report's numbered sections."""
    parts = re.split(r"(?m)^(## .*)$", text)
    return {heading.strip(): body for heading, body in zip(parts[1::2], parts[2::2])}


def check_images(report_dir, text):
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert images
    for name in images:
        assert (report_dir / name).stat().st_size > 3000, name
    return images


def test_report_of_the_tiny_sweep_has_every_section_with_real_numbers(tiny_sweep, capsys):
    out, proc = tiny_sweep
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert main(["report", str(out), "--points", "300"]) == 0
    assert "report written to" in capsys.readouterr().out
    report_dir = out / "report"
    text = (report_dir / "report.md").read_text()
    assert "Not computed" not in text and "failed:" not in text
    body = sections(text)
    for heading in SECTIONS:
        match = [b for h, b in body.items() if h.startswith(heading)]
        assert match, f"missing section {heading}"
        assert len(NUMBER.findall(match[0])) >= 3, f"no numbers in {heading}"
    images = check_images(report_dir, text)
    for figure in ("recon_vs_strength.png", "mig_vs_recon.png", "rate_distortion.png", "metric_correlations.png",
                   "unsupervised_vs_supervised.png", "metric_distributions.png", "downstream.png",
                   "aggregate_posterior_beta-vae.png", "active_units_beta-tcvae.png", "domain_shift.png"):
        assert figure in images, figure
    # the table's numbers are the runs' numbers: mean ± sd over the two seeds
    rows = [r for r in load_results(out) if r["objective"] == "beta-vae" and r["hyperparameters"]["beta"] == 4]
    mig = [r["mig.discrete_mig"] for r in rows]
    expected = f"{np.mean(mig):.3f} ± {np.std(mig, ddof=1):.3f}"
    table = next(line for line in body[SECTIONS[1]].splitlines() if line.startswith("| beta-vae (beta=4) | 2 |"))
    assert expected in table
    # Spearman between metrics: a full matrix of numbers in [-1, 1] with ones on the diagonal
    corr = body[SECTIONS[5]]
    assert "| MIG |" in corr and all(-1.0 <= float(v) <= 1.0 for v in NUMBER.findall(corr))
    # the domain shift shows all five inputs with their errors
    shift = body[SECTIONS[11]]
    for condition in ("| clean |", "| noisy (σ=0.3) |", "| inverted (1 − x) |", "| unseen: triangle |",
                      "| unseen: cross |"):
        assert condition in shift
    assert "no 64×64 dSprites run" in shift  # said explicitly: the tiny sweep trains on 16x16 toy shapes
    assert "| β=3 | 0.860 ± 0.055 | 0.737 ± 0.031 | 0.269 ± 0.028 |" in text  # the thesis' Table 5.3 beside


def test_report_says_which_sections_cannot_be_computed_and_lists_failed_runs(tmp_path):
    plugin = tmp_path / "plain_data.py"
    plugin.write_text(
        "import sys\nsys.path.insert(0, %r)\n" % str(EXAMPLES) +
        "from pyrovae.data import DATASETS, ArrayDataset\nimport toy_shapes\n"
        "DATASETS.setdefault('toy-plain', lambda: ArrayDataset(toy_shapes.ToyShapes().observations.numpy()))\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "imports": [str(plugin), str(HERE / "crash_plugin.py")],
        "base": {"dataset": "toy-plain", "arch": "mlp", "latent_dim": 3, "steps": 30, "batch_size": 32, "lr": 3e-3,
                 "device": "cpu", "log_every": 10, "checkpoint_every": 10, "plots": False, "eval_points": 100},
        "objectives": [{"objective": "beta-vae", "hyperparameters": {"beta": 1}},
                       {"objective": "crash-test", "seeds": [0]}],
        "seeds": [0, 1]}))
    out = tmp_path / "sweep"
    with pytest.raises(PyroVAEError, match="1 of 3 runs failed"):
        run_sweep(spec, out, retries=0, echo=lambda line: None)
    path = write_report(out, points=100, echo=lambda line: None)
    text = path.read_text()
    body = sections(text)
    runs = body[SECTIONS[0]]
    assert "1 run(s) failed" in runs and "crash-test_toy-plain_seed0" in runs
    assert "RuntimeError: boom at step 3 (always)" in runs
    for heading in (SECTIONS[3], SECTIONS[6], SECTIONS[8]):
        section = next(b for h, b in body.items() if h.startswith(heading))
        assert "**Not computed:**" in section and "ground-truth factors" in section, heading
    assert "at least 3 finished runs" in body[SECTIONS[5]]
    # what can be computed without factors is there, with numbers
    for heading in (SECTIONS[1], SECTIONS[2], SECTIONS[4], SECTIONS[9], SECTIONS[10], SECTIONS[11]):
        section = next(b for h, b in body.items() if h.startswith(heading))
        assert "Not computed" not in section and len(NUMBER.findall(section)) >= 3, heading
    assert "The supervised disentanglement scores" in body[SECTIONS[1]]
    check_images(path.parent, text)


def test_report_of_a_folder_that_is_no_sweep_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "holds no results.sqlite" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2


def test_domain_shift_on_a_64x64_dsprites_model(tmp_path):
    pytest.importorskip("pyrovae.data.dsprites", reason="procedural dSprites is not in this checkout yet")
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "base": {"dataset": "dsprites", "arch": "mlp", "latent_dim": 4, "steps": 10, "batch_size": 16, "lr": 1e-3,
                 "device": "cpu", "log_every": 5, "checkpoint_every": 10, "plots": False, "evaluate": False},
        "objectives": [{"objective": "beta-vae", "hyperparameters": {"beta": 4}}], "seeds": [0]}))
    run_sweep(spec, tmp_path / "sweep", echo=lambda line: None)
    path = write_report(tmp_path / "sweep", points=64, echo=lambda line: None)
    shift = sections(path.read_text())[SECTIONS[11]]
    assert "beta-vae_beta=4_dsprites_seed0" in shift and "the best-reconstructing dSprites run" in shift
    assert "no 64×64 dSprites run" not in shift
    assert "| unseen: triangle |" in shift and len(NUMBER.findall(shift)) >= 10
    assert (path.parent / "domain_shift.png").stat().st_size > 3000

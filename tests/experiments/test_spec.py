"""The sweep spec: expansion into runs with stable names, one-line errors, step budgets, the example specs."""
import pytest
from sweep_helpers import EXAMPLES, FAST, TOY

from pyrovae.cli import main
from pyrovae.errors import PyroVAEError
from pyrovae.experiments.job import run_job
from pyrovae.experiments.spec import expand_spec, load_plan, run_name


def test_run_names_are_stable_and_readable():
    assert run_name("beta-vae", {"beta": 4.0}, "dsprites", 0) == "beta-vae_beta=4_dsprites_seed0"
    assert run_name("factor-vae", {"gamma": 6.5, "discriminator_lr": 1e-4}, "/data/my set.npz", 3) == \
        "factor-vae_discriminator-lr=0.0001_gamma=6.5_my-set_seed3"


def test_spec_expands_objectives_times_grid_times_datasets_times_seeds(tmp_path):
    spec = {"imports": [TOY], "base": {**FAST, "lr": 1e-3},
            "objectives": [{"objective": "beta-vae", "hyperparameters": {"beta": [1, 4], "kl_warmup_steps": 5}},
                           {"objective": "beta-tcvae", "hyperparameters": {"beta": 6}, "config": {"lr": 2e-3},
                            "seeds": [7]}],
            "seeds": 2, "datasets": ["toy-shapes"]}
    plan = expand_spec(spec, tmp_path / "sw")
    names = [r.name for r in plan.runs]
    assert names == ["beta-vae_beta=1_kl-warmup-steps=5_toy-shapes_seed0", "beta-vae_beta=1_kl-warmup-steps=5_toy-shapes_seed1",
                     "beta-vae_beta=4_kl-warmup-steps=5_toy-shapes_seed0", "beta-vae_beta=4_kl-warmup-steps=5_toy-shapes_seed1",
                     "beta-tcvae_beta=6_toy-shapes_seed7"]
    tc = plan.runs[-1].config
    assert tc["lr"] == 2e-3 and tc["seed"] == 7 and tc["objective_options"] == {"beta": 6}
    assert tc["out"] == str(tmp_path / "sw" / "runs" / "beta-tcvae_beta=6_toy-shapes_seed7")
    assert plan.runs[0].config["lr"] == 1e-3 and plan.runs[0].config["objective_options"]["kl_warmup_steps"] == 5


def test_tensorboard_in_base_reaches_every_run_with_its_own_run_dir(tmp_path):
    pytest.importorskip("tensorboard")
    """Each run then logs to its RUN_DIR/tensorboard/: ``tensorboard --logdir SWEEP_DIR`` compares them."""
    spec = {"imports": [TOY], "base": {**FAST, "tensorboard": True}, "seeds": 2,
            "objectives": [{"objective": "beta-vae", "hyperparameters": {"beta": [1, 4]}}]}
    runs = expand_spec(spec, tmp_path / "sw").runs
    assert len(runs) == 4 and all(r.config["tensorboard"] is True for r in runs)
    assert len({r.run_dir for r in runs}) == 4
    run_job(runs[0].config, progress=False)  # what a sweep's worker does with each run
    assert list((runs[0].run_dir / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("spec, message", [
    ({"objectives": [{"objective": "no-such-vae"}]}, "unknown objective 'no-such-vae'"),
    ({"objectives": [{"objective": "beta-vae", "hyperparameters": {"gamma": [1, 2]}}]}, "unknown key(s) gamma"),
    ({"objectives": [{"objective": "beta-vae", "hyperparameters": {"beta": [-1]}}]}, "beta must be >= 0"),
    ({"objectives": ["beta-vae"], "bsae": {}}, "unknown key(s) bsae in the sweep spec"),
    ({"objectives": ["beta-vae"], "base": {"latent_dims": 3}}, "unknown key(s) latent_dims in base"),
    ({"objectives": ["beta-vae"], "base": {"seed": 1, "out": "x"}}, "base: out is set by the sweep for each run"),
    ({"objectives": ["beta-vae"], "base": {"objective": "wae"}}, "base: objective is set by the sweep"),
    ({"objectives": ["beta-vae"], "base": {"latent_dim": 0}}, "latent-dim must be a positive integer"),
    ({"objectives": ["beta-vae"], "seeds": [1, 1]}, "seeds repeat"),
    ({"objectives": ["beta-vae"], "base": {"precision": "fp16"}}, "unknown precision 'fp16'"),
    ({"objectives": ["factor-vae"], "base": {"jit": True}}, "factor-vae cannot run under --jit"),
    ({"objectives": [{"objective": "beta-vae", "lr": 1}]}, "unknown key(s) lr in objectives[0]"),
    ({"objectives": []}, "names no objectives"),
    ({"objectives": ["beta-vae"], "imports": ["no/such/plugin.py"]}, "is not a file"),
])
def test_spec_errors_are_one_line(tmp_path, spec, message):
    with pytest.raises(PyroVAEError) as e:
        expand_spec(spec, tmp_path)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_cli_reports_a_bad_spec_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("objectives: [{objective: beta-vae, hyperparameters: {beta: [1, 2]}, extra: 1}]\n")
    assert main(["sweep", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyrovae: error:") and "extra" in err and len(err.splitlines()) == 1
    (tmp_path / "broken.yaml").write_text("objectives: [beta-vae\n")
    assert main(["sweep", str(tmp_path / "broken.yaml")]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "missing.yaml")]) == 2


def test_a_spec_names_its_step_budget(tmp_path):
    spec = {"base": {**FAST, "steps": "study"}, "objectives": ["vae"],
            "datasets": [{"dataset": "toy-shapes", "config": {"steps": "thesis"}}, "digits"]}
    steps = {run.dataset: run.config["steps"] for run in expand_spec(spec, tmp_path).runs}
    assert steps == {"toy-shapes": 22_260, "digits": 300_000}
    with pytest.raises(PyroVAEError, match="thesis .* or study"):
        expand_spec({"base": {**FAST, "steps": "forever"}, "objectives": ["vae"]}, tmp_path)


def test_thesis_spec_expands_to_170_runs_with_the_thesis_budget(tmp_path, capsys):
    plan = load_plan(EXAMPLES / "thesis_table_5_4.yaml", tmp_path)
    assert len(plan.runs) == (4 + 5 + 4 + 4) * 10
    config = plan.runs[0].config
    assert (config["steps"], config["batch_size"], config["lr"], config["latent_dim"]) == (22260, 64, 1e-4, 10)
    grids = {}
    for run in plan.runs:
        grids.setdefault(run.objective, set()).add(tuple(sorted(run.hyperparameters.items())))
    assert {dict(g)["beta"] for g in grids["beta-vae"]} == {1, 3, 10, 30}
    assert {dict(g)["gamma"] for g in grids["factor-vae"]} == {5, 10, 25, 50, 100}
    assert {dict(g)["beta"] for g in grids["beta-tcvae"]} == {1, 3, 6, 10}
    assert {dict(g)["lambda_od"] for g in grids["dip-vae"]} == {1, 3, 10, 30}
    assert main(["sweep", str(EXAMPLES / "thesis_table_5_4.yaml"), "--out", str(tmp_path), "--dry-run"]) == 0
    assert "170 runs" in capsys.readouterr().out


def test_thesis_budget_cpu_spec_expands_to_every_objective_at_the_thesis_budget(tmp_path):
    plan = load_plan(EXAMPLES / "thesis_budget_cpu.yaml", tmp_path)
    settings = {}
    for run in plan.runs:
        assert (run.config["steps"], run.config["batch_size"], run.config["lr"], run.config["eval_points"]) == \
            (22260, 64, 1e-4, 10000)
        key = (run.objective, tuple(sorted(run.hyperparameters.items())))
        settings.setdefault(key, []).append(run.seed)
    assert settings == {
        ("vae", ()): [0], ("beta-vae", (("beta", 4),)): [0], ("beta-vae", (("beta", 10),)): [0, 1, 2],
        ("beta-tcvae", (("beta", 1),)): [0], ("beta-tcvae", (("beta", 6),)): [0, 1, 2],
        ("factor-vae", (("gamma", 10),)): [0], ("factor-vae", (("gamma", 25),)): [0, 1, 2],
        ("dip-vae", (("dip_type", "i"), ("lambda_od", 10))): [0],
        ("dip-vae", (("dip_type", "ii"), ("lambda_od", 10))): [0], ("capacity-vae", ()): [0]}


def test_a_spec_names_its_own_model_and_guide_relative_to_itself(tmp_path):
    import shutil
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "models").mkdir()
    shutil.copy(root / "models" / "laplace_prior.py", tmp_path / "models")
    spec = tmp_path / "spec.yaml"
    spec.write_text("base: {steps: 2, model: models/laplace_prior.py:make_model, guide: "
                    f"{root}/guides/flow_guide.py}}\nobjectives: [vae]\n")
    run = load_plan(spec, tmp_path / "sw").runs[0]
    assert run.name == "vae_model=laplace-prior_guide=flow-guide_dsprites_seed0"
    assert run.config["model"] == f"{tmp_path / 'models' / 'laplace_prior.py'}:make_model"
    spec.write_text("base: {model: 'models/laplace_prior.py:build'}\nobjectives: [vae]\n")
    with pytest.raises(PyroVAEError, match=r"objectives\[0\] \(vae\): --model .* has no function build"):
        load_plan(spec, tmp_path / "sw")

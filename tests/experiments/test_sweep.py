import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pyrovae.cli import main
from pyrovae.errors import PyroVAEError
from pyrovae.experiments.results import load_results
from pyrovae.experiments.sweep import expand_spec, load_plan, run_name, run_sweep

from sweep_helpers import EXAMPLES, REPO, cli_env, run_cli

HERE = Path(__file__).resolve().parent
TOY = str(EXAMPLES / "toy_shapes.py")
FAST = {"dataset": "toy-shapes", "arch": "mlp", "latent_dim": 3, "steps": 20, "batch_size": 32, "lr": 3e-3,
        "device": "cpu", "log_every": 10, "checkpoint_every": 10, "plots": False, "evaluate": False}


def write_spec(path, **spec):
    spec.setdefault("imports", [TOY])
    path.write_text(yaml.safe_dump(spec))
    return path


# ---- the spec ------------------------------------------------------------------------------------
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


# ---- running sweeps ------------------------------------------------------------------------------
def test_tiny_sweep_trains_and_evaluates_every_run_into_the_results_table(tiny_sweep):
    out, proc = tiny_sweep
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plan = load_plan(EXAMPLES / "tiny_sweep.yaml", out)
    rows = load_results(out)
    assert [r["name"] for r in rows] == sorted(r.name for r in plan.runs)
    assert len(rows) == 6 and {r["status"] for r in rows} == {"done"}
    for row in rows:
        run_dir = Path(row["run_dir"])
        assert run_dir.parent == out / "runs" and (run_dir / "metrics.json").is_file()
        assert json.loads((run_dir / "config.json").read_text())["config"]["seed"] == row["seed"]
        assert row["attempts"] == 1 and row["error"] is None and row["wall_s"] > 0 and row["steps"] == 150
        for column in ("mig.discrete_mig", "dci.disentanglement", "beta_vae.eval_accuracy", "factor_vae.eval_accuracy",
                       "reconstruction.nll_per_pixel", "kl_total", "active_units", "unsupervised.mutual_info_score",
                       "downstream.mean_test_accuracy_10", "train.loss"):
            assert isinstance(row[column], float), column
        assert row["hp.beta"] == row["hyperparameters"]["beta"]
        assert row["metrics"]["kl_per_dim"] and len(row["metrics"]["kl_per_dim"]) == 4
    # the table is plain SQLite: any client can read it
    with sqlite3.connect(out / "results.sqlite") as conn:
        (count,) = conn.execute('SELECT COUNT(*) FROM runs WHERE status = "done" AND "mig.discrete_mig" IS NOT NULL').fetchone()
    assert count == 6
    # a second start finds everything done and trains nothing
    again = run_cli("sweep", EXAMPLES / "tiny_sweep.yaml", "--out", out)
    assert again.returncode == 0 and "6 done before, 0 to run" in again.stdout


def _wait(predicate, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _status(run_dir):
    try:
        return json.loads((run_dir / "sweep_status.json").read_text())
    except (OSError, ValueError):
        return {}


def _pid_alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")  # a zombie has exited
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def test_a_killed_sweep_continues_without_redoing_finished_runs(tmp_path):
    spec = write_spec(tmp_path / "spec.yaml", base={**FAST, "steps": 300, "checkpoint_every": 100, "evaluate": True,
                                                         "eval_points": 100},
                      objectives=[{"objective": "beta-vae", "hyperparameters": {"beta": 1}}], seeds=2)
    out = tmp_path / "sweep"
    plan = load_plan(spec, out)
    first, second = plan.runs[0].run_dir, plan.runs[1].run_dir
    proc = subprocess.Popen([sys.executable, "-m", "pyrovae.cli", "sweep", str(spec), "--workers", "1", "--out", str(out)],
                            env=cli_env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        _wait(lambda: _status(first).get("status") == "done" and _status(second).get("status") == "running"
              and (second / "checkpoint.pt").exists(), 240, "the first run to finish and the second to train")
        proc.kill()      # SIGKILL: no clean-up in the sweep process (its worker gets SIGTERM and checkpoints)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    worker = _status(second).get("pid")
    _wait(lambda: not _pid_alive(worker), 60, "the orphaned worker to stop")
    metrics_mtime = (first / "metrics.json").stat().st_mtime_ns
    assert not (second / "metrics.json").exists()

    resumed = run_cli("sweep", spec, "--workers", 1, "--out", out)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "1 done before, 1 to run" in resumed.stdout
    rows = {r["name"]: r for r in load_results(out)}
    assert {r["status"] for r in rows.values()} == {"done"} and len(rows) == 2
    # the finished run was not redone: same metrics file, one start in its provenance
    assert (first / "metrics.json").stat().st_mtime_ns == metrics_mtime
    assert len(json.loads((first / "config.json").read_text())["starts"]) == 1
    assert rows[plan.runs[0].name]["attempts"] == 1
    # the interrupted run was resumed (two starts), and its log has every step once
    assert len(json.loads((second / "config.json").read_text())["starts"]) == 2
    steps = [json.loads(line)["step"] for line in (second / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(10, 301, 10))
    for run in plan.runs:
        assert (run.run_dir / "metrics.json").is_file()


def test_crashed_runs_are_retried_then_reported_never_dropped(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PYROVAE_CRASH_DIR", str(tmp_path))
    spec = write_spec(tmp_path / "spec.yaml", imports=[TOY, str(HERE / "crash_plugin.py")], base=FAST, seeds=[0],
                      objectives=[{"objective": "crash-test", "hyperparameters": {"mode": ["always", "once", "exit"]}},
                                  {"objective": "beta-vae", "hyperparameters": {"beta": 1}}])
    out = tmp_path / "sweep"
    lines = []
    with pytest.raises(PyroVAEError, match="2 of 4 runs failed"):
        run_sweep(spec, out, workers=1, retries=1, echo=lines.append)
    rows = {r["name"]: r for r in load_results(out)}
    always, once = rows["crash-test_mode=always_toy-shapes_seed0"], rows["crash-test_mode=once_toy-shapes_seed0"]
    died = rows["crash-test_mode=exit_toy-shapes_seed0"]
    assert always["status"] == "failed" and always["attempts"] == 2
    assert always["error"] == "RuntimeError: boom at step 3 (always)"
    assert died["status"] == "failed" and died["attempts"] == 2 and "worker process died" in died["error"]
    assert once["status"] == "done" and once["attempts"] == 2 and once["error"] is None
    assert rows["beta-vae_beta=1_toy-shapes_seed0"]["status"] == "done"
    assert any(line.startswith("retrying crash-test_mode=always") for line in lines)
    assert any(line.startswith("FAILED crash-test_mode=always") and "boom at step 3" in line for line in lines)
    log = (Path(always["run_dir"]) / "sweep.log").read_text()
    assert log.count("RuntimeError: boom at step 3") == 2  # the traceback of each attempt is kept
    # through the command line: exit status 2 and the failures named
    assert main(["sweep", str(spec), "--out", str(out), "--retries", "0"]) == 2
    captured = capsys.readouterr()
    assert "FAILED crash-test_mode=always_toy-shapes_seed0 after 1 attempt(s): RuntimeError" in captured.out
    assert "2 of 4 runs failed" in captured.err
    assert "2 done before, 2 to run" in captured.out


def test_a_changed_spec_continues_finished_runs_or_says_why_it_cannot(tmp_path):
    spec = write_spec(tmp_path / "spec.yaml", base=FAST, objectives=["beta-vae"])
    out = tmp_path / "sweep"
    run_sweep(spec, out, echo=lambda line: None)
    run_dir = out / "runs" / "beta-vae_toy-shapes_seed0"
    write_spec(spec, base={**FAST, "steps": 30}, objectives=["beta-vae"])  # a larger budget: train on
    lines = []
    run_sweep(spec, out, echo=lines.append)
    assert "0 done before, 1 to run" in lines[0]
    assert len(json.loads((run_dir / "config.json").read_text())["starts"]) == 2
    assert [json.loads(line)["step"] for line in (run_dir / "log.jsonl").read_text().splitlines()] == [10, 20, 30]
    write_spec(spec, base={**FAST, "steps": 30, "lr": 1e-3}, objectives=["beta-vae"])  # cannot be resumed
    with pytest.raises(PyroVAEError, match="1 of 1 runs failed"):
        run_sweep(spec, out, retries=0, echo=lines.append)
    assert "different lr than the saved run" in load_results(out)[0]["error"]


def test_bad_worker_options_are_one_line_errors(tmp_path):
    spec = write_spec(tmp_path / "spec.yaml", base=FAST, objectives=["beta-vae"])
    with pytest.raises(PyroVAEError, match="--workers must be >= 1"):
        run_sweep(spec, tmp_path / "o", workers=0)
    with pytest.raises(PyroVAEError, match="--retries must be >= 0"):
        run_sweep(spec, tmp_path / "o", retries=-1)
    with pytest.raises(PyroVAEError, match="--address applies to --backend ray only"):
        run_sweep(spec, tmp_path / "o", address="ray://x:10001")


def test_ray_backend_without_ray_is_a_clear_error(tmp_path, monkeypatch):
    spec = write_spec(tmp_path / "spec.yaml", base=FAST, objectives=["beta-vae"])
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(PyroVAEError, match=r"pip install 'pyrovae\[ray\]'"):
        run_sweep(spec, tmp_path / "o", backend="ray")


def test_ray_backend_in_local_mode(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("PYTHONPATH", cli_env()["PYTHONPATH"])  # the Ray workers import this checkout
    spec = write_spec(tmp_path / "spec.yaml", base=FAST, objectives=[{"objective": "beta-vae",
                                                                      "hyperparameters": {"beta": [1, 4]}}])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rows = run_sweep(spec, tmp_path / "sweep", backend="ray", echo=lambda line: None)
    finally:
        ray.shutdown()
    assert [(r["name"], r["status"]) for r in rows] == [("beta-vae_beta=1_toy-shapes_seed0", "done"),
                                                        ("beta-vae_beta=4_toy-shapes_seed0", "done")]
    for row in rows:
        assert (Path(row["run_dir"]) / "checkpoint.pt").is_file()

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from sweep_helpers import EXAMPLES, FAST, REPO, TOY, cli_env, run_cli, write_spec

from pyrovae.cli import main
from pyrovae.errors import PyroVAEError
from pyrovae.experiments.results import load_results
from pyrovae.experiments.spec import load_plan
from pyrovae.experiments.sweep import run_sweep
from pyrovae.experiments.worker import run_task

HERE = Path(__file__).resolve().parent


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
    assert ": 1 run in " in lines[0] and "0 done before, 1 to run" in lines[0] and ": 1 run done;" in lines[-1]
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


def test_ray_backend_without_a_cluster_is_a_clear_error(tmp_path, monkeypatch):
    spec = write_spec(tmp_path / "spec.yaml", base=FAST, objectives=["beta-vae"])

    def init(address, **kwargs):  # what ray.init says when no cluster is found for --address auto
        raise ConnectionError("Could not find any running Ray instance.")

    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(is_initialized=lambda: False, init=init))
    with pytest.raises(PyroVAEError, match=r"cannot reach a Ray cluster \(Could not find any running Ray instance"):
        run_sweep(spec, tmp_path / "o", backend="ray", address="auto")
    assert load_results(tmp_path / "o")[0]["status"] == "pending"  # the run is kept for the next try


def test_a_task_takes_relative_paths_from_the_sweep_process_dir(tmp_path, monkeypatch):
    """As a Ray worker on another node would run it: in another dir than the sweep process."""
    monkeypatch.chdir(tmp_path)  # run_task changes this process's dir; monkeypatch changes it back
    sweep_cwd = tmp_path / "sweep_cwd"
    sweep_cwd.mkdir()
    task = {"name": "r", "config": {"out": "sweep/runs/r", "objective": "no-such-objective"}, "cwd": str(sweep_cwd)}
    assert run_task(task)["status"] == "failed"  # a quick failure, but in the right run dir
    assert (sweep_cwd / "sweep" / "runs" / "r" / "sweep.log").is_file() and not (tmp_path / "sweep").exists()
    result = run_task({**task, "cwd": str(tmp_path / "not-on-this-node")})
    assert result["status"] == "failed" and "is not on this node" in result["error"], result


def test_ray_backend_in_local_mode(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("PYTHONPATH", cli_env()["PYTHONPATH"])  # the Ray workers import this checkout
    # else Ray 2.60's local ray.init() writes ~/.ray/auth_token and turns on token mode for this whole process
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
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

"""The Ray backend on a real Ray cluster, not Ray's local mode: a head started with the ``ray`` CLI (its
own GCS, raylet and worker processes, as on each node of a multi-node cluster), sweeps sent to it with
``pyrovae sweep --backend ray --address ...``, and a Ray worker killed in the middle of a run.
Skipped where Ray is not installed (``pip install -e '.[ray]'``), as in CI."""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from sweep_helpers import FAST, TOY, cli_env, write_spec

from pyrovae.experiments.results import load_results

pytest.importorskip("ray")
HERE = Path(__file__).resolve().parent
# the ray command beside this Python (its venv need not be activated), else on the PATH
RAY_CLI = str(Path(sys.executable).with_name("ray")) if Path(sys.executable).with_name("ray").is_file() \
    else shutil.which("ray")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(RAY_CLI is None, reason="the ray command line is not installed")]
HANG = "crash-test_mode=hang_toy-shapes_seed0"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head():
    """``ray start --head`` in its own process group: (its address, the crash plugin's dir, the environment
    a driver needs). Its workers see this checkout and $PYROVAE_CRASH_DIR through the head's environment,
    as on a real node."""
    # a short temp dir: Ray's unix socket paths under it must stay within 107 characters
    temp = Path(tempfile.mkdtemp(prefix="pyrovae-ray-", dir="/tmp" if os.path.isdir("/tmp") else None))
    crash_dir = temp / "crash"
    crash_dir.mkdir()
    # Ray's token authentication with a token of its own: Ray 2.60 turns it on for `ray start` whenever
    # ~/.ray/auth_token exists (a local ray.init() writes one), and a driver given an address needs the mode
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env = {**cli_env(), **auth, "PYROVAE_CRASH_DIR": str(crash_dir), "RAY_ADDRESS": ""}
    env.pop("RAY_AUTH_TOKEN_PATH", None)
    # --port=0: a free GCS port (read back from the temp dir); a free client port, not the default 10001
    cmd = [RAY_CLI, "start", "--head", "--port=0", "--num-cpus=2", "--include-dashboard=false",
           "--disable-usage-stats", f"--ray-client-server-port={_free_port()}", f"--temp-dir={temp}"]
    with open(temp / "ray_start.log", "w") as log:
        # its own session: every Ray process of this head (workers too) is in one process group, ended below;
        # in another dir than the sweeps, as on another node (its workers start in that dir)
        proc = subprocess.Popen(cmd, env=env, cwd=temp, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if proc.wait(timeout=180) != 0:
            pytest.fail(f"ray start --head failed:\n{(temp / 'ray_start.log').read_text()[-3000:]}")
        yield (temp / "ray_current_cluster").read_text().strip(), crash_dir, auth
    finally:
        # not `ray stop --force`: that ends every Ray process of this user on the machine, other clusters too
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(temp, ignore_errors=True)


def _sweep_and_kill(args, cluster, cwd, run_dir, ray_address=""):
    """``pyrovae sweep ARGS --backend ray`` in a subprocess in ``cwd``, with the cluster's auth and
    RAY_ADDRESS=``ray_address`` (as one sets them for the shell on a cluster node). When the hang run
    stops at step 3, SIGKILL the Ray worker process running it: its pid from the run's sweep_status.json,
    as one would find it on a cluster node. Returns (exit status, stdout, stderr, the pid killed)."""
    _, crash_dir, auth = cluster
    env = {**cli_env(), **auth, "RAY_ADDRESS": ray_address}
    env.pop("RAY_AUTH_TOKEN_PATH", None)
    proc = subprocess.Popen([sys.executable, "-m", "pyrovae.cli", "sweep", *map(str, args), "--backend", "ray"],
                            env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        marker, end = crash_dir / "hanging", time.time() + 120
        while not (marker.exists() and marker.read_text()):
            if proc.poll() is not None or time.time() > end:
                proc.kill()
                raise AssertionError(f"the hang run never started: {proc.communicate()}")
            time.sleep(0.2)
        pid = int(marker.read_text())
        status = json.loads((run_dir / "sweep_status.json").read_text())
        assert status["pid"] == pid and status["status"] == "running", status
        os.kill(pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        proc.kill()
    return proc.returncode, stdout, stderr, pid


def _spec(tmp_path, cluster, objectives):
    (cluster[1] / "hanging").unlink(missing_ok=True)  # the hang run's first attempt hangs
    return write_spec(tmp_path / "spec.yaml", imports=[TOY, str(HERE / "crash_plugin.py")], base=FAST, seeds=[0],
                      objectives=objectives)


def test_a_sweep_on_a_ray_cluster_retries_a_run_whose_worker_was_killed(ray_head, tmp_path):
    spec = _spec(tmp_path, ray_head, [{"objective": "crash-test", "hyperparameters": {"mode": "hang"}},
                                      {"objective": "beta-vae", "hyperparameters": {"beta": 1}}])
    out = tmp_path / "sweep"
    # a relative --out: the runs must land here, not in the dir the head's workers start in
    code, stdout, stderr, killed = _sweep_and_kill([spec, "--out", "sweep", "--address", "auto"], ray_head, tmp_path,
                                                   out / "runs" / HANG, ray_address=ray_head[0])
    assert code == 0, stdout + stderr
    assert f"retrying {HANG} (attempt 1 failed: WorkerCrashedError" in stdout
    rows = {r["name"]: r for r in load_results(out)}
    assert sorted(rows) == ["beta-vae_beta=1_toy-shapes_seed0", HANG]
    for row in rows.values():
        assert row["status"] == "done" and row["error"] is None and row["steps"] == 20, row
        assert isinstance(row["train.loss"], float) and (tmp_path / row["run_dir"] / "checkpoint.pt").is_file()
    assert rows[HANG]["attempts"] == 2 and rows["beta-vae_beta=1_toy-shapes_seed0"]["attempts"] == 1
    assert f"pid {killed}" in (out / "runs" / HANG / "sweep.log").read_text()  # the first attempt's header


def test_without_retries_a_killed_worker_fails_its_run_and_says_so(ray_head, tmp_path):
    spec = _spec(tmp_path, ray_head, [{"objective": "crash-test", "hyperparameters": {"mode": "hang"}}])
    out = tmp_path / "sweep"
    code, stdout, stderr, _ = _sweep_and_kill([spec, "--out", out, "--address", ray_head[0], "--retries", 0],
                                              ray_head, tmp_path, out / "runs" / HANG)
    assert code == 2, stdout + stderr
    (row,) = load_results(out)
    assert row["name"] == HANG and row["status"] == "failed" and row["attempts"] == 1
    assert row["error"].startswith("WorkerCrashedError: The worker died unexpectedly"), row["error"]
    assert f"FAILED {HANG} after 1 attempt(s): WorkerCrashedError" in stdout
    assert "1 of 1 runs failed" in stderr

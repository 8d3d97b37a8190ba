import importlib
import json
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pyrovae.data import ArrayDataset
from pyrovae.errors import PyroVAEError
from pyrovae.plots import plot_run
from pyrovae.train import TrainingDiverged, fit, load_checkpoint, load_run, save_checkpoint
from pyrovae.train.fit import make_optimizer, train_step
from pyrovae.train.rundir import log_records


def toy_images(n=256, seed=0):
    """Binary 8x8 images of a bar at a random row: a dataset a VAE learns in a few hundred steps."""
    rng = np.random.RandomState(seed)
    x = np.zeros((n, 1, 8, 8), dtype=np.float32)
    x[np.arange(n), 0, rng.randint(8, size=n), :] = 1
    return x


def config(out, **kw):
    base = dict(objective="beta-vae", objective_options={"beta": 1.0}, steps=300, batch_size=32, lr=3e-3,
                arch="mlp", latent_dim=2, out=str(out), log_every=25, checkpoint_every=100, evaluate=False,
                plots=False, device="cpu")
    base.update(kw)
    return base


def test_a_cpu_run_without_steps_trains_until_its_time_is_up_as_its_pace_changes(tmp_path, monkeypatch):
    fit_module = importlib.import_module("pyrovae.train.fit")  # the attribute pyrovae.train.fit is the function
    clock, real_step = [0.0], fit_module.train_step

    def step_on_a_virtual_clock(*args, **kwargs):  # 10 ms a step for 100 steps, then 30 ms: a CPU that slows
        clock[0] += 0.01 if clock[0] < 1.0 - 1e-9 else 0.03
        return real_step(*args, **kwargs)

    monkeypatch.setattr(fit_module, "train_step", step_on_a_virtual_clock)
    monkeypatch.setattr(fit_module, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    monkeypatch.setattr(fit_module, "CPU_TRAIN_SECONDS", 2.0)
    run = fit(config(tmp_path, steps=None), dataset=ArrayDataset(toy_images()), progress=False)
    saved = json.loads((tmp_path / "config.json").read_text())
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert run.step == saved["config"]["steps"] == log[-1]["step"]
    # 100 steps in the first second, 33 in the next: the budget follows the pace (fixed at the first steps'
    # pace it would have been 200 steps, 4 s); estimated every 25 steps, it ends within 25 steps of the time
    assert 125 <= run.step <= 150 and abs(clock[0] - 2.0) <= 25 * 0.03
    resumed = fit(config(tmp_path, steps=None), dataset=ArrayDataset(toy_images()), resume=True, progress=False)
    assert resumed.step == run.step  # the recorded budget is the run's: a resume has nothing left to do


def test_short_run_lowers_loss_and_writes_every_artifact(tmp_path):
    run = fit(config(tmp_path), dataset=ArrayDataset(toy_images()), progress=False)
    assert not list(tmp_path.glob("*.png")) and not (tmp_path / "metrics.json").exists()  # fit only trains
    plot_run(run)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(25, 301, 25))
    assert log[-1]["loss"] < 0.5 * log[0]["loss"]
    for key in ("recon", "kl", "kl_per_dim", "beta", "loss"):
        assert key in log[-1]
    assert len(log[-1]["kl_per_dim"]) == 2
    assert np.isclose(log[-1]["loss"], log[-1]["recon"] + log[-1]["kl"], rtol=1e-5)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["config"]["objective_options"] == {"beta": 1.0} and saved["seed"] == 0
    assert {"torch", "pyro", "numpy", "git_rev"} <= set(saved["starts"][0])
    for name in ("reconstructions", "samples", "traversals", "kl_per_dim", "training_curves"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000, name
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 300 == run.step


def _params(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_same_seed_same_parameters_and_existing_run_is_protected(tmp_path):
    data = ArrayDataset(toy_images())
    a = fit(config(tmp_path / "a", steps=30), dataset=data, progress=False)
    b = fit(config(tmp_path / "b", steps=30), dataset=data, progress=False)
    for k, v in _params(a.guide).items():
        assert torch.equal(v, b.guide.state_dict()[k])
    with pytest.raises(PyroVAEError, match="--resume"):
        fit(config(tmp_path / "a", steps=30), dataset=data, progress=False)


def test_resume_after_kill_9_gives_the_parameters_of_an_uninterrupted_run(tmp_path):
    np.save(tmp_path / "data.npy", toy_images())
    steps = 1500
    script = (
        "import numpy as np, sys\n"
        "from pyrovae.data import ArrayDataset\nfrom pyrovae.train import fit\n"
        "cfg = eval(sys.argv[1])\nresume = sys.argv[2] == '1'\n"
        f"fit(cfg, dataset=ArrayDataset(np.load({str(tmp_path / 'data.npy')!r})), resume=resume, progress=False)\n"
    )
    cfg = config(tmp_path / "killed", steps=steps, log_every=10, checkpoint_every=100)
    proc = subprocess.Popen([sys.executable, "-c", script, repr(cfg), "0"])
    log = tmp_path / "killed" / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        records = log_records(log)  # whole lines only: the run is writing the log
        if records and records[-1]["step"] >= 250:  # past two checkpoints, between checkpoints
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at = load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["step"]
    assert 200 <= killed_at < steps

    resumed = subprocess.run([sys.executable, "-c", script, repr(cfg), "1"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    reference = fit(config(tmp_path / "reference", steps=steps, log_every=10, checkpoint_every=100),
                    dataset=ArrayDataset(toy_images()), progress=False)
    final = load_checkpoint(tmp_path / "killed" / "checkpoint.pt")
    assert final["step"] == steps
    for part in ("model", "guide"):
        for k, v in getattr(reference, part).state_dict().items():
            assert torch.equal(final[part][k], v), f"{part}.{k} differs after resume"
    steps_logged = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps_logged == list(range(10, steps + 1, 10)), "log has gaps or repeats after resume"


def test_resume_drops_a_log_line_torn_by_the_kill(tmp_path):
    data = ArrayDataset(toy_images())
    fit(config(tmp_path, steps=20, log_every=10), dataset=data, progress=False)
    with open(tmp_path / "log.jsonl", "a") as log:
        log.write('{"step": 30, "time_s": 0.6, "recon"')  # a kill -9 in the middle of a write
    fit(config(tmp_path, steps=40, log_every=10), dataset=data, progress=False, resume=True)
    steps_logged = [json.loads(line)["step"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert steps_logged == [10, 20, 30, 40]


def test_nan_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    data = ArrayDataset(toy_images())
    fit(config(tmp_path, steps=100), dataset=data, progress=False)
    good = load_checkpoint(tmp_path / "checkpoint.pt")
    with pytest.raises(TrainingDiverged, match="diverged at step 100.*last good checkpoint"):
        _diverge(tmp_path, data)
    after = load_checkpoint(tmp_path / "checkpoint.pt")
    assert after["step"] == good["step"] == 100
    for k, v in good["guide"].items():
        assert torch.equal(after["guide"][k], v)


def _diverge(tmp_path, data):
    """Resume with an objective whose loss turns NaN after the first resumed step."""
    from pyrovae.objectives import OBJECTIVES

    cls = OBJECTIVES["beta-vae"]
    original = cls.loss_from_terms
    cls.loss_from_terms = lambda self, *a: original(self, *a) * float("nan")
    try:
        fit(config(tmp_path, steps=200), dataset=data, progress=False, resume=True)
    finally:
        cls.loss_from_terms = original


def test_checkpoint_is_atomic_and_a_corrupt_one_is_a_clear_error(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"step": 3, "w": torch.ones(2)})
    assert load_checkpoint(path)["step"] == 3
    assert not (tmp_path / "c.pt.tmp").exists()
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(PyroVAEError, match="corrupt"):
        load_checkpoint(path)
    with pytest.raises(PyroVAEError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_resume_refuses_a_changed_config_and_load_run_restores_the_model(tmp_path):
    data = ArrayDataset(toy_images())
    run = fit(config(tmp_path, steps=20), dataset=data, progress=False)
    with pytest.raises(PyroVAEError, match="different latent_dim"):
        fit(config(tmp_path, steps=40, latent_dim=3), dataset=data, progress=False, resume=True)
    np.save(tmp_path / "data.npy", toy_images())
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["config"]["dataset"] = str(tmp_path / "data.npy")  # load_run rebuilds the data from the config
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    loaded = load_run(tmp_path, device="cpu")
    x = torch.as_tensor(toy_images(4))
    assert torch.equal(loaded.guide.representation(x), run.guide.representation(x))


def test_bad_configs_are_clear_errors(tmp_path):
    data = ArrayDataset(toy_images(16))
    for bad, match in [({"objective": "nope"}, "unknown objective"),
                       ({"objective_options": {"beta": -1.0}}, "beta must be >= 0"),
                       ({"latent_dim": 0}, "latent-dim must be a positive integer"),
                       ({"batch_size": 64}, "larger than the dataset"),
                       ({"lr": 0.0}, "lr must be a number > 0")]:
        with pytest.raises(PyroVAEError, match=match):
            fit(config(tmp_path, **bad), dataset=data, progress=False)
    with pytest.raises(PyroVAEError, match="NaN"):
        fit(config(tmp_path), dataset=ArrayDataset(np.full((4, 3), np.nan)), progress=False)
    with pytest.raises(PyroVAEError, match="binary"):
        fit(config(tmp_path, batch_size=2, likelihood="bernoulli"), dataset=ArrayDataset(np.full((4, 1, 8, 8), 0.5)),
            progress=False)


def test_fit_leaves_the_callers_torch_thread_count_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    seen = []
    module = sys.modules[fit.__module__]  # pyrovae.train.fit the module (the package exports the function)
    monkeypatch.setattr(module, "_fit", lambda *args: seen.append(torch.get_num_threads()))
    torch.set_num_threads(1)
    fit({"objective": "vae", "steps": 1, "out": str(tmp_path)})
    assert seen == [2] and torch.get_num_threads() == 1


def test_the_trainer_step_leaves_pyros_param_store_alone_and_trains_as_with_it():
    """The trainer's optimiser holds the parameters, so its step skips pyro.module: no param sites,
    an empty param store, and the same loss and parameters after Adam as a step that registers them."""
    import pyro

    from pyrovae.models import build_vae
    from pyrovae.objectives import make_objective

    x = torch.from_numpy(toy_images(16))
    torch.manual_seed(0)
    reference = build_vae((1, 8, 8), 2, arch="mlp")
    results = []
    for register in (True, False):
        pyro.clear_param_store()
        model, guide = build_vae((1, 8, 8), 2, arch="mlp")
        model.load_state_dict(reference[0].state_dict()), guide.load_state_dict(reference[1].state_dict())
        objective = make_objective("beta-vae", beta=2.0)
        optimizer = make_optimizer((model, guide), 1e-2)
        torch.manual_seed(1)
        if register:  # the same step through the loss directly, where pyro.module runs as usual
            optimizer.zero_grad()
            loss = objective.differentiable_loss(model, guide, x)
            loss.backward()
            optimizer.step()
            loss = float(loss)
            assert len(pyro.get_param_store()) == len(list(model.parameters())) + len(list(guide.parameters()))
        else:
            loss = train_step(model, guide, objective, optimizer, x)
            assert len(pyro.get_param_store()) == 0
        results.append((loss, [p.detach().clone() for p in (*model.parameters(), *guide.parameters())]))
    (loss_a, params_a), (loss_b, params_b) = results
    assert loss_a == loss_b
    for a, b in zip(params_a, params_b):
        torch.testing.assert_close(a, b, rtol=0, atol=0)

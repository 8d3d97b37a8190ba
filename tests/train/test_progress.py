"""Progress: a tqdm bar on a terminal; in a log file one plain line per logged step, no carriage returns."""
import logging
import os
import subprocess
import sys

import numpy as np

from pyrovae.data import ArrayDataset
from pyrovae.train import fit, progress


def _config(out, **kw):
    return dict(objective="vae", steps=40, batch_size=16, lr=1e-2, arch="mlp", latent_dim=2, out=str(out),
                log_every=10, checkpoint_every=100, evaluate=False, plots=False, device="cpu", **kw)


def _data():
    return ArrayDataset((np.random.RandomState(0).rand(64, 1, 4, 4) < 0.4).astype(np.float32))


def test_without_a_terminal_each_logged_step_is_one_log_line_and_no_bar(tmp_path, capfd, caplog):
    caplog.set_level(logging.INFO, logger="pyrovae")
    fit(_config(tmp_path), dataset=_data(), progress=True)
    err = capfd.readouterr().err
    assert "\r" not in err and "it/s" not in err
    lines = [r.getMessage() for r in caplog.records if r.name == progress.__name__]
    assert [line.split(":")[0] for line in lines] == [f"vae step {s}/40" for s in (10, 20, 30, 40)]
    assert all("loss" in line and "kl" in line for line in lines)


def test_on_a_terminal_the_bar_is_drawn_and_nothing_is_logged(tmp_path, capfd, caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="pyrovae")
    monkeypatch.setattr(progress, "_interactive", lambda: True)
    fit(_config(tmp_path), dataset=_data(), progress=True)
    assert "\r" in capfd.readouterr().err
    assert not [r for r in caplog.records if r.name == progress.__name__]


def test_pyrovae_train_into_a_log_file_writes_plain_lines(tmp_path):
    np.save(tmp_path / "data.npy", (np.random.RandomState(0).rand(64, 1, 4, 4) < 0.4).astype(np.float32))
    with open(tmp_path / "train.log", "w") as log:
        done = subprocess.run([sys.executable, "-m", "pyrovae.cli", "train", "--dataset", str(tmp_path / "data.npy"),
                               "--out", str(tmp_path / "run"), "--steps", "30", "--log-every", "10",
                               "--batch-size", "16", "--no-evaluate", "--no-plots", "--device", "cpu",
                               "--precision", "fp32"],  # auto is bf16 on a CPU with native bf16
                              stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    text = (tmp_path / "train.log").read_text()
    assert done.returncode == 0, text
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[0] == "pyrovae: training on cpu in fp32 from step 0"
    assert [line.split(":")[:2] for line in lines[1:-1]] == [["pyrovae", f" beta-vae step {s}/30"] for s in (10, 20, 30)]
    assert lines[-1] == f"run written to {tmp_path / 'run'}"

"""The command line: options, one-line errors with exit status 2, no tracebacks."""
import json
import subprocess
import sys

import numpy as np
import pytest

from pyrovae.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def small_data(tmp_path, values=None, name="data.npy"):
    rng = np.random.RandomState(0)
    x = (rng.rand(64, 1, 8, 8) < 0.3).astype(np.float32) if values is None else values
    np.save(tmp_path / name, x)
    return str(tmp_path / name)


FAST = ["--steps", "4", "--batch-size", "8", "--no-evaluate", "--no-plots", "--no-progress", "--device", "cpu"]


@pytest.mark.parametrize("argv, message", [
    (["--objective", "nope"], "unknown objective 'nope'"),
    (["--beta", "-1"], "beta must be >= 0"),
    (["--latent-dim", "0"], "latent-dim must be a positive integer"),
    (["--batch-size", "1000"], "larger than the dataset"),
    (["--objective", "vae", "--beta", "2"], "--beta does not apply to --objective vae"),
    (["--prior", "nope"], "unknown prior"),
    (["--device", "tpu9"], "unknown device"),
])
def test_bad_options_give_one_line_errors(tmp_path, capsys, argv, message):
    code, _, err = run_cli(capsys, "train", "--dataset", small_data(tmp_path), "--out", str(tmp_path / "run"),
                           *FAST, *argv)
    assert code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_bad_data_give_one_line_errors(tmp_path, capsys):
    cases = [
        (small_data(tmp_path, np.full((16, 1, 8, 8), np.nan, np.float32), "nan.npy"), "NaN", []),
        (small_data(tmp_path, np.full((16, 1, 8, 8), 0.5, np.float32), "half.npy"), "binary",
         ["--likelihood", "bernoulli"]),
        (small_data(tmp_path, np.full((16, 1, 8, 8), 2.0, np.float32), "big.npy"), "[0, 1]",
         ["--likelihood", "continuous-bernoulli"]),
        (str(tmp_path / "missing.npz"), "missing.npz", []),
    ]
    (tmp_path / "corrupt.npz").write_bytes(b"garbage")
    cases.append((str(tmp_path / "corrupt.npz"), "corrupt.npz", []))
    for path, message, extra in cases:
        code, _, err = run_cli(capsys, "train", "--dataset", path, "--out", str(tmp_path / "run"), *FAST, *extra)
        assert code == 2, path
        assert err.count("\n") == 1 and message in err and "Traceback" not in err, err


def test_dsprites_path_errors(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "--path", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "r"), *FAST)
    assert code == 2 and "nope.npz" in err and err.count("\n") == 1
    np.savez(tmp_path / "wrong.npz", imgs=np.zeros((10, 32, 32), np.uint8), latents_classes=np.zeros((10, 6)))
    code, _, err = run_cli(capsys, "train", "--path", str(tmp_path / "wrong.npz"), "--out", str(tmp_path / "r"), *FAST)
    assert code == 2 and "shape" in err and err.count("\n") == 1


def test_corrupt_checkpoint_on_resume_is_a_one_line_error(tmp_path, capsys):
    data, out = small_data(tmp_path), str(tmp_path / "run")
    assert run_cli(capsys, "train", "--dataset", data, "--out", out, *FAST)[0] == 0
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"\x00" * 100)
    code, _, err = run_cli(capsys, "train", "--dataset", data, "--out", out, "--resume", *FAST)
    assert code == 2 and "corrupt" in err and err.count("\n") == 1


def test_train_then_plot_and_evaluate_a_run(tmp_path, capsys):
    data, out = small_data(tmp_path), tmp_path / "run"
    code, stdout, _ = run_cli(capsys, "train", "--dataset", data, "--out", str(out), "--steps", "20",
                              "--batch-size", "16", "--no-progress", "--device", "cpu", "--objective", "beta-vae",
                              "--beta", "2", "--no-evaluate")
    assert code == 0, stdout
    assert json.loads((out / "config.json").read_text())["config"]["objective_options"] == {"beta": 2.0}
    code, stdout, _ = run_cli(capsys, "plot", str(out), "--device", "cpu")
    assert code == 0 and "traversals.png" in stdout
    code, stdout, _ = run_cli(capsys, "evaluate", str(out), "--device", "cpu", "--eval-points", "64")
    assert code == 0, stdout
    assert "active_units" in json.loads((out / "metrics.json").read_text())


def test_the_console_script_runs_without_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pyrovae.cli", "train", "--objective", "nope"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == "pyrovae: error: unknown objective 'nope': choose one of " + \
        done.stderr.split("choose one of ")[1].strip()
    assert "Traceback" not in done.stderr
    help_text = subprocess.run([sys.executable, "-m", "pyrovae.cli", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "train" in help_text.stdout


def test_steps_take_the_names_of_the_literature_budgets(tmp_path, capsys, monkeypatch):
    import pyrovae.experiments.job

    seen = []  # the job's fit is replaced: nothing trains, the parsed config is kept
    monkeypatch.setattr(pyrovae.experiments.job, "fit", lambda config, **kw: seen.append(config) or
                        type("Run", (), {"run_dir": config.out, "config": config}))
    for given, steps in (("study", 300_000), ("thesis", 22_260), ("Thesis", 22_260), ("1500", 1500)):
        assert run_cli(capsys, "train", "--steps", given, "--out", str(tmp_path), "--no-plots", "--no-evaluate")[0] == 0
        assert seen[-1].steps == steps and isinstance(seen[-1].steps, int)
    code, _, err = run_cli(capsys, "train", "--steps", "forever", "--out", str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and "thesis (22,260 steps) or study (300,000)" in err


def test_tensorboard_without_the_extra_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    code, _, err = run_cli(capsys, "train", "--tensorboard", "--dataset", small_data(tmp_path),
                           "--out", str(tmp_path / "run"), *FAST)
    assert code == 2 and err.count("\n") == 1 and "pip install 'pyrovae[tensorboard]'" in err
    assert not (tmp_path / "run").exists()


def test_help_groups_the_objective_options_and_states_the_budgets():
    done = subprocess.run([sys.executable, "-m", "pyrovae.cli", "train", "--help"], capture_output=True, text=True)
    text = " ".join(done.stdout.split())
    assert done.returncode == 0 and "HP_" not in text and "epochs" not in text
    assert "22,260 steps, the thesis budget" in text and "study (300,000 steps" in text
    for section in ("--objective beta-tcvae: options (default): --alpha 1.0, --beta 6.0, --gamma 1.0, "
                    "--estimator mss", "--objective beta-vae: options (default): --beta 4.0",
                    "--objective dip-vae: options (default): --dip-type i, --lambda-od 10.0, --lambda-d auto"):
        assert section in text, section
    assert "--beta BETA β: weight of the whole KL (beta-vae) or of the total correlation only (beta-tcvae) " \
           "(default beta-tcvae: 6.0, beta-vae: 4.0)" in text


def test_resume_takes_the_saved_settings_and_refuses_contradicting_ones(tmp_path, capsys):
    data, out = small_data(tmp_path), str(tmp_path / "run")
    options = ["--no-evaluate", "--no-plots", "--no-progress", "--device", "cpu", "--batch-size", "8"]
    assert run_cli(capsys, "train", "--dataset", data, "--out", out, "--beta", "2", "--latent-dim", "3",
                   "--steps", "4", *options)[0] == 0
    code, _, err = run_cli(capsys, "train", "--out", out, "--resume", "--steps", "6", "--no-progress")
    assert code == 0, err
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert saved["objective_options"] == {"beta": 2.0} and saved["latent_dim"] == 3 and saved["steps"] == 6
    code, _, err = run_cli(capsys, "train", "--out", out, "--resume", "--latent-dim", "5", "--no-progress")
    assert code == 2 and err.count("\n") == 1 and "different latent_dim" in err


def test_digits_train_with_the_default_likelihood(tmp_path, capsys):
    from pyrovae.train import load_run

    code, _, err = run_cli(capsys, "train", "--dataset", "digits", "--out", str(tmp_path / "run"), *FAST)
    assert code == 0, err
    assert type(load_run(tmp_path / "run", device="cpu").model.likelihood).__name__ == "ContinuousBernoulliLikelihood"


def test_train_with_your_own_model_and_guide(tmp_path, capsys):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    pair = ["--model", str(root / "models/laplace_prior.py:make_model"), "--guide", str(root / "guides/flow_guide.py")]
    code, out, _ = run_cli(capsys, "train", "--dataset", small_data(tmp_path), "--out", str(tmp_path / "run"), *FAST,
                           *pair)
    assert code == 0 and "run written to" in out
    code, _, err = run_cli(capsys, "train", "--dataset", small_data(tmp_path), "--out", str(tmp_path / "run2"), *FAST,
                           *pair, "--likelihood", "gaussian")
    assert code == 2 and "--likelihood set(s) the built-in model's likelihood" in err and err.count("\n") == 1

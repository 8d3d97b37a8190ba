"""The docs run: every ```python block of README.md and docs/*.md, and the README's ``pyrovae`` commands
with a tiny budget. Docs that are run cannot rot; a new command in the README must be added below."""
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pyrovae.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def code_blocks(language):
    return [(doc.relative_to(ROOT), i, code) for doc in DOCS
            for i, code in enumerate(re.findall(rf"```{language}\n(.*?)```", doc.read_text(), re.S))]


def readme_commands():
    """Every ``pyrovae ...`` command of the README's bash blocks, as one normalised string each."""
    commands = []
    for _, _, block in code_blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                tokens = shlex.split(part, comments=True)
                if tokens[:1] == ["pyrovae"]:
                    commands.append(" ".join(tokens))
    return commands


@pytest.mark.parametrize("doc, index, code", code_blocks("python"), ids=lambda v: str(v)[:20])
def test_python_blocks_run_without_warnings(doc, index, code, tmp_path):
    """Each block in a fresh interpreter in an empty dir, with every warning an error (the README's
    example once printed torch's "Consider using tensor.detach() first")."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"{doc} block {index}:\n{done.stderr[-3000:]}"


# Each README command -> the arguments run here (with a tiny budget), or None and why it is skipped.
FAST = ["--no-evaluate", "--no-plots", "--no-progress"]
COMMANDS = {
    "pyrovae train": (None, "the default job: eight minutes of training and the metric suite"),
    "pyrovae train --objective beta-vae --beta 4 --steps 3000 --batch-size 64 --lr 1e-4 --latent-dim 10 "
    "--device auto --seed 0 --out runs/b4":
        "train --objective beta-vae --beta 4 --steps 3 --batch-size 64 --lr 1e-4 --latent-dim 10 --device auto "
        "--seed 0 --out runs/b4 --no-evaluate --no-plots --no-progress",
    "pyrovae train --out runs/b4 --resume": "train --out runs/b4 --resume --steps 5 --no-progress",
    "pyrovae plot runs/b4": "plot runs/b4",
    "pyrovae evaluate runs/b4": (None, "the metric suite on a dSprites run takes about a minute even at "
                                       "--eval-points 64; tests/test_cli.py runs pyrovae evaluate on a small run"),
    "pyrovae --help": "--help",
    "pyrovae encode runs/b4 my_images.npz --out codes.npz":
        "encode runs/b4 dsprites --out codes.npz --limit 8 --no-progress",  # runs/b4 reads 64x64 images
    "pyrovae train --model models/conv_vae.py:make_model --guide guides/conv_guide.py:make_guide":
        f"train --model {ROOT}/models/conv_vae.py:make_model --guide {ROOT}/guides/conv_guide.py:make_guide --steps 2 "
        "--batch-size 8 --out runs/pair --no-evaluate --no-plots --no-progress",
    "pyrovae train --dataset digits --prior vamp --guide iaf --likelihood continuous-bernoulli --latent-dim 4 "
    "--steps 2000":
        "train --dataset digits --prior vamp --guide iaf --likelihood continuous-bernoulli --latent-dim 4 --steps 3 "
        "--out runs/digits --no-evaluate --no-plots --no-progress",
    "pyrovae train --dataset my_images.npz --likelihood gaussian --arch mlp":
        "train --dataset my_images.npz --likelihood gaussian --arch mlp --steps 3 --out runs/mine --no-evaluate "
        "--no-plots --no-progress",
    "pyrovae sweep examples/tiny_sweep.yaml --workers 2 --out sweeps/tiny":
        (None, "about a minute; tests/experiments/test_sweep.py runs this spec"),
    "pyrovae report sweeps/tiny": (None, "needs the tiny sweep; tests/experiments/test_report.py writes reports"),
    "pyrovae sweep examples/thesis_table_5_4.yaml --workers 4":
        f"sweep {ROOT}/examples/thesis_table_5_4.yaml --workers 4 --out sweeps/thesis --dry-run",
    "pyrovae sweep examples/thesis_budget_cpu.yaml":
        f"sweep {ROOT}/examples/thesis_budget_cpu.yaml --out sweeps/thesis_budget --dry-run",
    "pyrovae train --precision bf16 --jit":
        "train --precision bf16 --jit --steps 3 --out runs/bf16 --no-evaluate --no-plots --no-progress",
    "pyrovae train --tensorboard":
        "train --tensorboard --steps 3 --out runs/tb --no-evaluate --no-plots --no-progress"
        if importlib.util.find_spec("tensorboard") else (None, "needs the tensorboard extra"),
    **{f"pyrovae train --dataset {name} --path {path} --likelihood continuous-bernoulli":
       (None, "needs the official file; tests/data/test_study_datasets.py trains on a file in its format")
       for name, path in (("shapes3d", "data/3dshapes.h5"), ("mpi3d", "data/mpi3d_toy.npz"),
                          ("smallnorb", "data/smallnorb/"), ("cars3d", "data/cars/"))},
    "pyrovae sweep SPEC.yaml --backend ray --address auto": (None, "needs a Ray cluster and a spec"),
    "pyrovae baselines --dataset dsprites --out baselines": (None, "the full-size table: hours on a GPU"),
    "pyrovae baselines --num-train 1000 --num-test 500 --num-sampled 300 --train-steps 1000 --seeds 0 1":
        (None, "half an hour on a CPU; tests/experiments/test_baselines.py runs the command at small sizes"),
    "pyrovae baselines --run vae=runs/vae-seed0 --run beta_vae=runs/b4 --only ground_truth pca":
        (None, "over a minute even at the smallest sizes; tests/experiments/test_baselines.py covers --run"),
}


def test_every_readme_command_is_run_here_or_skipped_with_a_reason():
    assert sorted(readme_commands()) == sorted(COMMANDS)


def test_readme_commands_run_with_a_tiny_budget(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    rng = np.random.RandomState(0)
    np.savez(tmp_path / "my_images.npz", images=rng.rand(64, 1, 8, 8).astype(np.float32))
    for command in readme_commands():
        argv = COMMANDS[command]
        if isinstance(argv, tuple):
            continue
        try:
            code = main(shlex.split(argv))
        except SystemExit as e:  # --help
            code = e.code
        assert code == 0, f"{command}: {capsys.readouterr().err}"
    assert (tmp_path / "runs" / "b4" / "traversals.png").is_file()
    assert np.load(tmp_path / "codes.npz")["means"].shape == (8, 10)
    log = (tmp_path / "runs" / "b4" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [3, 5]  # trained to 3, resumed to 5
    if importlib.util.find_spec("tensorboard"):
        assert list((tmp_path / "runs" / "tb" / "tensorboard").glob("events.out.tfevents.*"))


def test_public_classes_are_exported_from_their_packages():
    import importlib
    import inspect
    import pkgutil

    for package in ("pyrovae.data", "pyrovae.models", "pyrovae.guides"):
        module = importlib.import_module(package)
        for info in pkgutil.iter_modules(module.__path__):
            if info.name.startswith("_"):
                continue
            sub = importlib.import_module(f"{package}.{info.name}")
            for name, obj in vars(sub).items():
                if inspect.isclass(obj) and obj.__module__ == sub.__name__ and not name.startswith("_") \
                        and not issubclass(obj, Exception):
                    assert getattr(module, name, None) is obj and name in module.__all__, f"{package}.{name}"
    from pyrovae.train import load_run  # noqa: F401


def test_import_pyrovae_data_stays_cheap():
    """The dataset classes load on first use: importing the package pulls in neither scikit-learn nor
    the dSprites renderer."""
    code = ("import sys, pyrovae.data as d; assert not {'sklearn', 'pyrovae.data.dsprites', 'pyrovae.data.digits'} "
            "& set(sys.modules), sorted(m for m in sys.modules if 'sklearn' in m or 'pyrovae.data.' in m); "
            "assert d.Digits.__name__ == 'Digits' and 'pyrovae.data.digits' in sys.modules")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr

"""The user's own Pyro model and guide: the plain-Pyro files of models/ and guides/ train like the built-in
pair, and a pair that misses the protocol gets one line naming what is missing."""
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from pyrovae.data import ArrayDataset
from pyrovae.errors import PyroVAEError
from pyrovae.evaluation import evaluate_run
from pyrovae.factories import factory_spec
from pyrovae.models import UserModel, build_vae
from pyrovae.objectives import make_objective
from pyrovae.plots import plot_run
from pyrovae.train import fit, load_run
from pyrovae.train.fit import make_optimizer, train_step
from pyrovae.utils import seed_everything

ROOT = Path(__file__).resolve().parents[2]
CONV = {"model": str(ROOT / "models/conv_vae.py:make_model"), "guide": str(ROOT / "guides/conv_guide.py:make_guide")}
SMALL = {"model": str(ROOT / "models/laplace_prior.py:make_model"), "guide": str(ROOT / "guides/flow_guide.py")}


def toy_images(n=64, seed=0):
    rng = np.random.RandomState(seed)
    x = np.zeros((n, 1, 8, 8), dtype=np.float32)
    x[np.arange(n), 0, rng.randint(8, size=n), :] = 1
    return x


def config(out, **kw):
    return {"objective": "beta-vae", "objective_options": {"beta": 1.0}, "steps": 6, "batch_size": 16, "lr": 3e-3,
            "latent_dim": 2, "out": str(out), "log_every": 2, "checkpoint_every": 3, "evaluate": False,
            "plots": False, "device": "cpu", **kw}


def test_plain_pyro_conv_vae_trains_to_the_builtin_loss():
    seed_everything(0)
    builtin = build_vae((1, 64, 64), 4, likelihood="bernoulli")
    user = build_vae((1, 64, 64), 4, **CONV)
    with torch.no_grad():  # the same initial weights: the files' networks have the built-in layers, in order
        for a, b in zip(builtin, user):
            assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]
            for p, q in zip(a.parameters(), b.parameters()):
                q.copy_(p)
    x = (torch.rand(8, 1, 64, 64, generator=torch.Generator().manual_seed(1)) < 0.2).float()
    losses = []
    for model, guide in (builtin, user):
        objective, optimizer = make_objective("beta-vae", beta=4.0), make_optimizer((model, guide), 1e-3)
        seed_everything(0)
        losses.append([train_step(model, guide, objective, optimizer, x, validate=step == 0) for step in range(4)])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    assert losses[0][-1] < losses[0][0]


def test_user_pair_checkpoints_resumes_plots_evaluates_and_loads(tmp_path):
    data = ArrayDataset(toy_images())
    straight = fit(config(tmp_path / "a"), dataset=data, progress=False, **SMALL)
    assert isinstance(straight.model, UserModel)
    # resumed from the checkpoint at step 3: the same parameters as the uninterrupted run
    fit(config(tmp_path / "b", steps=3), dataset=data, progress=False, **SMALL)
    resumed = fit(config(tmp_path / "b"), dataset=data, resume=True, progress=False, **SMALL)
    for a, b in ((straight.model, resumed.model), (straight.guide, resumed.guide)):
        for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(p, q), name
    assert set(plot_run(straight)) >= {"reconstructions", "samples", "traversals"}
    scores = evaluate_run(straight, num_train=32, metrics="model,unsupervised", write=False)
    assert np.isfinite(scores["reconstruction"]["nll_per_image"]) and "unsupervised" in scores
    np.save(tmp_path / "toy.npy", toy_images())  # load_run rebuilds the pair and the dataset from config.json
    loaded = load_run(fit(config(tmp_path / "c", steps=2, dataset=str(tmp_path / "toy.npy")), progress=False,
                          **SMALL).run_dir, device="cpu")
    assert isinstance(loaded.model, UserModel) and loaded.config.model == SMALL["model"]


def _write(tmp_path, name, code):
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return str(path)


GUIDE = """
    import pyro, pyro.distributions as dist, torch
    from torch import nn

    class Guide(nn.Module):
        def __init__(self, shape, dim):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 2 * dim))

        def forward(self, x):
            loc, log_scale = self.net(x).chunk(2, -1)
            with pyro.plate("data", x.shape[0]):
                pyro.sample("{site}", {q})

    def make_guide(shape, dim):
        return Guide(shape, dim)
    """
NORMAL = "dist.Normal(loc, log_scale.exp()).to_event(1)"
FLOW = "dist.TransformedDistribution(dist.Normal(loc, log_scale.exp()).to_event(1), [dist.transforms.ExpTransform()])"


@pytest.mark.parametrize("site, q, message", [
    ("code", NORMAL, "has no latent sample site 'z' (its latent sites: code)"),
    ("z", FLOW, "has no representation(x) and the mean of its q(z|x) (TransformedDistribution) is not defined"),
])
def test_a_pair_missing_the_protocol_gets_one_line_naming_what_is_missing(tmp_path, site, q, message):
    guide = _write(tmp_path, "guide.py", GUIDE.replace("{site}", site).replace("{q}", q))
    with pytest.raises(PyroVAEError) as e:
        fit(config(tmp_path / "run"), dataset=ArrayDataset(toy_images()), progress=False, model=SMALL["model"],
            guide=guide)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert "guide.py:make_guide" in str(e.value)


def test_bad_factories_give_one_line_errors(tmp_path):
    bare = _write(tmp_path, "bare.py", GUIDE.replace("{site}", "z").replace(
        "{q}", NORMAL + ' if pyro.param("t", torch.ones(1)) is not None else None'))
    cases = [
        ({"guide": str(tmp_path / "missing.py:make_guide")}, "no file"),
        ({"guide": bare.replace("bare.py", "bare.py:build")}, "bare.py has no function build (it defines: Guide, make_guide)"),
        ({"guide": _write(tmp_path, "broken.py", "import no_such_module\n")}, "failed to import: ModuleNotFoundError"),
        ({"guide": bare}, "declares pyro.param('t')"),
        ({"guide": bare, "prior": "laplace"}, "--prior set(s) the built-in model's prior"),
    ]
    for options, message in cases:
        options = {"model": SMALL["model"], **options}
        with pytest.raises(PyroVAEError) as e:
            fit(config(tmp_path / "run", prior=options.pop("prior", "normal")), dataset=ArrayDataset(toy_images()),
                progress=False, **options)
        assert message in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_an_objective_that_needs_more_refuses_in_one_line(tmp_path):
    with pytest.raises(PyroVAEError, match="beta-tcvae needs a factorised guide"):
        fit(config(tmp_path / "run", objective="beta-tcvae", objective_options={}), dataset=ArrayDataset(toy_images()),
            progress=False, **SMALL)


def test_a_builtin_half_pairs_with_a_user_half(tmp_path):
    run = fit(config(tmp_path / "run", steps=2, arch="mlp"), dataset=ArrayDataset(toy_images()), progress=False,
              guide=SMALL["guide"])
    assert type(run.model).__name__ == "VAEModel" and type(run.guide).__name__ == "UserGuide"


def make_model(data_shape, latent_dim):  # a factory given to fit() as a function
    return build_vae(data_shape, latent_dim, arch="mlp", model=SMALL["model"], guide=SMALL["guide"])[0].module


def test_factory_functions_are_recorded_as_their_file():
    assert factory_spec(make_model, "model") == f"{Path(__file__).resolve()}:make_model"
    with pytest.raises(PyroVAEError, match="top-level function"):
        factory_spec(lambda shape, dim: None, "model")

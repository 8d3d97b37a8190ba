"""Every prior × guide × likelihood trains; the pieces work through fit(), checkpoints and the IWAE
particle plate."""
import itertools

import pyro
import pytest
import torch

from pyrovae.errors import PyroVAEError
from pyrovae.models import GUIDES, LIKELIHOODS, PRIORS, build_vae
from pyrovae.objectives import log_likelihood, make_objective
from pyrovae.train.fit import fit, load_run

# small options keep the 90 combinations fast
SMALL = {"mixture": "mixture:components=3", "vamp": "vamp:components=4", "flow": "flow:hidden=8",
         "iaf": "iaf:hidden=8", "lowrank": "lowrank:rank=2"}


@pytest.fixture(scope="module")
def digits():
    from pyrovae.data.digits import Digits

    x = Digits().observations[:64]
    return {"binary": (x > 0.5).float(), "grey": x}


def _train(prior, guide, likelihood, x, steps=3, latent_dim=3):
    torch.manual_seed(0)
    pyro.clear_param_store()
    model, q = build_vae(x.shape[1:], latent_dim, "mlp", SMALL.get(prior, prior), likelihood, SMALL.get(guide, guide))
    model.likelihood.validate(x)
    objective = make_objective("vae")
    params = list({id(p): p for m in (model, q) for p in m.parameters()}.values())
    before = {id(p): p.detach().clone() for p in params}
    optimizer = torch.optim.Adam(params, lr=1e-2)
    losses = []
    for step in range(steps):
        optimizer.zero_grad()
        with pyro.validation_enabled(step == 0):
            loss = objective.differentiable_loss(model, q, x[step * 16:(step + 1) * 16])
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return model, q, objective, losses, before


@pytest.mark.parametrize("prior, guide, likelihood", list(itertools.product(PRIORS, GUIDES, LIKELIHOODS)))
def test_every_combination_trains(prior, guide, likelihood, digits):
    x = digits["binary" if likelihood == "bernoulli" else "grey"]
    model, q, objective, losses, before = _train(prior, guide, likelihood, x)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert torch.isfinite(objective.terms["kl"]) and torch.isfinite(objective.terms["recon"])
    changed = lambda module: any(not torch.equal(before[id(p)], p) for p in module.parameters())  # noqa: E731
    assert changed(q.encoder) and changed(model.decoder)
    if list(model.prior.parameters()):  # mixture, vamp, flow: the prior learns
        assert changed(model.prior)
    if list(model.likelihood.parameters()):  # gaussian, laplace: the scale learns
        assert changed(model.likelihood)
    with torch.no_grad():
        assert q.representation(x[:5]).shape == (5, 3)
        assert model.sample(2).shape == (2, *x.shape[1:])


def test_kl_path_follows_the_pair(digits):
    """Analytic per-dimension KL for diagonal guides with normal/laplace priors; Monte Carlo otherwise."""
    x = digits["binary"]
    for prior, guide, analytic in [("normal", "diagonal", True), ("laplace", "diagonal", True),
                                   ("student-t", "diagonal", False), ("normal", "lowrank", False),
                                   ("normal", "iaf", False), ("flow", "diagonal", False)]:
        _, _, objective, _, _ = _train(prior, guide, "bernoulli", x, steps=1)
        assert ("kl_per_dim" in objective.terms) is analytic, (prior, guide)


@pytest.mark.parametrize("prior, guide", [("vamp", "iaf"), ("flow", "lowrank"), ("mixture", "iaf")])
def test_importance_sampled_log_likelihood_runs_with_particle_plates(prior, guide, digits):
    x = digits["binary"][:6]
    model, q, _, _, _ = _train(prior, guide, "bernoulli", digits["binary"], steps=1)
    ll = log_likelihood(model, q, x, num_samples=20)
    assert ll.shape == (6,) and torch.isfinite(ll).all()
    iwae = make_objective("iwae", num_samples=3)
    assert torch.isfinite(iwae.differentiable_loss(model, q, x))


def test_fit_checkpoint_and_reload_with_flows(tmp_path):
    run = fit({"objective": "vae", "dataset": "digits", "prior": "flow", "guide": "iaf", "likelihood": "gaussian",
               "latent_dim": 3, "steps": 6, "batch_size": 16, "lr": 1e-3, "device": "cpu", "plots": False,
               "evaluate": False, "out": str(tmp_path / "run"), "log_every": 3}, progress=False)
    x = run.dataset.batch(torch.arange(10))
    loaded = load_run(tmp_path / "run", device="cpu")
    with torch.no_grad():
        assert torch.equal(run.guide.representation(x), loaded.guide.representation(x))
        z = torch.randn(4, 3)
        assert torch.allclose(run.model.prior().log_prob(z), loaded.model.prior().log_prob(z))
        assert torch.equal(run.model.likelihood.log_scale, loaded.model.likelihood.log_scale)


def test_fit_rejects_data_outside_the_likelihood_support(tmp_path):
    config = {"objective": "vae", "dataset": "digits", "likelihood": "bernoulli", "steps": 2, "batch_size": 8,
              "device": "cpu", "plots": False, "evaluate": False, "out": str(tmp_path / "r")}
    with pytest.raises(PyroVAEError, match="binary data.*continuous-bernoulli"):
        fit(config, progress=False)


@pytest.mark.parametrize("prior", ["normal", "vamp"])
def test_flat_vectors_score_one_log_likelihood_per_data_point(prior):
    """Data of shape [B, D] (no channel axis) give a log p(x | z) of shape [B], not [B, B]."""
    pyro.clear_param_store()
    model, q = build_vae((12,), 3, prior=SMALL.get(prior, prior))
    x = torch.bernoulli(torch.full((5, 12), 0.5))
    guide_trace = pyro.poutine.trace(q).get_trace(x)
    trace = pyro.poutine.trace(pyro.poutine.replay(model, trace=guide_trace)).get_trace(x)
    trace.compute_log_prob()
    assert trace.nodes["x"]["log_prob"].shape == (5,)
    assert model.sample(2).shape == (2, 12)
    assert log_likelihood(model, q, x, num_samples=4).shape == (5,)

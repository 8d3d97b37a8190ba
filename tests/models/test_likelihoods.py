"""Likelihoods: supports, validation errors, learned and fixed scales."""
import math

import pytest
import torch

from pyrovae.errors import PyroVAEError
from pyrovae.models import LIKELIHOODS, build_vae
from pyrovae.models.factory import make_component


def _lik(spec):
    return make_component(LIKELIHOODS, "likelihood", spec)


def test_registered_names():
    assert set(LIKELIHOODS) == {"bernoulli", "continuous-bernoulli", "gaussian", "gaussian-fixed", "laplace"}
    for name in LIKELIHOODS:
        assert _lik(name).out_mult == 1


@pytest.mark.parametrize("name, good, bad, message", [
    ("bernoulli", torch.tensor([0.0, 1.0]), torch.tensor([0.0, 0.5]), "binary data"),
    ("continuous-bernoulli", torch.tensor([0.0, 0.3, 1.0]), torch.tensor([0.2, 1.5]), r"data in \[0, 1\]"),
    ("continuous-bernoulli", None, torch.tensor([0.2, float("nan")]), "NaN"),
    ("gaussian", torch.tensor([-3.0, 7.0]), torch.tensor([1.0, float("inf")]), "finite data"),
    ("gaussian-fixed", torch.tensor([-3.0, 7.0]), torch.tensor([float("nan")]), "finite data"),
    ("laplace", torch.tensor([-3.0, 7.0]), torch.tensor([float("-inf")]), "finite data"),
])
def test_validate_accepts_the_support_and_names_the_fix(name, good, bad, message):
    lik = _lik(name)
    if good is not None:
        lik.validate(good)
    with pytest.raises(PyroVAEError, match=message):
        lik.validate(bad)


def test_log_densities_are_the_named_distributions():
    out = torch.tensor([[0.3, -1.2, 2.0]])
    x = torch.tensor([[0.2, 0.9, 0.5]])
    cb = torch.distributions.ContinuousBernoulli(logits=out).log_prob(x).sum()
    assert torch.allclose(_lik("continuous-bernoulli")(out, 1).log_prob(x)[0], cb)
    fixed = _lik("gaussian-fixed:scale=0.2")
    assert torch.allclose(fixed(out, 1).log_prob(x)[0], torch.distributions.Normal(out, 0.2).log_prob(x).sum())
    lap = _lik("laplace:scale=0.5")
    assert torch.allclose(lap(out, 1).log_prob(x)[0], torch.distributions.Laplace(out, 0.5).log_prob(x).sum())
    assert torch.allclose(_lik("continuous-bernoulli").mean(out),
                          torch.distributions.ContinuousBernoulli(logits=out).mean)
    assert torch.equal(_lik("gaussian").mean(out), out)


def test_learned_scale_is_one_global_parameter_and_trains():
    lik = _lik("gaussian:init_scale=2")
    params = dict(lik.named_parameters())
    assert list(params) == ["log_scale"] and params["log_scale"].shape == ()
    assert math.isclose(float(lik.scale.detach()), 2.0, rel_tol=1e-6)
    out, x = torch.zeros(4, 3), 0.05 * torch.randn(4, 3)
    (-lik(out, 1).log_prob(x).sum()).backward()
    assert lik.log_scale.grad > 0  # data much tighter than σ = 2: the likelihood wants a smaller σ
    assert list(_lik("gaussian-fixed").parameters()) == [] and _lik("gaussian-fixed").learned is False
    assert math.isclose(float(_lik("gaussian-fixed").scale), 0.1, rel_tol=1e-6)
    assert list(dict(_lik("laplace").named_parameters())) == ["log_scale"]
    assert list(_lik("laplace:scale=0.3").parameters()) == []


def test_learned_scale_belongs_to_the_model():
    model, _ = build_vae((1, 8, 8), 2, likelihood="gaussian")
    assert "likelihood.log_scale" in dict(model.named_parameters())
    assert "likelihood.log_scale" in model.state_dict()


def test_likelihood_option_errors():
    with pytest.raises(PyroVAEError, match="scale must be a number > 0"):
        _lik("gaussian-fixed:scale=0")
    with pytest.raises(PyroVAEError, match="unknown option.*valid options are scale"):
        _lik("gaussian-fixed:init_scale=1")
    with pytest.raises(PyroVAEError, match="unknown likelihood 'poisson'"):
        _lik("poisson")


def test_auto_picks_the_likelihood_whose_support_holds_the_data():
    from pyrovae.models.likelihoods import likelihood_for

    assert likelihood_for(torch.tensor([[0.0, 1.0], [1.0, 1.0]])) == "bernoulli"
    assert likelihood_for(torch.tensor([[0.0, 0.5], [1.0, 1.0]])) == "continuous-bernoulli"
    assert likelihood_for(torch.tensor([[0.0, 1.5]])) == "gaussian"
    assert likelihood_for(torch.tensor([[-0.1, 0.5]])) == "gaussian"

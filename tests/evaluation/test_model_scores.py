"""Model-level scores against brute-force computations on a one-dimensional latent space."""
import numpy as np
import pyro
import pytest
import torch

from pyrovae.evaluation.model_scores import importance_log_likelihood, kl_per_dimension, reconstruction_error
from pyrovae.metrics import active_units
from pyrovae.models import build_vae


@pytest.fixture()
def pair():
    torch.manual_seed(0)
    pyro.clear_param_store()
    model, guide = build_vae((10,), 1, "mlp")
    x = torch.bernoulli(torch.full((6, 10), 0.3))
    return model, guide, x


def _log_px_by_quadrature(model, x):
    """log p(x) = log ∫ p(x|z) N(z; 0, 1) dz on a fine grid (the latent space is one-dimensional)."""
    z = torch.linspace(-9, 9, 20001).unsqueeze(-1)
    with torch.no_grad():
        out = model.decoder(z)  # [G, 10]
        log_lik = model.likelihood(out.unsqueeze(1), 1).log_prob(x)  # [G, B]
        log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z)  # [G, 1]
    dz = float(z[1] - z[0])
    return (torch.logsumexp(log_lik + log_prior, 0) + np.log(dz)).numpy()


def test_importance_sampled_log_likelihood_matches_quadrature(pair):
    model, guide, x = pair
    torch.manual_seed(1)
    result = importance_log_likelihood(model, guide, x, num_samples=4000)
    exact = _log_px_by_quadrature(model, x)
    assert result["log_likelihood"].shape == (6,) and result["pareto_k"].shape == (6,)
    np.testing.assert_allclose(result["log_likelihood"], exact, atol=0.05)
    assert result["mean_log_likelihood"] == pytest.approx(result["log_likelihood"].mean())
    assert 0.0 <= result["fraction_unreliable"] <= 1.0


def test_pareto_k_flags_a_poor_proposal(pair):
    """A guide far too narrow and off-centre, q(z|x) = N(3, 0.05²), gives heavy-tailed weights: k̂ > 0.7."""
    model, guide, x = pair
    torch.manual_seed(2)
    assert importance_log_likelihood(model, guide, x, num_samples=2000)["fraction_unreliable"] < 1.0
    with torch.no_grad():
        guide.head.weight.zero_()
        guide.head.bias.copy_(torch.tensor([3.0, 2 * np.log(0.05)]))
    result = importance_log_likelihood(model, guide, x, num_samples=2000)
    assert result["fraction_unreliable"] == 1.0, result["pareto_k"]


def test_kl_per_dimension_and_active_units(pair):
    model, guide, x = pair
    with torch.no_grad():
        loc, scale = guide.encode(x)
    expected = (0.5 * (loc**2 + scale**2 - 1) - scale.log()).mean(0).numpy()
    np.testing.assert_allclose(kl_per_dimension(model, guide, x), expected, rtol=1e-5)
    codes = np.column_stack([np.linspace(-1, 1, 50), np.full(50, 3.0), 0.05 * np.sin(np.arange(50))])
    assert active_units(codes) == 1  # variances 0.35, 0, 0.00125
    assert active_units(codes, threshold=0.001) == 2


def test_reconstruction_error_is_the_nll_at_the_posterior_mean(pair):
    model, guide, x = pair
    with torch.no_grad():
        logits = model.decoder(guide.representation(x))
        nll = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        mse = (torch.sigmoid(logits) - x).pow(2).mean()
    scores = reconstruction_error(model, guide, x)
    assert scores["nll_per_image"] == pytest.approx(float(nll.mean()), rel=1e-5)
    assert scores["nll_per_pixel"] == pytest.approx(float(nll.mean()) / 10, rel=1e-5)
    assert scores["mse_per_pixel"] == pytest.approx(float(mse), rel=1e-5)

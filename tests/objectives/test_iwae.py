"""IWAE: L_1 = ELBO ≤ L_K ≤ log p(x), non-decreasing in K, and the importance-sampled log p(x), on a
linear Gaussian model whose log p(x) is known exactly."""
import pyro
import pyro.distributions as dist
import pytest
import torch

from pyrovae.errors import PyroVAEError
from pyrovae.objectives import IWAE, log_likelihood

W = torch.tensor([[1.0, 0.5], [-0.3, 0.8], [0.7, -1.2]], dtype=torch.float64)
SIGMA = 0.6


def model(x):
    with pyro.plate("data", x.shape[0], dim=-1):
        z = pyro.sample("z", dist.Normal(torch.zeros(2, dtype=x.dtype), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z @ W.T, SIGMA).to_event(1), obs=x)


def posterior(x):
    cov = torch.linalg.inv(torch.eye(2, dtype=x.dtype) + W.T @ W / SIGMA ** 2)
    return x @ W @ cov / SIGMA ** 2, cov


def exact_guide(x):
    loc, cov = posterior(x)
    with pyro.plate("data", x.shape[0], dim=-1):
        pyro.sample("z", dist.MultivariateNormal(loc, cov))


def rough_guide(x):
    """A mean-field guide with shifted means: a loose ELBO, so IWAE has room to improve."""
    loc, cov = posterior(x)
    with pyro.plate("data", x.shape[0], dim=-1):
        pyro.sample("z", dist.Normal(loc + 0.4, cov.diagonal().sqrt() * 1.3).to_event(1))


def data(n=16):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(n, 2, generator=g, dtype=torch.float64)
    return z @ W.T + SIGMA * torch.randn(n, 3, generator=g, dtype=torch.float64)


def exact_log_px(x):
    cov = W @ W.T + SIGMA ** 2 * torch.eye(3, dtype=x.dtype)
    return dist.MultivariateNormal(torch.zeros(3, dtype=x.dtype), cov).log_prob(x)


def test_importance_sampled_log_likelihood_is_exact_with_the_true_posterior_and_close_otherwise():
    x = data()
    torch.manual_seed(0)
    exact = exact_log_px(x)
    # with q = p(z|x) every weight is p(x): the estimate is exact for any number of samples
    assert torch.allclose(log_likelihood(model, exact_guide, x, num_samples=3), exact, atol=1e-10)
    # chunked (12 vectorised chunks of 256) with a rough guide: close to log p(x)
    estimate = log_likelihood(model, rough_guide, x, num_samples=3000, max_batch=16 * 256)
    assert estimate.shape == (16,)
    assert float((estimate - exact).abs().max()) < 0.12 and float((estimate - exact).mean().abs()) < 0.03


def test_iwae_bound_is_at_least_the_elbo_and_non_decreasing_in_k_on_average():
    x = data()
    torch.manual_seed(0)
    bounds = {}
    for k in (1, 5, 25):
        objective = IWAE(num_samples=k)
        values = []
        for _ in range(100):
            loss = float(objective.loss(model, rough_guide, x))
            values.append(-loss)
            assert float(objective.terms["iwae"]) == pytest.approx(-loss, rel=1e-6)
        bounds[k] = sum(values) / len(values)
        if k == 1:  # one sample: the bound is the (Monte Carlo) ELBO
            assert float(objective.terms["elbo"]) == pytest.approx(float(objective.terms["iwae"]), rel=1e-9)
    log_px = float(exact_log_px(x).mean())
    assert bounds[1] < bounds[5] < bounds[25] < log_px
    assert log_px - bounds[25] < 0.1 * (log_px - bounds[1])  # and it approaches log p(x)


def test_iwae_refuses_bad_sample_counts():
    for bad in (0, -1, 2.5, "x"):
        with pytest.raises(PyroVAEError, match="num_samples"):
            IWAE(num_samples=bad)
    with pytest.raises(PyroVAEError, match="contradicts"):
        IWAE(num_samples=5, num_particles=3)
    with pytest.raises(PyroVAEError, match="vectorize_particles"):
        IWAE(num_samples=5, vectorize_particles=False)

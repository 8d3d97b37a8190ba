"""β-TCVAE's minibatch estimators against brute force, and its total correlation on known Gaussians."""
import itertools
import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch

from pyrovae.errors import PyroVAEError
from pyrovae.objectives import BetaTCVAE
from pyrovae.objectives.beta_tcvae import (
    aggregate_log_densities,
    log_density_matrix,
    log_weight_matrix,
    tc_decomposition,
)


def normal_logpdf(z, m, s):
    return -0.5 * ((z - m) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)


def logsumexp(a, axis):
    top = a.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(a - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def gaussian_batch(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    loc = torch.randn(n, d, generator=g, dtype=torch.float64)
    scale = 0.3 + torch.rand(n, d, generator=g, dtype=torch.float64)
    z = loc + scale * torch.randn(n, d, generator=g, dtype=torch.float64)
    return loc, scale, z


def test_mss_weights_rows_are_unbiased_mixture_weights():
    n, b = 50, 5
    w = log_weight_matrix(b, n, "mss", dtype=torch.float64).exp()
    assert torch.allclose(w.diagonal(), torch.full((b,), 1 / n, dtype=torch.float64))  # own point: 1/N
    off = w[~torch.eye(b, dtype=torch.bool)]
    assert torch.allclose(off, torch.full_like(off, (n - 1) / (n * (b - 1))))
    assert torch.allclose(w.sum(1), torch.ones(b, dtype=torch.float64))
    assert torch.allclose(log_weight_matrix(b, n, "mws").exp(), torch.full((b, b), 1 / (n * b)))


def test_mss_with_the_whole_dataset_as_batch_is_the_exact_mixture_density():
    n, d = 7, 3
    loc, scale, z = gaussian_batch(n, d)
    log_q = log_density_matrix(dist.Normal(loc, scale), z)
    log_qz, log_qz_marg = aggregate_log_densities(log_q, log_weight_matrix(n, n, "mss", dtype=torch.float64))
    L, S, Z = loc.numpy(), scale.numpy(), z.numpy()
    # brute force: q(z_i) = (1/N) Σ_n Π_d N(z_id; μ_nd, σ_nd), q(z_id) = (1/N) Σ_n N(z_id; μ_nd, σ_nd)
    exact = np.array([np.log(np.mean([np.exp(normal_logpdf(Z[i], L[m], S[m]).sum()) for m in range(n)]))
                      for i in range(n)])
    exact_marg = np.array([[np.log(np.mean([np.exp(normal_logpdf(Z[i, k], L[m, k], S[m, k])) for m in range(n)]))
                            for k in range(d)] for i in range(n)])
    np.testing.assert_allclose(log_qz.numpy(), exact, rtol=0, atol=1e-10)
    np.testing.assert_allclose(log_qz_marg.numpy(), exact_marg, rtol=0, atol=1e-10)
    # MWS (Chen et al. §4.1) weighs every pair 1/(N·B): with N = B it is the mixture density minus log N,
    # for the joint and for every marginal, so its TC is off by exactly +(D − 1)·log N
    mws, mws_marg = aggregate_log_densities(log_q, log_weight_matrix(n, n, "mws", dtype=torch.float64))
    np.testing.assert_allclose(mws.numpy(), exact - np.log(n), atol=1e-10)
    np.testing.assert_allclose(mws_marg.numpy(), exact_marg - np.log(n), atol=1e-10)
    log_p = dist.Normal(0.0, 1.0).log_prob(z)
    _, tc_mss, _ = tc_decomposition(log_q, log_weight_matrix(n, n, "mss", dtype=torch.float64), log_p)
    _, tc_mws, _ = tc_decomposition(log_q, log_weight_matrix(n, n, "mws", dtype=torch.float64), log_p)
    np.testing.assert_allclose((tc_mws - tc_mss).numpy(), (d - 1) * np.log(n), atol=1e-10)


def test_mws_and_mss_match_their_formulas_when_the_batch_is_a_subset():
    n_data, b, d = 40, 5, 2
    loc, scale, z = gaussian_batch(b, d, seed=1)
    log_q = log_density_matrix(dist.Normal(loc, scale), z)
    L, S, Z = loc.numpy(), scale.numpy(), z.numpy()
    pair = np.array([[normal_logpdf(Z[i], L[j], S[j]) for j in range(b)] for i in range(b)])  # [i, j, d]
    mws, mws_marg = aggregate_log_densities(log_q, log_weight_matrix(b, n_data, "mws", dtype=torch.float64))
    np.testing.assert_allclose(mws.numpy(), logsumexp(pair.sum(-1), 1) - np.log(n_data * b), atol=1e-10)
    np.testing.assert_allclose(mws_marg.numpy(), logsumexp(pair, 1) - np.log(n_data * b), atol=1e-10)
    mss, mss_marg = aggregate_log_densities(log_q, log_weight_matrix(b, n_data, "mss", dtype=torch.float64))
    q = np.exp(pair)
    own = np.eye(b)[:, :, None]
    w = own / n_data + (1 - own) * (n_data - 1) / (n_data * (b - 1))  # weights once per density
    np.testing.assert_allclose(mss.numpy(), np.log((w[..., 0] * q.prod(-1)).sum(1)), atol=1e-10)
    np.testing.assert_allclose(mss_marg.numpy(), np.log((w * q).sum(1)), atol=1e-10)


def test_mss_is_unbiased_for_q_z_over_all_batches_in_every_row():
    """For each row i: the code drawn from x_0 sits at position i and the other positions hold every
    ordered choice of other points (drawn without replacement); the mean of q̂(z) over those batches is
    q(z), exactly. Row 0 alone would pass the widely copied matrix that puts 1/N into column 0."""
    n_data, b, d = 6, 3, 2
    loc, scale, _ = gaussian_batch(n_data, d, seed=2)
    z0 = torch.tensor([0.3, -0.7], dtype=torch.float64)
    exact = dist.Normal(loc, scale).log_prob(z0).sum(-1).exp().mean()
    log_w = log_weight_matrix(b, n_data, "mss", dtype=torch.float64)
    for row in range(b):
        estimates = []
        for others in itertools.permutations(range(1, n_data), b - 1):
            idx = [*others[:row], 0, *others[row:]]
            z = z0.expand(b, d)  # only row `row` (the code drawn from x_0) is read below
            log_qz, _ = aggregate_log_densities(log_density_matrix(dist.Normal(loc[idx], scale[idx]), z), log_w)
            estimates.append(log_qz[row].exp())
        assert torch.allclose(torch.stack(estimates).mean(), exact, rtol=1e-12), f"row {row}"


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_mi_plus_tc_plus_dimensionwise_kl_is_the_average_kl_by_brute_force(estimator):
    """Discrete codes z ∈ {0,1}^3 and 4 data points: every expectation is a finite sum.

    The 'dataset' handed to the estimator is the list of all (n, z) pairs; data point s has posterior
    q(·|x_{n_s}), so the uniform mixture over it is q(z) = (1/N) Σ_n q(z|x_n), and MSS with the whole
    list as batch must reproduce each term of the decomposition exactly."""
    g = torch.Generator().manual_seed(3)
    n, d = 4, 3
    probs = torch.rand(n, d, generator=g, dtype=torch.float64) * 0.9 + 0.05
    prior = torch.tensor([0.5, 0.3, 0.7], dtype=torch.float64)
    codes = torch.tensor(list(itertools.product([0.0, 1.0], repeat=d)), dtype=torch.float64)  # [8, D]
    pairs = [(i, c) for i in range(n) for c in range(len(codes))]
    s = len(pairs)
    post = probs[[i for i, _ in pairs]]  # [S, D]
    z = codes[[c for _, c in pairs]]  # [S, D]
    log_q = log_density_matrix(dist.Bernoulli(probs=post), z)
    log_p = dist.Bernoulli(probs=prior).log_prob(z)
    mi, tc, dwkl = tc_decomposition(log_q, log_weight_matrix(s, s, estimator, dtype=torch.float64), log_p)
    weight = dist.Bernoulli(probs=post).log_prob(z).sum(-1).exp() / n  # p(n) q(z|x_n)
    expect = lambda t: float((weight * t).sum())  # noqa: E731

    # brute force with plain numpy sums
    P, C, pr = probs.numpy(), codes.numpy(), prior.numpy()
    q_cond = np.array([[np.prod(np.where(C[c] == 1, P[i], 1 - P[i])) for c in range(len(C))] for i in range(n)])
    q_z = q_cond.mean(0)
    q_marg = np.array([[np.mean([P[i, k] if C[c, k] else 1 - P[i, k] for i in range(n)]) for k in range(d)]
                       for c in range(len(C))])
    p_marg = np.where(C == 1, pr, 1 - pr)
    avg_kl = np.mean([(q_cond[i] * (np.log(q_cond[i]) - np.log(p_marg).sum(1))).sum() for i in range(n)])
    true_mi = np.mean([(q_cond[i] * (np.log(q_cond[i]) - np.log(q_z))).sum() for i in range(n)])
    true_tc = (q_z * (np.log(q_z) - np.log(q_marg).sum(1))).sum()
    true_dwkl = (q_z * (np.log(q_marg) - np.log(p_marg)).sum(1)).sum()
    assert true_mi + true_tc + true_dwkl == pytest.approx(avg_kl, abs=1e-12)  # the identity itself
    assert expect(mi) + expect(tc) + expect(dwkl) == pytest.approx(avg_kl, abs=1e-10)  # any weights
    if estimator == "mss":
        assert expect(mi) == pytest.approx(true_mi, abs=1e-10)
        assert expect(tc) == pytest.approx(true_tc, abs=1e-10)
        assert expect(dwkl) == pytest.approx(true_dwkl, abs=1e-10)
    else:  # MWS: offsets log S, (D−1) log S, −D log S with the whole list as batch
        assert expect(tc) == pytest.approx(true_tc + (d - 1) * math.log(s), abs=1e-10)


def _index_model_and_guide(locs, scale):
    """A VAE-shaped pair over a dataset of indices: q(z|x_n) = N(locs[n], scale² I), p(z) = N(0, I)."""

    def model(idx):
        with pyro.plate("data", idx.shape[0], dim=-1):
            pyro.sample("z", dist.Normal(torch.zeros(locs.shape[1]), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(0.0, 1.0), obs=torch.zeros(idx.shape[0]))

    def guide(idx):
        with pyro.plate("data", idx.shape[0], dim=-1):
            pyro.sample("z", dist.Normal(locs[idx], scale).to_event(1))

    return model, guide


def test_beta_tcvae_tc_of_correlated_gaussian_codes_is_minus_half_log_det_r():
    """Codes of a dataset whose aggregate posterior is ≈ N(0, R): TC(q(z)) = −½ log det R."""
    torch.manual_seed(0)
    r = torch.tensor([[1.0, 0.6, 0.3], [0.6, 1.0, 0.2], [0.3, 0.2, 1.0]])
    s2 = 0.3  # posterior variance; the means carry the rest of R
    n_data, b = 20000, 1500
    locs = torch.distributions.MultivariateNormal(torch.zeros(3), r - s2 * torch.eye(3)).sample((n_data,))
    model, guide = _index_model_and_guide(locs, s2 ** 0.5)
    objective = BetaTCVAE(estimator="mss")
    objective.dataset_size = n_data
    tcs = []
    for _ in range(3):
        objective.loss(model, guide, torch.randperm(n_data)[:b])
        tcs.append(float(objective.terms["tc"]))
        terms = objective.terms
        assert float(terms["mi"] + terms["tc"] + terms["dwkl"]) == pytest.approx(float(terms["kl"]), abs=0.15)
    true_tc = -0.5 * math.log(torch.linalg.det(r))
    assert np.mean(tcs) == pytest.approx(true_tc, abs=0.04)


def test_beta_tcvae_needs_the_dataset_size_and_a_large_enough_one():
    model, guide = _index_model_and_guide(torch.zeros(10, 2), 1.0)
    objective = BetaTCVAE()
    with pytest.raises(PyroVAEError, match="dataset size"):
        objective.loss(model, guide, torch.arange(5))
    objective.dataset_size = 3
    with pytest.raises(PyroVAEError, match="smaller than the batch"):
        objective.loss(model, guide, torch.arange(5))

"""Chen et al.'s MIG against the exact mutual information of a linear-Gaussian posterior (by quadrature),
and its entropy estimator against brute force."""
import functools

import numpy as np
import pytest
import torch

from pyrovae.errors import PyroVAEError
from pyrovae.evaluation import chen_mig
from pyrovae.guides.encoders import MLPEncoder
from pyrovae.guides.flows import IAFGuide
from pyrovae.metrics import chen_mutual_info_gap, mutual_info_gap
from pyrovae.metrics.chen_mig import entropy, gaussian_mutual_info

# Two factors v1 (4 values) and v2 (3 values), every combination repeated REPEATS times; q(z | x) is
# Gaussian with mean MEANS(v1, v2) and standard deviation SCALES per dimension.
SIZES, REPEATS = (4, 3), 150
SCALES = np.array([0.4, 0.5, 1.0])


def means(v1, v2):
    return np.stack([1.0 * v1, 1.0 * v2 + 0.3 * v1, 0.0 * v1], axis=-1)  # z2 is pure noise


def grid():
    v = np.stack(np.meshgrid(np.arange(SIZES[0]), np.arange(SIZES[1]), indexing="ij"), -1).reshape(-1, 2)
    return np.repeat(v, REPEATS, axis=0)


def mixture_entropy(centres, scale):
    """H of 1/M Σ_m N(centres[m], scale²) by the trapezoid rule on a fine grid (error ≪ 1e-6)."""
    z = np.linspace(centres.min() - 12 * scale, centres.max() + 12 * scale, 20_001)
    p = np.exp(-0.5 * ((z[:, None] - centres) / scale) ** 2).mean(1) / (scale * np.sqrt(2 * np.pi))
    return -np.trapezoid(p * np.log(np.maximum(p, 1e-300)), z)


@functools.lru_cache(maxsize=None)
def exact_mutual_info():
    """I(z_j; v_k) [3, 2] under the uniform grid: H(z_j) − mean over v of H(z_j | v_k = v)."""
    v = grid()[::REPEATS]
    mu = means(v[:, 0], v[:, 1])
    mi = np.zeros((3, 2))
    for j in range(3):
        marginal = mixture_entropy(mu[:, j], SCALES[j])
        for k in range(2):
            conditional = np.mean([mixture_entropy(mu[v[:, k] == value, j], SCALES[j]) for value in range(SIZES[k])])
            mi[j, k] = marginal - conditional
    return mi


def test_estimate_is_within_monte_carlo_error_of_the_exact_mutual_information():
    v = grid()
    locs, scales = means(v[:, 0], v[:, 1]), np.broadcast_to(SCALES, (len(v), 3))
    exact = exact_mutual_info()
    assert exact[0, 0] > 0.5 and exact[1, 1] > 0.5 and exact[1, 0] > 0.05  # informative, and z1 mixes both
    assert np.allclose(exact[2], 0) and np.isclose(exact[0, 1], 0)  # z2 and (z0, v2) carry nothing
    out = gaussian_mutual_info(locs, scales, v, random_state=0)
    assert out["standard_error"].max() < 0.03  # the check below is sharp
    # where the exact value is 0 by symmetry, the estimate is exactly 0 too (same samples, same mixture)
    assert np.all(np.abs(out["mutual_info"] - exact) <= 4 * out["standard_error"] + 1e-12)
    np.testing.assert_allclose(out["factor_entropy"], np.log(SIZES))
    # the MIG: (top1 − top2) / log |V_k|, averaged over the two factors
    top = np.sort(np.maximum(exact, 0), axis=0)[::-1]
    exact_mig = np.mean((top[0] - top[1]) / np.log(SIZES))
    result = chen_mutual_info_gap(locs, scales, v, random_state=1)
    assert abs(result["mig"] - exact_mig) < 4 * result["standard_error"] and result["standard_error"] < 0.02
    assert result["mig"] == mutual_info_gap(locs, v, estimator="chen", scales=scales, random_state=1)


def test_a_wrong_normalisation_would_fail():
    """The estimator's error bars are tight enough to tell the mixture's log-mean-exp from a log-sum-exp
    (a log N offset) or from the posterior's own entropy (no mixing): both leave the tolerance."""
    v = grid()
    locs, scales = means(v[:, 0], v[:, 1]), np.broadcast_to(SCALES, (len(v), 3))
    samples = locs + scales * np.random.RandomState(0).standard_normal(locs.shape)
    h, se = entropy(samples, locs, scales)
    exact = [mixture_entropy(locs[::REPEATS, j], SCALES[j]) for j in range(3)]
    np.testing.assert_array_less(np.abs(h - exact), 4 * se)
    own = 0.5 * np.log(2 * np.pi * np.e * SCALES ** 2)  # H(z_j | x)
    assert np.all(np.abs(h[:2] - own[:2]) > 10 * se[:2])


def test_entropy_matches_brute_force():
    rng = np.random.RandomState(3)
    locs, scales, samples = rng.randn(7, 2), rng.rand(7, 2) + 0.2, rng.randn(5, 2)
    brute = np.zeros(2)
    for j in range(2):
        for z in samples[:, j]:
            density = np.mean(np.exp(-0.5 * ((z - locs[:, j]) / scales[:, j]) ** 2) / (scales[:, j] * np.sqrt(2 * np.pi)))
            brute[j] -= np.log(density) / len(samples)
    np.testing.assert_allclose(entropy(samples, locs, scales, chunk_elements=10)[0], brute, rtol=1e-6)


def test_subsampled_entropies_stay_within_their_larger_error():
    v = grid()
    locs, scales = means(v[:, 0], v[:, 1]), np.broadcast_to(SCALES, (len(v), 3))
    full = gaussian_mutual_info(locs, scales, v, num_samples=10_000, random_state=0)
    sub = gaussian_mutual_info(locs, scales, v, num_samples=500, random_state=0)
    assert np.all(sub["standard_error"] > full["standard_error"])
    assert np.all(np.abs(sub["mutual_info"] - exact_mutual_info()) <= 4 * sub["standard_error"] + 1e-12)


@pytest.mark.parametrize("kwargs, message", [
    ({"estimator": "chen"}, "needs scales"),
    ({"estimator": "binned"}, "unknown MIG estimator"),
    ({"scales": np.ones((6, 2))}, "only used by estimator='chen'"),
    ({"estimator": "chen", "scales": -np.ones((6, 2))}, "scales must be > 0"),
    ({"estimator": "chen", "scales": np.ones((6, 3))}, "one standard deviation per mean"),
])
def test_bad_input_is_a_one_line_error(kwargs, message):
    codes, factors = np.random.RandomState(0).randn(6, 2), np.array([[0], [1], [0], [1], [0], [1]])
    with pytest.raises(PyroVAEError, match=message):
        mutual_info_gap(codes, factors, **kwargs)


class FactorGrid:
    """The grid above as a ground-truth dataset whose observations are the factor classes themselves."""

    factor_names, factor_sizes = ("v1", "v2"), SIZES

    def __len__(self):
        return len(grid())

    def index_to_factors(self, index):
        return grid()[index]

    def batch(self, indices):
        return torch.as_tensor(grid()[indices.numpy()], dtype=torch.float32)


def linear_gaussian_guide():
    """A pyrovae DiagonalGaussianGuide whose q(z | x) is N(means(v1, v2), SCALES²) for x = (v1, v2)."""
    from torch import nn

    from pyrovae.guides.gaussian import DiagonalGaussianGuide

    class Identity(nn.Identity):
        out_features = 2

    guide = DiagonalGaussianGuide(Identity(), latent_dim=3)
    with torch.no_grad():
        guide.head.weight.zero_()
        guide.head.weight[0, 0] = guide.head.weight[1, 1] = 1.0
        guide.head.weight[1, 0] = 0.3
        guide.head.bias.copy_(torch.cat([torch.zeros(3), torch.log(torch.tensor(SCALES) ** 2)]))
    return guide


def test_the_evaluation_layer_reads_q_from_the_guide_over_the_whole_dataset():
    result = chen_mig(linear_gaussian_guide(), FactorGrid(), num_points="all", seed=2)
    top = np.sort(exact_mutual_info(), axis=0)[::-1]
    exact = (top[0] - top[1]) / np.log(SIZES)
    assert result["num_points"] == len(grid()) and result["points"] == "whole dataset"
    assert abs(result["mig"] - exact.mean()) < 4 * result["standard_error"] < 0.08
    np.testing.assert_allclose([result["gaps"]["v1"], result["gaps"]["v2"]], exact, atol=0.1)


def test_the_evaluation_layer_refuses_a_guide_without_closed_form_marginals():
    with pytest.raises(PyroVAEError, match="--guide diagonal or lowrank"):
        chen_mig(IAFGuide(MLPEncoder((2,)), latent_dim=2), FactorGrid())

"""Helpers of the metric tests: a ground-truth dataset whose observations are the factor vectors
themselves, and the noise-free representations of the reference fixtures."""
import numpy as np


class FactorGrid:
    """Ground-truth data on the grid ``factor_sizes``: ``sample_factors(n, rs)`` draws
    ``rs.randint(size, size=n)`` per factor in order (as dSprites in disentanglement_lib) and the
    observation of a factor vector is the vector itself (float)."""

    def __init__(self, factor_sizes):
        self.factor_sizes = [int(s) for s in factor_sizes]

    def sample_factors(self, num, random_state):
        return np.stack([random_state.randint(s, size=num) for s in self.factor_sizes], axis=1)

    def sample_observations_from_factors(self, factors, random_state):
        return np.asarray(factors, dtype=np.float64)


def standardize_factors(factors, factor_sizes):
    """The fixtures' noise-free code of a factor grid: each factor mapped to zero mean and unit variance
    of the uniform distribution of width K, (v − (K − 1)/2) · √12 / K."""
    K = np.asarray(factor_sizes, dtype=np.float64)
    return (np.asarray(factors, dtype=np.float64) - (K - 1) / 2) * np.sqrt(12) / K


def fixture_rotation():
    """The orthogonal matrix of the 'rotated' fixture: Q of the QR decomposition of
    ``RandomState(1).randn(10, 10)`` (recovered from the fixtures; see test_reference_values.py)."""
    return np.linalg.qr(np.random.RandomState(1).randn(10, 10))[0]


def representations(factor_sizes):
    """Noise-free representations of the three fixtures (metrics_reference.json "representations")."""
    Q = fixture_rotation()

    def perfect(obs):
        return np.concatenate([standardize_factors(obs, factor_sizes), np.zeros((len(obs), 5))], axis=1)

    return {"perfect": perfect, "rotated": lambda obs: perfect(obs) @ Q,
            "random": lambda obs: np.zeros((len(obs), 10))}

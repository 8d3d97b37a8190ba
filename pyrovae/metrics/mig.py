"""Mutual Information Gap (MIG).

Chen, Li, Grosse & Duvenaud (2018), "Isolating Sources of Disentanglement in Variational
Autoencoders", NeurIPS. Study variant of Locatello et al. (2019) (disentanglement_lib key
``discrete_mig``).

Each code dimension z_i is discretized into ``num_bins`` equal-width histogram bins; with
m[i, j] = I(z_i; v_j) the plug-in mutual information in nats and H(v_j) the factor entropy,

    MIG = 1/K Σ_j ( m[(1), j] − m[(2), j] ) / H(v_j),

where m[(1), j] ≥ m[(2), j] are the largest and second-largest entries of column j.

Constant factors: a factor with one value has H(v_j) = 0 and I(z_i; v_j) = 0, so its gap is 0/0. The
reference divides anyway (NaN); here such factors are left out of the mean (they carry no information
to be disentangled), and if every factor is constant :class:`~pyrovae.errors.PyroVAEError` is raised.

``estimator="chen"`` computes Chen et al.'s own estimate instead (:mod:`~pyrovae.metrics.chen_mig`): the
codes are then the means of a Gaussian q(z | x) and ``scales`` its standard deviations, and I(z_i; v_j)
is estimated from q(z | x) without binning.
"""
import numpy as np

from ..errors import PyroVAEError
from ._utils import (
    check_num_bins,
    check_pair,
    discrete_entropy,
    discrete_mutual_info,
    histogram_discretize,
    normalised_gaps,
    varying_factors,
)
from .chen_mig import chen_mutual_info_gap


def mig_matrix(codes, factors, num_bins=20):
    """(MI matrix [D, K], factor entropies [K]) of validated codes and factors, in nats."""
    m = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)
    return m, discrete_entropy(factors)


def mutual_info_gap(codes, factors, num_bins=20, estimator="discrete", scales=None, num_samples=10_000,
                    random_state=0):
    """MIG of ``codes`` [N, D] for discrete ``factors`` [N, K] (see the module docstring).

    ``estimator="discrete"`` (default, the study's): histogram MI of the codes in ``num_bins`` bins.
    ``estimator="chen"``: Chen et al.'s estimate from Gaussian q(z | x) = N(codes, scales²), with
    ``num_samples`` Monte Carlo samples per entropy and ``random_state`` (see
    :func:`~pyrovae.metrics.chen_mig.chen_mutual_info_gap`, which also returns the per-factor gaps and the
    Monte Carlo error).

    Returns a float in [0, 1]. Needs at least 2 code dimensions (a gap needs a runner-up).
    """
    if estimator == "chen":
        if scales is None:
            raise PyroVAEError("mutual_info_gap(estimator='chen') needs scales: the standard deviations of q(z|x) "
                               "beside the means given as codes")
        return chen_mutual_info_gap(codes, scales, factors, num_samples, random_state)["mig"]
    if estimator != "discrete":
        raise PyroVAEError(f"unknown MIG estimator {estimator!r}: choose 'discrete' (the study's) or 'chen'")
    if scales is not None:
        raise PyroVAEError("scales are only used by estimator='chen'; the discrete MIG reads the codes alone")
    codes, factors = check_pair(codes, factors)
    num_bins = check_num_bins(num_bins, codes.shape[0])
    if codes.shape[1] < 2:
        raise PyroVAEError("mutual_info_gap needs at least 2 code dimensions: the gap is between the best "
                           "and the second-best code")
    varying = varying_factors(factors, "mutual_info_gap")
    m, entropy = mig_matrix(codes, factors[:, varying], num_bins)
    return float(np.mean(normalised_gaps(m, entropy)))

"""The Mutual Information Gap as Chen et al. (2018) estimate it: from the encoder's distribution q(z | x),
not from binned codes.

Chen, Li, Grosse & Duvenaud (2018), "Isolating Sources of Disentanglement in Variational Autoencoders",
NeurIPS, Section 5 and their code (``elbo_decomposition.estimate_entropies``,
``disentanglement_metrics.mutual_info_metric_shapes``). Here the method is reimplemented for Gaussian
marginals q(z_j | x_n) = N(locs[n, j], scales[n, j]²) given as arrays.

The data are N points x_n with factor classes v_n, each weighted 1/N (the whole dataset, or a stated
subsample of it). With q(z_j) = 1/N Σ_n q(z_j | x_n), the aggregate posterior, and
q(z_j | v_k = v) = 1/|G| Σ_{n ∈ G} q(z_j | x_n) over the group G of points with v_nk = v:

    I(z_j; v_k) = H(z_j) − H(z_j | v_k),    H(z_j | v_k) = Σ_v p(v) H(z_j | v_k = v),  p(v) = |G| / N.

Each entropy is the Monte Carlo average of −log q(·) over samples z_j ~ q(z_j | x_n), one per point of
the group (or ``num_samples`` of them chosen at random when the group is larger; Chen et al. use 10,000),
where log q is the log-mean-exp of the Gaussian log densities over *every* point of the group — the
stratified estimator of their code. The MIG is then

    MIG = 1/K Σ_k (I(z_(1); v_k) − I(z_(2); v_k)) / H(v_k)

with I clipped at 0 before sorting, as they do, and H(v_k) the factor's entropy over the points
(log |V_k| on a full factor grid, which is what they divide by). Factors with one value are left out, as
in :func:`~pyrovae.metrics.mig.mutual_info_gap`. (Chen et al.'s dSprites number also leaves the shape
factor out; pass ``factors[:, 1:]`` to reproduce that.)

Cost: each entropy evaluates S × (group size) × D Gaussian densities (float32, about 3 ns each on one CPU
core): well under a second for 2,000 points, about 13 s for 10,000 (D = 10), and some 4e11 densities —
about 20 minutes by that rate — for Chen et al.'s protocol on the whole of dSprites.

The estimate belongs to the N points given: on a subsample, q(z_j) and q(z_j | v_k) are mixtures over
fewer posteriors, which changes the mutual information itself, not only its Monte Carlo error (on a
synthetic dSprites-like posterior, 2,000 and 10,000 points gave 0.32 and 0.35). Compare numbers at the same
point count; Chen et al. use the whole dataset.

Monte Carlo error: when every point is a sample (N ≤ ``num_samples``), each point's sample enters
H(z_j) and the H(z_j | v_k = v) of its own group with weight 1/N, so I(z_j; v_k) is the mean over points
of log q(z_j | v_k) − log q(z_j) at the same sample, and its standard error is that mean's. With
subsampled groups it is √(se(H(z_j))² + Σ_v p(v)² se(H(z_j | v))²), which treats the entropies as
independent (they are positively correlated, so this overstates the error of their difference).
"""
import numpy as np

from ..errors import PyroVAEError
from ..validation import check_int
from ._utils import check_codes, check_factors, check_random_state, normalised_gaps, varying_factors

LOG_2PI = float(np.log(2 * np.pi))


def check_posterior(locs, scales, factors):
    """Validate Gaussian marginals ``locs``/``scales`` [N, D] and ``factors`` [N, K] of the same points."""
    locs, scales, factors = check_codes(locs, "locs"), check_codes(scales, "scales"), check_factors(factors)
    if scales.shape != locs.shape:
        raise PyroVAEError(f"scales has shape {scales.shape} but locs has {locs.shape}: give one standard deviation "
                           "per mean")
    if (scales <= 0).any():
        raise PyroVAEError(f"scales must be > 0 (standard deviations of q(z|x)), got minimum {scales.min()}")
    if factors.shape[0] != locs.shape[0]:
        raise PyroVAEError(f"locs has {locs.shape[0]} rows but factors has {factors.shape[0]}: they must describe the "
                           "same points")
    return locs.astype(np.float64), scales.astype(np.float64), factors


def neg_log_density(samples, locs, scales, chunk_elements=2**21):
    """−log q(z_j) [S, D] at ``samples`` [S, D] under the mixture q(z_j) = 1/N Σ_n N(locs[n, j], scales[n, j]²)
    (a log-mean-exp over the N points, in chunks of about ``chunk_elements`` densities).

    The S × N densities are computed in float32 (six times faster than float64) after centring each
    dimension on its mean location, and each log-mean-exp is returned in float64: the rounding error,
    about 1e-6 nats, is far below the Monte Carlo error."""
    num, dims = locs.shape
    chunk = max(1, chunk_elements // num)
    out = np.empty(samples.shape)
    for j in range(dims):
        centre = locs[:, j].mean()
        loc = (locs[:, j] - centre).astype(np.float32)
        z = (samples[:, j] - centre).astype(np.float32)
        scale_inv = (1.0 / scales[:, j]).astype(np.float32)
        norm = (-np.log(scales[:, j]) - 0.5 * LOG_2PI).astype(np.float32)
        for start in range(0, len(samples), chunk):
            log_density = (z[start:start + chunk, None] - loc) * scale_inv  # [c, N]
            log_density *= log_density
            log_density *= -0.5
            log_density += norm
            top = log_density.max(1, keepdims=True)  # log-sum-exp, stabilised by the largest term
            log_density -= top
            np.exp(log_density, out=log_density)
            total = log_density.sum(1, dtype=np.float64)
            out[start:start + chunk, j] = np.log(num) - top[:, 0].astype(np.float64) - np.log(total)
    return out


def _mean_and_error(values):
    """Column means of ``values`` [S, D] and their standard errors."""
    error = values.std(0, ddof=1) / np.sqrt(len(values)) if len(values) > 1 else np.full(values.shape[1], np.inf)
    return values.mean(0), error


def entropy(samples, locs, scales, chunk_elements=2**21):
    """Monte Carlo estimate of H(z_j) for each dimension j, with its standard error: −log q(z_j) averaged
    over ``samples`` [S, D] drawn from the mixture q(z_j) = 1/N Σ_n N(locs[n, j], scales[n, j]²)."""
    return _mean_and_error(neg_log_density(samples, locs, scales, chunk_elements))


def gaussian_mutual_info(locs, scales, factors, num_samples=10_000, random_state=0):
    """I(z_j; v_k) of Chen et al.'s estimator (see the module docstring) for Gaussian marginals ``locs``,
    ``scales`` [N, D] and factor classes ``factors`` [N, K].

    Returns ``{"mutual_info": [D, K], "standard_error": [D, K], "factor_entropy": [K], "num_points": N}``
    (nats). ``random_state`` (int or RandomState) draws z ~ q(z | x_n) and the sample subsets.
    """
    locs, scales, factors = check_posterior(locs, scales, factors)
    num_samples = check_int("num_samples", num_samples, minimum=2)
    rs = check_random_state(random_state, "gaussian_mutual_info")
    samples = locs + scales * rs.standard_normal(locs.shape)  # one z ~ q(z | x_n) per point
    num, dims = locs.shape
    paired = num <= num_samples  # every point is a sample of every entropy it belongs to

    def group_values(members):
        """−log q(z | group) at the group's samples (all of them, or num_samples drawn at random)."""
        chosen = members if len(members) <= num_samples else np.sort(rs.choice(members, num_samples, replace=False))
        return neg_log_density(samples[chosen], locs[members], scales[members])

    marginal = group_values(np.arange(num))
    mi, error = np.zeros((dims, factors.shape[1])), np.zeros((dims, factors.shape[1]))
    factor_entropy = np.zeros(factors.shape[1])
    for k in range(factors.shape[1]):
        values, inverse = np.unique(factors[:, k], return_inverse=True)
        conditional = np.empty((num, dims)) if paired else None
        mean, variance = np.zeros(dims), np.zeros(dims)
        for v in range(len(values)):
            members = np.flatnonzero(inverse == v)
            p = len(members) / num
            factor_entropy[k] -= p * np.log(p)
            own = group_values(members)
            if paired:
                conditional[members] = own
            else:
                h, e = _mean_and_error(own)
                mean += p * h
                variance += (p * e) ** 2
        if paired:  # I = mean over points of log q(z | v) − log q(z), at the same samples
            mi[:, k], error[:, k] = _mean_and_error(marginal - conditional)
        else:
            h, e = _mean_and_error(marginal)
            mi[:, k], error[:, k] = h - mean, np.sqrt(e ** 2 + variance)
    return {"mutual_info": mi, "standard_error": error, "factor_entropy": factor_entropy, "num_points": num}


def chen_mutual_info_gap(locs, scales, factors, num_samples=10_000, random_state=0):
    """Chen et al.'s MIG of Gaussian marginals q(z_j | x_n) = N(locs, scales²) [N, D] for ``factors`` [N, K].

    Returns ``{"mig", "standard_error", "gaps": [K'] per varying factor, "mutual_info": [D, K'],
    "factors": the K' factor columns used, "num_points", "num_samples"}`` (see the module docstring).
    """
    locs, scales, factors = check_posterior(locs, scales, factors)
    if locs.shape[1] < 2:
        raise PyroVAEError("chen_mutual_info_gap needs at least 2 code dimensions: the gap is between the best and "
                           "the second-best code")
    varying = varying_factors(factors, "chen_mutual_info_gap")
    out = gaussian_mutual_info(locs, scales, factors[:, varying], num_samples, random_state)
    gaps, errors = normalised_gaps(np.maximum(out["mutual_info"], 0.0), out["factor_entropy"], out["standard_error"])
    return {"mig": float(np.mean(gaps)), "standard_error": float(np.sqrt(np.sum(errors ** 2)) / len(gaps)),
            "gaps": gaps.tolist(), "mutual_info": out["mutual_info"].tolist(), "factors": varying,
            "num_points": int(out["num_points"]), "num_samples": int(min(num_samples, out["num_points"]))}

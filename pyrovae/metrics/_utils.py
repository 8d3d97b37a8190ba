"""Shared pieces of the disentanglement metrics: input validation, the histogram discretizer and the
discrete mutual-information matrix, as defined by disentanglement_lib (Locatello et al. 2019,
"Challenging Common Assumptions in the Unsupervised Learning of Disentangled Representations", ICML).

Conventions: ``codes`` are float arrays [N, D] (one row per point: the encoder means), ``factors`` are
integer class indices [N, K]. (disentanglement_lib stores both transposed; the numbers are the same.)
Every check raises :class:`pyrovae.errors.PyroVAEError` with a one-line message.
"""
import math

import numpy as np

from ..errors import PyroVAEError


# --------------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------------
def check_codes(codes, name="codes"):
    """``codes`` as a finite 2-D float array [N, D].

    float32 and float64 are kept as they are (the discretizer's bin edges are computed in the input
    dtype, as in the reference); integer and boolean codes become float64.
    """
    codes = np.asarray(codes)
    if codes.ndim != 2:
        hint = f"; use {name}[:, None] for a single code dimension" if codes.ndim == 1 else ""
        raise PyroVAEError(f"{name} must be a 2-D array [N, D], got shape {codes.shape}{hint}")
    if codes.dtype == np.bool_ or np.issubdtype(codes.dtype, np.integer):
        codes = codes.astype(np.float64)
    elif not np.issubdtype(codes.dtype, np.floating):
        raise PyroVAEError(f"{name} must be real numbers, got dtype {codes.dtype}")
    if codes.shape[0] < 2 or codes.shape[1] < 1:
        raise PyroVAEError(f"{name} needs at least 2 points and 1 dimension, got shape {codes.shape}")
    bad = ~np.isfinite(codes)
    if bad.any():
        raise PyroVAEError(f"{name} contain {int(bad.sum())} NaN or infinite values (first at row "
                           f"{int(np.argwhere(bad)[0, 0])}): the encoder produced non-finite codes")
    return codes


def check_factors(factors, name="factors"):
    """``factors`` as a 2-D int64 array [N, K] of class indices (integral floats are accepted)."""
    factors = np.asarray(factors)
    if factors.ndim != 2:
        hint = f"; use {name}[:, None] for a single factor" if factors.ndim == 1 else ""
        raise PyroVAEError(f"{name} must be a 2-D array [N, K] of class indices, got shape {factors.shape}{hint}")
    if factors.dtype == np.bool_ or np.issubdtype(factors.dtype, np.integer):
        factors = factors.astype(np.int64)
    elif np.issubdtype(factors.dtype, np.floating):
        if not np.isfinite(factors).all():
            raise PyroVAEError(f"{name} contain NaN or infinite values: factors must be class indices")
        if not (factors == np.round(factors)).all():
            example = factors[factors != np.round(factors)][0]
            raise PyroVAEError(f"{name} must be integer class indices, got non-integral values (e.g. {example}); "
                               "discretize continuous factors first")
        factors = factors.astype(np.int64)
    else:
        raise PyroVAEError(f"{name} must be integer class indices, got dtype {factors.dtype}")
    if factors.shape[0] < 2 or factors.shape[1] < 1:
        raise PyroVAEError(f"{name} needs at least 2 points and 1 factor, got shape {factors.shape}")
    return factors


def check_pair(codes, factors, codes_name="codes", factors_name="factors"):
    """Validate codes and factors describing the same points; returns both."""
    codes, factors = check_codes(codes, codes_name), check_factors(factors, factors_name)
    if codes.shape[0] != factors.shape[0]:
        raise PyroVAEError(f"{codes_name} has {codes.shape[0]} rows but {factors_name} has {factors.shape[0]}: "
                           "they must describe the same points")
    return codes, factors


def check_train_test(codes_train, factors_train, codes_test, factors_test):
    """Validate a train and a test split with the same code dimensions and factors."""
    codes_train, factors_train = check_pair(codes_train, factors_train, "codes_train", "factors_train")
    codes_test, factors_test = check_pair(codes_test, factors_test, "codes_test", "factors_test")
    if codes_train.shape[1] != codes_test.shape[1]:
        raise PyroVAEError(f"codes_train has {codes_train.shape[1]} dimensions but codes_test has "
                           f"{codes_test.shape[1]}")
    if factors_train.shape[1] != factors_test.shape[1]:
        raise PyroVAEError(f"factors_train has {factors_train.shape[1]} factors but factors_test has "
                           f"{factors_test.shape[1]}")
    return codes_train, factors_train, codes_test, factors_test


def constant_factors(factors):
    """Indices of the factors that take a single value."""
    return [j for j in range(factors.shape[1]) if np.all(factors[:, j] == factors[0, j])]


def varying_factors(factors, metric):
    """Indices of the factors that take two values or more; an error when none does."""
    varying = [j for j in range(factors.shape[1]) if j not in constant_factors(factors)]
    if not varying:
        raise PyroVAEError(f"{metric}: every factor takes a single value, so the gap is undefined")
    return varying


def check_varying_factors(factors, metric, name="factors_train"):
    """Raise unless every factor takes at least two values (a classifier needs two classes)."""
    constant = constant_factors(factors)
    if constant:
        raise PyroVAEError(f"{metric}: {name} column(s) {constant} take a single value, so there is nothing "
                           "to predict; drop constant factors first")


def check_num_bins(num_bins, num_points):
    """``num_bins`` must be an integer in [2, num_points]."""
    if isinstance(num_bins, (bool, np.bool_)) or not isinstance(num_bins, (int, np.integer)):
        raise PyroVAEError(f"num_bins must be an integer, got {num_bins!r}")
    if num_bins < 2:
        raise PyroVAEError(f"num_bins must be at least 2, got {num_bins}")
    if num_bins > num_points:
        raise PyroVAEError(f"num_bins={num_bins} is more than the {num_points} points: the histogram would be "
                           "mostly empty bins; use fewer bins or more points")
    return int(num_bins)


# --------------------------------------------------------------------------------------------------
# discretizer and discrete mutual information
# --------------------------------------------------------------------------------------------------
def histogram_discretize(codes, num_bins=20):
    """Equal-width histogram bins per code dimension, as disentanglement_lib's ``histogram_discretizer``.

    For dimension d: ``edges = np.histogram(codes[:, d], num_bins)[1]`` (``num_bins`` equal-width bins
    between the minimum and the maximum, edges in the input dtype) and
    ``np.digitize(codes[:, d], edges[:-1])``: integers 1..num_bins, the minimum in bin 1 and the maximum
    in bin ``num_bins``. A constant dimension falls in one bin (edges ``x ± 0.5``).
    Returns int64 [N, D].
    """
    codes = np.asarray(codes)
    out = np.zeros(codes.shape, dtype=np.int64)
    for d in range(codes.shape[1]):
        edges = np.histogram(codes[:, d], num_bins)[1]
        out[:, d] = np.digitize(codes[:, d], edges[:-1])
    return out


def mutual_info_score(labels_a, labels_b):
    """Plug-in mutual information (nats) of two label vectors: ``sklearn.metrics.mutual_info_score``'s
    arithmetic, step for step, on a dense contingency table of the labels present. scikit-learn spends ~3 ms
    per call validating its inputs; MIG on raw pixels (4,096 codes x 5 factors) makes 20,480 calls."""
    a, b = _label_indices(labels_a), _label_indices(labels_b)
    na, nb = a.max() + 1, b.max() + 1
    contingency = np.bincount(a * nb + b, minlength=na * nb).reshape(na, nb)
    if np.count_nonzero(contingency.any(axis=1)) == 1 or np.count_nonzero(contingency.any(axis=0)) == 1:
        return 0.0  # one class present: the data is not split
    nzx, nzy = np.nonzero(contingency)
    nz_val = contingency[nzx, nzy]
    total = contingency.sum()
    pi, pj = contingency.sum(axis=1), contingency.sum(axis=0)
    p_nm = nz_val / total
    log_outer = -np.log(pi[nzx] * pj[nzy]) + math.log(pi.sum()) + math.log(pj.sum())
    mi = p_nm * (np.log(nz_val) - math.log(total)) + p_nm * log_outer
    mi = np.where(np.abs(mi) < np.finfo(mi.dtype).eps, 0.0, mi)
    return float(np.clip(mi.sum(), 0.0, None))


def _label_indices(labels):
    """Labels as indices from 0; small integer labels (discretized codes, factor classes) are only shifted,
    which keeps their order and skips a sort. Classes absent from the data leave empty rows in the
    contingency table, and empty rows add nothing to the mutual information."""
    labels = np.asarray(labels).ravel()
    if labels.dtype.kind in "iub" and labels.size:
        low = int(labels.min())
        if int(labels.max()) - low <= 4 * labels.size:
            return labels.astype(np.int64) - low
    return np.unique(labels, return_inverse=True)[1].ravel()


def discrete_mutual_info(discrete_codes, factors):
    """MI matrix m[i, j] = I(code_i; factor_j) in nats, [D, K] (:func:`mutual_info_score`, the plug-in
    estimate from the contingency table)."""
    D, K = discrete_codes.shape[1], factors.shape[1]
    m = np.zeros((D, K))
    for i in range(D):
        for j in range(K):
            m[i, j] = mutual_info_score(factors[:, j], discrete_codes[:, i])
    return m


def discrete_entropy(factors):
    """H(v_j) = I(v_j; v_j) in nats for each factor column, [K]."""
    return np.array([mutual_info_score(factors[:, j], factors[:, j]) for j in range(factors.shape[1])])


def normalised_gaps(m, entropy, errors=None):
    """Per factor (column of the MI matrix ``m`` [D, K]): (largest − second-largest MI) / ``entropy``; with
    ``errors`` [D, K] (standard errors of ``m``) also the gaps' standard errors (independent errors)."""
    top2 = np.sort(m, axis=0)[::-1][:2]
    gaps = (top2[0] - top2[1]) / entropy
    if errors is None:
        return gaps
    order = np.argsort(m, axis=0, kind="stable")[::-1][:2]
    top_errors = np.take_along_axis(errors, order, axis=0)
    return gaps, np.sqrt(top_errors[0] ** 2 + top_errors[1] ** 2) / entropy


# --------------------------------------------------------------------------------------------------
# ground-truth sampling protocol (β-VAE and FactorVAE scores)
# --------------------------------------------------------------------------------------------------
def check_ground_truth(dataset, metric):
    """``dataset`` must follow the ground-truth protocol; returns its number of factors."""
    missing = [name for name in ("factor_sizes", "sample_factors", "sample_observations_from_factors")
               if not hasattr(dataset, name)]
    if missing:
        raise PyroVAEError(f"{metric} needs a ground-truth dataset with factor_sizes, sample_factors and "
                           f"sample_observations_from_factors; {type(dataset).__name__} lacks {', '.join(missing)}")
    sizes = list(dataset.factor_sizes)
    if not sizes or any(int(s) < 1 for s in sizes):
        raise PyroVAEError(f"{metric}: factor_sizes must be a non-empty list of positive sizes, got {sizes}")
    return len(sizes)


def check_random_state(random_state, metric):
    """An int seed or a ``np.random.RandomState`` (used as is: its draws continue)."""
    if isinstance(random_state, np.random.RandomState):
        return random_state
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, (bool, np.bool_)):
        return np.random.RandomState(int(random_state))
    raise PyroVAEError(f"{metric}: random_state must be an int or a numpy RandomState, got {random_state!r}")


def represent(representation_fn, observations, expected_rows):
    """``representation_fn(observations)`` validated as finite float64 [n, D]."""
    codes = np.asarray(representation_fn(observations))
    if codes.ndim != 2 or codes.shape[0] != expected_rows:
        raise PyroVAEError(f"representation_fn must return an array [n, D] with one row per observation; got shape "
                           f"{codes.shape} for {expected_rows} observations")
    codes = codes.astype(np.float64)
    if not np.isfinite(codes).all():
        raise PyroVAEError("representation_fn returned NaN or infinite codes")
    return codes


def represent_many(representation_fn, batches):
    """Represent a list of observation batches with one call on their concatenation; returns the list
    of code arrays [len(batch), D]. The representation is deterministic and draws nothing from the
    random state, so this equals calling it batch by batch (it is only faster)."""
    lengths = [len(b) for b in batches]
    codes = represent(representation_fn, np.concatenate(batches), sum(lengths))
    return np.split(codes, np.cumsum(lengths)[:-1])


def points_per_call(batch_size, observations_per_point, target=4096):
    """How many sampled points to represent per ``representation_fn`` call (~``target`` observations)."""
    return max(1, target // (batch_size * observations_per_point))

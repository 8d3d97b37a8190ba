"""Unsupervised scores: Gaussian total correlation, Gaussian Wasserstein correlation and the mean
pairwise mutual information between code dimensions.

Defined in Locatello et al. (2019), "Challenging Common Assumptions in the Unsupervised Learning of
Disentangled Representations", ICML, §4 / appendix (disentanglement_lib ``unsupervised_metrics``); the
Gaussian total correlation is that of a Gaussian fitted to the codes, as in Watanabe (1960),
"Information theoretical analysis of multivariate correlation"; the Wasserstein correlation is the
2-Wasserstein distance between that Gaussian and the product of its marginals (Dowson & Landau 1982).

With C = ``np.cov(codes.T)`` (ddof = 1, training codes):

* ``gaussian_total_correlation`` = KL(N(0, C) ‖ N(0, diag C)) = ½ (Σ_i log C_ii − log det C)
  (= −½ log det R for the correlation matrix R);
* ``gaussian_wasserstein_correlation`` = W₂²(N(0, C), N(0, diag C)) = 2 tr C − 2 tr sqrtm(C · diag(C)[:, None])
  (row i of C scaled by C_ii; the reference calls ``scipy.linalg.sqrtm``, here the trace comes from the
  eigenvalues of the similar symmetric matrix diag(C)^½ C diag(C)^½, which is stable when C is singular);
* ``gaussian_wasserstein_correlation_norm`` = the above / tr C;
* ``mutual_info_score`` = Σ_{i≠j} I(d_i; d_j) / (D² − D), the mean plug-in MI (nats) between the
  ``num_bins``-bin histograms d_i of distinct code dimensions.

Degenerate cases (the reference returns NaN): a code dimension with exactly zero variance is
independent of the others, so it is left out of the total correlation (the limit of the formula as its
variance goes to 0) and contributes 0 to the Wasserstein terms; if every dimension is constant the
normalised Wasserstein correlation is NaN. With a single dimension there are no pairs and
``mutual_info_score`` is 0.
"""
import numpy as np

from ._utils import check_codes, check_num_bins, histogram_discretize, mutual_info_score


def gaussian_total_correlation(cov):
    """½ (Σ log diag(cov) − log det cov) over the dimensions with positive variance."""
    cov = np.asarray(cov, dtype=np.float64)
    keep = np.diag(cov) > 0
    cov = cov[np.ix_(keep, keep)]
    if cov.shape[0] == 0:
        return 0.0
    return float(0.5 * (np.sum(np.log(np.diag(cov))) - np.linalg.slogdet(cov)[1]))


def gaussian_wasserstein_correlation(cov):
    """2 tr(cov) − 2 tr sqrtm(cov · diag(cov)[:, None])."""
    cov = np.asarray(cov, dtype=np.float64)
    keep = np.diag(cov) > 0
    cov = cov[np.ix_(keep, keep)]
    if cov.shape[0] == 0:
        return 0.0
    # tr sqrtm(C · diag(C)[:, None]) = tr sqrtm(D^½ C D^½) (similar matrices, D = diag C > 0): the
    # symmetric form's eigenvalues give it stably, also for a singular C
    scale = np.sqrt(np.diag(cov))
    eigenvalues = np.linalg.eigvalsh(scale[:, None] * cov * scale[None, :])
    return float(2 * np.trace(cov) - 2 * np.sum(np.sqrt(np.clip(eigenvalues, 0, None))))


def unsupervised_scores(codes, num_bins=20):
    """Unsupervised scores of ``codes`` [N, D] (see the module docstring).

    Returns ``{"gaussian_total_correlation", "gaussian_wasserstein_correlation",
    "gaussian_wasserstein_correlation_norm", "mutual_info_score"}``.
    """
    codes = check_codes(codes)
    num_bins = check_num_bins(num_bins, codes.shape[0])
    D = codes.shape[1]
    cov = np.atleast_2d(np.cov(codes.T))
    wasserstein = gaussian_wasserstein_correlation(cov)
    trace = float(np.trace(cov))
    scores = {"gaussian_total_correlation": gaussian_total_correlation(cov),
              "gaussian_wasserstein_correlation": wasserstein,
              "gaussian_wasserstein_correlation_norm": wasserstein / trace if trace > 0 else float("nan")}
    discrete = histogram_discretize(codes, num_bins)
    total = 0.0
    for i in range(D):
        for j in range(D):
            if i != j:
                total += mutual_info_score(discrete[:, j], discrete[:, i])
    scores["mutual_info_score"] = float(total / (D * D - D)) if D > 1 else 0.0
    return scores

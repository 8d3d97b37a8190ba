"""Disentanglement, Completeness and Informativeness (DCI).

Eastwood & Williams (2018), "A Framework for the Quantitative Evaluation of Disentangled
Representations", ICLR. Study variant of Locatello et al. (2019) (disentanglement_lib ``dci``), which
uses gradient-boosted trees as the regressor.

Per factor j a ``sklearn.ensemble.GradientBoostingClassifier()`` (defaults: 100 stages, learning rate
0.1, depth-3 trees, log loss) is fit on all training codes; R[i, j] = |feature importance of code i|
(impurity-based, normalised per factor to sum 1).

* informativeness_train / informativeness_test: mean over factors of the classifier's accuracy (the
  reference calls these "loss" but they are accuracies);
* disentanglement = Σ_i ρ_i (1 − H_K(P_i·)), P_ij = R_ij / Σ_k R_ik, ρ_i = Σ_j R_ij / Σ R,
  with H_K the entropy in base K (``scipy.stats.entropy(R[i] + 1e-11, base=K)``);
* completeness = Σ_j ρ_j (1 − H_D(P̃_·j)), P̃_ij = R_ij / Σ_k R_kj, ρ_j = Σ_i R_ij / Σ R, base D.
If R is all zero the weights use an all-ones matrix, as in the reference. With a single factor (K = 1)
each code's disentanglement is 1, and with a single code (D = 1) each factor's completeness is 1 (the
reference divides by log 1 = 0).

Speed. ``estimator="gbt"`` (default) is :mod:`pyrovae.metrics._gbt`, a re-implementation of exactly the
same classifier that sorts each code once instead of in every node of every tree: ~20 s for the study's
10,000 × 10 codes and 5 dSprites factors on one core, where scikit-learn's class takes ~4 min on the
same machine (7-14 min in the reference timings). ``estimator="sklearn"`` runs scikit-learn's own
class (the reference's code path). The two agree up to floating-point rounding, which matters only
where candidate splits tie exactly (frequent in the first stages, whose residuals take two values per
class): each then picks its own winner, scikit-learn by rounding noise and a random feature order drawn
from numpy's global RNG, so scikit-learn's own DCI moves by the same small amounts (~1e-3) between
runs with different global seeds. ``n_jobs`` fits factors in parallel (joblib processes).
"""
import numpy as np
import scipy.stats
from joblib import Parallel, delayed

from ..errors import PyroVAEError
from ._gbt import fit_predict_gbt
from ._utils import check_train_test, check_varying_factors

ESTIMATORS = ("gbt", "sklearn")


def _fit_factor(estimator, codes_train, y_train, codes_test, y_test, seed):
    if estimator == "gbt":
        importances, pred_train, (pred_test,) = fit_predict_gbt(codes_train, y_train, [codes_test],
                                                                 random_state=seed)
    else:
        from sklearn.ensemble import GradientBoostingClassifier  # the optional reference estimator: slow to import

        model = GradientBoostingClassifier(random_state=None if seed is None else np.random.RandomState(seed))
        model.fit(codes_train, y_train)
        importances = model.feature_importances_
        pred_train, pred_test = model.predict(codes_train), model.predict(codes_test)
    return np.abs(importances), np.mean(pred_train == y_train), np.mean(pred_test == y_test)


def importance_matrix(codes_train, factors_train, codes_test, factors_test, estimator="gbt", n_jobs=1,
                      random_state=0):
    """(R [D, K], train accuracies [K], test accuracies [K]) of validated arrays."""
    K = factors_train.shape[1]
    seeds = np.random.RandomState(random_state).randint(2**31 - 1, size=K) if random_state is not None \
        else [None] * K
    args = [(estimator, codes_train, factors_train[:, j], codes_test, factors_test[:, j],
             None if seeds[j] is None else int(seeds[j])) for j in range(K)]
    if n_jobs == 1 or K == 1:
        results = [_fit_factor(*a) for a in args]
    else:
        results = Parallel(n_jobs=n_jobs)(delayed(_fit_factor)(*a) for a in args)
    R = np.stack([r[0] for r in results], axis=1)
    return R, np.array([r[1] for r in results]), np.array([r[2] for r in results])


def disentanglement(R):
    """Σ_i ρ_i (1 − H_K(R[i] / Σ R[i]))."""
    R = np.asarray(R, dtype=np.float64)
    per_code = (1.0 - scipy.stats.entropy(R.T + 1e-11, base=R.shape[1])) if R.shape[1] > 1 \
        else np.ones(R.shape[0])
    weights = R if R.sum() != 0 else np.ones_like(R)
    return float(np.sum(per_code * weights.sum(axis=1) / weights.sum()))


def completeness(R):
    """Σ_j ρ_j (1 − H_D(R[:, j] / Σ R[:, j]))."""
    R = np.asarray(R, dtype=np.float64)
    per_factor = (1.0 - scipy.stats.entropy(R + 1e-11, base=R.shape[0])) if R.shape[0] > 1 \
        else np.ones(R.shape[1])
    weights = R if R.sum() != 0 else np.ones_like(R)
    return float(np.sum(per_factor * weights.sum(axis=0) / weights.sum()))


def dci(codes_train, factors_train, codes_test, factors_test, estimator="gbt", n_jobs=1, random_state=0):
    """DCI scores of ``codes_*`` [N, D] for discrete ``factors_*`` [N, K] (see the module docstring).

    Returns ``{"disentanglement", "completeness", "informativeness_train", "informativeness_test"}``.
    ``estimator``: ``"gbt"`` (default, fast, same classifier) or ``"sklearn"`` (scikit-learn's
    ``GradientBoostingClassifier``). ``random_state`` seeds the tie-breaking between exactly equal
    splits (``None``: numpy's global RNG, as the reference).
    """
    if estimator not in ESTIMATORS:
        raise PyroVAEError(f"dci: unknown estimator {estimator!r}; choose one of {ESTIMATORS}")
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test)
    check_varying_factors(factors_train, "dci")
    R, acc_train, acc_test = importance_matrix(codes_train, factors_train, codes_test, factors_test,
                                               estimator, n_jobs, random_state)
    return {"disentanglement": disentanglement(R), "completeness": completeness(R),
            "informativeness_train": float(np.mean(acc_train)), "informativeness_test": float(np.mean(acc_test))}

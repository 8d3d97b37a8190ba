"""Modularity and explicitness.

Ridgeway & Mozer (2018), "Learning Deep Disentangled Embeddings With the F-Statistic Loss", NeurIPS.
Study variant of Locatello et al. (2019) (disentanglement_lib ``modularity_explicitness``).

Modularity: with m[i, j] = I(z_i; v_j) the plug-in MI (nats) between the ``num_bins``-bin histogram
of code i (training split) and factor j, and t = m², per code

    δ_i = (Σ_j t[i, j] − max_j t[i, j]) / (max_j t[i, j] · (K − 1)),   modularity_i = 1 − δ_i,

with modularity_i = 0 when max_j t[i, j] = 0 (a code that carries no information). The score is the mean
over ALL codes (uninformative ones included, as in the reference). With a single factor (K = 1) every
informative code is trivially modular: modularity_i = 1 (the reference divides 0 by 0).

Explicitness: codes standardized with the training mean and population standard deviation (a
constant code, std 0, is left at 0 instead of the reference's NaN). Per factor,
``sklearn.linear_model.LogisticRegression()`` (defaults: lbfgs, multinomial, C = 1, max_iter = 100) on
all codes; the score is the ROC-AUC of each class's ``predict_proba`` column against the one-hot labels,
averaged over classes (macro), then over factors, on the training and on the test split. The reference
fails when a split lacks a class; here the average runs over the classes the classifier knows that are
present (and not the only class) in the split (identical when all are present) and is NaN if there are
none.
"""
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from ._utils import check_num_bins, check_train_test, check_varying_factors, discrete_mutual_info, histogram_discretize


def modularity_from_mi(mutual_information):
    """Modularity score (mean over codes) of an MI matrix [D, K] (see the module docstring)."""
    squared = np.square(np.asarray(mutual_information, dtype=np.float64))
    max_squared = squared.max(axis=1)
    K = squared.shape[1]
    score = np.zeros(squared.shape[0])
    informative = max_squared > 0
    if K == 1:
        score[informative] = 1.0
    else:
        delta = (squared.sum(axis=1)[informative] - max_squared[informative]) / (max_squared[informative] * (K - 1.0))
        score[informative] = 1.0 - delta
    return float(np.mean(score))


def _macro_auc(classifier, X, y):
    proba = classifier.predict_proba(X)
    onehot = y[:, None] == classifier.classes_[None, :]
    counts = onehot.sum(axis=0)
    valid = (counts > 0) & (counts < len(y))
    if not valid.any():
        return float("nan")
    return float(roc_auc_score(onehot[:, valid].astype(int), proba[:, valid], average="macro"))


def explicitness_per_factor(codes_train, y_train, codes_test, y_test):
    """(train AUC, test AUC) of a LogisticRegression() predicting one factor from standardized codes."""
    classifier = LogisticRegression()
    # one BLAS thread: these [N, D] problems are too small to gain from threads (2-3x faster, same values)
    with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)   # max_iter=100 is part of the definition
        # factors are classes by definition, however many values they take
        warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
        classifier.fit(codes_train, y_train)
    return _macro_auc(classifier, codes_train, y_train), _macro_auc(classifier, codes_test, y_test)


def modularity_explicitness(codes_train, factors_train, codes_test, factors_test, num_bins=20):
    """Modularity and explicitness scores of ``codes_*`` [N, D] for ``factors_*`` [N, K].

    Returns ``{"modularity_score", "explicitness_score_train", "explicitness_score_test"}`` (floats in
    [0, 1]; see the module docstring).
    """
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test)
    num_bins = check_num_bins(num_bins, codes_train.shape[0])
    check_varying_factors(factors_train, "modularity_explicitness")
    mi = discrete_mutual_info(histogram_discretize(codes_train, num_bins), factors_train)
    scores = {"modularity_score": modularity_from_mi(mi)}

    mean, std = codes_train.mean(axis=0), codes_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    train, test = (codes_train - mean) / std, (codes_test - mean) / std
    aucs = np.array([explicitness_per_factor(train, factors_train[:, j], test, factors_test[:, j])
                     for j in range(factors_train.shape[1])])
    scores["explicitness_score_train"] = float(np.mean(aucs[:, 0]))
    scores["explicitness_score_test"] = float(np.mean(aucs[:, 1]))
    return scores

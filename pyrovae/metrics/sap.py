"""Separated Attribute Predictability (SAP).

Kumar, Sattigeri & Balakrishnan (2018), "Variational Inference of Disentangled Latent Concepts from
Unlabeled Observations", ICLR. Study variant of Locatello et al. (2019) (disentanglement_lib key
``SAP_score``).

A score matrix S[i, j] says how well code dimension i alone predicts factor j:

* discrete factors (the study's setting): S[i, j] is the test accuracy of
  ``sklearn.svm.LinearSVC(C=0.01, class_weight="balanced")`` (other parameters at their defaults)
  trained on the single feature z_i of the training points;
* continuous factors: S[i, j] = Cov(z_i, v_j)² / (Var z_i · Var v_j) (ddof = 1, training points only),
  0 when Var z_i ≤ 1e-12.

    SAP = 1/K Σ_j ( S[(1), j] − S[(2), j] ),

the mean over factors of the gap between the two largest entries of each column.
"""
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from ..errors import PyroVAEError
from ._utils import check_codes, check_train_test, check_varying_factors


def sap_score_matrix(codes_train, factors_train, codes_test, factors_test, continuous_factors=False):
    """The [D, K] matrix S of validated arrays (see the module docstring)."""
    D, K = codes_train.shape[1], factors_train.shape[1]
    S = np.zeros((D, K))
    for i in range(D):
        for j in range(K):
            if continuous_factors:
                c = np.cov(codes_train[:, i], factors_train[:, j], ddof=1)
                S[i, j] = c[0, 1] ** 2 / (c[0, 0] * c[1, 1]) if c[0, 0] > 1e-12 else 0.0
            else:
                classifier = LinearSVC(C=0.01, class_weight="balanced")
                with warnings.catch_warnings():
                    # the reference keeps sklearn's max_iter=1000 as well; not converging there is part
                    # of the definition
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    # factors are classes by definition, however many values they take
                    warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
                    classifier.fit(codes_train[:, i:i + 1], factors_train[:, j])
                S[i, j] = np.mean(classifier.predict(codes_test[:, i:i + 1]) == factors_test[:, j])
    return S


def sap_score(codes_train, factors_train, codes_test, factors_test, continuous_factors=False):
    """SAP score (float in [0, 1]) of ``codes_*`` [N, D] for ``factors_*`` [N, K].

    ``continuous_factors=False`` (default, as in the study): factors are class indices and S holds
    LinearSVC test accuracies. ``True``: factors are real values and S holds squared correlations on the
    training split (the test split is then only validated). Needs at least 2 code dimensions.
    """
    if continuous_factors:
        codes_train, codes_test = check_codes(codes_train, "codes_train"), check_codes(codes_test, "codes_test")
        factors_train = check_codes(factors_train, "factors_train")
        factors_test = check_codes(factors_test, "factors_test")
        if codes_train.shape[0] != factors_train.shape[0] or codes_test.shape[0] != factors_test.shape[0]:
            raise PyroVAEError("codes and factors must have the same number of rows in each split")
        if factors_train.shape[1] != factors_test.shape[1] or codes_train.shape[1] != codes_test.shape[1]:
            raise PyroVAEError("train and test splits must have the same code dimensions and factors")
        if (factors_train.var(axis=0) == 0).any():
            raise PyroVAEError("sap_score: a continuous factor is constant on the training split; drop it first")
    else:
        codes_train, factors_train, codes_test, factors_test = check_train_test(
            codes_train, factors_train, codes_test, factors_test)
        check_varying_factors(factors_train, "sap_score")
    if codes_train.shape[1] < 2:
        raise PyroVAEError("sap_score needs at least 2 code dimensions: the score is the gap between the best "
                           "and the second-best code")
    S = sap_score_matrix(codes_train, factors_train, codes_test, factors_test, continuous_factors)
    top2 = np.sort(S, axis=0)[::-1][:2]
    return float(np.mean(top2[0] - top2[1]))

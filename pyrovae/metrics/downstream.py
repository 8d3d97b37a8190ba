"""Downstream sample efficiency: how well few labels suffice to predict the factors from the codes.

Locatello et al. (2019), "Challenging Common Assumptions in the Unsupervised Learning of Disentangled
Representations", ICML, the experiment "Are these disentangled representations useful for downstream
tasks in terms of the sample complexity of learning?"; disentanglement_lib ``downstream_task`` with the
gradient-boosting predictor.

For each size n in ``sizes`` (10, 100, 1,000, 10,000 labels in the study), a gradient-boosted tree
classifier (the same ``GradientBoostingClassifier()`` as DCI, via :mod:`pyrovae.metrics._gbt`) is fit per
factor on n training points and scored on the whole test split (5,000 points in the study). The n
points are the first n of one random permutation of the training split (``random_state``), so the
subsets are nested. A factor that shows a single class among the n points gets the constant classifier
(it predicts that class; a classifier cannot be fit on one class).

    efficiency = mean test accuracy with 100 labels / mean test accuracy with 10,000 labels.

Sizes larger than the training split are not evaluated and are listed under ``skipped_sizes``. The
efficiency's numerator is the 100-label accuracy (the smallest evaluated size if 100 is not evaluated)
and its denominator the largest evaluated size (10,000 in the study's setting; fewer when the training
split is smaller); both sizes are recorded (``efficiency_numerator_size``,
``efficiency_denominator_size``) so that efficiencies over different sizes are not confused.
"""
import numpy as np

from ..errors import PyroVAEError
from ..validation import check_int
from ._gbt import fit_predict_gbt
from ._utils import check_train_test


def _accuracies(codes_train, y_train, codes_test, y_test, seed):
    classes = np.unique(y_train)
    if len(classes) == 1:
        return 1.0, float(np.mean(y_test == classes[0]))
    _, pred_train, (pred_test,) = fit_predict_gbt(codes_train, y_train, [codes_test], random_state=seed)
    return float(np.mean(pred_train == y_train)), float(np.mean(pred_test == y_test))


def downstream_sample_efficiency(codes_train, factors_train, codes_test, factors_test, sizes=(10, 100, 1000, 10000),
                                 random_state=0):
    """Per-size GBT accuracies and the sample efficiency (see the module docstring).

    Returns a dict: ``mean_test_accuracy_{n}`` and ``mean_train_accuracy_{n}`` (floats, mean over
    factors) per evaluated size n; ``test_accuracy_per_factor`` / ``train_accuracy_per_factor``
    ({str(n): [K floats]}); ``sizes`` (evaluated) and ``skipped_sizes`` (larger than the training
    split); ``efficiency``, ``efficiency_numerator_size`` and ``efficiency_denominator_size``
    (efficiency is None when fewer than two sizes were evaluated).
    """
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test)
    try:
        sizes = sorted({check_int("each size", n) for n in sizes})
    except TypeError:
        raise PyroVAEError(f"sizes must be a list of positive integers, got {sizes!r}") from None
    if not sizes:
        raise PyroVAEError("sizes must name at least one training-set size")
    N, K = factors_train.shape
    used, skipped = [n for n in sizes if n <= N], [n for n in sizes if n > N]
    if not used:
        raise PyroVAEError(f"every size in {sizes} exceeds the {N} training points")
    rng = np.random.RandomState(random_state)
    order = rng.permutation(N)
    seeds = rng.randint(2**31 - 1, size=K)
    result = {"sizes": used, "skipped_sizes": skipped, "train_accuracy_per_factor": {},
              "test_accuracy_per_factor": {}}
    means = {}
    for n in used:
        idx = order[:n]
        acc = np.array([_accuracies(codes_train[idx], factors_train[idx, j], codes_test, factors_test[:, j],
                                    int(seeds[j])) for j in range(K)])
        result[f"mean_train_accuracy_{n}"] = float(acc[:, 0].mean())
        result[f"mean_test_accuracy_{n}"] = means[n] = float(acc[:, 1].mean())
        result["train_accuracy_per_factor"][str(n)] = acc[:, 0].tolist()
        result["test_accuracy_per_factor"][str(n)] = acc[:, 1].tolist()
    numerator = 100 if 100 in means and used[-1] > 100 else used[0]
    denominator = used[-1]
    if numerator == denominator:
        result.update(efficiency=None, efficiency_numerator_size=None, efficiency_denominator_size=None)
    else:
        result["efficiency"] = means[numerator] / means[denominator] if means[denominator] > 0 else float("nan")
        result["efficiency_numerator_size"] = numerator
        result["efficiency_denominator_size"] = denominator
    return result

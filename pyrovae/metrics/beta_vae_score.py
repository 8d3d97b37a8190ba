"""β-VAE disentanglement score.

Higgins, Matthey, Pal, Burgess, Glorot, Botvinick, Mohamed & Lerchner (2017), "β-VAE: Learning Basic
Visual Concepts with a Constrained Variational Framework", ICLR. Study variant of Locatello et al.
(2019) (disentanglement_lib ``beta_vae_sklearn``).

One training point: draw a factor index k uniformly (``random_state.randint(K)``); sample two batches of
``batch_size`` factor vectors, copy factor k of the first batch into the second, render both
(``sample_observations_from_factors``) and represent them; the feature is the per-dimension mean over the
batch of |z¹ − z²|, the label is k. A ``LogisticRegression(random_state=random_state)`` (scikit-learn
defaults: lbfgs, multinomial, C = 1, max_iter = 100; lbfgs draws nothing from the random state) is fit on
``num_train`` points; the score is its accuracy on them (``train_accuracy``) and on ``num_eval`` fresh
points drawn afterwards from the same random state (``eval_accuracy``).

If every training label is the same factor (K = 1, or tiny ``num_train``) no classifier can be fit (the
reference raises): the constant classifier is used instead.

The random state is used in exactly the reference's order, so with the same dataset, representation
and seed the scores equal the reference's (up to the classifier's float rounding). The representation
is called on many points at once, which changes nothing for a deterministic representation.
"""
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from ..validation import check_int
from ._utils import check_ground_truth, check_random_state, points_per_call, represent_many


def _sample_points(dataset, representation_fn, num_factors, batch_size, num_points, random_state):
    """(features [num_points, D], labels [num_points]) drawn in the reference's RNG order."""
    features, labels = [], np.zeros(num_points, dtype=np.int64)
    chunk = points_per_call(batch_size, 2)
    for start in range(0, num_points, chunk):
        batches = []
        for i in range(start, min(start + chunk, num_points)):
            k = random_state.randint(num_factors)
            factors1 = np.array(dataset.sample_factors(batch_size, random_state))
            factors2 = np.array(dataset.sample_factors(batch_size, random_state))
            factors2[:, k] = factors1[:, k]
            batches.append(np.asarray(dataset.sample_observations_from_factors(factors1, random_state)))
            batches.append(np.asarray(dataset.sample_observations_from_factors(factors2, random_state)))
            labels[i] = k
        codes = represent_many(representation_fn, batches)
        features += [np.mean(np.abs(z1 - z2), axis=0) for z1, z2 in zip(codes[0::2], codes[1::2])]
    return np.stack(features), labels


def beta_vae_score(dataset, representation_fn, random_state, batch_size=64, num_train=10000, num_eval=5000):
    """β-VAE score of ``representation_fn`` (observations -> codes [n, D]) on a ground-truth ``dataset``
    (``factor_sizes``, ``sample_factors(n, random_state)``, ``sample_observations_from_factors(factors,
    random_state)``); ``random_state`` is an int seed or a ``np.random.RandomState``.

    Returns ``{"train_accuracy", "eval_accuracy"}`` (see the module docstring).
    """
    num_factors = check_ground_truth(dataset, "beta_vae_score")
    random_state = check_random_state(random_state, "beta_vae_score")
    batch_size = check_int("batch_size", batch_size)
    num_train, num_eval = check_int("num_train", num_train), check_int("num_eval", num_eval)
    train_x, train_y = _sample_points(dataset, representation_fn, num_factors, batch_size, num_train,
                                      random_state)
    model = LogisticRegression(random_state=random_state)
    with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):   # small problem: 1 thread is faster
        warnings.simplefilter("ignore", ConvergenceWarning)   # max_iter=100 is part of the definition
        # factors are classes by definition, however many values they take
        warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
        if len(np.unique(train_y)) > 1:
            model.fit(train_x, train_y)
            train_accuracy = float(model.score(train_x, train_y))
        else:                       # one factor (or one label drawn): the only class is always right
            model = None
            train_accuracy = 1.0
    eval_x, eval_y = _sample_points(dataset, representation_fn, num_factors, batch_size, num_eval, random_state)
    eval_accuracy = float(model.score(eval_x, eval_y)) if model is not None else float(np.mean(eval_y == train_y[0]))
    return {"train_accuracy": train_accuracy, "eval_accuracy": eval_accuracy}

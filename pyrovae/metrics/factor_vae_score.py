"""FactorVAE disentanglement score.

Kim & Mnih (2018), "Disentangling by Factorising", ICML. Study variant of Locatello et al. (2019)
(disentanglement_lib ``factor_vae_score``).

1. Global scale: Var_d, the variance (ddof = 1) of each code dimension over ``num_variance_estimate``
   random observations (``sample_factors`` then ``sample_observations_from_factors``).
2. Active dimensions: sqrt(Var_d) ≥ ``prune_threshold`` (0.05 in the study) and Var_d > 0 (with a
   threshold of 0 the reference would count a constant code as active and divide 0 by 0). None
   active: both accuracies are 0.
3. One vote: draw a factor k (``random_state.randint(K)``), sample ``batch_size`` factor vectors and set
   factor k of every row to that of the first row; represent them; with v_d the per-dimension variance
   (ddof = 1) of this batch, the vote is (k, argmin over active d of v_d / Var_d) — the index counts
   active dimensions only.
4. The classifier maps each dimension to the factor with the most training votes (ties: lowest k); the
   accuracy is the share of votes it gets right: Σ_d votes[c(d), d] / Σ votes, on the ``num_train``
   training votes and on ``num_eval`` fresh votes.

Returns ``num_active_dims``, the number of active dimensions (the reference reports the length of the
mask, i.e. always D — a bug). The random state is used in exactly the reference's order; the
representation is called on many batches at once (same result for a deterministic representation).
"""
import numpy as np

from ..errors import PyroVAEError
from ..validation import check_int
from ._utils import check_ground_truth, check_random_state, points_per_call, represent, represent_many


def _votes(dataset, representation_fn, num_factors, batch_size, num_points, random_state, global_var, active):
    votes = np.zeros((num_factors, int(active.sum())), dtype=np.int64)
    chunk = points_per_call(batch_size, 1)
    for start in range(0, num_points, chunk):
        batches, labels = [], []
        for _ in range(start, min(start + chunk, num_points)):
            k = random_state.randint(num_factors)
            factors = np.array(dataset.sample_factors(batch_size, random_state))
            factors[:, k] = factors[0, k]
            batches.append(np.asarray(dataset.sample_observations_from_factors(factors, random_state)))
            labels.append(k)
        for k, codes in zip(labels, represent_many(representation_fn, batches)):
            local_var = np.var(codes, axis=0, ddof=1)
            votes[k, np.argmin(local_var[active] / global_var[active])] += 1
    return votes


def factor_vae_score(dataset, representation_fn, random_state, batch_size=64, num_train=10000, num_eval=5000,
                     num_variance_estimate=10000, prune_threshold=0.05):
    """FactorVAE score of ``representation_fn`` (observations -> codes [n, D]) on a ground-truth
    ``dataset`` (``factor_sizes``, ``sample_factors``, ``sample_observations_from_factors``);
    ``random_state`` is an int seed or a ``np.random.RandomState``.

    Returns ``{"train_accuracy", "eval_accuracy", "num_active_dims"}`` (see the module docstring).
    """
    num_factors = check_ground_truth(dataset, "factor_vae_score")
    random_state = check_random_state(random_state, "factor_vae_score")
    batch_size = check_int("batch_size", batch_size, minimum=2)
    num_train, num_eval = check_int("num_train", num_train), check_int("num_eval", num_eval)
    num_variance_estimate = check_int("num_variance_estimate", num_variance_estimate, minimum=2)
    if not np.isfinite(prune_threshold) or prune_threshold < 0:
        raise PyroVAEError(f"prune_threshold must be a finite number >= 0, got {prune_threshold!r}")

    factors = dataset.sample_factors(num_variance_estimate, random_state)
    observations = dataset.sample_observations_from_factors(factors, random_state)
    codes = np.concatenate([represent(representation_fn, observations[i:i + 4096], len(observations[i:i + 4096]))
                            for i in range(0, len(observations), 4096)])
    global_var = np.var(codes, axis=0, ddof=1)
    active = np.sqrt(global_var) >= prune_threshold
    active &= global_var > 0        # a threshold of 0 must not make constant codes "active" (0/0 votes)
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}

    train_votes = _votes(dataset, representation_fn, num_factors, batch_size, num_train, random_state,
                         global_var, active)
    classifier = np.argmax(train_votes, axis=0)
    columns = np.arange(train_votes.shape[1])
    train_accuracy = train_votes[classifier, columns].sum() / train_votes.sum()
    eval_votes = _votes(dataset, representation_fn, num_factors, batch_size, num_eval, random_state,
                        global_var, active)
    eval_accuracy = eval_votes[classifier, columns].sum() / eval_votes.sum()
    return {"train_accuracy": float(train_accuracy), "eval_accuracy": float(eval_accuracy),
            "num_active_dims": int(active.sum())}

"""An exact, faster re-implementation of ``sklearn.ensemble.GradientBoostingClassifier()`` (defaults).

DCI (Eastwood & Williams 2018) as run in the study of Locatello et al. (2019) fits one
``GradientBoostingClassifier()`` per factor: 100 stages × one depth-3 regression tree per class, each
tree found by exact greedy search over every threshold of every code. scikit-learn's tree builder sorts
the samples of every node along every feature again, for every tree: that sorting is most of its run time.
The codes never change during the fit, so here every feature is sorted once, and a node's samples in
sorted order are recovered level by level with a linear-time stable regrouping of the global orders; the
split scores of all thresholds then come from one prefix sum per level.

The algorithm is scikit-learn's (version 1.9, the reference's version), step for step:

* features are cast to float32 (as ``GradientBoostingClassifier.fit`` does); thresholds are the float64
  midpoints ``x[p-1]/2 + x[p]/2`` of consecutive node values, and two values closer than
  ``FEATURE_THRESHOLD = float32(1e-7)`` are never separated;
* the initial raw prediction is the class prior (``DummyClassifier(strategy="prior")``) through the
  symmetric multinomial logit (binary: the logit);
* each stage computes the negative gradient ``y_k - softmax(raw)_k`` once, then per class fits a
  regression tree (``criterion="squared_error"``: a split maximises ``S_L²/n_L + S_R²/n_R``, evaluated
  as the equivalent ``(n·S_L − n_L·S)² / (n·n_L·n_R)``; a node is a
  leaf at depth 3, below 2 samples, or when its impurity is ≤ machine epsilon), replaces each leaf value
  with the one-step Newton update ``(K-1)/K · mean(g) / mean(p(1-p))`` (binary: ``mean(g) / mean(p(1-p))``),
  and adds ``learning_rate × leaf value`` to the raw prediction of class k;
* feature importances: per tree, Σ over its splits of ``n·imp − n_L·imp_L − n_R·imp_R`` divided by the
  number of samples; mean over the trees that have at least one split; normalised to sum 1.

Results equal scikit-learn's up to floating-point summation order. That order decides only (a) which
of several exactly tied candidate splits wins (frequent: in the first stages a class's residuals take
two values, so different splits with the same class counts tie exactly; scikit-learn breaks such ties by
rounding noise and a random feature order drawn from numpy's global RNG, so its own results move
between runs with different global seeds in the same way; here rounding noise and then a random feature
from ``random_state``), and (b) whether a node whose residuals are all equal, impurity zero up to
rounding, is split further (its two children then get the same value: the predictions do not change).
``tests/metrics/test_gbt.py`` replays scikit-learn's fits tree by tree and checks that every difference
is of one of these two kinds, and that single trees on continuous targets partition the training
points identically (their splits are identical except between equivalent candidates, e.g. the features
that all separate the two points of a 2-point node).
"""
import numpy as np
import torch
from scipy.special import expit
from sklearn.utils import check_random_state

FEATURE_THRESHOLD = np.float32(1e-7)
EPSILON = np.finfo(np.float64).eps


def _cumsum_rows(a):
    """Row-wise prefix sums of a float64 [F, M] array (torch's CPU kernel is ~3x faster than numpy's)."""
    return torch.cumsum(torch.from_numpy(a), dim=1).numpy()


class _Tree:
    """A fitted regression tree in heap layout (node h has children 2h+1, 2h+2)."""

    __slots__ = ("feature", "threshold", "value", "is_split", "importance", "max_depth")

    def __init__(self, max_depth, num_features):
        size = 2 ** (max_depth + 1) - 1
        self.max_depth = max_depth
        self.feature = np.zeros(size, dtype=np.intp)
        self.threshold = np.zeros(size, dtype=np.float64)
        self.value = np.zeros(size, dtype=np.float64)
        self.is_split = np.zeros(size, dtype=bool)
        self.importance = np.zeros(num_features, dtype=np.float64)

    def apply(self, X64):
        """Leaf (heap index) reached by each row of ``X64`` (float64 copies of the float32 features)."""
        node = np.zeros(len(X64), dtype=np.intp)
        rows = np.arange(len(X64))
        for _ in range(self.max_depth):
            split = self.is_split[node]
            if not split.any():
                break
            go_right = X64[rows, self.feature[node]] > self.threshold[node]
            node = np.where(split, 2 * node + 1 + go_right, node)
        return node


class SortedFeatures:
    """Float32 features with each feature's sort order, computed once per design matrix."""

    def __init__(self, X):
        X32 = np.asarray(X, dtype=np.float32)
        self.num_samples, self.num_features = X32.shape
        self.X64 = X32.astype(np.float64)
        self.columns = np.ascontiguousarray(X32.T)                     # [F, N] float32
        self.order = np.argsort(self.columns, axis=1, kind="stable")   # [F, N]
        # int32 indices halve the memory traffic of the gathers
        self.order = self.order.astype(np.int32 if self.num_samples < 2**31 else np.intp)


def best_split(proxy, grouped, start, columns, rng):
    """Position (feature, offset) of the largest ``proxy`` whose two sides are separable, or None.

    Ties between features go to a random feature (scikit-learn visits features in a random order and
    keeps the first best); within a feature the first position wins, as in scikit-learn.
    """
    while True:
        row_max = proxy.max(axis=1)
        top = row_max.max()
        if not np.isfinite(top):
            return None
        rows = np.flatnonzero(row_max == top)
        f = int(rows[0] if len(rows) == 1 else rows[rng.randint(len(rows))])
        i = int(np.argmax(proxy[f]))
        a, b = grouped[f, start + i], grouped[f, start + i + 1]
        # sklearn never separates values closer than FEATURE_THRESHOLD (float32 arithmetic): rare, so
        # checked on the winner only
        if columns[f, b] > columns[f, a] + FEATURE_THRESHOLD:
            return f, i
        proxy[f, i] = -np.inf


def fit_tree(data, residual, max_depth, rng):
    """Exact greedy least-squares regression tree on ``residual`` (float64 [N]).

    Returns the tree (its ``value`` is the node mean; the caller overwrites leaves) and each training
    sample's leaf.
    """
    N, F = data.num_samples, data.num_features
    tree = _Tree(max_depth, F)
    leaf_of = np.zeros(N, dtype=np.intp)
    sq_residual = residual * residual
    total, sq_total = float(residual.sum()), float(sq_residual.sum())
    impurity = sq_total / N - (total / N) ** 2
    tree.value[0] = total / N
    if N < 2 or impurity <= EPSILON or max_depth < 1:
        return tree, leaf_of
    # nodes to split at this level: (heap id, start, end, sum, sum of squares, impurity); ``grouped``
    # holds, per feature, the samples of these nodes one node after the other, each node sorted
    segments = [(0, 0, N, total, sq_total, impurity)]
    grouped = data.order
    columns = data.columns
    for depth in range(max_depth):
        cumulative = _cumsum_rows(residual[grouped])
        children = []          # (heap id, samples, sum, sum of squares, impurity) of nodes to split next
        for heap, start, end, node_sum, node_sq, node_impurity in segments:
            n = end - start
            left_sum = cumulative[:, start:end - 1]
            if start > 0:
                left_sum = left_sum - cumulative[:, start - 1:start]
            # S_L²/n_L + S_R²/n_R = S²/n + (n·S_L − n_L·S)² / (n·n_L·n_R): maximise the last term
            n_left = np.arange(1, n, dtype=np.float64)
            proxy = left_sum * float(n)
            proxy -= n_left * node_sum
            proxy *= proxy
            proxy *= 1.0 / (n_left * (n - n_left))
            found = best_split(proxy, grouped, start, columns, rng)
            if found is None:                             # no separable split: the node is a leaf
                leaf_of[grouped[0, start:end]] = heap
                continue
            f, i = found
            sum_left = float(left_sum[f, i])
            sum_right = node_sum - sum_left
            left, right = grouped[f, start:start + i + 1], grouped[f, start + i + 1:end]
            nl, nr = i + 1, n - i - 1
            sq_left = float(sq_residual[left].sum())
            sq_right = node_sq - sq_left
            imp_left = sq_left / nl - (sum_left / nl) ** 2
            imp_right = sq_right / nr - (sum_right / nr) ** 2
            improvement = (n / N) * (node_impurity - nr / n * imp_right - nl / n * imp_left)
            if improvement + EPSILON < 0.0:                # sklearn's min_impurity_decrease test
                leaf_of[grouped[0, start:end]] = heap
                continue
            x_a, x_b = float(columns[f, left[-1]]), float(columns[f, right[0]])
            threshold = x_a / 2.0 + x_b / 2.0
            if threshold == x_b or np.isinf(threshold):
                threshold = x_a
            tree.is_split[heap] = True
            tree.feature[heap] = f
            tree.threshold[heap] = threshold
            tree.importance[f] += n * node_impurity - nl * imp_left - nr * imp_right
            for child, idx, s, sq, imp, cnt in ((2 * heap + 1, left, sum_left, sq_left, imp_left, nl),
                                                 (2 * heap + 2, right, sum_right, sq_right, imp_right, nr)):
                tree.value[child] = s / cnt
                if depth + 1 >= max_depth or cnt < 2 or imp <= EPSILON:
                    leaf_of[idx] = child
                else:
                    children.append((child, idx, s, sq, imp))
        if not children:
            break
        # regroup: the samples of each child contiguous, still sorted along every feature
        key = np.full(N, -1, dtype=np.int8 if len(children) < 127 else np.int32)
        segments, start = [], 0
        for c, (child, idx, s, sq, imp) in enumerate(children):
            key[idx] = c
            segments.append((child, start, start + len(idx), s, sq, imp))
            start += len(idx)
        key_grouped = key[grouped].ravel()
        flat = grouped.ravel()
        grouped = np.concatenate([np.compress(key_grouped == c, flat).reshape(F, -1)
                                  for c in range(len(children))], axis=1)
    tree.importance /= N
    return tree, leaf_of


def _softmax(raw):
    z = raw - raw.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def newton_leaf_values(tree, leaf_of, neg_gradient, y_k, num_classes):
    """Set each leaf of ``tree`` to scikit-learn's one-step Newton update (``_update_terminal_regions``):
    ``mean(g) / mean(p(1-p))`` over the leaf's samples, times (K-1)/K for K > 2 classes, 0 when the
    denominator is below 1e-150; ``g = y_k - p`` is the negative gradient."""
    p = y_k - neg_gradient
    size = len(tree.value)
    counts = np.bincount(leaf_of, minlength=size)
    leaves = np.flatnonzero(counts)
    num = np.bincount(leaf_of, weights=neg_gradient, minlength=size)[leaves] / counts[leaves]
    if num_classes > 2:
        num = num * ((num_classes - 1) / num_classes)
    den = np.bincount(leaf_of, weights=p * (1 - p), minlength=size)[leaves] / counts[leaves]
    safe = np.abs(den) >= 1e-150
    update = np.zeros(len(leaves))
    update[safe] = num[safe] / den[safe]
    tree.value[leaves] = update


def fit_predict_gbt(X_train, y_train, X_eval=(), n_estimators=100, learning_rate=0.1, max_depth=3,
                    random_state=0):
    """Fit ``GradientBoostingClassifier(n_estimators, learning_rate, max_depth)`` (other parameters at
    their defaults) on ``X_train, y_train`` and predict.

    Returns ``(importances, train_predictions, [eval_predictions...])``: the normalised impurity
    importances (``feature_importances_``) and class predictions for the training set and for each
    array in ``X_eval``.
    """
    rng = check_random_state(random_state)   # None: numpy's global RNG, like scikit-learn
    classes, y = np.unique(np.asarray(y_train), return_inverse=True)
    K = len(classes)
    if K < 2:
        raise ValueError("gradient boosting needs at least 2 classes")
    data = SortedFeatures(X_train)
    N, F = data.num_samples, data.num_features
    eval_sets = [np.asarray(X, dtype=np.float32).astype(np.float64) for X in X_eval]

    prior = np.bincount(y, minlength=K) / N
    eps = np.finfo(np.float64).eps
    prior = np.clip(prior, eps, 1 - eps)
    binary = K == 2
    if binary:
        raw = np.full((N, 1), np.log(prior[1] / (1 - prior[1])))
        onehot = (y == 1).astype(np.float64)[:, None]
    else:
        log_prior = np.log(prior)
        raw = np.tile(log_prior - log_prior.mean(), (N, 1))
        onehot = np.zeros((N, K))
        onehot[np.arange(N), y] = 1.0
    raw_eval = [np.tile(raw[0], (len(X), 1)) for X in eval_sets]

    importance_sum, relevant_trees = np.zeros(F), 0
    for _ in range(n_estimators):
        prob = expit(raw) if binary else _softmax(raw)
        neg_gradient = onehot - prob
        for k in range(raw.shape[1]):
            g = np.ascontiguousarray(neg_gradient[:, k])
            tree, leaf_of = fit_tree(data, g, max_depth, rng)
            if tree.is_split[0]:
                importance_sum += tree.importance
                relevant_trees += 1
            newton_leaf_values(tree, leaf_of, g, onehot[:, k], K)
            raw[:, k] += learning_rate * tree.value[leaf_of]
            for X, r in zip(eval_sets, raw_eval):
                r[:, k] += learning_rate * tree.value[tree.apply(X)]

    if relevant_trees:
        average = importance_sum / relevant_trees
        importances = average / average.sum()
    else:
        importances = np.zeros(F)

    def predict(r):
        return classes[(r[:, 0] >= 0).astype(int)] if binary else classes[np.argmax(r, axis=1)]

    return importances, predict(raw), [predict(r) for r in raw_eval]

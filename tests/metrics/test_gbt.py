"""The fast gradient-boosting path of DCI equals scikit-learn's GradientBoostingClassifier().

Single regression trees on continuous targets (no ties possible) must be identical to
DecisionTreeRegressor(max_depth=3). Whole boosted fits are replayed tree by tree from scikit-learn's
own staged raw predictions: every tree must equal scikit-learn's except at an exactly tied split (both
candidates score the same) or at a node whose residuals are all equal (zero impurity up to rounding).
"""
import numpy as np
import pytest
from scipy.special import expit
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.tree import DecisionTreeRegressor

from pyrovae.metrics import _gbt
from pyrovae.metrics.dci import dci


def heap_splits(tree):
    """{heap index: (feature, threshold)} of a fitted sklearn tree_."""
    out = {}

    def walk(node, heap):
        if tree.children_left[node] != -1:
            out[heap] = (int(tree.feature[node]), float(tree.threshold[node]))
            walk(tree.children_left[node], 2 * heap + 1)
            walk(tree.children_right[node], 2 * heap + 2)

    walk(0, 0)
    return out


def our_splits(tree):
    return {h: (int(tree.feature[h]), float(tree.threshold[h])) for h in np.flatnonzero(tree.is_split)}


def classify_difference(theirs, ours, X32, residual):
    """'same' when the split dictionaries agree; 'benign' when they first differ at a node where the
    two candidate splits score exactly the same (a tie) or whose residuals are all equal (zero
    impurity); else a description of the difference."""
    if theirs == ours:
        return "same"
    heap = min(h for h in set(theirs) | set(ours) if theirs.get(h) != ours.get(h))
    members = np.ones(len(residual), dtype=bool)
    node = heap
    while node > 0:                      # the node's samples: the ancestors' splits agree
        parent = (node - 1) // 2
        feature, threshold = theirs[parent]
        side = X32[:, feature] > threshold
        members &= side if node == 2 * parent + 2 else ~side
        node = parent
    r = residual[members]
    if r.var() <= 1e-12 * max(1.0, float(np.mean(r * r))):
        return "benign"

    def score(split):
        left = X32[members, split[0]] <= split[1]
        return r[left].sum() ** 2 / left.sum() + r[~left].sum() ** 2 / (~left).sum()

    if heap in theirs and heap in ours and np.isclose(score(theirs[heap]), score(ours[heap]), rtol=1e-10):
        return "benign"
    return f"node {heap}: sklearn {theirs.get(heap)}, ours {ours.get(heap)}"


@pytest.mark.parametrize("seed", range(6))
def test_single_tree_equals_sklearn(seed):
    rs = np.random.RandomState(seed)
    n, f = rs.randint(40, 400), rs.randint(1, 6)
    X = rs.randn(n, f)
    y = np.sin(3 * X[:, 0]) + X[:, -1] ** 2 + 0.3 * rs.randn(n)
    reference = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X, y)
    tree, leaf_of = _gbt.fit_tree(_gbt.SortedFeatures(X), y, 3, np.random.RandomState(0))
    verdict = classify_difference(heap_splits(reference.tree_), our_splits(tree), X.astype(np.float32), y)
    assert verdict in ("same", "benign"), verdict
    # same partition of the training points (ties only swap equivalent splits)
    np.testing.assert_allclose(tree.value[leaf_of], reference.predict(X), rtol=0, atol=1e-12)
    if verdict == "same":
        X_new = rs.randn(200, f)
        np.testing.assert_allclose(tree.value[tree.apply(X_new.astype(np.float32).astype(np.float64))],
                                   reference.predict(X_new), rtol=0, atol=1e-12)
        np.testing.assert_allclose(tree.importance / tree.importance.sum(), reference.feature_importances_,
                                   atol=1e-12)


def test_values_closer_than_feature_threshold_are_not_separated():
    """scikit-learn never splits between values closer than float32(1e-7); neither do we."""
    rs = np.random.RandomState(0)
    base = np.float32(0.5)
    ulp = np.spacing(base)                       # 6e-8 < 1e-7: not separable
    x = np.concatenate([np.full(30, base), np.full(30, base + ulp), rs.uniform(0.6, 1.0, 40).astype(np.float32)])
    y = np.concatenate([np.zeros(30), np.full(30, 10.0), rs.randn(40)])
    X = x[:, None]
    reference = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X, y)
    tree, leaf_of = _gbt.fit_tree(_gbt.SortedFeatures(X), y, 3, np.random.RandomState(0))
    assert our_splits(tree) == heap_splits(reference.tree_)
    assert len(np.unique(leaf_of[:60])) == 1     # the two near-equal values share a leaf


def replay(X, y, n_estimators=15):
    """Fit scikit-learn, then refit each of its trees with our code on the same residuals.

    Returns (number of trees, trees with identical splits, trees that differ at an exact tie or a
    zero-impurity node, other differences as a list of descriptions).
    """
    model = GradientBoostingClassifier(n_estimators=n_estimators, random_state=0).fit(X, y)
    X32 = X.astype(np.float32)
    data = _gbt.SortedFeatures(X)
    K = len(model.classes_)
    onehot = np.eye(K)[np.searchsorted(model.classes_, y)]
    prior = onehot.mean(axis=0)
    if K == 2:
        raw0 = np.full((len(y), 1), np.log(prior[1] / prior[0]))
    else:
        raw0 = np.tile(np.log(prior) - np.log(prior).mean(), (len(y), 1))
    stages = [raw0] + [r.reshape(len(y), -1) for r in model.staged_decision_function(X)]
    same, benign, bad, total = 0, 0, [], 0
    for stage in range(n_estimators):
        raw = stages[stage]
        if K == 2:
            targets = onehot[:, 1:]
            neg_gradient = targets - expit(raw)
        else:
            targets = onehot
            p = np.exp(raw - raw.max(axis=1, keepdims=True))
            neg_gradient = targets - p / p.sum(axis=1, keepdims=True)
        for k in range(neg_gradient.shape[1]):
            total += 1
            g = np.ascontiguousarray(neg_gradient[:, k])
            sk_tree = model.estimators_[stage, k].tree_
            tree, leaf_of = _gbt.fit_tree(data, g, 3, np.random.RandomState(0))
            _gbt.newton_leaf_values(tree, leaf_of, g, targets[:, k], K)
            verdict = classify_difference(heap_splits(sk_tree), our_splits(tree), X32, g)
            if verdict == "same":
                same += 1
                np.testing.assert_allclose(tree.value[leaf_of], sk_tree.value[sk_tree.apply(X32), 0, 0],
                                           rtol=1e-9, atol=1e-12)
            elif verdict == "benign":
                benign += 1
            else:
                bad.append((stage, k, verdict))
    return total, same, benign, bad


@pytest.mark.parametrize("num_classes", [2, 3, 5])
def test_boosting_replays_sklearn_tree_by_tree(num_classes):
    rs = np.random.RandomState(num_classes)
    y = rs.randint(num_classes, size=240)
    X = rs.randn(240, 4)
    X[:, 0] += 1.5 * y
    X[:, 1] += y % 2
    total, same, benign, bad = replay(X, y)
    assert not bad, bad
    assert same + benign == total and same >= total // 2


def test_fit_predict_close_to_sklearn():
    """End to end (ties broken differently): predictions and importances agree closely."""
    rs = np.random.RandomState(1)
    y = rs.randint(4, size=400)
    X = rs.randn(400, 5)
    X[:, 0] += y
    X[:, 2] -= 0.5 * y
    X_test = rs.randn(300, 5)
    X_test[:, 0] += np.arange(300) % 4
    model = GradientBoostingClassifier(n_estimators=30, random_state=0).fit(X, y)
    importances, train_pred, (test_pred,) = _gbt.fit_predict_gbt(X, y, [X_test], n_estimators=30)
    assert np.abs(importances - model.feature_importances_).max() < 0.02
    assert np.isclose(importances.sum(), 1.0)
    assert np.mean(train_pred == model.predict(X)) > 0.97
    assert np.mean(test_pred == model.predict(X_test)) > 0.9


def test_binary_labels_are_returned_as_given():
    rs = np.random.RandomState(0)
    y = np.where(rs.rand(100) < 0.5, 7, -3)
    X = rs.randn(100, 2) + (y == 7)[:, None] * 3.0
    _, pred, _ = _gbt.fit_predict_gbt(X, y, n_estimators=5)
    assert set(np.unique(pred)) <= {7, -3}
    assert np.mean(pred == y) > 0.9


def test_dci_estimators_agree():
    """The default fast path and scikit-learn's class give the same DCI (small data)."""
    rs = np.random.RandomState(0)
    factors = rs.randint(3, size=(300, 2))
    codes = np.column_stack([factors[:, 0] + 0.3 * rs.randn(300), factors[:, 1] + 0.3 * rs.randn(300),
                             rs.randn(300)])
    fast = dci(codes[:200], factors[:200], codes[200:], factors[200:])
    slow = dci(codes[:200], factors[:200], codes[200:], factors[200:], estimator="sklearn")
    for key in fast:
        assert fast[key] == pytest.approx(slow[key], abs=0.02), key

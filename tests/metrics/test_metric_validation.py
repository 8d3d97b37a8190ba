"""Invalid input: every metric raises PyroVAEError with a one-line message (or has a documented result)."""
import numpy as np
import pytest
from metric_helpers import FactorGrid

from pyrovae import metrics
from pyrovae.errors import PyroVAEError

RS = np.random.RandomState(0)
FACTORS = RS.randint(3, size=(120, 2))
CODES = FACTORS + 0.1 * RS.randn(120, 2)


def split(codes=CODES, factors=FACTORS):
    return codes[:80], factors[:80], codes[80:], factors[80:]


TRAIN_TEST_METRICS = {
    "sap": metrics.sap_score,
    "dci": metrics.dci,
    "modularity": metrics.modularity_explicitness,
    "downstream": lambda *a: metrics.downstream_sample_efficiency(*a, sizes=(10, 50)),
    "array_suite": metrics.compute_array_metrics,
}
SINGLE_SPLIT_METRICS = {
    "mig": metrics.mutual_info_gap,
    "unsupervised": lambda codes, factors: metrics.unsupervised_scores(codes),
}


def raises(match, fn, *args, **kwargs):
    with pytest.raises(PyroVAEError, match=match) as info:
        fn(*args, **kwargs)
    assert "\n" not in str(info.value)
    return info


@pytest.mark.parametrize("name", TRAIN_TEST_METRICS)
def test_mismatched_rows(name):
    ctr, ftr, cte, fte = split()
    raises("rows", TRAIN_TEST_METRICS[name], ctr[:-1], ftr, cte, fte)
    raises("rows", TRAIN_TEST_METRICS[name], ctr, ftr, cte, fte[:-2])


def test_mismatched_rows_single_split():
    raises("rows", metrics.mutual_info_gap, CODES[:-1], FACTORS)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", list(TRAIN_TEST_METRICS) + list(SINGLE_SPLIT_METRICS))
def test_non_finite_codes(name, bad):
    codes = CODES.copy()
    codes[5, 1] = bad
    if name in SINGLE_SPLIT_METRICS:
        raises("NaN or infinite", SINGLE_SPLIT_METRICS[name], codes, FACTORS)
    else:
        raises("NaN or infinite", TRAIN_TEST_METRICS[name], *split(codes))


@pytest.mark.parametrize("name", list(TRAIN_TEST_METRICS) + list(SINGLE_SPLIT_METRICS))
def test_one_dimensional_input(name):
    if name in SINGLE_SPLIT_METRICS:
        raises("2-D array.*codes\\[:, None\\]", SINGLE_SPLIT_METRICS[name], CODES[:, 0], FACTORS)
        if name == "mig":
            raises("2-D array.*factors\\[:, None\\]", SINGLE_SPLIT_METRICS[name], CODES, FACTORS[:, 0])
    else:
        ctr, ftr, cte, fte = split()
        raises("2-D array", TRAIN_TEST_METRICS[name], ctr[:, 0], ftr, cte, fte)
        raises("2-D array", TRAIN_TEST_METRICS[name], ctr, ftr[:, 0], cte, fte)


@pytest.mark.parametrize("name", TRAIN_TEST_METRICS)
def test_non_integral_float_factors(name):
    ctr, ftr, cte, fte = split()
    raises("integer class indices.*non-integral", TRAIN_TEST_METRICS[name], ctr, ftr + 0.5, cte, fte)


def test_integral_float_factors_are_accepted():
    assert metrics.mutual_info_gap(CODES, FACTORS.astype(float)) == metrics.mutual_info_gap(CODES, FACTORS)
    ctr, ftr, cte, fte = split()
    assert metrics.sap_score(ctr, ftr.astype(np.float32), cte, fte) == metrics.sap_score(ctr, ftr, cte, fte)


def test_wrong_dtypes():
    raises("real numbers", metrics.mutual_info_gap, CODES.astype(str), FACTORS)
    raises("real numbers", metrics.mutual_info_gap, CODES.astype(complex), FACTORS)
    raises("class indices", metrics.mutual_info_gap, CODES, FACTORS.astype(str))


def test_integer_and_float32_codes_are_accepted():
    assert np.isfinite(metrics.mutual_info_gap(FACTORS, FACTORS))
    assert np.isfinite(metrics.mutual_info_gap(CODES.astype(np.float32), FACTORS))


def test_train_test_dimension_mismatch():
    ctr, ftr, cte, fte = split()
    raises("dimensions", metrics.sap_score, ctr, ftr, np.column_stack([cte, cte]), fte)
    raises("factors", metrics.dci, ctr, ftr, cte, fte[:, :1])


def test_more_bins_than_points():
    raises("more than the 10 points", metrics.mutual_info_gap, CODES[:10], FACTORS[:10])
    raises("num_bins", metrics.unsupervised_scores, CODES[:10])
    raises("num_bins", metrics.modularity_explicitness, *split(), num_bins=1000)
    assert np.isfinite(metrics.mutual_info_gap(CODES[:10], FACTORS[:10], num_bins=5))


@pytest.mark.parametrize("num_bins", [0, 1, 2.5, "20", True])
def test_bad_num_bins(num_bins):
    raises("num_bins", metrics.mutual_info_gap, CODES, FACTORS, num_bins=num_bins)


def test_too_few_points_or_dimensions():
    raises("at least 2 points", metrics.mutual_info_gap, CODES[:1], FACTORS[:1])
    raises("at least 2 code dimensions", metrics.mutual_info_gap, CODES[:, :1], FACTORS)
    raises("at least 2 code dimensions", metrics.sap_score, CODES[:80, :1], FACTORS[:80], CODES[80:, :1],
           FACTORS[80:])


def test_constant_factor():
    """MIG leaves a constant factor out (documented); the supervised metrics refuse it."""
    factors = FACTORS.copy()
    factors[:, 1] = 2
    assert metrics.mutual_info_gap(CODES, factors) == pytest.approx(metrics.mutual_info_gap(CODES, FACTORS[:, :1]))
    raises("every factor takes a single value", metrics.mutual_info_gap, CODES, np.zeros((120, 2), int))
    for name in ("sap", "dci", "modularity"):
        raises(r"column\(s\) \[1\] take a single value", TRAIN_TEST_METRICS[name], *split(CODES, factors))


def test_compute_array_metrics_drops_constant_factors():
    factors = np.column_stack([FACTORS, np.zeros(120, int)])
    with pytest.warns(UserWarning, match=r"\[2\]"):
        got = metrics.compute_array_metrics(*split(CODES, factors), metrics=["mig", "sap"])
    assert got["mig"]["discrete_mig"] == pytest.approx(metrics.mutual_info_gap(CODES[:80], FACTORS[:80]))
    with pytest.warns(UserWarning):
        only = metrics.compute_array_metrics(*split(CODES, np.zeros((120, 1), int)))
    assert list(only) == ["unsupervised"]
    raises("unknown array metric", metrics.compute_array_metrics, *split(), metrics=["nope"])


def test_dci_unknown_estimator():
    raises("unknown estimator", metrics.dci, *split(), estimator="hist")


def test_downstream_bad_sizes():
    raises("exceeds", metrics.downstream_sample_efficiency, *split(), sizes=(1000,))
    raises("positive integer", metrics.downstream_sample_efficiency, *split(), sizes=(0, 10))
    raises("at least one", metrics.downstream_sample_efficiency, *split(), sizes=())


def test_sap_continuous_accepts_real_factors_but_not_constant_ones():
    y = RS.randn(120, 1)
    assert 0 <= metrics.sap_score(CODES[:80], y[:80], CODES[80:], y[80:], continuous_factors=True) <= 1
    raises("constant", metrics.sap_score, CODES[:80], np.ones((80, 1)), CODES[80:], y[80:], continuous_factors=True)


# ---------------------------------------------------------------------------------------------- sampled scores
SAMPLED = {"beta_vae": metrics.beta_vae_score, "factor_vae": metrics.factor_vae_score}


@pytest.mark.parametrize("name", SAMPLED)
def test_sampled_score_inputs(name):
    fn, dataset = SAMPLED[name], FactorGrid([2, 3])

    def rep(obs):
        return obs * 1.0

    raises("lacks factor_sizes, sample_factors", fn, object(), rep, 0)
    raises("random_state", fn, dataset, rep, None)
    raises("random_state", fn, dataset, rep, 1.5)
    raises("num_train", fn, dataset, rep, 0, num_train=0)
    raises("batch_size", fn, dataset, rep, 0, batch_size=0)
    raises("one row per observation", fn, dataset, lambda obs: obs[:, 0], 0, num_train=5, num_eval=5)
    raises("NaN or infinite", fn, dataset, lambda obs: obs * np.nan, 0, num_train=5, num_eval=5)
    bad_sizes = FactorGrid([2, 3])
    bad_sizes.factor_sizes = []
    raises("factor_sizes", fn, bad_sizes, rep, 0)


def test_sampled_scores_accept_a_random_state_object():
    dataset = FactorGrid([2, 3])
    a = metrics.beta_vae_score(dataset, lambda o: o * 1.0, np.random.RandomState(3), num_train=50, num_eval=20)
    b = metrics.beta_vae_score(dataset, lambda o: o * 1.0, 3, num_train=50, num_eval=20)
    assert a == b


def test_factor_vae_bad_threshold():
    raises("prune_threshold", metrics.factor_vae_score, FactorGrid([2]), lambda o: o * 1.0, 0, prune_threshold=-1)

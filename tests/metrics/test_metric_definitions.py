"""Hand-computed cases of each metric's definition (no reference files needed)."""
import numpy as np
import pytest
from metric_helpers import FactorGrid

from pyrovae import metrics
from pyrovae.metrics._utils import histogram_discretize, mutual_info_score
from pyrovae.metrics.dci import completeness, disentanglement
from pyrovae.metrics.modularity import modularity_from_mi
from pyrovae.metrics.unsupervised import gaussian_total_correlation, gaussian_wasserstein_correlation

LOG2 = np.log(2.0)


def grid(*sizes, repeat=1):
    """Every combination of factor values, ``repeat`` times: int [prod(sizes) * repeat, len(sizes)]."""
    points = np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"), -1).reshape(-1, len(sizes))
    return np.tile(points, (repeat, 1))


# ---------------------------------------------------------------------------------------------- discretizer
def test_histogram_discretizer_bins():
    codes = np.array([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0], [0.05, 5.0]])
    bins = histogram_discretize(codes, 20)
    # equal-width bins on [0, 2]: min -> 1, max -> 20, 1.0 -> 11, 0.05 (< 0.1) -> 1; a constant column -> 11
    assert bins[:, 0].tolist() == [1, 11, 20, 1]
    assert bins[:, 1].tolist() == [11, 11, 11, 11]


@pytest.mark.filterwarnings("ignore:Clustering metrics expects discrete values")
def test_mutual_info_score_is_scikit_learns_bit_for_bit():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    cases = [(np.zeros(5, int), np.arange(5)), (np.arange(6), np.arange(6) % 2), (np.array([3]), np.array([7]))]
    for _ in range(300):
        n = int(rng.integers(2, 200))
        a = rng.integers(0, rng.integers(1, 30), n)
        b = rng.choice([-5, 0, 2, 1000], size=n) + (a * 7) % 5 * rng.integers(0, 2)  # sparse, negative labels
        cases += [(a, b), (b, a), (a * 0.5, b), (a, np.array([f"c{v}" for v in b]))]
    for a, b in cases:
        assert mutual_info_score(a, b) == sklearn_metrics.mutual_info_score(a, b)


# ---------------------------------------------------------------------------------------------- MIG
def test_mig_perfect_codes_is_one():
    factors = grid(2, 3, repeat=5)
    codes = factors + 0.0
    assert metrics.mutual_info_gap(codes, factors) == pytest.approx(1.0)


def test_mig_hand_computed():
    """z1 = v1, z2 = v1 + v2 with v1, v2 independent fair bits: I(z1; v1) = 1 bit, I(z2; v1) = 0.5 bit,
    I(z1; v2) = 0, I(z2; v2) = 0.5 bit; H = 1 bit. Gaps 0.5 and 0.5: MIG = 0.5."""
    factors = grid(2, 2, repeat=5)
    codes = np.column_stack([factors[:, 0], factors[:, 0] + factors[:, 1]]).astype(float)
    assert metrics.mutual_info_gap(codes, factors) == pytest.approx(0.5)


def test_mig_constant_factor_is_left_out():
    factors = grid(2, 2, repeat=5)
    codes = np.column_stack([factors[:, 0], factors[:, 0] + factors[:, 1]]).astype(float)
    with_constant = np.column_stack([factors, np.zeros(len(factors), dtype=int)])
    assert metrics.mutual_info_gap(codes, with_constant) == pytest.approx(0.5)


def test_mig_ignores_monotone_rescaling_but_not_bins():
    rs = np.random.RandomState(0)
    factors = rs.randint(4, size=(500, 2))
    codes = factors + 0.1 * rs.randn(500, 2)
    assert metrics.mutual_info_gap(3 * codes + 1, factors) == pytest.approx(metrics.mutual_info_gap(codes, factors))
    assert metrics.mutual_info_gap(codes, factors, num_bins=4) != metrics.mutual_info_gap(codes, factors)


# ---------------------------------------------------------------------------------------------- SAP
def test_sap_separable_code_against_constant_code():
    """Code 0 separates the binary factor perfectly (accuracy 1); code 1 is constant, so its classifier
    predicts one class: accuracy 1/2 on a balanced test set. SAP = 1 - 1/2."""
    factors = np.repeat([[0], [1]], 100, axis=0)
    codes = np.column_stack([np.where(factors[:, 0] == 1, 5.0, -5.0), np.zeros(200)])
    assert metrics.sap_score(codes, factors, codes, factors) == pytest.approx(0.5)


def test_sap_two_factors_each_with_own_code():
    factors = grid(2, 2, repeat=50)
    codes = np.where(factors == 1, 5.0, -5.0)
    # each column: own code accuracy 1, the other code carries nothing: accuracy 1/2
    assert metrics.sap_score(codes, factors, codes, factors) == pytest.approx(0.5)


def test_sap_continuous_is_squared_correlation_gap():
    rs = np.random.RandomState(0)
    y = rs.randn(300, 1)
    codes = np.column_stack([2 * y[:, 0] + 1, np.zeros(300)])        # corr² = 1 and, constant, 0
    assert metrics.sap_score(codes, y, codes, y, continuous_factors=True) == pytest.approx(1.0)
    noisy = np.column_stack([y[:, 0] + rs.randn(300), rs.randn(300)])
    r2 = [np.corrcoef(noisy[:, i], y[:, 0])[0, 1] ** 2 for i in range(2)]
    assert metrics.sap_score(noisy, y, noisy, y, continuous_factors=True) == pytest.approx(abs(r2[0] - r2[1]))


# ---------------------------------------------------------------------------------------------- DCI
def test_dci_scores_of_importance_matrices():
    assert disentanglement(np.eye(3)) == pytest.approx(1.0, abs=1e-8)
    assert completeness(np.eye(3)) == pytest.approx(1.0, abs=1e-8)
    assert disentanglement(np.ones((3, 3))) == pytest.approx(0.0, abs=1e-8)
    assert completeness(np.ones((3, 3))) == pytest.approx(0.0, abs=1e-8)
    # one code explains both factors equally, the other nothing: D = 0 (its entropy is 1 bit in
    # base 2), C = 1 (each factor relies on one code only)
    R = np.array([[1.0, 1.0], [0.0, 0.0]])
    assert disentanglement(R) == pytest.approx(0.0, abs=1e-8)
    assert completeness(R) == pytest.approx(1.0, abs=1e-8)
    # a code with weight 3/4 fully devoted (D=1) and one with 1/4 split evenly (D=0): D = 3/4
    R = np.array([[0.75, 0.0], [0.125, 0.125]])
    assert disentanglement(R) == pytest.approx(0.75, abs=1e-8)
    # all-zero importances: the reference's all-ones weights
    assert disentanglement(np.zeros((2, 2))) == pytest.approx(0.0, abs=1e-8)


def test_dci_end_to_end_on_copied_factors():
    rs = np.random.RandomState(0)
    factors = rs.randint(3, size=(400, 2))
    codes = np.column_stack([factors[:, 0] + 0.05 * rs.randn(400), factors[:, 1] + 0.05 * rs.randn(400)])
    got = metrics.dci(codes[:300], factors[:300], codes[300:], factors[300:])
    assert got["informativeness_train"] == pytest.approx(1.0)
    assert got["informativeness_test"] == pytest.approx(1.0)
    assert got["disentanglement"] > 0.99 and got["completeness"] > 0.99


def test_dci_single_factor_and_single_code():
    rs = np.random.RandomState(0)
    factors = rs.randint(2, size=(200, 1))
    codes = factors + 0.1 * rs.randn(200, 1)
    got = metrics.dci(codes, factors, codes, factors)
    assert got["disentanglement"] == pytest.approx(1.0) and got["completeness"] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------- modularity
def test_modularity_of_mi_matrices():
    assert modularity_from_mi(np.eye(3)) == pytest.approx(1.0)              # one factor per code
    assert modularity_from_mi(np.ones((2, 3))) == pytest.approx(0.0)        # every factor equally
    assert modularity_from_mi(np.array([[2.0, 1.0]])) == pytest.approx(0.75)  # t = [4, 1]: 1 - 1/4
    # an uninformative code counts as 0 and stays in the mean
    assert modularity_from_mi(np.array([[1.0, 0.0], [0.0, 0.0]])) == pytest.approx(0.5)
    assert modularity_from_mi(np.array([[0.3], [0.0]])) == pytest.approx(0.5)  # K = 1: 1 and 0


def test_modularity_explicitness_perfect_codes():
    factors = grid(3, 4, repeat=20)
    codes = factors * 1.0          # noise-free: each code's bins are exactly its factor's values
    got = metrics.modularity_explicitness(codes, factors, codes, factors)
    assert got["modularity_score"] == pytest.approx(1.0, abs=1e-9)
    assert got["explicitness_score_train"] > 0.95 and got["explicitness_score_test"] > 0.95


def test_explicitness_constant_code_and_missing_test_class():
    rs = np.random.RandomState(0)
    factors = rs.randint(3, size=(300, 1))
    codes = np.column_stack([factors[:, 0] + 0.1 * rs.randn(300), np.ones(300)])   # second code constant
    test_factors = factors[factors[:, 0] != 2][:50]                                  # class 2 absent
    test_codes = codes[factors[:, 0] != 2][:50]
    got = metrics.modularity_explicitness(codes, factors, test_codes, test_factors)
    assert got["explicitness_score_train"] > 0.95 and got["explicitness_score_test"] > 0.95


# ---------------------------------------------------------------------------------------------- unsupervised
@pytest.mark.parametrize("rho", [0.0, 0.3, -0.8])
def test_gaussian_correlations_closed_form(rho):
    scale = np.diag([2.0, 0.5])
    cov = scale @ np.array([[1.0, rho], [rho, 1.0]]) @ scale
    # TC = -1/2 log det R, independent of the scales
    assert gaussian_total_correlation(cov) == pytest.approx(-0.5 * np.log(1 - rho ** 2), abs=1e-12)
    unit = np.array([[1.0, rho], [rho, 1.0]])
    # unit variances: W = 2 tr R - 2 tr sqrtm(R) = 4 - 2 (sqrt(1 + rho) + sqrt(1 - rho))
    assert gaussian_wasserstein_correlation(unit) == pytest.approx(4 - 2 * (np.sqrt(1 + rho) + np.sqrt(1 - rho)),
                                                                   abs=1e-10)


def test_unsupervised_scores_on_data():
    rs = np.random.RandomState(0)
    z = rs.randn(2000, 3)
    z[:, 1] = 0.6 * z[:, 0] + 0.8 * z[:, 1]
    got = metrics.unsupervised_scores(z)
    corr = np.corrcoef(z.T)
    assert got["gaussian_total_correlation"] == pytest.approx(-0.5 * np.log(np.linalg.det(corr)), abs=1e-10)
    cov = np.cov(z.T)
    assert got["gaussian_wasserstein_correlation_norm"] == pytest.approx(
        got["gaussian_wasserstein_correlation"] / np.trace(cov))
    assert got["gaussian_wasserstein_correlation"] > 0


def test_unsupervised_mutual_info_of_identical_codes():
    """Two copies of a fair binary code: I(d1; d2) = H = log 2 nats for both ordered pairs."""
    bits = np.tile([0.0, 1.0], 50)
    got = metrics.unsupervised_scores(np.column_stack([bits, bits]))
    assert got["mutual_info_score"] == pytest.approx(LOG2)


def test_unsupervised_constant_dimension_is_independent():
    rs = np.random.RandomState(0)
    z = rs.randn(1000, 2)
    z[:, 1] += 0.5 * z[:, 0]
    with_dead = np.column_stack([z, np.zeros(1000)])
    a, b = metrics.unsupervised_scores(z), metrics.unsupervised_scores(with_dead)
    assert b["gaussian_total_correlation"] == pytest.approx(a["gaussian_total_correlation"])
    assert b["gaussian_wasserstein_correlation"] == pytest.approx(a["gaussian_wasserstein_correlation"])
    assert np.isfinite(b["mutual_info_score"])


# ---------------------------------------------------------------------------------------------- sampled scores
class RecordingGrid(FactorGrid):
    """Records the protocol calls, to check the random-state order."""

    def __init__(self, sizes):
        super().__init__(sizes)
        self.calls = []

    def sample_factors(self, num, random_state):
        self.calls.append(("factors", num))
        return super().sample_factors(num, random_state)

    def sample_observations_from_factors(self, factors, random_state):
        self.calls.append(("observations", len(factors)))
        return super().sample_observations_from_factors(factors, random_state)


def test_beta_vae_random_state_order():
    """Replay the reference's order by hand: per point randint(K), two factor batches, the copy of
    factor k, two renders; the labels then equal an independent replay of the same draws."""
    sizes = [2, 3, 4]
    dataset = RecordingGrid(sizes)
    features = []

    def rep(obs):
        features.append(obs)
        return obs

    metrics.beta_vae_score(dataset, rep, 0, batch_size=5, num_train=7, num_eval=3)
    assert dataset.calls[:4] == [("factors", 5), ("factors", 5), ("observations", 5), ("observations", 5)]
    assert len(dataset.calls) == 4 * 10
    rs = np.random.RandomState(0)
    obs = np.concatenate(features)
    for point in range(10):
        k = rs.randint(3)
        f1 = np.stack([rs.randint(s, size=5) for s in sizes], 1)
        f2 = np.stack([rs.randint(s, size=5) for s in sizes], 1)
        f2[:, k] = f1[:, k]
        np.testing.assert_array_equal(obs[point * 10:point * 10 + 5], f1)
        np.testing.assert_array_equal(obs[point * 10 + 5:point * 10 + 10], f2)


def test_beta_vae_perfect_and_useless_representations():
    dataset = FactorGrid([3, 4])
    perfect = metrics.beta_vae_score(dataset, lambda o: o * 1.0, 0, batch_size=16, num_train=200, num_eval=100)
    assert perfect == {"train_accuracy": 1.0, "eval_accuracy": 1.0}
    useless = metrics.beta_vae_score(dataset, lambda o: np.zeros((len(o), 2)), 0, batch_size=16, num_train=200,
                                     num_eval=100)
    assert useless["train_accuracy"] < 0.7          # the majority class only


def test_factor_vae_votes_and_active_dims():
    dataset = FactorGrid([3, 5])

    def rep(obs):   # code 0 = factor 0, code 1 dead, code 2 = factor 1, code 3 tiny (pruned at 0.05)
        return np.column_stack([obs[:, 0], np.zeros(len(obs)), obs[:, 1], 0.001 * obs[:, 1]])

    got = metrics.factor_vae_score(dataset, rep, 0, batch_size=16, num_train=100, num_eval=50,
                                   num_variance_estimate=500)
    assert got == {"train_accuracy": 1.0, "eval_accuracy": 1.0, "num_active_dims": 2}
    dead = metrics.factor_vae_score(dataset, lambda o: np.zeros((len(o), 3)), 0, num_train=10, num_eval=10,
                                    num_variance_estimate=100)
    assert dead == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}


def test_factor_vae_majority_vote_accuracy():
    """One code for two factors: its votes split between them; the majority vote classifier gets the
    larger share right."""
    dataset = FactorGrid([4, 4])
    got = metrics.factor_vae_score(dataset, lambda o: (o[:, :1] * 4 + o[:, 1:]) * 1.0, 0, batch_size=8,
                                   num_train=400, num_eval=200, num_variance_estimate=500)
    assert got["num_active_dims"] == 1
    assert 0.4 < got["train_accuracy"] < 0.65


# ---------------------------------------------------------------------------------------------- downstream
def test_downstream_sample_efficiency():
    rs = np.random.RandomState(0)
    factors = rs.randint(3, size=(1200, 2))
    codes = factors + 0.2 * rs.randn(1200, 2)
    got = metrics.downstream_sample_efficiency(codes[:1000], factors[:1000], codes[1000:], factors[1000:],
                                               sizes=(10, 100, 1000, 10000))
    assert got["sizes"] == [10, 100, 1000] and got["skipped_sizes"] == [10000]
    assert got["efficiency_numerator_size"] == 100 and got["efficiency_denominator_size"] == 1000
    assert got["efficiency"] == pytest.approx(got["mean_test_accuracy_100"] / got["mean_test_accuracy_1000"])
    assert got["mean_test_accuracy_1000"] > 0.95
    assert len(got["test_accuracy_per_factor"]["100"]) == 2
    assert got["mean_test_accuracy_100"] == pytest.approx(np.mean(got["test_accuracy_per_factor"]["100"]))


def test_downstream_single_class_subset_uses_constant_classifier():
    factors = np.column_stack([np.r_[np.zeros(50, int), np.ones(50, int)], np.arange(100) % 2])
    codes = factors + 0.1
    got = metrics.downstream_sample_efficiency(codes, factors, codes, factors, sizes=(10, 100), random_state=0)
    assert got["efficiency_numerator_size"] == 10 and got["efficiency_denominator_size"] == 100
    assert 0.0 <= got["mean_test_accuracy_10"] <= 1.0

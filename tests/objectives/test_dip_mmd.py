"""DIP-VAE penalties and the MMD estimator against hand-written NumPy references."""
import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch

from pyrovae.errors import PyroVAEError
from pyrovae.models import build_vae
from pyrovae.objectives import DIPVAE, WAE, InfoVAE
from pyrovae.objectives._mmd import kernel_matrix, mmd
from pyrovae.objectives.dip_vae import covariance_penalties, dip_covariance, third_moment_penalty

LOC = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, 1.0], [-0.5, 2.0, 0.0], [2.5, -1.0, 3.0]])
VAR = np.array([[0.1, 0.2, 0.3], [0.2, 0.2, 0.2], [0.4, 0.1, 0.1], [0.3, 0.3, 0.2]])


def hand_penalties(cov):
    d = len(cov)
    off = sum(cov[i, j] ** 2 for i in range(d) for j in range(d) if i != j)
    diag = sum((cov[i, i] - 1) ** 2 for i in range(d))
    return off, diag


def test_dip_penalties_equal_hand_computed_values():
    b, d = LOC.shape
    mean = LOC.sum(0) / b
    cov_i = np.zeros((d, d))
    for row in LOC:  # covariance over the batch axis, normalised by B
        cov_i += np.outer(row - mean, row - mean) / b
    cov_ii = cov_i + np.diag(VAR.mean(0))
    loc, var = torch.tensor(LOC), torch.diag_embed(torch.tensor(VAR))
    for dip_type, cov in (("i", cov_i), ("ii", cov_ii)):
        got = dip_covariance(loc, var, dip_type)
        np.testing.assert_allclose(got.numpy(), cov, atol=1e-12)
        off, diag = covariance_penalties(got)
        np.testing.assert_allclose([float(off), float(diag)], hand_penalties(cov), atol=1e-12)
    third = sum(np.mean([(r[i] - mean[i]) * (r[j] - mean[j]) * (r[k] - mean[k]) for r in LOC]) ** 2
                for i in range(d) for j in range(d) for k in range(d))
    assert float(third_moment_penalty(loc)) == pytest.approx(third, abs=1e-12)
    # centred over the batch: shifting every code by one vector changes nothing
    shifted = loc + torch.tensor([10.0, -3.0, 7.0])
    assert torch.allclose(dip_covariance(shifted, var, "ii"), dip_covariance(loc, var, "ii"))
    assert float(third_moment_penalty(shifted)) == pytest.approx(third, abs=1e-9)


def _fixed_pair(loc, scale, prior_loc=0.0):
    loc, scale = torch.as_tensor(loc, dtype=torch.float32), torch.as_tensor(scale, dtype=torch.float32)

    def model(x):
        with pyro.plate("data", x.shape[0], dim=-1):
            z = pyro.sample("z", dist.Normal(torch.full((loc.shape[1],), prior_loc), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z.sum(-1), 1.0), obs=x)

    def guide(x):
        with pyro.plate("data", x.shape[0], dim=-1):
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    return model, guide


@pytest.mark.parametrize("dip_type,lambda_od,lambda_d", [("i", 2.0, None), ("ii", 3.0, None), ("ii", 1.0, 5.0)])
def test_dip_vae_loss_adds_the_weighted_penalties(dip_type, lambda_od, lambda_d):
    model, guide = _fixed_pair(LOC, np.sqrt(VAR))
    x = torch.zeros(len(LOC))
    objective = DIPVAE(dip_type=dip_type, lambda_od=lambda_od, lambda_d=lambda_d, lambda_3=0.5)
    expected_d = lambda_d if lambda_d is not None else (10 * lambda_od if dip_type == "i" else lambda_od)
    assert objective.lambda_d == expected_d
    loss = objective.loss(model, guide, x)
    t = objective.terms
    cov = dip_covariance(torch.tensor(LOC), torch.diag_embed(torch.tensor(VAR)), dip_type)
    off, diag = covariance_penalties(cov)
    assert float(t["dip_offdiag"]) == pytest.approx(float(off), rel=1e-5)
    assert float(t["dip_diag"]) == pytest.approx(float(diag), rel=1e-5)
    expected = t["recon"] + t["kl"] + lambda_od * off + expected_d * diag + 0.5 * t["dip_third"]
    assert loss == pytest.approx(float(expected), rel=1e-5)
    # vectorised particles: the penalty per particle is the same, and the logged value is unchanged
    many = DIPVAE(dip_type=dip_type, lambda_od=lambda_od, lambda_d=lambda_d, num_particles=3,
                  vectorize_particles=True)
    many.loss(model, guide, x)
    assert float(many.terms["dip_offdiag"]) == pytest.approx(float(off), rel=1e-5)


def _monte_carlo_penalties(guide, x, draws=250_000):
    """DIP-II's penalties from the sample covariance of draws from the mixture of the batch's posteriors
    (Cov q(z) with q(z) the batch's empirical aggregate posterior), normalised by the number of draws."""
    with torch.no_grad():
        z = guide.distribution(x).sample((draws,)).reshape(-1, guide.latent_dim).double()
    centred = z - z.mean(0)
    return covariance_penalties(centred.T @ centred / len(z))


@pytest.mark.parametrize("guide_name", ["diagonal", "lowrank"])
def test_dip_ii_penalties_match_the_sample_covariance_of_the_batch_posteriors(guide_name):
    torch.manual_seed(0)
    pyro.clear_param_store()
    model, guide = build_vae((1, 6), latent_dim=3, arch="mlp", guide=guide_name)
    with torch.no_grad():
        guide.head.weight[:3] *= 20  # means that differ between the points: Cov_B[μ(x)] counts too
        if guide_name == "lowrank":  # strongly correlated posteriors: W W^T has off-diagonal entries ~ 1
            guide.head.bias[3:9] = torch.tensor([1.0, 0.5, -0.8, 0.6, 0.7, -0.4])
    x = (torch.rand(8, 1, 6, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    objective = DIPVAE(dip_type="ii")
    objective.loss(model, guide, x)
    off, diag = _monte_carlo_penalties(guide, x)
    assert float(off) > 0.1
    assert float(objective.terms["dip_offdiag"]) == pytest.approx(float(off), rel=0.02)
    assert float(objective.terms["dip_diag"]) == pytest.approx(float(diag), rel=0.02)


def test_dip_ii_with_a_flow_guide_uses_the_covariance_of_the_batch_codes():
    """The IAF has no closed-form Σ(x): DIP-II reads the sample covariance of the codes it drew."""
    torch.manual_seed(0)
    pyro.clear_param_store()
    model, guide = build_vae((1, 6), latent_dim=3, arch="mlp", guide="iaf")
    x = (torch.rand(512, 1, 6, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    codes = []

    def recording_guide(x):
        z = guide(x)
        codes.append(z.detach())
        return z

    objective = DIPVAE(dip_type="ii")
    objective.loss(model, recording_guide, x)
    centred = codes[0] - codes[0].mean(0)
    off, diag = covariance_penalties(centred.T @ centred / len(x))
    assert float(objective.terms["dip_offdiag"]) == pytest.approx(float(off), rel=1e-5)
    assert float(objective.terms["dip_diag"]) == pytest.approx(float(diag), rel=1e-5)
    # one draw per point estimates the same Cov q(z) as many draws do
    _, mc_diag = _monte_carlo_penalties(guide, x, draws=100)
    assert float(diag) == pytest.approx(float(mc_diag), abs=0.1)


def test_dip_vae_refuses_a_prior_other_than_the_standard_normal():
    model, guide = _fixed_pair(LOC, np.sqrt(VAR), prior_loc=1.0)
    with pytest.raises(PyroVAEError, match="N\\(0, I\\)"):
        DIPVAE().loss(model, guide, torch.zeros(len(LOC)))


def numpy_mmd(x, y, kernel):
    c = 2.0 * x.shape[1]

    def k(a, b):
        sq = ((a - b) ** 2).sum()
        return np.exp(-sq / c) if kernel == "rbf" else c / (c + sq)

    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


@pytest.mark.parametrize("kernel", ["rbf", "imq"])
def test_mmd_matches_a_numpy_reference(kernel):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 3)) + 0.5, rng.normal(size=(5, 3))
    got = mmd(torch.tensor(x), torch.tensor(y), kernel)
    assert float(got) == pytest.approx(numpy_mmd(x, y, kernel), abs=1e-12)
    # batched over leading (particle) dims: one estimate per particle
    xs, ys = torch.tensor(np.stack([x, x + 1])), torch.tensor(np.stack([y, y]))
    both = mmd(xs, ys, kernel)
    assert both.shape == (2,) and float(both[1]) == pytest.approx(numpy_mmd(x + 1, y, kernel), abs=1e-12)
    assert kernel_matrix(torch.tensor(x), torch.tensor(y), kernel).shape == (6, 5)


def test_mmd_is_near_zero_for_equal_distributions_and_large_for_different_ones():
    torch.manual_seed(0)
    same = mmd(torch.randn(400, 4), torch.randn(400, 4), "imq")
    apart = mmd(torch.randn(400, 4) + 2.0, torch.randn(400, 4), "imq")
    assert abs(float(same)) < 0.01 < float(apart)


def test_info_vae_and_wae_combine_their_terms_as_documented():
    model, guide = _fixed_pair(LOC, np.sqrt(VAR))
    x = torch.zeros(len(LOC))
    info = InfoVAE(alpha=0.5, lambda_mmd=10.0, kernel="imq")
    loss = info.loss(model, guide, x)
    t = info.terms
    assert loss == pytest.approx(float(t["recon"] + 0.5 * t["kl"] + 9.5 * t["mmd"]), rel=1e-5)
    # a deterministic encoder: the decoder sees z = μ(x), so recon is −log N(0; Σ_d μ_d(x), 1) for any seed
    exact_recon = float(np.mean(0.5 * LOC.sum(1) ** 2 + 0.5 * np.log(2 * np.pi)))
    for deterministic in (True, False):
        wae = WAE(lambda_mmd=7.0, deterministic_encoder=deterministic)
        recons = []
        for seed in (0, 1):
            pyro.set_rng_seed(seed)
            loss = wae.loss(model, guide, x)
            assert loss == pytest.approx(float(wae.terms["recon"] + 7.0 * wae.terms["mmd"]), rel=1e-5)
            recons.append(float(wae.terms["recon"]))
        if deterministic:
            assert recons == pytest.approx([exact_recon] * 2, rel=1e-5)
        else:
            assert recons[0] != pytest.approx(recons[1])

"""FactorVAE: the discriminator's density-ratio TC, its isolation from the VAE, and its checkpoint."""
import io
import math

import pyro
import pytest
import torch

from pyrovae.errors import PyroVAEError
from pyrovae.models import build_vae
from pyrovae.objectives import FactorVAE
from pyrovae.objectives.factor_vae import permute_dims


def test_permute_dims_permutes_each_dimension_independently_across_the_batch():
    torch.manual_seed(0)
    z = torch.arange(40.0).reshape(2, 10, 2)  # [particles, batch, dims]
    p = permute_dims(z)
    for k in range(2):
        for d in range(2):
            assert sorted(p[k, :, d].tolist()) == sorted(z[k, :, d].tolist())  # same values per column
    assert not torch.equal(p[..., 0].argsort(-1), p[..., 1].argsort(-1))  # not one shared permutation


def test_a_briefly_trained_discriminator_estimates_the_tc_of_correlated_gaussians():
    torch.manual_seed(0)
    rho = 0.8
    r = torch.tensor([[1.0, rho], [rho, 1.0]])
    codes = torch.distributions.MultivariateNormal(torch.zeros(2), r)
    objective = FactorVAE(discriminator_units=64, discriminator_layers=2, discriminator_lr=3e-3)
    for _ in range(400):
        loss, accuracy = objective.discriminator_step(codes.sample((512,)))
    with torch.no_grad():
        estimate = float(objective.density_ratio(codes.sample((20000,))).mean())
    true_tc = -0.5 * math.log(1 - rho ** 2)  # = −½ log det R ≈ 0.51
    assert estimate == pytest.approx(true_tc, abs=0.12)
    assert float(accuracy) > 0.55 and float(loss) < math.log(2)


def _step(objective, model, guide, x, optimizer):
    optimizer.zero_grad()
    loss = objective.differentiable_loss(model, guide, x)
    loss.backward()
    disc_grads = [p.grad for p in objective.discriminator.parameters()]
    optimizer.step()
    objective.after_step()
    return loss, disc_grads


def test_vae_loss_leaves_no_gradient_in_the_discriminator_and_it_stays_out_of_the_param_store():
    pyro.clear_param_store()
    torch.manual_seed(0)
    model, guide = build_vae((1, 12), latent_dim=3, arch="mlp")
    x = (torch.rand(16, 1, 12) < 0.5).float()
    objective = FactorVAE(gamma=5.0, discriminator_units=32, discriminator_layers=2)
    optimizer = torch.optim.Adam([*model.parameters(), *guide.parameters()], lr=1e-3)
    loss, disc_grads = _step(objective, model, guide, x, optimizer)
    assert all(g is None for g in disc_grads)  # the VAE's backward wrote nothing into the discriminator
    store = {id(p) for p in pyro.get_param_store().values()}
    assert not any(id(p) in store for p in objective.discriminator.parameters())
    terms = objective.terms
    for key in ("recon", "kl", "tc", "discriminator_loss", "discriminator_accuracy"):
        assert key in terms and terms[key].dim() == 0 and torch.isfinite(terms[key])
    assert float(loss.detach()) == pytest.approx(float(terms["recon"] + terms["kl"] + 5.0 * terms["tc"]), rel=1e-5)
    # the TC term reaches the encoder: its gradient differs with and without γ
    grads = {}
    for gamma in (0.0, 50.0):
        pyro.set_rng_seed(1)
        objective.gamma = gamma
        guide.zero_grad()
        objective.differentiable_loss(model, guide, x).backward()
        grads[gamma] = guide.head.weight.grad.clone()
    assert not torch.allclose(grads[0.0], grads[50.0])


def test_discriminator_state_round_trips_through_a_weights_only_checkpoint():
    torch.manual_seed(0)
    objective = FactorVAE(discriminator_units=16, discriminator_layers=3)
    assert objective.state_dict() == {}
    z = torch.randn(32, 4)
    objective.discriminator_step(z)
    buffer = io.BytesIO()
    torch.save(objective.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    restored = FactorVAE(discriminator_units=16, discriminator_layers=3)
    restored.load_state_dict(state)
    probe = torch.randn(8, 4)
    assert torch.equal(restored.density_ratio(probe), objective.density_ratio(probe))
    # the optimiser state came along: the next step is identical
    torch.manual_seed(5)
    objective.discriminator_step(z)
    torch.manual_seed(5)
    restored.discriminator_step(z)
    assert torch.equal(restored.density_ratio(probe), objective.density_ratio(probe))
    with pytest.raises(PyroVAEError, match="another shape"):
        FactorVAE(discriminator_units=16, discriminator_layers=2).load_state_dict(state)


def test_discriminator_follows_the_codes_dtype():
    objective = FactorVAE(discriminator_units=8, discriminator_layers=1)
    objective.discriminator_step(torch.randn(8, 2))
    out = objective.density_ratio(torch.randn(8, 2, dtype=torch.float64))
    assert out.dtype == torch.float64
    objective.discriminator_step(torch.randn(8, 2, dtype=torch.float64))  # optimiser state moved along

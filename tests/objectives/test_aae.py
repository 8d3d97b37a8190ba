"""The adversarial autoencoder: its discriminator learns, the aggregate posterior moves to the prior, the
loss is recon + λ·(−log D(z)) with no KL, the discriminator stays isolated, and it trains from the CLI."""
import copy
import io
import math

import pyro
import pytest
import torch
from torch.nn import functional as F

from pyrovae.cli import main
from pyrovae.errors import PyroVAEError
from pyrovae.models import build_vae
from pyrovae.objectives import AAE, FactorVAE, make_objective
from pyrovae.objectives._adversarial import AdversarialObjective

SMALL = {"discriminator_units": 64, "discriminator_layers": 2}


def _toy_data(n, generator=None):
    """2-D Gaussian data far from the origin with anisotropic covariance."""
    u = torch.randn(n, 2, generator=generator)
    return u @ torch.tensor([[1.5, 0.0], [0.7, 0.4]]) + torch.tensor([3.0, -2.0])


def _moment_distance(z):
    """|mean| + ‖cov − I‖_F: 0 exactly when the first two moments are those of N(0, I)."""
    return float(z.mean(0).norm() + (torch.cov(z.T) - torch.eye(z.shape[1])).norm())


def test_the_adversarial_machinery_is_shared_with_factor_vae():
    assert issubclass(AAE, AdversarialObjective) and issubclass(FactorVAE, AdversarialObjective)
    assert AAE.train_discriminator is FactorVAE.train_discriminator
    assert AAE.discriminator_logits is FactorVAE.discriminator_logits


def test_discriminator_loss_falls_and_the_aggregate_posterior_moves_to_the_prior_on_a_toy_2d_problem():
    pyro.clear_param_store()
    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    model, guide = build_vae((2,), latent_dim=2, arch="mlp", likelihood="gaussian-fixed:scale=0.1")
    with torch.no_grad():  # the encoder starts with codes centred at (3, 3), far from the prior N(0, I)
        guide.head.bias[:2] += 3.0
    objective = make_objective("aae", discriminator_lr=1e-3, **SMALL)
    optimizer = torch.optim.Adam([*model.parameters(), *guide.parameters()], lr=1e-3)
    probe = _toy_data(2000, torch.Generator().manual_seed(1))

    def aggregate_posterior_distance():
        with torch.no_grad():
            return _moment_distance(guide.distribution(probe).sample())

    start = aggregate_posterior_distance()
    losses, accuracies, distances = [], [], []
    for step in range(600):
        optimizer.zero_grad()
        objective.differentiable_loss(model, guide, _toy_data(256)).backward()
        optimizer.step()
        objective.after_step()
        losses.append(float(objective.terms["discriminator_loss"]))
        accuracies.append(float(objective.terms["discriminator_accuracy"]))
        if step % 50 == 49:
            distances.append(aggregate_posterior_distance())
    # the discriminator learns: from log 2 (chance) its loss falls well below while q(z) is still far off
    assert losses[0] == pytest.approx(math.log(2), abs=0.15)
    assert min(losses[:60]) < 0.45
    # the encoder answers: q(z) ends close to N(0, I) in mean and covariance ...
    assert start > 3.5
    assert max(distances[-3:]) < 0.3 * start
    # ... so the discriminator, which told them apart almost perfectly, ends much closer to chance
    peak = max(sum(accuracies[i:i + 50]) / 50 for i in range(0, 200, 10))
    assert peak > 0.9 and sum(accuracies[-50:]) / 50 < peak - 0.15
    assert float(objective.terms["js_estimate"]) == pytest.approx(math.log(2) - losses[-1])


def test_loss_is_recon_plus_weighted_adversarial_term_without_kl_and_the_discriminator_gets_no_gradient():
    pyro.clear_param_store()
    torch.manual_seed(0)
    model, guide = build_vae((1, 12), latent_dim=3, arch="mlp")
    x = (torch.rand(16, 1, 12) < 0.5).float()
    objective = AAE(adversarial_weight=3.0, **SMALL)
    optimizer = torch.optim.Adam([*model.parameters(), *guide.parameters()], lr=1e-3)
    optimizer.zero_grad()
    loss = objective.differentiable_loss(model, guide, x)
    loss.backward()
    assert all(p.grad is None for p in objective.discriminator.parameters())
    store = {id(p) for p in pyro.get_param_store().values()}
    assert not any(id(p) in store for p in objective.discriminator.parameters())
    optimizer.step()
    objective.after_step()
    terms = objective.terms
    for key in ("recon", "kl", "adversarial", "discriminator_loss", "discriminator_accuracy", "js_estimate"):
        assert key in terms and terms[key].dim() == 0 and torch.isfinite(terms[key]), key
    assert float(terms["kl"]) > 0
    assert float(loss.detach()) == pytest.approx(float(terms["recon"] + 3.0 * terms["adversarial"]), rel=1e-5)
    # −log D(z) reaches the encoder: its gradient changes with λ
    grads = {}
    for weight in (0.0, 30.0):
        pyro.set_rng_seed(1)
        objective.adversarial_weight = weight
        guide.zero_grad()
        objective.differentiable_loss(model, guide, x).backward()
        grads[weight] = guide.head.weight.grad.clone()
    assert not torch.allclose(grads[0.0], grads[30.0])


def test_deterministic_encoder_feeds_the_posterior_mean():
    pyro.clear_param_store()
    torch.manual_seed(0)
    model, guide = build_vae((1, 12), latent_dim=3, arch="mlp")
    x = (torch.rand(8, 1, 12) < 0.5).float()
    objective = AAE(deterministic_encoder=True, **SMALL)
    objective.differentiable_loss(model, guide, x)
    (codes, prior_draws), = objective._codes
    assert torch.allclose(codes[0], guide.representation(x))
    assert prior_draws.shape == codes.shape


def test_vectorised_particles_and_a_mixture_prior_give_the_per_particle_terms():
    """With P vectorised particles the encoder's term is the particle average of −log D(z) at each
    particle's codes, and the discriminator's step is cross-entropy on all P·B codes (label 1) against
    as many draws of the mixture prior (label 0) — each checked against a hand computation."""
    pyro.clear_param_store()
    torch.manual_seed(0)
    model, guide = build_vae((1, 12), latent_dim=3, arch="mlp", prior="mixture:components=4")
    with torch.no_grad():  # the prior's components far apart: its draws are not N(0, I)'s
        model.prior.locs.copy_(torch.arange(4.0)[:, None] * 5.0)
    x = (torch.rand(8, 1, 12) < 0.5).float()
    objective = make_objective("aae", num_particles=3, vectorize_particles=True, adversarial_weight=2.0, **SMALL)
    objective.differentiable_loss(model, guide, x)  # builds the discriminator; its first step below
    objective.after_step()
    loss = objective.differentiable_loss(model, guide, x)
    terms = objective.terms
    (codes, prior_draws), = objective._codes
    assert codes.shape == prior_draws.shape == (3, 8, 3)
    with torch.no_grad():
        disc = copy.deepcopy(objective.discriminator)
        logits = disc(codes)
        per_particle = F.softplus(logits[..., AAE.POSTERIOR] - logits[..., AAE.PRIOR]).mean(-1)  # −log D(z)
        assert float(terms["adversarial"]) == pytest.approx(float(per_particle.mean()), rel=1e-5)
        assert float(loss.detach()) == pytest.approx(float(terms["recon"] + 2.0 * per_particle.mean()), rel=1e-5)
        both = torch.cat([prior_draws.reshape(-1, 3), codes.reshape(-1, 3)])
        labels = torch.cat([torch.zeros(24, dtype=torch.long), torch.ones(24, dtype=torch.long)])
        logits = disc(both)
        expected_loss = F.cross_entropy(logits, labels)
        expected_accuracy = (logits.argmax(-1) == labels).float().mean()
    assert prior_draws.abs().max() > 8  # drawn from the mixture's far components
    objective.after_step()
    assert float(terms["discriminator_loss"]) == pytest.approx(float(expected_loss), rel=1e-5)
    assert float(terms["discriminator_accuracy"]) == pytest.approx(float(expected_accuracy))
    assert float(terms["js_estimate"]) == pytest.approx(math.log(2) - float(expected_loss), rel=1e-5)
    for p0, p1 in zip(disc.parameters(), objective.discriminator.parameters()):
        assert not torch.equal(p0, p1)  # the step was taken


def test_state_round_trips_and_bad_options_are_one_line_errors():
    objective = AAE(**SMALL)
    assert objective.state_dict() == {}
    objective.discriminator_step(torch.randn(16, 4), torch.randn(16, 4))
    buffer = io.BytesIO()
    torch.save(objective.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    restored = AAE(**SMALL)
    restored.load_state_dict(state)
    probe = torch.randn(8, 4)
    assert torch.equal(restored.prior_log_odds(probe), objective.prior_log_odds(probe))
    with pytest.raises(PyroVAEError, match="saved AAE discriminator has another shape"):
        AAE(discriminator_units=64, discriminator_layers=3).load_state_dict(state)
    for bad in ({"adversarial_weight": -1.0}, {"discriminator_lr": 0.0}, {"deterministic_encoder": "maybe"}):
        with pytest.raises(PyroVAEError, match=next(iter(bad))):
            make_objective("aae", **bad)


def test_pyrovae_train_objective_aae(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # fit() takes its torch threads from it: one, as in the other tests
    x = (torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0)) < 0.3).numpy().astype("float32")
    import numpy as np

    np.save(tmp_path / "data.npy", x)
    code = main(["train", "--objective", "aae", "--dataset", str(tmp_path / "data.npy"), "--out",
                 str(tmp_path / "run"), "--steps", "3", "--batch-size", "8", "--discriminator-units", "16",
                 "--no-evaluate", "--no-plots", "--no-progress", "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    log = (tmp_path / "run" / "log.jsonl").read_text()
    assert '"adversarial"' in log and '"js_estimate"' in log
    capsys.readouterr()  # the first run's output
    code = main(["train", "--objective", "aae", "--gamma", "2", "--dataset", str(tmp_path / "data.npy"),
                 "--out", str(tmp_path / "run2"), "--steps", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--gamma does not apply to --objective aae" in err

"""Every registered objective: trains on 64×64 binary images, logs its terms, checkpoints, rejects bad
hyperparameters; β-VAE, capacity and the warm-up change the loss exactly where they should."""
import io
import math

import pyro
import pytest
import torch

from pyrovae.errors import PyroVAEError
from pyrovae.models import build_vae
from pyrovae.objectives import OBJECTIVES, make_objective, schedules
from pyrovae.objectives.base import GENERIC_HYPERPARAMETERS

EXPECTED_TERMS = {
    "vae": [], "beta-vae": ["beta"], "capacity-vae": ["capacity"], "beta-tcvae": ["mi", "tc", "dwkl"],
    "factor-vae": ["tc", "discriminator_loss", "discriminator_accuracy"], "dip-vae": ["dip_offdiag", "dip_diag"],
    "info-vae": ["mmd"], "mmd": ["mmd"], "wae": ["mmd"], "iwae": ["iwae", "elbo"],
}
SMALL = {"factor-vae": {"discriminator_units": 64, "discriminator_layers": 2}}


def test_the_family_is_registered():
    assert set(EXPECTED_TERMS) <= set(OBJECTIVES)
    assert OBJECTIVES["mmd"] is OBJECTIVES["info-vae"] and OBJECTIVES["info-vae"].name == "info-vae"
    ours = [cls for cls in OBJECTIVES.values() if cls.__module__.startswith("pyrovae.")]  # not test plugins
    for cls in ours:
        assert set(GENERIC_HYPERPARAMETERS) <= set(cls.hyperparameters)
        assert cls.__doc__ and "20" in cls.__doc__  # the math and a dated citation
        make_objective(cls.name)  # the declared defaults construct


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return (torch.rand(8, 1, 64, 64, generator=g) < 0.2).float()


@pytest.mark.parametrize("name", sorted(EXPECTED_TERMS))
def test_each_objective_trains_the_conv_vae_without_nan_and_logs_its_terms(name, images):
    pyro.clear_param_store()
    torch.manual_seed(0)
    model, guide = build_vae((1, 64, 64), latent_dim=10, arch="conv")
    objective = make_objective(name, **SMALL.get(name, {}))
    objective.dataset_size = 1000
    optimizer = torch.optim.Adam([*model.parameters(), *guide.parameters()], lr=1e-3)
    losses = []
    for step in range(2):
        objective.step = step
        optimizer.zero_grad()
        with pyro.validation_enabled(step == 0):
            loss = objective.differentiable_loss(model, guide, images)
        loss.backward()
        optimizer.step()
        objective.after_step()
        losses.append(float(loss.detach()))
    assert all(math.isfinite(v) for v in losses)
    terms = objective.terms
    for key in ["loss", "recon", "kl", *EXPECTED_TERMS[name]]:
        assert key in terms, key
        assert terms[key].dim() == 0 and not terms[key].requires_grad and torch.isfinite(terms[key])
    assert float(terms["loss"]) == pytest.approx(losses[-1], rel=1e-5)
    # every parameter of decoder and encoder is trained by the objective: a finite, non-zero gradient
    for part, module in (("model", model), ("guide", guide)):
        for key, p in module.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, f"{part}.{key}"
    # objective state is checkpointable with weights_only=True
    buffer = io.BytesIO()
    torch.save(objective.state_dict(), buffer)
    buffer.seek(0)
    make_objective(name, **SMALL.get(name, {})).load_state_dict(torch.load(buffer, weights_only=True))


def _fixed(objective, model, guide, x, seed=0):
    pyro.set_rng_seed(seed)
    loss = float(objective.differentiable_loss(model, guide, x).detach())
    return loss, {k: v.clone() for k, v in objective.terms.items() if torch.is_tensor(v)}


@pytest.fixture(scope="module")
def small_vae():
    pyro.clear_param_store()
    torch.manual_seed(0)
    model, guide = build_vae((1, 20), latent_dim=4, arch="mlp")
    x = (torch.rand(32, 1, 20, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    return model, guide, x


def test_beta_changes_the_loss_exactly_in_the_kl_term(small_vae):
    model, guide, x = small_vae
    results = {beta: _fixed(make_objective("beta-vae", beta=beta), model, guide, x) for beta in (0.0, 1.0, 4.0)}
    recon = results[1.0][1]["recon"]
    kl = results[1.0][1]["kl"]
    assert float(kl) > 0
    for beta, (loss, terms) in results.items():
        assert torch.equal(terms["recon"], recon)  # same sample z, untouched likelihood
        assert torch.allclose(terms["kl"], kl)
        assert loss == pytest.approx(float(recon + beta * kl), rel=1e-6)
    vae_loss, _ = _fixed(make_objective("vae"), model, guide, x)
    assert vae_loss == pytest.approx(results[1.0][0], rel=1e-6)
    # β may be a schedule: linear 0 -> 4 over 10 steps is 2 at step 5
    annealed = make_objective("beta-vae", beta=schedules.linear(0.0, 4.0, 10))
    annealed.step = 5
    assert _fixed(annealed, model, guide, x)[0] == pytest.approx(float(recon + 2.0 * kl), rel=1e-6)


def test_capacity_vae_is_recon_plus_gamma_times_the_kl_distance_to_the_annealed_capacity(small_vae):
    model, guide, x = small_vae
    objective = make_objective("capacity-vae", gamma=100.0, capacity_max=20.0, capacity_steps=1000)
    for step, c in ((0, 0.0), (250, 5.0), (5000, 20.0)):
        objective.step = step
        loss, terms = _fixed(objective, model, guide, x)
        assert float(terms["capacity"]) == pytest.approx(c)
        assert loss == pytest.approx(float(terms["recon"] + 100.0 * (terms["kl"] - c).abs()), rel=1e-6)


@pytest.mark.parametrize("name", ["vae", "dip-vae", "factor-vae", "beta-tcvae", "info-vae"])
def test_kl_warmup_ramps_every_term_but_the_reconstruction(name, small_vae):
    model, guide, x = small_vae
    options = {**SMALL.get(name, {}), "kl_warmup_steps": 10}
    warm, full = make_objective(name, **options), make_objective(name, **SMALL.get(name, {}))
    for o in (warm, full):
        o.dataset_size = 1000
    full_loss, full_terms = _fixed(full, model, guide, x)
    if name == "factor-vae":  # same discriminator in both, so the TC terms agree
        warm.discriminator = full.discriminator
    for step, w in ((0, 0.0), (5, 0.5), (10, 1.0), (50, 1.0)):
        warm.step = step
        loss, terms = _fixed(warm, model, guide, x)
        recon = float(full_terms["recon"])
        assert float(terms["warmup"]) == pytest.approx(w)
        assert loss == pytest.approx(recon + w * (full_loss - recon), rel=1e-5, abs=1e-4)


def test_warmup_of_iwae_scales_the_latent_log_densities(small_vae):
    model, guide, x = small_vae
    warm = make_objective("iwae", num_samples=3, kl_warmup_steps=4)
    warm.step = 0  # w = 0: the weights are log p(x|z) alone, so the loss is −log mean_k p(x|z_k)
    loss, terms = _fixed(warm, model, guide, x)
    assert loss < float(terms["recon"]) + 1e-4  # log-mean-exp ≥ mean
    warm.step = 4
    full = make_objective("iwae", num_samples=3)
    assert _fixed(warm, model, guide, x)[0] == pytest.approx(_fixed(full, model, guide, x)[0], rel=1e-6)
    with pytest.raises(PyroVAEError, match="warm-up"):
        make_objective("vae").__class__(warmup=lambda step: -1.0).warmup_weight()


def test_schedules():
    lin = schedules.linear(1.0, 3.0, steps=4, delay=2)
    assert [lin(t) for t in (0, 2, 3, 4, 6, 100)] == [1.0, 1.0, 1.5, 2.0, 3.0, 3.0]
    cyc = schedules.cyclical(period=10, ratio=0.5, cycles=2)
    assert [cyc(t) for t in (0, 1, 5, 9, 10, 12, 19, 20, 35)] == [0.0, 0.2, 1.0, 1.0, 0.0, 0.4, 1.0, 1.0, 1.0]
    assert schedules.constant(2.5)(10 ** 6) == 2.5
    assert "linear" in repr(lin) and "cyclical" in repr(cyc)
    for bad in (lambda: schedules.linear(0, 1, -1), lambda: schedules.cyclical(0),
                lambda: schedules.cyclical(10, ratio=1.5)):
        with pytest.raises(PyroVAEError):
            bad()
    objective = make_objective("vae")
    objective.warmup = schedules.cyclical(period=4)
    objective.step = 1
    assert objective.warmup_weight() == 0.5


def _per_particle_reference(name, objective, codes, prior_draws, loc, scale):
    """Each batch-level term computed by hand for each particle's codes, then averaged over particles."""
    from pyrovae.objectives._mmd import mmd
    from pyrovae.objectives.beta_tcvae import log_density_matrix, log_weight_matrix, tc_decomposition

    if name == "beta-tcvae":
        log_w = log_weight_matrix(codes.shape[1], objective.dataset_size)
        parts = [tc_decomposition(log_density_matrix(torch.distributions.Normal(loc, scale), z), log_w,
                                  torch.distributions.Normal(0.0, 1.0).log_prob(z)) for z in codes]
        return {key: torch.stack([part[i].mean() for part in parts]).mean()
                for i, key in enumerate(("mi", "tc", "dwkl"))}
    if name == "info-vae":  # the prior draws may be one batch shared by the particles
        (draws,) = prior_draws
        per_particle = [mmd(z, p, objective.kernel) for z, p in zip(codes, draws.expand(codes.shape))]
        return {"mmd": torch.stack(per_particle).mean()}
    return {}


@pytest.mark.parametrize("name", ["beta-tcvae", "capacity-vae", "info-vae", "dip-vae"])
def test_batch_level_terms_with_vectorised_particles_are_per_particle_averages(name, small_vae, monkeypatch):
    """With P vectorised particles every batch-level term is computed per particle and averaged: checked
    against the same terms computed by hand from each particle's codes (and prior draws), so a sum over
    the particles (P×) or a dropped term (0×) fails."""
    from pyrovae.objectives import _mmd

    pyro.clear_param_store()
    torch.manual_seed(0)
    model, guide = build_vae((1, 20), latent_dim=4, arch="mlp")
    with torch.no_grad():  # spread-out, narrow, correlated posteriors: TC and MMD far from 0
        guide.head.weight[:4] *= 30
        guide.head.bias[4:] = -3.0
    x = small_vae[2]
    options = {"capacity-vae": {"gamma": 100.0, "capacity_max": 20.0, "capacity_steps": 1000}}.get(name, {})
    objective = make_objective(name, num_particles=3, vectorize_particles=True, **options)
    objective.dataset_size = 1000
    objective.step = 250  # capacity C = 5 nats, not 0
    codes, prior_draws = [], []

    def recording_guide(x):
        z = guide(x)
        codes.append(z.detach())
        return z

    sample_prior = _mmd.prior_samples
    monkeypatch.setattr(_mmd, "prior_samples", lambda site: prior_draws.append(sample_prior(site)) or prior_draws[-1])
    loss, terms = _fixed(objective, model, recording_guide, x)
    (z,) = codes
    assert z.shape == (3, len(x), 4)
    with torch.no_grad():
        loc, scale = guide.encode(x)
    reference = _per_particle_reference(name, objective, z, [p.detach() for p in prior_draws], loc, scale)
    for key, value in reference.items():
        assert abs(float(value)) > 0.05, key  # large enough to tell P× or 0× from 1×
        assert float(terms[key]) == pytest.approx(float(value), rel=1e-4), key
    single = make_objective(name, **options)
    single.dataset_size, single.step = 1000, 250
    _, one = _fixed(single, model, guide, x)
    for key in ("kl", "dip_offdiag", "dip_diag", "capacity"):  # deterministic given x: one particle's value
        if key in terms:
            assert float(terms[key]) == pytest.approx(float(one[key]), rel=1e-5), key
    if name == "capacity-vae":
        assert float(terms["capacity"]) == pytest.approx(5.0)
        assert loss == pytest.approx(float(terms["recon"] + 100.0 * (terms["kl"] - 5.0).abs()), rel=1e-6)
    if name == "beta-tcvae":  # α = γ = 1, β = 6: recon + KL + 5·TC, every term a particle average
        assert loss == pytest.approx(float(terms["recon"] + terms["kl"] + 5.0 * terms["tc"]), rel=1e-5)


BAD = [
    ("beta-vae", {"beta": -1.0}, "beta"),
    ("beta-tcvae", {"beta": -0.5}, "beta"),
    ("beta-tcvae", {"alpha": -1.0}, "alpha"),
    ("beta-tcvae", {"gamma": float("nan")}, "gamma"),
    ("beta-tcvae", {"estimator": "exact"}, "estimator"),
    ("capacity-vae", {"gamma": -1.0}, "gamma"),
    ("capacity-vae", {"capacity_max": -5.0}, "capacity_max"),
    ("capacity-vae", {"capacity_steps": 1.5}, "capacity_steps"),
    ("factor-vae", {"gamma": -10.0}, "gamma"),
    ("factor-vae", {"discriminator_lr": 0.0}, "discriminator_lr"),
    ("factor-vae", {"discriminator_layers": 0}, "discriminator_layers"),
    ("dip-vae", {"dip_type": "iii"}, "dip_type"),
    ("dip-vae", {"lambda_od": -1.0}, "lambda_od"),
    ("dip-vae", {"lambda_d": "-2"}, "lambda_d"),
    ("dip-vae", {"lambda_3": -1.0}, "lambda_3"),
    ("info-vae", {"kernel": "laplace"}, "kernel"),
    ("info-vae", {"lambda_mmd": -1.0}, "lambda_mmd"),
    ("info-vae", {"alpha": 2.0}, "alpha"),
    ("info-vae", {"alpha": -5.0, "lambda_mmd": 1.0}, "MMD weight"),
    ("wae", {"lambda_mmd": -1.0}, "lambda_mmd"),
    ("wae", {"kernel": "gauss"}, "kernel"),
    ("wae", {"deterministic_encoder": "maybe"}, "deterministic_encoder"),
    ("iwae", {"num_samples": 0}, "num_samples"),
    ("vae", {"kl_warmup_steps": -3}, "kl_warmup_steps"),
    ("dip-vae", {"nope": 1}, "takes no option"),
]


@pytest.mark.parametrize("name,options,match", BAD)
def test_bad_hyperparameters_raise_a_one_line_error(name, options, match):
    with pytest.raises(PyroVAEError, match=match) as info:
        make_objective(name, **options)
    assert "\n" not in str(info.value)


def test_cli_strings_are_parsed():
    dip = make_objective("dip-vae", dip_type="II", lambda_od="2", lambda_d="auto")
    assert dip.dip_type == "ii" and dip.lambda_d == 2.0
    assert make_objective("wae", deterministic_encoder="false").deterministic_encoder is False


def test_differentiable_loss_never_turns_a_tensor_that_needs_grad_into_a_number(small_vae, monkeypatch):
    """No ``.item()`` / ``float()`` of the graph per step: each is a device sync, and torch warns
    "Consider using tensor.detach() first" (Pyro's Trace_ELBO.differentiable_loss calls ``.item()``)."""
    model, guide, x = small_vae
    for method in ("item", "__float__"):
        def guarded(self, *args, _original=getattr(torch.Tensor, method), _method=method):  # noqa: B008 - bound per loop
            assert not self.requires_grad, f"{_method}() of a tensor that needs grad"
            return _original(self, *args)

        monkeypatch.setattr(torch.Tensor, method, guarded)
    for name in sorted({*EXPECTED_TERMS, "aae"}):
        objective = make_objective(name, **SMALL.get(name, {}), **({"discriminator_units": 8} if name == "aae" else {}))
        objective.dataset_size = 1000
        objective.differentiable_loss(model, guide, x).backward()
        objective.after_step()


@pytest.mark.parametrize("name, prior, guide", [(name, prior, "diagonal") for name in sorted(EXPECTED_TERMS)
                                                for prior in ("normal", "student-t")
                                                if (name, prior) != ("dip-vae", "student-t")]  # (refused)
                         + [("vae", "normal", "iaf"), ("iwae", "normal", "iaf")])
def test_the_trace_without_latent_scores_gives_pyros_loss_terms_and_gradients(name, prior, guide):
    """With validation off the objectives score only the observed sites (``Objective._get_trace``);
    Pyro's own trace, used with validation on, scores every site. Same draws, same numbers, on the
    analytic-KL path and on the Monte Carlo one (a Student-t prior; an IAF guide where the objective
    takes one)."""
    torch.manual_seed(0)
    model, q = build_vae((1, 20), latent_dim=3, arch="mlp", prior=prior, guide=guide)
    x = (torch.rand(16, 1, 20, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    objective = make_objective(name, **SMALL.get(name, {}))
    objective.dataset_size = 1000
    results = []
    for validate in (True, False):
        for module in (model, q):
            module.zero_grad(set_to_none=True)
        pyro.set_rng_seed(2)
        with pyro.validation_enabled(validate):
            loss = objective.differentiable_loss(model, q, x)
        loss.backward()
        grads = [p.grad.clone() for module in (model, q) for p in module.parameters() if p.grad is not None]
        results.append((loss.detach(), {k: v for k, v in objective.terms.items() if torch.is_tensor(v)}, grads))
    (pyro_loss, pyro_terms, pyro_grads), (loss, terms, grads) = results
    assert torch.equal(loss, pyro_loss) and terms.keys() == pyro_terms.keys()
    for key in terms:
        assert torch.equal(terms[key], pyro_terms[key]), key
    assert len(grads) == len(pyro_grads) > 0
    for g, expected in zip(grads, pyro_grads):
        assert torch.equal(g, expected)
    with pyro.validation_enabled(False):  # and the second run did skip the latents' log-densities
        model_trace, guide_trace = objective._get_trace(model, q, (x,), {})
    assert ("log_prob" in model_trace.nodes["z"]) is ("log_prob" in guide_trace.nodes["z"]) is objective.scores_latents
    assert "log_prob" in model_trace.nodes["x"]


def test_objectives_work_as_the_loss_of_pyro_svi():
    """Pyro's SVI calls ``loss_and_grads``: it must give the same loss (a float) and the same gradients
    as ``differentiable_loss``, with the β scale applied once."""
    from pyro.infer import SVI
    from pyro.optim import Adam

    torch.manual_seed(0)
    pyro.clear_param_store()
    model, guide = build_vae((10,), 2)
    x = torch.bernoulli(torch.full((8, 10), 0.5))
    objective = make_objective("beta-vae", beta=4.0)
    torch.manual_seed(1)
    expected = objective.differentiable_loss(model, guide, x)
    expected.backward()
    grads = [p.grad.clone() for p in guide.parameters()]
    assert objective.terms["kl_weighted"] == pytest.approx(4 * float(objective.terms["kl"]))
    for p in list(guide.parameters()) + list(model.parameters()):
        p.grad = None
    torch.manual_seed(1)
    loss = objective.loss_and_grads(model, guide, x)
    assert isinstance(loss, float) and loss == pytest.approx(float(expected.detach()))
    for g, p in zip(grads, guide.parameters()):
        torch.testing.assert_close(p.grad, g)
    torch.manual_seed(1)
    assert objective.loss(model, guide, x) == pytest.approx(float(expected.detach()))
    svi = SVI(model, guide, Adam({"lr": 1e-3}), loss=objective)
    before = [p.detach().clone() for p in (*model.parameters(), *guide.parameters())]
    assert isinstance(svi.step(x), float)
    # SVI's optimiser finds the parameters through pyro.module's param sites, and steps every one
    assert len(pyro.get_param_store()) == len(before)
    assert all(not torch.equal(b, p) for b, p in zip(before, (*model.parameters(), *guide.parameters())))


@pytest.mark.parametrize("name", sorted(set(EXPECTED_TERMS) - {"mmd"}))
def test_each_objective_trains_on_dsprites_and_writes_its_term_curves(name, tmp_path):
    """The acceptance run, shortened: dSprites, the conv net, fit() and its log, then the term-curve plot."""
    import json

    from pyrovae.plots import plot_training_curves
    from pyrovae.train.fit import fit

    options = {**SMALL.get(name, {}), **({"estimator": "mws"} if name == "beta-tcvae" else {})}
    fit({"objective": name, "objective_options": options, "dataset": "dsprites", "steps": 6, "batch_size": 16,
         "lr": 1e-3, "device": "cpu", "log_every": 2, "evaluate": False, "plots": False, "out": str(tmp_path)},
        progress=False)
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [2, 4, 6]
    for key in ["loss", "recon", "kl", *EXPECTED_TERMS[name]]:
        assert all(math.isfinite(row[key]) for row in rows), key
    plot_training_curves(tmp_path / "log.jsonl", tmp_path / "training_curves.png")
    assert (tmp_path / "training_curves.png").stat().st_size > 10_000

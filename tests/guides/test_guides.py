"""Guides: IAF Jacobians against autograd, sample-then-score consistency, state_dict round trips,
low-rank densities, and the shared guide interface."""
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from torch.autograd.functional import jacobian

from pyrovae.errors import PyroVAEError
from pyrovae.guides import IAFGuide, LowRankGaussianGuide, MLPEncoder
from pyrovae.models import GUIDES, build_vae


def _perturb(module, scale=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def _iaf(latent_dim=3, flows=2, seed=0):
    torch.manual_seed(seed)
    return _perturb(IAFGuide(MLPEncoder((1, 4, 4), hidden=(12,)), latent_dim, flows=flows, hidden=16), seed=seed)


def _flow(guide, h):
    """z_0 -> z_T for one data point with encoder features h [1, H]."""
    steps = [step.condition(h) for step in guide.steps]

    def f(z0):
        z = z0[None]
        for t in steps:
            z = t(z)
        return z[0]
    return f


def test_iaf_step_log_det_matches_autograd_jacobian(float64):
    guide = _iaf()
    x = torch.rand(4, 1, 4, 4)
    h = guide.encoder(x)
    z = torch.randn(4, 3)
    for step in guide.steps:
        for i in range(4):
            t = step.condition(h[i:i + 1])
            y = t(z[i:i + 1])
            J = jacobian(lambda v, t=t: t(v[None])[0], z[i])
            assert torch.allclose(t.log_abs_det_jacobian(z[i:i + 1], y)[0], torch.linalg.slogdet(J)[1], atol=1e-8)
            # autoregressive: the Jacobian is triangular in the step's order
            perm = step.nn.permutation
            assert torch.allclose(J[perm][:, perm].triu(1), torch.zeros(3, 3), atol=1e-12)
        z = torch.stack([_flow(guide, h[i:i + 1])(z[i]) for i in range(4)]).detach()


def test_iaf_sampling_then_scoring_is_consistent(float64):
    guide = _iaf()
    x = torch.rand(6, 1, 4, 4)
    h, loc, scale = guide._features(x)
    q = guide.distribution(x)
    z = q.rsample()
    cached = q.log_prob(z)  # uses the flow's cache of the sample
    fresh = guide.distribution(x).log_prob(z.detach().clone())  # inverts the IAF from scratch
    assert torch.allclose(cached, fresh, atol=1e-6)
    # the change of variables with autograd's Jacobian, at the base sample that produced z
    for i in range(6):
        f = _flow(guide, h[i:i + 1])
        z0 = loc[i] + scale[i] * torch.randn(3)
        J = jacobian(f, z0)
        expected = dist.Normal(loc[i], scale[i]).log_prob(z0).sum() - torch.linalg.slogdet(J)[1]
        assert torch.allclose(guide.distribution(x[i:i + 1]).log_prob(f(z0)[None])[0], expected, atol=1e-6)


def test_iaf_guide_site_scores_its_own_sample_in_a_pyro_trace(float64):
    guide = _iaf()
    x = torch.rand(5, 1, 4, 4)
    trace = poutine.trace(guide).get_trace(x)
    trace.compute_log_prob()
    site = trace.nodes["z"]
    assert site["value"].shape == (5, 3)
    recomputed = guide.distribution(x).log_prob(site["value"].detach().clone())
    assert torch.allclose(site["log_prob"], recomputed, atol=1e-6)


@pytest.mark.parametrize("name", ["iaf", "lowrank", "diagonal"])
def test_guides_survive_state_dict_round_trips(name, tmp_path):
    torch.manual_seed(0)
    _, a = build_vae((1, 8, 8), 4, "mlp", "normal", "bernoulli", name)
    _perturb(a, 0.1)
    torch.save(a.state_dict(), tmp_path / "guide.pt")
    torch.manual_seed(123)  # a different random init (and, unseeded, different MADE orders/masks)
    _, b = build_vae((1, 8, 8), 4, "mlp", "normal", "bernoulli", name)
    b.load_state_dict(torch.load(tmp_path / "guide.pt", weights_only=True))
    x = torch.rand(6, 1, 8, 8)
    assert torch.equal(a.representation(x), b.representation(x))
    z = a.distribution(x).sample()
    assert torch.allclose(a.distribution(x).log_prob(z.clone()), b.distribution(x).log_prob(z.clone()), atol=1e-5)
    if name == "iaf":
        keys = a.state_dict().keys()
        assert any(k.endswith("permutation") for k in keys) and any(k.endswith(".mask") for k in keys)


def test_iaf_made_buffers_matter_and_are_restored():
    """The MADE masks shape the flow; loading the state_dict restores them (the param store would lose
    these buffers)."""
    torch.manual_seed(0)
    a = IAFGuide(MLPEncoder((1, 4, 4), hidden=(12,)), 3, flows=1, hidden=16)
    b = IAFGuide(MLPEncoder((1, 4, 4), hidden=(12,)), 3, flows=1, hidden=16)
    b.load_state_dict(a.state_dict())
    for name, buf in b.named_buffers():
        if name.endswith(".mask"):
            buf.fill_(1.0)  # a dense, non-autoregressive network
    x = torch.rand(4, 1, 4, 4)
    assert not torch.allclose(a.representation(x), b.representation(x))
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.representation(x), b.representation(x))


def test_iaf_representation_is_deterministic_and_leaves_the_global_rng_alone():
    guide = _iaf(seed=1)
    x = torch.rand(5, 1, 4, 4)
    state = torch.get_rng_state()
    r1, r2 = guide.representation(x), guide.representation(x)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(r1, r2) and r1.shape == (5, 3)
    # it estimates the posterior mean E_q[z]
    mean = guide.distribution(x).sample((4000,)).mean(0)
    assert torch.allclose(guide.representation(x, num_samples=4000), mean, atol=0.1)


def test_lowrank_guide_density_and_interface():
    torch.manual_seed(0)
    guide = _perturb(LowRankGaussianGuide(MLPEncoder((1, 4, 4), hidden=(12,)), 3, rank=2))
    x = torch.rand(5, 1, 4, 4)
    loc, factor, diag = guide.params(x)
    cov = factor @ factor.transpose(-1, -2) + torch.diag_embed(diag)
    z = torch.randn(5, 3)
    expected = dist.MultivariateNormal(loc, covariance_matrix=cov).log_prob(z)
    assert torch.allclose(guide.distribution(x).log_prob(z), expected, atol=1e-4)
    enc_loc, enc_scale = guide.encode(x)
    assert torch.allclose(enc_loc, loc) and torch.allclose(enc_scale, cov.diagonal(dim1=-2, dim2=-1).sqrt())
    assert torch.equal(guide.representation(x), loc)
    assert (cov - torch.diag_embed(cov.diagonal(dim1=-2, dim2=-1))).abs().max() > 1e-3  # correlated
    with pytest.raises(PyroVAEError, match="rank must be a positive integer"):
        LowRankGaussianGuide(MLPEncoder((1, 4, 4)), 3, rank=0)


@pytest.mark.parametrize("name", sorted(GUIDES))
def test_every_guide_has_the_shared_interface(name):
    _, guide = build_vae((1, 8, 8), 4, "mlp", "normal", "bernoulli", name)
    x = torch.rand(3, 1, 8, 8)
    loc, scale = guide.encode(x)
    assert loc.shape == scale.shape == (3, 4) and (scale > 0).all()
    assert guide.representation(x).shape == (3, 4)
    q = guide.distribution(x)
    assert q.batch_shape == (3,) and q.event_shape == (4,)
    m = guide.mixture_component(x)
    assert m.batch_shape == (3,) and m.event_shape == (4,)
    pyro.clear_param_store()
    with pyro.plate("particles", 2, dim=-2):
        z = guide(x)
    assert z.shape == (2, 3, 4)


def test_guide_options():
    _, guide = build_vae((1, 8, 8), 4, guide="iaf:flows=3,hidden=20")
    assert len(guide.steps) == 3
    _, guide = build_vae((1, 8, 8), 4, guide="lowrank:rank=3")
    assert guide.rank == 3
    with pytest.raises(PyroVAEError, match="hidden must be >= the latent dim"):
        build_vae((1, 8, 8), 4, guide="iaf:hidden=2")
    with pytest.raises(PyroVAEError, match="unknown guide 'made'"):
        build_vae((1, 8, 8), 4, guide="made")
    assert set(GUIDES) == {"diagonal", "lowrank", "iaf"}


def test_iaf_mean_leaves_the_sample_cache_intact(float64):
    guide = _iaf(seed=2)
    x = torch.rand(5, 1, 4, 4)
    q = guide.distribution(x)
    z = q.rsample()
    mean = q.mean  # evaluates the flow on other points
    assert torch.allclose(mean, guide.representation(x))
    calls = []
    hooks = [step.nn.register_forward_hook(lambda *_: calls.append(1)) for step in guide.steps]
    log_q = q.log_prob(z)
    for hook in hooks:
        hook.remove()
    assert calls == []  # scored from the cache: no MADE pass, no D-step inversion
    assert torch.allclose(log_q, guide.distribution(x).log_prob(z.detach().clone()), atol=1e-6)
    assert q.expand((3, 5)).mean.shape == (3, 5, 3)


@pytest.mark.parametrize("guide", sorted(GUIDES))
def test_every_objective_runs_or_names_the_fix(guide):
    """Objectives read more than a KL (the guide's mean, its factorised base): with each guide they either
    run or raise a one-line PyroVAEError, never another exception."""
    from pyrovae.objectives import OBJECTIVES, make_objective

    x = (torch.rand(16, 1, 8, 8) > 0.5).float()
    for name in sorted(OBJECTIVES):
        torch.manual_seed(0)
        model, q = build_vae((1, 8, 8), 3, "mlp", "normal", "bernoulli", guide)
        objective = make_objective(name)
        objective.dataset_size = 100
        try:
            loss = objective.differentiable_loss(model, q, x)
        except PyroVAEError as error:
            assert guide != "diagonal" and "\n" not in str(error), (name, guide)
            continue
        loss.backward()
        objective.after_step()
        assert torch.isfinite(loss), (name, guide)

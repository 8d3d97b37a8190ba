"""Priors: densities against direct computations, flow Jacobians against autograd, KL paths."""
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from torch.autograd.functional import jacobian
from torch.distributions import kl_divergence

from pyrovae.errors import PyroVAEError
from pyrovae.guides import DiagonalGaussianGuide, LowRankGaussianGuide, MLPEncoder
from pyrovae.models import PRIORS, build_vae
from pyrovae.models.decoders import MLPDecoder
from pyrovae.models.likelihoods import BernoulliLikelihood
from pyrovae.models.priors import (
    FlowPrior,
    LaplacePrior,
    MixtureOfGaussiansPrior,
    StandardNormalPrior,
    StudentTPrior,
    VampPrior,
)
from pyrovae.models.vae import VAEModel
from pyrovae.objectives.base import site_kl


def _perturb(module, scale=0.3, seed=0):
    """Random non-trivial parameters (fresh MADEs start close to the identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def _flow_map(prior):
    """f: z -> u, the composition of the flow prior's steps."""
    def f(z):
        for step in prior.steps:
            z = step(z)
        return z
    return f


# ---- flow prior ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["affine", "spline"])
def test_flow_prior_log_det_matches_autograd_jacobian(float64, kind):
    torch.manual_seed(0)
    prior = _perturb(FlowPrior(3, flows=2, kind=kind, hidden=16))
    z = 0.8 * torch.randn(5, 3)
    for step in prior.steps:
        y = step(z)
        ladj = step.log_abs_det_jacobian(z, y)
        for i in range(len(z)):
            J = jacobian(lambda v, step=step: step(v[None])[0], z[i])
            assert torch.allclose(ladj[i], torch.linalg.slogdet(J)[1], atol=1e-8), (kind, i)
        z = y.detach()


@pytest.mark.parametrize("kind", ["affine", "spline"])
def test_flow_prior_log_prob_is_change_of_variables(float64, kind):
    torch.manual_seed(1)
    prior = _perturb(FlowPrior(3, flows=2, kind=kind, hidden=16))
    f, base = _flow_map(prior), dist.Normal(torch.zeros(3), torch.ones(3)).to_event(1)
    p = prior()
    z = 0.8 * torch.randn(6, 3)
    for i in range(len(z)):
        J = jacobian(lambda v: f(v[None])[0], z[i])
        expected = base.log_prob(f(z[i:i + 1]))[0] + torch.linalg.slogdet(J)[1]
        assert torch.allclose(p.log_prob(z[i:i + 1])[0], expected, atol=1e-8)


@pytest.mark.parametrize("kind", ["affine", "spline"])
def test_flow_prior_sampling_then_scoring_is_consistent(float64, kind):
    torch.manual_seed(2)
    prior = _perturb(FlowPrior(3, flows=2, kind=kind, hidden=16), scale=0.2)
    f, base = _flow_map(prior), dist.Normal(torch.zeros(3), torch.ones(3)).to_event(1)
    u = torch.randn(50, 3)
    transforms = prior.transforms()
    z = u
    for t in transforms:
        z = t(z)  # the sampling direction u -> z (an inverse, solved autoregressively)
    assert torch.allclose(f(z), u, atol=1e-6)  # sampling inverts the scoring map
    fresh = z.detach().clone()
    log_p = prior().log_prob(fresh)
    for i in range(0, 50, 10):
        J = jacobian(lambda v: f(v[None])[0], fresh[i])
        assert torch.allclose(log_p[i], base.log_prob(u[i]) + torch.linalg.slogdet(J)[1], atol=1e-6)
    samples = prior().sample((7,))
    assert samples.shape == (7, 3) and torch.isfinite(prior().log_prob(samples)).all()


def test_flow_prior_buffers_survive_state_dict(float64):
    torch.manual_seed(3)
    a = _perturb(FlowPrior(4, flows=2))
    torch.manual_seed(99)
    b = FlowPrior(4, flows=2)
    assert any(k.endswith("permutation") or k.endswith("mask") for k in a.state_dict())
    b.load_state_dict(a.state_dict())
    z = torch.randn(5, 4)
    assert torch.allclose(a().log_prob(z), b().log_prob(z))


# ---- mixture and VampPrior -------------------------------------------------------------------------
def test_mixture_log_density_matches_logsumexp():
    torch.manual_seed(0)
    prior = _perturb(MixtureOfGaussiansPrior(3, components=4))
    z = 2 * torch.randn(10, 3)
    weights = torch.log_softmax(prior.logits, 0)
    comp = dist.Normal(prior.locs, prior.log_scales.exp()).log_prob(z[:, None, :]).sum(-1)  # [10, K]
    expected = torch.logsumexp(weights + comp, -1)
    assert torch.allclose(prior().log_prob(z), expected, atol=1e-5)
    assert prior().sample((6,)).shape == (6, 3)
    assert {n for n, _ in prior.named_parameters()} == {"logits", "locs", "log_scales"}


@pytest.mark.parametrize("guide_cls", [DiagonalGaussianGuide, LowRankGaussianGuide])
def test_vamp_log_density_matches_logsumexp_over_pseudo_inputs(guide_cls):
    torch.manual_seed(0)
    guide = guide_cls(MLPEncoder((1, 4, 4), hidden=(16,)), 3)
    prior = VampPrior(3, guide=guide, data_shape=(1, 4, 4), components=5)
    z = torch.randn(8, 3)
    per_k = torch.stack([guide.distribution(prior.pseudo_inputs[k:k + 1]).log_prob(z) for k in range(5)], -1)
    expected = torch.logsumexp(per_k, -1) - math.log(5)
    assert torch.allclose(prior().log_prob(z), expected, atol=1e-5)


def test_vamp_holds_the_guide_without_registering_it_twice():
    model, guide = build_vae((1, 8, 8), 3, "mlp", "vamp:components=4", "bernoulli", "diagonal")
    model_ids = {id(p) for p in model.parameters()}
    guide_ids = {id(p) for p in guide.parameters()}
    assert not model_ids & guide_ids
    assert [n for n, _ in model.prior.named_parameters()] == ["pseudo_inputs"]
    assert not any(k.startswith("prior.guide") or "encoder" in k for k in model.state_dict())
    assert model.prior.guide is guide
    # Pyro's param store holds every tensor once, and the encoder gets gradients from the prior term
    pyro.clear_param_store()
    x = torch.rand(4, 1, 8, 8).round()
    guide_trace = poutine.trace(guide).get_trace(x)
    poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(x)
    store = pyro.get_param_store()
    ids = [id(store[name].unconstrained()) if hasattr(store[name], "unconstrained") else id(store[name])
           for name in store.keys()]
    assert len(ids) == len(set(ids))
    z = torch.randn(5, 3)
    model.prior().log_prob(z).sum().backward()
    assert guide.encoder.net[1].weight.grad is not None and guide.encoder.net[1].weight.grad.abs().sum() > 0
    assert model.prior.pseudo_inputs.grad.abs().sum() > 0


# ---- simple priors and options ---------------------------------------------------------------------
def test_simple_priors_shapes_and_flags():
    for name, prior in [("normal", StandardNormalPrior(4)), ("laplace", LaplacePrior(4)),
                        ("student-t", StudentTPrior(4, df=5))]:
        p = prior()
        assert p.event_shape == (4,) and p.batch_shape == ()
        assert prior.factorized is (name == "normal")
    assert StudentTPrior(2, df=7).df[0] == 7
    for prior in (MixtureOfGaussiansPrior(2), FlowPrior(2)):
        assert prior.factorized is False


def test_prior_options_are_parsed_and_checked():
    model, _ = build_vae((1, 8, 8), 3, prior="student-t:df=7.5")
    assert float(model.prior.df[0]) == 7.5
    model, _ = build_vae((1, 8, 8), 3, prior="mixture:components=3")
    assert model.prior.locs.shape == (3, 3)
    with pytest.raises(PyroVAEError, match="unknown option.*bogus.*valid options are df, scale"):
        build_vae((1, 8, 8), 3, prior="student-t:bogus=1")
    with pytest.raises(PyroVAEError, match="df must be a number > 0"):
        build_vae((1, 8, 8), 3, prior="student-t:df=-1")
    with pytest.raises(PyroVAEError, match="unknown prior 'cauchy'"):
        build_vae((1, 8, 8), 3, prior="cauchy")
    with pytest.raises(PyroVAEError, match="key=value"):
        build_vae((1, 8, 8), 3, prior="mixture:components")
    assert set(PRIORS) == {"normal", "laplace", "student-t", "mixture", "vamp", "flow"}


# ---- KL: analytic where registered, Monte Carlo otherwise, and the two agree -----------------------
def _sites(q, p, particles):
    z = q.sample((particles,))
    return {"fn": q.expand((particles, *q.batch_shape)), "value": z}, {"fn": p.expand((particles, *q.batch_shape)), "value": z}


def _diag_q():
    return dist.Normal(torch.tensor([[0.5, -1.0, 0.2], [0.0, 0.3, 1.5]]),
                       torch.tensor([[0.6, 1.3, 0.9], [0.4, 1.0, 2.0]])).to_event(1)


@pytest.mark.parametrize("prior", [StandardNormalPrior(3), LaplacePrior(3)], ids=["normal", "laplace"])
def test_analytic_kl_is_used_per_dimension_and_matches_monte_carlo(prior):
    torch.manual_seed(0)
    q, p = _diag_q(), prior()
    guide_site, model_site = _sites(q, p, 1)
    analytic, per_dim = site_kl(guide_site, model_site)
    assert per_dim is not None and per_dim.shape == (1, 2, 3)  # the analytic, per-dimension path
    z = q.sample((200_000,))
    log_ratio = q.log_prob(z) - p.log_prob(z)
    mc, se = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(len(z))
    assert torch.allclose(analytic[0], mc, atol=float(5 * se.max()) + 1e-3)


def test_monte_carlo_kl_path_matches_analytic_kl():
    """A one-component mixture equal to N(0, I) has no registered KL: site_kl falls back to
    log q − log p, whose mean over many particles is the analytic KL(q || N(0, I))."""
    torch.manual_seed(0)
    q = _diag_q()
    one = dist.MixtureSameFamily(dist.Categorical(logits=torch.zeros(1)),
                                 dist.Normal(torch.zeros(1, 3), torch.ones(1, 3)).to_event(1))
    guide_site, model_site = _sites(q, one, 100_000)
    mc, per_dim = site_kl(guide_site, model_site)
    assert per_dim is None  # the Monte Carlo path
    exact = kl_divergence(q, dist.Normal(torch.zeros(3), torch.ones(3)).to_event(1))
    se = mc.std(0) / math.sqrt(mc.shape[0])
    assert torch.allclose(mc.mean(0), exact, atol=float(5 * se.max()))


def test_monte_carlo_kl_of_lowrank_guide_matches_analytic():
    torch.manual_seed(0)
    loc = torch.tensor([[0.3, -0.5, 1.0]])
    factor = torch.tensor([[[0.8], [0.5], [-0.4]]])
    diag = torch.tensor([[0.3, 0.6, 0.5]])
    q = dist.LowRankMultivariateNormal(loc, factor, diag)
    p = StandardNormalPrior(3)()
    guide_site, model_site = _sites(q, p, 100_000)
    mc, per_dim = site_kl(guide_site, model_site)
    assert per_dim is None
    exact = kl_divergence(q, dist.MultivariateNormal(torch.zeros(3), torch.eye(3)))
    se = mc.std(0) / math.sqrt(mc.shape[0])
    assert torch.allclose(mc.mean(0), exact, atol=float(5 * se.max()))


def test_model_with_vamp_prior_traces_under_a_particle_plate():
    torch.manual_seed(0)
    guide = DiagonalGaussianGuide(MLPEncoder((1, 4, 4), hidden=(16,)), 2)
    model = VAEModel(MLPDecoder(2, (1, 4, 4), hidden=(16,)),
                     VampPrior(2, guide=guide, data_shape=(1, 4, 4), components=3), BernoulliLikelihood())
    x = torch.rand(5, 1, 4, 4).round()
    with pyro.plate("particles", 7, dim=-2):
        guide_trace = poutine.trace(guide).get_trace(x)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(x)
    model_trace.compute_log_prob()
    assert model_trace.nodes["z"]["log_prob"].shape == (7, 5)

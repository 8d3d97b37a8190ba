"""``jit=True``: every objective gives the eager loss, terms and gradients, or refuses in one line."""
import pyro
import pytest
import torch

from pyrovae.errors import PyroVAEError
from pyrovae.models import build_vae
from pyrovae.objectives import OBJECTIVES, make_objective, schedules

NAMES = sorted(name for name, cls in OBJECTIVES.items() if cls.name == name)  # (aliases once)
CASES = [(name, {}) for name in NAMES] + [
    ("wae", {"deterministic_encoder": False}),
    ("beta-vae", {"kl_warmup_steps": 100}),
    ("capacity-vae", {"capacity_steps": 100}),
    ("dip-vae", {"dip_type": "ii", "lambda_3": 1.0}),
    ("beta-tcvae", {"estimator": "mws"}),
]


def _pair(name, options, arch="mlp", shape=(1, 8, 8), latent_dim=4, guide="diagonal"):
    pyro.clear_param_store()
    torch.manual_seed(0)
    model, q = build_vae(shape, latent_dim, arch=arch, guide=guide)
    eager, jitted = make_objective(name, **options), make_objective(name, jit=True, **options)
    for objective in (eager, jitted):
        objective.dataset_size = 1000
    return model, q, eager, jitted


def _grads(loss, module):
    return torch.autograd.grad(loss, list(module.parameters()), allow_unused=True, retain_graph=True)


def _same(eager, jitted, model, q, x, step):
    for objective in (eager, jitted):
        objective.step = step
    torch.manual_seed(step + 1)
    a = eager.differentiable_loss(model, q, x)
    torch.manual_seed(step + 1)
    b = jitted.differentiable_loss(model, q, x)
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
    assert set(jitted.terms) == set(eager.terms)
    for key, value in eager.terms.items():
        torch.testing.assert_close(jitted.terms[key], value, rtol=1e-5, atol=1e-5, msg=key)
    for ga, gb in zip(_grads(a, q) + _grads(a, model), _grads(b, q) + _grads(b, model)):
        if ga is not None:
            torch.testing.assert_close(gb, ga, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, options", CASES, ids=[f"{n}{o or ''}" for n, o in CASES])
def test_each_objective_gives_the_eager_loss_under_the_jit_or_refuses_in_one_line(name, options):
    if OBJECTIVES[name].jit_refusal:
        with pytest.raises(PyroVAEError) as e:
            make_objective(name, jit=True, **options)
        assert "--jit" in str(e.value) and "\n" not in str(e.value)
        return
    x = (torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    model, q, eager, jitted = _pair(name, options)
    # step values (warm-up, capacity) change between these steps: they must not be frozen by the trace
    for step in (5, 60, 500):
        _same(eager, jitted, model, q, x, step)
    assert len(jitted._jit_cache) == 1  # traced once, then reused


def test_the_compiled_loss_is_reused_and_follows_an_annealed_beta():
    beta = schedules.linear(0.0, 4.0, steps=100)
    x = (torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    model, q, eager, jitted = _pair("beta-vae", {"beta": beta})
    for step in (0, 50, 100, 200):
        _same(eager, jitted, model, q, x, step)
        assert float(jitted.terms["beta"]) == beta(step)
    assert len(jitted._jit_cache) == 1
    # a new batch size is a new trace (shapes are constants of a trace), still the eager loss
    _same(eager, jitted, model, q, x[:8], 10)
    assert len(jitted._jit_cache) == 2


def test_channels_last_conv_nets_and_the_iaf_guide_compile():
    x = (torch.rand(8, 1, 64, 64, generator=torch.Generator().manual_seed(0)) < 0.1).float()
    model, q, eager, jitted = _pair("beta-vae", {}, arch="conv", shape=(1, 64, 64), latent_dim=10)
    model.to(memory_format=torch.channels_last), q.to(memory_format=torch.channels_last)
    _same(eager, jitted, model, q, x, 3)
    x = (torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    model, q, eager, jitted = _pair("vae", {}, guide="iaf:flows=1,hidden=8")
    _same(eager, jitted, model, q, x, 3)


def test_the_trace_leaves_the_random_stream_alone():
    """Tracing runs the loss several times; the draws of the first step must be those of eager mode,
    or a run resumed under the JIT would not repeat an uninterrupted one."""
    x = (torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    model, q, eager, jitted = _pair("beta-vae", {})
    torch.manual_seed(7)
    a = eager.differentiable_loss(model, q, x)
    after_eager = torch.rand(1)
    torch.manual_seed(7)
    b = jitted.differentiable_loss(model, q, x)  # the first call: traces
    assert float(a.detach()) == pytest.approx(float(b.detach()), rel=1e-6)
    assert torch.equal(torch.rand(1), after_eager)


def test_a_model_that_is_not_a_module_is_a_one_line_error():
    x = torch.zeros(4, 1, 8, 8)
    model, q, _, jitted = _pair("vae", {})
    with pytest.raises(PyroVAEError, match="nn.Module") as e:
        jitted.differentiable_loss(lambda data: model(data), q, x)
    assert "\n" not in str(e.value)

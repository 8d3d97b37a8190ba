"""Brute-force checks of the IAF guide's density, as the importance-sampled log p(x) uses it: q(z|x)
integrates to one (scored at arbitrary z through the inverse), scoring its own samples inside the
vectorised particle plate of the evaluation is exact, and the importance-sampled log p(x) with the IAF
guide as proposal agrees with log p(x) by quadrature in two dimensions."""
import math

import pyro
import torch
from pyro import poutine

from pyrovae.guides import IAFGuide, MLPEncoder
from pyrovae.models import build_vae
from pyrovae.objectives.iwae import log_likelihood


def _perturb(module, seed=0, flow=0.2, rest=0.02):
    """Move the flow steps well away from their near-identity initialisation (the rest a little), so
    that q(z|x) is clearly non-Gaussian but numerically tame."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            scale = flow if name.startswith("steps") else rest
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def _grid(limit, points):
    g = torch.linspace(-limit, limit, points)
    z = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    return z, 2 * math.log(float(g[1] - g[0]))


def test_iaf_density_integrates_to_one_in_2d(float64):
    torch.manual_seed(0)
    guide = _perturb(IAFGuide(MLPEncoder((1, 4, 4), hidden=(12,)), 2, flows=3, hidden=16))
    x = torch.rand(3, 1, 4, 4)
    z, log_cell = _grid(12.0, 401)
    with torch.no_grad():
        # the flow really changes the density: far from the base Gaussian at the same z
        q, base = guide.distribution(x), guide.base_distribution(x)
        sample = q.sample((2000,))
        assert (q.log_prob(sample.clone()) - base.log_prob(sample)).abs().mean() > 0.1
        for i in range(3):
            log_q = guide.distribution(x[i:i + 1]).log_prob(z[:, None, :].clone())[:, 0]  # inverts the flow
            assert abs(torch.logsumexp(log_q, 0).item() + log_cell) < 1e-3


def test_iaf_scores_its_own_samples_exactly_in_the_particle_plate(float64):
    """The importance weights are computed as in :func:`importance_log_weights`: the guide traced in a
    particle plate at dim −2 (its q expanded to [S, B]), log q read from the flow's cache of the sample."""
    torch.manual_seed(1)
    guide = _perturb(IAFGuide(MLPEncoder((1, 4, 4), hidden=(12,)), 3, flows=2, hidden=16), seed=1)
    x = torch.rand(4, 1, 4, 4)
    pyro.clear_param_store()
    with torch.no_grad():
        trace = poutine.trace(pyro.plate("iwae_samples", 7, dim=-2)(guide)).get_trace(x)
        trace.compute_log_prob()
        site = trace.nodes["z"]
        assert site["value"].shape == (7, 4, 3)
        fresh = guide.distribution(x).log_prob(site["value"].clone())  # a new flow: the D-step inverse
    assert torch.allclose(site["unscaled_log_prob"], fresh, atol=1e-8)


def _benchmark():
    """benchmarks/iaf_vs_diagonal_digits.py, whose README numbers rely on its KL estimators."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "iaf_vs_diagonal_digits.py"
    spec = importlib.util.spec_from_file_location("iaf_vs_diagonal_digits", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_importance_sampled_log_px_with_iaf_proposal_matches_quadrature(float64):
    torch.manual_seed(2)
    model, guide = build_vae((1, 4, 4), 2, "mlp", "normal", "bernoulli", "iaf:flows=2,hidden=16")
    _perturb(guide, seed=2, flow=0.2, rest=0.02)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)  # a sharper decoder: a posterior narrower than the prior
    x = (torch.rand(5, 1, 4, 4) > 0.5).double()
    # the benchmark's quadrature, whose "exact" column the README reports
    exact = _benchmark().exact_log_px_2d(model, x, limit=8.0, points=401)
    with torch.no_grad():
        pyro.clear_param_store()
        estimate = log_likelihood(model, guide, x, num_samples=20000)
    assert torch.allclose(estimate, exact, atol=0.03), (estimate, exact)


def test_benchmark_kl_estimators_are_unbiased_for_the_same_elbo(float64):
    """'library', 'mc' and 'base' estimate the same negative ELBO (equal means over many particles); for
    the diagonal guide 'base' is the analytic KL, i.e. the library's loss exactly."""
    bench = _benchmark()
    x = (torch.rand(4, 1, 8, 8) > 0.5).double()
    torch.manual_seed(3)
    model, diagonal = build_vae((1, 8, 8), 3, "mlp", "normal", "bernoulli", "diagonal")
    pyro.clear_param_store()
    with torch.no_grad():
        torch.manual_seed(0)
        library = bench.make_elbo("library").differentiable_loss(model, diagonal, x)
        torch.manual_seed(0)
        base = bench.make_elbo("base").differentiable_loss(model, diagonal, x)
    assert torch.allclose(library, base, atol=1e-10)
    torch.manual_seed(3)
    model, iaf = build_vae((1, 8, 8), 3, "mlp", "normal", "bernoulli", "iaf:flows=2,hidden=32")
    _perturb(iaf, seed=3)
    with torch.no_grad():
        losses = {}
        for kl in bench.KL_ESTIMATORS:
            torch.manual_seed(1)
            losses[kl] = bench.make_elbo(kl, particles=20000).differentiable_loss(model, iaf, x).item()
    assert max(losses.values()) - min(losses.values()) < 0.02 and losses["base"] != losses["mc"], losses

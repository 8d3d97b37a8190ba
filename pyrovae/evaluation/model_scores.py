"""Model-level scores that need the model and guide, not only codes.

- per-dimension KL(q(z_d|x) || p(z_d)) (active units, an array-only score, is
  :func:`pyrovae.metrics.active_units`);
- reconstruction error at the posterior mean code, per image and per pixel;
- the importance-sampled log-likelihood log p(x) ≈ log (1/S) Σ_s p(x, z_s) / q(z_s | x), z_s ~ q(z|x)
  (Burda et al. 2016), with the Pareto k̂ of each data point's importance weights (PSIS, Vehtari et al.
  2024, via ``arviz.psislw``): k̂ > 0.7 means the weights' tail is too heavy for the estimate to be
  trusted — the guide is too poor a proposal for that point.
"""
import warnings

import numpy as np
import pyro.poutine as poutine
import torch

from ..objectives.base import site_kl
from ..objectives.iwae import importance_log_weights

#: PSIS reliability threshold (Vehtari et al. 2024): above it the estimate is not trustworthy.
PARETO_K_THRESHOLD = 0.7


@torch.no_grad()
def kl_per_dimension(model, guide, x):
    """KL(q(z_d|x) || p(z_d)) per dimension d, averaged over ``x``: analytic for factorised pairs
    with a registered KL, else NaN (the KL of a non-factorised prior has no per-dimension split)."""
    guide_trace = poutine.trace(guide).get_trace(x)
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(x)
    guide_trace.compute_log_prob()
    model_trace.compute_log_prob()
    _, per_dim = site_kl(guide_trace.nodes["z"], model_trace.nodes["z"])
    if per_dim is None:
        return np.full(model.latent_dim, np.nan)
    return per_dim.reshape(-1, per_dim.shape[-1]).mean(0).cpu().numpy()


@torch.no_grad()
def importance_log_likelihood(model, guide, x, num_samples=1000):
    """Importance-sampled log p(x) per data point with PSIS diagnostics (the weights of
    :func:`pyrovae.objectives.iwae.importance_log_weights`).

    Returns a dict of numpy arrays over data points: ``log_likelihood`` (nats) and ``pareto_k``, plus
    ``mean_log_likelihood`` and ``fraction_unreliable`` (share of points with k̂ > 0.7).
    """
    import arviz as az  # takes seconds to import: only when this score is asked for

    log_w = importance_log_weights(model, guide, x, num_samples).double()
    log_px = (torch.logsumexp(log_w, 0) - np.log(num_samples)).cpu().numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # arviz warns for every point with k̂ > 0.7; we report it instead
        _, pareto_k = az.psislw(log_w.T.cpu().numpy())
    pareto_k = np.asarray(pareto_k, dtype=np.float64)
    return {"log_likelihood": log_px, "pareto_k": pareto_k, "mean_log_likelihood": float(log_px.mean()),
            "fraction_unreliable": float((pareto_k > PARETO_K_THRESHOLD).mean())}


@torch.no_grad()
def reconstruction_error(model, guide, x):
    """Reconstruction error at the posterior mean code: negative log-likelihood −log p(x | z = E[z|x])
    per image and per pixel (value), and the mean squared error of the likelihood's mean per pixel."""
    likelihood, observed = model.observation(x, guide.representation(x))
    nll = -likelihood.log_prob(observed)
    values = x[0].numel()
    mse = (likelihood.mean - observed).pow(2).reshape(x.shape[0], -1).mean(1)
    return {"nll_per_image": float(nll.mean()), "nll_per_pixel": float(nll.mean()) / values,
            "mse_per_pixel": float(mse.mean())}

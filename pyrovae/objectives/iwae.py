r"""The importance weighted autoencoder bound (Burda et al. 2016) and an importance-sampled log p(x)."""
import math

import pyro
import torch
from pyro import poutine

from ..errors import PyroVAEError
from ..validation import check_int
from ._common import particles
from .base import Objective, scale_latents
from .registry import register


def _log_weights(model_trace, guide_trace, batch_size, scaled_latents=True):
    """log w = log p(x|z) + log p(z) − log q(z|x) per particle and data point: ``[P, B]``.

    Observed sites enter unscaled; latent sites with their ``poutine.scale`` when ``scaled_latents``
    (the warm-up weight), else unscaled."""
    log_w = 0.0
    for name, site in model_trace.nodes.items():
        if site["type"] != "sample":
            continue
        if site["is_observed"]:
            log_w = log_w + site["unscaled_log_prob"]
            continue
        guide_site = guide_trace.nodes[name]
        key = "log_prob" if scaled_latents else "unscaled_log_prob"
        log_w = log_w + site[key] - guide_site[key]
    return particles(log_w, batch_size, 0)


@register("iwae")
class IWAE(Objective):
    r"""The IWAE bound with K importance samples per data point (Burda et al. 2016, eq. 8):

    .. math::

        \mathcal{L}_K(x) = \mathbb{E}_{z_1..z_K \sim q(z|x)}\Bigl[\log \frac1K \sum_{k=1}^K
          \frac{p(x, z_k)}{q(z_k|x)}\Bigr] \;\le\; \log p(x),

    minimised as −L_K per data point. L_1 is the ELBO, and L_K is non-decreasing in K (Burda et al.,
    Theorem 1). ``num_samples`` = K (default 5).

    Design: a subclass of the shared :class:`Objective` (so the trainer's hooks, ``step``,
    ``dataset_size`` and term logging are the same as for every other objective), run with Pyro's
    vectorised particles — ``num_particles=K, vectorize_particles=True`` (a particle plate at dim −2,
    outside the model's data plate) — and a loss that is the log-mean-exp over that plate instead of
    the mean. That is exactly Pyro's ``RenyiELBO(alpha=0)`` (pyro_design.md: gradient equal to 3e-6),
    which cannot log the ELBO's terms. The weights use the unscaled likelihood, so a subsampling scale
    cannot leak into the log-sum-exp. Passing ``num_particles`` other than K, or
    ``vectorize_particles=False``, is an error.

    Warm-up: the loss does not split into recon + rest, so ``kl_warmup_steps`` scales the latent
    sites' log-densities in the weights, log w = log p(x|z) + w·(log p(z) − log q(z|x)).

    Terms logged: ``recon``, ``kl``, ``kl_per_dim`` (averaged over the K particles), ``elbo`` (the
    particles' mean of log w, i.e. the ELBO estimate) and ``iwae`` (L_K); ``loss`` is −L_K.

    Burda, Y., Grosse, R. & Salakhutdinov, R. (2016). Importance Weighted Autoencoders. ICLR.
    """

    hyperparameters = {"num_samples": (5, "iwae: importance samples K per data point (1 = the ELBO)")}
    warmup_target = "latents"
    scores_latents = True  # the weights are log-densities of every site

    def __init__(self, num_samples=5, **kwargs):
        k = check_int("num_samples", num_samples)
        if kwargs.get("num_particles", k) != k:
            raise PyroVAEError(f"iwae draws num_samples = {k} particles; num_particles={kwargs['num_particles']} "
                               "contradicts it: give num_samples only")
        if not kwargs.get("vectorize_particles", True):
            raise PyroVAEError("iwae needs vectorize_particles=True (the K samples share one log-mean-exp)")
        kwargs.update(num_particles=k, vectorize_particles=True)
        super().__init__(**kwargs)
        self.num_samples = k

    def wrap(self, model, guide):
        w = self.step_value("warmup", self.warmup_weight)
        if w is None or (not torch.is_tensor(w) and w == 1.0):
            return model, guide
        return scale_latents(model, w), scale_latents(guide, w)

    def loss_from_terms(self, terms, model_trace, guide_trace):
        log_w = _log_weights(model_trace, guide_trace, terms["batch_size"])  # [K, B]
        k = log_w.shape[0]
        bound = (torch.logsumexp(log_w, 0) - math.log(k)).mean()
        # Pyro divides the vectorised trace's loss (and the base class its terms) by num_particles:
        # multiply back so that the loss and the logged values are the bound itself.
        n = self.num_particles
        terms["iwae"] = bound * n
        terms["elbo"] = log_w.mean() * n
        return -bound * n


@torch.no_grad()
def importance_log_weights(model, guide, x, num_samples=1000, max_batch=4096):
    """log w_s = log p(x, z_s) − log q(z_s | x), z_s ~ q(z|x), for ``num_samples`` draws per data point:
    ``[S, B]``, all log-densities unscaled. The draws are made in chunks of about ``max_batch / B``
    vectorised particles, so memory stays bounded for any S."""
    s = check_int("num_samples", num_samples)
    b = x.shape[0]
    chunk = max(1, int(max_batch) // max(1, b))
    pieces, left = [], s
    while left > 0:
        k = min(chunk, left)
        plate = pyro.plate("iwae_samples", k, dim=-2)
        guide_trace = poutine.trace(plate(guide)).get_trace(x)
        model_trace = poutine.trace(poutine.replay(plate(model), trace=guide_trace)).get_trace(x)
        model_trace.compute_log_prob()
        guide_trace.compute_log_prob()
        pieces.append(_log_weights(model_trace, guide_trace, b, scaled_latents=False))
        left -= k
    return torch.cat(pieces)


@torch.no_grad()
def log_likelihood(model, guide, x, num_samples=1000, max_batch=4096):
    r"""Importance-sampled estimate of log p(x) per data point, ``[B]``:

    .. math:: \log p(x) \approx \log \frac1S \sum_{s=1}^S \frac{p(x, z_s)}{q(z_s|x)}, \quad z_s \sim q(z|x),

    (the IWAE bound with K = S, which tends to log p(x) as S grows; Burda et al. 2016 use S = 5000).
    :func:`pyrovae.metrics.importance_log_likelihood` adds the PSIS k̂ diagnostic of the same weights.
    """
    log_w = importance_log_weights(model, guide, x, num_samples, max_batch)
    return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])

"""Helpers shared by the objectives: choices and flags given as strings, the latent site of a pair of
traces, and the particle layout of batch-level terms.

Convention for batch-level terms (TC, DIP, MMD, capacity): a trace holds ``P`` particles (``P`` =
``num_particles`` when they are vectorised, else 1) of a batch of ``B`` points; a batch-level
estimate is computed per particle and **summed** over the particles of the trace, like the base
class's per-data-point terms, because Pyro divides each trace's loss by ``num_particles``.
"""
import torch
from torch.distributions import Independent, Normal

from ..errors import PyroVAEError
from ..validation import check_choice
from .base import site_kl

# Help strings of hyperparameters shared by several objectives: the CLI shows one help per option,
# so each says what it means in every objective that takes it.
HELP = {
    "alpha": "α: weight of the index-code mutual information (beta-tcvae); InfoVAE's α: KL weight 1−α, "
             "MMD weight α+λ−1 (info-vae)",
    "beta": "β: weight of the whole KL (beta-vae) or of the total correlation only (beta-tcvae)",
    "gamma": "γ: weight of |KL − C| (capacity-vae), of the dimension-wise KL (beta-tcvae) or of the "
             "discriminator's total correlation (factor-vae)",
    "kernel": "MMD kernel: rbf (exp(−|x−y|²/C)) or imq (C/(C+|x−y|²)), C = 2·D (info-vae, wae)",
    "lambda_mmd": "λ: MMD weight λ (wae) or InfoVAE's λ, MMD weight α+λ−1 (info-vae)",
}


def choice(name, value, options):
    """``value`` as one of ``options``, case-insensitively (the CLI passes ``--dip-type II``)."""
    return check_choice(name, str(value).lower(), options)


def flag(name, value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
        return value.lower() in ("1", "true", "yes")
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise PyroVAEError(f"{name} must be true or false, got {value!r}")


def latent_sites(model_trace, guide_trace, objective):
    """``(model_site, guide_site)`` of the latent code: site ``"z"``, else the only latent site."""
    names = [n for n, s in guide_trace.nodes.items() if s["type"] == "sample" and not s["is_observed"]]
    name = "z" if "z" in names else (names[0] if len(names) == 1 else None)
    if name is None or name not in model_trace.nodes:
        raise PyroVAEError(f"{objective} needs one latent site 'z' in model and guide, found {names or 'none'}")
    return model_trace.nodes[name], guide_trace.nodes[name]


def particles(value, batch_size, event_dims=1):
    """``value`` of shape ``[*lead, B, *event]`` as ``[P, B, *event]`` (P = prod(lead), 1 when none)."""
    event = value.shape[value.dim() - event_dims:] if event_dims else torch.Size()
    return value.reshape(-1, batch_size, *event)


def factorised_base(fn, objective, what="guide q(z|x)"):
    """The per-dimension distribution of a factorised ``fn`` (``Independent(base, 1)``), whose
    ``log_prob`` gives one density per latent dimension; a clear error for anything else."""
    if isinstance(fn, Independent) and fn.reinterpreted_batch_ndims == 1:
        return fn.base_dist
    raise PyroVAEError(f"{objective} needs a factorised {what} = Π_d q(z_d) (Independent over one event "
                       f"dim), got {type(fn).__name__}: use --guide diagonal and --prior normal")


def is_standard_normal(fn):
    """Whether ``fn`` is N(0, I) over its last dimension (Independent(Normal(0, 1), 1))."""
    if not (isinstance(fn, Independent) and fn.reinterpreted_batch_ndims == 1 and isinstance(fn.base_dist, Normal)):
        return False
    base = fn.base_dist
    return bool((base.loc == 0).all()) and bool((base.scale == 1).all())


def per_particle_kl(model_trace, guide_trace, batch_size):
    """KL(q(z|x) || p(z)) per particle, averaged over the batch and summed over latent sites: ``[P]``."""
    total = 0.0
    for name, site in model_trace.nodes.items():
        if site["type"] != "sample" or site["is_observed"]:
            continue
        kl, _ = site_kl(guide_trace.nodes[name], site)
        total = total + particles(kl, batch_size, 0).mean(-1)
    return total

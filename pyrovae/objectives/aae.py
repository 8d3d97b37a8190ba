r"""The adversarial autoencoder, AAE (Makhzani et al. 2015): the KL of the ELBO replaced by a latent
discriminator that matches the aggregate posterior q(z) to the prior p(z)."""
import math

import torch
from torch.nn import functional as F

from ..validation import check_number
from ._adversarial import DISCRIMINATOR_HELP, AdversarialObjective
from ._common import flag, latent_sites, particles
from .registry import register
from .wae import deterministic


@register("aae")
class AAE(AdversarialObjective):
    r"""Adversarial autoencoder (Makhzani et al. 2015, Section 2): reconstruction plus an adversarial
    regulariser that matches the aggregate posterior :math:`q(z) = \mathbb{E}_{p_d(x)}[q(z|x)]` to the
    prior :math:`p(z)`, in place of the ELBO's per-point KL:

    .. math::

        \min_{q,\,p(x|z)} \; \mathbb{E}_{p_d(x)}\mathbb{E}_{q(z|x)}[-\log p(x|z)]
          \;+\; \lambda\,\mathbb{E}_{q(z)}\bigl[-\log D(z)\bigr],
        \qquad
        \max_D \; \mathbb{E}_{p(z)}[\log D(z)] + \mathbb{E}_{q(z)}[\log(1 - D(z))],

    D(z) the discriminator's probability that z was drawn from the prior. For the optimal discriminator
    the second objective equals 2·JS(p(z) ‖ q(z)) − log 4 (Goodfellow et al. 2014), so the game drives
    the Jensen–Shannon divergence between q(z) and p(z) to 0. The encoder's term is the non-saturating
    form −log D(z) of the generator loss (strong gradients while the discriminator still wins); with two
    logits, −log D(z) = softplus(logit_q − logit_p) = ``cross_entropy(logits, "prior")``.

    Each SVI step is one of the paper's two phases, in one pass: the reconstruction and the encoder's
    adversarial term are minimised together (the "regularisation phase" update of the encoder shares the
    step with the "reconstruction phase"), then, in :meth:`after_step`, the discriminator takes one step on
    the same step's codes z ~ q(z|x) (label 1, "posterior") against as many fresh draws of the model's
    prior (label 0, "prior"), all detached — the pattern and the machinery of FactorVAE
    (:class:`~pyrovae.objectives._adversarial.AdversarialObjective`: the discriminator sits outside Pyro's
    param store and the trainer's optimiser, and is evaluated with detached parameters in the
    autoencoder's loss). The prior may be any of pyrovae's priors (the AAE only needs to sample it: a
    mixture or a learned prior works as well as N(0, I)); learnable prior parameters get no gradient from
    this loss, since no term evaluates log p(z).

    Encoder: Makhzani et al. allow a deterministic q(z|x), a Gaussian posterior or a universal
    approximator. ``deterministic_encoder=False`` (default) is the Gaussian posterior: z is drawn from the
    guide's q(z|x) by reparameterisation; ``True`` uses z = μ(x) (the guide's scale head is then unused and
    the logged ``kl`` is −log p(μ(x)), as for the WAE). The metrics read the posterior mean either way.

    Defaults: λ = ``adversarial_weight`` = 1, discriminator 2 × 1000 (the paper's MNIST discriminator
    size), Adam lr 1e-4, betas (0.5, 0.9). Terms logged: ``recon``, ``kl`` (the KL(q(z|x) ‖ p(z)) the
    loss no longer contains, for comparison), ``adversarial`` (the encoder's −log D(z), batch mean),
    ``discriminator_loss``, ``discriminator_accuracy`` and ``js_estimate`` = log 2 − discriminator_loss,
    the discriminator's lower-bound estimate of JS(p(z) ‖ q(z)) in nats (0 when it cannot tell them apart;
    at most log 2).

    Makhzani, A., Shlens, J., Jaitly, N., Goodfellow, I. & Frey, B. (2015). Adversarial Autoencoders.
    arXiv:1511.05644 (ICLR 2016 workshop).
    """

    hyperparameters = {
        "adversarial_weight": (1.0, "aae: λ, weight of the encoder's adversarial term −log D(z)"),
        "deterministic_encoder": (False, "z = μ(x) (true) or z ~ q(z|x) (false) (aae, wae)"),
        "discriminator_lr": (1e-4, DISCRIMINATOR_HELP["discriminator_lr"]),
        "discriminator_units": (1000, DISCRIMINATOR_HELP["discriminator_units"]),
        "discriminator_layers": (2, DISCRIMINATOR_HELP["discriminator_layers"]),
    }

    display_name = "AAE"
    PRIOR, POSTERIOR = 0, 1  # the discriminator's classes

    def __init__(self, adversarial_weight=1.0, deterministic_encoder=False, discriminator_lr=1e-4,
                 discriminator_units=1000, discriminator_layers=2, **kwargs):
        self.adversarial_weight = check_number("adversarial_weight", adversarial_weight, minimum=0)
        self.deterministic_encoder = flag("deterministic_encoder", deterministic_encoder)
        super().__init__(discriminator_lr=discriminator_lr, discriminator_units=discriminator_units,
                         discriminator_layers=discriminator_layers, **kwargs)

    def wrap(self, model, guide):
        return model, (deterministic(guide) if self.deterministic_encoder else guide)

    def prior_log_odds(self, z):
        """log D(z)/(1 − D(z)) = logit_prior − logit_posterior per code, differentiable in ``z`` only."""
        logits = self.discriminator_logits(z)
        return logits[..., self.PRIOR] - logits[..., self.POSTERIOR]

    def discriminator_batches(self, codes, prior_draws):
        """(prior draws, label 0; codes of q(z|x), label 1)."""
        return prior_draws, codes

    def loss_from_terms(self, terms, model_trace, guide_trace):
        model_site, guide_site = latent_sites(model_trace, guide_trace, self.name)
        z = particles(guide_site["value"], terms["batch_size"])  # [P, B, D]
        with torch.no_grad():
            prior_draws = model_site["fn"].sample()
        self.store_codes(z, prior_draws.reshape(z.shape).to(z))
        # −log D(z) = softplus(−(logit_p − logit_q)): the non-saturating generator loss, batch mean per particle
        adversarial = F.softplus(-self.prior_log_odds(z)).mean(-1).sum()
        terms["adversarial"] = adversarial
        return terms["recon"] + self.adversarial_weight * adversarial

    def record_discriminator_terms(self, loss, accuracy):
        self.terms["js_estimate"] = math.log(2.0) - loss

r"""FactorVAE (Kim & Mnih 2018): the ELBO plus a total-correlation penalty estimated by a discriminator."""
import torch

from ..validation import check_number
from ._adversarial import DISCRIMINATOR_HELP, AdversarialObjective, Discriminator  # noqa: F401 (re-exported)
from ._common import HELP, latent_sites, particles
from .registry import register


def permute_dims(z, generator=None):
    """Each latent dimension permuted independently across the batch axis (-2) of ``z [..., B, D]``:
    samples of Π_d q(z_d) when the rows of ``z`` are samples of q(z) (Kim & Mnih 2018, Algorithm 1)."""
    b, d = z.shape[-2], z.shape[-1]
    keys = torch.rand(z.shape[:-2] + (b, d), device=z.device, generator=generator)
    return z.gather(-2, keys.argsort(dim=-2))


@register("factor-vae")
class FactorVAE(AdversarialObjective):
    r"""FactorVAE: the ELBO plus γ times the total correlation of the aggregate posterior, estimated with
    the density-ratio trick (Kim & Mnih 2018, eq. 2–3):

    .. math::

        \mathcal{L}(x) = -\mathrm{ELBO}(x) + \gamma\,\mathrm{TC}(q(z)), \qquad
        \mathrm{TC}(q(z)) = \mathrm{KL}\bigl(q(z)\,\|\,\textstyle\prod_d q(z_d)\bigr)
          \approx \mathbb{E}_{q(z)}\Bigl[\log \frac{D(z)}{1 - D(z)}\Bigr],

    D(z) the discriminator's probability that z came from q(z) rather than from Π_d q(z_d); with two
    logits, log D/(1−D) = logit₀ − logit₁. The estimate is averaged over the batch's codes.

    **The TC estimate can be negative.** The true TC is ≥ 0, but log D/(1−D) is only a density-ratio
    *estimate*: an imperfect (e.g. early, or over-fitted) discriminator gives negative values on a
    batch, and then the penalty pushes the other way for a while. That is the estimator, not a bug.

    The discriminator is trained in :meth:`after_step`, after the VAE's optimiser step, on the codes
    z ~ q(z|x) that the guide drew in the same step (stored detached) against the same codes with
    every dimension permuted independently across the batch: cross-entropy, Adam with lr
    ``discriminator_lr`` (1e-4) and betas (0.5, 0.9), as in the paper.

    The discriminator machinery is :class:`~pyrovae.objectives._adversarial.AdversarialObjective`, shared
    with the adversarial autoencoder (``aae``). Isolation from the VAE's training: the discriminator is a
    plain ``nn.Module`` owned by the objective, **not** registered in Pyro's param store and not in the
    trainer's optimiser; in the VAE loss it is evaluated through ``torch.func.functional_call`` with **detached** parameters, so
    the VAE's backward pass writes no gradient into it (it only flows into z, hence into the encoder),
    and its own step zeroes its gradients first anyway. The VAE never sees the discriminator's loss:
    its codes are detached.

    Device: the discriminator is created lazily on the device and dtype of the first codes it sees
    (``latent_dim`` inputs) and follows them if they move (parameters and optimiser state are moved
    together); :meth:`to` moves it explicitly. :meth:`state_dict` holds its weights and optimiser
    state (tensors and plain containers, loadable with ``torch.load(weights_only=True)``);
    :meth:`load_state_dict` rebuilds it from them on the device of the loaded tensors.

    Defaults: γ = 10 (the best FactorVAE setting of the thesis seed on the β-VAE and FactorVAE
    scores, and the value of the literature re-runs; Kim & Mnih use larger γ too), discriminator
    6 × 1000. Terms logged: ``recon``, ``kl``, ``kl_per_dim``, ``tc`` (the estimate the VAE was
    penalised with), ``discriminator_loss``, ``discriminator_accuracy`` (of its training step).

    Kim, H. & Mnih, A. (2018). Disentangling by Factorising. ICML.
    """

    hyperparameters = {
        "gamma": (10.0, HELP["gamma"]),
        "discriminator_lr": (1e-4, DISCRIMINATOR_HELP["discriminator_lr"]),
        "discriminator_units": (1000, DISCRIMINATOR_HELP["discriminator_units"]),
        "discriminator_layers": (6, DISCRIMINATOR_HELP["discriminator_layers"]),
    }

    display_name = "FactorVAE"
    min_discriminator_batch = 2  # a batch of one has nothing to permute

    def __init__(self, gamma=10.0, discriminator_lr=1e-4, discriminator_units=1000, discriminator_layers=6,
                 **kwargs):
        self.gamma = check_number("gamma", gamma, minimum=0)
        super().__init__(discriminator_lr=discriminator_lr, discriminator_units=discriminator_units,
                         discriminator_layers=discriminator_layers, **kwargs)

    def density_ratio(self, z):
        """log D(z)/(1−D(z)) = logit₀ − logit₁ per code, differentiable in ``z`` only (the
        discriminator's parameters enter detached)."""
        logits = self.discriminator_logits(z)
        return logits[..., 0] - logits[..., 1]

    def discriminator_batches(self, z):
        """Codes ``z [..., B, D]`` (samples of q(z), label 0) against their dimension-permuted copies
        (label 1)."""
        return z, permute_dims(z)

    def loss_from_terms(self, terms, model_trace, guide_trace):
        _, guide_site = latent_sites(model_trace, guide_trace, self.name)
        z = particles(guide_site["value"], terms["batch_size"])  # [P, B, D]
        self.store_codes(z)
        tc = self.density_ratio(z).mean(-1).sum()
        terms["tc"] = tc
        return terms["recon"] + terms["kl_weighted"] + self.gamma * tc

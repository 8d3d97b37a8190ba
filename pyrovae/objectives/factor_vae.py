r"""FactorVAE (Kim & Mnih 2018): the ELBO plus a total-correlation penalty estimated by a discriminator."""
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from ..errors import PyroVAEError
from ._common import HELP, latent_sites, number, particles
from .base import Objective
from .registry import register


class Discriminator(nn.Module):
    """MLP z -> 2 logits (index 0: "a sample of q(z)", index 1: "a dimension-permuted sample"):
    ``layers`` hidden layers of ``units`` units with leaky ReLU (slope 0.2), as in Kim & Mnih (2018):
    6 × 1000."""

    def __init__(self, latent_dim, units=1000, layers=6):
        super().__init__()
        blocks, width = [], latent_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, units), nn.LeakyReLU(0.2)]
            width = units
        blocks.append(nn.Linear(width, 2))
        self.net = nn.Sequential(*blocks)

    def forward(self, z):
        return self.net(z)


def permute_dims(z, generator=None):
    """Each latent dimension permuted independently across the batch axis (-2) of ``z [..., B, D]``:
    samples of Π_d q(z_d) when the rows of ``z`` are samples of q(z) (Kim & Mnih 2018, Algorithm 1)."""
    b, d = z.shape[-2], z.shape[-1]
    keys = torch.rand(z.shape[:-2] + (b, d), device=z.device, generator=generator)
    return z.gather(-2, keys.argsort(dim=-2))


@register("factor-vae")
class FactorVAE(Objective):
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

    Isolation from the VAE's training: the discriminator is a plain ``nn.Module`` owned by the
    objective, **not** registered in Pyro's param store and not in the trainer's optimiser; in the
    VAE loss it is evaluated through ``torch.func.functional_call`` with **detached** parameters, so
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
        "discriminator_lr": (1e-4, "factor-vae: Adam learning rate of the discriminator (betas 0.5, 0.9)"),
        "discriminator_units": (1000, "factor-vae: units per hidden layer of the discriminator"),
        "discriminator_layers": (6, "factor-vae: hidden layers of the discriminator"),
    }

    def __init__(self, gamma=10.0, discriminator_lr=1e-4, discriminator_units=1000, discriminator_layers=6,
                 **kwargs):
        self.gamma = number("gamma", gamma)
        self.discriminator_lr = number("discriminator_lr", discriminator_lr, strictly=True)
        self.discriminator_units = number("discriminator_units", discriminator_units, integer=True, minimum=1)
        self.discriminator_layers = number("discriminator_layers", discriminator_layers, integer=True, minimum=1)
        super().__init__(**kwargs)
        self.discriminator = None
        self.discriminator_optimizer = None
        self._codes = []

    # ---- the discriminator ---------------------------------------------------------------------
    def _build(self, latent_dim, device, dtype):
        self.discriminator = Discriminator(latent_dim, self.discriminator_units, self.discriminator_layers)
        self.discriminator.to(device=device, dtype=dtype)
        self.discriminator_optimizer = torch.optim.Adam(self.discriminator.parameters(),
                                                        lr=self.discriminator_lr, betas=(0.5, 0.9))

    def _discriminator_for(self, z):
        """The discriminator, created on the first call and moved to ``z``'s device/dtype if needed."""
        if self.discriminator is None:
            self._build(z.shape[-1], z.device, z.dtype)
        else:
            p = next(self.discriminator.parameters())
            if p.device != z.device or p.dtype != z.dtype:
                self.to(z.device, z.dtype)
        return self.discriminator

    def to(self, device=None, dtype=None):
        """Move the discriminator and its optimiser state; returns self."""
        if self.discriminator is not None:
            self.discriminator.to(device=device, dtype=dtype)
            # Optimizer.load_state_dict casts the state onto the parameters' device and dtype.
            self.discriminator_optimizer.load_state_dict(self.discriminator_optimizer.state_dict())
        return self

    def density_ratio(self, z):
        """log D(z)/(1−D(z)) = logit₀ − logit₁ per code, differentiable in ``z`` only (the
        discriminator's parameters enter detached)."""
        disc = self._discriminator_for(z)
        params = {name: p.detach() for name, p in disc.named_parameters()}
        logits = functional_call(disc, params, (z,))
        return logits[..., 0] - logits[..., 1]

    def discriminator_step(self, z):
        """One Adam step of the discriminator on codes ``z [..., B, D]`` (samples of q(z), label 0)
        against their dimension-permuted copies (label 1); returns ``(loss, accuracy)`` detached."""
        z = z.detach()
        disc = self._discriminator_for(z)
        opt = self.discriminator_optimizer
        opt.zero_grad(set_to_none=True)  # nothing from the VAE's backward may enter this step
        real, fake = z.reshape(-1, z.shape[-1]), permute_dims(z).reshape(-1, z.shape[-1])
        logits = disc(torch.cat([real, fake]))
        labels = torch.cat([torch.zeros(len(real), dtype=torch.long, device=z.device),
                            torch.ones(len(fake), dtype=torch.long, device=z.device)])
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        opt.step()
        accuracy = (logits.detach().argmax(-1) == labels).to(z.dtype).mean()
        return loss.detach(), accuracy

    # ---- objective hooks -----------------------------------------------------------------------
    def _begin(self):
        super()._begin()
        self._codes = []

    def loss_from_terms(self, terms, model_trace, guide_trace):
        _, guide_site = latent_sites(model_trace, guide_trace, self.name)
        z = particles(guide_site["value"], terms["batch_size"])  # [P, B, D]
        self._codes.append(z.detach())
        tc = self.density_ratio(z).mean(-1).sum()
        terms["tc"] = tc
        return terms["recon"] + terms["kl_weighted"] + self.gamma * tc

    def after_step(self):
        if not self._codes:
            return
        codes, self._codes = self._codes, []
        if codes[0].shape[-2] < 2:
            return  # a batch of one has nothing to permute
        loss, accuracy = self.discriminator_step(torch.cat(codes))
        self.terms["discriminator_loss"] = loss
        self.terms["discriminator_accuracy"] = accuracy

    def state_dict(self):
        if self.discriminator is None:
            return {}
        return {"discriminator": self.discriminator.state_dict(),
                "optimizer": self.discriminator_optimizer.state_dict()}

    def load_state_dict(self, state):
        if not state:
            return
        weights = state["discriminator"]
        first = weights["net.0.weight"]
        # one weight and one bias per linear layer: `layers` hidden ones and the output layer
        if len(weights) != 2 * (self.discriminator_layers + 1) or first.shape[0] != self.discriminator_units:
            raise PyroVAEError("the saved FactorVAE discriminator has another shape than discriminator_units/"
                               "discriminator_layers: use the settings it was trained with")
        self._build(first.shape[1], first.device, first.dtype)
        self.discriminator.load_state_dict(weights)
        self.discriminator_optimizer.load_state_dict(state["optimizer"])

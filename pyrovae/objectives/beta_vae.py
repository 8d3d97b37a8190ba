"""β-VAE (Higgins et al. 2017)."""
from ..errors import PyroVAEError
from .base import as_term, scale_latents
from .elbo import ELBO
from .registry import register


@register("beta-vae")
class BetaVAE(ELBO):
    r"""The β-VAE objective, realised with ``poutine.scale(β)`` on the latent site of model and guide:

    .. math:: \mathcal{L}_\beta(x) = \mathbb{E}_{q(z|x)}[\log p(x|z)] - \beta\,\mathrm{KL}(q(z|x)\,\|\,p(z)).

    β = 1 is the VAE; β > 1 presses q(z|x) toward the factorised prior (more disentangled, blurrier).
    ``beta`` may be a number or a schedule ``step -> β`` (see :mod:`pyrovae.objectives.schedules`).

    Higgins, I. et al. (2017). β-VAE: Learning Basic Visual Concepts with a Constrained Variational
    Framework. ICLR.
    """

    hyperparameters = {"beta": (4.0, "weight β of the KL term (β = 1 is the plain VAE)")}

    def __init__(self, beta=4.0, **kwargs):
        if not callable(beta) and not float(beta) >= 0:
            raise PyroVAEError(f"beta must be >= 0, got {beta}: use --beta 1 for a VAE, larger to disentangle")
        super().__init__(**kwargs)
        self.beta = beta

    def current_beta(self):
        return self.step_value("beta", self._beta_now)

    def _beta_now(self):
        return self.beta(self.step) if callable(self.beta) else float(self.beta)

    def step_values(self):
        values = super().step_values()
        if callable(self.beta):  # an annealed β: a tensor input of the loss under the JIT
            values["beta"] = self._beta_now()
        return values

    def wrap(self, model, guide):
        beta = self.current_beta()
        return scale_latents(model, beta), scale_latents(guide, beta)

    def loss_from_terms(self, terms, model_trace, guide_trace):
        terms["beta"] = as_term(self.current_beta(), terms["kl_weighted"])
        return super().loss_from_terms(terms, model_trace, guide_trace)

"""The evidence lower bound of the variational autoencoder (Kingma & Welling 2014)."""
from .base import Objective
from .registry import register


@register("vae")
class ELBO(Objective):
    r"""Mean-field ELBO with the analytic KL when one is registered (a Monte Carlo KL otherwise):

    .. math:: \mathcal{L}(x) = \mathbb{E}_{q(z|x)}[\log p(x|z)] - \mathrm{KL}(q(z|x)\,\|\,p(z)),

    minimised as −L per data point. Terms logged: ``recon``, ``kl``, ``kl_per_dim``.

    Kingma, D. P. & Welling, M. (2014). Auto-Encoding Variational Bayes. ICLR.
    """

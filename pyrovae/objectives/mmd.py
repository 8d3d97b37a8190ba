"""InfoVAE with the MMD divergence, "MMD-VAE" (Zhao et al. 2017)."""
from ..errors import PyroVAEError
from ..validation import check_number
from ._common import HELP, choice
from ._mmd import KERNELS, batch_mmd
from .base import Objective
from .registry import register


@register("info-vae")
@register("mmd")
class InfoVAE(Objective):
    r"""The InfoVAE objective with D = MMD (Zhao et al. 2017, eq. 6 with their α, λ):

    .. math::

        \mathcal{L}(x) = -\mathbb{E}_{q(z|x)}[\log p(x|z)] + (1 - \alpha)\,\mathrm{KL}(q(z|x)\,\|\,p(z))
          + (\alpha + \lambda - 1)\,\mathrm{MMD}^2\bigl(q(z), p(z)\bigr),

    where q(z) = E_x q(z|x) is the aggregate posterior, represented by the batch's codes
    z_i ~ q(z|x_i), and p(z) by as many prior draws (:func:`pyrovae.objectives._mmd.mmd`, unbiased
    U-statistic; the MMD over the *data batch*, not over particles as Pyro's ``Trace_MMD``). α sets the
    weight of the mutual information between x and z (α = 0: the ELBO's KL in full, plus an MMD pull
    of q(z) to p(z); α = 1: no KL, a stochastic-encoder WAE), λ that of the divergence between q(z)
    and p(z). The MMD is one number per batch, added once to the per-data-point loss.

    Requires 1 − α ≥ 0 and α + λ − 1 ≥ 0 (non-negative weights), λ ≥ 0. Defaults: α = 0, λ = 1000
    (ours: the MMD² of a batch is O(0.01–0.2), so λ ~ 10³ makes it comparable to the KL's nats),
    ``kernel`` = rbf (Zhao et al. use a Gaussian kernel). Terms logged: ``recon``, ``kl``,
    ``kl_per_dim``, ``mmd``. Registered as ``info-vae`` and ``mmd``.

    Zhao, S., Song, J. & Ermon, S. (2017). InfoVAE: Information Maximizing Variational Autoencoders.
    arXiv:1706.02262 (AAAI 2019).
    """

    hyperparameters = {
        "alpha": (0.0, HELP["alpha"]),
        "lambda_mmd": (1000.0, HELP["lambda_mmd"]),
        "kernel": ("rbf", HELP["kernel"]),
    }

    def __init__(self, alpha=0.0, lambda_mmd=1000.0, kernel="rbf", **kwargs):
        self.alpha = check_number("alpha", alpha)
        self.lambda_mmd = check_number("lambda_mmd", lambda_mmd, minimum=0)
        if self.alpha > 1:
            raise PyroVAEError(f"alpha must be <= 1 (the KL weight is 1 − α), got {alpha!r}")
        if self.alpha + self.lambda_mmd - 1 < 0:
            raise PyroVAEError(f"alpha + lambda_mmd − 1 must be >= 0 (the MMD weight), "
                               f"got {self.alpha + self.lambda_mmd - 1:g}")
        self.kernel = choice("kernel", kernel, KERNELS)
        super().__init__(**kwargs)

    def loss_from_terms(self, terms, model_trace, guide_trace):
        terms["mmd"] = batch_mmd(terms, model_trace, guide_trace, self.kernel, self.name)
        return (terms["recon"] + (1.0 - self.alpha) * terms["kl_weighted"]
                + (self.alpha + self.lambda_mmd - 1.0) * terms["mmd"])

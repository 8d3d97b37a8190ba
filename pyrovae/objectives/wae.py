"""Wasserstein autoencoder with the MMD penalty, WAE-MMD (Tolstikhin et al. 2018)."""
import pyro.distributions as dist
from pyro.poutine.messenger import Messenger
from pyro.poutine.subsample_messenger import _Subsample

from ..validation import check_number
from ._common import HELP, choice, flag
from ._mmd import KERNELS, batch_mmd
from .base import Objective
from .registry import register


class DeterministicLatents(Messenger):
    """Replace every latent sample site's distribution by a point mass at its mean: z = μ(x).

    Used around the guide it turns the Gaussian encoder into the deterministic encoder of a WAE
    (the model then decodes μ(x)); only the mean head of the guide is trained."""

    def _pyro_sample(self, msg):
        fn = msg["fn"]
        # (a plate's subsample site is a "sample" message too: leave it alone)
        if not msg["is_observed"] and not isinstance(fn, (dist.Delta, _Subsample)):
            msg["fn"] = dist.Delta(fn.mean, event_dim=len(fn.event_shape))


def deterministic(fn):
    def wrapped(*args, **kwargs):
        with DeterministicLatents():
            return fn(*args, **kwargs)

    return wrapped


@register("wae")
class WAE(Objective):
    r"""The WAE-MMD objective (Tolstikhin et al. 2018, Algorithm 2):

    .. math::

        \mathcal{L} = -\frac1B \sum_i \mathbb{E}_{q(z|x_i)}[\log p(x_i|z)]
          + \lambda\,\mathrm{MMD}^2\bigl(q(z), p(z)\bigr),

    the reconstruction cost being the decoder's negative log-likelihood (the WAE's cost c(x, G(z))
    for the Bernoulli decoder) and MMD² the unbiased estimate between the batch's codes and as many
    prior draws (:func:`pyrovae.objectives._mmd.mmd`; IMQ kernel with C = 2·D·σ², σ² = 1, as in the
    paper). No KL term enters the loss.

    Encoder: WAE allows deterministic and random encoders. ``deterministic_encoder=True`` (default)
    uses z = μ(x): the guide's Normal is replaced by a point mass at its mean, so the scale head is
    unused and the logged ``kl`` is Pyro's KL(δ_μ ‖ p) = −log p(μ(x)) (a point mass has no density:
    read it as the code's prior cross-entropy, not a KL). ``False`` samples z ~ q(z|x) (the logged
    ``kl`` is then the Gaussian KL, which the loss ignores; a random encoder may shrink its variance
    towards 0). Defaults: λ = 100 (the paper's CelebA value; its MNIST value is 10), kernel imq.
    Terms logged: ``recon``, ``kl``, ``mmd``.

    Tolstikhin, I., Bousquet, O., Gelly, S. & Schölkopf, B. (2018). Wasserstein Auto-Encoders. ICLR.
    """

    hyperparameters = {
        "lambda_mmd": (100.0, HELP["lambda_mmd"]),
        "kernel": ("imq", HELP["kernel"]),
        "deterministic_encoder": (True, "wae: z = μ(x) (true) or z ~ q(z|x) (false)"),
    }

    def __init__(self, lambda_mmd=100.0, kernel="imq", deterministic_encoder=True, **kwargs):
        self.lambda_mmd = check_number("lambda_mmd", lambda_mmd, minimum=0)
        self.kernel = choice("kernel", kernel, KERNELS)
        self.deterministic_encoder = flag("deterministic_encoder", deterministic_encoder)
        super().__init__(**kwargs)

    def wrap(self, model, guide):
        return model, (deterministic(guide) if self.deterministic_encoder else guide)

    def loss_from_terms(self, terms, model_trace, guide_trace):
        terms["mmd"] = batch_mmd(terms, model_trace, guide_trace, self.kernel, self.name)
        return terms["recon"] + self.lambda_mmd * terms["mmd"]

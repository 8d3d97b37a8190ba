"""Normalizing-flow guides q(z | x)."""
import pyro.distributions as dist
import torch
from pyro.distributions.transforms import AffineAutoregressive, ConditionalAffineAutoregressive
from pyro.nn import ConditionalAutoRegressiveNN
from torch import nn

from ..errors import PyroVAEError
from ..utils import run_network
from ..validation import check_int
from .gaussian import AmortizedGuide


def _fresh(transform):
    """A copy of a conditioned IAF step with its own (empty) cache, so that evaluating it elsewhere never
    disturbs the cached (input, output, log-scale) that scoring the guide's sample relies on."""
    return AffineAutoregressive(transform.arn, log_scale_min_clip=transform.log_scale_min_clip,
                                log_scale_max_clip=transform.log_scale_max_clip,
                                sigmoid_bias=transform.sigmoid_bias, stable=transform.stable)


def flow_mean(base, transforms, num_samples=16):
    """E[z] for z = T(z_0), z_0 ~ ``base`` (an ``Independent(Normal)``): the mean of ``num_samples`` draws
    made with a fixed-seed generator (common random numbers: deterministic, differentiable, and the global
    RNG is left alone)."""
    normal = base.base_dist
    loc, scale = normal.loc.expand(normal.batch_shape), normal.scale.expand(normal.batch_shape)
    generator = torch.Generator(device=loc.device).manual_seed(0)
    eps = torch.randn((num_samples, *loc.shape), generator=generator, device=loc.device, dtype=loc.dtype)
    z = loc + scale * eps
    for t in transforms:
        z = _fresh(t)(z)
    return z.mean(0)


class IAFPosterior(dist.TransformedDistribution):
    """The IAF guide's q(z | x): a ``TransformedDistribution`` with a ``mean`` (which torch leaves
    undefined for transformed distributions), estimated by :func:`flow_mean`. Objectives that read the
    guide's mean (DIP-VAE's Cov of E[z|x], WAE's deterministic encoder) then work with the IAF guide."""

    mean_samples = 16

    @property
    def mean(self):
        return flow_mean(self.base_dist, self.transforms, self.mean_samples)


class IAFGuide(AmortizedGuide):
    """Inverse autoregressive flow guide (Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling 2016),
    amortised by the encoder. With h = encoder(x):

        z_0 ~ N(mu(h), diag sigma(h)^2),    z_t = sigma_t ⊙ z_{t-1} + (1 − sigma_t) ⊙ m_t,   t = 1..T,
        (m_t, logit sigma_t) = MADE_t(z_{t-1}, h),

    the numerically stable gated update of Kingma et al. (eq. 14; Pyro's ``stable=True``), with every
    step **conditioned on the encoder features h** — Pyro's ``ConditionalAffineAutoregressive`` (a
    ``ConditionalAutoRegressiveNN`` that reads h beside z), conditioned per batch with ``.condition(h)``:
    the same as ``dist.ConditionalTransformedDistribution(base, steps).condition(h)`` with a base that
    is itself amortised. Choice: conditional steps (the paper's h-context) rather than an unconditional
    IAF on top of the amortised base, so the flow's shape can differ between data points.
    The autoregressive order is reversed between steps (as in the paper). ``flows`` = T (default 2),
    ``hidden`` = MADE width (default max(64, 4·D); two hidden layers).

    Sampling and scoring a sample are one pass per step (Pyro caches each step's input). Scoring an
    arbitrary z needs the inverse, D sequential passes per step — which is why the VampPrior uses
    the base Gaussian of this guide as its components (:meth:`mixture_component`).

    The KL term is Monte Carlo (log q(z|x) − log p(z) at the sampled z); no analytic KL exists.

    ``encode(x)`` returns the base Gaussian's (loc, scale). ``representation(x)`` (the metrics' code) is
    the posterior mean E_q[z], estimated by the mean of ``representation_samples`` (16) flow samples
    drawn with a fixed-seed generator (common random numbers), so it is deterministic and does not touch
    the global RNG; ``distribution(x).mean`` is the same estimate (:class:`IAFPosterior`).
    The MADE masks and orders are buffers: they survive ``state_dict`` round trips
    (Pyro's param store would drop them).
    """

    representation_samples = 16

    def __init__(self, encoder, latent_dim, flows=2, hidden=None):
        super().__init__(encoder, latent_dim)
        n = check_int("guide option flows", flows)
        hidden = check_int("guide option hidden", hidden) if hidden is not None else max(64, 4 * latent_dim)
        if hidden < latent_dim:
            raise PyroVAEError(f"guide option hidden must be >= the latent dim {latent_dim}, got {hidden}")
        self.flows = n
        context = encoder.out_features
        self.head = nn.Linear(context, 2 * latent_dim)
        steps = []
        for i in range(n):
            perm = torch.arange(latent_dim) if i % 2 == 0 else torch.arange(latent_dim).flip(0)
            arn = ConditionalAutoRegressiveNN(latent_dim, context, [hidden, hidden], permutation=perm)
            steps.append(ConditionalAffineAutoregressive(arn, stable=True))
        self.steps = nn.ModuleList(steps)

    def _features(self, x):
        h = run_network(self.encoder, x)
        loc, log_var = self.head(h).chunk(2, dim=-1)
        return h, loc, (0.5 * log_var).exp()

    def encode(self, x):
        """(loc, scale) of the base Gaussian q_0(z_0 | x)."""
        _, loc, scale = self._features(x)
        return loc, scale

    def base_distribution(self, x):
        loc, scale = self.encode(x)
        return dist.Normal(loc, scale).to_event(1)

    mixture_component = base_distribution

    def distribution(self, x):
        h, loc, scale = self._features(x)
        base = dist.Normal(loc, scale).to_event(1)
        return IAFPosterior(base, [step.condition(h) for step in self.steps])

    def representation(self, x, num_samples=None):
        """The posterior mean E_q[z | x], averaged over ``num_samples`` fixed-seed flow samples."""
        h, loc, scale = self._features(x)
        base = dist.Normal(loc, scale).to_event(1)
        return flow_mean(base, [step.condition(h) for step in self.steps], num_samples or self.representation_samples)

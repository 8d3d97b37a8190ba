"""Priors p(z). A prior is an ``nn.Module`` whose ``forward()`` returns a distribution with
``event_shape == (latent_dim,)`` and empty batch shape; the model's data plate broadcasts it.
Learnable priors keep their parameters as submodule parameters, so they train with the model.

Every prior has ``latent_dim`` and ``factorized``. ``factorized = True`` means "a product of independent
*standard normals*" — only :class:`StandardNormalPrior` — and is what objectives that assume N(0, I)
(DIP-VAE, the MMD/WAE kernel width) may check.

The KL term needs nothing from a prior: :func:`pyrovae.objectives.base.site_kl` uses the analytic KL
when torch registers one for the (guide, prior) pair — per dimension for Normal/Normal and
Normal/Laplace, diagonal guides — and the Monte Carlo estimate log q(z) − log p(z) otherwise (mixtures,
VampPrior, Student-t, flows, and every non-diagonal guide).

=========== ====================================== ============================================================
name        class                                  options (``--prior name:key=value,...``)
=========== ====================================== ============================================================
normal      :class:`StandardNormalPrior`           —
laplace     :class:`LaplacePrior`                  ``scale`` (1.0)
student-t   :class:`StudentTPrior`                 ``df`` (3.0), ``scale`` (1.0)
mixture     :class:`MixtureOfGaussiansPrior`       ``components`` (10)
vamp        :class:`VampPrior`                     ``components`` (50)
flow        :class:`FlowPrior`                     ``flows`` (2), ``kind`` (``affine`` or ``spline``), ``hidden``
=========== ====================================== ============================================================
"""
import pyro.distributions as dist
import torch
from pyro.distributions import transforms as T
from pyro.nn import AutoRegressiveNN
from torch import nn

from ..errors import PyroVAEError
from ..validation import check_int, check_number


class StandardNormalPrior(nn.Module):
    """p(z) = N(0, I), the prior of the VAE (Kingma & Welling 2014) and of the β-VAE family."""

    factorized = True  # product of independent standard normals: penalties that assume N(0, I) apply

    def __init__(self, latent_dim):
        super().__init__()
        self.latent_dim = latent_dim
        self.register_buffer("loc", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(latent_dim))

    def forward(self):
        return dist.Normal(self.loc, self.scale).to_event(1)


class LaplacePrior(nn.Module):
    """p(z) = Π_d Laplace(z_d; 0, b), heavier-tailed and sparser than N(0, I); b = ``scale`` (default 1,
    variance 2b²). Factorised, but not standard normal (``factorized = False``). The KL from a diagonal
    Gaussian guide is analytic per dimension (torch registers Normal/Laplace)."""

    factorized = False

    def __init__(self, latent_dim, scale=1.0):
        super().__init__()
        self.latent_dim = latent_dim
        self.register_buffer("loc", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.full((latent_dim,), check_number("prior option scale", scale, minimum=0, exclusive=True)))

    def forward(self):
        return dist.Laplace(self.loc, self.scale).to_event(1)


class StudentTPrior(nn.Module):
    """p(z) = Π_d StudentT(z_d; ν, 0, s), ν = ``df`` (default 3: heavy tails, finite variance), s =
    ``scale`` (default 1). No analytic KL: Monte Carlo."""

    factorized = False

    def __init__(self, latent_dim, df=3.0, scale=1.0):
        super().__init__()
        self.latent_dim = latent_dim
        self.register_buffer("df", torch.full((latent_dim,), check_number("prior option df", df, minimum=0, exclusive=True)))
        self.register_buffer("loc", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.full((latent_dim,), check_number("prior option scale", scale, minimum=0, exclusive=True)))

    def forward(self):
        return dist.StudentT(self.df, self.loc, self.scale).to_event(1)


class MixtureOfGaussiansPrior(nn.Module):
    """A learnable mixture of K diagonal Gaussians,
    p(z) = Σ_k π_k N(z; μ_k, diag σ_k²), with π = softmax(logits), all learned with the model.

    Initialisation: μ_k ~ N(0, I) (drawn from torch's global RNG, so seeded runs repeat), σ_k = 1,
    π uniform. ``components`` = K (default 10). Log-density: logsumexp_k [log π_k + log N(z; μ_k, σ_k)]."""

    factorized = False

    def __init__(self, latent_dim, components=10):
        super().__init__()
        k = check_int("prior option components", components)
        self.latent_dim, self.components = latent_dim, k
        self.logits = nn.Parameter(torch.zeros(k))
        self.locs = nn.Parameter(torch.randn(k, latent_dim))
        self.log_scales = nn.Parameter(torch.zeros(k, latent_dim))

    def forward(self):
        return dist.MixtureSameFamily(dist.Categorical(logits=self.logits),
                                      dist.Normal(self.locs, self.log_scales.exp()).to_event(1))


class VampPrior(nn.Module):
    """The VampPrior (Tomczak & Welling 2018): p(z) = (1/K) Σ_k q(z | u_k), the guide's posterior at K
    learnable pseudo-inputs u_k (shape ``data_shape``), so the prior follows the encoder.

    The guide is held by reference **outside** the module tree (``self._guide_ref``), so its parameters are
    neither in this prior's ``parameters()`` / ``state_dict()`` nor registered a second time with Pyro
    (the guide's own ``pyro.module`` registers them once); gradients of log p(z) still reach the
    encoder through the shared tensors. Only the pseudo-inputs belong to the prior.

    Components: ``guide.mixture_component(u)`` — q(z | u_k) itself for the diagonal and low-rank guides;
    for the IAF guide its amortised base Gaussian (scoring an arbitrary z under an IAF costs D sequential
    network passes per component, see :class:`pyrovae.guides.flows.IAFGuide`).

    Pseudo-inputs start at 0.5 + 0.05·N(0, 1) (Tomczak & Welling start them as small random values near
    the middle of the data range); ``components`` = K (default 50; the paper uses 500 on MNIST).
    """

    factorized = False

    def __init__(self, latent_dim, guide, data_shape, components=50):
        super().__init__()
        if guide is None or not hasattr(guide, "mixture_component"):
            raise PyroVAEError("the vamp prior needs a guide with mixture_component(x) (every pyrovae guide has one)")
        if data_shape is None:
            raise PyroVAEError("the vamp prior needs the data shape for its pseudo-inputs")
        k = check_int("prior option components", components)
        self.latent_dim, self.components = latent_dim, k
        self.data_shape = tuple(data_shape)
        self.pseudo_inputs = nn.Parameter(0.5 + 0.05 * torch.randn(k, *self.data_shape))
        object.__setattr__(self, "_guide_ref", guide)  # not a submodule: no double registration

    @property
    def guide(self):
        return self._guide_ref

    def forward(self):
        components = self._guide_ref.mixture_component(self.pseudo_inputs)  # batch [K], event [D]
        mix = dist.Categorical(logits=torch.zeros(self.components, device=self.pseudo_inputs.device))
        return dist.MixtureSameFamily(mix, components)


def _permutation(dim, i):
    """Alternate the autoregressive order between flow steps: identity, reversed, identity, ..."""
    p = torch.arange(dim)
    return p if i % 2 == 0 else p.flip(0)


class FlowPrior(nn.Module):
    """A normalizing-flow prior: z = f⁻¹(u), u ~ N(0, I), with f = f_L ∘ … ∘ f_1 a stack of
    ``flows`` autoregressive transforms (MADE networks, Germain et al. 2015), i.e. a masked autoregressive
    flow (Papamakarios et al. 2017) used as the prior:

        log p(z) = log N(f(z); 0, I) + log |det ∂f/∂z|.

    Direction: each f_l is Pyro's ``AffineAutoregressive`` (``kind="affine"``, default) or
    ``SplineAutoregressive`` (``kind="spline"``, linear rational splines, 8 bins on [-3, 3]) applied
    **z → u**, so scoring z (what training needs, every step) is one network pass per step, and sampling
    (generation only) inverts it with D sequential passes. The autoregressive order alternates
    between steps (identity, reversed). ``hidden`` = MADE width (default max(32, 4·D)).

    Pyro stores the MADE masks and orders as buffers: checkpoint with ``state_dict`` (not the param store).
    """

    factorized = False

    def __init__(self, latent_dim, flows=2, kind="affine", hidden=None):
        super().__init__()
        n = check_int("prior option flows", flows)
        hidden = check_int("prior option hidden", hidden) if hidden is not None else max(32, 4 * latent_dim)
        if hidden < latent_dim:
            raise PyroVAEError(f"prior option hidden must be >= the latent dim {latent_dim}, got {hidden}")
        if kind not in ("affine", "spline"):
            raise PyroVAEError(f"prior option kind must be affine or spline, got {kind!r}")
        self.latent_dim, self.kind = latent_dim, kind
        self.register_buffer("base_loc", torch.zeros(latent_dim))
        self.register_buffer("base_scale", torch.ones(latent_dim))
        steps = []
        for i in range(n):
            perm = _permutation(latent_dim, i)
            if kind == "affine":
                steps.append(T.AffineAutoregressive(AutoRegressiveNN(latent_dim, [hidden, hidden], permutation=perm)))
            else:
                bins = 8
                arn = AutoRegressiveNN(latent_dim, [hidden, hidden], param_dims=[bins, bins, bins - 1, bins],
                                       permutation=perm)
                steps.append(T.SplineAutoregressive(latent_dim, arn, count_bins=bins, bound=3.0, order="linear"))
        self.steps = nn.ModuleList(steps)  # z -> u, in order

    def transforms(self):
        """The transforms u -> z of the TransformedDistribution (inverses of the steps, last step first)."""
        return [step.inv for step in reversed(self.steps)]

    def forward(self):
        base = dist.Normal(self.base_loc, self.base_scale).to_event(1)
        return dist.TransformedDistribution(base, self.transforms())

"""Amortised Gaussian guides q(z | x).

Every guide has the same interface: ``forward(x)`` (the Pyro guide: site ``"z"`` in plate ``"data"``),
``distribution(x)`` (q(z | x), batch ``[B]``, event ``[D]``), ``encode(x) -> (loc, scale)`` (the mean and
marginal standard deviations that reports read), ``representation(x)`` (the code the metrics read) and
``mixture_component(x)`` (a q(z | x) whose ``log_prob`` is cheap at any z, for the VampPrior).
"""
import pyro
import pyro.distributions as dist
import torch
from torch import nn
from torch.nn import functional as F

from ..utils import register_module, run_network
from ..validation import check_int


class AmortizedGuide(nn.Module):
    """The shared part of the guides: ``forward`` samples site ``"z"`` from ``distribution(x)`` in the
    data plate; the metrics' code is the posterior mean, ``encode(x)[0]``.

    Guides call the encoder through :func:`pyrovae.utils.run_network` (bf16 in a mixed-precision
    training step, float32 out) and keep their small heads and flows in float32."""

    def __init__(self, encoder, latent_dim):
        super().__init__()
        self.encoder = encoder
        self.latent_dim = latent_dim
        # pyro.module names must be unique per instance (a second guide must not reuse these parameters)
        self._pyro_name = f"guide_{id(self):x}"

    def forward(self, x):
        register_module(self._pyro_name, self)
        with pyro.plate("data", x.shape[0], dim=-1):
            return pyro.sample("z", self.distribution(x))

    def representation(self, x):
        """The code the metrics read: the posterior mean."""
        return self.encode(x)[0]


class DiagonalGaussianGuide(AmortizedGuide):
    """Pyro guide ``guide(x)``: q(z | x) = N(mu(x), diag(sigma(x)^2)), with mu and log sigma^2 from a
    linear head on the encoder's features (the parametrisation of Kingma & Welling 2014)."""

    def __init__(self, encoder, latent_dim):
        super().__init__(encoder, latent_dim)
        self.head = nn.Linear(encoder.out_features, 2 * latent_dim)

    def encode(self, x):
        """(loc, scale) of q(z | x)."""
        out = self.head(run_network(self.encoder, x))
        # slices rather than chunk(): torch's JIT cannot differentiate a chunk whose second half goes
        # unused (WAE's deterministic encoder under --jit); the values are the same
        loc, log_var = out[..., :self.latent_dim], out[..., self.latent_dim:]
        return loc, (0.5 * log_var).exp()

    def distribution(self, x):
        loc, scale = self.encode(x)
        return dist.Normal(loc, scale).to_event(1)

    mixture_component = distribution


class LowRankGaussianGuide(AmortizedGuide):
    """Pyro guide ``guide(x)``: a full-covariance Gaussian with low-rank-plus-diagonal covariance,

        q(z | x) = N(mu(x), W(x) W(x)^T + diag(d(x))),   W: D x r,  d > 0,

    (``LowRankMultivariateNormal``), all from one linear head on the encoder's features; d = softplus(.)
    + 1e-5. ``rank`` r (default 2, at most D) sets how many correlated directions the posterior can
    have. No analytic KL against pyrovae's priors is registered: the KL is Monte Carlo.
    ``encode`` gives (mu, the marginal standard deviations sqrt(diag(W W^T + d))); the metrics' code is mu.
    """

    def __init__(self, encoder, latent_dim, rank=2):
        super().__init__(encoder, latent_dim)
        self.rank = min(check_int("guide option rank", rank), latent_dim)
        self.head = nn.Linear(encoder.out_features, latent_dim * (2 + self.rank))
        with torch.no_grad():  # start near a diagonal Gaussian with unit variances
            self.head.weight[latent_dim:latent_dim * (1 + self.rank)].mul_(0.1)
            self.head.bias[latent_dim:latent_dim * (1 + self.rank)].zero_()
            self.head.bias[latent_dim * (1 + self.rank):].fill_(0.5413)  # softplus(0.5413) ~ 1

    def params(self, x):
        """(loc [B, D], cov_factor [B, D, r], cov_diag [B, D])."""
        out = self.head(run_network(self.encoder, x))
        d, r = self.latent_dim, self.rank
        loc = out[..., :d]
        factor = out[..., d:d * (1 + r)].reshape(*out.shape[:-1], d, r)
        diag = F.softplus(out[..., d * (1 + r):]) + 1e-5
        return loc, factor, diag

    def encode(self, x):
        """(loc, marginal standard deviations) of q(z | x)."""
        loc, factor, diag = self.params(x)
        return loc, (factor.pow(2).sum(-1) + diag).sqrt()

    def distribution(self, x):
        return dist.LowRankMultivariateNormal(*self.params(x))

    mixture_component = distribution

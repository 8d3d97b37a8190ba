"""Likelihoods p(x | z) given the decoder's output. A likelihood is an ``nn.Module`` (so a learned
scale trains with the decoder) with ``forward(out, event_dim) -> Distribution``, ``mean(out)`` for
reconstructions, ``out_mult`` (decoder outputs per data value) and ``validate(x)`` that checks the
data lie in its support.

Registered names (``--likelihood name[:key=value,...]``):

* ``bernoulli`` — :class:`BernoulliLikelihood`, data in {0, 1};
* ``continuous-bernoulli`` — :class:`ContinuousBernoulliLikelihood`, data in [0, 1];
* ``gaussian`` — :class:`GaussianLikelihood` with a learned global σ (option ``init_scale``, 1.0), finite reals;
* ``gaussian-fixed`` — :class:`GaussianLikelihood` with a fixed σ (option ``scale``, 0.1), finite reals;
* ``laplace`` — :class:`LaplaceLikelihood`, learned global scale (``init_scale``, 1.0) or fixed with
  ``scale``, finite reals.

Every likelihood here has ``out_mult = 1``: the decoder gives one number per data value (logits, or
the location); the scales of the Gaussian and Laplace are not per pixel.
"""
import math

import pyro.distributions as dist
import torch
from torch import nn

from ..errors import PyroVAEError
from ..validation import check_number


def _check_finite(x, name):
    if not bool(torch.isfinite(x).all()):
        raise PyroVAEError(f"the {name} likelihood needs finite data: the data contain NaN or infinite "
                           "values, clean them first")


class BernoulliLikelihood(nn.Module):
    """Bernoulli with logits from the decoder, for binary images (dSprites)."""

    out_mult = 1

    def forward(self, out, event_dim):
        return dist.Bernoulli(logits=out, validate_args=False).to_event(event_dim)

    def mean(self, out):
        return torch.sigmoid(out)

    def validate(self, x):
        if not bool(((x == 0) | (x == 1)).all()):
            raise PyroVAEError(
                "the Bernoulli likelihood needs binary data (values 0 or 1): binarise the data "
                "or choose another likelihood (e.g. --likelihood continuous-bernoulli or gaussian)"
            )


class ContinuousBernoulliLikelihood(nn.Module):
    """The continuous Bernoulli (Loaiza-Ganem & Cunningham 2019), torch's ``ContinuousBernoulli`` with
    logits from the decoder: the properly normalised density for data in [0, 1] (grey-level or
    colour images), where the Bernoulli's "log-likelihood" of non-binary pixels is not a density.
    ``mean(out)`` is the distribution's mean (not sigmoid(logits))."""

    out_mult = 1

    def forward(self, out, event_dim):
        return dist.ContinuousBernoulli(logits=out, validate_args=False).to_event(event_dim)

    def mean(self, out):
        return dist.ContinuousBernoulli(logits=out, validate_args=False).mean

    def validate(self, x):
        _check_finite(x, "continuous Bernoulli")
        if not bool(((x >= 0) & (x <= 1)).all()):
            raise PyroVAEError(
                f"the continuous Bernoulli likelihood needs data in [0, 1], got values in "
                f"[{float(x.min()):.3g}, {float(x.max()):.3g}]: rescale the data to [0, 1] "
                "or choose --likelihood gaussian or laplace")


class _LocationScaleLikelihood(nn.Module):
    """Location from the decoder (identity link: the data may be any finite reals), one scale shared by
    every data value: a learned **global** scalar log σ (a ``nn.Parameter``, trained with the decoder;
    clamped to σ ∈ [1e-3, 1e3] for stability) when ``scale`` is None, else the fixed σ = ``scale``.
    A global scale (rather than one per channel) keeps the constructor free of the data shape;
    ``learned`` says which of the two it is."""

    out_mult = 1
    family = None
    label = None

    def __init__(self, scale=None, init_scale=1.0):
        super().__init__()
        self.learned = scale is None
        if self.learned:
            init_scale = check_number("likelihood option init_scale", init_scale, minimum=0, exclusive=True)
            self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))
        else:
            scale = check_number("likelihood option scale", scale, minimum=0, exclusive=True)
            self.register_buffer("log_scale", torch.tensor(math.log(scale)))

    @property
    def scale(self):
        return self.log_scale.clamp(math.log(1e-3), math.log(1e3)).exp()

    def forward(self, out, event_dim):
        return self.family(out, self.scale.to(out.dtype), validate_args=False).to_event(event_dim)

    def mean(self, out):
        return out

    def validate(self, x):
        _check_finite(x, self.label)


class GaussianLikelihood(_LocationScaleLikelihood):
    """p(x | z) = N(x; decoder(z), σ²) per data value, σ learned (``gaussian``, global, initial
    ``init_scale`` = 1) or fixed (``gaussian-fixed``, ``scale`` = 0.1 by default, a sensible noise level
    for data in [0, 1]; disentanglement_lib's "l2" loss corresponds to σ = 1/√2 on sigmoid means)."""

    family = dist.Normal
    label = "Gaussian"


class LaplaceLikelihood(_LocationScaleLikelihood):
    """p(x | z) = Laplace(x; decoder(z), b) per data value (an L1 reconstruction loss), b learned and
    global (initial ``init_scale`` = 1) or fixed with ``scale=``."""

    family = dist.Laplace
    label = "Laplace"


def likelihood_for(x):
    """The likelihood that ``auto`` (the trainer's default) picks for data ``x``, by their values:
    ``bernoulli`` for binary data (dSprites), ``continuous-bernoulli`` for data in [0, 1] (digits, the
    colour and noisy dSprites), ``gaussian`` for any other finite values."""
    if bool(((x == 0) | (x == 1)).all()):
        return "bernoulli"
    if bool(((x >= 0) & (x <= 1)).all()):
        return "continuous-bernoulli"
    return "gaussian"

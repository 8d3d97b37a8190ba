"""Likelihoods p(x | z) given the decoder's output. A likelihood is an ``nn.Module`` (so a learned
scale trains with the decoder) with ``forward(out, event_dim) -> Distribution``, ``mean(out)`` for
reconstructions, ``out_mult`` (decoder outputs per data value) and ``validate(x)`` that checks the
data lie in its support."""
import pyro.distributions as dist
import torch
from torch import nn

from ..errors import PyroVAEError


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

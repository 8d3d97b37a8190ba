"""The generative side of a VAE as a Pyro model: z ~ p(z), x ~ p(x | decoder(z))."""
import pyro
import torch
from torch import nn

from ..utils import register_module, run_network


class VAEModel(nn.Module):
    """Pyro model ``model(x)``::

        with pyro.plate("data", B):
            z ~ prior()
            x ~ likelihood(decoder(z))

    Prior, decoder and likelihood are objects passed in, so any of them can be swapped without touching
    the model. Batch size is the plate size; the plate sits at ``dim=-1`` so Pyro can add a vectorised
    particle plate at ``dim=-2`` (IWAE).
    """

    def __init__(self, decoder, prior, likelihood):
        super().__init__()
        self.decoder, self.prior, self.likelihood = decoder, prior, likelihood
        # pyro.module names must be unique per instance: a second module under the same name would
        # silently reuse the first one's parameters.
        self._pyro_name = f"model_{id(self):x}"

    @property
    def latent_dim(self):
        return self.prior.latent_dim

    def forward(self, x):
        register_module(self._pyro_name, self)
        with pyro.plate("data", x.shape[0], dim=-1):
            z = pyro.sample("z", self.prior())
            out = run_network(self.decoder, z)  # bf16 inside a mixed-precision step; float32 out
            pyro.sample("x", self.likelihood(out, x.dim() - 1), obs=x)
        return out

    def observation(self, x, z):
        """``(p(x | z), x)``: the likelihood at code ``z`` and the value it scores."""
        return self.likelihood(self.decoder(z), x.dim() - 1), x

    @torch.no_grad()
    def decode(self, z):
        """Mean of p(x | z) (e.g. pixel probabilities for the Bernoulli)."""
        return self.likelihood.mean(self.decoder(z))

    @torch.no_grad()
    def sample(self, num):
        """Means of p(x | z) for ``num`` draws of z from the prior."""
        return self.decode(self.prior().sample((num,)))

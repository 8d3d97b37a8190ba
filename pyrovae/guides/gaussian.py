"""Amortised Gaussian guides q(z | x)."""
import pyro
import pyro.distributions as dist
from torch import nn


class DiagonalGaussianGuide(nn.Module):
    """Pyro guide ``guide(x)``: q(z | x) = N(mu(x), diag(sigma(x)^2)), with mu and log sigma^2 from a
    linear head on the encoder's features (the parametrisation of Kingma & Welling 2014)."""

    def __init__(self, encoder, latent_dim):
        super().__init__()
        self.encoder = encoder
        self.latent_dim = latent_dim
        self.head = nn.Linear(encoder.out_features, 2 * latent_dim)
        self._pyro_name = f"guide_{id(self):x}"

    def encode(self, x):
        """(loc, scale) of q(z | x)."""
        loc, log_var = self.head(self.encoder(x)).chunk(2, dim=-1)
        return loc, (0.5 * log_var).exp()

    def distribution(self, x):
        loc, scale = self.encode(x)
        return dist.Normal(loc, scale).to_event(1)

    def forward(self, x):
        pyro.module(self._pyro_name, self)
        with pyro.plate("data", x.shape[0], dim=-1):
            return pyro.sample("z", self.distribution(x))

    def representation(self, x):
        """The code the metrics read: the posterior mean."""
        return self.encode(x)[0]

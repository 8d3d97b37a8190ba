"""A guide with a normalizing flow, in plain Pyro: copy this file and edit it.

    z_0 ~ N(mu(x), diag sigma(x)^2),    z = T_2(T_1(z_0))

with T_1, T_2 affine autoregressive flows (inverse autoregressive flows, Kingma et al. 2016), so q(z | x)
can be skewed and correlated. The encoder is a small MLP for data of any shape (take the conv encoder of
guides/conv_guide.py for 64x64 images).

A flow's q(z | x) has no closed-form mean, so the guide says what the metrics read, ``representation(x)``
(here the flow applied to the base mean), and what ``pyrovae encode`` writes, ``encode(x)`` (the base
Gaussian's mean and standard deviation).
"""
import math

import pyro
import pyro.distributions as dist
from pyro.distributions.transforms import affine_autoregressive
from torch import nn


class Guide(nn.Module):
    def __init__(self, data_shape, latent_dim, hidden=256, flows=2):
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(data_shape), hidden), nn.ReLU(),
                                     nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent_dim))
        self.flows = nn.ModuleList(affine_autoregressive(latent_dim) for _ in range(flows))

    def encode(self, x):
        z_loc, z_log_var = self.encoder(x).chunk(2, dim=-1)
        return z_loc, (0.5 * z_log_var).exp()

    def forward(self, x):
        pyro.module("encoder", self)
        z_loc, z_scale = self.encode(x)
        with pyro.plate("data", x.shape[0], dim=-1):
            base = dist.Normal(z_loc, z_scale).to_event(1)
            pyro.sample("z", dist.TransformedDistribution(base, list(self.flows)))

    def representation(self, x):
        z = self.encode(x)[0]
        for flow in self.flows:
            z = flow(z)
        return z


def make_guide(data_shape, latent_dim):
    return Guide(data_shape, latent_dim)

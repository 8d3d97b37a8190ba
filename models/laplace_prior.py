"""A VAE model with a Laplace prior, in plain Pyro: copy this file and edit it.

    z_d ~ Laplace(0, 1),    x ~ Bernoulli(decoder(z))

The heavier tails and the peak at 0 of the Laplace prior favour sparse codes. No closed-form KL from a
Gaussian q(z | x) to it exists: the objectives estimate it by Monte Carlo, on their own. The decoder is a
small MLP for data of any shape (take the conv decoder of models/conv_vae.py for 64x64 images). The
Bernoulli likelihood reads data in [0, 1] as pixel probabilities, as Pyro's VAE tutorial does on MNIST.

    pyrovae train --dataset digits --model models/laplace_prior.py:make_model --guide guides/flow_guide.py:make_guide
"""
import math

import pyro
import pyro.distributions as dist
from torch import nn


class Model(nn.Module):
    def __init__(self, data_shape, latent_dim, hidden=256):
        super().__init__()
        self.latent_dim, self.data_shape = latent_dim, tuple(data_shape)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, math.prod(data_shape)))

    def forward(self, x):
        pyro.module("decoder", self.decoder)
        with pyro.plate("data", x.shape[0], dim=-1):
            z = pyro.sample("z", dist.Laplace(x.new_zeros(self.latent_dim), x.new_ones(self.latent_dim)).to_event(1))
            logits = self.decoder(z).reshape(*z.shape[:-1], *self.data_shape)
            pyro.sample("x", dist.Bernoulli(logits=logits, validate_args=False).to_event(len(self.data_shape)), obs=x)


def make_model(data_shape, latent_dim):
    return Model(data_shape, latent_dim)

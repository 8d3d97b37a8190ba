"""Priors p(z). A prior is an ``nn.Module`` whose ``forward()`` returns a distribution with
``event_shape == (latent_dim,)`` and empty batch shape; the model's data plate broadcasts it.
Learnable priors keep their parameters as submodule parameters, so they train with the model."""
import pyro.distributions as dist
import torch
from torch import nn


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

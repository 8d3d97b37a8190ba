"""The standard conv VAE's guide, written in plain Pyro as in Pyro's VAE tutorial: copy this file and edit it.

    q(z | x) = N(mu(x), diag sigma(x)^2)

The encoder is the standard one of the disentanglement literature for 64x64 images (Higgins et al. 2017;
Locatello et al. 2019). The metrics read the mean of q(z | x), and ``pyrovae encode`` its mean and standard
deviation; a guide whose q(z | x) has no closed-form mean says what to read instead (guides/flow_guide.py).
"""
import pyro
import pyro.distributions as dist
from torch import nn


class Encoder(nn.Module):
    """x -> 256 features: four 4x4 stride-2 convolutions (32, 32, 64, 64 channels), then FC 256."""

    def __init__(self, channels):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(64 * 4 * 4, 256), nn.ReLU(),
        )

    def forward(self, x):
        return self.net(x)


class Guide(nn.Module):
    def __init__(self, data_shape, latent_dim):
        super().__init__()
        self.encoder = Encoder(data_shape[0])
        self.head = nn.Linear(256, 2 * latent_dim)  # mu and log sigma^2

    def forward(self, x):
        pyro.module("encoder", self)
        z_loc, z_log_var = self.head(self.encoder(x)).chunk(2, dim=-1)
        with pyro.plate("data", x.shape[0], dim=-1):
            pyro.sample("z", dist.Normal(z_loc, (0.5 * z_log_var).exp()).to_event(1))


def make_guide(data_shape, latent_dim):
    if tuple(data_shape[1:]) != (64, 64):
        raise ValueError(f"this conv net reads 64x64 images, not {tuple(data_shape)}: use guides/flow_guide.py")
    return Guide(data_shape, latent_dim)

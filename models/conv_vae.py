"""The standard conv VAE's model, written in plain Pyro as in Pyro's VAE tutorial: copy this file and edit it.

    z ~ N(0, I),    x ~ Bernoulli(decoder(z))

The decoder is the standard one of the disentanglement literature for 64x64 images (Higgins et al. 2017;
Locatello et al. 2019). Train it with its guide:

    pyrovae train --model models/conv_vae.py:make_model --guide guides/conv_guide.py:make_guide
"""
import pyro
import pyro.distributions as dist
from torch import nn


class Decoder(nn.Module):
    """z -> one logit per pixel: FC 256, FC 64*4*4, then four 4x4 stride-2 transposed convolutions."""

    def __init__(self, latent_dim, channels):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(latent_dim, 256), nn.ReLU(), nn.Linear(256, 64 * 4 * 4), nn.ReLU())
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, channels, 4, 2, 1),
        )

    def forward(self, z):
        lead = z.shape[:-1]  # batch, and the particles of IWAE when there are several
        logits = self.deconv(self.fc(z.reshape(-1, z.shape[-1])).reshape(-1, 64, 4, 4))
        return logits.reshape(*lead, *logits.shape[1:])


class Model(nn.Module):
    def __init__(self, data_shape, latent_dim):
        super().__init__()
        self.latent_dim = latent_dim
        self.decoder = Decoder(latent_dim, data_shape[0])

    def forward(self, x):
        pyro.module("decoder", self.decoder)
        with pyro.plate("data", x.shape[0], dim=-1):
            z_loc = x.new_zeros(x.shape[0], self.latent_dim)
            z_scale = x.new_ones(x.shape[0], self.latent_dim)
            z = pyro.sample("z", dist.Normal(z_loc, z_scale).to_event(1))
            logits = self.decoder(z)
            pyro.sample("x", dist.Bernoulli(logits=logits).to_event(x.dim() - 1), obs=x)


def make_model(data_shape, latent_dim):
    if tuple(data_shape[1:]) != (64, 64):
        raise ValueError(f"this conv net makes 64x64 images, not {tuple(data_shape)}: use models/laplace_prior.py")
    return Model(data_shape, latent_dim)

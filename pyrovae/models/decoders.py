"""Decoders: latent code z -> parameters of p(x | z).

Every decoder accepts any number of leading batch dimensions (``[..., D]``) so that the model works
under a vectorised particle plate (IWAE, ``vectorize_particles=True``).
"""
import math

from torch import nn


class ConvDecoder(nn.Module):
    """The standard decoder of the disentanglement literature for 64x64 images (Higgins et al. 2017;
    Locatello et al. 2019): FC 256, FC 64*4*4, then four 4x4 stride-2 transposed convolutions
    (64, 32, 32, channels)."""

    def __init__(self, latent_dim, out_shape=(1, 64, 64), out_mult=1):
        super().__init__()
        channels, height, width = out_shape
        if (height, width) != (64, 64):
            raise ValueError(f"ConvDecoder makes 64x64 images, not {height}x{width}: use MLPDecoder")
        self.out_shape = tuple(out_shape)
        self.out_mult = out_mult  # >1 when the likelihood needs several outputs per pixel
        self.fc = nn.Sequential(
            nn.Linear(latent_dim, 256), nn.ReLU(),
            nn.Linear(256, 64 * 4 * 4), nn.ReLU(),
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, channels * out_mult, 4, 2, 1),
        )

    def forward(self, z):
        lead = z.shape[:-1]
        h = self.fc(z.reshape(-1, z.shape[-1])).view(-1, 64, 4, 4)
        out = self.deconv(h)
        return out.reshape(*lead, *out.shape[1:])


class MLPDecoder(nn.Module):
    """A multilayer perceptron for small inputs (flat vectors or small images)."""

    def __init__(self, latent_dim, out_shape, hidden=(256, 256), out_mult=1):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.out_mult = out_mult
        channels, *rest = self.out_shape
        self._view = (channels * out_mult, *rest)
        layers, width = [], latent_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, math.prod(self._view)))
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z).reshape(*z.shape[:-1], *self._view)

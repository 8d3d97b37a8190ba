"""Encoders: x -> a hidden feature vector that a guide turns into the parameters of q(z | x)."""
import math

from torch import nn


class ConvEncoder(nn.Module):
    """The standard encoder of the disentanglement literature for 64x64 images (Higgins et al. 2017;
    Locatello et al. 2019): four 4x4 stride-2 convolutions (32, 32, 64, 64 channels), then FC 256."""

    out_features = 256

    def __init__(self, in_shape=(1, 64, 64)):
        super().__init__()
        channels, height, width = in_shape
        if (height, width) != (64, 64):
            raise ValueError(f"ConvEncoder reads 64x64 images, not {height}x{width}: use MLPEncoder")
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


class MLPEncoder(nn.Module):
    """A multilayer perceptron for small inputs; flattens everything after the batch dimension."""

    def __init__(self, in_shape, hidden=(256, 256)):
        super().__init__()
        layers, width = [nn.Flatten()], math.prod(in_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.out_features = width
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)

"""The inference side: encoders and amortised guides q(z | x)."""
from .encoders import ConvEncoder, MLPEncoder
from .gaussian import DiagonalGaussianGuide

__all__ = ["ConvEncoder", "MLPEncoder", "DiagonalGaussianGuide"]

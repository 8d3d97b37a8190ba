"""The inference side: encoders and amortised guides q(z | x)."""
from .encoders import ConvEncoder, MLPEncoder
from .flows import IAFGuide
from .gaussian import AmortizedGuide, DiagonalGaussianGuide, LowRankGaussianGuide

__all__ = ["AmortizedGuide", "ConvEncoder", "MLPEncoder", "DiagonalGaussianGuide", "LowRankGaussianGuide", "IAFGuide"]

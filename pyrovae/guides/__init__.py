"""The inference side: encoders and amortised guides q(z | x)."""
from .encoders import ConvEncoder, MLPEncoder
from .flows import IAFGuide, IAFPosterior
from .gaussian import AmortizedGuide, DiagonalGaussianGuide, LowRankGaussianGuide
from .user import UserGuide

__all__ = ["AmortizedGuide", "ConvEncoder", "MLPEncoder", "DiagonalGaussianGuide", "LowRankGaussianGuide", "IAFGuide",
           "IAFPosterior",
           "UserGuide"]

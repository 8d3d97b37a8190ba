"""The generative side: priors p(z), decoders, likelihoods p(x | z) and the Pyro model."""
from .decoders import ConvDecoder, MLPDecoder
from .factory import GUIDES, LIKELIHOODS, PRIORS, build_vae
from .likelihoods import BernoulliLikelihood
from .priors import StandardNormalPrior
from .vae import VAEModel

__all__ = ["ConvDecoder", "MLPDecoder", "BernoulliLikelihood", "StandardNormalPrior", "VAEModel",
           "build_vae", "PRIORS", "LIKELIHOODS", "GUIDES"]

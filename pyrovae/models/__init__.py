"""The generative side: priors p(z), decoders, likelihoods p(x | z) and the Pyro model."""
from .decoders import ConvDecoder, ConvTranspose2d, MLPDecoder
from .factory import GUIDES, LIKELIHOODS, PRIORS, build_vae, parse_spec
from .infogan import InfoGAN
from .likelihoods import BernoulliLikelihood, ContinuousBernoulliLikelihood, GaussianLikelihood, LaplaceLikelihood
from .priors import FlowPrior, LaplacePrior, MixtureOfGaussiansPrior, StandardNormalPrior, StudentTPrior, VampPrior
from .user import UserModel, check_pair
from .vae import VAEModel

__all__ = ["ConvDecoder", "ConvTranspose2d", "MLPDecoder", "BernoulliLikelihood", "ContinuousBernoulliLikelihood",
           "GaussianLikelihood", "LaplaceLikelihood", "StandardNormalPrior", "LaplacePrior", "StudentTPrior",
           "MixtureOfGaussiansPrior", "VampPrior", "FlowPrior", "VAEModel", "UserModel", "check_pair", "InfoGAN",
           "build_vae", "parse_spec", "PRIORS", "LIKELIHOODS", "GUIDES"]

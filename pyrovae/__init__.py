"""pyrovae: variational autoencoders and disentangled representation learning on Pyro."""
__version__ = "0.1.0"

from .errors import PyroVAEError  # noqa: F401

"""Build a (model, guide) pair from names, the way the CLI and saved runs describe them."""
from ..errors import PyroVAEError
from ..guides.encoders import ConvEncoder, MLPEncoder
from ..guides.gaussian import DiagonalGaussianGuide
from .decoders import ConvDecoder, MLPDecoder
from .likelihoods import BernoulliLikelihood
from .priors import StandardNormalPrior
from .vae import VAEModel

# name -> constructor. Priors get (latent_dim, guide=..., data_shape=...) so that priors built on
# the encoder (VampPrior) can be added; guides get (encoder, latent_dim); likelihoods get nothing.
PRIORS = {"normal": lambda latent_dim, **_: StandardNormalPrior(latent_dim)}
LIKELIHOODS = {"bernoulli": BernoulliLikelihood}
GUIDES = {"diagonal": DiagonalGaussianGuide}
ARCHS = ("auto", "conv", "mlp")


def _lookup(table, kind, name):
    if name not in table:
        raise PyroVAEError(f"unknown {kind} {name!r}: choose one of {', '.join(sorted(table))}")
    return table[name]


def build_vae(data_shape, latent_dim=10, arch="auto", prior="normal", likelihood="bernoulli",
              guide="diagonal"):
    """Return ``(model, guide)`` for data of shape ``data_shape`` (without the batch dimension).

    ``arch="auto"`` takes the standard conv net for 64x64 images and an MLP otherwise.
    """
    if not isinstance(latent_dim, int) or latent_dim < 1:
        raise PyroVAEError(f"latent dim must be a positive integer, got {latent_dim!r}")
    _lookup({a: a for a in ARCHS}, "architecture", arch)
    data_shape = tuple(data_shape)
    if len(data_shape) == 1:
        data_shape = (1, *data_shape)  # flat vectors: one "channel"
    is_image64 = len(data_shape) == 3 and data_shape[1:] == (64, 64)
    if arch == "auto":
        arch = "conv" if is_image64 else "mlp"
    if arch == "conv" and not is_image64:
        raise PyroVAEError(f"--arch conv needs 64x64 images, data have shape {data_shape}: use --arch mlp")
    lik = _lookup(LIKELIHOODS, "likelihood", likelihood)()
    if arch == "conv":
        encoder, decoder = ConvEncoder(data_shape), ConvDecoder(latent_dim, data_shape, lik.out_mult)
    else:
        encoder, decoder = MLPEncoder(data_shape), MLPDecoder(latent_dim, data_shape, out_mult=lik.out_mult)
    q = _lookup(GUIDES, "guide", guide)(encoder, latent_dim)
    p_z = _lookup(PRIORS, "prior", prior)(latent_dim, guide=q, data_shape=data_shape)
    return VAEModel(decoder, p_z, lik), q

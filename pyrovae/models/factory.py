"""Build a (model, guide) pair from names, the way the CLI and saved runs describe them.

A name may carry options after a colon: ``student-t:df=5``, ``mixture:components=20``,
``lowrank:rank=3``, ``iaf:flows=4,hidden=128``, ``gaussian-fixed:scale=0.05``. Values are read as
int, float or text; an unknown option is an error that lists the valid ones.
"""
import inspect

from ..errors import PyroVAEError
from ..factories import is_factory_spec
from ..guides.encoders import ConvEncoder, MLPEncoder
from ..guides.flows import IAFGuide
from ..guides.gaussian import DiagonalGaussianGuide, LowRankGaussianGuide
from ..validation import check_int
from .decoders import ConvDecoder, MLPDecoder
from .likelihoods import BernoulliLikelihood, ContinuousBernoulliLikelihood, GaussianLikelihood, LaplaceLikelihood
from .priors import FlowPrior, LaplacePrior, MixtureOfGaussiansPrior, StandardNormalPrior, StudentTPrior, VampPrior
from .user import build_user_guide, build_user_model
from .vae import VAEModel


def _plain_prior(cls):
    """A prior constructor that ignores the guide and data shape it is given."""
    def make(latent_dim, guide=None, data_shape=None, **options):
        return cls(latent_dim, **options)

    make.target = cls
    return make


def _vamp(latent_dim, guide=None, data_shape=None, **options):
    return VampPrior(latent_dim, guide=guide, data_shape=data_shape, **options)


_vamp.target = VampPrior


def _gaussian_fixed(scale=0.1):
    return GaussianLikelihood(scale=scale)


def _gaussian_learned(init_scale=1.0):
    return GaussianLikelihood(init_scale=init_scale)


# name -> constructor. Priors get (latent_dim, guide=..., data_shape=..., **options) so that priors
# built on the encoder (VampPrior) work; guides get (encoder, latent_dim, **options); likelihoods get
# (**options).
PRIORS = {
    "normal": _plain_prior(StandardNormalPrior),
    "laplace": _plain_prior(LaplacePrior),
    "student-t": _plain_prior(StudentTPrior),
    "mixture": _plain_prior(MixtureOfGaussiansPrior),
    "vamp": _vamp,
    "flow": _plain_prior(FlowPrior),
}
LIKELIHOODS = {
    "bernoulli": BernoulliLikelihood,
    "continuous-bernoulli": ContinuousBernoulliLikelihood,
    "gaussian": _gaussian_learned,
    "gaussian-fixed": _gaussian_fixed,
    "laplace": LaplaceLikelihood,
}
GUIDES = {"diagonal": DiagonalGaussianGuide, "lowrank": LowRankGaussianGuide, "iaf": IAFGuide}
ARCHS = ("auto", "conv", "mlp")

_FIXED_ARGS = {"latent_dim", "guide", "data_shape", "encoder", "self"}


def _lookup(table, kind, name):
    if name not in table:
        raise PyroVAEError(f"unknown {kind} {name!r}: choose one of {', '.join(sorted(table))}")
    return table[name]


def _value(text):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_spec(spec, kind="component"):
    """``"name:key=value,key=value"`` -> ``(name, {key: value})``."""
    if not isinstance(spec, str) or not spec:
        raise PyroVAEError(f"a {kind} must be a name, got {spec!r}")
    name, _, rest = spec.partition(":")
    options = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise PyroVAEError(f"bad {kind} option {item!r} in {spec!r}: write {name}:key=value[,key=value]")
        options[key.strip().replace("-", "_")] = _value(value.strip())
    return name.strip(), options


def component_options(constructor):
    target = getattr(constructor, "target", constructor)
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return []
    if constructor is not target:  # a wrapper may restrict or rename the options
        wrapper = inspect.signature(constructor).parameters
        if not any(p.kind == p.VAR_KEYWORD for p in wrapper.values()):
            params = wrapper
    return [n for n, p in params.items() if n not in _FIXED_ARGS and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


def make_component(table, kind, spec, *args, **fixed):
    """Build ``table[name](*args, **fixed, **options)`` from ``spec`` = ``name[:options]``."""
    name, options = parse_spec(spec, kind)
    constructor = _lookup(table, kind, name)
    valid = component_options(constructor)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise PyroVAEError(f"unknown option(s) {', '.join(unknown)} for {kind} {name!r}: "
                           f"valid options are {', '.join(valid) or 'none'}")
    return constructor(*args, **fixed, **options)


def build_vae(data_shape, latent_dim=10, arch="auto", prior="normal", likelihood="bernoulli",
              guide="diagonal", model=None):
    """Return ``(model, guide)`` for data of shape ``data_shape`` (without the batch dimension).

    ``arch="auto"`` takes the standard conv net for 64x64 images and an MLP otherwise.
    ``prior``, ``likelihood`` and ``guide`` are registered names (:data:`PRIORS`, :data:`LIKELIHOODS`,
    :data:`GUIDES`), optionally with options (``"student-t:df=5"``). ``guide`` may instead be the user's
    guide factory, ``"guides/my_guide.py:make_guide"``, and ``model`` the user's model factory (``None``:
    the built-in :class:`VAEModel` of ``arch``, ``prior`` and ``likelihood``); see :mod:`pyrovae.models.user`.
    """
    latent_dim = check_int("latent dim", latent_dim)
    _lookup({a: a for a in ARCHS}, "architecture", arch)
    data_shape = tuple(data_shape)
    user_guide = is_factory_spec(guide)
    if model is not None and user_guide:  # nothing built in: arch, prior and likelihood do not apply
        return build_user_model(model, data_shape, latent_dim), build_user_guide(guide, data_shape, latent_dim)
    is_image64 = len(data_shape) == 3 and data_shape[1:] == (64, 64)
    if arch == "auto":
        arch = "conv" if is_image64 else "mlp"
    if arch == "conv" and not is_image64:
        raise PyroVAEError(f"--arch conv needs 64x64 images, data have shape {data_shape}: use --arch mlp")
    lik = make_component(LIKELIHOODS, "likelihood", likelihood) if model is None else None
    # (built in this order, encoder before decoder, so that a seed gives the same weights as before)
    encoder = None if user_guide else ConvEncoder(data_shape) if arch == "conv" else MLPEncoder(data_shape)
    decoder = None if model is not None else ConvDecoder(latent_dim, data_shape, lik.out_mult) if arch == "conv" \
        else MLPDecoder(latent_dim, data_shape, out_mult=lik.out_mult)
    q = build_user_guide(guide, data_shape, latent_dim) if user_guide else \
        make_component(GUIDES, "guide", guide, encoder, latent_dim)
    if model is not None:
        return build_user_model(model, data_shape, latent_dim), q
    p_z = make_component(PRIORS, "prior", prior, latent_dim, guide=q, data_shape=data_shape)
    return VAEModel(decoder, p_z, lik), q

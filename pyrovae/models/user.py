"""A model written by the user in plain Pyro (``--model models/my_model.py:make_model``), and the protocol
that a user's model and guide must meet, checked once before training.

The protocol:

- ``make_model(data_shape, latent_dim)`` returns a ``torch.nn.Module`` whose ``forward(x)`` is a Pyro model:
  inside ``pyro.plate`` over the batch it samples the latent code at site ``"z"`` (batch ``[B]``, event
  ``[latent_dim]``) and observes ``x`` at one observed site;
- ``make_guide(data_shape, latent_dim)`` returns a ``torch.nn.Module`` whose ``forward(x)`` samples site
  ``"z"`` the same way, and whose code for the metrics is its ``representation(x)`` method or, without
  one, the mean of its q(z | x) (see :class:`pyrovae.guides.user.UserGuide`).

Parameters are the modules' own (``nn.Parameter``s, trained by one Adam); a bare ``pyro.param`` would never
be trained, so it is refused.
"""
import pyro
import pyro.poutine as poutine
import torch
from pyro.poutine.util import site_is_subsample
from torch import nn

from ..errors import PyroVAEError
from ..factories import build_from_spec, first_line
from ..guides.user import UserGuide


def _observed_sites(trace):
    return [name for name, site in trace.nodes.items() if site["type"] == "sample" and site["is_observed"]]


class UserModel(nn.Module):
    """The user's model module, with what the plots and model-level scores read from every model:
    ``latent_dim``, ``observation(x, z)``, ``decode(z)`` and ``sample(num)``, all from traces of its
    ``forward(x)`` (the observed site's distribution is p(x | z))."""

    def __init__(self, module, data_shape, latent_dim, spec=None):
        super().__init__()
        self.module = module
        self.data_shape = tuple(data_shape)
        self.latent_dim = latent_dim
        self.spec = spec

    def forward(self, x):
        return self.module(x)

    def describe(self):
        return f"the model {self.spec}" if self.spec else f"the model {type(self.module).__name__}"

    def observation(self, x, z=None):
        """``(p(x | z), the value it scores)`` at the observed site, ``z`` fixed when given, else drawn from
        the prior. The value is ``x`` as the model observes it (maybe reshaped)."""
        model = self.module if z is None else poutine.condition(self.module, data={"z": z})
        with pyro.validation_enabled(False):  # decode and sample observe a placeholder batch of zeros
            trace = poutine.trace(model).get_trace(x)
        names = [name for name in _observed_sites(trace) if z is None or name != "z"]
        if len(names) != 1:
            raise PyroVAEError(f"{self.describe()} has {len(names)} observed sites ({', '.join(names) or 'none'}): "
                               "observe the data at one site, pyro.sample('x', ..., obs=x)")
        site = trace.nodes[names[0]]
        return site["fn"], site["value"]

    def _mean(self, x, z=None):
        fn, _ = self.observation(x, z)
        try:
            return fn.mean.reshape(x.shape)
        except NotImplementedError:
            raise PyroVAEError(f"{self.describe()}'s p(x|z) ({type(fn).__name__}) has no mean to plot") from None

    def _placeholder(self, num):
        param = next(self.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        return torch.zeros((num, *self.data_shape), device=device)

    @torch.no_grad()
    def decode(self, z):
        """Mean of p(x | z)."""
        return self._mean(self._placeholder(z.shape[0]).to(z.device), z)

    @torch.no_grad()
    def sample(self, num):
        """Means of p(x | z) for ``num`` draws of z from the prior."""
        return self._mean(self._placeholder(num))


def _describe(module, kind):
    describe = getattr(module, "describe", None)
    return describe() if describe is not None else f"the built-in {kind}"


def _run(fn, who, x):
    try:
        return fn()
    except PyroVAEError:
        raise
    except Exception as e:
        raise PyroVAEError(f"{who} failed on a batch of shape {tuple(x.shape)}: {type(e).__name__}: "
                           f"{first_line(e)}") from None


def _check_site(site, who, batch, latent_dim):
    fn = site["fn"]
    if tuple(fn.batch_shape) != (batch,) or tuple(fn.event_shape) != (latent_dim,):
        raise PyroVAEError(f"{who}'s site 'z' has batch shape {tuple(fn.batch_shape)} and event shape "
                           f"{tuple(fn.event_shape)}, not ({batch},) and ({latent_dim},): sample it inside "
                           "pyro.plate over the batch, with the latent dimensions as the event (.to_event(1))")


def _check_params(trace, who):
    bare = [name for name, site in trace.nodes.items() if site["type"] == "param" and "$$$" not in name]
    if bare:
        raise PyroVAEError(f"{who} declares pyro.param({bare[0]!r}), which training would leave untouched: make it "
                           "an nn.Parameter of the module (pyrovae trains the modules' parameters)")


def check_pair(model, guide, x, latent_dim):
    """Run ``guide`` and ``model`` once on the batch ``x`` and check the protocol (module docstring); a
    one-line :class:`PyroVAEError` names what is missing. The global RNG is left as it was, so a run
    draws the same numbers as without the check."""
    model_who, guide_who = _describe(model, "model"), _describe(guide, "guide")
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        guide_trace = _run(lambda: poutine.trace(guide).get_trace(x), guide_who, x)
        model_trace = _run(lambda: poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(x), model_who, x)
        latent = {who: [n for n, s in trace.nodes.items() if s["type"] == "sample" and not s["is_observed"]
                        and not site_is_subsample(s)]
                  for who, trace in ((guide_who, guide_trace), (model_who, model_trace))}
        for who, names in latent.items():
            if "z" not in names:
                raise PyroVAEError(f"{who} has no latent sample site 'z' (its latent sites: {', '.join(names) or 'none'})"
                                   ": name the code pyro.sample('z', ...)")
        missing = [n for n in latent[model_who] if n not in latent[guide_who]]
        if missing:
            raise PyroVAEError(f"{model_who}'s latent site {missing[0]!r} has no site of that name in {guide_who}")
        if not _observed_sites(model_trace):
            raise PyroVAEError(f"{model_who} has no observed site: observe the data as pyro.sample('x', ..., obs=x)")
        _check_site(guide_trace.nodes["z"], guide_who, x.shape[0], latent_dim)
        _check_site(model_trace.nodes["z"], model_who, x.shape[0], latent_dim)
        _check_params(guide_trace, guide_who)
        _check_params(model_trace, model_who)
        if isinstance(model, UserModel):
            model.observation(x)  # exactly one observed site
        code = _run(lambda: guide.representation(x), f"{guide_who}'s representation(x)", x)
        if not torch.is_tensor(code) or tuple(code.shape) != (x.shape[0], latent_dim):
            shape = tuple(code.shape) if torch.is_tensor(code) else type(code).__name__
            raise PyroVAEError(f"{guide_who}'s representation(x) gave {shape}, not a tensor of shape "
                               f"({x.shape[0]}, {latent_dim}) = (batch, latent_dim)")


def build_user_model(spec, data_shape, latent_dim):
    return UserModel(build_from_spec(spec, "model", data_shape, latent_dim), data_shape, latent_dim, spec)


def build_user_guide(spec, data_shape, latent_dim):
    return UserGuide(build_from_spec(spec, "guide", data_shape, latent_dim), latent_dim, spec)

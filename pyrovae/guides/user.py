"""A guide written by the user in plain Pyro (``--guide guides/my_guide.py:make_guide``), behind the interface
the rest of pyrovae reads from every guide."""
import pyro.poutine as poutine
from torch import nn

from ..errors import PyroVAEError


class UserGuide(nn.Module):
    """The user's guide module, whose ``forward(x)`` samples the latent site ``"z"``, with what the metrics,
    plots and ``pyrovae encode`` read:

    - ``representation(x)``: the module's own ``representation(x)`` when it has one, else the mean of
      q(z | x) at site ``"z"``;
    - ``encode(x) -> (loc, scale)``: the module's own ``encode(x)`` when it has one, else the mean and
      standard deviation of q(z | x) at site ``"z"``.

    :func:`pyrovae.models.user.check_pair` checks all of it on one batch before training.
    """

    def __init__(self, module, latent_dim, spec=None):
        super().__init__()
        self.module = module
        self.latent_dim = latent_dim
        self.spec = spec

    def forward(self, x):
        return self.module(x)

    def describe(self):
        return f"the guide {self.spec}" if self.spec else f"the guide {type(self.module).__name__}"

    def site_distribution(self, x):
        """q(z | x): the distribution of the guide's site ``"z"`` in one run of the guide."""
        site = poutine.trace(self.module).get_trace(x).nodes.get("z")
        if site is None or site["type"] != "sample":
            raise PyroVAEError(f"{self.describe()} has no sample site 'z': sample the code as pyro.sample('z', ...)")
        return site["fn"]

    def representation(self, x):
        """The code the metrics read: the module's ``representation(x)``, else E_q[z | x]."""
        own = getattr(self.module, "representation", None)
        if own is not None:
            if not callable(own):
                raise PyroVAEError(f"{self.describe()} has a representation that is not a method: define "
                                   "representation(self, x) returning the code [batch, latent_dim]")
            return own(x)
        fn = self.site_distribution(x)
        try:
            return fn.mean
        except NotImplementedError:
            raise PyroVAEError(f"{self.describe()} has no representation(x) and the mean of its q(z|x) "
                               f"({type(fn).__name__}) is not defined: add a method representation(self, x) "
                               "returning the code [batch, latent_dim] the metrics read") from None

    def encode(self, x):
        """(loc, scale) of q(z | x): the module's ``encode(x)``, else the mean and standard deviation at ``"z"``."""
        own = getattr(self.module, "encode", None)
        if callable(own):
            return own(x)
        fn = self.site_distribution(x)
        try:
            return fn.mean, fn.stddev
        except NotImplementedError:
            raise PyroVAEError(f"{self.describe()} has no encode(x) and its q(z|x) ({type(fn).__name__}) has no "
                               "closed-form mean and standard deviation: add a method encode(self, x) returning "
                               "(loc, scale), each [batch, latent_dim]") from None

    def mixture_component(self, x):
        """q(z | x) as a distribution whose ``log_prob`` is cheap at any z, for the VampPrior."""
        own = getattr(self.module, "mixture_component", None)
        if not callable(own):
            raise PyroVAEError(f"--prior vamp needs q(z|u) at its pseudo-inputs, and {self.describe()} has no "
                               "mixture_component(x): add one (a distribution, batch [B], event [latent_dim]) "
                               "or choose another --prior")
        return own(x)

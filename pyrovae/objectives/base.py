"""The shared base of pyrovae's objectives.

Every objective is a :class:`pyro.infer.TraceMeanField_ELBO` whose per-particle loss is rebuilt from
named terms, so that SVI, ``num_particles`` and Pyro's tracing machinery work unchanged while each
term is logged. The loss is **per data point** (a batch mean), in nats:

    loss = recon + sum_sites scale_site * KL(q(z|x) || p(z))          (the negative ELBO)
    recon = -E_q[log p(x | z)]

``scale_site`` is whatever ``poutine.scale`` put on the latent site in model and guide (β for the β-VAE).
Subclasses change the loss in :meth:`Objective.loss_from_terms` (reading the traces for anything more:
the guide's ``fn`` and ``value`` at site ``"z"``) and may add terms there.

Every objective also takes the generic hyperparameter ``kl_warmup_steps`` (regulariser warm-up, see
:meth:`Objective.warmup_weight`): with ``w = min(1, step / kl_warmup_steps)`` the loss becomes

    loss_w = recon + w * (loss - recon),

i.e. every term but the reconstruction (the KL, and a TC, MMD, DIP or capacity penalty) is multiplied
by ``w`` — the KL annealing of Bowman et al. (2016) for the ELBO, and the same ramp for every other
objective. Any schedule ``step -> w`` (e.g. :func:`pyrovae.objectives.schedules.cyclical`) can be given
as ``warmup=`` instead. Objectives whose loss does not separate into recon + rest (IWAE) set
``warmup_target = "latents"`` and apply ``w`` as a ``poutine.scale`` of the latent sites instead.

**The JIT** (``jit=True``, the CLI's ``--jit``): as Pyro's ``JitTraceMeanField_ELBO`` does, the loss of
a step is compiled with ``torch.jit.trace`` once per model, guide and input shape, and then replayed
without Pyro's per-step Python tracing. Two differences: Pyro 1.9's ``JitTraceMeanField_ELBO`` re-traces
on every call (it tests ``_loss_and_surrogate_loss`` but stores ``_differentiable_loss``, so its cache
never hits), while here the compiled loss is kept in :attr:`Objective._jit_cache`; and the networks'
own parameters are the trace's inputs rather than Pyro's param store (which holds contiguous copies of
channels_last parameters, see :meth:`Objective._compile`). Under the JIT every Python
number read during the trace is frozen, so whatever changes with the step (the warm-up weight, an
annealed β, the capacity C) is passed into the compiled loss as a tensor (:meth:`Objective.step_values`),
and the logged terms come back as outputs of the compiled loss. Objectives whose step has effects
outside the loss (the adversarial ones: their discriminator is trained between steps and would be
frozen into the trace as a constant) set ``jit_refusal`` and refuse ``jit=True``.
"""
import warnings
import weakref

import pyro
import torch
from pyro import poutine
from pyro.infer import TraceMeanField_ELBO
from pyro.infer.util import is_validation_enabled
from pyro.poutine.scale_messenger import ScaleMessenger
from pyro.poutine.util import prune_subsample_sites
from pyro.util import warn_if_nan
from torch.distributions import kl_divergence

from ..errors import PyroVAEError
from ..utils import network_dtype


class LatentScaleMessenger(ScaleMessenger):
    """``poutine.scale`` restricted to latent (unobserved) sample sites.

    Applied to both model and guide it multiplies exactly the KL term of the ELBO by ``scale``,
    on the analytic-KL path and on the Monte Carlo path alike, and leaves the likelihood alone.
    Unlike ``poutine.scale`` it accepts 0 (a pure autoencoder term)."""

    def __init__(self, scale):
        if not torch.is_tensor(scale) and float(scale) < 0:  # (a tensor: a step value under the JIT)
            raise PyroVAEError(f"a KL weight must be >= 0, got {float(scale)}")
        super().__init__(1.0)
        self.scale = scale

    def _process_message(self, msg):
        if not msg["is_observed"]:
            super()._process_message(msg)


def scale_latents(fn, scale):
    """``fn`` run under :class:`LatentScaleMessenger` (a plain function, as Pyro's ELBOs expect)."""

    def scaled(*args, **kwargs):
        with LatentScaleMessenger(scale):
            return fn(*args, **kwargs)

    return scaled


def as_term(value, like):
    """``value`` as a tensor like ``like``: a number becomes one, a tensor (a traced step value under
    the JIT) stays itself, so that it is not frozen into the trace."""
    return value if torch.is_tensor(value) else like.new_tensor(value)


def site_kl(guide_site, model_site):
    """KL(q || p) per data point for one latent site, unscaled, as ``(kl [batch], kl_per_dim [batch, D]
    or None)``: analytic per dimension when both are factorised and registered, analytic in total
    when only that is registered, else the single-sample Monte Carlo estimate log q(z) − log p(z)."""
    q, p = guide_site["fn"], model_site["fn"]
    q_base, p_base = getattr(q, "base_dist", None), getattr(p, "base_dist", None)
    if q_base is not None and p_base is not None and \
            getattr(q, "reinterpreted_batch_ndims", 0) == 1 == getattr(p, "reinterpreted_batch_ndims", 0):
        try:
            per_dim = kl_divergence(q_base, p_base)
            return per_dim.sum(-1), per_dim
        except NotImplementedError:
            pass
    try:
        return kl_divergence(q, p), None
    except NotImplementedError:
        return q.log_prob(guide_site["value"]) - p.log_prob(model_site["value"]), None


GENERIC_HYPERPARAMETERS = {
    "kl_warmup_steps": (0, "steps over which every term but the reconstruction is ramped linearly from "
                           "0 to its full weight (KL warm-up; 0: off)"),
}


def _trace_particles(guide_trace, terms):
    """How many particles one trace holds (``num_particles`` when vectorised, else 1)."""
    for site in guide_trace.nodes.values():
        if site["type"] == "sample" and not site["is_observed"]:
            return max(1, site["fn"].batch_shape.numel() // terms["batch_size"])
    return 1


class Objective(TraceMeanField_ELBO):
    """Base class: the negative ELBO per data point, with its terms recorded in :attr:`terms`.

    Subclass hooks:

    - :meth:`wrap` — wrap model and guide in handlers (``poutine.scale`` for β);
    - :meth:`loss_from_terms` — combine the terms (and the traces) into the loss to minimise;
    - :meth:`after_step` — work after the optimiser step (an adversary's update);
    - :meth:`state_dict` / :meth:`load_state_dict` — objective-owned state for checkpoints.

    ``step`` (set by the trainer before each step) drives annealing schedules; ``dataset_size`` is the
    number of training points N (set by the trainer; estimators of q(z) need it).
    """

    name = None
    #: hyperparameter name -> (default, help); the CLI exposes each as ``--name``. Every subclass gets
    #: the generic ones (:data:`GENERIC_HYPERPARAMETERS`) merged in automatically.
    hyperparameters = {}
    #: where the warm-up weight goes: "regulariser" (loss = recon + w·rest) or "latents" (the subclass
    #: applies it itself, e.g. as a ``poutine.scale`` of the latent sites).
    warmup_target = "regulariser"
    #: why this objective cannot run under the JIT (None: it can)
    jit_refusal = None
    #: whether the loss reads the latent sites' log-densities from the traces (see :meth:`_get_trace`)
    scores_latents = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.hyperparameters = {**cls.hyperparameters, **GENERIC_HYPERPARAMETERS}

    def __init__(self, num_particles=1, kl_warmup_steps=0, warmup=None, jit=False, **kwargs):
        if jit and self.jit_refusal:
            raise PyroVAEError(f"{self.name} cannot run under --jit ({self.jit_refusal}): drop --jit")
        kwargs.setdefault("max_plate_nesting", 1)
        try:
            steps = int(kl_warmup_steps)
        except (TypeError, ValueError):
            raise PyroVAEError(f"kl_warmup_steps must be an integer >= 0, got {kl_warmup_steps!r}") from None
        if steps < 0 or steps != float(kl_warmup_steps):
            raise PyroVAEError(f"kl_warmup_steps must be an integer >= 0, got {kl_warmup_steps!r}")
        if warmup is not None and not callable(warmup):
            raise PyroVAEError("warmup must be a schedule step -> weight (see pyrovae.objectives.schedules)")
        super().__init__(num_particles=num_particles, **kwargs)
        self.kl_warmup_steps = steps
        self.warmup = warmup
        self.step = 0
        self.dataset_size = None
        self.terms = {}
        self.jit = bool(jit)
        self._jit_cache = {}
        self._traced_values = None  # the step values as traced tensors, while the JIT traces the loss

    def warmup_weight(self):
        """The regulariser weight ``w`` at :attr:`step`: ``warmup(step)`` when a schedule was given, else
        ``min(1, step / kl_warmup_steps)``; None when no warm-up is configured (``kl_warmup_steps`` 0)."""
        if self.warmup is not None:
            w = float(self.warmup(self.step))
        elif self.kl_warmup_steps > 0:
            w = min(1.0, self.step / self.kl_warmup_steps)
        else:
            return None
        if not w >= 0:
            raise PyroVAEError(f"the warm-up schedule gave {w} at step {self.step}: a weight must be >= 0")
        return w

    def step_values(self):
        """The numbers of the loss that change with :attr:`step`, ``{name: float}``: the warm-up weight
        here; subclasses add theirs (an annealed β, the capacity C). Read them with :meth:`step_value`."""
        w = self.warmup_weight()
        return {} if w is None else {"warmup": w}

    def step_value(self, name, compute):
        """``compute()`` (a Python number) in eager mode; while the JIT traces the loss, the tensor
        input that carries the value named ``name`` in :meth:`step_values` (so it is not frozen)."""
        if self._traced_values is not None and name in self._traced_values:
            return self._traced_values[name]
        return compute()

    # ---- hooks -------------------------------------------------------------------------------
    def wrap(self, model, guide):
        return model, guide

    def loss_from_terms(self, terms, model_trace, guide_trace):
        """The loss per data point; default: the (scaled) negative ELBO."""
        return terms["recon"] + terms["kl_weighted"]

    def after_step(self):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass

    # ---- Pyro entry points: wrap model and guide, then let TraceMeanField_ELBO run --------------
    def loss(self, model, guide, *args, **kwargs):
        """The loss as a float, without gradients (Pyro's ``ELBO.loss`` contract)."""
        self._begin()
        with torch.no_grad():
            return float(super().loss(*self.wrap(model, guide), *args, **kwargs))

    def loss_and_grads(self, model, guide, *args, **kwargs):
        # Pyro's version calls self.differentiable_loss, which wraps model and guide itself.
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        loss.backward()
        return float(loss.detach())

    def differentiable_loss(self, model, guide, *args, **kwargs):
        if self.jit:
            return self._jit_loss(model, guide, *args, **kwargs)
        # The particle average is taken here, not by Trace_ELBO.differentiable_loss: that one returns
        # loss + (surrogate − surrogate.item()), turning the loss that needs grad into a Python number on
        # every step — a device sync, and torch's "Consider using tensor.detach() first" warning where
        # .item() warns. Same value and gradients.
        self._begin()
        model, guide = self.wrap(model, guide)
        loss = 0.0
        for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
            loss = loss + self._differentiable_loss_particle(model_trace, guide_trace)[1] / self.num_particles
        warn_if_nan(loss, "loss")
        return loss

    def _jit_loss(self, model, guide, *args, **kwargs):
        """The loss through a compiled trace (see the module docstring); sets :attr:`terms`."""
        values = self.step_values()
        names = tuple(sorted(values))
        device = args[0].device if args and torch.is_tensor(args[0]) else None
        step_tensor = torch.tensor([float(values[n]) for n in names], device=device)
        # One compiled loss per model, guide, input shapes, step values, dataset size and network dtype:
        # Python numbers read from any of them are constants of the trace.
        key = (id(model), id(guide), names, self.dataset_size, network_dtype(),
               tuple((tuple(a.shape), a.dtype, a.device) if torch.is_tensor(a) else a for a in args),
               tuple(sorted(kwargs.items())))
        compiled = self._jit_cache.get(key)
        if compiled is None:
            # Trace the loss, then run it and its gradient twice (torch optimises the graph after a
            # profiling run, and some failures show only then), all with the RNG state put back
            # afterwards, so that every step's random draws, and with them a resumed run, are the
            # same as without the trace.
            devices = [device] if device is not None and device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                try:
                    compiled = self._compile(model, guide, names, step_tensor, args, kwargs)
                    for _ in range(2):
                        loss = compiled(step_tensor, *args)[0]
                        if loss.requires_grad and compiled.parameters:  # no .grad is touched
                            torch.autograd.grad(loss, compiled.parameters, allow_unused=True)
                except PyroVAEError:
                    raise
                except Exception as e:  # torch.jit's own errors, of many kinds
                    message = str(e).strip().splitlines()[-1][:200] if str(e).strip() else ""
                    raise PyroVAEError(f"{self.name} with this model and guide cannot be compiled by the JIT "
                                       f"({type(e).__name__}: {message}): drop --jit") from None
            self._jit_cache[key] = compiled
        loss, *terms = compiled(step_tensor, *args)
        self.terms = dict(zip(compiled.term_names, terms))
        return loss

    def _compile(self, model, guide, names, step_tensor, args, kwargs):
        """``torch.jit.trace`` of the loss and its terms, with the modules' parameters as inputs.

        Pyro's ``pyro.ops.jit.trace`` passes the param store's tensors instead, but the param store keeps
        contiguous copies of channels_last parameters (``ParamStoreDict.__setitem__``), which the
        networks never use: the real parameters must be the inputs."""
        if not all(isinstance(m, torch.nn.Module) for m in (model, guide)):
            raise PyroVAEError("--jit needs the model and guide as torch.nn.Module instances (their "
                               "parameters are the compiled loss's inputs): drop --jit")
        seen = {}
        for module in (model, guide):
            for p in module.parameters():
                if p.requires_grad:
                    seen.setdefault(id(p), p)
        parameters = list(seen.values())
        weakself = weakref.ref(self)
        term_names = []

        def loss_and_terms(step_tensor, *inputs):
            self = weakself()
            self._begin()
            self._traced_values = dict(zip(names, step_tensor.unbind(0)))
            try:
                wrapped_model, wrapped_guide = self.wrap(model, guide)
                loss = 0.0
                for model_trace, guide_trace in self._get_traces(wrapped_model, wrapped_guide,
                                                                 inputs[len(parameters):], kwargs):
                    loss = loss + self._differentiable_loss_particle(model_trace, guide_trace)[1] / self.num_particles
            finally:
                self._traced_values = None
            terms = {k: v for k, v in self.terms.items() if torch.is_tensor(v)}
            term_names[:] = list(terms)
            return (loss, *terms.values())

        with pyro.validation_enabled(False):
            # an eager run first; outside the trainer's step it registers the params in Pyro's param store
            loss_and_terms(step_tensor, *parameters, *args)
            with warnings.catch_warnings():  # (shape checks read as Python values: constants, as meant)
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                # torch 2.13 deprecates torch.jit.trace (Pyro's JIT rests on it too); it still works
                warnings.filterwarnings("ignore", message=".*torch.jit.trace.* is deprecated",
                                        category=DeprecationWarning)
                graph = torch.jit.trace(loss_and_terms, (step_tensor, *parameters, *args), check_trace=False)

        def compiled(step_tensor, *args):
            return graph(step_tensor, *parameters, *args)

        compiled.parameters, compiled.term_names = parameters, term_names
        return compiled

    def _get_trace(self, model, guide, args, kwargs):
        """The guide's trace and the model's replayed on it, with the log-density of the observed sites
        only: the terms read nothing else (the KL is analytic, or computed by :func:`site_kl` from the
        sites' ``fn`` and ``value``), while Pyro's own version also scores every latent site in model
        and guide, ops and autograd nodes computed on every step and never read. Pyro's version runs
        when an objective needs the latents scored (:attr:`scores_latents`) and when Pyro's
        validation is on, for its checks."""
        if self.scores_latents or is_validation_enabled():
            return super()._get_trace(model, guide, args, kwargs)
        guide_trace = prune_subsample_sites(poutine.trace(guide).get_trace(*args, **kwargs))
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(*args, **kwargs)
        model_trace = prune_subsample_sites(model_trace)
        model_trace.compute_log_prob(site_filter=lambda name, site: site["is_observed"])
        return model_trace, guide_trace

    def _begin(self):
        self._accumulated = {}

    def _differentiable_loss_particle(self, model_trace, guide_trace):
        terms = self.elbo_terms(model_trace, guide_trace)
        loss = self.loss_from_terms(terms, model_trace, guide_trace)
        w = self.step_value("warmup", self.warmup_weight)
        if w is not None:
            if self.warmup_target == "regulariser" and (torch.is_tensor(w) or w != 1.0):
                loss = terms["recon"] + w * (loss - terms["recon"])
            # logged as a sum over the particles of this trace, like every other term
            terms["warmup"] = as_term(w * _trace_particles(guide_trace, terms), loss)
        terms["loss"] = loss
        # Average the recorded terms over particles; detached so logging holds no graph.
        for key, value in terms.items():
            if torch.is_tensor(value) and key != "batch_size":  # (a tensor while the JIT traces)
                value = value.detach() if self.num_particles == 1 else value.detach() / self.num_particles
                acc = self._accumulated.get(key)
                self._accumulated[key] = value if acc is None else acc + value
        self.terms = self._accumulated
        return loss.detach(), loss

    @staticmethod
    def elbo_terms(model_trace, guide_trace):
        """Per-data-point terms of the ELBO from a pair of traces.

        Returns ``recon`` (−log p(x|z)), ``kl`` (unscaled KL summed over latent sites), ``kl_weighted``
        (each site's KL times its ``poutine.scale``), ``kl_per_dim`` (first factorised site, analytic path only) and
        ``batch_size``."""
        log_lik, kl, kl_weighted, kl_per_dim, batch_size = 0.0, 0.0, 0.0, None, None
        for name, site in model_trace.nodes.items():
            if site["type"] != "sample":
                continue
            if site["is_observed"]:
                log_lik = log_lik + site["log_prob_sum"]
                batch_size = site["fn"].batch_shape[-1]
                continue
            guide_site = guide_trace.nodes.get(name)
            if guide_site is None:
                raise PyroVAEError(f"latent site {name!r} of the model has no guide site of that name")
            site_total, site_per_dim = site_kl(guide_site, site)
            kl = kl + site_total.sum()
            kl_weighted = kl_weighted + (guide_site["scale"] * site_total).sum()
            if site_per_dim is not None and kl_per_dim is None:
                kl_per_dim = site_per_dim.reshape(-1, site_per_dim.shape[-1]).sum(0)
        if batch_size is None:
            raise PyroVAEError("the model has no observed site: call it with data, model(x)")
        terms = {"recon": -log_lik / batch_size, "kl": kl / batch_size,
                 "kl_weighted": kl_weighted / batch_size, "batch_size": batch_size}
        if kl_per_dim is not None:
            terms["kl_per_dim"] = kl_per_dim / batch_size
        return terms

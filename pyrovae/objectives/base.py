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
"""
import torch
from pyro.infer import TraceMeanField_ELBO
from pyro.util import warn_if_nan
from pyro.poutine.scale_messenger import ScaleMessenger
from torch.distributions import kl_divergence

from ..errors import PyroVAEError


class LatentScaleMessenger(ScaleMessenger):
    """``poutine.scale`` restricted to latent (unobserved) sample sites.

    Applied to both model and guide it multiplies exactly the KL term of the ELBO by ``scale``,
    on the analytic-KL path and on the Monte Carlo path alike, and leaves the likelihood alone.
    Unlike ``poutine.scale`` it accepts 0 (a pure autoencoder term)."""

    def __init__(self, scale):
        if float(scale) < 0:
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
        return guide_site["unscaled_log_prob"] - model_site["unscaled_log_prob"], None


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

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.hyperparameters = {**cls.hyperparameters, **GENERIC_HYPERPARAMETERS}

    def __init__(self, num_particles=1, kl_warmup_steps=0, warmup=None, **kwargs):
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

    def _begin(self):
        self._accumulated = {}

    def _differentiable_loss_particle(self, model_trace, guide_trace):
        terms = self.elbo_terms(model_trace, guide_trace)
        loss = self.loss_from_terms(terms, model_trace, guide_trace)
        w = self.warmup_weight()
        if w is not None:
            if self.warmup_target == "regulariser" and w != 1.0:
                loss = terms["recon"] + w * (loss - terms["recon"])
            # logged as a sum over the particles of this trace, like every other term
            terms["warmup"] = loss.new_tensor(w * _trace_particles(guide_trace, terms))
        terms["loss"] = loss
        # Average the recorded terms over particles; detached so logging holds no graph.
        for key, value in terms.items():
            if torch.is_tensor(value):
                value = value.detach() / self.num_particles
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

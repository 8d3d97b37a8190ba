"""Capacity-controlled β-VAE, "AnnealedVAE" (Burgess et al. 2018)."""
from ..validation import check_int, check_number
from ._common import HELP, per_particle_kl
from .base import Objective, as_term
from .registry import register


@register("capacity-vae")
class CapacityVAE(Objective):
    r"""β-VAE with a controlled KL capacity:

    .. math::

        \mathcal{L}(x) = -\mathbb{E}_{q(z|x)}[\log p(x|z)] + \gamma\,\bigl|\,\mathrm{KL}(q(z|x)\,\|\,p(z)) - C\,\bigr|,
        \qquad C(t) = C_\max \min(1, t / T),

    with the KL averaged over the batch before the absolute value (as in disentanglement_lib's
    AnnealedVAE) and ``t`` the training step (:attr:`step`). The encoder is pressed to carry exactly
    ``C`` nats; raising ``C`` slowly lets the factors enter the code one at a time.

    Hyperparameters (defaults from disentanglement_lib's AnnealedVAE, whose study used γ = 1000 and
    C_max ∈ {5, …, 100} reached after 100,000 steps): ``gamma`` = 1000, ``capacity_max`` = 25 nats,
    ``capacity_steps`` = 100,000 (0: C = C_max from the start). With a shorter run C stays below
    C_max: the capacity reached is logged as ``capacity``. Terms logged: ``recon``, ``kl``,
    ``kl_per_dim``, ``capacity``.

    Burgess, C. P. et al. (2018). Understanding disentangling in β-VAE. arXiv:1804.03599.
    """

    hyperparameters = {
        "gamma": (1000.0, HELP["gamma"]),
        "capacity_max": (25.0, "capacity C_max in nats that the KL is steered to (capacity-vae)"),
        "capacity_steps": (100000, "steps over which the capacity C rises linearly from 0 to C_max (capacity-vae)"),
    }

    def __init__(self, gamma=1000.0, capacity_max=25.0, capacity_steps=100000, **kwargs):
        self.gamma = check_number("gamma", gamma, minimum=0)
        self.capacity_max = check_number("capacity_max", capacity_max, minimum=0)
        self.capacity_steps = check_int("capacity_steps", capacity_steps, minimum=0)
        super().__init__(**kwargs)

    def capacity(self):
        """C at the current :attr:`step`."""
        if self.capacity_steps == 0:
            return self.capacity_max
        return self.capacity_max * min(1.0, max(0, self.step) / self.capacity_steps)

    def step_values(self):
        values = super().step_values()
        if self.capacity_steps > 0:  # C rises with the step: a tensor input of the loss under the JIT
            values["capacity"] = self.capacity()
        return values

    def loss_from_terms(self, terms, model_trace, guide_trace):
        c = self.step_value("capacity", self.capacity)
        kl = per_particle_kl(model_trace, guide_trace, terms["batch_size"])  # [P]
        terms["capacity"] = as_term(c * kl.numel(), kl)  # summed over the particles, like every term
        return terms["recon"] + self.gamma * (kl - c).abs().sum()

r"""The latent-space adversary shared by the objectives that train a discriminator on codes
(FactorVAE, the adversarial autoencoder): one implementation of the pattern, not one per objective.

:class:`AdversarialObjective` owns a discriminator MLP (:class:`Discriminator`, two logits) and its Adam
optimiser, both outside Pyro's param store and outside the trainer's optimiser:

* in the model's loss (:meth:`AdversarialObjective.discriminator_logits`) the discriminator is evaluated
  through ``torch.func.functional_call`` with **detached** parameters, so the VAE's backward pass writes
  no gradient into it; gradients flow only into the codes, hence into the encoder;
* after the VAE's optimiser step (:meth:`~pyrovae.objectives.base.Objective.after_step`) the codes the
  guide drew in that same SVI step, stored detached by :meth:`AdversarialObjective.store_codes`, are
  turned into a "class 0" and a "class 1" batch by the subclass (:meth:`AdversarialObjective.
  discriminator_batches`) and the discriminator takes one cross-entropy step on them
  (:meth:`AdversarialObjective.train_discriminator`); its loss and accuracy are logged as
  ``discriminator_loss`` and ``discriminator_accuracy``.

The discriminator is created lazily on the device and dtype of the first codes it sees and follows them
if they move (with its optimiser state); :meth:`AdversarialObjective.to` moves it explicitly. The
objective's ``state_dict`` holds its weights and optimiser state (tensors and plain containers, loadable
with ``torch.load(weights_only=True)``); ``load_state_dict`` rebuilds it on the device of the loaded
tensors and refuses weights of another shape than the hyperparameters describe. Like the VAE's networks,
the discriminator runs through :func:`pyrovae.utils.run_network`: in bf16 in a bf16 training step, with
float32 logits, so the TC estimate and the discriminator's loss stay float32.
"""
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from ..errors import PyroVAEError
from ..utils import run_network
from ..validation import check_int, check_number
from .base import Objective

#: help strings of the discriminator options, shared by every adversarial objective (the CLI shows one
#: help per option)
DISCRIMINATOR_HELP = {
    "discriminator_lr": "Adam learning rate of the latent discriminator, betas (0.5, 0.9) (aae, factor-vae)",
    "discriminator_units": "units per hidden layer of the latent discriminator (aae, factor-vae)",
    "discriminator_layers": "hidden layers of the latent discriminator (aae, factor-vae)",
}


class Discriminator(nn.Module):
    """MLP z -> 2 logits: ``layers`` hidden layers of ``units`` units with leaky ReLU (slope 0.2), as in
    Kim & Mnih (2018) (6 × 1000 for FactorVAE). What the two classes mean is the objective's choice."""

    def __init__(self, latent_dim, units=1000, layers=6):
        super().__init__()
        blocks, width = [], latent_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, units), nn.LeakyReLU(0.2)]
            width = units
        blocks.append(nn.Linear(width, 2))
        self.net = nn.Sequential(*blocks)

    def forward(self, z):
        return self.net(z)


class AdversarialObjective(Objective):
    """An :class:`~pyrovae.objectives.base.Objective` with a latent discriminator trained after each
    step on that step's codes (see the module docstring).

    Subclasses call :meth:`store_codes` in ``loss_from_terms`` (with anything else they need in
    ``extra``), use :meth:`discriminator_logits` for their differentiable term, and implement
    :meth:`discriminator_batches`. :attr:`display_name` names the objective in error messages."""

    display_name = "adversarial"
    #: the discriminator's Adam betas (Kim & Mnih 2018)
    discriminator_betas = (0.5, 0.9)
    #: smallest batch the discriminator step accepts (FactorVAE needs two rows to permute)
    min_discriminator_batch = 1
    jit_refusal = ("its discriminator is trained between steps, outside the loss, and a compiled loss "
                   "would keep the discriminator's first weights as constants")

    def __init__(self, discriminator_lr=1e-4, discriminator_units=1000, discriminator_layers=6, **kwargs):
        self.discriminator_lr = check_number("discriminator_lr", discriminator_lr, minimum=0, exclusive=True)
        self.discriminator_units = check_int("discriminator_units", discriminator_units)
        self.discriminator_layers = check_int("discriminator_layers", discriminator_layers)
        super().__init__(**kwargs)
        self.discriminator = None
        self.discriminator_optimizer = None
        self._codes = []

    # ---- the discriminator ---------------------------------------------------------------------
    def _build(self, latent_dim, device, dtype):
        self.discriminator = Discriminator(latent_dim, self.discriminator_units, self.discriminator_layers)
        self.discriminator.to(device=device, dtype=dtype)
        self.discriminator_optimizer = torch.optim.Adam(self.discriminator.parameters(),
                                                        lr=self.discriminator_lr, betas=self.discriminator_betas)

    def _discriminator_for(self, z):
        """The discriminator, created on the first call and moved to ``z``'s device/dtype if needed."""
        if self.discriminator is None:
            self._build(z.shape[-1], z.device, z.dtype)
        else:
            p = next(self.discriminator.parameters())
            if p.device != z.device or p.dtype != z.dtype:
                self.to(z.device, z.dtype)
        return self.discriminator

    def to(self, device=None, dtype=None):
        """Move the discriminator and its optimiser state; returns self."""
        if self.discriminator is not None:
            self.discriminator.to(device=device, dtype=dtype)
            if self.discriminator_optimizer is None:  # a discriminator assigned from outside
                self.discriminator_optimizer = torch.optim.Adam(
                    self.discriminator.parameters(), lr=self.discriminator_lr, betas=self.discriminator_betas)
            # Optimizer.load_state_dict casts the state onto the parameters' device and dtype.
            self.discriminator_optimizer.load_state_dict(self.discriminator_optimizer.state_dict())
        return self

    def discriminator_logits(self, z):
        """The discriminator's two logits per code, differentiable in ``z`` only (its parameters enter
        detached, so no gradient reaches them)."""
        disc = self._discriminator_for(z)
        params = {name: p.detach() for name, p in disc.named_parameters()}
        return run_network(lambda codes: functional_call(disc, params, (codes,)), z)

    def train_discriminator(self, class0, class1):
        """One Adam step of the discriminator: cross-entropy of ``class0 [..., D]`` (label 0) against
        ``class1 [..., D]`` (label 1), both detached; returns ``(loss, accuracy)`` detached."""
        class0, class1 = class0.detach(), class1.detach()
        disc = self._discriminator_for(class0)
        opt = self.discriminator_optimizer
        if opt is None:  # a discriminator assigned from outside
            self.to()
            opt = self.discriminator_optimizer
        opt.zero_grad(set_to_none=True)  # nothing from the VAE's backward may enter this step
        a, b = class0.reshape(-1, class0.shape[-1]), class1.reshape(-1, class1.shape[-1]).to(class0)
        logits = run_network(disc, torch.cat([a, b]))
        labels = torch.cat([torch.zeros(len(a), dtype=torch.long, device=a.device),
                            torch.ones(len(b), dtype=torch.long, device=a.device)])
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        opt.step()
        accuracy = (logits.detach().argmax(-1) == labels).to(a.dtype).mean()
        return loss.detach(), accuracy

    # ---- the codes of the step -----------------------------------------------------------------
    def store_codes(self, z, *extra):
        """Keep ``z`` (and any ``extra`` tensors) detached for the discriminator's step in after_step."""
        self._codes.append((z.detach(), *(e.detach() for e in extra)))

    def discriminator_batches(self, codes, *extra):
        """(class-0 batch, class-1 batch) from the step's stored codes (concatenated over particles
        traces along dim 0): the subclass's definition of what the discriminator tells apart."""
        raise NotImplementedError

    def discriminator_step(self, z, *extra):
        """One discriminator step on codes ``z`` (see :meth:`discriminator_batches`); ``(loss, accuracy)``."""
        return self.train_discriminator(*self.discriminator_batches(z, *extra))

    # ---- objective hooks -----------------------------------------------------------------------
    def _begin(self):
        super()._begin()
        self._codes = []

    def after_step(self):
        if not self._codes:
            return
        stored, self._codes = self._codes, []
        if stored[0][0].shape[-2] < self.min_discriminator_batch:
            return
        tensors = [torch.cat(parts) for parts in zip(*stored)]
        loss, accuracy = self.discriminator_step(*tensors)
        self.terms["discriminator_loss"] = loss
        self.terms["discriminator_accuracy"] = accuracy
        self.record_discriminator_terms(loss, accuracy)

    def record_discriminator_terms(self, loss, accuracy):
        """Hook: further terms derived from the discriminator's step (logged in :attr:`terms`)."""

    def state_dict(self):
        if self.discriminator is None:
            return {}
        if self.discriminator_optimizer is None:
            self.to()
        return {"discriminator": self.discriminator.state_dict(),
                "optimizer": self.discriminator_optimizer.state_dict()}

    def load_state_dict(self, state):
        if not state:
            return
        weights = state["discriminator"]
        first = weights["net.0.weight"]
        # one weight and one bias per linear layer: `layers` hidden ones and the output layer
        if len(weights) != 2 * (self.discriminator_layers + 1) or first.shape[0] != self.discriminator_units:
            raise PyroVAEError(f"the saved {self.display_name} discriminator has another shape than "
                               "discriminator_units/discriminator_layers: use the settings it was trained with")
        self._build(first.shape[1], first.device, first.dtype)
        self.discriminator.load_state_dict(weights)
        self.discriminator_optimizer.load_state_dict(state["optimizer"])

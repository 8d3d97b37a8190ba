"""Objectives: Pyro ELBO subclasses, one per file, sharing :class:`~pyrovae.objectives.base.Objective`,
selectable by name through :func:`make_objective`."""
from .base import LatentScaleMessenger, Objective, scale_latents
from .beta_vae import BetaVAE
from .elbo import ELBO
from .registry import OBJECTIVES, make_objective, register

__all__ = ["LatentScaleMessenger", "Objective", "scale_latents", "ELBO", "BetaVAE", "OBJECTIVES", "make_objective", "register"]

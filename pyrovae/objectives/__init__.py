"""Objectives: Pyro ELBO subclasses, one per file, sharing :class:`~pyrovae.objectives.base.Objective`,
selectable by name through :func:`make_objective` (each module registers its class when imported).

===============  ==========================  ============================================
name             class                       paper
===============  ==========================  ============================================
vae              :class:`ELBO`               Kingma & Welling 2014
beta-vae         :class:`BetaVAE`            Higgins et al. 2017
capacity-vae     :class:`CapacityVAE`        Burgess et al. 2018
beta-tcvae       :class:`BetaTCVAE`          Chen et al. 2018
factor-vae       :class:`FactorVAE`          Kim & Mnih 2018
dip-vae          :class:`DIPVAE`             Kumar et al. 2018
info-vae, mmd    :class:`InfoVAE`            Zhao et al. 2017
wae              :class:`WAE`                Tolstikhin et al. 2018
iwae             :class:`IWAE`               Burda et al. 2016
aae              :class:`AAE`                Makhzani et al. 2015
===============  ==========================  ============================================

Every objective also takes ``kl_warmup_steps`` (see :mod:`pyrovae.objectives.schedules`).
"""
from . import schedules
from .aae import AAE
from .base import LatentScaleMessenger, Objective, scale_latents
from .beta_tcvae import BetaTCVAE
from .beta_vae import BetaVAE
from .capacity import CapacityVAE
from .dip_vae import DIPVAE
from .elbo import ELBO
from .factor_vae import FactorVAE
from .iwae import IWAE, log_likelihood
from .mmd import InfoVAE
from .registry import OBJECTIVES, make_objective, register
from .wae import WAE

__all__ = ["AAE", "LatentScaleMessenger", "Objective", "scale_latents", "ELBO", "BetaVAE", "CapacityVAE",
           "BetaTCVAE", "FactorVAE", "DIPVAE", "InfoVAE", "WAE", "IWAE", "log_likelihood", "schedules", "OBJECTIVES",
           "make_objective", "register"]

r"""β-TCVAE (Chen et al. 2018) and its minibatch estimators of log q(z) and log Π_d q(z_d).

Notation: the training set has N points x_1..x_N, drawn uniformly, p(n) = 1/N; the aggregate
posterior is the mixture q(z) = (1/N) Σ_n q(z|x_n), with marginals q(z_d) = (1/N) Σ_n q(z_d|x_n).
A batch holds B of the N points (without replacement) and one code z_i ~ q(z|x_i) per point.

**The decomposition** (Chen et al. 2018, eq. 2; Hoffman & Johnson 2016), for a factorised prior:

.. math::

    \mathbb{E}_{p(n)}\,\mathrm{KL}(q(z|x_n)\,\|\,p(z))
      = \underbrace{\mathrm{KL}(q(z, n)\,\|\,q(z)p(n))}_{\text{index-code MI}}
      + \underbrace{\mathrm{KL}(q(z)\,\|\,\textstyle\prod_d q(z_d))}_{\text{total correlation}}
      + \underbrace{\textstyle\sum_d \mathrm{KL}(q(z_d)\,\|\,p(z_d))}_{\text{dimension-wise KL}}.

Per code z_i the three terms are estimated by log q(z_i|x_i) − log q̂(z_i), log q̂(z_i) −
Σ_d log q̂(z_id) and Σ_d [log q̂(z_id) − log p(z_id)]; they add up to log q(z_i|x_i) − log p(z_i) for
*any* estimate q̂, so MI + TC + DWKL is always the Monte Carlo KL. Both estimators below write q̂ as
a weighted sum over the batch, q̂(z_i) = Σ_j W_ij q(z_i|x_j), and use the same weights for every
marginal, q̂(z_id) = Σ_j W_ij q(z_id|x_j) — the weight enters once per density, never once per
dimension.

**Minibatch weighted sampling (MWS)**, Chen et al. §4.1: W_ij = 1/(N·B) for all i, j, i.e.
log q̂(z_i) = logsumexp_j log q(z_i|x_j) − log(N·B). It is biased, and not by a constant: given that
z_i was drawn from x_i, its expectation is (1/(NB))·[q(z_i|x_i) + (B−1)·q̄_{−i}(z_i)], with q̄_{−i} the
mean of q(z_i|x_n) over the other points, while q(z_i) = (1/N)·q(z_i|x_i) + ((N−1)/N)·q̄_{−i}(z_i). The
density is thus under-estimated by a factor between 1/B (where the posteriors do not overlap, the own
term dominates) and about 1/N (where they overlap, the others dominate), and where between depends
on how much the posteriors overlap — on their scale, and differently for the joint and for each
marginal. So MWS's TC, MI and DWKL are offset by amounts that move with the parameters: its gradients
are not MSS's, and its logged values are not the TC. (At N = 737,280 and B = 64, TC_mws − TC_mss is
tens to over a hundred nats and moves with the posterior scale.)

**Minibatch stratified sampling (MSS)**, derived as in Chen et al.'s appendix: stratify p(n) into the
point x_i that z_i was drawn from (probability 1/N) and the other N−1 points (probability (N−1)/N),
of which the batch's other B−1 points are a uniform sample without replacement:

.. math::

    q(z_i) = \frac1N q(z_i|x_i) + \frac{N-1}{N}\,\mathbb{E}_{n \ne i}\,q(z_i|x_n)
    \approx \frac1N q(z_i|x_i) + \frac{N-1}{N(B-1)} \sum_{j \ne i} q(z_i|x_j),

so W_ii = 1/N and W_ij = (N−1)/(N(B−1)) for j ≠ i: each row sums to 1 and q̂(z_i) is unbiased for
q(z_i) **provided the batch holds B distinct points** drawn without replacement — which is why the
trainer draws epoch-wise permutations (:class:`pyrovae.train.sampler.EpochSampler`). A batch drawn
with replacement may hold x_i twice; its copy then gets the weight of an "other" point, about N/B
times too much, and q̂ is biased upwards. What remains is the bias of the log: log q̂ is an
unbiased estimate's log, biased downwards (Jensen) by about half its relative variance, which grows
as B shrinks and as the posteriors overlap less — so MSS's TC is biased too, but by an amount that
vanishes as B grows, not by a multiple of log N. (The tests also use N = B, where every weight is
1/N and q̂ is the mixture density exactly: a check of the code against brute force, not a case that
arises in training.) The appendix's estimator, as the matrix in Chen et al.'s code intends it, gives
one of the other points a different weight, (N−B+1)/(N(B−1)) against 1/(B−1); the other points being
exchangeable, averaging it over the choice of that point gives the symmetric weights above: same
expectation, lower variance. The widely copied matrix that puts 1/N into column 0 instead of the
diagonal, or that adds the log-weights once per latent dimension, is neither; see rtqichen/beta-tcvae#1.

A minibatch estimate of a KL can come out negative: a negative logged ``tc`` is estimator noise and
the downward bias of the log, not a bug.
"""
import math

import torch

from ..errors import PyroVAEError
from ..validation import check_number
from ._common import HELP, choice, factorised_base, latent_sites
from .base import Objective
from .registry import register

ESTIMATORS = ("mss", "mws")


def log_weight_matrix(batch_size, dataset_size, estimator="mss", device=None, dtype=None):
    """log W ``[B, B]``: row i holds the log-weights of q(z_i|x_j) in the estimate of q(z_i)."""
    b, n = int(batch_size), int(dataset_size)
    if n < b:
        raise PyroVAEError(f"the dataset size N = {n} is smaller than the batch ({b}): set objective.dataset_size "
                           "to the number of training points")
    if estimator == "mws":
        return torch.full((b, b), -math.log(n * b), device=device, dtype=dtype)
    if estimator != "mss":
        raise PyroVAEError(f"unknown estimator {estimator!r}: choose one of {', '.join(ESTIMATORS)}")
    off = math.log(n - 1) - math.log(n) - math.log(b - 1) if b > 1 else 0.0
    w = torch.full((b, b), off, device=device, dtype=dtype)
    w.fill_diagonal_(-math.log(n))
    return w


def log_density_matrix(base, z):
    """``log q(z_{i,d} | x_j)`` as ``[..., B_i, B_j, D]`` from the per-dimension guide distribution
    ``base`` (batch shape ``[..., B, D]``, one row per data point) and its codes ``z [..., B, D]``."""
    base = base.expand(z.shape)
    value = z.movedim(-2, 0).unsqueeze(-2)  # [B_i, ..., 1, D]: broadcasts against base's [..., B_j, D]
    return base.log_prob(value).movedim(0, -3)


def aggregate_log_densities(log_q, log_w):
    """``(log q̂(z_i), log q̂(z_{i,d}))`` = ``([..., B], [..., B, D])`` from ``log_q [..., B, B, D]``
    (:func:`log_density_matrix`) and ``log_w [B, B]`` (:func:`log_weight_matrix`)."""
    log_qz = torch.logsumexp(log_q.sum(-1) + log_w, dim=-1)
    log_qz_marginals = torch.logsumexp(log_q + log_w[..., None], dim=-2)
    return log_qz, log_qz_marginals


def tc_decomposition(log_q, log_w, log_p):
    """Per-code estimates ``(mi, tc, dwkl)``, each ``[..., B]``, from the log-density matrix, the
    log-weights and the prior's per-dimension log-densities ``log_p [..., B, D]`` at the codes."""
    log_qzx = log_q.diagonal(dim1=-3, dim2=-2).sum(-2)  # log q(z_i | x_i)
    log_qz, log_qz_marginals = aggregate_log_densities(log_q, log_w)
    log_prod = log_qz_marginals.sum(-1)
    return log_qzx - log_qz, log_qz - log_prod, log_prod - log_p.sum(-1)


@register("beta-tcvae")
class BetaTCVAE(Objective):
    r"""β-TCVAE: the ELBO with the KL split into index-code MI, total correlation and dimension-wise KL
    (see the module docstring), each with its own weight:

    .. math::

        \mathcal{L}(x) = -\mathbb{E}_{q(z|x)}[\log p(x|z)] + \alpha\,\mathrm{MI} + \beta\,\mathrm{TC}
          + \gamma\,\mathrm{DWKL}.

    Computed as ``recon + KL + (α−1)·MI + (β−1)·TC + (γ−1)·DWKL`` with the analytic KL: MI + TC + DWKL
    estimated on the batch equals the Monte Carlo KL exactly, whose expectation is the analytic KL, so
    this is Chen et al.'s objective in expectation with less variance (for α = γ = 1 it is
    disentanglement_lib's form, ELBO + (β−1)·TC).

    ``estimator`` = ``mss`` (default; q̂(z) unbiased for q(z) when the batch holds distinct points, as
    the trainer's epoch-wise batches do; the log's Jensen bias shrinks as B grows) or ``mws`` (Chen et
    al.'s weighted sampling; q̂(z) too small by a factor between 1/B and about 1/N that depends on how
    much the posteriors overlap, so its terms and their gradients differ from MSS's, not just by a
    constant; see the module docstring). Both need the dataset size N: :attr:`dataset_size`, which the
    trainer sets to the number of training points. Needs a factorised guide and prior (``Independent`` over
    the latent dimension). Defaults α = 1, β = 6 (the value in Chen et al.'s published training
    command for dSprites), γ = 1. Terms logged: ``recon``, ``kl``, ``kl_per_dim``, ``mi``, ``tc``,
    ``dwkl`` (a negative ``tc`` is estimator bias, see the module docstring).

    Chen, R. T. Q., Li, X., Grosse, R. & Duvenaud, D. (2018). Isolating Sources of Disentanglement in
    Variational Autoencoders. NeurIPS.
    """

    hyperparameters = {
        "alpha": (1.0, HELP["alpha"]),
        "beta": (6.0, HELP["beta"]),
        "gamma": (1.0, HELP["gamma"]),
        "estimator": ("mss", "beta-tcvae's minibatch estimator of q(z): mss (stratified) or mws (weighted)"),
    }

    def __init__(self, alpha=1.0, beta=6.0, gamma=1.0, estimator="mss", **kwargs):
        self.alpha = check_number("alpha", alpha, minimum=0)
        self.beta = check_number("beta", beta, minimum=0)
        self.gamma = check_number("gamma", gamma, minimum=0)
        self.estimator = choice("estimator", estimator, ESTIMATORS)
        super().__init__(**kwargs)

    def decomposition(self, terms, model_trace, guide_trace):
        """``(mi, tc, dwkl)`` averaged over the batch and summed over the trace's particles."""
        model_site, guide_site = latent_sites(model_trace, guide_trace, self.name)
        if self.dataset_size is None:
            raise PyroVAEError("beta-tcvae needs the dataset size N: set objective.dataset_size = len(dataset) "
                               "(the trainer does)")
        q = factorised_base(guide_site["fn"], self.name)
        p = factorised_base(model_site["fn"], self.name, "prior p(z)")
        z = guide_site["value"]
        log_q = log_density_matrix(q, z)
        log_w = log_weight_matrix(z.shape[-2], self.dataset_size, self.estimator, z.device, z.dtype)
        mi, tc, dwkl = tc_decomposition(log_q, log_w, p.expand(z.shape).log_prob(z))
        return mi.mean(-1).sum(), tc.mean(-1).sum(), dwkl.mean(-1).sum()

    def loss_from_terms(self, terms, model_trace, guide_trace):
        mi, tc, dwkl = self.decomposition(terms, model_trace, guide_trace)
        terms.update(mi=mi, tc=tc, dwkl=dwkl)
        return (terms["recon"] + terms["kl_weighted"] + (self.alpha - 1.0) * mi + (self.beta - 1.0) * tc
                + (self.gamma - 1.0) * dwkl)

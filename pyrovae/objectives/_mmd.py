"""Maximum mean discrepancy between two batches of samples, shared by InfoVAE and WAE.

Pyro's :class:`pyro.infer.Trace_MMD` computes the MMD across *particles* of each data point; InfoVAE
and WAE need it between the aggregate posterior q(z) = E_x q(z|x), represented by the batch of codes
z_i ~ q(z|x_i), and the prior p(z), represented by as many prior draws — which is what this computes.
"""
import torch

from ..errors import PyroVAEError
from ._common import latent_sites, particles

KERNELS = ("rbf", "imq")


def kernel_matrix(x, y, kernel="imq", scale=None):
    r"""k(x_i, y_j) for ``x [..., n, D]`` and ``y [..., m, D]``: ``[..., n, m]``.

    - ``rbf``: :math:`k(x, y) = \exp(-\|x - y\|^2 / C)`;
    - ``imq`` (inverse multiquadratic, Tolstikhin et al. 2018): :math:`k(x, y) = C / (C + \|x - y\|^2)`;

    with :math:`C = 2 D \sigma^2` and σ² = 1, the variance of the N(0, I) prior, as in the WAE paper,
    unless ``scale`` gives C.
    """
    if kernel not in KERNELS:
        raise PyroVAEError(f"unknown kernel {kernel!r}: choose one of {', '.join(KERNELS)}")
    c = 2.0 * x.shape[-1] if scale is None else scale
    sq = (x.pow(2).sum(-1)[..., :, None] + y.pow(2).sum(-1)[..., None, :]
          - 2.0 * x @ y.transpose(-1, -2)).clamp_min(0.0)
    if kernel == "rbf":
        return torch.exp(-sq / c)
    return c / (c + sq)


def mmd(x, y, kernel="imq", scale=None):
    r"""The unbiased (U-statistic) estimate of MMD²(P, Q) from ``x [..., n, D] ~ P`` and
    ``y [..., m, D] ~ Q`` (Gretton et al. 2012, eq. 3), one value per leading index:

    .. math::

        \widehat{\mathrm{MMD}}^2 = \frac{1}{n(n-1)} \sum_{i \ne j} k(x_i, x_j)
          + \frac{1}{m(m-1)} \sum_{i \ne j} k(y_i, y_j) - \frac{2}{nm} \sum_{i, j} k(x_i, y_j).

    Unbiased, so it can be slightly negative when P = Q.
    """
    n, m = x.shape[-2], y.shape[-2]
    if n < 2 or m < 2:
        raise PyroVAEError(f"the MMD estimate needs at least 2 samples on each side (batch size {min(n, m)}): "
                           "raise --batch-size")
    kxx = kernel_matrix(x, x, kernel, scale)
    kyy = kernel_matrix(y, y, kernel, scale)
    kxy = kernel_matrix(x, y, kernel, scale)
    sum_xx = kxx.sum((-1, -2)) - kxx.diagonal(dim1=-2, dim2=-1).sum(-1)
    sum_yy = kyy.sum((-1, -2)) - kyy.diagonal(dim1=-2, dim2=-1).sum(-1)
    return sum_xx / (n * (n - 1)) + sum_yy / (m * (m - 1)) - 2.0 * kxy.sum((-1, -2)) / (n * m)


def prior_samples(model_site):
    """As many draws from the model's prior at the latent site as the site has codes (its batch
    shape), reparameterised when the prior allows it (a learnable prior then gets MMD gradients)."""
    fn = model_site["fn"]
    return fn.rsample() if fn.has_rsample else fn.sample()


def batch_mmd(terms, model_trace, guide_trace, kernel, objective):
    """MMD² between the batch's codes z_i ~ q(z|x_i) (the guide's latent site) and as many draws from
    the model's prior, per particle and summed over the trace's particles (see ``_common``)."""
    model_site, guide_site = latent_sites(model_trace, guide_trace, objective)
    b = terms["batch_size"]
    z = particles(guide_site["value"], b)
    prior = particles(prior_samples(model_site).expand(guide_site["value"].shape), b)
    return mmd(z, prior, kernel).sum()

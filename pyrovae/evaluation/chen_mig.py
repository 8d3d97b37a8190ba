"""Chen et al.'s MIG of a trained Gaussian guide: the model side of :mod:`pyrovae.metrics.chen_mig`, which
estimates the mutual information from q(z|x) itself instead of binned codes."""
import numpy as np
import torch

from ..errors import PyroVAEError
from ..metrics import chen_mutual_info_gap
from .codes import codes_and_factors, gaussian_posterior, posterior_function


def chen_mig(guide, dataset, num_points="all", num_samples=10_000, seed=0, batch_size=256):
    """Chen et al.'s MIG of a trained Gaussian ``guide`` on a ground-truth ``dataset``.

    ``num_points="all"``: every image of the dataset (``batch`` + ``index_to_factors``), as Chen et al.;
    an integer: that many points drawn through ``sample_factors`` / ``sample_observations_from_factors``
    from ``RandomState(seed)`` (the same points as the other metrics' training codes when it equals
    ``num_train``). Returns ``{"mig", "standard_error", "num_points", "num_samples", "points" ("whole
    dataset" or "sampled"), "gaps": {factor: gap}}`` (see :func:`pyrovae.metrics.chen_mutual_info_gap`).
    """
    if not gaussian_posterior(guide):
        raise PyroVAEError(f"chen-mig needs q(z_j|x) in closed form: train with --guide diagonal or lowrank (this run "
                           f"has {type(guide).__name__})")
    device = next(guide.parameters()).device
    if num_points == "all":
        params, factors = _whole_dataset(guide, dataset, device, batch_size)
    else:
        posterior = posterior_function(guide, device, batch_size)
        params, factors = codes_and_factors(dataset, posterior, int(num_points), np.random.RandomState(seed))
    locs, scales = np.split(params, 2, axis=1)
    out = chen_mutual_info_gap(locs, scales, factors, num_samples=num_samples, random_state=seed)
    names = list(getattr(dataset, "factor_names", None) or [f"factor_{k}" for k in range(factors.shape[1])])
    return {"mig": out["mig"], "standard_error": out["standard_error"], "num_points": out["num_points"],
            "num_samples": out["num_samples"], "points": "whole dataset" if num_points == "all" else "sampled",
            "gaps": {names[k]: gap for k, gap in zip(out["factors"], out["gaps"])}}


@torch.no_grad()
def _whole_dataset(guide, dataset, device, batch_size):
    """q(z|x)'s means and scales [N, 2D] and the factors [N, K] of every image of ``dataset``."""
    if not hasattr(dataset, "index_to_factors"):
        raise PyroVAEError(f"chen-mig over the whole dataset needs index_to_factors, which {type(dataset).__name__} "
                           "lacks: give a number of points instead")
    params, factors = [], []
    for start in range(0, len(dataset), batch_size):
        index = torch.arange(start, min(start + batch_size, len(dataset)))
        params.append(torch.cat(guide.encode(dataset.batch(index.to(device))), dim=1).cpu().double().numpy())
        factors.append(dataset.index_to_factors(index.numpy()))
    return np.concatenate(params), np.concatenate(factors)

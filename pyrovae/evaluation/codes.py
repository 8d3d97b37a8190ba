"""A trained model's codes: the representation function every metric takes, and codes paired with their
ground-truth factors through the study's sampling protocol."""
import numpy as np
import torch

from ..guides.gaussian import DiagonalGaussianGuide, LowRankGaussianGuide


def _batched(fn, device, batch_size):
    """numpy observations [n, ...] -> numpy float64 [n, ...]: ``fn`` (a tensor -> tensor map) in batches on
    ``device``, without gradients."""

    @torch.no_grad()
    def apply(observations):
        observations = torch.as_tensor(np.asarray(observations), dtype=torch.float32)
        out = [fn(observations[i:i + batch_size].to(device)).cpu() for i in range(0, len(observations), batch_size)]
        return torch.cat(out).double().numpy()

    return apply


def representation_function(guide, device, batch_size=256):
    """numpy observations [n, ...] -> numpy codes [n, D], in batches on ``device``."""
    return _batched(guide.representation, device, batch_size)


def gaussian_posterior(guide):
    """Whether ``guide.encode(x)`` gives the exact Gaussian marginals q(z_j | x) = N(loc_j, scale_j²)."""
    return isinstance(guide, (DiagonalGaussianGuide, LowRankGaussianGuide))


def posterior_function(guide, device, batch_size=256):
    """numpy observations [n, ...] -> numpy [n, 2D]: the means and standard deviations of q(z_j | x)."""
    return _batched(lambda x: torch.cat(guide.encode(x), dim=1), device, batch_size)


def codes_and_factors(dataset, represent, num, random_state, batch_size=256):
    """``num`` codes and their factors: factors drawn with ``dataset.sample_factors``, observations with
    ``sample_observations_from_factors`` (both from ``random_state``, as in disentanglement_lib), codes
    from ``represent``. Returns (codes [num, D], factors [num, K])."""
    codes, factors = [], []
    for start in range(0, num, batch_size):
        f = dataset.sample_factors(min(batch_size, num - start), random_state)
        codes.append(represent(dataset.sample_observations_from_factors(f, random_state)))
        factors.append(f)
    return np.concatenate(codes), np.concatenate(factors)

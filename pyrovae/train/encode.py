"""A trained encoder on the user's data: the means and scales of q(z | x), in batches on the run's device
(``pyrovae encode``, :meth:`pyrovae.train.Run.encode`)."""
from typing import NamedTuple

import numpy as np
import torch

from ..errors import PyroVAEError
from ..validation import check_int
from .progress import Progress


class Codes(NamedTuple):
    """What :meth:`~pyrovae.train.Run.encode` returns: numpy float32 arrays ``[N, latent_dim]``."""
    means: np.ndarray
    scales: np.ndarray


def _as_batches(data):
    """``(number of points, point shape, batch(start, stop) -> float32 tensor)`` of an array, a tensor or a
    dataset (anything with ``observation_shape``, ``__len__`` and ``batch(indices)``)."""
    if hasattr(data, "batch") and hasattr(data, "observation_shape"):
        return len(data), tuple(data.observation_shape), lambda i, j: data.batch(torch.arange(i, j))
    if not torch.is_tensor(data):
        try:
            data = np.asarray(data)
        except (TypeError, ValueError) as e:
            raise PyroVAEError(f"cannot read the data as an array: {e}") from None
        if data.dtype == object or not (np.issubdtype(data.dtype, np.number) or data.dtype == np.bool_):
            raise PyroVAEError(f"the data must be numeric, got dtype {data.dtype}")
        data = torch.from_numpy(data)
    if data.dim() < 2:
        raise PyroVAEError(f"the data need a batch dimension before the point shape, got shape {tuple(data.shape)}")
    return data.shape[0], tuple(data.shape[1:]), lambda i, j: data[i:j].float()


@torch.no_grad()
def encode_data(guide, data, observation_shape, batch_size=256, progress=False, source="the run", limit=None):
    """:class:`Codes` of ``data`` (see :func:`_as_batches`) under ``guide.encode``: the means and scales
    of q(z | x), ``batch_size`` points at a time on the guide's device, of the first ``limit`` points
    (default all). The points must have the ``observation_shape`` the run was trained on and be finite."""
    batch_size = check_int("batch size", batch_size)
    n, shape, batch = _as_batches(data)
    n = n if limit is None else min(n, limit)
    if shape != tuple(observation_shape):
        raise PyroVAEError(f"the data hold points of shape {shape}, but {source} was trained on points of shape "
                           f"{tuple(observation_shape)}: encode data of that shape")
    if n == 0:
        raise PyroVAEError("the data hold no points")
    param = next(guide.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    guide.eval()
    means, scales = [], []
    bar = Progress(n, desc="encode", enabled=progress)
    try:
        for start in range(0, n, batch_size):
            x = batch(start, min(start + batch_size, n)).to(device)
            finite = torch.isfinite(x.reshape(x.shape[0], -1)).all(1)
            if not bool(finite.all()):
                row = start + int((~finite).nonzero()[0, 0])
                raise PyroVAEError(f"point {row} of the data holds NaN or infinite values: clean the data first")
            loc, scale = guide.encode(x)
            means.append(loc.float().cpu())
            scales.append(scale.float().cpu())
            bar.update(x.shape[0])
    finally:
        bar.close()
    return Codes(torch.cat(means).numpy(), torch.cat(scales).numpy())

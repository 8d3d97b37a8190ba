"""In-memory datasets from arrays: the training protocol every pyrovae dataset follows.

A training dataset has ``observation_shape`` (without the batch dimension), ``__len__`` and
``batch(indices) -> float32 tensor [B, *observation_shape]`` on ``indices.device``; the trainer samples
indices on the training device and never goes through a DataLoader. Datasets with ground-truth factors
also have ``factor_names``, ``factor_sizes`` and ``factors`` (int array [N, K]).
"""
import numpy as np
import torch

from ..errors import PyroVAEError


class ArrayDataset:
    """Observations held as one tensor (moved once to the device that asks for batches)."""

    def __init__(self, observations, factors=None, factor_names=None, name="array"):
        obs = np.asarray(observations)
        if obs.ndim < 2:
            raise PyroVAEError(f"observations need a batch dimension and at least one more, got shape {obs.shape}")
        if not np.issubdtype(obs.dtype, np.number) and obs.dtype != np.bool_:
            raise PyroVAEError(f"observations must be numeric, got dtype {obs.dtype}")
        if not np.isfinite(obs).all():
            raise PyroVAEError("observations contain NaN or infinite values: clean the data first")
        self.name = name
        self.observations = torch.as_tensor(obs, dtype=torch.float32)
        self.observation_shape = tuple(self.observations.shape[1:])
        self._on_device = {}
        self.factors = None
        if factors is not None:
            factors = np.asarray(factors)
            if factors.ndim == 1:
                factors = factors[:, None]
            if factors.shape[0] != obs.shape[0]:
                raise PyroVAEError(f"{factors.shape[0]} factor rows for {obs.shape[0]} observations: "
                                   "labels must have one row per observation")
            self.factors = factors.astype(np.int64)
            self.factor_sizes = tuple(int(s) for s in self.factors.max(0) + 1)
            self.factor_names = tuple(factor_names or (f"factor_{k}" for k in range(factors.shape[1])))

    def __len__(self):
        return self.observations.shape[0]

    def __getitem__(self, index):
        return self.observations[index].numpy()

    def batch(self, indices):
        device = indices.device
        if device not in self._on_device:
            self._on_device = {device: self.observations.to(device)}
        return self._on_device[device][indices]

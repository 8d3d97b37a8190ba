"""dSprites variants of the large-scale disentanglement study (Locatello et al. 2019, "Challenging Common
Assumptions in the Unsupervised Learning of Disentangled Representations"), as defined in
disentanglement_lib's ``data/ground_truth/dsprites.py``:

* **color-dsprites** (``ColorDSprites``): the binary sprite times a random RGB colour, one colour per
  observation with each channel uniform in [0.5, 1]:
  ``observations = repeat(sprite, 3 channels) * uniform(0.5, 1, [n, 1, 1, 3])``.
* **noisy-dsprites** (``NoisyDSprites``): the sprite in white over uniform noise, fresh noise per pixel,
  channel and observation: ``observations = minimum(repeat(sprite, 3) + uniform(0, 1, [n, 64, 64, 3]), 1)``,
  i.e. 1 where the sprite is and the noise elsewhere.

Both are float32 [n, 3, 64, 64] in [0, 1] (channels first; disentanglement_lib's arrays are channels
last), with the same five ground-truth factors as dSprites (the colour and the noise are nuisance
variables, not factors). ``sample_observations_from_factors(factors, random_state)`` draws exactly
disentanglement_lib's numbers from the numpy ``random_state`` (the dSprites draw, then the colour or
noise array in its channels-last shape, then transposed); ``batch(indices, generator=None)`` — the
training path — draws the colour/noise with torch on the indices' device, from ``generator`` or, by
default, torch's global RNG (which the trainer seeds and checkpoints, so resumed runs repeat).
They are not binary: the trainer's default likelihood ``auto`` gives them ``continuous-bernoulli`` (or
choose ``gaussian``), not the Bernoulli.

Built on :class:`pyrovae.data.dsprites.DSprites` (imported when a variant is made); every other
attribute (``factor_names``, ``factor_sizes``, ``sample_factors``, ``index_to_factors``, ...) is the
wrapped dSprites'.
"""
import numpy as np
import torch

from ..errors import PyroVAEError
from .dsprites import DSprites


class _DSpritesVariant:
    observation_shape = (3, 64, 64)
    name = None

    def __init__(self, path=None, cache_dir=None, dsprites=None):
        if dsprites is None:
            dsprites = DSprites(path=path, cache_dir=cache_dir)
        self.dsprites = dsprites

    def __getattr__(self, attribute):  # factor protocol etc. of the wrapped dSprites
        if attribute == "dsprites":
            raise AttributeError(attribute)
        return getattr(self.dsprites, attribute)

    def __len__(self):
        return len(self.dsprites)

    def sample_observations_from_factors(self, factors, random_state):
        """float32 [n, 3, 64, 64] of factor classes [n, 5], with disentanglement_lib's random draws."""
        if random_state is None:
            raise PyroVAEError(f"{self.name} draws random colours/noise: pass a numpy RandomState")
        binary = np.asarray(self.dsprites.sample_observations_from_factors(factors, random_state), np.float64)
        rgb = np.repeat(binary.transpose(0, 2, 3, 1), 3, axis=3)  # [n, 64, 64, 3], as disentanglement_lib
        return self._apply_numpy(rgb, random_state).transpose(0, 3, 1, 2).astype(np.float32)

    def sample(self, num, random_state):
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)

    def batch(self, indices, generator=None):
        """float32 [B, 3, 64, 64] of flat indices [B], made on ``indices.device``."""
        binary = self.dsprites.batch(indices)  # [B, 1, 64, 64]
        return self._apply_torch(binary.expand(-1, 3, -1, -1), generator)

    def __repr__(self):
        return f"{type(self).__name__}({len(self)} images)"


class ColorDSprites(_DSpritesVariant):
    """dSprites in a random colour per observation (each RGB channel uniform in [0.5, 1])."""

    name = "color-dsprites"

    @staticmethod
    def _apply_numpy(rgb, random_state):
        color = random_state.uniform(0.5, 1, [rgb.shape[0], 1, 1, 3])
        return rgb * color

    @staticmethod
    def _apply_torch(rgb, generator):
        color = torch.rand((rgb.shape[0], 3, 1, 1), generator=generator, device=rgb.device, dtype=rgb.dtype)
        return rgb * (0.5 + 0.5 * color)


class NoisyDSprites(_DSpritesVariant):
    """dSprites in white over uniform [0, 1] noise (all 3 channels, fresh per observation)."""

    name = "noisy-dsprites"

    @staticmethod
    def _apply_numpy(rgb, random_state):
        noise = random_state.uniform(0, 1, [rgb.shape[0], rgb.shape[1], rgb.shape[2], 3])
        return np.minimum(rgb + noise, 1.0)

    @staticmethod
    def _apply_torch(rgb, generator):
        noise = torch.rand(rgb.shape, generator=generator, device=rgb.device, dtype=rgb.dtype)
        return torch.clamp_max(rgb + noise, 1.0)

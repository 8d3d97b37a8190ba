"""The 8×8 handwritten digits that ship with scikit-learn (``sklearn.datasets.load_digits``; UCI "Optical
Recognition of Handwritten Digits", 1,797 images, no download): a small real dataset for fast CPU runs.

Observations are float32 [N, 1, 8, 8] in [0, 1] (the 0…16 grey levels divided by 16); the one factor
is the digit class (``digit``, 10 values). ``binarize=True`` thresholds at 0.5 (for the Bernoulli
likelihood; the default data suit ``continuous-bernoulli``, ``gaussian`` and ``laplace``).
``split`` = ``"all"`` (default), ``"train"`` or ``"test"``: a fixed, seeded 80/20 split (``test_fraction``).
"""
import numpy as np

from ..errors import PyroVAEError
from .arrays import ArrayDataset

SPLITS = ("all", "train", "test")


class Digits(ArrayDataset):
    """scikit-learn's 8×8 digits as a pyrovae dataset with one ground-truth factor (the digit class)."""

    def __init__(self, split="all", binarize=False, test_fraction=0.2, split_seed=0):
        from sklearn.datasets import load_digits  # scikit-learn is slow to import: only for this dataset

        if split not in SPLITS:
            raise PyroVAEError(f"unknown digits split {split!r}: choose one of {', '.join(SPLITS)}")
        if not 0 < float(test_fraction) < 1:
            raise PyroVAEError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
        data = load_digits()
        images = (data.images / 16.0).astype(np.float32)[:, None]  # [N, 1, 8, 8]
        labels = data.target.astype(np.int64)
        if split != "all":
            order = np.random.RandomState(split_seed).permutation(len(images))
            n_test = int(round(float(test_fraction) * len(images)))
            keep = order[:n_test] if split == "test" else order[n_test:]
            images, labels = images[np.sort(keep)], labels[np.sort(keep)]
        if binarize:
            images = (images > 0.5).astype(np.float32)
        super().__init__(images, factors=labels, factor_names=("digit",), name="digits")
        self.factor_sizes = (10,)
        self._by_class = [np.flatnonzero(labels == k) for k in range(10)]

    def sample_factors(self, num, random_state):
        """Digit classes int64 [num, 1], uniform over the ten classes."""
        return random_state.randint(10, size=(num, 1)).astype(np.int64)

    def sample_observations_from_factors(self, factors, random_state):
        """One random image of each requested class: float32 [n, 1, 8, 8]."""
        factors = np.asarray(factors).reshape(len(factors), -1)[:, 0]
        picks = [self._by_class[k][random_state.randint(len(self._by_class[k]))] for k in factors]
        return self.observations[np.asarray(picks, dtype=np.int64)].numpy()

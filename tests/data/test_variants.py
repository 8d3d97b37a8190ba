"""Noisy and colour dSprites (disentanglement_lib's definitions) and scikit-learn's digits."""
import numpy as np
import pytest
import torch

from pyrovae.data import DATASETS, load_dataset


@pytest.fixture(scope="module")
def dsprites():
    from pyrovae.data.dsprites import DSprites

    return DSprites()


@pytest.fixture(scope="module")
def variants(dsprites):
    from pyrovae.data.variants import ColorDSprites, NoisyDSprites

    return ColorDSprites(dsprites=dsprites), NoisyDSprites(dsprites=dsprites)


def test_registered():
    assert {"noisy-dsprites", "color-dsprites", "digits", "dsprites"} <= set(DATASETS)
    assert type(load_dataset("color-dsprites")).__name__ == "ColorDSprites"
    assert type(load_dataset("noisy-dsprites")).__name__ == "NoisyDSprites"


def test_factor_protocol_is_dsprites(variants, dsprites):
    for v in variants:
        assert v.observation_shape == (3, 64, 64) and len(v) == len(dsprites)
        assert v.factor_sizes == dsprites.factor_sizes and v.factor_names == dsprites.factor_names


def test_color_dsprites_matches_disentanglement_lib(variants, dsprites):
    color, _ = variants
    factors = dsprites.sample_factors(5, np.random.RandomState(3))
    obs = color.sample_observations_from_factors(factors, np.random.RandomState(0))
    # disentanglement_lib: repeat the channels-last binary image, times uniform(0.5, 1, [n, 1, 1, 3])
    rs = np.random.RandomState(0)
    binary = dsprites.sample_observations_from_factors(factors, rs)[:, 0]  # consumes the same draws
    expected = np.repeat(binary[..., None], 3, axis=3) * rs.uniform(0.5, 1, [5, 1, 1, 3])
    assert obs.shape == (5, 3, 64, 64) and obs.dtype == np.float32
    assert np.allclose(obs, expected.transpose(0, 3, 1, 2), atol=1e-6)


def test_noisy_dsprites_matches_disentanglement_lib(variants, dsprites):
    _, noisy = variants
    factors = dsprites.sample_factors(4, np.random.RandomState(4))
    obs = noisy.sample_observations_from_factors(factors, np.random.RandomState(1))
    rs = np.random.RandomState(1)
    binary = dsprites.sample_observations_from_factors(factors, rs)[:, 0]
    expected = np.minimum(np.repeat(binary[..., None], 3, axis=3) + rs.uniform(0, 1, [4, 64, 64, 3]), 1.0)
    assert np.allclose(obs, expected.transpose(0, 3, 1, 2), atol=1e-6)


def test_training_batches(variants, dsprites):
    color, noisy = variants
    idx = torch.tensor([0, 5000, 400000, 737279])
    sprite = dsprites.batch(idx).bool()  # [B, 1, 64, 64]
    c = color.batch(idx, generator=torch.Generator().manual_seed(0))
    assert c.shape == (4, 3, 64, 64) and c.dtype == torch.float32
    assert (c[~sprite.expand_as(c)] == 0).all()  # black background
    per_channel = c.amax((2, 3))  # the colour: one value per image and channel, in [0.5, 1]
    assert ((per_channel >= 0.5) & (per_channel <= 1)).all()
    lit = sprite.expand_as(c)
    assert torch.allclose(c, per_channel[:, :, None, None] * lit)
    n = noisy.batch(idx, generator=torch.Generator().manual_seed(0))
    assert (n[sprite.expand_as(n)] == 1).all()  # the sprite is white
    background = n[~sprite.expand_as(n)]
    assert ((background >= 0) & (background < 1)).all() and abs(float(background.mean()) - 0.5) < 0.02
    assert not torch.equal(n[:, 0], n[:, 1])  # independent noise per channel
    # reproducible with a generator, fresh per call without one
    again = noisy.batch(idx, generator=torch.Generator().manual_seed(0))
    assert torch.equal(n, again)
    assert not torch.equal(noisy.batch(idx), noisy.batch(idx))


def test_digits():
    from pyrovae.data.digits import Digits

    d = load_dataset("digits")
    assert len(d) == 1797 and d.observation_shape == (1, 8, 8)
    x = d.observations
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert d.factor_names == ("digit",) and d.factor_sizes == (10,) and set(d.factors[:, 0]) == set(range(10))
    train, test = Digits(split="train"), Digits(split="test")
    assert len(train) + len(test) == 1797 and len(test) == 359
    joined = torch.cat([train.observations, test.observations]).reshape(1797, -1)
    assert len(torch.unique(joined, dim=0)) == len(torch.unique(x.reshape(1797, -1), dim=0))
    b = Digits(binarize=True).observations
    assert set(torch.unique(b).tolist()) == {0.0, 1.0}
    rs = np.random.RandomState(0)
    factors = d.sample_factors(20, rs)
    obs = d.sample_observations_from_factors(factors, rs)
    assert obs.shape == (20, 1, 8, 8)
    for f, o in zip(factors[:, 0], obs):  # each observation is an image of the requested class
        matches = (d.observations.numpy() == o).reshape(1797, -1).all(1)
        assert f in d.factors[matches, 0]

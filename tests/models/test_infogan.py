"""InfoGAN: Q recovers the categorical code it was given, the networks have the documented shapes, and
its representation goes through the metric code unchanged."""
import itertools

import numpy as np
import pytest
import torch

from pyrovae.data import ArrayDataset
from pyrovae.errors import PyroVAEError
from pyrovae.evaluation import representation_function
from pyrovae.metrics import mutual_info_gap
from pyrovae.models.infogan import InfoGAN
from pyrovae.plots import plot_infogan_traversals
from pyrovae.train.infogan import fit_infogan

CENTRES = torch.tensor([[2.0, 2.0], [-2.0, 2.0], [-2.0, -2.0], [2.0, -2.0]])


@pytest.fixture(scope="module")
def clusters():
    """Four well-separated 2-D Gaussian clusters: the class is a categorical factor with 4 values."""
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(4, (2000,), generator=g)
    x = CENTRES[labels] + 0.3 * torch.randn(2000, 2, generator=g)
    return ArrayDataset(x.numpy(), factors=labels.numpy()), x, labels


def _train(dataset, info_weight, steps=800):
    torch.manual_seed(0)
    gan = InfoGAN((2,), num_continuous=1, categorical=(4,), noise_dim=2, hidden=64)
    history = fit_infogan(gan, dataset, steps=steps, batch_size=128, lr_discriminator=1e-3, lr_generator=1e-3,
                          info_weight_continuous=0.1 * info_weight, info_weight_categorical=info_weight,
                          seed=0, log_every=200)
    return gan, history


def _q_accuracies(gan, x, labels):
    """(Q's accuracy on the code given to G, best-permutation accuracy of Q's classes on the real clusters)."""
    with torch.no_grad():
        noise, continuous, categorical = gan.sample_codes(1000, torch.Generator().manual_seed(9))
        fake = gan.generate(noise, continuous, categorical)
        given = float((gan.q_posterior(fake)[2][0].argmax(-1) == categorical[:, 0]).float().mean())
        predicted = gan.q_posterior(x)[2][0].argmax(-1)
    real = max(float((torch.tensor(p)[predicted] == labels).float().mean()) for p in itertools.permutations(range(4)))
    return given, real


def test_q_recovers_the_categorical_code_on_a_toy_dataset(clusters):
    dataset, x, labels = clusters
    gan, history = _train(dataset, info_weight=1.0)
    given, real = _q_accuracies(gan, x, labels)
    assert given > 0.9  # chance: 0.25
    assert real > 0.9  # and the code G learnt to use is the clusters' identity
    assert history[-1]["q_accuracy"] > 0.9 and set(history[-1]) >= {"d_loss", "g_loss", "d_accuracy"}
    # the GAN itself found the four clusters: most generated points lie near a centre, all four used
    # (how many, 0.7–1.0, varies with the seed and the float rounding of the thread count)
    with torch.no_grad():
        samples = gan.sample(1000, torch.Generator().manual_seed(3))
    nearest = torch.cdist(samples, CENTRES).min(-1)
    assert float((nearest.values < 1.0).float().mean()) > 0.5
    assert len(set(nearest.indices.tolist())) == 4
    # the representation: Q's continuous mean, then the class probabilities; MIG reads it like any code
    codes = representation_function(gan, torch.device("cpu"))(x[:500].numpy())
    assert codes.shape == (500, gan.representation_dim) == (500, 5)
    assert np.allclose(codes[:, 1:].sum(1), 1.0, atol=1e-5)
    # probabilities spread the class over 4 columns, so MIG cannot credit it; argmax gives it one column
    factors = labels[:500, None].numpy()
    probs_mig = mutual_info_gap(codes, factors)
    assert probs_mig < 0.2
    gan.categorical_representation = "argmax"
    codes = representation_function(gan, torch.device("cpu"))(x[:500].numpy())
    assert codes.shape == (500, gan.representation_dim) == (500, 2)
    assert mutual_info_gap(codes, factors) > probs_mig + 0.2
    # the argmax column alone (against a constant one) carries nearly all of the class's entropy
    alone = np.stack([codes[:, 1], np.zeros(500)], 1)
    assert mutual_info_gap(alone, factors) > 0.9


def test_without_the_information_term_q_stays_at_chance(clusters):
    dataset, x, labels = clusters
    gan, _ = _train(dataset, info_weight=0.0, steps=300)  # Q's head is never trained: chance, 0.25
    given, _ = _q_accuracies(gan, x, labels)
    assert given < 0.4


def test_conv_infogan_on_64x64_images_shapes_traversals_and_errors(tmp_path):
    torch.manual_seed(0)
    images = (torch.rand(16, 1, 64, 64) < 0.1).float()
    gan = InfoGAN((1, 64, 64), num_continuous=3, categorical=(3,), noise_dim=4)
    assert gan.arch == "conv" and gan.output == "sigmoid"
    history = fit_infogan(gan, ArrayDataset(images.numpy()), steps=2, batch_size=8, log_every=1)
    assert len(history) == 2 and all(np.isfinite(h["d_loss"]) for h in history)
    with torch.no_grad():
        rep = gan.representation(images)
        samples = gan.sample(5)
    assert rep.shape == (16, 6) and torch.isfinite(rep).all()
    assert samples.shape == (5, 1, 64, 64) and float(samples.min()) >= 0 and float(samples.max()) <= 1
    rows, labels = gan.traversal(steps=5)
    assert labels == ["c0", "c1", "c2", "cat0"] and [r.shape[0] for r in rows] == [5, 5, 5, 3]
    assert plot_infogan_traversals(gan, tmp_path / "t.png").stat().st_size > 0
    rebuilt = InfoGAN(**gan.config())
    rebuilt.load_state_dict(gan.state_dict())
    rebuilt.eval()
    assert torch.equal(rebuilt.representation(images), gan.representation(images))
    for bad in ({"num_continuous": 0}, {"categorical": (1,)}, {"arch": "conv", "data_shape": (2,)},
                {"output": "tanh"}, {"categorical_representation": "onehot"}):
        kwargs = {"data_shape": (1, 64, 64), **bad}
        with pytest.raises(PyroVAEError):
            InfoGAN(**kwargs)
    with pytest.raises(PyroVAEError, match="shape"):
        fit_infogan(gan, ArrayDataset(np.zeros((8, 2), np.float32)), steps=1, batch_size=4)

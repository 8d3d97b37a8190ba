"""Epoch-wise batches: no batch repeats a point (β-TCVAE's MSS assumes it), every epoch is a fresh
shuffle, and a run resumed in the middle of an epoch gets the batches of an uninterrupted run."""
import numpy as np
import torch

from pyrovae.data import ArrayDataset
from pyrovae.train import fit
from pyrovae.train.sampler import EpochSampler


def test_each_epoch_is_a_permutation_cut_into_batches():
    sampler = EpochSampler(10, 3, seed=0)
    epochs = []
    for _ in range(4):
        batches = [sampler.next() for _ in range(3)]  # 10 // 3 batches per epoch, one point left out
        epochs.append(torch.cat(batches))
        assert all(b.shape == (3,) for b in batches)
    assert sampler.epoch == 3
    for order in epochs:
        assert len(set(order.tolist())) == 9 and set(order.tolist()) <= set(range(10))
    assert len({tuple(order.tolist()) for order in epochs}) == 4  # reshuffled every epoch


def test_state_round_trip_continues_with_the_same_batches_mid_epoch_and_across_epochs():
    for drawn in (0, 2, 3, 7):  # start, mid-epoch, at an epoch's end, in a later epoch
        a = EpochSampler(10, 3, seed=5)
        for _ in range(drawn):
            a.next()
        b = EpochSampler(10, 3, seed=99)
        b.load_state_dict(a.state_dict())
        assert b.epoch == a.epoch
        for _ in range(8):
            assert torch.equal(a.next(), b.next())


class RecordingData(ArrayDataset):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def batch(self, indices):
        self.seen.append(indices.tolist())
        return super().batch(indices)


def _config(out, steps, **kw):
    return dict(objective="vae", steps=steps, batch_size=8, lr=1e-2, arch="mlp", latent_dim=2, out=str(out),
                log_every=1, checkpoint_every=100, evaluate=False, plots=False, device="cpu", **kw)


def _data(n=20):
    rng = np.random.RandomState(0)
    return RecordingData((rng.rand(n, 1, 4, 4) < 0.4).astype(np.float32))


def test_the_trainer_draws_each_epoch_without_replacement(tmp_path):
    data = _data()
    fit(_config(tmp_path, steps=6), dataset=data, progress=False)
    training = data.seen[-6:]  # before them: the sample that checks the data
    for epoch in range(3):  # 20 // 8 = 2 batches per epoch
        points = training[2 * epoch] + training[2 * epoch + 1]
        assert len(set(points)) == 16, f"epoch {epoch} repeats a point: {points}"


def test_resume_mid_epoch_gives_the_parameters_of_an_uninterrupted_run(tmp_path):
    fit(_config(tmp_path / "a", steps=7), dataset=_data(), progress=False)  # stops after 3.5 epochs
    resumed = fit(_config(tmp_path / "a", steps=13), dataset=_data(), progress=False, resume=True)
    reference = fit(_config(tmp_path / "b", steps=13), dataset=_data(), progress=False)
    for k, v in reference.guide.state_dict().items():
        assert torch.equal(resumed.guide.state_dict()[k], v), k

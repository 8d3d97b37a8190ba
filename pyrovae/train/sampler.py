"""The trainer's batches: epoch-wise shuffles, with a state that a checkpoint can hold."""
import torch


class EpochSampler:
    """Indices of the training batches: each epoch is a fresh random permutation of the N points, cut
    into batches of B; the last N mod B points of an epoch are left out (the standard shuffle with
    ``drop_last``). So no batch repeats a point — the sampling without replacement that β-TCVAE's
    MSS weights assume — and every point is seen once per epoch, up to those N mod B.

    The state is the generator's state at the start of the epoch and the position in it, not the
    permutation itself (5.9 MB for dSprites): :meth:`load_state_dict` draws the same permutation again,
    so a resumed run gets the same batches as an uninterrupted one."""

    def __init__(self, size, batch_size, seed=0):  # the caller checks 1 <= batch_size <= size
        self.size, self.batch_size = int(size), int(batch_size)
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = -1
        self._new_epoch()

    def _new_epoch(self):
        self._epoch_start = self.generator.get_state()
        self._order = torch.randperm(self.size, generator=self.generator)
        self.position = 0
        self.epoch += 1

    def next(self):
        """The indices of the next batch: int64 ``[B]`` on the CPU."""
        if self.position + self.batch_size > self.size:
            self._new_epoch()
        batch = self._order[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        return batch

    def state_dict(self):
        return {"epoch_start": self._epoch_start, "position": self.position, "epoch": self.epoch}

    def load_state_dict(self, state):
        self.generator.set_state(state["epoch_start"])
        self.epoch = state["epoch"] - 1
        self._new_epoch()
        self.position = state["position"]

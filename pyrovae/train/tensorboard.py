"""TensorBoard logging of a run (``TrainConfig.tensorboard``, ``pyrovae train --tensorboard``).

Events go to ``RUN_DIR/tensorboard/``, so ``tensorboard --logdir sweeps/X`` shows each run of a sweep as
its own TensorBoard run. Scalars: every term of each log.jsonl record, at its step (a vector term such as
``kl_per_dim`` as one scalar per entry). Images, at each checkpoint: ``reconstructions`` (rows: inputs,
reconstructions, |difference|) and ``traversals`` (row d: latent d of the first input's code swept over
[-3, 3]). The images are drawn with torch alone, not with :mod:`pyrovae.plots` (a higher layer), and are
unsorted: the PNGs of :func:`pyrovae.plots.plot_run` sort the traversals by KL.

TensorBoard is the optional extra ``pyrovae[tensorboard]``.
"""
import torch

from ..errors import import_extra
from .checkpoint import rng_state, set_rng_state

DIR = "tensorboard"


def summary_writer_class():
    """torch's ``SummaryWriter``, or :class:`MissingExtra` when TensorBoard is not installed."""
    return import_extra("torch.utils.tensorboard", "tensorboard", "--tensorboard").SummaryWriter


class TensorBoardLog:
    """The run's event writer. ``step`` is where training starts: on a resume, the events after it that
    the stopped run wrote (steps redone after a kill) are hidden, as log.jsonl is cut back."""

    def __init__(self, writer_class, run_dir, step, dataset, device, points=8, seed=0):
        # hides what an earlier start wrote after ``step``; the checkpoint's own step logged its record and
        # images before it stopped, so those stay
        self.writer = writer_class(log_dir=str(run_dir / DIR), purge_step=step + 1)
        generator = torch.Generator().manual_seed(seed)
        self.indices = torch.randint(len(dataset), (points,), generator=generator).to(device)
        self.dataset = dataset
        self.image_step = None

    def scalars(self, record):
        step = record["step"]
        for key, value in record.items():
            if key in ("step", "time_s"):  # TensorBoard records the wall time itself
                continue
            if isinstance(value, list):
                for i, v in enumerate(value):
                    self.writer.add_scalar(f"{key}/{i}", v, step)
            else:
                self.writer.add_scalar(key, value, step)

    @torch.no_grad()
    def images(self, model, guide, step, limit=3.0, columns=9):
        """Reconstructions and traversals at ``step`` (once per step), without touching the training RNG."""
        if step == self.image_step:
            return
        state, modes = rng_state(), (model.training, guide.training)  # a noisy dataset draws its noise
        model.eval(), guide.eval()
        try:
            x = self.dataset.batch(self.indices)
            recon = model.decode(guide.representation(x))
            self.writer.add_image("reconstructions", _grid([x, recon, (x - recon).abs()]), step)
            z0 = guide.representation(x[:1])[0]
            rows = []
            for d in range(z0.shape[0]):
                z = z0.repeat(columns, 1)
                z[:, d] = torch.linspace(-limit, limit, columns, device=z.device)
                rows.append(model.decode(z))
            self.writer.add_image("traversals", _grid(rows), step)
        finally:
            model.train(modes[0]), guide.train(modes[1])
            set_rng_state(state)
        self.image_step = step
        self.writer.flush()  # what a killed run leaves: events up to its last checkpoint

    def close(self):
        self.writer.close()


def _as_images(x):
    """[n, C, H, W] in [0, 1]; flat vectors as squares where they are, else as 1-pixel strips."""
    x = x.detach().float().cpu().clamp(0, 1)
    if x.dim() == 2:
        side = int(round(x.shape[1] ** 0.5))
        x = x.reshape(-1, 1, side, side) if side * side == x.shape[1] else x.reshape(-1, 1, 1, x.shape[1])
    return x


def _grid(rows, pad=1):
    """One [C, H, W] image of ``rows`` (tensors of images), separated by ``pad`` pixels of white."""
    rows = [_as_images(r) for r in rows]
    n_cols = max(len(r) for r in rows)
    c, h, w = rows[0].shape[1:]
    grid = torch.ones(c, len(rows) * (h + pad) + pad, n_cols * (w + pad) + pad)
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            top, left = pad + i * (h + pad), pad + j * (w + pad)
            grid[:, top:top + h, left:left + w] = image
    return grid

"""The plots of a trained run, as PNG files in its run dir.

- ``reconstructions.png``: rows of inputs, reconstructions and their difference (Mushom 2020, Fig. 5.3);
- ``samples.png``: decoded draws from the prior;
- ``traversals.png``: each latent dimension moved over [-3, 3] from a data point's code, rows sorted by
  per-dimension KL, largest first, with the KL in the row label (Fig. 5.5);
- ``kl_per_dim.png``: the per-dimension KL of the trained model, sorted;
- ``training_curves.png``: every logged term against the step.
"""
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..evaluation.model_scores import kl_per_dimension
from ..train.rundir import log_records
from .images import as_images, image_grid


@torch.no_grad()
def plot_reconstructions(model, guide, x, path):
    recon = model.decode(guide.representation(x))
    diff = (x - recon).abs()
    image_grid([as_images(x), as_images(recon), as_images(diff)], path,
          row_labels=["input", "recon", "|diff|"], title="Reconstructions")


@torch.no_grad()
def plot_samples(model, path, num=32, columns=8):
    images = as_images(model.sample(num))
    image_grid([images[i:i + columns] for i in range(0, num, columns)], path, title="Samples from the prior")


@torch.no_grad()
def plot_traversals(model, guide, x, kl_per_dim, path, steps=9, limit=3.0):
    """Vary one latent at a time over [-limit, limit] around the code of ``x[0]``; rows by KL."""
    z0 = guide.representation(x[:1])[0]
    order = np.argsort(-np.asarray(kl_per_dim))
    values = torch.linspace(-limit, limit, steps, device=z0.device)
    rows, labels = [], []
    for d in order:
        z = z0.repeat(steps, 1)
        z[:, d] = values
        rows.append(as_images(model.decode(z)))
        labels.append(f"z{d} KL={kl_per_dim[d]:.2f}")
    image_grid(rows, path, row_labels=labels, title=f"Latent traversals over [-{limit:g}, {limit:g}], sorted by KL")


def plot_kl_per_dim(kl_per_dim, path):
    kl = np.asarray(kl_per_dim)
    order = np.argsort(-kl)
    fig, ax = plt.subplots(figsize=(max(4, len(kl) * 0.45), 3))
    ax.bar(range(len(kl)), kl[order])
    ax.set_xticks(range(len(kl)), [f"z{d}" for d in order], fontsize=8)
    ax.set_ylabel("KL (nats)")
    ax.set_title("KL(q(z_d|x) || p(z_d)) per dimension")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_training_curves(log_path, path):
    records = log_records(log_path)
    keys = [k for k in records[0] if k not in ("step", "time_s") and not isinstance(records[0][k], list)] \
        if records else []
    fig, axes = plt.subplots(len(keys) or 1, 1, figsize=(6, 1.8 * max(len(keys), 1)), sharex=True, squeeze=False)
    steps = [r["step"] for r in records]
    for ax, key in zip(axes[:, 0], keys):
        ax.plot(steps, [r.get(key, np.nan) for r in records])
        ax.set_ylabel(key, fontsize=8)
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_run(run, num=8, seed=0):
    """Write every plot of a trained :class:`~pyrovae.train.Run` into its run dir; returns the paths."""
    out = Path(run.run_dir)
    device = next(run.guide.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    x = run.dataset.batch(torch.randint(len(run.dataset), (max(num, 256),), generator=generator).to(device))
    kl = kl_per_dimension(run.model, run.guide, x)
    paths = {name: out / f"{name}.png" for name in
             ("reconstructions", "samples", "traversals", "kl_per_dim", "training_curves")}
    plot_reconstructions(run.model, run.guide, x[:num], paths["reconstructions"])
    plot_samples(run.model, paths["samples"])
    plot_traversals(run.model, run.guide, x[:1], np.nan_to_num(kl), paths["traversals"])
    plot_kl_per_dim(np.nan_to_num(kl), paths["kl_per_dim"])
    if (out / "log.jsonl").exists():
        plot_training_curves(out / "log.jsonl", paths["training_curves"])
    else:
        del paths["training_curves"]
    return paths

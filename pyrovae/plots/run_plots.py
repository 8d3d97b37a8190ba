"""The plots of a trained run, as PNG files in its run dir.

- ``reconstructions.png``: rows of inputs, reconstructions and their difference (Mushom 2020, Fig. 5.3);
- ``samples.png``: decoded draws from the prior;
- ``traversals.png``: each latent dimension moved over [-3, 3] from a data point's code, rows sorted by
  per-dimension KL, largest first, with the KL in the row label (Fig. 5.5);
- ``kl_per_dim.png``: the per-dimension KL of the trained model, sorted;
- ``training_curves.png``: every logged term against the step.
"""
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from ..metrics.model_scores import kl_per_dimension  # noqa: E402


def _as_images(x):
    """[n, C, H, W] (or [n, D]) tensor -> list of arrays matplotlib shows (H, W) or (H, W, 3)."""
    x = x.detach().float().cpu().clamp(0, 1)
    if x.dim() == 2:  # flat vectors: show as a square when possible, else a strip
        side = int(round(x.shape[1] ** 0.5))
        x = x.reshape(-1, 1, side, side) if side * side == x.shape[1] else x.reshape(-1, 1, 1, x.shape[1])
    return [img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy() for img in x]


def _grid(rows, path, row_labels=None, title=None):
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(n_cols * 0.9 + (1.2 if row_labels else 0), n_rows * 0.9),
                             squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.set_xticks([]), ax.set_yticks([])
            if j < len(row):
                ax.imshow(row[j], cmap="gray" if row[j].ndim == 2 else None, vmin=0, vmax=1,
                          interpolation="nearest")
            else:
                ax.axis("off")
        if row_labels:
            axes[i, 0].set_ylabel(row_labels[i], rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


@torch.no_grad()
def plot_reconstructions(model, guide, x, path):
    recon = model.decode(guide.representation(x))
    diff = (x - recon).abs()
    _grid([_as_images(x), _as_images(recon), _as_images(diff)], path,
          row_labels=["input", "recon", "|diff|"], title="Reconstructions")


@torch.no_grad()
def plot_samples(model, path, num=32, columns=8):
    images = _as_images(model.sample(num))
    _grid([images[i:i + columns] for i in range(0, num, columns)], path, title="Samples from the prior")


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
        rows.append(_as_images(model.decode(z)))
        labels.append(f"z{d} KL={kl_per_dim[d]:.2f}")
    _grid(rows, path, row_labels=labels, title=f"Latent traversals over [-{limit:g}, {limit:g}], sorted by KL")


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
    records = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]
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

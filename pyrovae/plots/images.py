"""Images as matplotlib shows them, and a labelled grid of them written as a PNG."""
import matplotlib.pyplot as plt


def as_images(x):
    """[n, C, H, W] (or [n, D]) tensor -> list of arrays matplotlib shows (H, W) or (H, W, 3)."""
    x = x.detach().float().cpu().clamp(0, 1)
    if x.dim() == 2:  # flat vectors: show as a square when possible, else a strip
        side = int(round(x.shape[1] ** 0.5))
        x = x.reshape(-1, 1, side, side) if side * side == x.shape[1] else x.reshape(-1, 1, 1, x.shape[1])
    return [img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy() for img in x]


def image_grid(rows, path, row_labels=None, title=None):
    """Write ``rows`` (lists of images from :func:`as_images`) as a PNG grid, one labelled row each."""
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

"""The report's sections that load the representative runs' checkpoints: the aggregate posterior against
the prior (10), active and passive latents (11) and the domain shift study (12)."""
import math
import re

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.stats import kstest, norm

from ...data.shapes import render_shapes
from ...evaluation.model_scores import kl_per_dimension, reconstruction_error
from ...plots.images import as_images, image_grid
from ..summary import format_number, markdown_table
from .selection import domain_shift_candidates, metric_label


def _safe(text):
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text)


def _loaded(report, picks):
    """(objective, row, picked by, run) of the ``picks`` whose checkpoint loads; says so for the others."""
    for objective, row, by in picks:
        try:
            run = report.load_run(row)
        except Exception as e:  # noqa: BLE001 - a run that does not load is reported, the others shown
            report.unavailable(f"{row['name']} could not be loaded: {type(e).__name__}: {e}")
            continue
        yield objective, row, by, run


def section_aggregate_posterior(report):
    report.add("## 10. Aggregate posterior against the prior (Fig. 5.12)", "")
    picks = report.representatives()
    if not picks:
        return report.unavailable("no finished run to load.")
    report.add(f"For one representative run per objective (the run with the median MIG of its objective, or "
               f"the median reconstruction error without MIG), {report.points} training images are encoded; "
               "each panel is the histogram of one latent's samples z ~ q(z|x) over the data (the aggregate "
               "posterior's marginal; its posterior means μ(x) as a line) against the N(0, 1) prior density. "
               "Table: mean and sd of the marginal and its Kolmogorov–Smirnov distance to N(0, 1), per latent.", "")
    for objective, row, by, run in _loaded(report, picks):
        loc, scale = report.encode(run, report.data(run, report.points))
        rng = np.random.RandomState(0)
        z = loc + np.nan_to_num(scale) * rng.standard_normal(loc.shape)
        D = z.shape[1]
        ncols = min(5, D)
        nrows = math.ceil(D / ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(2.2 * ncols, 1.8 * nrows), squeeze=False)
        grid = np.linspace(-4, 4, 200)
        table = []
        for d, ax in enumerate(axes.flat):
            if d >= D:
                ax.axis("off")
                continue
            ax.hist(z[:, d], bins=40, range=(-4, 4), density=True, alpha=0.6, label="z ~ q(z_d)")
            ax.hist(loc[:, d], bins=40, range=(-4, 4), density=True, histtype="step", color="C3", lw=0.8,
                    label="μ_d(x)")
            ax.plot(grid, norm.pdf(grid), "k-", lw=1, label="N(0,1)")
            ax.set_title(f"z{d}", fontsize=8)
            ax.set_yticks([])
            table.append([f"z{d}", format_number(float(z[:, d].mean())), format_number(float(z[:, d].std())),
                          format_number(float(kstest(z[:, d], "norm").statistic))])
        axes.flat[0].legend(fontsize=6)
        fig.suptitle(f"{objective}: {row['name']}", fontsize=9)
        fig.tight_layout()
        report.add(f"### {objective}: `{row['name']}`" + (f" (median {metric_label(by)})" if by else ""), "")
        report.savefig(fig, f"aggregate_posterior_{_safe(objective)}", f"aggregate posterior of {row['name']}")
        report.add(*markdown_table(["latent", "mean", "sd", "KS distance to N(0,1)"], table), "")


def section_active_units(report):
    report.add("## 11. Active and passive latents (Fig. 5.6)", "")
    picks = report.representatives()
    if not picks:
        return report.unavailable("no finished run to load.")
    report.add(f"Per latent of the representative runs, over {report.points} training images: mean |μ| and mean σ "
               "of q(z_d|x) and Var(μ). A latent is active when Var_x(μ_d) > 0.01 (Burda et al. 2016): active "
               "latents have σ ≪ 1 and spread-out means; passive ones copy the prior (μ ≈ 0, σ ≈ 1).", "")
    for objective, row, _, run in _loaded(report, picks):
        loc, scale = report.encode(run, report.data(run, report.points))
        mean_abs, mean_sigma, var = np.abs(loc).mean(0), scale.mean(0), loc.var(0)
        active = var > 0.01
        kl = (row.get("metrics") or {}).get("kl_per_dim") or [None] * len(var)
        D = len(var)
        fig, ax = plt.subplots(figsize=(max(4, 0.5 * D + 1), 3))
        idx = np.arange(D)
        ax.bar(idx - 0.2, mean_abs, 0.4, label="mean |μ|")
        ax.bar(idx + 0.2, mean_sigma, 0.4, label="mean σ")
        ax.set_xticks(idx, [f"z{d}" + ("*" if a else "") for d, a in enumerate(active)], fontsize=7)
        ax.axhline(1.0, color="k", lw=0.5, ls=":")
        ax.legend(fontsize=7)
        ax.set_title(f"{objective}: {row['name']} (* active: Var(μ) > 0.01)", fontsize=8)
        report.add(f"### {objective}: `{row['name']}` — {int(active.sum())} of {D} latents active", "")
        report.savefig(fig, f"active_units_{_safe(objective)}", f"posterior means and scales of {row['name']}")
        report.add(*markdown_table(
            ["latent", "mean |μ|", "mean σ", "Var(μ)", "KL (nats)", "active"],
            [[f"z{d}", format_number(float(mean_abs[d])), format_number(float(mean_sigma[d])),
              format_number(float(var[d])), format_number(kl[d]) if d < len(kl) else "—",
              "yes" if active[d] else "no"] for d in range(D)]), "")


def _image_model(report):
    """(row, run) of the first candidate run that models single-channel square images, or None."""
    rejected = set()
    for row in domain_shift_candidates(report.done):
        if row["dataset"] in rejected:
            continue
        try:
            run = report.load_run(row)
        except Exception:  # noqa: BLE001 - try the next candidate
            continue
        shape = tuple(run.dataset.observation_shape)
        if len(shape) == 3 and shape[0] == 1 and shape[1] == shape[2] and shape[1] >= 16:
            return row, run
        rejected.add(row["dataset"])
    return None


def section_domain_shift(report):
    report.add("## 12. Domain shift: noise, inverted colours, unseen shapes (Figs. 5.17–5.18)", "")
    chosen = _image_model(report)
    if chosen is None:
        return report.unavailable("the domain-shift study needs a model of single-channel square images (dSprites, "
                                  "64×64); this sweep has none.")
    row, run = chosen
    not_dsprites = not (row["dataset"] == "dsprites" and run.dataset.observation_shape[-1] == 64)
    size = run.dataset.observation_shape[-1]
    if not_dsprites:
        report.add(f"This sweep has no 64×64 dSprites run: the study is shown on `{row['dataset']}` ({size}×{size}), "
                   "with the unseen shapes drawn at dSprites' geometry scaled to that size.", "")
    report.add(f"Model: `{row['name']}` (the best-reconstructing {'non-dSprites ' if not_dsprites else 'dSprites '}"
               "run). Inputs: training images (clean); the same with Gaussian noise (σ = 0.3, clipped to [0, 1]); "
               "inverted (1 − x); and two shapes the model never saw, a triangle and a cross, drawn like dSprites "
               "(point-sampled at pixel centres) at random position, scale and orientation. Each block: inputs, "
               "reconstructions (decoder mean at the posterior mean) and a traversal of the top-KL latent over "
               "[−3, 3] from the first input's code. Table: over 64 inputs per condition.", "")
    device = next(run.guide.parameters()).device
    clean = report.data(run, 64, seed=1)
    size = clean.shape[-1]
    generator = torch.Generator().manual_seed(2)
    conditions = {
        "clean": clean,
        "noisy (σ=0.3)": (clean + 0.3 * torch.randn(clean.shape, generator=generator).to(device)).clamp(0, 1),
        "inverted (1 − x)": 1 - clean,
        "unseen: triangle": torch.as_tensor(render_shapes("triangle", 64, size, seed=3), device=device),
        "unseen: cross": torch.as_tensor(render_shapes("cross", 64, size, seed=4), device=device),
    }
    kl_clean = np.nan_to_num(kl_per_dimension(run.model, run.guide, clean))
    top = int(np.argmax(kl_clean))
    rows_img, labels, table = [], [], []
    values = torch.linspace(-3, 3, 9, device=device)
    with torch.no_grad():
        for name, x in conditions.items():
            x = x.float()
            recon = run.model.decode(run.guide.representation(x[:9]))
            z = run.guide.representation(x[:1]).repeat(9, 1)
            z[:, top] = values
            rows_img += [as_images(x[:9]), as_images(recon), as_images(run.model.decode(z))]
            labels += [f"{name}\ninput", "recon", f"z{top} traversal"]
            err = reconstruction_error(run.model, run.guide, x)
            kl = np.nan_to_num(kl_per_dimension(run.model, run.guide, x))
            loc = run.guide.representation(x).double().cpu().numpy()
            table.append([name, format_number(err["nll_per_pixel"]), format_number(err["mse_per_pixel"]),
                          format_number(float(kl.sum())),
                          f"{format_number(float(loc[:, top].mean()))} ± {format_number(float(loc[:, top].std()))}",
                          format_number(float(np.abs(loc).mean()))])
    path = report.out_dir / "domain_shift.png"
    image_grid(rows_img, path, row_labels=labels, title=f"Domain shift: {row['name']}")
    report.add_figure(path, f"domain shift of {row['name']}")
    report.add(*markdown_table(["input", "recon NLL/px", "recon MSE/px", "KL (nats/image)", f"μ of z{top} (top KL)",
                                "mean |μ|"], table), "")
    report.add(f"The top-KL latent is z{top} (KL {format_number(float(kl_clean[top]))} nats on clean inputs). A model "
               "that generalises out of distribution reconstructs the shifted inputs about as well as the clean "
               "ones; here the rise of the reconstruction error and of the KL measures how far each shift "
               "moves the inputs off the training distribution.", "")

"""The report's sections of scores across runs, each a figure and its table: reconstruction against
regularisation strength (3), MIG against reconstruction (4), the rate–distortion plane (5), metric
distributions (8) and downstream sample efficiency (9)."""
import math
import re

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from ..summary import format_number, markdown_table, mean_sd, mean_sd_text
from .selection import DISENTANGLEMENT, MAIN_METRICS, RECON, metric_label, strength_key, strength_value


def section_recon_vs_strength(report):
    report.add("## 3. Reconstruction error against regularisation strength (Fig. 5.11)", "")
    if not report.has(RECON):
        return report.unavailable("no finished run has a reconstruction error.")
    rows, panels = [], []
    for objective in report.objectives:
        key = strength_key(objective, report.settings)
        points = []
        for s in report.settings:
            if s.objective != objective:
                continue
            x = strength_value(s, key)
            mean, sd = mean_sd(s.values(RECON))
            if mean is not None:
                points.append((x, mean, sd or 0.0, s))
                rows.append([objective, key or "—", format_number(x) if x is not None else "—", len(s.values(RECON)),
                             mean_sd_text(s.values(RECON)), mean_sd_text(s.values("reconstruction.mse_per_pixel"))])
        panels.append((objective, key, points))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3), squeeze=False)
    for ax, (objective, key, points) in zip(axes[0], panels):
        pts = sorted((p for p in points if p[0] is not None), key=lambda p: p[0])
        if pts:
            ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], marker="o", capsize=3)
            if min(p[0] for p in pts) > 0 and max(p[0] for p in pts) / min(p[0] for p in pts) >= 10:
                ax.set_xscale("log")
        ax.set_title(objective, fontsize=9)
        ax.set_xlabel(key or "(no strength hyperparameter)")
        ax.set_ylabel("recon NLL per pixel (nats)")
    fig.tight_layout()
    report.savefig(fig, "recon_vs_strength", "reconstruction error against regularisation strength")
    report.add(*markdown_table(["objective", "hyperparameter", "value", "n", "recon NLL/px", "recon MSE/px"], rows), "")


def section_disentanglement_vs_recon(report):
    report.add("## 4. Disentanglement against reconstruction (Kumar et al. 2018, Fig. 1)", "")
    if not report.has(DISENTANGLEMENT) or not report.has(RECON):
        return report.unavailable("MIG needs ground-truth factors, which this sweep's datasets do not have."
                                  if not report.has(DISENTANGLEMENT) else "no reconstruction error recorded.")
    fig, ax = plt.subplots(figsize=(5.5, 4))
    rows = []
    for i, objective in enumerate(report.objectives):
        runs = [r for r in report.done if r["objective"] == objective
                and isinstance(r.get(RECON), (int, float)) and isinstance(r.get(DISENTANGLEMENT), (int, float))]
        ax.scatter([r[RECON] for r in runs], [r[DISENTANGLEMENT] for r in runs], label=objective, alpha=0.6,
                   color=f"C{i}")
        for s in (s for s in report.settings if s.objective == objective):
            mx, my = mean_sd(s.values(RECON))[0], mean_sd(s.values(DISENTANGLEMENT))[0]
            if mx is not None and my is not None:
                ax.scatter([mx], [my], marker="*", s=120, color=f"C{i}", edgecolor="k")
                ax.annotate(s.short, (mx, my), fontsize=6, xytext=(3, 3), textcoords="offset points")
                rows.append([s.label, mean_sd_text(s.values(RECON)), mean_sd_text(s.values(DISENTANGLEMENT))])
    ax.set_xlabel("reconstruction NLL per pixel (nats; lower is better)")
    ax.set_ylabel("MIG")
    ax.legend(fontsize=7)
    ax.set_title("dots: runs; stars: mean over seeds", fontsize=8)
    report.savefig(fig, "mig_vs_recon", "MIG against reconstruction error")
    report.add(*markdown_table(["setting", "recon NLL/px", "MIG"], rows), "")


def section_rate_distortion(report):
    report.add("## 5. The rate–distortion plane", "",
               "Rate = KL(q(z|x) || p(z)) summed over the latents (nats per image), distortion = reconstruction "
               "NLL per image at the posterior mean (nats), both on the same 256 training images of each "
               "run; one point per run. Lines of constant rate + distortion are lines of constant −ELBO.", "")
    column = "reconstruction.nll_per_image"
    runs = [r for r in report.done if isinstance(r.get("kl_total"), (int, float))
            and isinstance(r.get(column), (int, float))]
    if not runs:
        return report.unavailable("no finished run has both a per-dimension KL and a reconstruction error.")
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for i, objective in enumerate(report.objectives):
        own = [r for r in runs if r["objective"] == objective]
        ax.scatter([r["kl_total"] for r in own], [r[column] for r in own], label=objective, color=f"C{i}",
                   alpha=0.7)
    ax.set_xlabel("rate: KL (nats per image)")
    ax.set_ylabel("distortion: recon NLL (nats per image)")
    ax.legend(fontsize=7)
    report.savefig(fig, "rate_distortion", "rate–distortion plane")
    report.add(*markdown_table(["setting", "n", "rate (nats)", "distortion (nats)", "rate + distortion"],
                               [[s.label, len(s.runs), mean_sd_text(s.values("kl_total")),
                                 mean_sd_text(s.values(column)),
                                 mean_sd_text([r["kl_total"] + r[column] for r in s.runs if r in runs])]
                                for s in report.settings]), "")


def section_distributions(report):
    report.add("## 8. Metric distributions over seeds and hyperparameters (Figs. 5.14–5.15)", "")
    columns = [c for c, _ in MAIN_METRICS if report.has(c) and c not in ("log_likelihood.mean",)]
    if not columns:
        return report.unavailable("no finished run.")
    ncols = min(3, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    width = max(4.0, 0.45 * len(report.settings) + 1.5)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, 3.2 * nrows), squeeze=False)
    rng = np.random.RandomState(0)
    colors = {o: f"C{i}" for i, o in enumerate(report.objectives)}
    for ax, column in zip(axes.flat, columns):
        data = [s.values(column) for s in report.settings]
        positions = [i for i, d in enumerate(data) if d]
        if positions:
            ax.boxplot([data[i] for i in positions], positions=positions, widths=0.6, showfliers=False)
        for i, (s, d) in enumerate(zip(report.settings, data)):
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(d)), d, s=12, color=colors[s.objective], alpha=0.8, zorder=3)
        ax.set_xticks(range(len(report.settings)), [s.label for s in report.settings], rotation=60, ha="right",
                      fontsize=6)
        ax.set_title(metric_label(column), fontsize=9)
    axes.flat[0].legend(handles=[Line2D([], [], marker="o", ls="", color=c, label=o) for o, c in colors.items()],
                        fontsize=6)
    for ax in list(axes.flat)[len(columns):]:
        ax.axis("off")
    fig.tight_layout()
    report.savefig(fig, "metric_distributions", "metric distributions: boxes over seeds, one point per run, "
                                                "colour by objective")
    report.add("Median [min, max] over seeds:", "")
    report.add(*markdown_table(
        ["setting"] + [metric_label(c) for c in columns],
        [[s.label] + [(f"{format_number(float(np.median(v)))} [{format_number(min(v))}, {format_number(max(v))}]"
                       if v else "—") for v in (s.values(c) for c in columns)] for s in report.settings]), "")


def section_downstream(report):
    report.add("## 9. Downstream sample efficiency (Fig. 5.19)", "")
    sizes = sorted({int(m.group(1)) for c in report.columns
                    if (m := re.fullmatch(r"downstream\.mean_test_accuracy_(\d+)", c))})
    if not sizes:
        return report.unavailable("the downstream task needs ground-truth factors, which this sweep's datasets "
                                  "do not have.")
    report.add("Mean test accuracy over factors of gradient-boosted trees trained on n labelled codes (sizes "
               "larger than a run's evaluation split are skipped), and the efficiency = accuracy at the "
               "smaller size / accuracy at the largest:", "")
    fig, ax = plt.subplots(figsize=(5.5, 4))
    colors = {o: f"C{i}" for i, o in enumerate(report.objectives)}
    rows = []
    for s in report.settings:
        means = [(n, mean_sd(s.values(f"downstream.mean_test_accuracy_{n}"))) for n in sizes]
        means = [(n, m, sd) for n, (m, sd) in means if m is not None]
        if means:
            ax.errorbar([n for n, _, _ in means], [m for _, m, _ in means], yerr=[sd or 0 for _, _, sd in means],
                        marker="o", capsize=2, color=colors[s.objective], alpha=0.8, label=s.label)
        rows.append([s.label] + [mean_sd_text(s.values(f"downstream.mean_test_accuracy_{n}")) for n in sizes] +
                    [mean_sd_text(s.values("downstream.efficiency"))])
    ax.set_xscale("log")
    ax.set_xlabel("number of labels")
    ax.set_ylabel("mean test accuracy")
    if len(report.settings) <= 12:
        ax.legend(fontsize=6)
    report.savefig(fig, "downstream", "downstream accuracy against the number of labels")
    report.add(*markdown_table(["setting"] + [f"acc. {n} labels" for n in sizes] + ["efficiency"], rows), "")

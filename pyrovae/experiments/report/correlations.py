"""The report's rank-correlation sections: between metrics (6) and between unsupervised and supervised
metrics (7)."""
import matplotlib.pyplot as plt
import numpy as np

from ..summary import format_number, markdown_table
from .selection import RECON, SUPERVISED, metric_label, spearman_matrix, varying


def _heatmap(report, row_columns, column_columns, name, caption):
    """Spearman ρ over the finished runs as a figure and a table."""
    matrix = spearman_matrix(report.done, row_columns, column_columns)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(column_columns), 0.8 + 0.5 * len(row_columns)))
    im = ax.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(column_columns)), [metric_label(c) for c in column_columns], rotation=60, ha="right",
                  fontsize=7)
    ax.set_yticks(range(len(row_columns)), [metric_label(c) for c in row_columns], fontsize=7)
    for i in range(len(row_columns)):
        for j in range(len(column_columns)):
            if np.isfinite(matrix[i, j]):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, fraction=0.04)
    report.savefig(fig, name, caption)
    report.add(*markdown_table(["ρ"] + [metric_label(c) for c in column_columns],
                               [[metric_label(a)] + [format_number(matrix[i, j], 2) for j in range(len(column_columns))]
                                for i, a in enumerate(row_columns)]), "")


def section_correlations(report):
    report.add("## 6. Rank correlations between metrics (Fig. 5.13)", "")
    columns = varying(report.done, SUPERVISED + [RECON, "kl_total", "active_units"] +
                      [c for c in report.columns if c.startswith("unsupervised.")], report.columns)
    if len(report.done) < 3 or len(columns) < 2:
        return report.unavailable(f"Spearman correlations need at least 3 finished runs and 2 metrics that vary "
                                  f"across them; this sweep has {len(report.done)} runs and {len(columns)} such "
                                  "metrics.")
    report.add(f"Spearman ρ between the metrics over all {len(report.done)} finished runs (— where fewer than 3 "
               "runs have both values or one is constant):", "")
    _heatmap(report, columns, columns, "metric_correlations", "Spearman rank correlations between metrics")


def section_unsupervised_vs_supervised(report):
    report.add("## 7. Unsupervised against supervised metrics (Fig. 5.16)", "")
    unsupervised = varying(report.done, [c for c in report.columns if c.startswith("unsupervised.")], report.columns)
    supervised = varying(report.done, SUPERVISED, report.columns)
    if not supervised:
        return report.unavailable("the supervised metrics need ground-truth factors, which this sweep's datasets "
                                  "do not have (or they do not vary across the runs).")
    if len(report.done) < 3 or not unsupervised:
        return report.unavailable(f"needs at least 3 finished runs with varying unsupervised scores; this sweep "
                                  f"has {len(report.done)} runs.")
    report.add("Spearman ρ of each unsupervised score (rows) with each supervised score (columns), over all "
               "finished runs:", "")
    _heatmap(report, unsupervised, supervised, "unsupervised_vs_supervised",
             "Spearman rank correlations, unsupervised vs supervised metrics")

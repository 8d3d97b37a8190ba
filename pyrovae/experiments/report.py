"""The report of a sweep: ``pyrovae report SWEEP_DIR`` -> ``SWEEP_DIR/report/report.md`` and its PNGs.

Sections (figure numbers of Mushom 2020 unless said):

1. runs: status, attempts, wall-clock time; failed runs with their errors;
2. mean ± sd over seeds of every metric per objective and hyperparameter (Tables 5.3 and 5.6), the best
   setting per objective, and the thesis' numbers beside them;
3. reconstruction error against regularisation strength (Fig. 5.11);
4. disentanglement (MIG) against reconstruction, per objective (Kumar et al. 2018, Fig. 1);
5. the rate–distortion plane (rate = KL(q(z|x) || p(z)), distortion = reconstruction NLL), a point per run;
6. Spearman rank correlations between metrics (Fig. 5.13);
7. Spearman rank correlations between unsupervised and supervised metrics (Fig. 5.16);
8. distributions of the metrics over seeds and hyperparameters, box and strip plots (Figs. 5.14–5.15);
9. downstream sample efficiency: accuracy against the number of labels (Fig. 5.19);
10. the aggregate posterior's marginals against the prior, a representative run per objective (Fig. 5.12);
11. active and passive latents: per dimension mean |μ| and mean σ over data (Fig. 5.6);
12. domain shift: noisy inputs, inverted colours and unseen shapes (a triangle, a cross) through a
    representative dSprites model: input, reconstruction and a traversal of the top-KL latent (Figs.
    5.17–5.18).

Sections 10–12 load the representative runs' checkpoints (:func:`pyrovae.train.load_run`). A section
that cannot be computed for a sweep (no finished run, no ground-truth factors, fewer than three runs for a
rank correlation, no image model for the domain shift) says so, and why, in the report.
"""
import json
import math
import re
import time
from pathlib import Path

from ..data.shapes import render_shapes
from ..errors import PyroVAEError

#: (column, label) of the headline metrics, in table order
MAIN_METRICS = [
    ("beta_vae.eval_accuracy", "β-VAE score"),
    ("factor_vae.eval_accuracy", "FactorVAE score"),
    ("mig.discrete_mig", "MIG"),
    ("chen_mig.mig", "MIG (Chen)"),
    ("sap.SAP_score", "SAP"),
    ("dci.disentanglement", "DCI dis."),
    ("modularity_explicitness.modularity_score", "modularity"),
    ("downstream.efficiency", "downstream eff."),
    ("reconstruction.nll_per_pixel", "recon NLL/px"),
    ("reconstruction.mse_per_pixel", "recon MSE/px"),
    ("kl_total", "KL (nats)"),
    ("active_units", "active units"),
    ("log_likelihood.mean", "log p(x)"),
]
SUPERVISED = ["beta_vae.eval_accuracy", "factor_vae.eval_accuracy", "mig.discrete_mig", "chen_mig.mig",
              "sap.SAP_score", "dci.disentanglement", "dci.completeness", "dci.informativeness_test",
              "modularity_explicitness.modularity_score", "modularity_explicitness.explicitness_score_test",
              "downstream.efficiency"]
RECON = "reconstruction.nll_per_pixel"
DISENTANGLEMENT = "mig.discrete_mig"
CHEN_MIG = "chen_mig.mig"
#: the hyperparameter that sets the strength of an objective's regulariser, when a sweep varies several
STRENGTH_KEYS = ["beta", "gamma", "lambda_od", "lambda_mmd", "capacity_max", "alpha", "num_particles"]
#: metadata about the thesis' tables, shown beside the sweep's numbers (Mushom 2020; shared/docs/anchors.md)
THESIS_TABLE_5_3 = [("β=1", "0.867 ± 0.079", "0.696 ± 0.065", "0.201 ± 0.07"),
                    ("β=3", "0.860 ± 0.055", "0.737 ± 0.031", "0.269 ± 0.028"),
                    ("β=10", "0.762 ± 0.038", "0.666 ± 0.018", "0.270 ± 0.013"),
                    ("β=30", "0.729 ± 0.006", "0.658 ± 0.014", "0.269 ± 0.013")]
THESIS_TABLE_5_6 = [("β-VAE", "0.867", "0.737", "0.270"),
                    ("FactorVAE", "0.894 ± 0.033 (γ=10)", "0.758 ± 0.054 (γ=10)", "0.297 ± 0.061 (γ=25)"),
                    ("β-TCVAE", "0.884", "0.736", "0.285 ± 0.06"),
                    ("DIP-VAE", "0.612", "0.479", "0.039")]
UNAVAILABLE = "**Not computed:** "


# ---- small helpers -------------------------------------------------------------------------------
def _fmt(value, digits=3):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 100):
        return f"{int(value)}"
    if abs(value) >= 1000:
        return f"{value:.1f}"
    if value != 0 and abs(value) < 10 ** -digits:
        return f"{value:.2e}"
    return f"{value:.{digits}f}"


def _table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    return lines


def _values(rows, column):
    out = []
    for row in rows:
        v = row.get(column)
        if isinstance(v, (int, float)) and math.isfinite(v):
            out.append(float(v))
    return out


def _mean_sd(values):
    import numpy as np

    if not values:
        return None, None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else None


def _mean_sd_text(values):
    mean, sd = _mean_sd(values)
    if mean is None:
        return "—"
    return _fmt(mean) + (f" ± {_fmt(sd)}" if sd is not None else " (n=1)")


def _label(key, value):
    return f"{key}={_format(value)}"


def _format(value):
    from .sweep import _format_value

    return _format_value(value)


LABELS = {**dict(MAIN_METRICS), "dci.completeness": "DCI compl.", "dci.informativeness_test": "DCI inform.",
          "modularity_explicitness.explicitness_score_test": "explicitness",
          "unsupervised.gaussian_total_correlation": "Gauss. TC",
          "unsupervised.gaussian_wasserstein_correlation": "Wass. corr.",
          "unsupervised.gaussian_wasserstein_correlation_norm": "Wass. corr. (norm.)",
          "unsupervised.mutual_info_score": "MI score"}


def _metric_label(column):
    return LABELS.get(column, column)


class Setting:
    """One objective × hyperparameters × dataset: the runs over seeds."""

    def __init__(self, objective, hyperparameters, dataset, show_dataset):
        self.objective, self.hyperparameters, self.dataset = objective, hyperparameters, dataset
        hp = ", ".join(_label(k, v) for k, v in sorted(hyperparameters.items()))
        self.label = objective + (f" ({hp})" if hp else "") + (f" @ {dataset}" if show_dataset else "")
        self.short = (" ".join(_label(k, v) for k, v in sorted(hyperparameters.items())) or objective) + \
            (f" @{dataset}" if show_dataset else "")
        self.runs = []

    def values(self, column):
        return _values(self.runs, column)


def _settings(rows):
    """Settings in the order of the rows (the sweep's plan order)."""
    from .sweep import dataset_label

    datasets = {r["dataset"] for r in rows}
    settings, order = {}, []
    for row in rows:
        key = (row["objective"], json.dumps(row["hyperparameters"], sort_keys=True), row["dataset"])
        if key not in settings:
            settings[key] = Setting(row["objective"], row["hyperparameters"], dataset_label(row["dataset"]),
                                    len(datasets) > 1)
            order.append(key)
        settings[key].runs.append(row)
    objectives = list(dict.fromkeys(r["objective"] for r in rows))

    def sort_key(key):
        hp = settings[key].hyperparameters
        return (objectives.index(key[0]), key[2],
                [(k, (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v))) for k, v in sorted(hp.items())])

    return [settings[k] for k in sorted(order, key=sort_key)]


def strength_key(objective, settings):
    """The hyperparameter of ``objective`` the sweep varies (or the objective's usual strength knob)."""
    hps = [s.hyperparameters for s in settings if s.objective == objective]
    keys = list(dict.fromkeys(k for hp in hps for k in hp))
    varying = [k for k in keys if len({json.dumps(hp.get(k)) for hp in hps}) > 1]
    for candidates in (varying, keys):
        for k in STRENGTH_KEYS:
            if k in candidates:
                return k
        if candidates:
            return candidates[0]
    try:
        from ..objectives import OBJECTIVES

        own = list(OBJECTIVES[objective].hyperparameters)
        return next((k for k in STRENGTH_KEYS if k in own), None)
    except KeyError:
        return None


def strength_value(setting, key):
    if key is None:
        return None
    if key in setting.hyperparameters:
        value = setting.hyperparameters[key]
    else:
        try:
            from ..objectives import OBJECTIVES

            value = OBJECTIVES[setting.objective].hyperparameters[key][0]
        except KeyError:
            return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class Report:
    """Collects Markdown lines and figures; each section is a method that adds to them."""

    def __init__(self, sweep_dir, out_dir, device="auto", points=1000, echo=print):
        from .results import load_results, metric_columns

        self.sweep_dir, self.out_dir = Path(sweep_dir), Path(out_dir)
        self.device, self.points, self.echo = device, points, echo
        self._plan = self._read_plan()
        rows = load_results(sweep_dir)
        order = {r["name"]: i for i, r in enumerate(self._plan.get("runs", []))}
        self.rows = sorted(rows, key=lambda r: (order.get(r["name"], len(order)), r["name"]))
        self.done = [r for r in self.rows if r["status"] == "done"]
        self.columns = metric_columns(self.done)
        self.settings = _settings(self.done)
        self.objectives = list(dict.fromkeys(s.objective for s in self.settings))
        self.lines, self.figures = [], []
        self._runs = {}

    def _read_plan(self):
        from .sweep import PLAN, import_plugins

        path = self.sweep_dir / PLAN
        plan = json.loads(path.read_text()) if path.is_file() else {}
        import_plugins(plan.get("imports"))
        return plan

    # ---- output helpers --------------------------------------------------------------------------
    def add(self, *lines):
        self.lines.extend(lines)

    def unavailable(self, why):
        self.add(UNAVAILABLE + why, "")

    def savefig(self, fig, name, caption):
        import matplotlib.pyplot as plt

        path = self.out_dir / f"{name}.png"
        fig.savefig(path, dpi=90, bbox_inches="tight")
        plt.close(fig)
        self.figures.append(path)
        self.add(f"![{caption}]({path.name})", "")

    def has(self, column):
        return column in self.columns

    def load_run(self, row):
        from ..train import load_run

        if row["name"] not in self._runs:
            self._runs[row["name"]] = load_run(row["run_dir"], device=self.device)
        return self._runs[row["name"]]

    def representative(self, objective):
        """The finished run of ``objective`` with the median MIG (or reconstruction error) of its runs."""
        runs = [r for r in self.done if r["objective"] == objective]
        for column in (DISENTANGLEMENT, RECON):
            scored = [r for r in runs if isinstance(r.get(column), (int, float))]
            if scored:
                scored.sort(key=lambda r: (r[column], r["name"]))
                return scored[(len(scored) - 1) // 2], column
        return (runs[0], None) if runs else (None, None)

    # ---- sections --------------------------------------------------------------------------------
    def section_runs(self):
        from collections import Counter

        counts = Counter(r["status"] for r in self.rows)
        plan_name = self._plan.get("name", self.sweep_dir.name)
        self.add(f"# Sweep report: {plan_name}", "",
                 f"Sweep dir `{self.sweep_dir}`; written {time.strftime('%Y-%m-%d %H:%M:%S')} by "
                 "`pyrovae report`. Numbers are means ± sample standard deviations over seeds unless said; "
                 "every number comes from the runs' `metrics.json`, `log.jsonl` and checkpoints.", "",
                 "## 1. Runs", "")
        self.add(f"{len(self.rows)} runs: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ". "
                 f"Objectives: {', '.join(self.objectives) or '—'}; datasets: "
                 f"{', '.join(sorted({s.dataset for s in self.settings})) or '—'}; seeds: "
                 f"{', '.join(str(s) for s in sorted({r['seed'] for r in self.rows}))}.", "")
        walls = _values(self.done, "wall_s")
        if walls:
            self.add(f"Wall-clock time of the finished runs: total {_fmt(sum(walls), 1)} s, per run "
                     f"{_mean_sd_text(walls)} s (min {_fmt(min(walls), 1)}, max {_fmt(max(walls), 1)}).", "")
        by_objective = list(dict.fromkeys(r["objective"] for r in self.rows))
        self.add(*_table(["objective", "runs", "done", "failed", "other", "wall-clock per run (s)", "steps"],
                         [[o, len(own), sum(r["status"] == "done" for r in own), sum(r["status"] == "failed" for r in own),
                           sum(r["status"] not in ("done", "failed") for r in own),
                           _mean_sd_text(_values([r for r in own if r["status"] == "done"], "wall_s")),
                           ", ".join(str(s) for s in sorted({r["steps"] for r in own if r["steps"] is not None})) or "—"]
                          for o in by_objective for own in [[r for r in self.rows if r["objective"] == o]]]), "")
        failed = [r for r in self.rows if r["status"] == "failed"]
        if failed:
            self.add(f"**{len(failed)} run(s) failed** after their retries (run the sweep again to retry them):", "")
            self.add(*_table(["run", "attempts", "error"],
                             [(r["name"], r["attempts"], r["error"] or "") for r in failed]), "")
        unfinished = [r for r in self.rows if r["status"] not in ("done", "failed")]
        if unfinished:
            self.add(f"{len(unfinished)} run(s) are not finished ({', '.join(sorted({r['status'] for r in unfinished}))}); "
                     "the report uses the finished ones.", "")
        if not self.done:
            self.unavailable("no run of this sweep has finished: every section below is empty.")

    def section_tables(self):
        self.add("## 2. Scores per objective and hyperparameter (Tables 5.3, 5.6)", "")
        if not self.settings:
            return self.unavailable("no finished run.")
        main = [(c, label) for c, label in MAIN_METRICS if self.has(c)]
        self.add("Headline scores, mean ± sd over seeds (n = seeds that finished):", "")
        self.add(*_table(["setting", "n"] + [label for _, label in main],
                         [[s.label, len(s.runs)] + [_mean_sd_text(s.values(c)) for c, _ in main]
                          for s in self.settings]), "")
        if self.has(DISENTANGLEMENT) and self.has(CHEN_MIG):
            from ..evaluation import MIG_NOTE

            self.add("MIG is the study's estimate (20-bin histograms of the posterior means); MIG (Chen) is Chen et "
                     "al.'s, from q(z|x) on the points in `chen_mig.num_points`. " + MIG_NOTE, "")
        if not self.has(DISENTANGLEMENT):
            self.add("The supervised disentanglement scores (β-VAE, FactorVAE, MIG, SAP, DCI, modularity, "
                     "downstream) are absent: this sweep's datasets have no ground-truth factors.", "")
        groups = {}
        for column in self.columns:
            groups.setdefault(column.split(".")[0] if "." in column else "model", []).append(column)
        self.add("### Every metric, mean ± sd over seeds", "")
        for group, columns in groups.items():
            columns = [c for c in columns if not c.endswith(("_size", "num_points", "num_samples"))]
            if not columns:
                continue
            self.add(f"**{group}**", "")
            self.add(*_table(["setting"] + [c.split(".", 1)[-1] if group != "model" else c for c in columns],
                             [[s.short if len(self.objectives) == 1 else s.label] +
                              [_mean_sd_text(s.values(c)) for c in columns] for s in self.settings]), "")
        best = [c for c in ("beta_vae.eval_accuracy", "factor_vae.eval_accuracy", DISENTANGLEMENT, "dci.disentanglement")
                if self.has(c)]
        if best:
            self.add("### Best setting per objective (Table 5.6)", "",
                     "For each objective and score, the setting with the highest mean over seeds "
                     "(lowest for the reconstruction error):", "")
            rows = []
            for objective in self.objectives:
                own = [s for s in self.settings if s.objective == objective]
                row = [objective]
                for column in best + ([RECON] if self.has(RECON) else []):
                    scored = [(_mean_sd(s.values(column)), s) for s in own if s.values(column)]
                    if not scored:
                        row.append("—")
                        continue
                    pick = (min if column == RECON else max)(scored, key=lambda t: t[0][0])
                    row.append(f"{_mean_sd_text(pick[1].values(column))} ({pick[1].short})")
                rows.append(row)
            self.add(*_table(["objective"] + [_metric_label(c) for c in best] +
                             (["recon NLL/px"] if self.has(RECON) else []), rows), "")
        self.add("For comparison, the thesis' numbers (Mushom 2020, dSprites, 22,260 steps, 10 seeds; its MIG "
                 "is a 10-bin full-dataset variant, not the study's 20-bin MIG used here). Table 5.3 (β-VAE):", "")
        self.add(*_table(["β-VAE", "β-VAE score", "FactorVAE score", "MIG"], THESIS_TABLE_5_3), "",
                 "Table 5.6 (best setting per model):", "")
        self.add(*_table(["model", "β-VAE score", "FactorVAE score", "MIG"], THESIS_TABLE_5_6), "")

    def section_recon_vs_strength(self):
        import matplotlib.pyplot as plt

        self.add("## 3. Reconstruction error against regularisation strength (Fig. 5.11)", "")
        if not self.has(RECON):
            return self.unavailable("no finished run has a reconstruction error.")
        rows, panels = [], []
        for objective in self.objectives:
            key = strength_key(objective, self.settings)
            points = []
            for s in self.settings:
                if s.objective != objective:
                    continue
                x = strength_value(s, key)
                mean, sd = _mean_sd(s.values(RECON))
                if mean is not None:
                    points.append((x, mean, sd or 0.0, s))
                    rows.append([objective, key or "—", _fmt(x) if x is not None else "—", len(s.values(RECON)),
                                 _mean_sd_text(s.values(RECON)), _mean_sd_text(s.values("reconstruction.mse_per_pixel"))])
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
        self.savefig(fig, "recon_vs_strength", "reconstruction error against regularisation strength")
        self.add(*_table(["objective", "hyperparameter", "value", "n", "recon NLL/px", "recon MSE/px"], rows), "")

    def section_disentanglement_vs_recon(self):
        import matplotlib.pyplot as plt

        self.add("## 4. Disentanglement against reconstruction (Kumar et al. 2018, Fig. 1)", "")
        if not self.has(DISENTANGLEMENT) or not self.has(RECON):
            return self.unavailable("MIG needs ground-truth factors, which this sweep's datasets do not have."
                                    if not self.has(DISENTANGLEMENT) else "no reconstruction error recorded.")
        fig, ax = plt.subplots(figsize=(5.5, 4))
        rows = []
        for i, objective in enumerate(self.objectives):
            runs = [r for r in self.done if r["objective"] == objective
                    and isinstance(r.get(RECON), (int, float)) and isinstance(r.get(DISENTANGLEMENT), (int, float))]
            ax.scatter([r[RECON] for r in runs], [r[DISENTANGLEMENT] for r in runs], label=objective, alpha=0.6,
                       color=f"C{i}")
            for s in (s for s in self.settings if s.objective == objective):
                mx, my = _mean_sd(s.values(RECON))[0], _mean_sd(s.values(DISENTANGLEMENT))[0]
                if mx is not None and my is not None:
                    ax.scatter([mx], [my], marker="*", s=120, color=f"C{i}", edgecolor="k")
                    ax.annotate(s.short, (mx, my), fontsize=6, xytext=(3, 3), textcoords="offset points")
                    rows.append([s.label, _mean_sd_text(s.values(RECON)), _mean_sd_text(s.values(DISENTANGLEMENT))])
        ax.set_xlabel("reconstruction NLL per pixel (nats; lower is better)")
        ax.set_ylabel("MIG")
        ax.legend(fontsize=7)
        ax.set_title("dots: runs; stars: mean over seeds", fontsize=8)
        self.savefig(fig, "mig_vs_recon", "MIG against reconstruction error")
        self.add(*_table(["setting", "recon NLL/px", "MIG"], rows), "")

    def section_rate_distortion(self):
        import matplotlib.pyplot as plt

        self.add("## 5. The rate–distortion plane", "",
                 "Rate = KL(q(z|x) || p(z)) summed over the latents (nats per image), distortion = reconstruction "
                 "NLL per image at the posterior mean (nats), both on the same 256 training images of each "
                 "run; one point per run. Lines of constant rate + distortion are lines of constant −ELBO.", "")
        column = "reconstruction.nll_per_image"
        runs = [r for r in self.done if isinstance(r.get("kl_total"), (int, float))
                and isinstance(r.get(column), (int, float))]
        if not runs:
            return self.unavailable("no finished run has both a per-dimension KL and a reconstruction error.")
        fig, ax = plt.subplots(figsize=(5.5, 4))
        for i, objective in enumerate(self.objectives):
            own = [r for r in runs if r["objective"] == objective]
            ax.scatter([r["kl_total"] for r in own], [r[column] for r in own], label=objective, color=f"C{i}",
                       alpha=0.7)
        ax.set_xlabel("rate: KL (nats per image)")
        ax.set_ylabel("distortion: recon NLL (nats per image)")
        ax.legend(fontsize=7)
        self.savefig(fig, "rate_distortion", "rate–distortion plane")
        self.add(*_table(["setting", "n", "rate (nats)", "distortion (nats)", "rate + distortion"],
                         [[s.label, len(s.runs), _mean_sd_text(s.values("kl_total")), _mean_sd_text(s.values(column)),
                           _mean_sd_text([r["kl_total"] + r[column] for r in s.runs if r in runs])]
                          for s in self.settings]), "")

    def _spearman(self, rows_cols, cols_cols, name, caption):
        import matplotlib.pyplot as plt
        import numpy as np
        from scipy.stats import spearmanr

        matrix = np.full((len(rows_cols), len(cols_cols)), np.nan)
        counts = np.zeros_like(matrix, dtype=int)
        for i, a in enumerate(rows_cols):
            for j, b in enumerate(cols_cols):
                pairs = [(r[a], r[b]) for r in self.done if isinstance(r.get(a), (int, float))
                         and isinstance(r.get(b), (int, float)) and math.isfinite(r[a]) and math.isfinite(r[b])]
                counts[i, j] = len(pairs)
                if len(pairs) >= 3 and len({p[0] for p in pairs}) > 1 and len({p[1] for p in pairs}) > 1:
                    matrix[i, j] = spearmanr([p[0] for p in pairs], [p[1] for p in pairs])[0]
        fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(cols_cols), 0.8 + 0.5 * len(rows_cols)))
        im = ax.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_xticks(range(len(cols_cols)), [_metric_label(c) for c in cols_cols], rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(rows_cols)), [_metric_label(c) for c in rows_cols], fontsize=7)
        for i in range(len(rows_cols)):
            for j in range(len(cols_cols)):
                if np.isfinite(matrix[i, j]):
                    ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=6)
        fig.colorbar(im, ax=ax, fraction=0.04)
        self.savefig(fig, name, caption)
        self.add(*_table(["ρ"] + [_metric_label(c) for c in cols_cols],
                         [[_metric_label(a)] + [_fmt(matrix[i, j], 2) for j in range(len(cols_cols))]
                          for i, a in enumerate(rows_cols)]), "")
        return matrix, counts

    def _varying(self, columns):
        return [c for c in columns if self.has(c) and len(set(_values(self.done, c))) > 1]

    def section_correlations(self):
        self.add("## 6. Rank correlations between metrics (Fig. 5.13)", "")
        columns = self._varying(SUPERVISED + [RECON, "kl_total", "active_units"] +
                                [c for c in self.columns if c.startswith("unsupervised.")])
        if len(self.done) < 3 or len(columns) < 2:
            return self.unavailable(f"Spearman correlations need at least 3 finished runs and 2 metrics that vary "
                                    f"across them; this sweep has {len(self.done)} runs and {len(columns)} such metrics.")
        self.add(f"Spearman ρ between the metrics over all {len(self.done)} finished runs (— where fewer than 3 "
                 "runs have both values or one is constant):", "")
        self._spearman(columns, columns, "metric_correlations", "Spearman rank correlations between metrics")

    def section_unsupervised_vs_supervised(self):
        self.add("## 7. Unsupervised against supervised metrics (Fig. 5.16)", "")
        unsupervised = self._varying([c for c in self.columns if c.startswith("unsupervised.")])
        supervised = self._varying(SUPERVISED)
        if not supervised:
            return self.unavailable("the supervised metrics need ground-truth factors, which this sweep's datasets "
                                    "do not have (or they do not vary across the runs).")
        if len(self.done) < 3 or not unsupervised:
            return self.unavailable(f"needs at least 3 finished runs with varying unsupervised scores; this sweep "
                                    f"has {len(self.done)} runs.")
        self.add("Spearman ρ of each unsupervised score (rows) with each supervised score (columns), over all "
                 "finished runs:", "")
        self._spearman(unsupervised, supervised, "unsupervised_vs_supervised",
                       "Spearman rank correlations, unsupervised vs supervised metrics")

    def section_distributions(self):
        import matplotlib.pyplot as plt
        import numpy as np

        self.add("## 8. Metric distributions over seeds and hyperparameters (Figs. 5.14–5.15)", "")
        columns = [c for c, _ in MAIN_METRICS if self.has(c) and c not in ("log_likelihood.mean",)]
        if not columns:
            return self.unavailable("no finished run.")
        ncols = min(3, len(columns))
        nrows = math.ceil(len(columns) / ncols)
        width = max(4.0, 0.45 * len(self.settings) + 1.5)
        fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, 3.2 * nrows), squeeze=False)
        rng = np.random.RandomState(0)
        colors = {o: f"C{i}" for i, o in enumerate(self.objectives)}
        for ax, column in zip(axes.flat, columns):
            data = [s.values(column) for s in self.settings]
            positions = [i for i, d in enumerate(data) if d]
            if positions:
                ax.boxplot([data[i] for i in positions], positions=positions, widths=0.6, showfliers=False)
            for i, (s, d) in enumerate(zip(self.settings, data)):
                ax.scatter(i + rng.uniform(-0.15, 0.15, len(d)), d, s=12, color=colors[s.objective], alpha=0.8, zorder=3)
            ax.set_xticks(range(len(self.settings)), [s.label for s in self.settings], rotation=60, ha="right",
                          fontsize=6)
            ax.set_title(_metric_label(column), fontsize=9)
        from matplotlib.lines import Line2D

        axes.flat[0].legend(handles=[Line2D([], [], marker="o", ls="", color=c, label=o) for o, c in colors.items()],
                            fontsize=6)
        for ax in list(axes.flat)[len(columns):]:
            ax.axis("off")
        fig.tight_layout()
        self.savefig(fig, "metric_distributions", "metric distributions: boxes over seeds, one point per run, "
                                                  "colour by objective")
        self.add("Median [min, max] over seeds:", "")
        self.add(*_table(["setting"] + [_metric_label(c) for c in columns],
                         [[s.label] + [(f"{_fmt(float(np.median(v)))} [{_fmt(min(v))}, {_fmt(max(v))}]" if v else "—")
                                       for v in (s.values(c) for c in columns)] for s in self.settings]), "")

    def section_downstream(self):
        import matplotlib.pyplot as plt

        self.add("## 9. Downstream sample efficiency (Fig. 5.19)", "")
        sizes = sorted({int(m.group(1)) for c in self.columns
                        if (m := re.fullmatch(r"downstream\.mean_test_accuracy_(\d+)", c))})
        if not sizes:
            return self.unavailable("the downstream task needs ground-truth factors, which this sweep's datasets "
                                    "do not have.")
        self.add("Mean test accuracy over factors of gradient-boosted trees trained on n labelled codes (sizes "
                 "larger than a run's evaluation split are skipped), and the efficiency = accuracy at the "
                 "smaller size / accuracy at the largest:", "")
        fig, ax = plt.subplots(figsize=(5.5, 4))
        colors = {o: f"C{i}" for i, o in enumerate(self.objectives)}
        rows = []
        for s in self.settings:
            means = [(n, _mean_sd(s.values(f"downstream.mean_test_accuracy_{n}"))) for n in sizes]
            means = [(n, m, sd) for n, (m, sd) in means if m is not None]
            if means:
                ax.errorbar([n for n, _, _ in means], [m for _, m, _ in means], yerr=[sd or 0 for _, _, sd in means],
                            marker="o", capsize=2, color=colors[s.objective], alpha=0.8, label=s.label)
            rows.append([s.label] + [_mean_sd_text(s.values(f"downstream.mean_test_accuracy_{n}")) for n in sizes] +
                        [_mean_sd_text(s.values("downstream.efficiency"))])
        ax.set_xscale("log")
        ax.set_xlabel("number of labels")
        ax.set_ylabel("mean test accuracy")
        if len(self.settings) <= 12:
            ax.legend(fontsize=6)
        self.savefig(fig, "downstream", "downstream accuracy against the number of labels")
        self.add(*_table(["setting"] + [f"acc. {n} labels" for n in sizes] + ["efficiency"], rows), "")

    @staticmethod
    def _encode(run, x, batch=256):
        import torch

        locs, scales = [], []
        with torch.no_grad():
            for i in range(0, len(x), batch):
                encoded = run.guide.encode(x[i:i + batch]) if hasattr(run.guide, "encode") else None
                if encoded is None:
                    loc = run.guide.representation(x[i:i + batch])
                    encoded = (loc, torch.full_like(loc, float("nan")))
                locs.append(encoded[0].cpu())
                scales.append(encoded[1].cpu())
        return torch.cat(locs).double().numpy(), torch.cat(scales).double().numpy()

    def _data(self, run, n, seed=0):
        import torch

        device = next(run.guide.parameters()).device
        generator = torch.Generator().manual_seed(seed)
        index = torch.randint(len(run.dataset), (min(n, max(len(run.dataset), 1)),), generator=generator)
        return run.dataset.batch(index.to(device))

    def _representatives(self):
        picks = []
        for objective in self.objectives:
            row, by = self.representative(objective)
            if row is not None:
                picks.append((objective, row, by))
        return picks

    def section_aggregate_posterior(self):
        import matplotlib.pyplot as plt
        import numpy as np
        from scipy.stats import kstest, norm

        self.add("## 10. Aggregate posterior against the prior (Fig. 5.12)", "")
        picks = self._representatives()
        if not picks:
            return self.unavailable("no finished run to load.")
        self.add(f"For one representative run per objective (the run with the median MIG of its objective, or "
                 f"the median reconstruction error without MIG), {self.points} training images are encoded; "
                 "each panel is the histogram of one latent's samples z ~ q(z|x) over the data (the aggregate "
                 "posterior's marginal; its posterior means μ(x) as a line) against the N(0, 1) prior density. "
                 "Table: mean and sd of the marginal and its Kolmogorov–Smirnov distance to N(0, 1), per latent.", "")
        for objective, row, by in picks:
            try:
                run = self.load_run(row)
            except Exception as e:  # noqa: BLE001
                self.unavailable(f"{row['name']} could not be loaded: {type(e).__name__}: {e}")
                continue
            x = self._data(run, self.points)
            loc, scale = self._encode(run, x)
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
                table.append([f"z{d}", _fmt(float(z[:, d].mean())), _fmt(float(z[:, d].std())),
                              _fmt(float(kstest(z[:, d], "norm").statistic))])
            axes.flat[0].legend(fontsize=6)
            fig.suptitle(f"{objective}: {row['name']}", fontsize=9)
            fig.tight_layout()
            self.add(f"### {objective}: `{row['name']}`" + (f" (median {_metric_label(by)})" if by else ""), "")
            self.savefig(fig, f"aggregate_posterior_{_safe(objective)}", f"aggregate posterior of {row['name']}")
            self.add(*_table(["latent", "mean", "sd", "KS distance to N(0,1)"], table), "")

    def section_active_units(self):
        import matplotlib.pyplot as plt
        import numpy as np

        self.add("## 11. Active and passive latents (Fig. 5.6)", "")
        picks = self._representatives()
        if not picks:
            return self.unavailable("no finished run to load.")
        self.add(f"Per latent of the representative runs, over {self.points} training images: mean |μ| and mean σ "
                 "of q(z_d|x) and Var(μ). A latent is active when Var_x(μ_d) > 0.01 (Burda et al. 2016): active "
                 "latents have σ ≪ 1 and spread-out means; passive ones copy the prior (μ ≈ 0, σ ≈ 1).", "")
        for objective, row, _ in picks:
            try:
                run = self.load_run(row)
            except Exception as e:  # noqa: BLE001
                self.unavailable(f"{row['name']} could not be loaded: {type(e).__name__}: {e}")
                continue
            loc, scale = self._encode(run, self._data(run, self.points))
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
            self.add(f"### {objective}: `{row['name']}` — {int(active.sum())} of {D} latents active", "")
            self.savefig(fig, f"active_units_{_safe(objective)}", f"posterior means and scales of {row['name']}")
            self.add(*_table(["latent", "mean |μ|", "mean σ", "Var(μ)", "KL (nats)", "active"],
                             [[f"z{d}", _fmt(float(mean_abs[d])), _fmt(float(mean_sigma[d])), _fmt(float(var[d])),
                               _fmt(kl[d]) if d < len(kl) else "—", "yes" if active[d] else "no"] for d in range(D)]), "")

    def section_domain_shift(self):
        self.add("## 12. Domain shift: noise, inverted colours, unseen shapes (Figs. 5.17–5.18)", "")
        # dSprites runs first, then the best-reconstructing run of each dataset until one fits
        order = sorted(self.done, key=lambda r: (r["dataset"] != "dsprites",
                                                 r.get(RECON) if r.get(RECON) is not None else math.inf, r["name"]))
        chosen, rejected = None, set()
        for row in order:
            if row["dataset"] in rejected:
                continue
            try:
                run = self.load_run(row)
            except Exception:  # noqa: BLE001 - try the next candidate
                continue
            shape = tuple(run.dataset.observation_shape)
            if len(shape) == 3 and shape[0] == 1 and shape[1] == shape[2] and shape[1] >= 16:
                chosen = (row, run)
                break
            rejected.add(row["dataset"])
        if chosen is None:
            return self.unavailable("the domain-shift study needs a model of single-channel square images (dSprites, "
                                    "64×64); this sweep has none.")
        row, run = chosen
        not_dsprites = not (row["dataset"] == "dsprites" and run.dataset.observation_shape[-1] == 64)
        size = run.dataset.observation_shape[-1]
        if not_dsprites:
            self.add(f"This sweep has no 64×64 dSprites run: the study is shown on `{row['dataset']}` ({size}×{size}), "
                     "with the unseen shapes drawn at dSprites' geometry scaled to that size.", "")
        self.add(f"Model: `{row['name']}` (the best-reconstructing {'non-dSprites ' if not_dsprites else 'dSprites '}"
                 "run). Inputs: training images (clean); the same with Gaussian noise (σ = 0.3, clipped to [0, 1]); "
                 "inverted (1 − x); and two shapes the model never saw, a triangle and a cross, drawn like dSprites "
                 "(point-sampled at pixel centres) at random position, scale and orientation. Each block: inputs, "
                 "reconstructions (decoder mean at the posterior mean) and a traversal of the top-KL latent over "
                 "[−3, 3] from the first input's code. Table: over 64 inputs per condition.", "")
        self._domain_shift(row, run)

    def _domain_shift(self, row, run):
        import numpy as np
        import torch

        from ..evaluation.model_scores import kl_per_dimension, reconstruction_error
        from ..plots import as_images, image_grid

        device = next(run.guide.parameters()).device
        clean = self._data(run, 64, seed=1)
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
                table.append([name, _fmt(err["nll_per_pixel"]), _fmt(err["mse_per_pixel"]), _fmt(float(kl.sum())),
                              f"{_fmt(float(loc[:, top].mean()))} ± {_fmt(float(loc[:, top].std()))}",
                              _fmt(float(np.abs(loc).mean()))])
        path = self.out_dir / "domain_shift.png"
        image_grid(rows_img, path, row_labels=labels, title=f"Domain shift: {row['name']}")
        self.figures.append(path)
        self.add(f"![domain shift of {row['name']}]({path.name})", "")
        self.add(*_table(["input", "recon NLL/px", "recon MSE/px", "KL (nats/image)", f"μ of z{top} (top KL)",
                          "mean |μ|"], table), "")
        self.add(f"The top-KL latent is z{top} (KL {_fmt(float(kl_clean[top]))} nats on clean inputs). A model "
                 "that generalises out of distribution reconstructs the shifted inputs about as well as the clean "
                 "ones; here the rise of the reconstruction error and of the KL measures how far each shift "
                 "moves the inputs off the training distribution.", "")

    def section_all_runs(self):
        self.add("## Appendix: every run", "")
        columns = [c for c in (RECON, DISENTANGLEMENT, "beta_vae.eval_accuracy", "factor_vae.eval_accuracy", "kl_total")
                   if self.has(c)]
        self.add(*_table(["run", "status", "attempts", "wall (s)", "steps"] + [_metric_label(c) for c in columns],
                         [[r["name"], r["status"], r["attempts"] if r["attempts"] is not None else "—",
                           _fmt(r["wall_s"], 1) if r["wall_s"] is not None else "—",
                           r["steps"] if r["steps"] is not None else "—"] + [_fmt(r.get(c)) for c in columns]
                          for r in self.rows]), "")

    SECTIONS = ["section_runs", "section_tables", "section_recon_vs_strength", "section_disentanglement_vs_recon",
                "section_rate_distortion", "section_correlations", "section_unsupervised_vs_supervised",
                "section_distributions", "section_downstream", "section_aggregate_posterior",
                "section_active_units", "section_domain_shift", "section_all_runs"]

    def write(self):
        import matplotlib

        matplotlib.use("Agg")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name in self.SECTIONS:
            start = len(self.lines)
            try:
                getattr(self, name)()
            except Exception as e:  # noqa: BLE001 - one failing section must not hide the others
                self.unavailable(f"this section failed: {type(e).__name__}: {e}")
                self.echo(f"report: {name} failed: {type(e).__name__}: {e}")
            if len(self.lines) == start:
                self.unavailable("nothing to show.")
        path = self.out_dir / "report.md"
        path.write_text("\n".join(self.lines).rstrip() + "\n")
        return path


def _safe(text):
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text)


def write_report(sweep_dir, out=None, device="auto", points=1000, echo=print):
    """Write ``report.md`` and its PNGs into ``out`` (default ``SWEEP_DIR/report``); returns its path."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise PyroVAEError(f"{sweep_dir} is not a directory: give the --out of a pyrovae sweep")
    if points < 10:
        raise PyroVAEError(f"--points must be at least 10, got {points}")
    report = Report(sweep_dir, Path(out) if out else sweep_dir / "report", device=device, points=points, echo=echo)
    return report.write()


def add_report_parser(sub):
    p = sub.add_parser("report", help="write a Markdown report with plots comparing the runs of a sweep",
                       description="Write SWEEP_DIR/report/report.md and its PNGs from a sweep's results.")
    p.add_argument("sweep_dir", help="the sweep dir (pyrovae sweep ... --out SWEEP_DIR)")
    p.add_argument("--out", default=None, help="report dir (default: SWEEP_DIR/report)")
    p.add_argument("--device", default="auto", help="device for the representative runs: auto, cpu, cuda")
    p.add_argument("--points", type=int, default=1000, help="data points encoded per representative run")
    return p


def report_command(args):
    path = write_report(args.sweep_dir, args.out, device=args.device, points=args.points)
    print(f"report written to {path}")

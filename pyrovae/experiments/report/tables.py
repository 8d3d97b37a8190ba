"""The report's Markdown-only sections: the runs (1), the scores per setting beside the thesis' tables
(2) and the appendix of every run."""
import time
from collections import Counter

from ...evaluation import MIG_NOTE
from ..summary import finite_values, format_number, markdown_table, mean_sd_text
from .selection import CHEN_MIG, DISENTANGLEMENT, MAIN_METRICS, RECON, best_setting, metric_label, thesis_tables


def section_runs(report):
    counts = Counter(r["status"] for r in report.rows)
    plan_name = report.plan.get("name", report.sweep_dir.name)
    report.add(f"# Sweep report: {plan_name}", "",
               f"Sweep dir `{report.sweep_dir}`; written {time.strftime('%Y-%m-%d %H:%M:%S')} by "
               "`pyrovae report`. Numbers are means ± sample standard deviations over seeds unless said; "
               "every number comes from the runs' `metrics.json`, `log.jsonl` and checkpoints.", "",
               "## 1. Runs", "")
    report.add(f"{len(report.rows)} runs: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ". "
               f"Objectives: {', '.join(report.objectives) or '—'}; datasets: "
               f"{', '.join(sorted({s.dataset for s in report.settings})) or '—'}; seeds: "
               f"{', '.join(str(s) for s in sorted({r['seed'] for r in report.rows}))}.", "")
    walls = finite_values(report.done, "wall_s")
    if walls:
        report.add(f"Wall-clock time of the finished runs: total {format_number(sum(walls), 1)} s, per run "
                   f"{mean_sd_text(walls)} s (min {format_number(min(walls), 1)}, max {format_number(max(walls), 1)}).",
                   "")
    table = []
    for objective in dict.fromkeys(r["objective"] for r in report.rows):
        own = [r for r in report.rows if r["objective"] == objective]
        table.append([objective, len(own), sum(r["status"] == "done" for r in own),
                      sum(r["status"] == "failed" for r in own), sum(r["status"] not in ("done", "failed") for r in own),
                      mean_sd_text(finite_values([r for r in own if r["status"] == "done"], "wall_s")),
                      ", ".join(str(s) for s in sorted({r["steps"] for r in own if r["steps"] is not None})) or "—"])
    report.add(*markdown_table(["objective", "runs", "done", "failed", "other", "wall-clock per run (s)", "steps"],
                               table), "")
    failed = [r for r in report.rows if r["status"] == "failed"]
    if failed:
        report.add(f"**{len(failed)} run(s) failed** after their retries (run the sweep again to retry them):", "")
        report.add(*markdown_table(["run", "attempts", "error"],
                                   [(r["name"], r["attempts"], r["error"] or "") for r in failed]), "")
    unfinished = [r for r in report.rows if r["status"] not in ("done", "failed")]
    if unfinished:
        report.add(f"{len(unfinished)} run(s) are not finished "
                   f"({', '.join(sorted({r['status'] for r in unfinished}))}); the report uses the finished ones.", "")
    if not report.done:
        report.unavailable("no run of this sweep has finished: every section below is empty.")


def section_tables(report):
    report.add("## 2. Scores per objective and hyperparameter (Tables 5.3, 5.6)", "")
    if not report.settings:
        return report.unavailable("no finished run.")
    main = [(c, label) for c, label in MAIN_METRICS if report.has(c)]
    report.add("Headline scores, mean ± sd over seeds (n = seeds that finished):", "")
    report.add(*markdown_table(["setting", "n"] + [label for _, label in main],
                               [[s.label, len(s.runs)] + [mean_sd_text(s.values(c)) for c, _ in main]
                                for s in report.settings]), "")
    if report.has(DISENTANGLEMENT) and report.has(CHEN_MIG):
        report.add("MIG is the study's estimate (20-bin histograms of the posterior means); MIG (Chen) is Chen et "
                   "al.'s, from q(z|x) on the points in `chen_mig.num_points`. " + MIG_NOTE, "")
    if not report.has(DISENTANGLEMENT):
        report.add("The supervised disentanglement scores (β-VAE, FactorVAE, MIG, SAP, DCI, modularity, "
                   "downstream) are absent: this sweep's datasets have no ground-truth factors.", "")
    _every_metric(report)
    _best_settings(report)
    tables = thesis_tables()
    report.add("For comparison, the thesis' numbers (Mushom 2020, dSprites, 22,260 steps, 10 seeds; its MIG "
               f"is a 10-bin full-dataset variant, not the study's 20-bin MIG used here). {tables['table_5_3']['caption']}:",
               "")
    report.add(*markdown_table(tables["table_5_3"]["headers"], tables["table_5_3"]["rows"]), "",
               f"{tables['table_5_6']['caption']}:", "")
    report.add(*markdown_table(tables["table_5_6"]["headers"], tables["table_5_6"]["rows"]), "")


def _every_metric(report):
    groups = {}
    for column in report.columns:
        groups.setdefault(column.split(".")[0] if "." in column else "model", []).append(column)
    report.add("### Every metric, mean ± sd over seeds", "")
    for group, columns in groups.items():
        columns = [c for c in columns if not c.endswith(("_size", "num_points", "num_samples"))]
        if not columns:
            continue
        report.add(f"**{group}**", "")
        report.add(*markdown_table(["setting"] + [c.split(".", 1)[-1] if group != "model" else c for c in columns],
                                   [[s.short if len(report.objectives) == 1 else s.label] +
                                    [mean_sd_text(s.values(c)) for c in columns] for s in report.settings]), "")


def _best_settings(report):
    best = [c for c in ("beta_vae.eval_accuracy", "factor_vae.eval_accuracy", DISENTANGLEMENT, "dci.disentanglement")
            if report.has(c)]
    if not best:
        return
    report.add("### Best setting per objective (Table 5.6)", "",
               "For each objective and score, the setting with the highest mean over seeds "
               "(lowest for the reconstruction error):", "")
    rows = []
    for objective in report.objectives:
        own = [s for s in report.settings if s.objective == objective]
        row = [objective]
        for column in best + ([RECON] if report.has(RECON) else []):
            pick = best_setting(own, column)
            row.append("—" if pick is None else f"{mean_sd_text(pick.values(column))} ({pick.short})")
        rows.append(row)
    report.add(*markdown_table(["objective"] + [metric_label(c) for c in best] +
                               (["recon NLL/px"] if report.has(RECON) else []), rows), "")


def section_all_runs(report):
    report.add("## Appendix: every run", "")
    columns = [c for c in (RECON, DISENTANGLEMENT, "beta_vae.eval_accuracy", "factor_vae.eval_accuracy", "kl_total")
               if report.has(c)]
    report.add(*markdown_table(
        ["run", "status", "attempts", "wall (s)", "steps"] + [metric_label(c) for c in columns],
        [[r["name"], r["status"], r["attempts"] if r["attempts"] is not None else "—",
          format_number(r["wall_s"], 1) if r["wall_s"] is not None else "—",
          r["steps"] if r["steps"] is not None else "—"] + [format_number(r.get(c)) for c in columns]
         for r in report.rows]), "")

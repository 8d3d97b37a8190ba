"""The report of a sweep: ``pyrovae report SWEEP_DIR`` -> ``SWEEP_DIR/report/report.md`` and its PNGs.

Sections (figure numbers of Mushom 2020 unless said):

1. runs: status, attempts, wall-clock time; failed runs with their errors;
2. mean ± sd over seeds of every metric per objective and hyperparameter (Tables 5.3 and 5.6), the best
   setting per objective, and the thesis' numbers beside them (``thesis_tables.json``);
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

Modules: :mod:`.selection` picks rows and computes numbers (no figures, no Markdown); :mod:`.document`
holds the report being written; :mod:`.tables`, :mod:`.figures`, :mod:`.correlations` and
:mod:`.posterior` hold the sections, each a function of the report. Sections 10–12 load the
representative runs' checkpoints (:func:`pyrovae.train.load_run`). A section that cannot be computed for
a sweep (no finished run, no ground-truth factors, fewer than three runs for a rank correlation, no
image model for the domain shift) says so, and why, in the report.
"""
from pathlib import Path

from ...errors import PyroVAEError
from .correlations import section_correlations, section_unsupervised_vs_supervised
from .document import Report
from .figures import (
    section_disentanglement_vs_recon,
    section_distributions,
    section_downstream,
    section_rate_distortion,
    section_recon_vs_strength,
)
from .posterior import section_active_units, section_aggregate_posterior, section_domain_shift
from .tables import section_all_runs, section_runs, section_tables

SECTIONS = [section_runs, section_tables, section_recon_vs_strength, section_disentanglement_vs_recon,
            section_rate_distortion, section_correlations, section_unsupervised_vs_supervised,
            section_distributions, section_downstream, section_aggregate_posterior, section_active_units,
            section_domain_shift, section_all_runs]


def write_report(sweep_dir, out=None, device="auto", points=1000, echo=None):
    """Write ``report.md`` and its PNGs into ``out`` (default ``SWEEP_DIR/report``); returns its path.
    A section that fails is reported in the document and through ``echo`` (default: a logged warning)."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise PyroVAEError(f"{sweep_dir} is not a directory: give the --out of a pyrovae sweep")
    if points < 10:
        raise PyroVAEError(f"--points must be at least 10, got {points}")
    report = Report(sweep_dir, Path(out) if out else sweep_dir / "report", device=device, points=points, echo=echo)
    return report.write(SECTIONS)


__all__ = ["Report", "SECTIONS", "write_report"]

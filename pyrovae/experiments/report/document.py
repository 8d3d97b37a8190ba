"""The report being written: the sweep's rows, the Markdown lines and figures added so far, and the
representative runs' checkpoints loaded on demand. Each section is a function of it (see
:data:`SECTIONS` in :mod:`pyrovae.experiments.report`)."""
import logging
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ...train import load_run
from ..results import load_results, metric_columns
from ..spec import read_plan
from .selection import group_settings, representative

UNAVAILABLE = "**Not computed:** "
logger = logging.getLogger(__name__)


class Report:
    """Collects Markdown lines and figures for the sweep in ``sweep_dir``; sections add to them."""

    def __init__(self, sweep_dir, out_dir, device="auto", points=1000, echo=None):
        self.sweep_dir, self.out_dir = Path(sweep_dir), Path(out_dir)
        self.device, self.points, self.echo = device, points, echo or logger.warning
        self.plan = read_plan(self.sweep_dir)
        rows = load_results(sweep_dir)
        order = {r["name"]: i for i, r in enumerate(self.plan.get("runs", []))}
        self.rows = sorted(rows, key=lambda r: (order.get(r["name"], len(order)), r["name"]))
        self.done = [r for r in self.rows if r["status"] == "done"]
        self.columns = metric_columns(self.done)
        self.settings = group_settings(self.done)
        self.objectives = list(dict.fromkeys(s.objective for s in self.settings))
        self.lines, self.figures = [], []
        self._runs = {}

    # ---- output ----------------------------------------------------------------------------------
    def add(self, *lines):
        self.lines.extend(lines)

    def unavailable(self, why):
        self.add(UNAVAILABLE + why, "")

    def savefig(self, fig, name, caption):
        path = self.out_dir / f"{name}.png"
        fig.savefig(path, dpi=90, bbox_inches="tight")
        plt.close(fig)
        self.add_figure(path, caption)

    def add_figure(self, path, caption):
        self.figures.append(path)
        self.add(f"![{caption}]({path.name})", "")

    def has(self, column):
        return column in self.columns

    # ---- the representative runs -----------------------------------------------------------------
    def load_run(self, row):
        if row["name"] not in self._runs:
            self._runs[row["name"]] = load_run(row["run_dir"], device=self.device)
        return self._runs[row["name"]]

    def representatives(self):
        """[(objective, row, the column it was picked by)]: one finished run per objective."""
        picks = []
        for objective in self.objectives:
            row, by = representative(self.done, objective)
            if row is not None:
                picks.append((objective, row, by))
        return picks

    @staticmethod
    def encode(run, x, batch=256):
        """(means, scales) of q(z|x) as float64 arrays; scales NaN for a guide without ``encode``."""
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

    @staticmethod
    def data(run, n, seed=0):
        """``n`` training images of ``run`` drawn with ``seed``, on its device."""
        device = next(run.guide.parameters()).device
        generator = torch.Generator().manual_seed(seed)
        index = torch.randint(len(run.dataset), (min(n, max(len(run.dataset), 1)),), generator=generator)
        return run.dataset.batch(index.to(device))

    # ---- writing ---------------------------------------------------------------------------------
    def write(self, sections):
        """Run each section (a function of the report) and write ``report.md``; returns its path."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for section in sections:
            start = len(self.lines)
            try:
                section(self)
            except Exception as e:  # noqa: BLE001 - one failing section must not hide the others
                self.unavailable(f"this section failed: {type(e).__name__}: {e}")
                self.echo(f"report: {section.__name__} failed: {type(e).__name__}: {e}")
            if len(self.lines) == start:
                self.unavailable("nothing to show.")
        path = self.out_dir / "report.md"
        path.write_text("\n".join(self.lines).rstrip() + "\n")
        return path

"""The results table of a sweep: ``SWEEP_DIR/results.sqlite`` (standard-library ``sqlite3``).

Table ``runs``, one row per run, updated as each run ends:

- ``name`` (primary key), ``status`` (pending / running / retrying / done / failed / interrupted),
  ``objective``, ``dataset``, ``seed``, ``hyperparameters`` (JSON), ``config`` (JSON), ``run_dir``,
  ``attempts``, ``wall_s`` (wall-clock seconds of the last attempt), ``steps``, ``started_at``,
  ``finished_at`` (Unix times), ``error`` (the last error message; set for failed runs);
- one column per hyperparameter, ``hp.<name>``;
- one column per scalar metric of ``metrics.json``, flattened with dots (``mig.discrete_mig``,
  ``reconstruction.nll_per_pixel``, ``dci.disentanglement``, ``active_units``, ...), plus ``kl_total``
  (the sum of ``kl_per_dim``: the rate) and the last logged training terms as ``train.<term>``;
- ``metrics_json``: the whole metrics.json (lists included, e.g. ``kl_per_dim``).

Only the sweep process writes the table (workers return their results to it), so there is no
concurrent writer. :func:`load_results` reads it back as a list of plain dicts.
"""
import json
import math
import sqlite3
import time
from pathlib import Path

from ..errors import PyroVAEError
from ..train.rundir import LOG, METRICS, log_records
from .status import read_status

DB_NAME = "results.sqlite"
FIXED_COLUMNS = [("name", "TEXT PRIMARY KEY"), ("status", "TEXT"), ("objective", "TEXT"), ("dataset", "TEXT"),
                 ("seed", "INTEGER"), ("hyperparameters", "TEXT"), ("config", "TEXT"), ("run_dir", "TEXT"),
                 ("attempts", "INTEGER"), ("wall_s", "REAL"), ("steps", "INTEGER"), ("started_at", "REAL"),
                 ("finished_at", "REAL"), ("error", "TEXT"), ("metrics_json", "TEXT")]
SKIPPED_GROUPS = ("timings_s", "sizes")


def _quote(name):
    return '"' + str(name).replace('"', '""') + '"'


def _scalar(value):
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    return None


def flatten_metrics(metrics, prefix=""):
    """Scalar leaves of a nested metrics dict as {"group.key": float}; lists are left out, except
    ``kl_per_dim``, summed into ``kl_total``."""
    out = {}
    for key, value in (metrics or {}).items():
        if not prefix and key in SKIPPED_GROUPS:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_metrics(value, name + "."))
        elif isinstance(value, (int, float)) or value is None:
            out[name] = _scalar(value)  # None for NaN/inf or a score that could not be computed
        elif not prefix and key == "kl_per_dim" and isinstance(value, list) and value:
            finite = [v for v in value if isinstance(v, (int, float)) and math.isfinite(v)]
            out["kl_total"] = float(sum(finite)) if len(finite) == len(value) else None
    return out


def last_log_terms(run_dir):
    """The scalar terms of the last line of the run's ``log.jsonl`` as ``train.<term>``."""
    try:
        records = log_records(Path(run_dir) / LOG)
    except (OSError, ValueError):
        return {}
    record = records[-1] if records else {}
    return {f"train.{k}": _scalar(v) for k, v in record.items() if k != "time_s" and _scalar(v) is not None}


class ResultsDB:
    """The ``runs`` table of ``SWEEP_DIR/results.sqlite``."""

    def __init__(self, sweep_dir):
        self.path = Path(sweep_dir) / DB_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=60)
        self.conn.execute(f"CREATE TABLE IF NOT EXISTS runs ({', '.join(f'{n} {t}' for n, t in FIXED_COLUMNS)})")
        self.conn.commit()
        self._columns = self._existing_columns()

    def _existing_columns(self):
        return {row[1] for row in self.conn.execute("PRAGMA table_info(runs)")}

    def _ensure_columns(self, names):
        for name in names:
            if name not in self._columns:
                self.conn.execute(f"ALTER TABLE runs ADD COLUMN {_quote(name)}")
                self._columns.add(name)

    def _write(self, values):
        self._ensure_columns(values)
        names = list(values)
        updates = ", ".join(f"{_quote(n)}=excluded.{_quote(n)}" for n in names if n != "name")
        self.conn.execute(f"INSERT INTO runs ({', '.join(map(_quote, names))}) VALUES "
                          f"({', '.join('?' * len(names))}) ON CONFLICT(name) DO UPDATE SET {updates}",
                          [values[n] for n in names])
        self.conn.commit()

    @staticmethod
    def _identity(run):
        values = {"name": run.name, "objective": run.objective, "dataset": run.dataset, "seed": run.seed,
                  "hyperparameters": json.dumps(run.hyperparameters, sort_keys=True),
                  "config": json.dumps(run.config, sort_keys=True), "run_dir": str(run.run_dir)}
        for key, value in run.hyperparameters.items():
            values[f"hp.{key}"] = value if isinstance(value, (int, float, str)) else json.dumps(value)
        return values

    def upsert(self, run, status, attempts=None, error=None, wall_s=None):
        values = {**self._identity(run), "status": status, "error": error}
        if attempts is not None:
            values["attempts"] = attempts
        if wall_s is not None:
            values["wall_s"] = wall_s
        if status == "running":
            values["started_at"] = time.time()
        self._write(values)

    def _metrics_values(self, run):
        run_dir = Path(run.run_dir)
        values = {}
        try:
            metrics = json.loads((run_dir / METRICS).read_text())
        except (OSError, ValueError):
            metrics = None
        if metrics is not None:
            values.update(flatten_metrics(metrics))
            values["metrics_json"] = json.dumps(metrics)
        values.update(last_log_terms(run_dir))
        with_steps = values.get("train.step")
        if with_steps is not None:
            values["steps"] = int(with_steps)
            del values["train.step"]
        return values

    def record_result(self, run, result, attempts):
        """A run's final result (done, failed or interrupted) with its metrics when present."""
        values = {**self._identity(run), "status": result["status"], "attempts": attempts,
                  "wall_s": result.get("wall_s"), "finished_at": result.get("finished_at") or time.time(),
                  "error": result.get("error")}
        if result["status"] == "done":
            values.update(self._metrics_values(run))
        self._write(values)

    def record_finished_run(self, run):
        """(Re)write the row of a run that its run dir says is done (e.g. after the sweep was killed)."""
        status = read_status(run.run_dir) or {}
        existing = self.conn.execute("SELECT status, attempts FROM runs WHERE name = ?", (run.name,)).fetchone()
        if existing and existing[0] == "done":
            return
        values = {**self._identity(run), "status": "done", "attempts": (existing[1] if existing else None) or 1,
                  "wall_s": status.get("wall_s"), "started_at": status.get("started_at"),
                  "finished_at": status.get("finished_at"), "error": None}
        values.update(self._metrics_values(run))
        self._write(values)

    def rows(self):
        return _rows(self.conn)

    def close(self):
        self.conn.close()


def _rows(conn):
    cursor = conn.execute("SELECT * FROM runs ORDER BY name")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def load_results(sweep_dir):
    """The rows of ``SWEEP_DIR/results.sqlite`` as dicts, one per run, sorted by name.

    Each has the table's columns (flattened metrics as ``"mig.discrete_mig"`` etc., None where a run
    has no value) plus ``hyperparameters`` and ``config`` parsed from JSON and ``metrics`` (the whole
    metrics.json as a dict, or None).
    """
    path = Path(sweep_dir) / DB_NAME
    if not path.is_file():
        raise PyroVAEError(f"{sweep_dir} holds no {DB_NAME}: is it a sweep dir (pyrovae sweep SPEC --out DIR)?")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
    try:
        rows = _rows(conn)
    except sqlite3.DatabaseError as e:
        raise PyroVAEError(f"{path} is not a readable results table ({e})") from None
    finally:
        conn.close()
    for row in rows:
        row["hyperparameters"] = json.loads(row["hyperparameters"] or "{}")
        row["config"] = json.loads(row["config"] or "{}")
        row["metrics"] = json.loads(row.pop("metrics_json")) if row.get("metrics_json") else None
    return rows


def metric_columns(rows):
    """Names of the metric columns that hold a value in at least one row (table order)."""
    fixed = {n for n, _ in FIXED_COLUMNS} | {"metrics", "hyperparameters", "config"}
    names = []
    for row in rows:
        for key, value in row.items():
            if key not in fixed and not key.startswith("hp.") and value is not None and key not in names \
                    and isinstance(value, (int, float)):
                names.append(key)
    return names

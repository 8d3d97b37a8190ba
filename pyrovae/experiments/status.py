"""A sweep run's status file, ``RUN_DIR/sweep_status.json``: running / done / failed / interrupted, its
wall-clock time and its error. Beside it, ``sweep.log`` holds what the run wrote.

Imports no other module of :mod:`pyrovae.experiments`: the results table, the workers and the sweep all
read the status through this module.
"""
import json
from pathlib import Path

from ..atomic import write_json
from ..errors import PyroVAEError
from ..train.rundir import METRICS, RUNTIME_KEYS, changed_keys, read_config

STATUS_FILE = "sweep_status.json"
RUN_LOG = "sweep.log"
# Config keys that do not change what a finished run computed: how it ran, and where its run dir is (a
# finished run asked for more steps or another evaluation is continued, not skipped)
IGNORED_WHEN_FINISHED = RUNTIME_KEYS | {"out"}


def read_status(run_dir):
    """The run's status record, or None when it has none (or it is unreadable)."""
    try:
        return json.loads((Path(run_dir) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None


def write_status(run_dir, **record):
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    write_json(Path(run_dir) / STATUS_FILE, record)


def is_finished(run_dir, config=None):
    """Done means: the status file says done, metrics.json exists (when the run evaluates) and the
    run's saved config is the one asked for (a spec with more steps continues the run instead)."""
    status = read_status(run_dir)
    if not status or status.get("status") != "done":
        return False
    has_metrics = (Path(run_dir) / METRICS).is_file()
    if config is None:
        return has_metrics
    if config.get("evaluate", True) and not has_metrics:
        return False
    try:
        saved = read_config(run_dir)
    except PyroVAEError:  # no config.json or a corrupt one: the run must be redone
        return False
    # None values in ``config`` (e.g. a step budget left to the device) are not compared
    return changed_keys(saved, {k: v for k, v in config.items() if v is not None}, IGNORED_WHEN_FINISHED) == []

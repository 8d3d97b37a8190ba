"""Sweeps: objectives × hyperparameter grids × datasets × seeds, each a normal run (:mod:`.spec` describes
the YAML spec).

Every run goes to ``SWEEP_DIR/runs/<name>`` and is trained, plotted and evaluated by
:func:`pyrovae.experiments.job.run_job` like any other run (config.json, log.jsonl, checkpoint.pt,
plots, metrics.json). Beside it, ``sweep_status.json`` records the run's status (running / done /
failed / interrupted), its wall-clock time and its error, and ``sweep.log`` holds what the run wrote
(:mod:`.status`). ``SWEEP_DIR/results.sqlite`` (:mod:`.results`) has one row per run, updated as each
run ends.

Running a sweep again continues it: runs that are done (status done, metrics.json present and the
same config) are skipped, interrupted ones resume from their checkpoint, and failed ones are tried
again. A spec whose ``steps`` grew continues its finished runs to the new budget; a change that a run
cannot be resumed with (say ``lr``) fails that run with fit's message. A run that raises is retried
``retries`` times (resuming from its last good checkpoint) and then recorded as failed with its error;
it is never dropped.

Backends (:mod:`.backends`): ``local`` (default) runs ``workers`` processes; with several GPUs each
worker owns one (leave ``device`` at auto or cuda). Ctrl-C or SIGTERM stops the sweep: each running run
saves a checkpoint and is marked interrupted; if the sweep process is killed outright, its workers get
SIGTERM (Linux) and do the same. ``ray`` submits each run as a Ray task to the cluster at ``address``
(or a local Ray, or the one already initialised) — ``pip install 'pyrovae[ray]'``; the sweep dir must
then be on a file system every node sees (a task takes relative paths from the sweep process's dir).

Progress lines go to ``echo`` (default: this module's logger; the CLI prints them).
"""
import contextlib
import logging
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no lock
    fcntl = None

from ..errors import PyroVAEError
from .backends import BACKENDS
from .results import DB_NAME, ResultsDB
from .spec import load_plan, write_plan
from .status import is_finished

SPEC_COPY = "spec.yaml"
logger = logging.getLogger(__name__)


def _runs(n):
    return f"{n} run" if n == 1 else f"{n} runs"


@contextlib.contextmanager
def _sweep_lock(sweep_dir):
    """One sweep process per sweep dir at a time (an advisory lock, released if the process dies)."""
    if fcntl is None:
        yield
        return
    handle = open(Path(sweep_dir) / ".lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise PyroVAEError(f"another sweep process is running in {sweep_dir}: wait for it or stop it first") from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def run_sweep(spec_path, sweep_dir=None, workers=None, backend="local", address=None, retries=1,
              echo=logger.info, plan=None):
    """Run (or continue) the sweep of ``spec_path``; returns the list of final result rows.

    Raises :class:`PyroVAEError` at the end if any run failed after its retries (the rows, with the
    errors, are in ``results.sqlite`` all the same).
    """
    if plan is None:
        plan = load_plan(spec_path, sweep_dir)
    if backend not in BACKENDS:
        raise PyroVAEError(f"unknown backend {backend!r}: use {' or '.join(BACKENDS)}")
    if retries is None or retries < 0:
        raise PyroVAEError(f"--retries must be >= 0, got {retries}")
    if workers is not None and workers < 1:
        raise PyroVAEError(f"--workers must be >= 1, got {workers}")
    sweep_dir = plan.sweep_dir
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with _sweep_lock(sweep_dir):
        if spec_path is not None:
            (sweep_dir / SPEC_COPY).write_text(Path(spec_path).read_text())
        write_plan(plan)
        db = ResultsDB(sweep_dir)
        todo = []
        for run in plan.runs:
            if is_finished(run.run_dir, run.config):
                db.record_finished_run(run)  # the row may be missing if the sweep process was killed
            else:
                db.upsert(run, status="pending", attempts=0, error=None)
                todo.append(run)
        done_before = len(plan.runs) - len(todo)
        echo(f"sweep {plan.name}: {_runs(len(plan.runs))} in {sweep_dir} "
             f"({done_before} done before, {len(todo)} to run)")
        if todo:
            BACKENDS[backend](plan, todo, db, workers, retries, address, echo)
        rows = db.rows()
        db.close()
    failed = [r for r in rows if r["status"] == "failed" and r["name"] in {x.name for x in plan.runs}]
    if failed:
        for r in failed:
            echo(f"FAILED {r['name']} after {r['attempts']} attempt(s): {r['error']}")
        raise PyroVAEError(f"{len(failed)} of {len(plan.runs)} runs failed (errors above and in "
                           f"{sweep_dir / DB_NAME}); run the sweep again to retry them")
    echo(f"sweep {plan.name}: {_runs(len(plan.runs))} done; results in {sweep_dir / DB_NAME}")
    return rows


def describe_plan(plan):
    """Lines listing the runs of a plan (``pyrovae sweep --dry-run``)."""
    lines = [f"sweep {plan.name}: {_runs(len(plan.runs))} into {plan.sweep_dir}/runs/"]
    for run in plan.runs:
        state = "done" if is_finished(run.run_dir, run.config) else "to run"
        lines.append(f"  {run.name}  [{state}]")
    return lines

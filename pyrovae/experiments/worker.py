"""One run of a sweep in a worker process or a Ray task: :func:`run_task` trains and evaluates it
(:func:`~pyrovae.experiments.job.run_job`), writes its status file and its ``sweep.log``, and never
raises."""
import contextlib
import ctypes
import logging
import os
import signal
import threading
import time
import traceback
from pathlib import Path

from ..errors import PyroVAEError
from ..evaluation import format_table
from .job import run_job
from .spec import import_plugins
from .status import RUN_LOG, write_status

# a local worker's view of its sweep process: its pid, and whether a run is in progress
_WORKER = {"parent": None, "busy": False}


def _watch_parent(period=1.0):
    """Stop this worker when the sweep process is gone (killed outright): an idle worker exits, a busy
    one gets SIGTERM, which fit turns into a checkpoint and a stop; :func:`run_task` then exits."""
    warned = False
    while True:
        time.sleep(period)
        if os.getppid() == _WORKER["parent"]:
            continue
        if not _WORKER["busy"]:
            os._exit(0)
        if not warned:
            warned = True
            os.kill(os.getpid(), signal.SIGTERM)


def worker_init(gpu_queue, threads):
    """Pin this worker to one GPU (taken from ``gpu_queue``) and ``threads`` CPU threads, and make it stop
    (SIGTERM: checkpoint, then exit) when the sweep process dies."""
    if gpu_queue is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu_queue.get())
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
        os.environ["MKL_NUM_THREADS"] = str(threads)
    _WORKER["parent"] = os.getppid()
    with contextlib.suppress(Exception):  # Linux: SIGTERM at once when the parent dies
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    threading.Thread(target=_watch_parent, daemon=True, name="pyrovae-watch-parent").start()
    # Ctrl-C reaches the workers too (same process group): fit turns it into a checkpoint and a stop.


def run_task(task):
    """Train and evaluate one run; never raises: returns {status, error, wall_s, ...}.

    ``task``: {"name", "config", "resume", "imports", "threads", "attempt", "cwd"}; relative paths in the
    config are taken from ``cwd`` (the sweep process's dir). What the run logs, its metric table and any
    traceback go to its ``sweep.log``; its status to ``sweep_status.json``.
    """
    _WORKER["busy"] = True
    try:
        return _run_task(task)
    finally:
        _WORKER["busy"] = False
        if _WORKER["parent"] is not None and os.getppid() != _WORKER["parent"]:
            os._exit(0)  # the sweep process is gone: nobody will read the result


@contextlib.contextmanager
def _logged_to(log):
    """pyrovae's log lines, the standard output and the standard error of the run go to ``log``."""
    logger = logging.getLogger("pyrovae")
    handler = logging.StreamHandler(log)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _run_task(task):
    run_dir, cwd = Path(task["config"]["out"]), task.get("cwd")
    # a Ray worker starts in its node's own dir: relative paths (the run dir, a dataset's) are the sweep's
    if cwd and os.path.isdir(cwd):
        os.chdir(cwd)
    elif cwd and not run_dir.is_absolute():  # it would write the run where the sweep never looks
        return {"name": task["name"], "status": "failed", "wall_s": 0.0, "traceback": None,
                "error": f"the sweep's dir {cwd} (its --out {run_dir} is relative to it) is not on this node: "
                         "start the sweep in a dir every node sees, or give --out an absolute path"}
    run_dir.mkdir(parents=True, exist_ok=True)
    start = time.time()
    record = {"name": task["name"], "status": "running", "attempt": task.get("attempt", 1), "started_at": start,
              "pid": os.getpid(), "host": os.uname().nodename if hasattr(os, "uname") else None}
    write_status(run_dir, **record)
    if task.get("threads"):
        os.environ["OMP_NUM_THREADS"] = str(task["threads"])
    result = {"name": task["name"], "status": "failed", "error": None, "traceback": None}
    with open(run_dir / RUN_LOG, "a") as log, _logged_to(log):
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} attempt {record['attempt']} "
                  f"(resume={task.get('resume', False)}) pid {os.getpid()}\n")
        log.flush()
        try:
            import_plugins(task.get("imports"))
            _, metrics = run_job(task["config"], resume=task.get("resume", False), progress=False)
            if metrics is not None:
                log.write(format_table(metrics) + "\n")
            result["status"] = "done"
        except BaseException as e:  # noqa: BLE001 - a run's failure is data, not a crash of the sweep
            interrupted = isinstance(e, KeyboardInterrupt) or (
                isinstance(e, PyroVAEError) and str(e).startswith("interrupted"))
            result["status"] = "interrupted" if interrupted else "failed"
            result["error"] = f"{type(e).__name__}: {e}".strip().splitlines()[0][:1000] if str(e) else type(e).__name__
            result["traceback"] = traceback.format_exc()
            log.write(result["traceback"] + "\n")
        log.flush()
    result["wall_s"] = round(time.time() - start, 3)
    result["finished_at"] = time.time()
    write_status(run_dir, **{**record, "status": result["status"], "wall_s": result["wall_s"],
                             "finished_at": result["finished_at"], "error": result["error"]})
    return result

"""Sweeps: objectives × hyperparameter grids × datasets × seeds, each a normal run trained by :func:`fit`.

A sweep is described by a YAML spec::

    base:                       # any TrainConfig field, shared by every run
      steps: 22260              # or a named budget: thesis (22,260) or study (300,000)
      batch_size: 64
      lr: 1.0e-4
    objectives:
      - objective: beta-vae
        hyperparameters: {beta: [1, 3, 10, 30]}      # lists expand as a product; scalars are fixed
      - objective: factor-vae
        hyperparameters: {gamma: [5, 10, 25, 50, 100]}
        config: {lr: 1.0e-4}                          # optional TrainConfig overrides for this objective
    seeds: 10                   # an int n (seeds 0..n-1) or a list
    datasets: [dsprites]        # names or paths; an entry may be {dataset: NAME, config: {...overrides}}
    imports: []                 # optional: modules or .py files (relative to the spec) imported before
                                # anything else, e.g. to register a dataset or an objective

An objective entry may also give its own ``seeds`` and ``datasets`` instead of the sweep's.

Every combination becomes a run dir ``SWEEP_DIR/runs/<name>`` with a stable, readable name, e.g.
``beta-vae_beta=4_dsprites_seed0``, written by :func:`pyrovae.train.fit` as any other run (config.json,
log.jsonl, checkpoint.pt, plots, metrics.json). Beside it, ``sweep_status.json`` records the run's
status (running / done / failed / interrupted), its wall-clock time and its error, and ``sweep.log``
holds what the run printed. ``SWEEP_DIR/results.sqlite`` (see :mod:`pyrovae.experiments.results`) has
one row per run, updated as each run ends.

Running a sweep again continues it: runs that are done (status done, metrics.json present and the
same config) are skipped, interrupted ones resume from their checkpoint (``fit(..., resume=True)``),
and failed ones are tried again. A spec whose ``steps`` grew continues its finished runs to the new
budget; a change that a run cannot be resumed with (say ``lr``) fails that run with fit's message. A run that raises is retried ``retries`` times (resuming from its last good checkpoint) and
then recorded as failed with its error; it is never dropped.

Backends: ``local`` (default) runs ``workers`` processes (``ProcessPoolExecutor``, spawn context); with
several GPUs each worker owns one (``CUDA_VISIBLE_DEVICES``; leave ``device`` at auto or cuda), and each
worker gets ``cores // workers`` torch threads (``OMP_NUM_THREADS`` when set). Ctrl-C or SIGTERM stops the sweep: each running run saves
a checkpoint and is marked interrupted; if the sweep process is killed outright, its workers get SIGTERM
(Linux) and do the same. ``ray`` submits each run as a Ray task to the cluster at ``address`` (or a local Ray, or
the one already initialised) — ``pip install 'pyrovae[ray]'``; the sweep dir must then be on a file
system every node sees.
"""
import concurrent.futures
import contextlib
import dataclasses
import importlib
import importlib.util
import itertools
import json
import multiprocessing
import os
import re
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PyroVAEError

SPEC_KEYS = {"name", "base", "objectives", "seeds", "datasets", "imports"}
OBJECTIVE_KEYS = {"objective", "hyperparameters", "config", "seeds", "datasets"}
DATASET_KEYS = {"dataset", "path", "config"}
# TrainConfig fields the sweep sets itself for every run, and where they go instead
SWEEP_SET = {"objective": "objectives: [{objective: NAME, ...}]", "objective_options": "an objective's hyperparameters",
             "out": "the sweep's --out (each run goes to SWEEP_DIR/runs/<name>)"}
STATUS_FILE = "sweep_status.json"
RUN_LOG = "sweep.log"
SPEC_COPY = "spec.yaml"
PLAN = "sweep.json"


@dataclass
class RunSpec:
    """One run of a sweep: its name and the full TrainConfig dict (``out`` set to its run dir)."""
    name: str
    objective: str
    hyperparameters: dict
    dataset: str
    seed: int
    config: dict = field(repr=False)

    @property
    def run_dir(self):
        return Path(self.config["out"])


@dataclass
class SweepPlan:
    name: str
    sweep_dir: Path
    runs: list
    imports: list
    spec: dict = field(repr=False)


# ---- the spec ------------------------------------------------------------------------------------
def import_plugins(imports):
    """Import each module name or ``.py`` file (a plugin that registers datasets or objectives)."""
    for item in imports or ():
        item = str(item)
        if item.endswith(".py") or os.sep in item:
            path = Path(item)
            if not path.is_file():
                raise PyroVAEError(f"imports: {item} is not a file")
            module_name = "pyrovae_plugin_" + re.sub(r"\W", "_", path.stem)
            if module_name in sys.modules:
                continue
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as e:
                del sys.modules[module_name]
                raise PyroVAEError(f"imports: {item} failed to import: {type(e).__name__}: {e}") from None
        else:
            try:
                importlib.import_module(item)
            except ImportError as e:
                raise PyroVAEError(f"imports: cannot import {item!r} ({e})") from None


def read_spec(path):
    """The YAML spec at ``path`` as a dict (one-line errors for a missing or malformed file)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise PyroVAEError(f"sweep spec {path} does not exist")
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise PyroVAEError(f"{path} is not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    if not isinstance(spec, dict):
        raise PyroVAEError(f"{path} must hold a mapping with keys {', '.join(sorted(SPEC_KEYS))}")
    return spec


def _unknown(keys, allowed, where):
    unknown = sorted(set(keys) - set(allowed))
    if unknown:
        raise PyroVAEError(f"unknown key(s) {', '.join(unknown)} in {where}; allowed: {', '.join(sorted(allowed))}")


def _as_list(value, what):
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if not value:
            raise PyroVAEError(f"{what} is an empty list")
        return list(value)
    return [value]


def _seeds(value, where):
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise PyroVAEError(f"{where}: seeds must be a positive count or a list of integers, got {value}")
        return list(range(value))
    seeds = _as_list(value, f"{where}: seeds")
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise PyroVAEError(f"{where}: seeds must be non-negative integers, got {seeds}")
    if len(set(seeds)) != len(seeds):
        raise PyroVAEError(f"{where}: seeds repeat: {seeds}")
    return seeds


def _datasets(value, where):
    """[(dataset name, {config overrides})]"""
    if value is None:
        return None
    out = []
    for item in _as_list(value, f"{where}: datasets"):
        if isinstance(item, str):
            out.append((item, {}))
        elif isinstance(item, dict):
            _unknown(item, DATASET_KEYS, f"{where}: a datasets entry")
            if "dataset" not in item:
                raise PyroVAEError(f"{where}: a datasets entry needs a 'dataset' key: {item}")
            overrides = dict(item.get("config") or {})
            if item.get("path") is not None:
                overrides["path"] = item["path"]
            out.append((str(item["dataset"]), overrides))
        else:
            raise PyroVAEError(f"{where}: a datasets entry must be a name, a path or a mapping, got {item!r}")
    return out


def _check_config_keys(values, where):
    from ..train.config import TrainConfig

    if not isinstance(values, dict):
        raise PyroVAEError(f"{where} must be a mapping of TrainConfig fields")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for key in values:
        if key in SWEEP_SET:
            raise PyroVAEError(f"{where}: {key} is set by the sweep for each run: give it in {SWEEP_SET[key]}")
    _unknown(values, fields, where)
    if "seed" in values and where != "base":
        raise PyroVAEError(f"{where}: give seeds as 'seeds: [...]', not as a config seed")
    return dict(values)


def _grid(hyperparameters, where):
    """The product of the list-valued hyperparameters (scalars fixed): a list of dicts in spec order."""
    if hyperparameters is None:
        return [{}]
    if not isinstance(hyperparameters, dict):
        raise PyroVAEError(f"{where}: hyperparameters must be a mapping name -> value or list of values")
    keys = list(hyperparameters)
    values = [_as_list(hyperparameters[k], f"{where}: hyperparameter {k}") for k in keys]
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


def _format_value(value):
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:g}"
    return str(value)


def _slug(text):
    return re.sub(r"[^A-Za-z0-9.=+-]+", "-", str(text)).strip("-") or "x"


def dataset_label(dataset):
    """A short name for a dataset: the registered name, or a data file's stem."""
    from ..data import DATASETS

    return dataset if dataset in DATASETS else Path(dataset).stem or str(dataset)


def run_name(objective, hyperparameters, dataset, seed):
    """``<objective>_<k=v>..._<dataset>_seed<seed>``: stable, readable, safe as a folder name."""
    parts = [_slug(objective)]
    parts += [_slug(f"{k}={_format_value(v)}") for k, v in sorted(hyperparameters.items())]
    parts += [_slug(dataset_label(dataset)), f"seed{seed}"]
    return "_".join(parts)


def expand_spec(spec, sweep_dir, spec_path=None):
    """Check ``spec`` (a dict) and expand it into a :class:`SweepPlan` of :class:`RunSpec`.

    Imports the spec's plugins first, then checks every objective name, hyperparameter name and
    TrainConfig key (one-line :class:`PyroVAEError` naming the culprit), and builds each run's
    objective and config once so that a bad value fails here, not hours into the sweep.
    """
    from ..objectives import OBJECTIVES, make_objective
    from ..objectives.registry import PYRO_OPTIONS
    from ..train.config import TrainConfig, parse_steps

    if not isinstance(spec, dict):
        raise PyroVAEError("a sweep spec must be a mapping")
    _unknown(spec, SPEC_KEYS, "the sweep spec")
    base_dir = Path(spec_path).resolve().parent if spec_path else Path.cwd()
    imports = []
    for item in _as_list(spec.get("imports"), "imports") or []:
        item = str(item)
        if item.endswith(".py") or "/" in item:
            path = Path(item)
            imports.append(str(path if path.is_absolute() else (base_dir / path).resolve()))
        else:
            imports.append(item)
    import_plugins(imports)

    base = _check_config_keys(spec.get("base") or {}, "base")
    seeds = _seeds(spec.get("seeds"), "the sweep spec") or [int(base.get("seed", TrainConfig.seed))]
    datasets = _datasets(spec.get("datasets"), "the sweep spec") or [(base.get("dataset", TrainConfig.dataset), {})]
    entries = spec.get("objectives")
    if not entries:
        raise PyroVAEError("the sweep spec names no objectives: add 'objectives: [{objective: beta-vae, "
                           "hyperparameters: {beta: [1, 4]}}]'")
    if not isinstance(entries, list):
        raise PyroVAEError("objectives must be a list of {objective: NAME, hyperparameters: {...}} entries")
    sweep_dir = Path(sweep_dir)
    runs, names = [], {}
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = {"objective": entry}
        if not isinstance(entry, dict) or "objective" not in entry:
            raise PyroVAEError(f"objectives[{i}] must be a mapping with an 'objective' key, got {entry!r}")
        where = f"objectives[{i}] ({entry['objective']})"
        _unknown(entry, OBJECTIVE_KEYS, where)
        name = entry["objective"]
        if name not in OBJECTIVES:
            raise PyroVAEError(f"{where}: unknown objective {name!r}; choose one of {', '.join(sorted(OBJECTIVES))}")
        accepted = set(OBJECTIVES[name].hyperparameters) | PYRO_OPTIONS
        grid = _grid(entry.get("hyperparameters"), where)
        _unknown(grid[0], accepted, f"{where} hyperparameters")
        overrides = _check_config_keys(entry.get("config") or {}, f"{where} config")
        for options in grid:
            try:
                make_objective(name, jit={**base, **overrides}.get("jit") is True, **options)
            except PyroVAEError as e:
                raise PyroVAEError(f"{where}: {e}") from None
            except Exception as e:  # a constructor's own check (TypeError, ValueError, ...)
                raise PyroVAEError(f"{where}: hyperparameters {options} are invalid: {type(e).__name__}: {e}") from None
            for dataset, dataset_overrides in (_datasets(entry.get("datasets"), where) or datasets):
                for seed in (_seeds(entry.get("seeds"), where) or seeds):
                    rname = run_name(name, options, dataset, seed)
                    if rname in names:
                        raise PyroVAEError(f"two runs of the sweep would share the name {rname} "
                                           f"({names[rname]} and {where}): make the entries differ in "
                                           "objective, hyperparameters, dataset or seed")
                    names[rname] = where
                    config = {**base, **dataset_overrides, **overrides, "dataset": dataset, "objective": name,
                              "objective_options": dict(options), "seed": int(seed),
                              "out": str(sweep_dir / "runs" / rname)}
                    try:
                        if "steps" in config:  # a count, or a named budget: thesis, study
                            config["steps"] = parse_steps(config["steps"])
                        TrainConfig.from_dict(config).validate()
                    except PyroVAEError as e:
                        raise PyroVAEError(f"{where}: {e}") from None
                    runs.append(RunSpec(rname, name, dict(options), dataset, int(seed), config))
    label = str(spec.get("name") or (Path(spec_path).stem if spec_path else sweep_dir.name))
    return SweepPlan(label, sweep_dir, runs, imports, spec)


def load_plan(spec_path, sweep_dir=None):
    """Read and expand the spec at ``spec_path``; the sweep dir defaults to ``sweeps/<spec stem>``."""
    spec = read_spec(spec_path)
    sweep_dir = Path(sweep_dir) if sweep_dir else Path("sweeps") / Path(spec_path).stem
    return expand_spec(spec, sweep_dir, spec_path)


# ---- one run (in a worker process or a Ray task) -----------------------------------------------
def read_status(run_dir):
    path = Path(run_dir) / STATUS_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# config keys that do not change what a finished run computed
# (precision and jit, like device, change how a run computes, and a run may be resumed with others)
IRRELEVANT_CHANGES = {"out", "device", "plots", "log_every", "checkpoint_every", "precision", "jit"}


def changed_keys(run_dir, config):
    """Keys of ``config`` that differ from the run's saved config.json (None values in ``config``, e.g. a
    step budget left to the device, are not compared)."""
    try:
        saved = json.loads((Path(run_dir) / "config.json").read_text())["config"]
    except (OSError, ValueError, KeyError):
        return None
    return sorted(k for k, v in config.items()
                  if k not in IRRELEVANT_CHANGES and v is not None and saved.get(k) != v)


def is_finished(run_dir, config=None):
    """Done means: the status file says done, metrics.json exists (when the run evaluates) and the
    run's saved config is the one asked for (a spec with more steps continues the run instead)."""
    status = read_status(run_dir)
    if not status or status.get("status") != "done":
        return False
    if config is None:
        return (Path(run_dir) / "metrics.json").is_file()
    if config.get("evaluate", True) and not (Path(run_dir) / "metrics.json").is_file():
        return False
    return changed_keys(run_dir, config) == []


def _write_status(run_dir, **record):
    from ..atomic import write_json

    Path(run_dir).mkdir(parents=True, exist_ok=True)
    write_json(Path(run_dir) / STATUS_FILE, record)


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


def _worker_init(gpu_queue, threads):
    """Pin this worker to one GPU (taken from ``gpu_queue``) and ``threads`` CPU threads, and make it stop
    (SIGTERM: checkpoint, then exit) when the sweep process dies."""
    import threading

    if gpu_queue is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu_queue.get())
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
        os.environ["MKL_NUM_THREADS"] = str(threads)
    _WORKER["parent"] = os.getppid()
    with contextlib.suppress(Exception):  # Linux: SIGTERM at once when the parent dies
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    threading.Thread(target=_watch_parent, daemon=True, name="pyrovae-watch-parent").start()
    # Ctrl-C reaches the workers too (same process group): fit turns it into a checkpoint and a stop.


def run_task(task):
    """Train and evaluate one run; never raises: returns {status, error, wall_s, ...}.

    ``task``: {"name", "config", "resume", "imports", "threads"}. Output of the run goes to its
    ``sweep.log``; its status to ``sweep_status.json``.
    """
    _WORKER["busy"] = True
    try:
        return _run_task(task)
    finally:
        _WORKER["busy"] = False
        if _WORKER["parent"] is not None and os.getppid() != _WORKER["parent"]:
            os._exit(0)  # the sweep process is gone: nobody will read the result


def _run_task(task):
    run_dir = Path(task["config"]["out"])
    run_dir.mkdir(parents=True, exist_ok=True)
    start = time.time()
    record = {"name": task["name"], "status": "running", "attempt": task.get("attempt", 1), "started_at": start,
              "pid": os.getpid(), "host": os.uname().nodename if hasattr(os, "uname") else None}
    _write_status(run_dir, **record)
    if task.get("threads"):
        os.environ["OMP_NUM_THREADS"] = str(task["threads"])
    result = {"name": task["name"], "status": "failed", "error": None, "traceback": None}
    with open(run_dir / RUN_LOG, "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        print(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} attempt {record['attempt']} "
              f"(resume={task.get('resume', False)}) pid {os.getpid()}", flush=True)
        try:
            import_plugins(task.get("imports"))
            from ..evaluation import evaluate_run
            from ..plots import plot_run
            from ..train import fit

            run = fit(task["config"], resume=task.get("resume", False), progress=False)
            if run.config.plots:
                plot_run(run)
            if run.config.evaluate:
                evaluate_run(run)
            result["status"] = "done"
        except BaseException as e:  # noqa: BLE001 - a run's failure is data, not a crash of the sweep
            interrupted = isinstance(e, KeyboardInterrupt) or (
                isinstance(e, PyroVAEError) and str(e).startswith("interrupted"))
            result["status"] = "interrupted" if interrupted else "failed"
            result["error"] = f"{type(e).__name__}: {e}".strip().splitlines()[0][:1000] if str(e) else type(e).__name__
            result["traceback"] = traceback.format_exc()
            print(result["traceback"], flush=True)
    result["wall_s"] = round(time.time() - start, 3)
    result["finished_at"] = time.time()
    _write_status(run_dir, **{**record, "status": result["status"], "wall_s": result["wall_s"],
                              "finished_at": result["finished_at"], "error": result["error"]})
    return result


# ---- the sweep -----------------------------------------------------------------------------------
def _gpu_count():
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001
        return 0


def _uses_cuda(plan):
    return any(str(r.config.get("device", "auto")) not in ("cpu",) for r in plan.runs)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _sweep_lock(sweep_dir):
    """One sweep process per sweep dir at a time (an advisory lock, released if the process dies)."""
    try:
        import fcntl
    except ImportError:  # not POSIX
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
              echo=print, plan=None):
    """Run (or continue) the sweep of ``spec_path``; returns the list of final result rows.

    Raises :class:`PyroVAEError` at the end if any run failed after its retries (the rows, with the
    errors, are in ``results.sqlite`` all the same).
    """
    from . import results as results_db

    if plan is None:
        plan = load_plan(spec_path, sweep_dir)
    if backend not in ("local", "ray"):
        raise PyroVAEError(f"unknown backend {backend!r}: use local or ray")
    if retries is None or retries < 0:
        raise PyroVAEError(f"--retries must be >= 0, got {retries}")
    if workers is not None and workers < 1:
        raise PyroVAEError(f"--workers must be >= 1, got {workers}")
    sweep_dir = plan.sweep_dir
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with _sweep_lock(sweep_dir):
        if spec_path is not None:
            (sweep_dir / SPEC_COPY).write_text(Path(spec_path).read_text())
        from ..atomic import write_json

        write_json(sweep_dir / PLAN, {"name": plan.name, "imports": plan.imports, "spec": plan.spec,
                                      "runs": [{"name": r.name, "objective": r.objective,
                                                "hyperparameters": r.hyperparameters, "dataset": r.dataset,
                                                "seed": r.seed, "config": r.config} for r in plan.runs]})
        db = results_db.ResultsDB(sweep_dir)
        todo = []
        for run in plan.runs:
            if is_finished(run.run_dir, run.config):
                db.record_finished_run(run)  # the row may be missing if the sweep process was killed
            else:
                db.upsert(run, status="pending", attempts=0, error=None)
                todo.append(run)
        done_before = len(plan.runs) - len(todo)
        echo(f"sweep {plan.name}: {len(plan.runs)} runs in {sweep_dir} "
             f"({done_before} done before, {len(todo)} to run)")
        if todo:
            runner = _run_local if backend == "local" else _run_ray
            runner(plan, todo, db, workers=workers, retries=retries, address=address, echo=echo)
        rows = db.rows()
        db.close()
    failed = [r for r in rows if r["status"] == "failed" and r["name"] in {x.name for x in plan.runs}]
    if failed:
        for r in failed:
            echo(f"FAILED {r['name']} after {r['attempts']} attempt(s): {r['error']}")
        raise PyroVAEError(f"{len(failed)} of {len(plan.runs)} runs failed (errors above and in "
                           f"{sweep_dir / results_db.DB_NAME}); run the sweep again to retry them")
    echo(f"sweep {plan.name}: all {len(plan.runs)} runs done; results in {sweep_dir / results_db.DB_NAME}")
    return rows


class _Scheduler:
    """Bookkeeping shared by the backends: attempts, retries, rows, progress lines."""

    def __init__(self, plan, todo, db, retries, echo, threads=None):
        self.plan, self.db, self.retries, self.echo, self.threads = plan, db, retries, echo, threads
        self.queue = list(todo)
        self.attempts = {r.name: 0 for r in todo}
        self.total, self.finished = len(todo), 0

    def next_task(self):
        run = self.queue.pop(0)
        self.attempts[run.name] += 1
        resume = run.run_dir.exists() and (run.run_dir / "config.json").exists()
        self.db.upsert(run, status="running", attempts=self.attempts[run.name], error=None)
        return run, {"name": run.name, "config": run.config, "resume": resume, "imports": self.plan.imports,
                     "threads": self.threads, "attempt": self.attempts[run.name]}

    def handle(self, run, result):
        """Record ``result``; returns True if the run goes back into the queue."""
        status = result["status"]
        if status == "failed" and self.attempts[run.name] <= self.retries:
            self.echo(f"retrying {run.name} (attempt {self.attempts[run.name]} failed: {result['error']})")
            self.db.upsert(run, status="retrying", attempts=self.attempts[run.name], error=result["error"],
                           wall_s=result.get("wall_s"))
            self.queue.insert(0, run)
            return True
        self.finished += 1
        self.db.record_result(run, result, attempts=self.attempts[run.name])
        what = f"{status} {run.name} ({result.get('wall_s') or 0:.1f} s)"
        if result.get("error"):
            what += f": {result['error']}"
        self.echo(f"[{self.finished}/{self.total}] {what}")
        return False

    def interrupted(self, runs):
        for run in runs:
            self.db.upsert(run, status="interrupted", attempts=self.attempts[run.name], error=None)
        for run in self.queue:
            self.db.upsert(run, status="pending", attempts=self.attempts[run.name], error=None)


def _run_local(plan, todo, db, workers=None, retries=1, address=None, echo=print):
    if address:
        raise PyroVAEError("--address applies to --backend ray only")
    gpus = _gpu_count() if _uses_cuda(plan) else 0
    if workers is None:
        workers = gpus if gpus > 1 else 1
    workers = min(workers, len(todo))
    ctx = multiprocessing.get_context("spawn")
    from ..utils import free_cores

    # torch threads per worker: OMP_NUM_THREADS when set (as for pyrovae train), else a share of the cores
    cores = int(os.environ.get("OMP_NUM_THREADS") or 0) or max(1, free_cores() // workers)
    sched = _Scheduler(plan, todo, db, retries, echo, threads=cores)

    def new_pool():
        queue = None
        if gpus > 0:
            queue = ctx.Queue()
            for i in range(workers):
                queue.put(i % gpus)
        return concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                                                      initargs=(queue, cores))

    pool = new_pool()
    running = {}
    try:
        with _sigterm_as_interrupt():
            while sched.queue or running:
                while sched.queue and len(running) < workers:
                    run, task = sched.next_task()
                    running[pool.submit(run_task, task)] = run
                finished, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
                broken = False
                for future in finished:
                    run = running.pop(future)
                    try:
                        result = future.result()
                    except concurrent.futures.process.BrokenProcessPool as e:
                        broken = True
                        result = {"status": "failed", "error": f"the worker process died ({e or 'killed'})",
                                  "wall_s": None}
                    except Exception as e:  # noqa: BLE001 (e.g. an unpicklable result)
                        result = {"status": "failed", "error": f"{type(e).__name__}: {e}", "wall_s": None}
                    if result["status"] == "interrupted":  # stopped by a signal: stop the sweep too
                        sched.interrupted([run])
                        raise KeyboardInterrupt
                    sched.handle(run, result)
                if broken:
                    for future, run in list(running.items()):  # every other run in the pool died with it
                        running.pop(future)
                        sched.handle(run, {"status": "failed", "error": "the worker pool broke (another run's "
                                           "process died)", "wall_s": None})
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = new_pool()
    except KeyboardInterrupt:
        echo("interrupted: stopping the runs (each saves a checkpoint); run the sweep again to continue")
        for process in list(getattr(pool, "_processes", {}).values()):
            with contextlib.suppress(Exception):
                process.terminate()  # SIGTERM: fit checkpoints and stops between two steps
        with contextlib.suppress(BaseException):
            concurrent.futures.wait(running, timeout=120)
        sched.interrupted(list(running.values()))
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _run_ray(plan, todo, db, workers=None, retries=1, address=None, echo=print):
    try:
        import ray
    except ImportError:
        raise PyroVAEError("the ray backend needs Ray: pip install 'pyrovae[ray]'") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, log_to_driver=False)
    elif address:
        echo(f"note: Ray is already initialised in this process; --address {address} is not used")
    try:
        _ray_loop(ray, plan, todo, db, workers, retries, echo)
    finally:
        if started:
            ray.shutdown()


def _ray_loop(ray, plan, todo, db, workers, retries, echo):
    resources = ray.cluster_resources()
    gpus_per_run = 1 if resources.get("GPU", 0) >= 1 and _uses_cuda(plan) else 0
    limit = workers or len(todo)
    task_fn = ray.remote(run_task).options(num_cpus=1, num_gpus=gpus_per_run, max_retries=0)
    sched = _Scheduler(plan, todo, db, retries, echo, threads=None if gpus_per_run else 1)
    running = {}
    try:
        with _sigterm_as_interrupt():
            while sched.queue or running:
                while sched.queue and len(running) < limit:
                    run, task = sched.next_task()
                    running[task_fn.remote(task)] = run
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    run = running.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as e:  # noqa: BLE001 (the task's process died)
                        result = {"status": "failed", "error": f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}",
                                  "wall_s": None}
                    sched.handle(run, result)
    except KeyboardInterrupt:
        echo("interrupted: cancelling the Ray tasks; run the sweep again to continue")
        for ref in running:
            with contextlib.suppress(Exception):
                ray.cancel(ref)
        sched.interrupted(list(running.values()))
        raise


def describe_plan(plan):
    """Lines listing the runs of a plan (``pyrovae sweep --dry-run``)."""
    lines = [f"sweep {plan.name}: {len(plan.runs)} runs into {plan.sweep_dir}/runs/"]
    for run in plan.runs:
        state = "done" if is_finished(run.run_dir, run.config) else "to run"
        lines.append(f"  {run.name}  [{state}]")
    return lines


# ---- command line --------------------------------------------------------------------------------
def add_sweep_parser(sub):
    p = sub.add_parser("sweep", help="train and evaluate a grid of runs (objectives x hyperparameters x seeds)",
                       description="Train and evaluate every run of a YAML sweep spec; run again to continue "
                                   "an interrupted sweep (finished runs are skipped).")
    p.add_argument("spec", help="the sweep spec (YAML): base, objectives, seeds, datasets (see examples/)")
    p.add_argument("--out", default=None, help="sweep dir (default: sweeps/<spec name>)")
    p.add_argument("--workers", type=int, default=None,
                   help="runs at a time (default: one per GPU when there are several, else 1)")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local worker processes, or Ray tasks (pip install 'pyrovae[ray]')")
    p.add_argument("--address", default=None, help="Ray cluster address (with --backend ray; default: a local Ray)")
    p.add_argument("--retries", type=int, default=1, help="times a crashed run is tried again (default 1)")
    p.add_argument("--dry-run", action="store_true", help="list the runs and stop")
    return p


def sweep_command(args):
    plan = load_plan(args.spec, args.out)
    if args.dry_run:
        print("\n".join(describe_plan(plan)))
        return
    run_sweep(args.spec, workers=args.workers, backend=args.backend, address=args.address, retries=args.retries,
              plan=plan, echo=lambda line: print(line, flush=True))
    print(f"report: pyrovae report {plan.sweep_dir}")

"""A sweep's spec: the YAML file, checked and expanded into a plan of runs with stable names.

A sweep is described by a YAML spec::

    base:                       # any TrainConfig field, shared by every run
      steps: 22260              # or a named budget: thesis (22,260) or study (300,000)
      batch_size: 64
      lr: 1.0e-4
      model: models/my_model.py:make_model   # optional: your own Pyro model and guide (paths relative to
      guide: guides/my_guide.py:make_guide   # the spec); every run names them, e.g. vae_model=my_model_...
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

An objective entry may also give its own ``seeds`` and ``datasets`` instead of the sweep's. Every
combination becomes a run dir ``SWEEP_DIR/runs/<name>`` with a stable, readable name, e.g.
``beta-vae_beta=4_dsprites_seed0``.
"""
import dataclasses
import importlib
import importlib.util
import itertools
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..atomic import write_json
from ..data import DATASETS
from ..errors import PyroVAEError
from ..factories import DEFAULT_FACTORY, is_factory_spec, load_factory, normalise_spec, split_spec
from ..objectives import OBJECTIVES, make_objective
from ..objectives.registry import PYRO_OPTIONS
from ..train.config import TrainConfig, parse_steps
from ..validation import check_seeds
from .summary import format_value

SPEC_KEYS = {"name", "base", "objectives", "seeds", "datasets", "imports"}
OBJECTIVE_KEYS = {"objective", "hyperparameters", "config", "seeds", "datasets"}
DATASET_KEYS = {"dataset", "path", "config"}
# TrainConfig fields the sweep sets itself for every run, and where they go instead
SWEEP_SET = {"objective": "objectives: [{objective: NAME, ...}]", "objective_options": "an objective's hyperparameters",
             "out": "the sweep's --out (each run goes to SWEEP_DIR/runs/<name>)"}
PLAN = "sweep.json"  # the expanded plan, saved in the sweep dir


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
    """A spec's ``seeds`` as a list (None when not given)."""
    if value is None:
        return None
    seeds = check_seeds(value, f"{where}: seeds")
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


def _slug(text):
    return re.sub(r"[^A-Za-z0-9.=+-]+", "-", str(text)).strip("-") or "x"


def dataset_label(dataset):
    """A short name for a dataset: the registered name, or a data file's stem."""
    return dataset if dataset in DATASETS else Path(dataset).stem or str(dataset)


def _factory_label(spec, kind):
    """``conv_vae`` for ``.../conv_vae.py:make_model``; the function too when it is not the default one."""
    path, name = split_spec(spec, kind)
    return path.stem if name == DEFAULT_FACTORY[kind] else f"{path.stem}.{name}"


def run_name(objective, hyperparameters, dataset, seed, model=None, guide=None):
    """``<objective>_<k=v>..._<dataset>_seed<seed>``: stable, readable, safe as a folder name. The user's
    own model and guide (``PATH.py:FACTORY``) add ``model=<file>`` and ``guide=<file>`` after the objective."""
    parts = [_slug(objective)]
    parts += [_slug(f"{kind}={_factory_label(spec, kind)}") for kind, spec in (("model", model), ("guide", guide))
              if is_factory_spec(spec)]
    parts += [_slug(f"{k}={format_value(v)}") for k, v in sorted(hyperparameters.items())]
    parts += [_slug(dataset_label(dataset)), f"seed{seed}"]
    return "_".join(parts)


def expand_spec(spec, sweep_dir, spec_path=None):
    """Check ``spec`` (a dict) and expand it into a :class:`SweepPlan` of :class:`RunSpec`.

    Imports the spec's plugins first, then checks every objective name, hyperparameter name and
    TrainConfig key (one-line :class:`PyroVAEError` naming the culprit), and builds each run's
    objective and config once so that a bad value fails here, not hours into the sweep.
    """
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
    runs, names, loaded = [], {}, set()
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
                components = _user_factories({**base, **dataset_overrides, **overrides}, base_dir, where, loaded)
                for seed in (_seeds(entry.get("seeds"), where) or seeds):
                    rname = run_name(name, options, dataset, seed, **components)
                    if rname in names:
                        raise PyroVAEError(f"two runs of the sweep would share the name {rname} "
                                           f"({names[rname]} and {where}): make the entries differ in "
                                           "objective, hyperparameters, dataset or seed")
                    names[rname] = where
                    config = {**base, **dataset_overrides, **overrides, **components, "dataset": dataset, "objective": name,
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


def _user_factories(config, base_dir, where, loaded):
    """The config's own model and guide factories (``PATH.py:FACTORY``) with their paths made absolute,
    relative to the spec's folder like ``imports``; each imported once here, so that a missing file or
    function fails before the sweep starts."""
    out = {}
    for kind in ("model", "guide"):
        spec = config.get(kind)
        if not is_factory_spec(spec):
            continue
        try:
            out[kind] = normalise_spec(spec, kind, base_dir)
            if out[kind] not in loaded:
                load_factory(out[kind], kind)
                loaded.add(out[kind])
        except PyroVAEError as e:
            raise PyroVAEError(f"{where}: {e}") from None
    return out


def load_plan(spec_path, sweep_dir=None):
    """Read and expand the spec at ``spec_path``; the sweep dir defaults to ``sweeps/<spec stem>``."""
    spec = read_spec(spec_path)
    sweep_dir = Path(sweep_dir) if sweep_dir else Path("sweeps") / Path(spec_path).stem
    return expand_spec(spec, sweep_dir, spec_path)


def write_plan(plan):
    """Save ``plan`` as ``SWEEP_DIR/sweep.json`` (read back by :func:`read_plan`)."""
    write_json(plan.sweep_dir / PLAN, {"name": plan.name, "imports": plan.imports, "spec": plan.spec,
                                       "runs": [{"name": r.name, "objective": r.objective,
                                                 "hyperparameters": r.hyperparameters, "dataset": r.dataset,
                                                 "seed": r.seed, "config": r.config} for r in plan.runs]})


def read_plan(sweep_dir):
    """The saved plan of a sweep dir as a dict ({} when it has none), its plugins imported."""
    path = Path(sweep_dir) / PLAN
    plan = json.loads(path.read_text()) if path.is_file() else {}
    import_plugins(plan.get("imports"))
    return plan

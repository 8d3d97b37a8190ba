"""The ``pyrovae`` command line: train, plot, evaluate, encode, sweep, report, baselines."""
import argparse
import contextlib
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from .atomic import atomic_write
from .data import DATASETS, load_dataset
from .errors import PyroVAEError
from .evaluation import METRICS, eval_sizes, evaluate_run, format_table, parse_metrics
from .experiments.baselines import BASELINES, CPU_TRAIN_STEPS, baseline_table, format_markdown, write_baselines
from .experiments.job import run_job
from .experiments.report import write_report
from .experiments.spec import load_plan
from .experiments.sweep import describe_plan, run_sweep
from .models import GUIDES, LIKELIHOODS, PRIORS
from .models.factory import component_options
from .objectives import OBJECTIVES
from .objectives.base import GENERIC_HYPERPARAMETERS
from .plots import plot_run
from .train import load_run
from .train.config import THESIS_STEPS, TrainConfig, parse_steps
from .train.rundir import METRICS as METRICS_FILE
from .train.rundir import read_config, run_dir_of
from .utils import PRECISIONS, cpu_threads, tune_malloc
from .validation import check_int


def _flag(key):
    return "--" + key.replace("_", "-")


def _shown(value):
    """A hyperparameter default as the user types it."""
    return "auto" if value is None else str(value).lower() if isinstance(value, bool) else value


def _add_objective_options(parser):
    """One help section per objective, listing its options with their defaults; each option is defined
    once: in its objective's section, or among the shared ones (its help names the objectives and
    their defaults)."""
    objectives = {name: cls for name, cls in sorted(OBJECTIVES.items()) if cls.name == name}  # no aliases
    users, helps, sections = {}, {}, {}  # option -> {objective: default}; option -> help; objective -> group
    for name, cls in objectives.items():
        for key, (default, help_text) in cls.hyperparameters.items():
            users.setdefault(key, {})[name] = default
            helps.setdefault(key, help_text)
        own = [k for k in cls.hyperparameters if k not in GENERIC_HYPERPARAMETERS]
        listed = ", ".join(f"{_flag(k)} {_shown(cls.hyperparameters[k][0])}" for k in own) or "no options of its own"
        sections[name] = parser.add_argument_group(f"--objective {name}", f"options (default): {listed}")
    shared = parser.add_argument_group("options of several objectives")
    generic = parser.add_argument_group("every objective")
    for key, defaults in users.items():
        if key in GENERIC_HYPERPARAMETERS:
            group, said = generic, _shown(next(iter(defaults.values())))
        else:
            group = sections[next(iter(defaults))] if len(defaults) == 1 else shared
            said = ", ".join(f"{obj}: {_shown(value)}" for obj, value in defaults.items())
        group.add_argument(_flag(key), dest="hp_" + key, metavar=key.upper(), default=None,
                           type=_hyperparameter_type(defaults), help=f"{helps[key]} (default {said})")


class _HelpFormatter(argparse.HelpFormatter):
    """Append TrainConfig's default to an option's help where it says something (not None, not a flag's
    True/False, not said in the help already). The parsed options carry no defaults (see _train)."""

    def _get_help_string(self, action):
        default = getattr(TrainConfig, action.dest, None)
        if default is None or isinstance(default, bool) or "default" in action.help:
            return action.help
        return f"{action.help} (default: {default})"


def _component_help(table):
    """``one of: normal, student-t (df), ...`` with each component's options, from their signatures."""
    names = [f"{name} ({', '.join(component_options(table[name]))})" if component_options(table[name]) else name
             for name in sorted(table)]
    return f"one of: {', '.join(names)}; give options as name:key=value[,key=value] (docs/models.md)"


def _add_train_parser(sub):
    # A config option left out is absent from the parsed args: it then comes from the saved run with
    # --resume, else from TrainConfig's defaults.
    p = sub.add_parser("train", help="train (and evaluate, and plot) a model",
                       formatter_class=_HelpFormatter, argument_default=argparse.SUPPRESS)
    p.add_argument("--objective", help=f"one of: {', '.join(sorted(OBJECTIVES))}")
    p.add_argument("--dataset",
                   help=f"one of: {', '.join(sorted(DATASETS))}, or the path of a .npz/.npy file or image folder")
    p.add_argument("--path", help="the official dSprites .npz (dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz) "
                   "instead of the procedural render; for shapes3d, mpi3d, smallnorb and cars3d the official file or "
                   "folder (docs/datasets.md)")
    p.add_argument("--prior", help=_component_help(PRIORS))
    p.add_argument("--guide", help=_component_help(GUIDES) + "; or your own Pyro guide, PATH.py:FACTORY")
    p.add_argument("--model", help="your own Pyro model, PATH.py:FACTORY: a function (data_shape, latent_dim) -> "
                   "torch.nn.Module whose forward(x) samples site 'z' and observes x (docs/models.md); "
                   "default: the built-in VAE of --arch, --prior and --likelihood")
    p.add_argument("--likelihood",
                   help="auto (bernoulli for binary data such as dsprites, continuous-bernoulli for data in [0, 1] "
                        "such as digits, color-dsprites and noisy-dsprites, gaussian otherwise) or "
                        + _component_help(LIKELIHOODS))
    p.add_argument("--arch", help="auto (conv for 64x64 images, else mlp), conv or mlp")
    p.add_argument("--latent-dim", type=int, help="latent dimensions")
    p.add_argument("--steps",
                   help="training steps, or a named budget: thesis (22,260 steps, the thesis budget of Mushom "
                        "2020; at batch 64 about 1.9 passes over dSprites) or study (300,000 steps, the budget of "
                        "Locatello et al. 2019). Default: thesis on a GPU; on a CPU as many steps as fit in 7.5 "
                        "minutes by the clock (config.json records them)")
    p.add_argument("--batch-size", type=int, help="batch size")
    p.add_argument("--lr", type=float, help="Adam learning rate")
    p.add_argument("--seed", type=int, help="seed of every random draw")
    p.add_argument("--device", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--out", help="run dir (default: runs/<objective>-seed<seed>)")
    p.add_argument("--resume", action="store_true", default=False,
                   help="continue the run in --out from its checkpoint, with its saved settings (options given "
                        "here must agree with them, except --steps, --device, --log-every, --checkpoint-every, "
                        "--eval-points, --tensorboard and the plot and evaluation switches)")
    p.add_argument("--checkpoint-every", type=int, help="steps between checkpoints")
    p.add_argument("--log-every", type=int, help="steps between lines of log.jsonl")
    p.add_argument("--eval-points", type=int,
                   help="training codes for the metrics (default: 10,000 on a GPU, 2,000 on a CPU)")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="skip the plots")
    p.add_argument("--no-evaluate", dest="evaluate", action="store_false", help="skip the metric suite")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=True,
                   help="no progress bar (nor, when stderr is not a terminal, progress lines)")
    p.add_argument("--precision", choices=PRECISIONS,
                   help="fp32, bf16 (networks in bf16, losses and optimiser in fp32) or auto: bf16 on a CPU "
                        "with native bf16 (AMX, AVX512-BF16), fp32 elsewhere, GPUs included (fp32 measured faster "
                        "there; default auto)")
    p.add_argument("--jit", action="store_true",
                   help="compile the loss once with torch's JIT tracer: less per-step overhead for small nets and "
                        "on GPUs (not for factor-vae, aae)")
    p.add_argument("--tensorboard", action="store_true",
                   help="also log the terms, and images at each checkpoint, to RUN_DIR/tensorboard/ "
                        "(pip install 'pyrovae[tensorboard]')")
    _add_objective_options(p)


def _hyperparameter_type(defaults):
    value = next(iter(defaults.values()))
    # a flag stays a string: the objective parses true/false and rejects anything else in one line
    return type(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str


def _train(args):
    given = {k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__}
    values = TrainConfig().to_dict()
    if args.resume:  # what was not given now is what the run was trained with
        values.update(read_config(run_dir_of(TrainConfig(**{**values, **given})), missing_ok=True) or {})
    values.update(given)
    values["steps"] = parse_steps(values["steps"])
    objective = values["objective"]
    if objective not in OBJECTIVES:
        raise PyroVAEError(f"unknown objective {objective!r}: choose one of {', '.join(sorted(OBJECTIVES))}")
    accepted = OBJECTIVES[objective].hyperparameters
    options, ignored = dict(values["objective_options"]), []
    for key, value in vars(args).items():
        if key.startswith("hp_") and value is not None:
            (options.__setitem__(key[3:], value) if key[3:] in accepted else ignored.append(key[3:]))
    if ignored:
        raise PyroVAEError(f"--{', --'.join(k.replace('_', '-') for k in ignored)} does not apply to "
                           f"--objective {objective}; it takes: "
                           f"{', '.join('--' + k.replace('_', '-') for k in accepted) or 'no options'}")
    run, metrics = run_job(TrainConfig.from_dict({**values, "objective_options": options}), resume=args.resume,
                           progress=args.progress)
    if metrics is not None:
        print(format_table(metrics))
    print(f"run written to {run.run_dir}")


def _plot(args):
    for path in plot_run(load_run(args.run_dir, device=args.device)).values():
        print(path)


def _evaluate(args):
    if args.metrics is not None:
        parse_metrics(args.metrics)  # a bad name fails before the run is loaded
    chen_points = args.chen_points
    if chen_points not in (None, "all"):
        try:
            chen_points = int(chen_points)
        except ValueError:
            chen_points = 0
        if chen_points < 2:
            raise PyroVAEError(f"--chen-points must be 'all' or an integer >= 2, got {args.chen_points!r}")
    metrics = evaluate_run(load_run(args.run_dir, device=args.device), num_train=args.eval_points, seed=args.seed,
                           metrics=args.metrics, chen_points=chen_points)
    print(format_table(metrics))
    print(f"metrics written to {args.run_dir}/{METRICS_FILE}")


def _add_evaluation_parsers(sub):
    p = sub.add_parser("plot", help="write the plots of a trained run into its run dir")
    p.add_argument("run_dir")
    p.add_argument("--device", default="auto")
    p = sub.add_parser("evaluate", help="compute the metric suite of a trained run (metrics.json)")
    p.add_argument("run_dir")
    p.add_argument("--device", default="auto")
    p.add_argument("--eval-points", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--metrics", default=None,
                   help=f"comma-separated metrics to compute and merge into metrics.json (default: all): "
                        f"{', '.join(METRICS)}")
    p.add_argument("--chen-points", default=None,
                   help="points of Chen et al.'s MIG: an integer, or 'all' for the whole dataset (default: --eval-points)")


def _add_encode_parser(sub):
    p = sub.add_parser("encode", help="write the encoder means and scales of a trained run for your data (.npz)",
                       description="Encode DATA with the trained guide of RUN_DIR: OUT gets 'means' and 'scales', "
                                   "float32 arrays [points, latent dims], of q(z|x).")
    p.add_argument("run_dir")
    p.add_argument("data", help="a dataset name or the path of a .npz/.npy file or image folder, as pyrovae train "
                                "--dataset takes")
    p.add_argument("--out", default="codes.npz", help="the .npz to write (default codes.npz)")
    p.add_argument("--path", default=None, help="the official file or folder of a named dataset (as for train)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--batch-size", type=int, default=256, help="points encoded at a time (default 256)")
    p.add_argument("--limit", type=int, default=None, help="encode only the first N points")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def _encode(args):
    limit = check_int("--limit", args.limit, allow_none=True)
    out = Path(args.out)
    if out.suffix != ".npz":
        raise PyroVAEError(f"--out must end in .npz, got {out}")
    run = load_run(args.run_dir, device=args.device)
    data = load_dataset(args.data, **({"path": args.path} if args.path else {}))
    codes = run.encode(data, batch_size=args.batch_size, progress=args.progress, limit=limit)
    atomic_write(out, lambda tmp: np.savez(tmp, means=codes.means, scales=codes.scales))
    print(f"{len(codes.means)} codes of {codes.means.shape[1]} dimensions (means, scales) written to {out}")


def _add_sweep_parsers(sub):
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
    p = sub.add_parser("report", help="write a Markdown report with plots comparing the runs of a sweep",
                       description="Write SWEEP_DIR/report/report.md and its PNGs from a sweep's results.")
    p.add_argument("sweep_dir", help="the sweep dir (pyrovae sweep ... --out SWEEP_DIR)")
    p.add_argument("--out", default=None, help="report dir (default: SWEEP_DIR/report)")
    p.add_argument("--device", default="auto", help="device for the representative runs: auto, cpu, cuda")
    p.add_argument("--points", type=int, default=1000, help="data points encoded per representative run")


def _add_baselines_parser(sub):
    gpu, cpu = eval_sizes(torch.device("cuda")), eval_sizes(torch.device("cpu"))

    def sizes(key):
        return f"{gpu[key]:,} on a GPU, {cpu[key]:,} on a CPU"

    p = sub.add_parser("baselines", help="score the β-VAE paper's baselines (ground truth, pixels, PCA, ICA, "
                                         "untrained/trained VAEs, InfoGAN, AAE) with the metric suite")
    p.add_argument("--dataset", default="dsprites", help="a dataset with ground-truth factors (default dsprites)")
    p.add_argument("--latent-dim", type=int, default=10, help="latent / PCA / ICA dimensions (default 10)")
    p.add_argument("--num-train", type=int, default=None,
                   help=f"codes for MIG, SAP, DCI and the PCA/ICA fit (default: {sizes('num_train')})")
    p.add_argument("--num-test", type=int, default=None, help=f"test codes (default: {sizes('num_test')})")
    p.add_argument("--num-sampled", type=int, default=None,
                   help="training points of the β-VAE and FactorVAE scores, half as many to evaluate "
                        f"(default: {sizes('num_sampled')})")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (default 0)")
    p.add_argument("--train-steps", type=int, default=None,
                   help=f"steps of each trained row (default: {THESIS_STEPS:,} on a GPU, {CPU_TRAIN_STEPS:,} on a CPU)")
    p.add_argument("--train-lr", type=float, default=1e-4, help="Adam learning rate of the VAE-family rows")
    p.add_argument("--run", action="append", default=[], metavar="NAME=RUN_DIR",
                   help="score this trained run as row NAME instead of training it (repeatable)")
    p.add_argument("--only", nargs="+", default=None, help=f"only these rows, of: {', '.join(BASELINES)}")
    p.add_argument("--out", default="baselines", help="output dir for baselines.json, baselines.md and runs/")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="skip the trained rows' plots")
    p.add_argument("--progress", action="store_true", help="progress bars while training")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="training precision of the VAE-family rows (see pyrovae train --help; default auto)")


def build_parser():
    parser = argparse.ArgumentParser(prog="pyrovae", description="VAEs and disentangled representations on Pyro")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train_parser(sub)
    _add_evaluation_parsers(sub)
    _add_encode_parser(sub)
    _add_sweep_parsers(sub)
    _add_baselines_parser(sub)
    return parser


def _echo(line):
    print(line, flush=True)


def _sweep(args):
    plan = load_plan(args.spec, args.out)
    if args.dry_run:
        print("\n".join(describe_plan(plan)))
        return
    run_sweep(args.spec, workers=args.workers, backend=args.backend, address=args.address, retries=args.retries,
              plan=plan, echo=_echo)
    print(f"report: pyrovae report {plan.sweep_dir}")


def _report(args):
    path = write_report(args.sweep_dir, args.out, device=args.device, points=args.points, echo=_echo)
    print(f"report written to {path}")


def _run_option(text):
    """``--run NAME=RUN_DIR`` as (name, run dir)."""
    name, eq, path = text.partition("=")
    if not eq or not name.strip() or not path.strip():
        raise PyroVAEError(f"--run takes NAME=RUN_DIR (e.g. --run vae=runs/vae-seed0), got {text!r}")
    return name.strip().replace("-", "_"), path.strip()


def _baselines(args):
    runs = dict(_run_option(text) for text in args.run)
    if not args.train_lr > 0:
        raise PyroVAEError(f"--train-lr must be > 0, got {args.train_lr}")
    result = baseline_table(dataset=args.dataset, latent_dim=args.latent_dim, num_train=args.num_train,
                            num_test=args.num_test, num_sampled=args.num_sampled, seeds=args.seeds,
                            train_steps=args.train_steps, runs=runs, baselines=args.only, out=args.out,
                            device=args.device, train_lr=args.train_lr, plots=args.plots, progress=args.progress,
                            precision=args.precision, echo=_echo)
    json_path, md_path = write_baselines(result, args.out)
    print(format_markdown(result))
    print(f"written: {json_path}, {md_path}")


COMMANDS = {"train": _train, "plot": _plot, "evaluate": _evaluate, "encode": _encode, "sweep": _sweep,
            "report": _report, "baselines": _baselines}


@contextlib.contextmanager
def _info_lines_on_stderr():
    """The library reports through ``logging``; a command shows pyrovae's INFO lines on stderr (e.g. the
    trainer's progress when stderr is not a terminal), for as long as it runs."""
    logger = logging.getLogger("pyrovae")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("pyrovae: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def main(argv=None):
    args = build_parser().parse_args(argv)
    tune_malloc()  # glibc: keep a step's large temporaries for reuse (README, "Speed")
    try:
        with cpu_threads(), _info_lines_on_stderr():  # every command: torch's threads matched to the free cores
            COMMANDS[args.command](args)
    except PyroVAEError as e:
        print(f"pyrovae: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pyrovae: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``pyrovae`` command line: train, plot, evaluate, sweep, report, baselines."""
import argparse
import sys

from .errors import PyroVAEError
from .train.config import TrainConfig
from .utils import PRECISIONS, cpu_threads, tune_malloc


def _objective_options():
    """{option name: (default per objective, help)} from every registered objective's hyperparameters."""
    from .objectives import OBJECTIVES

    options = {}
    for name, cls in sorted(OBJECTIVES.items()):
        if cls.name != name:  # an alias (mmd for info-vae): its defaults are the same
            continue
        for key, (default, help_text) in cls.hyperparameters.items():
            entry = options.setdefault(key, {"defaults": {}, "help": help_text})
            entry["defaults"][name] = default
    return options


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show a default only where it says something (not None, not a flag's False/True)."""

    def _get_help_string(self, action):
        if action.default in (None, True, False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _component_help(table):
    """``one of: normal, student-t (df), ...`` with each component's options, from their signatures."""
    from .models.factory import component_options

    names = [f"{name} ({', '.join(component_options(table[name]))})" if component_options(table[name]) else name
             for name in sorted(table)]
    return f"one of: {', '.join(names)}; give options as name:key=value[,key=value] (docs/models.md)"


def _add_train_parser(sub):
    from .data import DATASETS
    from .models import GUIDES, LIKELIHOODS, PRIORS
    from .objectives import OBJECTIVES

    d = TrainConfig()
    p = sub.add_parser("train", help="train (and evaluate, and plot) a model",
                       formatter_class=_HelpFormatter)
    p.add_argument("--objective", default=d.objective, help=f"one of: {', '.join(sorted(OBJECTIVES))}")
    p.add_argument("--dataset", default=d.dataset,
                   help=f"one of: {', '.join(sorted(DATASETS))}, or the path of a .npz/.npy file or image folder")
    p.add_argument("--path", default=d.path, help="the official dSprites .npz (dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz) "
                   "instead of the procedural render")
    p.add_argument("--prior", default=d.prior, help=_component_help(PRIORS))
    p.add_argument("--guide", default=d.guide, help=_component_help(GUIDES))
    p.add_argument("--likelihood", default=d.likelihood, help=_component_help(LIKELIHOODS))
    p.add_argument("--arch", default=d.arch, help="auto (conv for 64x64 images, else mlp), conv or mlp")
    p.add_argument("--latent-dim", type=int, default=d.latent_dim)
    p.add_argument("--steps", type=int, default=d.steps,
                   help="training steps (default: 22,260 = 30 dSprites epochs on a GPU; on a CPU as many as fit in about 8 minutes, timed on the first steps)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--out", default=d.out, help="run dir (default: runs/<objective>-seed<seed>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--eval-points", type=int, default=d.eval_points,
                   help="training codes for the metrics (default: 10,000 on a GPU, 2,000 on a CPU)")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="skip the plots")
    p.add_argument("--no-evaluate", dest="evaluate", action="store_false", help="skip the metric suite")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--precision", default=d.precision, choices=PRECISIONS,
                   help="fp32, bf16 (networks in bf16, losses and optimiser in fp32) or auto: bf16 on a GPU "
                        "or CPU with native bf16 (AMX, AVX512-BF16), else fp32 (default auto)")
    p.add_argument("--jit", action="store_true",
                   help="compile the loss once with torch's JIT tracer: less per-step overhead for small nets and on GPUs "
                        "(not for factor-vae, aae)")
    group = p.add_argument_group("objective hyperparameters (each applies to the objectives listed)")
    options = _objective_options()
    everyone = len({obj for entry in options.values() for obj in entry["defaults"]})
    for key, entry in options.items():
        values = set(map(repr, entry["defaults"].values()))
        if len(entry["defaults"]) == everyone > 1 and len(values) == 1:  # a generic option: one default for all
            defaults = f"{next(iter(entry['defaults'].values()))}, every objective"
        elif len(entry["defaults"]) > 1 and len(values) == 1:  # shared by some objectives, one default
            defaults = f"{next(iter(entry['defaults'].values()))}: {', '.join(entry['defaults'])}"
        else:
            defaults = ", ".join(f"{obj}: {value}" for obj, value in entry["defaults"].items())
        group.add_argument("--" + key.replace("_", "-"), dest="hp_" + key, default=None,
                           type=_hyperparameter_type(entry["defaults"]),
                           help=f"{entry['help']} (default {defaults})")


def _hyperparameter_type(defaults):
    value = next(iter(defaults.values()))
    if isinstance(value, bool):
        return lambda s: s.lower() in ("1", "true", "yes")
    return type(value) if isinstance(value, (int, float, str)) else str


def _train(args):
    from .objectives import OBJECTIVES
    from .train import fit

    if args.objective not in OBJECTIVES:
        raise PyroVAEError(f"unknown objective {args.objective!r}: choose one of {', '.join(sorted(OBJECTIVES))}")
    accepted = OBJECTIVES[args.objective].hyperparameters
    options, ignored = {}, []
    for key, value in vars(args).items():
        if key.startswith("hp_") and value is not None:
            (options.__setitem__(key[3:], value) if key[3:] in accepted else ignored.append(key[3:]))
    if ignored:
        raise PyroVAEError(f"--{', --'.join(k.replace('_', '-') for k in ignored)} does not apply to "
                           f"--objective {args.objective}; it takes: "
                           f"{', '.join('--' + k.replace('_', '-') for k in accepted) or 'no options'}")
    fields = set(TrainConfig.__dataclass_fields__)
    config = TrainConfig(objective_options=options,
                         **{k: v for k, v in vars(args).items() if k in fields and k != "objective_options"})
    run = fit(config, resume=args.resume, progress=args.progress)
    print(f"run written to {run.run_dir}")


def _plot(args):
    from .plots import plot_run
    from .train import load_run

    for path in plot_run(load_run(args.run_dir, device=args.device)).values():
        print(path)


def _evaluate(args):
    from .experiments.evaluate import evaluate_run
    from .train import load_run

    evaluate_run(load_run(args.run_dir, device=args.device), num_train=args.eval_points, seed=args.seed)
    print(f"metrics written to {args.run_dir}/metrics.json")


def build_parser():
    parser = argparse.ArgumentParser(prog="pyrovae", description="VAEs and disentangled representations on Pyro")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train_parser(sub)
    p = sub.add_parser("plot", help="write the plots of a trained run into its run dir")
    p.add_argument("run_dir")
    p.add_argument("--device", default="auto")
    p = sub.add_parser("evaluate", help="compute the metric suite of a trained run (metrics.json)")
    p.add_argument("run_dir")
    p.add_argument("--device", default="auto")
    p.add_argument("--eval-points", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    from .experiments.sweep import add_sweep_parser
    from .experiments.report import add_report_parser
    from .experiments.baselines import add_baselines_parser

    add_sweep_parser(sub)
    add_report_parser(sub)
    add_baselines_parser(sub)
    return parser


def _sweep(args):
    from .experiments.sweep import sweep_command

    sweep_command(args)


def _report(args):
    from .experiments.report import report_command

    report_command(args)


def _baselines(args):
    from .experiments.baselines import baselines_command

    baselines_command(args)


COMMANDS = {"train": _train, "plot": _plot, "evaluate": _evaluate, "sweep": _sweep, "report": _report,
            "baselines": _baselines}


def main(argv=None):
    args = build_parser().parse_args(argv)
    tune_malloc()  # glibc: keep a step's large temporaries for reuse (README, "Speed")
    try:
        with cpu_threads():  # every command: torch's threads matched to the free cores
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

"""Scores against training steps: one run trained in segments to each milestone, each milestone evaluated.

Answers "how much do the scores move between the thesis budget (22,260 steps) and the 2019 study's
(300,000 steps)?" The run is continued with ``--resume`` from one milestone to the next, so it is the
same run as one trained straight through (resume is bit-identical). At each milestone the run dir's
config and checkpoint are copied to ``OUT/step_<N>/``; once training has stopped, the milestones are
evaluated there one after another (traversals and the metric suite). Not beside the training: on a 2-core
CPU an evaluation's threads beside the training's made the training steps about 10x slower. Everything is
resumable: run the same command again and finished milestones are skipped, a milestone not yet evaluated
is evaluated, and an unfinished segment continues from its last checkpoint.

    python benchmarks/budget_curve.py --objective beta-tcvae --set beta=6 --out sweeps/study/beta-tcvae
    python benchmarks/budget_curve.py --curve sweeps/study/beta-tcvae   # (re)write curve.csv / curve.png

A run trained and evaluated already, e.g. the thesis-budget sweep's (``examples/thesis_budget_cpu.yaml``),
can be the curve's first point and the start of its training, which saves its 22,260 steps:

    python benchmarks/budget_curve.py --objective beta-tcvae --set beta=6 --out sweeps/study/beta-tcvae \
        --from-run sweeps/thesis_budget_cpu/runs/beta-tcvae_beta=6_dsprites_seed0

Writes ``OUT/curve.csv`` and ``OUT/curve.png`` (MIG, FactorVAE score and reconstruction against steps).
"""
import argparse
import csv
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

MILESTONES = (22_260, 50_000, 100_000, 200_000, 300_000)
COLUMNS = (("mig", "mig.discrete_mig"), ("factor_vae", "factor_vae.eval_accuracy"),
           ("beta_vae", "beta_vae.eval_accuracy"), ("dci", "dci.disentanglement"),
           ("recon_nll", "reconstruction.nll_per_pixel"), ("active_units", "active_units"))


def _value(metrics, dotted):
    for key in dotted.split("."):
        if not isinstance(metrics, dict) or key not in metrics:
            return None
        metrics = metrics[key]
    return metrics


def _pyrovae(*args):
    return [sys.executable, "-m", "pyrovae.cli", *map(str, args)]


def train_to(out, step, args, deadline=None):
    """Train (or continue) the run in ``out/run`` up to ``step`` steps, without plots or evaluation.
    At ``deadline`` (time.monotonic) the run is stopped (SIGTERM: it checkpoints between two steps);
    returns the step it reached."""
    run = out / "run"
    command = _pyrovae("train", "--objective", args.objective, "--steps", step, "--seed", args.seed,
                       "--out", run, "--no-plots", "--no-evaluate", "--no-progress",
                       "--checkpoint-every", args.checkpoint_every, "--log-every", args.log_every)
    command += [f"--{key.replace('_', '-')}={value}" for key, value in map(lambda s: s.split("=", 1), args.set)]
    command += args.train_args
    if (run / "checkpoint.pt").exists():
        command.append("--resume")
    process, stopped = subprocess.Popen(command), False
    while process.poll() is None:
        if deadline is not None and time.monotonic() > deadline:
            process.send_signal(signal.SIGTERM)
            process.wait()
            stopped = True
            break
        time.sleep(1)
    if process.returncode != 0 and not stopped:  # its one-line error is on stderr above
        raise SystemExit(f"training stopped with status {process.returncode}")
    return last_step(run)


def last_step(run):
    """The step of the run's checkpoint."""
    from pyrovae.train import load_checkpoint

    return load_checkpoint(run / "checkpoint.pt", map_location="cpu")["step"]


def snapshot(out, step):
    """Copy the run at ``step`` into ``out/step_<step>`` (config with that budget, checkpoint, log)."""
    dest = out / f"step_{step}"
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "checkpoint.pt", "log.jsonl"):
        shutil.copy2(out / "run" / name, dest / name)
    return dest


def adopt(out, source, eval_points):
    """Start ``out/run`` from the finished run ``source`` (its config, checkpoint and log) and make it the
    curve's point at its step, with its metrics.json when it was evaluated on ``eval_points`` codes (else
    the point is evaluated again). The next ``--resume`` checks that the objective, its options and the
    seed agree. Returns the step."""
    source = Path(source)
    for name in ("config.json", "checkpoint.pt"):
        if not (source / name).is_file():
            raise SystemExit(f"--from-run {source} has no {name}: give a trained run dir")
    run = out / "run"
    run.mkdir(parents=True)
    record = json.loads((source / "config.json").read_text())
    record["config"]["out"] = str(run)  # resume compares the run dir too
    (run / "config.json").write_text(json.dumps(record, indent=2))
    for name in ("checkpoint.pt", "log.jsonl"):
        shutil.copy2(source / name, run / name)
    step = last_step(run)
    dest = snapshot(out, step)
    if record["config"].get("eval_points") == eval_points:
        for name in ("metrics.json", "traversals.png"):
            if (source / name).exists():
                shutil.copy2(source / name, dest / name)
    return step


def evaluate(dest, args):
    """Traversals and the metric suite of one milestone (their output into evaluate.log)."""
    with open(dest / "evaluate.log", "w") as log:
        for command in (_pyrovae("plot", dest, "--device", args.eval_device),
                        _pyrovae("evaluate", dest, "--device", args.eval_device, "--eval-points", args.eval_points)):
            if subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
                print(f"evaluation of {dest} failed: see {dest / 'evaluate.log'}")
                return


def write_curve(out):
    rows = []
    for dest in sorted(out.glob("step_*"), key=lambda p: int(p.name.split("_")[1])):
        path = dest / "metrics.json"
        if path.exists():
            metrics = json.loads(path.read_text())
            rows.append({"step": int(dest.name.split("_")[1]),
                         **{name: _value(metrics, key) for name, key in COLUMNS}})
    if not rows:
        return None
    with open(out / "curve.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    steps = [r["step"] for r in rows]
    for ax, (name, label) in zip(axes, (("mig", "MIG (discrete)"), ("factor_vae", "FactorVAE score"),
                                        ("recon_nll", "reconstruction NLL / pixel"))):
        ax.plot(steps, [r[name] for r in rows], "o-")
        ax.set_xscale("log")
        if name != "recon_nll":  # scores from 0: a change of 0.005 should not fill the panel
            ax.set_ylim(0, 1.2 * max([r[name] for r in rows if r[name] is not None] + [1e-3]))
        ax.set_xlabel("training steps")
        ax.set_title(label)
        ax.axvline(22_260, color="grey", ls=":", lw=1)
    fig.suptitle(out.name)
    fig.tight_layout()
    fig.savefig(out / "curve.png", dpi=120)
    plt.close(fig)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path)
    p.add_argument("--objective", default="beta-tcvae")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="an objective hyperparameter, e.g. beta=6 (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--milestones", default=",".join(map(str, MILESTONES)))
    p.add_argument("--eval-points", type=int, default=10_000)
    p.add_argument("--eval-device", default="auto")
    p.add_argument("--checkpoint-every", type=int, default=2_000)
    p.add_argument("--log-every", type=int, default=500)
    p.add_argument("--deadline-s", type=float, default=None,
                   help="stop training after this many seconds, evaluate the step reached and write the curve")
    p.add_argument("--curve", type=Path, help="only (re)write curve.csv/curve.png of this output dir")
    p.add_argument("--from-run", type=Path,
                   help="a trained (and evaluated) run dir to start from: its step is the curve's first point")
    p.add_argument("train_args", nargs="*", help="more `pyrovae train` options, after --")
    args = p.parse_args(argv)
    if args.curve:
        print(write_curve(args.curve))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.deadline_s if args.deadline_s else None
    if args.from_run and not (args.out / "run").exists():
        print(f"starting from {args.from_run} at step {adopt(args.out, args.from_run, args.eval_points)}")
    pending = []
    # the points made already (an adopted run, a deadline's stop) are evaluated too, if they are not yet
    made = {int(d.name.split("_")[1]) for d in args.out.glob("step_*")}
    for step in sorted({int(s) for s in args.milestones.split(",")} | made):
        dest = args.out / f"step_{step}"
        if (dest / "metrics.json").exists():
            continue
        if not (dest / "checkpoint.pt").exists():
            if (args.out / "run" / "checkpoint.pt").exists() and last_step(args.out / "run") > step:
                print(f"milestone {step} skipped: the run is past it")
                continue
            reached = train_to(args.out, step, args, deadline)
            if reached < step:  # out of time: the step reached is a point of the curve too
                pending.append(snapshot(args.out, reached))
                break
            dest = snapshot(args.out, step)
        pending.append(dest)
    for dest in pending:
        evaluate(dest, args)
    print(write_curve(args.out))


if __name__ == "__main__":
    main()

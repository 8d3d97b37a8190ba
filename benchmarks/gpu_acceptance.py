"""GPU acceptance of pyrovae in one command (issue 11, point 5); about 5-8 minutes on one modern GPU.

Stages, each timed, each in its own try/except (a failure is recorded in the JSON and the next stage
runs), the JSON rewritten after every stage:

1. ``train_step``: the train-step benchmark (``benchmarks/train_step.py``) on CUDA, fp32 and bf16, with
   and without the JIT, conv and MLP nets, each against a hand-written step;
2. ``literature_run``: one β-VAE β=4 run at the thesis budget (22,260 steps, batch 64, procedural
   dSprites rendered on the device) with ``--precision auto`` and ``--jit`` (goal: ≤ 60 s on an
   H100-class GPU). Should the step be so slow that the run would pass ``--train-budget-s``, the run
   is shortened and the time projected to 22,260 steps;
3. ``evaluation``: the whole metric suite of that run on 10,000 training codes (5,000 test codes);
4. ``thesis_projection``: the GPU-hours of the thesis grid (``examples/thesis_table_5_4.yaml``, 170 runs),
   from a timed stretch of steps of each of its objectives plus stage 3's evaluation time, against
   the thesis' 24.6 GPU-days (which covers all its experiments, not only this grid).

    python benchmarks/gpu_acceptance.py                      # on a GPU: writes docs/results/gpu/acceptance.json
    python benchmarks/gpu_acceptance.py --quick --device cpu --out /tmp/acceptance.json   # smoke test

Exits with status 2 and a one-line message when no CUDA GPU is present (unless ``--device cpu``).
"""
import argparse
import json
import statistics
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # train_step.py beside this file
import train_step as step_bench  # noqa: E402

from pyrovae.atomic import write_json  # noqa: E402
from pyrovae.train.config import THESIS_STEPS  # noqa: E402
from pyrovae.train.rundir import log_records, provenance  # noqa: E402
from pyrovae.utils import native_bf16, resolve_device, resolve_precision  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
THESIS_GPU_DAYS = 24.6  # Mushom (2020): all experiments of the thesis


def stage_train_step(device, quick):
    rounds, steps = (1, 2) if quick else (5, 20)
    precisions = ["fp32", "bf16"] if native_bf16(device) else ["fp32"]  # emulated bf16 is 10x slower
    rows = []
    for net in ("conv", "mlp"):
        rows += step_bench.summarise(net, step_bench.bench(net, device, precisions, True, rounds, steps))
    step_bench.print_rows(rows)
    return {"rounds": rounds, "steps_per_round": steps, "precisions": precisions, "rows": rows}


def stage_literature_run(device, quick, runs_dir, budget_s, jit):
    from pyrovae.plots import plot_run
    from pyrovae.train import fit
    from pyrovae.train.config import TrainConfig
    from pyrovae.train.fit import build, make_optimizer, train_step

    precision = resolve_precision("auto", device)
    base = dict(objective="beta-vae", objective_options={"beta": 4.0}, dataset="dsprites", arch="conv",
                latent_dim=10, batch_size=64, lr=1e-4, seed=0, device=str(device), precision=precision, jit=jit,
                plots=True, evaluate=False, log_every=100, checkpoint_every=5000)
    steps = 30 if quick else THESIS_STEPS
    # a short timed stretch first: never start a run that cannot finish within the budget
    dataset, model, guide, objective = build(TrainConfig(**base), device=device)
    optimizer = make_optimizer((model, guide), 1e-4)
    x = dataset.batch(torch.randint(len(dataset), (64,)).to(device))
    for _ in range(5):
        train_step(model, guide, objective, optimizer, x, precision=precision)
    step_bench.sync(device)
    t0 = time.perf_counter()
    for _ in range(20):
        train_step(model, guide, objective, optimizer, x, precision=precision)
    step_bench.sync(device)
    probe_s = (time.perf_counter() - t0) / 20
    if probe_s * steps > budget_s:
        steps = max(100, int(budget_s / probe_s))
    run_dir = runs_dir / "beta-vae-literature"
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    start = time.perf_counter()
    run = fit({**base, "steps": steps, "out": str(run_dir)}, progress=False)
    plot_run(run)  # inside the timing, as when fit() plotted by itself
    wall = time.perf_counter() - start
    log = log_records(run_dir / "log.jsonl")
    return {"run": run, "steps": steps, "precision": precision, "jit": jit, "wall_s": round(wall, 2),
            "ms_per_step": round(wall / steps * 1e3, 3), "probe_ms_per_step": round(probe_s * 1e3, 3),
            "projected_thesis_budget_s": round(wall / steps * THESIS_STEPS, 1), "goal_s_h100_class": 60,
            "final_loss": log[-1]["loss"], "final_recon": log[-1]["recon"], "final_kl": log[-1]["kl"],
            "run_dir": str(run_dir)}


def stage_evaluation(run, quick):
    from pyrovae.evaluation import evaluate_run

    num = 200 if quick else 10_000
    start = time.perf_counter()
    metrics = evaluate_run(run, num_train=num)
    wall = time.perf_counter() - start
    keep = {k: metrics.get(k) for k in ("mig", "beta_vae", "factor_vae", "active_units", "reconstruction")}
    dci = metrics.get("dci")
    if isinstance(dci, dict):
        keep["dci_disentanglement"] = dci.get("disentanglement")
    return {"num_train_codes": num, "wall_s": round(wall, 2), "timings_s": metrics.get("timings_s"), "scores": keep}


def stage_thesis_projection(device, quick, eval_s, jit):
    """GPU-hours of the thesis grid: seconds per step of each of its objectives (a step costs the same for
    every hyperparameter value), timed over a short stretch, times each run's steps, plus an evaluation."""
    from pyrovae.data import load_dataset
    from pyrovae.experiments.spec import load_plan
    from pyrovae.train.config import TrainConfig
    from pyrovae.train.fit import build, make_optimizer, train_step

    plan = load_plan(REPO / "examples" / "thesis_table_5_4.yaml", sweep_dir=REPO / "runs" / "unused")
    precision = resolve_precision("auto", device)
    dataset = load_dataset("dsprites")
    warm, timed = (2, 3) if quick else (10, 100)
    per_objective = {}
    for spec in plan.runs:
        if spec.objective in per_objective:
            continue
        config = TrainConfig.from_dict({**spec.config, "device": str(device), "precision": precision,
                                        "jit": jit and spec.objective not in ("factor-vae", "aae")})
        _, model, guide, objective = build(config, dataset, device)
        optimizer = make_optimizer((model, guide), config.lr)
        x = dataset.batch(torch.randint(len(dataset), (config.batch_size,)).to(device))
        for i in range(warm + timed):
            if i == warm:
                step_bench.sync(device)
                t0 = time.perf_counter()
            objective.step = i
            train_step(model, guide, objective, optimizer, x, precision=precision)
        step_bench.sync(device)
        per_objective[spec.objective] = {"s_per_step": (time.perf_counter() - t0) / timed, "jit": config.jit,
                                         "timed_setting": spec.name}
    runs_s = [per_objective[s.objective]["s_per_step"] * s.config["steps"] + eval_s for s in plan.runs]
    total_h = sum(runs_s) / 3600
    return {"runs": len(plan.runs), "precision": precision, "eval_s_per_run": eval_s,
            "per_objective": {k: {**v, "ms_per_step": round(v["s_per_step"] * 1e3, 3)}
                              for k, v in per_objective.items()},
            "median_run_s": round(statistics.median(runs_s), 1), "gpu_hours": round(total_h, 2),
            "thesis_gpu_hours_all_experiments": THESIS_GPU_DAYS * 24,
            "note": "one run at a time on one GPU; several runs per GPU (sweep --workers) would use it better"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cuda:N; cpu only with --quick")
    parser.add_argument("--quick", action="store_true", help="tiny stages: a smoke test of the script")
    parser.add_argument("--out", default=str(REPO / "docs" / "results" / "gpu" / "acceptance.json"))
    parser.add_argument("--runs-dir", default=str(REPO / "runs" / "gpu_acceptance"),
                        help="where stage 2's run dir goes (checkpoint, log, plots)")
    parser.add_argument("--train-budget-s", type=float, default=240.0,
                        help="stage 2 trains fewer steps (and projects) when 22,260 would take longer")
    parser.add_argument("--no-jit", dest="jit", action="store_false", help="train stages 2 and 4 without --jit")
    args = parser.parse_args(argv)
    if not args.device.startswith("cuda") and not args.quick:
        sys.exit("gpu_acceptance: a CPU run is only a smoke test: add --quick (or use --device cuda on a GPU)")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_acceptance: no CUDA GPU is available here (torch.cuda.is_available() is False): run it on a "
              "machine with a GPU, or smoke-test it with --quick --device cpu", file=sys.stderr)
        return 2
    device = resolve_device(args.device)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"quick": args.quick, "device": str(device),
              "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "native_bf16": native_bf16(device), "provenance": provenance(), "stages": {}}
    start = time.perf_counter()

    def stage(name, fn, *fn_args):
        t0 = time.perf_counter()
        print(f"--- {name}", flush=True)
        try:
            value = fn(*fn_args)
            report["stages"][name] = {"ok": True, "stage_s": round(time.perf_counter() - t0, 2),
                                      **{k: v for k, v in (value or {}).items() if k != "run"}}
            return value
        except Exception as e:  # noqa: BLE001 - record it and go on with the next stage
            report["stages"][name] = {"ok": False, "stage_s": round(time.perf_counter() - t0, 2),
                                      "error": f"{type(e).__name__}: {e}"[:2000],
                                      "traceback": traceback.format_exc()[-4000:]}
            print(f"{name} failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            return None
        finally:
            report["total_s"] = round(time.perf_counter() - start, 2)
            write_json(out, report)

    stage("train_step", stage_train_step, device, args.quick)
    trained = stage("literature_run", stage_literature_run, device, args.quick, Path(args.runs_dir),
                    args.train_budget_s, args.jit)
    evaluated = stage("evaluation", stage_evaluation, trained["run"], args.quick) if trained else None
    eval_s = evaluated["wall_s"] if evaluated else 120.0
    stage("thesis_projection", stage_thesis_projection, device, args.quick, eval_s, args.jit)
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk in ("ok", "stage_s", "wall_s", "gpu_hours",
                                                                  "projected_thesis_budget_s", "error")}
                      for k, v in report["stages"].items()}, indent=1))
    print(f"written: {out} ({report['total_s']:.0f} s)")
    return 0 if all(s["ok"] for s in report["stages"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Does bf16 mixed precision train as well as fp32? β-VAE β=4 on dSprites, seeds × precisions.

For each seed, one fp32 and one bf16 run of the same config (the standard conv net, batch 64, Adam lr
1e-4, 10 latents), trained with :func:`pyrovae.train.fit`. Per run: the reconstruction and the KL,
means over the last ``--window`` steps (from log.jsonl), and the MIG on ``--eval-points`` training
codes (computed in fp32, as every evaluation). Verdict per quantity: bf16's mean over seeds lies within
two fp32 seed-to-seed standard deviations of fp32's mean ("within the seed spread"). Issue 11 asks
for 3 seeds × 3,000 steps.

Resumable: every run lives in ``--out/runs/<precision>-seed<seed>`` and a finished run's numbers in its
``quality.json``; running the script again skips finished runs, resumes interrupted ones (and continues
finished runs when ``--steps`` grew). Runs go seed by seed, fp32 then bf16, so an early stop leaves
complete pairs.

    python benchmarks/precision_quality.py [--steps 3000] [--seeds 3] [--device auto] [--out runs/precision_quality]

On a device without native bf16 (an AVX2-only CPU) bf16 is emulated and about 10x slower than fp32:
the script then stops unless ``--force-bf16`` is given.
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from pyrovae.errors import PyroVAEError
from pyrovae.train.rundir import log_records
from pyrovae.utils import native_bf16, resolve_device

PRECISIONS = ("fp32", "bf16")
QUANTITIES = ("recon", "kl", "mig")


def window_means(log_path, window):
    """Means of recon and KL over the last ``window`` steps, from the logged per-interval means."""
    records = log_records(log_path)
    last = records[-1]["step"]
    kept, weights = [], []
    for i, r in enumerate(records):
        if r["step"] > last - window:  # a record averages the steps since the one before it
            kept.append(r)
            weights.append(r["step"] - (records[i - 1]["step"] if i else 0))
    return {key: float(np.average([r[key] for r in kept], weights=weights)) for key in ("recon", "kl")}


def mig_of(run, num_codes, seed=0):
    """MIG of the run's posterior means on ``num_codes`` training codes (fp32, as in evaluate_run)."""
    from pyrovae.evaluation import codes_and_factors, representation_function
    from pyrovae.metrics import mutual_info_gap

    device = next(run.guide.parameters()).device
    codes, factors = codes_and_factors(run.dataset, representation_function(run.guide, device), num_codes,
                                        np.random.RandomState(seed))
    return float(mutual_info_gap(codes, factors))


def one_run(out, precision, seed, args):
    """Train (or resume, or skip) one run; returns its numbers (cached in quality.json)."""
    from pyrovae.train import fit, load_checkpoint

    run_dir = out / "runs" / f"{precision}-seed{seed}"
    cache = run_dir / "quality.json"
    if cache.is_file():
        cached = json.loads(cache.read_text())
        if cached["steps"] == args.steps and cached["eval_points"] == args.eval_points:
            return cached
    config = {"objective": "beta-vae", "objective_options": {"beta": 4.0}, "dataset": "dsprites", "arch": "conv",
              "latent_dim": 10, "steps": args.steps, "batch_size": 64, "lr": 1e-4, "seed": seed,
              "device": args.device, "precision": precision, "out": str(run_dir), "log_every": 50,
              "checkpoint_every": 500, "plots": False, "evaluate": False}
    resume = (run_dir / "checkpoint.pt").is_file()
    done = resume and load_checkpoint(run_dir / "checkpoint.pt")["step"] >= args.steps
    start = time.perf_counter()
    if done:
        from pyrovae.train import load_run

        run = load_run(run_dir, device=args.device)
    else:
        run = fit(config, resume=resume, progress=args.progress)
    train_s = time.perf_counter() - start
    result = {"precision": precision, "seed": seed, "steps": args.steps, "eval_points": args.eval_points,
              **window_means(run_dir / "log.jsonl", args.window), "mig": mig_of(run, args.eval_points),
              "train_s_this_call": round(train_s, 1)}
    cache.write_text(json.dumps(result, indent=1))
    return result


def summarise(results):
    """Per precision mean and sd of each quantity; per quantity the verdict bf16 vs fp32."""
    summary = {}
    for precision in PRECISIONS:
        rows = [r for r in results if r["precision"] == precision]
        summary[precision] = {q: {"mean": statistics.fmean(r[q] for r in rows),
                                  "sd": statistics.stdev(r[q] for r in rows) if len(rows) > 1 else float("nan"),
                                  "values": [r[q] for r in rows]} for q in QUANTITIES} if rows else {}
    verdict = {}
    if summary["fp32"] and summary["bf16"]:
        for q in QUANTITIES:
            f, b = summary["fp32"][q], summary["bf16"][q]
            verdict[q] = {"difference": b["mean"] - f["mean"], "fp32_sd": f["sd"],
                          "within_seed_spread": bool(abs(b["mean"] - f["mean"]) <= 2 * f["sd"])}
    return summary, verdict


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[3],
                        help="a count n (seeds 0..n-1) or several seeds (default 3)")
    parser.add_argument("--window", type=int, default=500, help="steps at the end whose recon and KL are averaged")
    parser.add_argument("--eval-points", type=int, default=10_000, help="training codes for the MIG")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="runs/precision_quality")
    parser.add_argument("--force-bf16", action="store_true", help="run bf16 even where it is emulated")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    seeds = list(range(args.seeds[0])) if len(args.seeds) == 1 else args.seeds
    device = resolve_device(args.device)
    if not native_bf16(device) and not args.force_bf16:
        sys.exit(f"precision_quality: {device} has no native bf16 (AMX, AVX512-BF16 or a CUDA GPU with bf16), "
                 "so bf16 would be emulated and about 10x slower than fp32: run it on such a machine, or pass "
                 "--force-bf16")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for seed in seeds:
        for precision in PRECISIONS:
            r = one_run(out, precision, seed, args)
            results.append(r)
            print(f"{precision} seed {seed}: recon {r['recon']:.3f}, KL {r['kl']:.3f}, MIG {r['mig']:.4f}", flush=True)
    summary, verdict = summarise(results)
    report = {"device": str(device), "steps": args.steps, "window": args.window, "eval_points": args.eval_points,
              "seeds": seeds, "runs": results, "summary": summary, "verdict": verdict}
    (out / "precision_quality.json").write_text(json.dumps(report, indent=1))
    print(f"\nβ-VAE β=4, dSprites, {args.steps} steps, {len(seeds)} seeds, device {device}; recon and KL: means over "
          f"the last {args.window} steps; MIG on {args.eval_points} codes")
    print("| quantity | fp32 mean ± sd | bf16 mean ± sd | bf16 − fp32 | within 2 sd of fp32 |")
    print("| --- | --- | --- | --- | --- |")
    for q in QUANTITIES:
        f, b, v = summary["fp32"][q], summary["bf16"][q], verdict.get(q, {})
        print(f"| {q} | {f['mean']:.4f} ± {f['sd']:.4f} | {b['mean']:.4f} ± {b['sd']:.4f} | "
              f"{v.get('difference', float('nan')):+.4f} | {'yes' if v.get('within_seed_spread') else 'no'} |")
    print(f"written: {out / 'precision_quality.json'}")
    return report


if __name__ == "__main__":
    try:
        main()
    except PyroVAEError as e:
        sys.exit(f"precision_quality: {e}")

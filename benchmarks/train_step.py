"""Time of pyrovae's training step against a hand-written PyTorch step, in fp32 and bf16, with and
without Pyro's JIT, and the effect of the glibc allocator settings.

pyrovae's step is the trainer's own ``train_step`` (Pyro ELBO, fused Adam, validation off), on networks
laid out as ``fit`` lays them out (channels_last for the conv net where that is faster). The
hand-written step trains a copy of the same networks, in the same layout, on the same loss (Bernoulli
negative log-likelihood + β·analytic KL per data point) with the same fused Adam, and reads the loss
value once per step as the trainer does. In bf16 both run the encoder and decoder under bf16 autocast
and everything after them in fp32. All variants of a network run in the same process, interleaved in
rounds so that machine noise hits them alike; each ratio is taken within a round and reported as the
median [min-max] over the rounds. Targets (issue 11): conv bf16 ≤ 0.55x conv fp32 on a CPU with native
bf16 and ≤ 1.10x the hand-written bf16 step; MLP with --jit ≤ 1.25x hand-written.

    python benchmarks/train_step.py [--device cpu|cuda] [--precision both|fp32|bf16] [--jit]
                                    [--rounds 5] [--steps 20] [--malloc-pairs 3] [--layout fit|contiguous]

On a CPU without native bf16 (no AMX or AVX512-BF16) the bf16 rows are skipped: bf16 is emulated there,
about 10x slower than fp32 (``--force-bf16`` times it anyway). ``--malloc-pairs N`` runs the fp32 rows in
N pairs of child processes, one with pyrovae's glibc malloc settings and one with glibc's defaults,
and prints the time ratio of each pair. ``--layout contiguous`` leaves the conv nets contiguous, to measure
what channels_last gives (a run with and one without, one after the other).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from pyrovae.models import build_vae
from pyrovae.objectives import make_objective
from pyrovae.train.fit import make_optimizer, train_step, use_channels_last
from pyrovae.utils import native_bf16, network_precision, resolve_device, run_network, set_cpu_threads, tune_malloc

NETWORKS = {"conv": ("conv 64x64", (1, 64, 64), "conv", 64), "mlp": ("MLP 784-256-256-10", (1, 28, 28), "mlp", 64)}


def hand_written_step(encoder, head, decoder, optimizer, x, beta):
    """The same networks and loss written out in PyTorch; ``run_network`` applies bf16 autocast to the
    encoder and decoder inside ``network_precision("bf16")`` exactly as a hand-written AMP step would."""
    optimizer.zero_grad(set_to_none=True)
    out = head(run_network(encoder, x))
    loc, log_var = out[..., :10], out[..., 10:]
    scale = (0.5 * log_var).exp()
    z = loc + scale * torch.randn_like(loc)
    logits = run_network(decoder, z)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
    kl = 0.5 * (loc.pow(2) + scale.pow(2) - 1 - log_var).sum() / x.shape[0]
    loss = recon + beta * kl
    value = float(loss.detach())
    loss.backward()
    optimizer.step()
    return value


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_steps(step, steps, device):
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return (time.perf_counter() - start) / steps


def _variants(net, device, precisions, jit, layout="fit"):
    """{(precision, implementation): step callable} for one network, each on its own copy of the nets, laid
    out as ``fit()`` lays them out (``layout="fit"``) or left contiguous (``"contiguous"``)."""
    _, shape, arch, batch = NETWORKS[net]
    x = (torch.rand(batch, *shape, generator=torch.Generator().manual_seed(1)) < 0.1).float().to(device)
    torch.manual_seed(0)
    reference = build_vae(shape, 10, arch=arch)
    variants = {}
    for precision in precisions:
        for impl in ("pyrovae", "pyrovae --jit", "hand-written") if jit else ("pyrovae", "hand-written"):
            model, guide = build_vae(shape, 10, arch=arch)
            model.load_state_dict(reference[0].state_dict()), guide.load_state_dict(reference[1].state_dict())
            model, guide = model.to(device), guide.to(device)
            if layout == "fit":
                use_channels_last((model, guide), device, precision)
            optimizer = make_optimizer((model, guide), 1e-4)
            if impl == "hand-written":
                def step(m=model, g=guide, o=optimizer, p=precision):
                    with network_precision(p):
                        hand_written_step(g.encoder, g.head, m.decoder, o, x, 4.0)
            else:
                objective = make_objective("beta-vae", beta=4.0, jit=impl.endswith("--jit"))
                objective.dataset_size = 737_280

                def step(m=model, g=guide, o=optimizer, obj=objective, p=precision):
                    train_step(m, g, obj, o, x, precision=p)
            variants[(precision, impl)] = step
    return variants


def bench(net, device, precisions=("fp32",), jit=False, rounds=5, steps=20, layout="fit"):
    """Per-round seconds per step of every variant of ``net``: {(precision, impl): [seconds, ...]}."""
    variants = _variants(net, device, precisions, jit, layout)
    for fn in variants.values():  # warm-up (and the JIT's trace)
        time_steps(fn, 3, device)
    times = {key: [] for key in variants}
    for _ in range(rounds):
        for key, fn in variants.items():
            times[key].append(time_steps(fn, steps, device))
    return times


def _ratio(a, b):
    """Median [min-max] of the per-round ratios a/b."""
    r = [x / y for x, y in zip(a, b)]
    return statistics.median(r), min(r), max(r)


def summarise(net, times):
    """Rows (dicts) of one network's timings: ms per step and ratios, as printed and as JSON."""
    rows = []
    precisions = sorted({p for p, _ in times}, key=["fp32", "bf16"].index)
    for precision in precisions:
        hand = times[(precision, "hand-written")]
        for impl in ("pyrovae", "pyrovae --jit"):
            if (precision, impl) not in times:
                continue
            ours = times[(precision, impl)]
            row = {"network": NETWORKS[net][0], "batch": NETWORKS[net][3], "precision": precision, "impl": impl,
                   "ms": statistics.median(ours) * 1e3, "hand_ms": statistics.median(hand) * 1e3,
                   "vs_hand": _ratio(ours, hand)}
            if precision == "bf16" and ("fp32", impl) in times:
                row["bf16_vs_fp32"] = _ratio(ours, times[("fp32", impl)])
                row["hand_bf16_vs_fp32"] = _ratio(hand, times[("fp32", "hand-written")])
            rows.append(row)
    return rows


def _fmt(ratio):
    return f"{ratio[0]:.3f} [{ratio[1]:.2f}-{ratio[2]:.2f}]"


def print_rows(rows):
    print(f"{'network':<20}{'prec':>5} {'step':<14}{'ms':>9}{'hand ms':>9}  {'vs hand':<20}{'bf16/fp32 (hand)':<30}")
    for r in rows:
        extra = f"{_fmt(r['bf16_vs_fp32'])} ({r['hand_bf16_vs_fp32'][0]:.3f})" if "bf16_vs_fp32" in r else ""
        print(f"{r['network']:<20}{r['precision']:>5} {r['impl']:<14}{r['ms']:>9.2f}{r['hand_ms']:>9.2f}  "
              f"{_fmt(r['vs_hand']):<20}{extra}")


def malloc_pairs(args, pairs):
    """Each fp32 row in ``pairs`` pairs of child processes, tuned malloc against glibc's defaults."""
    base = [sys.executable, os.path.abspath(__file__), "--child", "--precision", "fp32", "--device", args.device,
            "--rounds", str(args.rounds), "--steps", str(args.steps), "--nets", args.nets, "--layout", args.layout]
    env = {k: v for k, v in os.environ.items() if not (k.startswith("MALLOC_") or k == "GLIBC_TUNABLES")}
    results = {"on": [], "off": []}
    for i in range(pairs):
        order = ("on", "off") if i % 2 == 0 else ("off", "on")  # alternate which goes first
        for mode in order:
            out = subprocess.run(base + (["--no-malloc-tuning"] if mode == "off" else []), env=env,
                                 capture_output=True, text=True, check=True).stdout
            results[mode].append({(r["network"], r["impl"]): r["ms"] for r in json.loads(out.splitlines()[-1])})
    print(f"\nglibc malloc tuned vs defaults, {pairs} pairs of processes (fp32, ms per step; ratio per pair):")
    rows = []
    for key in results["on"][0]:
        on = [r[key] for r in results["on"]]
        off = [r[key] for r in results["off"]]
        rows.append({"network": key[0], "impl": key[1], "tuned_ms": on, "default_ms": off, "ratio": _ratio(on, off)})
        print(f"  {key[0]:<20} {key[1]:<14} tuned {statistics.median(on):8.2f}  default {statistics.median(off):8.2f}"
              f"  ratio {_fmt(rows[-1]['ratio'])}")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="both", choices=("both", "fp32", "bf16"))
    parser.add_argument("--force-bf16", action="store_true", help="time bf16 even where it is emulated")
    parser.add_argument("--jit", action="store_true", help="add the pyrovae --jit step to every row")
    parser.add_argument("--nets", default="conv,mlp", help="comma-separated: conv, mlp")
    parser.add_argument("--layout", default="fit", choices=("fit", "contiguous"),
                        help="conv nets in channels_last where fit() uses it (fit), or contiguous")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--malloc-pairs", type=int, default=0, help="pairs of processes for the allocator test")
    parser.add_argument("--no-malloc-tuning", action="store_true", help="keep glibc's default malloc settings")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    tuned = False if args.no_malloc_tuning else tune_malloc()  # as the pyrovae command does
    device = resolve_device(args.device)
    threads = set_cpu_threads() if device.type == "cpu" else torch.get_num_threads()
    precisions = ["fp32", "bf16"] if args.precision == "both" else [args.precision]
    skipped = None
    if "bf16" in precisions and not native_bf16(device) and not args.force_bf16:
        precisions.remove("bf16")
        skipped = (f"bf16 rows skipped: {device} has no native bf16 (AMX / AVX512-BF16 / CUDA bf16), so bf16 is "
                   "emulated there (about 10x slower than fp32 on an AVX2 CPU); --force-bf16 times it anyway")
    nets = [n.strip() for n in args.nets.split(",") if n.strip()]
    rows = []
    for net in nets:
        if precisions:
            rows += summarise(net, bench(net, device, precisions, args.jit, args.rounds, args.steps, args.layout))
    if args.child:
        print(json.dumps(rows))
        return rows
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:  # which bf16 instructions: conv bf16/fp32 was 0.55 with AMX, 0.72 with AVX512-BF16 alone
        flags = [flag for flag, on in getattr(torch.cpu, "get_capabilities", dict)().items() if on and "bf16" in flag]
        name = (f"CPU ({torch.backends.cpu.get_cpu_capability()}, native bf16: {native_bf16(device)}"
                f"{' (' + ', '.join(sorted(flags)) + ')' if flags else ''})")
    print(f"device {device}: {name}; torch {torch.__version__}; threads {threads}; glibc malloc tuned: {tuned}; "
          f"{args.rounds} rounds x {args.steps} steps, median [min-max] of the per-round ratios")
    if skipped:
        print(skipped)
    print_rows(rows)
    malloc = malloc_pairs(args, args.malloc_pairs) if args.malloc_pairs else None
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": str(device), "name": name, "torch": torch.__version__, "threads": threads,
                       "layout": args.layout, "rounds": args.rounds, "steps": args.steps, "rows": rows,
                       "malloc_pairs": malloc, "skipped": skipped}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()

"""Steps per second of pyrovae's training step against a hand-written PyTorch step.

pyrovae's step is the trainer's own ``train_step`` (Pyro ELBO, fused Adam, validation off). The
hand-written step trains a copy of the same networks on the same loss (Bernoulli negative
log-likelihood + β·analytic KL per data point) with the same fused Adam, and reads the loss value
once per step as the trainer does. Both run in the same process, interleaved in rounds so that machine noise hits both alike. Prints the median time of
each and the ratio pyrovae / hand-written (target: ≤ 1.10 for the conv net at batch 64 on CPU).

    python benchmarks/train_step.py [--device cpu|cuda] [--rounds 5] [--steps 20]
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from pyrovae.models import build_vae
from pyrovae.objectives import make_objective
from pyrovae.train.fit import make_optimizer, train_step
from pyrovae.utils import resolve_device, set_cpu_threads


def hand_written_step(encoder, head, decoder, optimizer, x, beta):
    optimizer.zero_grad(set_to_none=True)
    loc, log_var = head(encoder(x)).chunk(2, dim=-1)
    scale = (0.5 * log_var).exp()
    z = loc + scale * torch.randn_like(loc)
    logits = decoder(z)
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


def bench(shape, arch, batch, device, rounds, steps):
    torch.manual_seed(0)
    model, guide = build_vae(shape, 10, arch=arch)
    model, guide = model.to(device), guide.to(device)
    objective = make_objective("beta-vae", beta=4.0)
    ours = make_optimizer((model, guide), 1e-4)
    # the hand-written step trains separate copies of the same networks
    ref_model, ref_guide = build_vae(shape, 10, arch=arch)
    ref_model.load_state_dict(model.state_dict()), ref_guide.load_state_dict(guide.state_dict())
    ref_model, ref_guide = ref_model.to(device), ref_guide.to(device)
    theirs = make_optimizer((ref_model, ref_guide), 1e-4)
    x = (torch.rand(batch, *shape, device=device) < 0.1).float()
    a = lambda: train_step(model, guide, objective, ours, x)  # noqa: E731
    b = lambda: hand_written_step(ref_guide.encoder, ref_guide.head, ref_model.decoder, theirs, x, 4.0)  # noqa
    for fn in (a, b):  # warm-up
        time_steps(fn, 3, device)
    times = {"pyrovae": [], "hand-written": []}
    for _ in range(rounds):
        times["pyrovae"].append(time_steps(a, steps, device))
        times["hand-written"].append(time_steps(b, steps, device))
    ours_s, ref_s = statistics.median(times["pyrovae"]), statistics.median(times["hand-written"])
    return ours_s, ref_s


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    device = resolve_device(args.device)
    threads = set_cpu_threads() if device.type == "cpu" else None
    print(f"device {device}, torch {torch.__version__}, threads {threads or torch.get_num_threads()}")
    print(f"{'network':<22}{'batch':>6}{'pyrovae ms':>12}{'hand ms':>10}{'ratio':>8}")
    for name, shape, arch, batch in [("conv 64x64", (1, 64, 64), "conv", 64),
                                     ("MLP 784-256-256-10", (1, 28, 28), "mlp", 64)]:
        ours, ref = bench(shape, arch, batch, device, args.rounds, args.steps)
        print(f"{name:<22}{batch:>6}{ours * 1e3:>12.2f}{ref * 1e3:>10.2f}{ours / ref:>8.3f}")


if __name__ == "__main__":
    main()

"""Procedural dSprites: start-up time, memory held, full-set render throughput and the cost of a training
batch.

Renders all 737,280 images in chunks (as a consumer of the whole set would), checks the mean pixel against
the spec's 0.04249, and prints images/s, total seconds, peak RSS and the bytes the dataset object holds.
Targets (the issue): full set ≤ 30 s on 2 CPU cores, object ≤ 100 MB, a batch of 64 a few ms on CPU.

    python benchmarks/dsprites_generation.py [--threads N] [--chunk 16384] [--device cpu|cuda]
"""
import argparse
import resource
import statistics
import tempfile
import time

import numpy as np
import torch

from pyrovae.data import dsprites_geometry
from pyrovae.data.dsprites import DSprites
from pyrovae.utils import set_cpu_threads


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_batches(ds, device, batch, repeats):
    generator = torch.Generator().manual_seed(0)
    times = []
    for _ in range(repeats):
        indices = torch.randint(len(ds), (batch,), generator=generator).to(device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        ds.batch(indices)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3, float(np.percentile(times, 90)) * 1e3


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: the free cores)")
    p.add_argument("--chunk", type=int, default=16384, help="images per render call")
    p.add_argument("--device", default="cpu", help="device of the training batches (cpu or cuda)")
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args()
    threads = set_cpu_threads(args.threads)
    print(f"torch {torch.__version__}, {threads} CPU thread(s); RSS after imports {rss_mb():.0f} MB")

    with tempfile.TemporaryDirectory() as cache:
        rss0 = rss_mb()
        start = time.perf_counter()
        ds = DSprites(cache_dir=cache)
        cold = time.perf_counter() - start
        dsprites_geometry._GEOMETRY.clear()  # forget the in-process copy: the second start reads the cache file
        start = time.perf_counter()
        ds = DSprites(cache_dir=cache)
        warm = time.perf_counter() - start
    print(f"start: first {cold:.2f} s (builds and caches the tables), second {warm * 1e3:.1f} ms (from the cache)")
    print(f"memory held by the dataset object: {ds.nbytes / 2**20:.2f} MB (RSS growth {rss_mb() - rss0:.1f} MB)")

    n = len(ds)
    lit = 0
    start = time.perf_counter()
    for first in range(0, n, args.chunk):
        images = ds.render(ds.index_to_factors(np.arange(first, min(first + args.chunk, n))))
        lit += int(images.sum(dtype=np.int64))
    total = time.perf_counter() - start
    print(f"full set: {n} images in {total:.2f} s = {n / total:,.0f} images/s "
          f"(chunks of {args.chunk}); mean pixel {lit / n / 4096:.5f} (spec 0.04249)")

    device = torch.device(args.device)
    median, p90 = time_batches(ds, device, args.batch_size, 300)
    print(f"batch of {args.batch_size} on {device}: median {median:.2f} ms, p90 {p90:.2f} ms")
    if device.type != "cpu":
        median, p90 = time_batches(ds, torch.device("cpu"), args.batch_size, 300)
        print(f"batch of {args.batch_size} on cpu: median {median:.2f} ms, p90 {p90:.2f} ms")
    print(f"peak RSS: {peak_rss_mb():.0f} MB (torch itself, plus one chunk of {args.chunk} images as uint8: "
          f"{args.chunk * 4096 / 2**20:.0f} MB)")


if __name__ == "__main__":
    main()

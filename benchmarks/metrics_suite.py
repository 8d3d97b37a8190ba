"""Benchmark: the array metric suite of pyrovae.metrics on the reference fixtures.

Runs every metric of ``../shared/docs/metrics_reference.json`` (MIG, SAP, DCI, modularity/explicitness,
unsupervised, β-VAE, FactorVAE) on the 10,000 × 10 train / 5,000 test codes of ``metric_fixtures.npz``
and prints, per fixture and metric, our seconds beside the reference implementation's (the json's
"timings_s", disentanglement_lib 1.5 on the reference machine), the speed-up, and the largest difference
to the reference values with the tolerance it is held to (MIG, modularity, unsupervised 1e-6; SAP,
DCI 0.01; β-VAE, FactorVAE 0.02).

The reference timings come from another machine; ``--sklearn-dci`` also times DCI through
scikit-learn's own GradientBoostingClassifier here (the reference's code path: minutes per fixture) for
a same-machine ratio.

    python benchmarks/metrics_suite.py [--fixtures perfect rotated random] [--sklearn-dci]
                                       [--threads 1] [--json out.json]
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

DOCS = Path(__file__).resolve().parents[1].parent / "shared" / "docs"
TOLERANCE = {"mig": 1e-6, "modularity_explicitness": 1e-6, "unsupervised": 1e-6, "sap": 0.01, "dci": 0.01,
             "beta_vae": 0.02, "factor_vae": 0.02}
DSPRITES_SIZES = [3, 6, 40, 32, 32]


class FactorGrid:
    """Ground truth whose observations are the factor vectors (as for the reference's sampled scores)."""

    def __init__(self, factor_sizes):
        self.factor_sizes = list(factor_sizes)

    def sample_factors(self, num, random_state):
        return np.stack([random_state.randint(s, size=num) for s in self.factor_sizes], axis=1)

    def sample_observations_from_factors(self, factors, random_state):
        return np.asarray(factors, dtype=np.float64)


def representation(name):
    """The noise-free maps of metrics_reference.json "representations"."""
    K = np.asarray(DSPRITES_SIZES, dtype=np.float64)
    Q = np.linalg.qr(np.random.RandomState(1).randn(10, 10))[0]

    def perfect(obs):
        return np.concatenate([(obs - (K - 1) / 2) * np.sqrt(12) / K, np.zeros((len(obs), 5))], axis=1)

    return {"perfect": perfect, "rotated": lambda obs: perfect(obs) @ Q,
            "random": lambda obs: np.zeros((len(obs), 10))}[name]


def suite(arrays, name, sklearn_dci=False):
    """[(metric, seconds, {key: value})] for one fixture."""
    from pyrovae import metrics

    ctr, ftr = arrays[f"codes_train__{name}"], arrays["factors_train"]
    cte, fte = arrays[f"codes_test__{name}"], arrays["factors_test"]
    runs = [
        ("mig", lambda: {"discrete_mig": metrics.mutual_info_gap(ctr, ftr)}),
        ("sap", lambda: {"SAP_score": metrics.sap_score(ctr, ftr, cte, fte)}),
        ("dci", lambda: metrics.dci(ctr, ftr, cte, fte)),
        ("modularity_explicitness", lambda: metrics.modularity_explicitness(ctr, ftr, cte, fte)),
        ("unsupervised", lambda: metrics.unsupervised_scores(ctr)),
        ("beta_vae", lambda: metrics.beta_vae_score(FactorGrid(DSPRITES_SIZES), representation(name),
                                                    np.random.RandomState(0))),
        ("factor_vae", lambda: metrics.factor_vae_score(FactorGrid(DSPRITES_SIZES), representation(name),
                                                        np.random.RandomState(0))),
    ]
    if sklearn_dci:
        runs.insert(3, ("dci[sklearn]", lambda: metrics.dci(ctr, ftr, cte, fte, estimator="sklearn",
                                                             random_state=None)))
    out = []
    for metric, fn in runs:
        start = time.perf_counter()
        values = fn()
        out.append((metric, time.perf_counter() - start, values))
        print(f"  ... {name} {metric}: {out[-1][1]:.2f} s", file=sys.stderr, flush=True)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=Path, default=DOCS, help="folder with metric_fixtures.npz and "
                        "metrics_reference.json (default: ../shared/docs)")
    parser.add_argument("--fixtures", nargs="+", default=["perfect", "rotated", "random"])
    parser.add_argument("--sklearn-dci", action="store_true", help="also time DCI with scikit-learn's class")
    parser.add_argument("--threads", type=int, default=1, help="torch/BLAS threads (default 1)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)          # BLAS/OpenMP pools of numpy and scikit-learn
    arrays = dict(np.load(args.docs / "metric_fixtures.npz"))
    reference = json.loads((args.docs / "metrics_reference.json").read_text())

    rows, results = [], {}
    for name in args.fixtures:
        ref_values, ref_times = reference["values"][name], reference["timings_s"][name]
        results[name] = {}
        for metric, seconds, values in suite(arrays, name, args.sklearn_dci):
            base = metric.split("[")[0]
            diffs = {key: abs(value - ref_values[f"{base}.{key}"]) for key, value in values.items()
                     if f"{base}.{key}" in ref_values and key != "num_active_dims"}
            worst = max(diffs.values())
            ref_seconds = ref_times.get(base)
            rows.append((name, metric, seconds, ref_seconds, worst, TOLERANCE[base]))
            results[name][metric] = {"seconds": seconds, "reference_seconds": ref_seconds, "values": values,
                                     "max_abs_difference": worst, "tolerance": TOLERANCE[base]}

    print(f"\n{'fixture':<8} {'metric':<24} {'ours s':>8} {'ref s':>8} {'speed-up':>9} {'max |Δ|':>10} "
          f"{'tol':>6}  ok")
    for name, metric, seconds, ref_seconds, worst, tol in rows:
        speed = f"{ref_seconds / seconds:8.1f}x" if ref_seconds else f"{'':>9}"
        print(f"{name:<8} {metric:<24} {seconds:8.2f} {ref_seconds or float('nan'):8.2f} {speed} {worst:10.2e} "
              f"{tol:6.0e}  {'yes' if worst <= tol else 'NO'}")
    print()
    for name in args.fixtures:
        ours = sum(r[2] for r in rows if r[0] == name and "[" not in r[1])
        ref = sum(reference["timings_s"][name].values())
        print(f"{name:<8} suite: ours {ours:7.1f} s, reference {ref:7.1f} s, speed-up {ref / ours:5.1f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0 if all(r[4] <= r[5] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

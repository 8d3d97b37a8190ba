"""Evaluate a trained run with the whole metric suite and write ``metrics.json``.

Codes are the guide's representation (the posterior mean for the Gaussian guide) of observations
sampled through the ground-truth protocol (``sample_factors`` / ``sample_observations_from_factors``),
as in disentanglement_lib: ``num_train`` training and ``num_test`` test points from one RandomState.
Datasets without ground-truth factors get the unsupervised and model-level scores only.
"""
import json
import time

import numpy as np
import torch

from ..train.config import write_json

# (num_train, num_test, sampled-score train/eval points, IS samples) on a GPU: the study's sizes
GPU_SIZES = (10_000, 5_000, 10_000, 1_000)
# on a CPU: sizes that keep the default job within minutes (the sampled scores encode 2 x 64 images
# per point, so they dominate the cost)
CPU_SIZES = (2_000, 1_000, 300, 200)


def representation_function(guide, device, batch_size=256):
    """numpy observations [n, ...] -> numpy codes [n, D], in batches on ``device``."""

    @torch.no_grad()
    def represent(observations):
        observations = torch.as_tensor(np.asarray(observations), dtype=torch.float32)
        codes = [guide.representation(observations[i:i + batch_size].to(device)).cpu()
                 for i in range(0, len(observations), batch_size)]
        return torch.cat(codes).double().numpy()

    return represent


def _codes_and_factors(dataset, represent, num, random_state, batch_size=256):
    codes, factors = [], []
    for start in range(0, num, batch_size):
        f = dataset.sample_factors(min(batch_size, num - start), random_state)
        codes.append(represent(dataset.sample_observations_from_factors(f, random_state)))
        factors.append(f)
    return np.concatenate(codes), np.concatenate(factors)


def evaluate_run(run, num_train=None, seed=0, write=True, verbose=True):
    """Compute every score for a :class:`~pyrovae.train.Run`; returns the dict written to metrics.json."""
    from .. import metrics
    from ..metrics import model_scores

    device = next(run.guide.parameters()).device
    sizes = GPU_SIZES if device.type == "cuda" else CPU_SIZES
    num_train = num_train or run.config.eval_points or sizes[0]
    num_test, num_sampled, num_is = max(num_train // 2, 2), min(sizes[2], num_train), sizes[3]
    dataset, represent = run.dataset, representation_function(run.guide, device)
    results, timings = {"sizes": {"num_train": num_train, "num_test": num_test, "sampled_scores": num_sampled,
                                  "importance_samples": num_is}}, {}

    def timed(name, fn, *args, **kwargs):
        start = time.perf_counter()
        results[name] = fn(*args, **kwargs)
        timings[name] = round(time.perf_counter() - start, 3)

    generator = torch.Generator().manual_seed(seed)
    x = dataset.batch(torch.randint(len(dataset), (min(len(dataset), 256),), generator=generator).to(device))
    run.model.eval(), run.guide.eval()
    kl = model_scores.kl_per_dimension(run.model, run.guide, x)
    results["kl_per_dim"] = kl.tolist()
    results["reconstruction"] = model_scores.reconstruction_error(run.model, run.guide, x)
    ll = model_scores.importance_log_likelihood(run.model, run.guide, x[:64], num_samples=num_is)
    results["log_likelihood"] = {"mean": ll["mean_log_likelihood"], "fraction_pareto_k_above_0.7":
                                 ll["fraction_unreliable"], "max_pareto_k": float(np.max(ll["pareto_k"])),
                                 "num_points": 64, "num_samples": num_is}

    if hasattr(dataset, "sample_factors"):
        rs = np.random.RandomState(seed)
        codes_train, factors_train = _codes_and_factors(dataset, represent, num_train, rs)
        codes_test, factors_test = _codes_and_factors(dataset, represent, num_test, rs)
        results["active_units"] = model_scores.active_units(codes_train)
        start = time.perf_counter()
        results.update(metrics.compute_array_metrics(codes_train, factors_train, codes_test, factors_test))
        timings["array_metrics"] = round(time.perf_counter() - start, 3)
        timed("beta_vae", metrics.beta_vae_score, dataset, represent, np.random.RandomState(seed),
              num_train=num_sampled, num_eval=max(num_sampled // 2, 1))
        timed("factor_vae", metrics.factor_vae_score, dataset, represent, np.random.RandomState(seed),
              num_train=num_sampled, num_eval=max(num_sampled // 2, 1),
              num_variance_estimate=min(num_train, 10_000))
        timed("downstream", metrics.downstream_sample_efficiency, codes_train, factors_train, codes_test,
              factors_test)
    else:
        data = getattr(dataset, "observations", None)
        codes = represent(data[:num_train].numpy()) if data is not None else represent(x.cpu().numpy())
        results["active_units"] = model_scores.active_units(codes)
        timed("unsupervised", metrics.unsupervised_scores, codes)
    results["timings_s"] = timings
    if write:
        write_json(run.run_dir / "metrics.json", results)
    if verbose:
        print(format_table(results))
    return results


def format_table(results):
    """A two-column text table of the scalar scores."""
    rows = []
    for group, value in results.items():
        if group in ("timings_s", "sizes", "kl_per_dim"):
            continue
        if isinstance(value, dict):
            rows += [(f"{group}.{k}", v) for k, v in value.items() if isinstance(v, (int, float))]
        elif isinstance(value, (int, float)):
            rows.append((group, value))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value:.4f}" if isinstance(value, float) else f"{name:<{width}}  {value}"
                     for name, value in rows)


def load_metrics(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())

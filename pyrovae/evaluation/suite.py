"""Evaluate a trained run with the whole metric suite (or the metrics named) and write ``metrics.json``.

Codes are the guide's representation (the posterior mean for the Gaussian guide) of observations
sampled through the ground-truth protocol (``sample_factors`` / ``sample_observations_from_factors``),
as in disentanglement_lib: ``num_train`` training and ``num_test`` test points from one RandomState.
Datasets without ground-truth factors get the unsupervised and model-level scores only.

Two MIGs are reported side by side: the study's (``mig.discrete_mig``: 20-bin histograms of the codes)
and Chen et al.'s (``chen_mig.mig``: mutual information estimated from q(z|x) itself, see
:mod:`pyrovae.metrics.chen_mig`), by default on the same ``num_train`` points; ``chen_points="all"``
uses every image of the dataset, as Chen et al. do.
"""
import json
import logging
import time

import numpy as np
import torch

from .. import metrics as scores
from ..atomic import write_json
from ..errors import PyroVAEError
from ..train.rundir import METRICS as METRICS_FILE
from . import model_scores
from .chen_mig import chen_mig
from .codes import codes_and_factors, gaussian_posterior, representation_function

logger = logging.getLogger(__name__)

#: the ``--metrics`` names, in the order they are computed ("model": KL per dimension, reconstruction,
#: log p(x), active units; the others write the metrics.json group of the same name, with underscores)
METRICS = ("model", "mig", "chen-mig", "sap", "dci", "modularity", "unsupervised", "beta-vae", "factor-vae",
           "downstream")
ARRAY_METRIC_OF = {"mig": "mig", "sap": "sap", "dci": "dci", "modularity": "modularity_explicitness",
                   "unsupervised": "unsupervised"}
MIG_NOTE = ("The two MIGs differ because the study's bins the posterior means into 20 equal-width bins (the "
            "outermost codes set the bin width, and the binning caps what a code can resolve), while Chen et "
            "al.'s integrates over q(z|x) itself, noise included, without bins.")

# On a GPU: the study's sizes. On a CPU: sizes that keep the default job within minutes (the sampled
# scores encode 2 x 64 images per point, so they dominate the cost).
_SIZES = {"cuda": {"num_train": 10_000, "num_test": 5_000, "num_sampled": 10_000, "num_importance": 1_000},
          "cpu": {"num_train": 2_000, "num_test": 1_000, "num_sampled": 300, "num_importance": 200}}


def eval_sizes(device):
    """The evaluation sizes on ``device``: ``num_train`` / ``num_test`` codes for the array metrics,
    ``num_sampled`` training points of the sampled scores (beta-VAE, FactorVAE) and ``num_importance``
    importance samples of log p(x)."""
    return dict(_SIZES["cuda" if torch.device(device).type == "cuda" else "cpu"])


def parse_metrics(names):
    """``--metrics`` (a comma-separated string or a list; ``all`` for every metric) as a list of names."""
    if names is None:
        return list(METRICS)
    items = [n.strip().lower().replace("_", "-") for n in (names.split(",") if isinstance(names, str) else names)]
    items = [{"modularity-explicitness": "modularity"}.get(n, n) for n in items if n]
    if "all" in items:
        return list(METRICS)
    unknown = [n for n in items if n not in METRICS]
    if unknown or not items:
        raise PyroVAEError(f"unknown metric(s) {', '.join(unknown) or '(none given)'}: choose from "
                           f"{', '.join(METRICS)} or all (comma-separated)")
    return [n for n in METRICS if n in items]


def evaluate_run(run, num_train=None, seed=0, write=True, metrics=None, chen_points=None):
    """Compute the scores of a :class:`~pyrovae.train.Run` (all of them, or the ``metrics`` named: see
    :func:`parse_metrics`); returns the dict written to metrics.json (:func:`format_table` shows it).
    With ``metrics`` given, the results are merged into the run's existing metrics.json. ``chen_points``:
    the points of Chen et al.'s MIG (default ``num_train``; ``"all"``: the whole dataset)."""
    selected = set(parse_metrics(metrics))
    device = next(run.guide.parameters()).device
    sizes = eval_sizes(device)
    num_train = num_train or run.config.eval_points or sizes["num_train"]
    num_test, num_sampled = max(num_train // 2, 2), min(sizes["num_sampled"], num_train)
    num_is = sizes["num_importance"]
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
    if "model" in selected:
        kl = model_scores.kl_per_dimension(run.model, run.guide, x)
        results["kl_per_dim"] = kl.tolist()
        results["reconstruction"] = model_scores.reconstruction_error(run.model, run.guide, x)
        ll = model_scores.importance_log_likelihood(run.model, run.guide, x[:64], num_samples=num_is)
        results["log_likelihood"] = {"mean": ll["mean_log_likelihood"], "fraction_pareto_k_above_0.7":
                                     ll["fraction_unreliable"], "max_pareto_k": float(np.max(ll["pareto_k"])),
                                     "num_points": 64, "num_samples": num_is}

    array = [ARRAY_METRIC_OF[n] for n in METRICS if n in selected and n in ARRAY_METRIC_OF]
    if hasattr(dataset, "sample_factors"):
        if selected & {"model", "downstream"} or array:
            rs = np.random.RandomState(seed)
            codes_train, factors_train = codes_and_factors(dataset, represent, num_train, rs)
            codes_test, factors_test = codes_and_factors(dataset, represent, num_test, rs)
        if "model" in selected:
            results["active_units"] = scores.active_units(codes_train)
        if array:
            start = time.perf_counter()
            results.update(scores.compute_array_metrics(codes_train, factors_train, codes_test, factors_test,
                                                        metrics=array))
            timings["array_metrics"] = round(time.perf_counter() - start, 3)
        if "beta-vae" in selected:
            timed("beta_vae", scores.beta_vae_score, dataset, represent, np.random.RandomState(seed),
                  num_train=num_sampled, num_eval=max(num_sampled // 2, 1))
        if "factor-vae" in selected:
            timed("factor_vae", scores.factor_vae_score, dataset, represent, np.random.RandomState(seed),
                  num_train=num_sampled, num_eval=max(num_sampled // 2, 1),
                  num_variance_estimate=min(num_train, 10_000))
        if "downstream" in selected:
            timed("downstream", scores.downstream_sample_efficiency, codes_train, factors_train, codes_test,
                  factors_test)
        if "chen-mig" in selected:
            if gaussian_posterior(run.guide) or metrics is not None:  # asked for by name: an error if impossible
                timed("chen_mig", chen_mig, run.guide, dataset, num_points=chen_points or num_train, seed=seed)
            else:
                results["chen_mig"] = {"not_computed": f"needs a Gaussian guide, not {type(run.guide).__name__}"}
    else:
        if metrics is not None and "chen-mig" in selected:
            raise PyroVAEError("chen-mig needs ground-truth factors, which this run's dataset does not have")
        if selected & {"model", "unsupervised"}:
            data = getattr(dataset, "observations", None)
            codes = represent(data[:num_train].numpy()) if data is not None else represent(x.cpu().numpy())
            if "model" in selected:
                results["active_units"] = scores.active_units(codes)
            if "unsupervised" in selected:
                timed("unsupervised", scores.unsupervised_scores, codes)
    results["timings_s"] = timings
    path = run.run_dir / METRICS_FILE
    if metrics is not None and path.is_file():  # a selection: keep the other scores
        previous = json.loads(path.read_text())
        results = {**previous, **results, "sizes": {**previous.get("sizes", {}), **results["sizes"]},
                   "timings_s": {**previous.get("timings_s", {}), **timings}}
    if write:
        write_json(path, results)
    logger.info("evaluated %s: %s", run.run_dir, ", ".join(f"{k} {v:g} s" for k, v in timings.items()) or "-")
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
    if not rows:
        return "(no scalar scores)"
    width = max(len(name) for name, _ in rows)
    table = "\n".join(f"{name:<{width}}  {value:.4f}" if isinstance(value, float) else f"{name:<{width}}  {value}"
                      for name, value in rows)
    study, chen = results.get("mig", {}).get("discrete_mig"), results.get("chen_mig", {}).get("mig")
    if isinstance(study, float) and isinstance(chen, float):
        table += (f"\n\nMIG: {study:.4f} (the study's, discrete) | {chen:.4f} ± {results['chen_mig']['standard_error']:.4f} "
                  f"(Chen et al.'s, from q(z|x) on {results['chen_mig']['num_points']} points). {MIG_NOTE}")
    return table

"""The baseline table: every row scored for each seed with the β-VAE score, the FactorVAE score, MIG,
SAP and DCI (:func:`baseline_table`)."""
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from ... import metrics
from ...data import load_dataset
from ...errors import PyroVAEError
from ...evaluation import codes_and_factors, eval_sizes
from ...train.config import THESIS_STEPS
from ...utils import resolve_device, resolve_precision
from ...validation import check_int, check_seeds
from ..summary import finite_values, format_number, mean_sd
from .representations import build_representation

#: The β-VAE score (%) on dSprites of Higgins et al. (2017), Table 1 / Fig. 6: (mean, sd) over their
#: replicates (None where the paper gives no spread).
PUBLISHED = {
    "ground_truth": (100.0, None),
    "raw_pixels": (45.75, 0.8),
    "pca": (84.9, 0.4),
    "ica": (42.03, 10.6),
    "untrained_vae": (44.14, 2.5),
    "vae": (61.58, 0.5),
    "beta_vae": (99.23, 0.1),
    "infogan": (73.5, 0.9),
}
PUBLISHED_SOURCE = ("Higgins, I., Matthey, L., Pal, A., Burgess, C., Glorot, X., Botvinick, M., Mohamed, S. & "
                    "Lerchner, A. (2017). β-VAE: Learning Basic Visual Concepts with a Constrained Variational "
                    "Framework. ICLR.")
LABELS = {"ground_truth": "ground truth", "raw_pixels": "raw pixels", "pca": "PCA", "ica": "ICA",
          "untrained_vae": "untrained VAE", "vae": "VAE", "beta_vae": "β-VAE (β=4)", "infogan": "InfoGAN",
          "aae": "AAE"}
BASELINES = tuple(LABELS)
#: (key in a seed's result, column label) of the table
COLUMNS = [("beta_vae", "β-VAE score"), ("beta_vae_standardised", "β-VAE score, standardised codes"),
           ("factor_vae", "FactorVAE score"), ("mig", "MIG"), ("sap", "SAP"),
           ("dci_disentanglement", "DCI dis."), ("dci_completeness", "DCI compl."),
           ("dci_informativeness", "DCI info.")]
SCORES = ("beta_vae", "beta_vae_standardised", "factor_vae", "mig", "sap", "dci")
#: steps of each trained row on a CPU (a VAE step takes ~0.04 s there, an InfoGAN step ~0.2 s)
CPU_TRAIN_STEPS = 1_000
logger = logging.getLogger(__name__)


def score_representation(dataset, represent, seed, num_train, num_test, num_sampled, batch_size=64,
                         slow_metric_max_dims=64, scores=SCORES):
    """The scores of one representation: ``{"beta_vae", "beta_vae_standardised", "factor_vae", "mig", "sap",
    "dci_disentanglement", "dci_completeness", "dci_informativeness", "dims", "skipped", "timings_s"}``.
    None where not computed: a score not in ``scores``, or SAP and DCI above ``slow_metric_max_dims``
    dimensions (``skipped`` says why). The β-VAE and FactorVAE scores report their evaluation accuracy;
    ``beta_vae_standardised`` is the β-VAE score, same seed, of the codes divided by their standard
    deviation over the ``num_train`` training codes (constant dimensions left as they are): the study's
    classifier is not scale-invariant (no feature scaling, C = 1), so codes that vary little score near
    chance however informative they are; this column shows how much of a row's score is scale."""
    unknown = [s for s in scores if s not in SCORES]
    if unknown:
        raise PyroVAEError(f"unknown score(s) {', '.join(unknown)}: choose from {', '.join(SCORES)}")
    timings, out = {}, {key: None for key, _ in COLUMNS}
    out["skipped"] = {}

    def timed(name, fn, *args, **kwargs):
        start = time.perf_counter()
        value = fn(*args, **kwargs)
        timings[name] = round(time.perf_counter() - start, 3)
        return value

    rs = np.random.RandomState(seed)
    codes_train, factors_train = codes_and_factors(dataset, represent, num_train, rs)
    codes_test, factors_test = codes_and_factors(dataset, represent, num_test, rs)
    dims = codes_train.shape[1]
    out["dims"] = int(dims)
    num_eval = max(num_sampled // 2, 1)
    if "beta_vae" in scores:
        out["beta_vae"] = timed("beta_vae", metrics.beta_vae_score, dataset, represent, np.random.RandomState(seed),
                                batch_size=batch_size, num_train=num_sampled, num_eval=num_eval)["eval_accuracy"]
    if "beta_vae_standardised" in scores:
        scale = codes_train.std(axis=0)
        scale[~(scale > 0)] = 1.0

        def standardised(observations):
            return np.asarray(represent(observations), dtype=np.float64) / scale

        out["beta_vae_standardised"] = timed(
            "beta_vae_standardised", metrics.beta_vae_score, dataset, standardised, np.random.RandomState(seed),
            batch_size=batch_size, num_train=num_sampled, num_eval=num_eval)["eval_accuracy"]
    if "factor_vae" in scores:
        out["factor_vae"] = timed("factor_vae", metrics.factor_vae_score, dataset, represent,
                                  np.random.RandomState(seed), batch_size=batch_size, num_train=num_sampled,
                                  num_eval=num_eval, num_variance_estimate=min(num_train, 10_000))["eval_accuracy"]
    names = [s for s in ("mig", "sap", "dci") if s in scores]
    if dims > slow_metric_max_dims:
        why = f"{dims} dimensions > {slow_metric_max_dims}: SAP fits an SVM per dimension and factor, DCI " \
              "gradient-boosted trees over every dimension"
        out["skipped"] = {s: why for s in names if s in ("sap", "dci")}
        names = [s for s in names if s == "mig"]
    if names:
        array = timed("array_metrics", metrics.compute_array_metrics, codes_train, factors_train, codes_test,
                      factors_test, metrics=names)
        if "mig" in array:
            out["mig"] = array["mig"]["discrete_mig"]
        if "sap" in array:
            out["sap"] = array["sap"]["SAP_score"]
        if "dci" in array:
            out["dci_disentanglement"] = array["dci"]["disentanglement"]
            out["dci_completeness"] = array["dci"]["completeness"]
            out["dci_informativeness"] = array["dci"]["informativeness_test"]
    out["timings_s"] = timings
    return out


def baseline_table(dataset="dsprites", latent_dim=10, num_train=None, num_test=None, num_sampled=None,
                   seeds=(0,), train_steps=None, runs=None, baselines=None, out=None, device="auto",
                   batch_size=64, train_lr=1e-4, plots=False, progress=False, slow_metric_max_dims=64,
                   echo=logger.info, precision="auto"):
    """Score every baseline (:data:`BASELINES`, or those named in ``baselines``) for each seed; returns the
    dict that :func:`~pyrovae.experiments.baselines.write_baselines` saves as ``baselines.json``.

    ``dataset``: a registered name or a dataset with ground-truth factors. Sizes default to
    :func:`pyrovae.evaluation.eval_sizes` of the device (the study's on a GPU): ``num_train`` /
    ``num_test`` codes for MIG, SAP and DCI (also the PCA/ICA fit size), ``num_sampled`` training points
    of the β-VAE and FactorVAE scores (half as many evaluation points). ``train_steps``: steps of each
    trained row (default: the thesis budget, 22,260, on a GPU; 1,000 on a CPU); ``train_lr`` their
    learning rate. ``runs``: ``{name: run_dir}`` of trained runs to score instead of training ``name``
    (any other name adds a row). Trained runs go to ``out/runs/<name>-seed<seed>`` (a temporary dir
    without ``out``). ``precision``: of the VAE-family rows' training (:class:`pyrovae.train.TrainConfig`;
    InfoGAN trains in fp32). Each row and seed's scores go to ``echo`` as one line.
    """
    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    gpu = device.type == "cuda"
    defaults = eval_sizes(device)
    sizes = {key: defaults[key] if value is None else check_int(key.replace("_", "-"), value, minimum=2)
             for key, value in (("num_train", num_train), ("num_test", num_test), ("num_sampled", num_sampled))}
    latent_dim = check_int("latent-dim", latent_dim, minimum=2)
    seeds = check_seeds(seeds)
    train_steps = check_int("train-steps", train_steps) if train_steps is not None else \
        (THESIS_STEPS if gpu else CPU_TRAIN_STEPS)
    runs = dict(runs or {})
    names = list(BASELINES) if baselines is None else list(baselines)
    unknown = [n for n in names if n not in LABELS]
    if unknown:
        raise PyroVAEError(f"unknown baseline(s) {', '.join(unknown)}: choose from {', '.join(BASELINES)}")
    names += [n for n in runs if n not in names]
    for name, run_dir in runs.items():
        if not (Path(run_dir) / "config.json").is_file():
            raise PyroVAEError(f"--run {name}={run_dir}: not a pyrovae run dir (no config.json)")
    dataset_name = dataset if isinstance(dataset, str) else getattr(dataset, "name", type(dataset).__name__)
    if isinstance(dataset, str):
        dataset = load_dataset(dataset)
    if not hasattr(dataset, "sample_factors") or not hasattr(dataset, "factor_sizes"):
        raise PyroVAEError(f"dataset {dataset_name!r} has no ground-truth factors: the baseline table needs "
                           "sample_factors and sample_observations_from_factors (e.g. --dataset dsprites)")

    tmp = None
    if out is None:
        tmp = tempfile.TemporaryDirectory(prefix="pyrovae-baselines-")
        root = Path(tmp.name)
    else:
        root = Path(out)
        root.mkdir(parents=True, exist_ok=True)
    result = {"dataset": dataset_name, "latent_dim": latent_dim, "sizes": {**sizes, "batch_size": batch_size},
              "seeds": seeds, "train_steps": train_steps, "train_lr": train_lr, "device": str(device),
              "precision": precision,
              "runs": {k: str(v) for k, v in runs.items()}, "rows": {}, "published": PUBLISHED,
              "published_source": PUBLISHED_SOURCE}
    train = {"steps": train_steps, "lr": train_lr, "batch_size": batch_size, "plots": plots, "progress": progress,
             "precision": precision}
    start = time.perf_counter()
    try:
        for name in names:
            per_seed = []
            for seed in seeds:
                t0 = time.perf_counter()
                represent, scored_on, info = build_representation(name, dataset, latent_dim, seed, sizes["num_train"],
                                                                  train, runs, root, device)
                t1 = time.perf_counter()
                scores = score_representation(scored_on, represent, seed, sizes["num_train"], sizes["num_test"],
                                              sizes["num_sampled"], batch_size, slow_metric_max_dims)
                scores.update(seed=seed, build_s=round(t1 - t0, 3), score_s=round(time.perf_counter() - t1, 3),
                              **info)
                per_seed.append(scores)
                echo(_progress_line(name, scores))
            result["rows"][name] = {"label": LABELS.get(name, name), "per_seed": per_seed,
                                    "summary": _summary(per_seed)}
    finally:
        if tmp is not None:
            tmp.cleanup()
    result["total_s"] = round(time.perf_counter() - start, 1)
    return result


def _progress_line(name, scores):
    def fmt(key):
        return format_number(scores[key], fixed=True)

    return (f"{LABELS.get(name, name)} seed {scores['seed']}: β-VAE {fmt('beta_vae')} (std. codes "
            f"{fmt('beta_vae_standardised')}), FactorVAE {fmt('factor_vae')}, MIG {fmt('mig')}, SAP {fmt('sap')}, "
            f"DCI {fmt('dci_disentanglement')} ({scores['build_s']:.0f} s + {scores['score_s']:.0f} s)")


def _summary(per_seed):
    """{column: {"mean", "sd", "n"}} over seeds (sd None for one seed; mean None where not computed)."""
    summary = {}
    for key, _ in COLUMNS:
        values = finite_values(per_seed, key)
        mean, sd = mean_sd(values)
        summary[key] = {"mean": mean, "sd": sd, "n": len(values)}
    return summary

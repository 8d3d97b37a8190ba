r"""The classic baselines of the β-VAE paper's metric table, scored with pyrovae's metric suite.

Higgins et al. (2017, Table 1 / Fig. 6, dSprites) compare the β-VAE score of learnt representations with
fixed ones. ``baseline_table`` rebuilds every row as a representation function (observations -> codes
[n, D]) and scores each with the β-VAE score, the FactorVAE score, MIG, SAP and DCI (the definitions of
the 2019 study, :mod:`pyrovae.metrics`):

=================  ============================================================================================
row                representation
=================  ============================================================================================
ground_truth       the factor classes themselves (the metrics' upper reference)
raw_pixels         the flattened image (4,096 dimensions on dSprites)
pca                the first ``latent_dim`` principal components (scikit-learn ``PCA``, randomised SVD)
ica                ``latent_dim`` independent components (``FastICA`` on those principal components)
untrained_vae      the posterior mean of a conv VAE encoder at its initialisation (seeded)
vae                the posterior mean of a VAE trained with the ELBO
beta_vae           the posterior mean of a β-VAE, β = 4 (Higgins et al.'s dSprites setting)
infogan            InfoGAN's Q mean of its ``latent_dim`` continuous codes (:mod:`pyrovae.models.infogan`)
aae                the posterior mean of an adversarial autoencoder (:mod:`pyrovae.objectives.aae`)
=================  ============================================================================================

PCA and ICA are fitted on ``num_train`` observations drawn with the seed; FastICA on the PCA projection is
FastICA on the data (FastICA whitens by PCA to ``n_components`` first), only faster. The trained rows are
trained here with ``train_steps`` steps each (:func:`pyrovae.train.fit`, and
:func:`pyrovae.train.infogan.fit_infogan` for InfoGAN) or read from run dirs (``runs={"vae": RUN_DIR}``;
a name that is no baseline adds a row). :data:`PUBLISHED` holds the paper's numbers, shown beside ours
by :func:`format_markdown`, whose notes say where our metric variant differs from the paper's protocol.

Raw pixels have 4,096 dimensions: SAP (one SVM per dimension and factor) and DCI (gradient-boosted trees
over all dimensions) are not computed above ``slow_metric_max_dims`` dimensions (64) and show "—".
"""
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ..errors import PyroVAEError
from ..evaluation import codes_and_factors, representation_function
from ..validation import check_int

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
FIXED = ("ground_truth", "raw_pixels", "pca", "ica", "untrained_vae")
#: trained rows: name -> (objective, its options); InfoGAN is trained by fit_infogan
TRAINED = {"vae": ("vae", {}), "beta_vae": ("beta-vae", {"beta": 4.0}), "aae": ("aae", {})}
#: (key in a seed's result, column label) of the table
COLUMNS = [("beta_vae", "β-VAE score"), ("beta_vae_standardised", "β-VAE score, standardised codes"),
           ("factor_vae", "FactorVAE score"), ("mig", "MIG"), ("sap", "SAP"),
           ("dci_disentanglement", "DCI dis."), ("dci_completeness", "DCI compl."),
           ("dci_informativeness", "DCI info.")]
#: the study's sizes (Locatello et al. 2019): the full-size table
FULL_SIZES = {"num_train": 10_000, "num_test": 5_000, "num_sampled": 10_000}
#: sizes that keep the table within minutes on a CPU
CPU_SIZES = {"num_train": 1_000, "num_test": 500, "num_sampled": 300}
#: steps of each trained row on a CPU (a VAE step takes ~0.04 s there, an InfoGAN step ~0.2 s)
CPU_TRAIN_STEPS = 1_000

METRIC_NOTES = """\
- **β-VAE score: our variant is the 2019 study's, not the paper's protocol.** Ours is disentanglement_lib's
  `beta_vae_sklearn` (Locatello et al. 2019): each point draws one factor k, two batches of 64 factor vectors
  sharing factor k, and averages |z¹ − z²| over the batch; a scikit-learn `LogisticRegression` (lbfgs, C = 1,
  100 iterations, no feature scaling) is fitted on `num_sampled` such points and the score is its accuracy
  on `num_sampled / 2` fresh points (the study: 10,000 and 5,000). Higgins et al. (2017) built the same
  pairs and averages but trained their own low-capacity linear classifier, with their own optimiser, number
  of points and batch size, and report the mean ± sd over their replicates. The classifier's training
  changes the accuracy — Kim & Mnih (2018) point out that the score depends on the classifier's
  hyperparameters, and that it can reach 100 % when only K − 1 factors are disentangled — and our
  representations are not theirs (our PCA/ICA fits, networks, training budgets, and procedurally rendered
  dSprites, IoU 0.9997 to the official images). Compare the ordering of the rows, not the digits.
- **"β-VAE score, std. codes"** is the same score (same seed and points) of the codes divided by their
  standard deviation over the training codes. The study's classifier is not scale-invariant (no feature
  scaling, L2 penalty C = 1): codes that vary little — an untrained encoder's means vary by ~1e-3 — score
  near chance however informative their differences are. The gap between the two columns is that scale
  effect, and one likely reason why a row (the untrained VAE above all) can differ from the paper's.
- FactorVAE score, MIG, SAP and DCI are the 2019 study's definitions (`pyrovae/metrics/`); the β-VAE paper
  reports none of them. DCI columns: disentanglement, completeness, informativeness (test accuracy).
- Every score is computed on codes drawn through the ground-truth protocol (`sample_factors`,
  `sample_observations_from_factors`) from one `RandomState(seed)` per metric; the learnt representations
  are the posterior means (Q's mean for InfoGAN)."""


# ---- representations --------------------------------------------------------------------------------
class FactorsAsObservations:
    """A ground-truth dataset whose "observations" are its factor classes (float), so that the identity
    representation scores the ground truth with the unchanged metric code. The wrapped dataset still
    renders each batch, so every random number is drawn in the same order as for the other rows."""

    def __init__(self, dataset):
        self.dataset = dataset
        self.factor_sizes = dataset.factor_sizes

    def sample_factors(self, num, random_state):
        return self.dataset.sample_factors(num, random_state)

    def sample_observations_from_factors(self, factors, random_state):
        self.dataset.sample_observations_from_factors(factors, random_state)
        return np.asarray(factors, dtype=np.float64)


def identity_representation(observations):
    return np.asarray(observations, dtype=np.float64)


def pixel_representation(observations):
    """The raw pixels, flattened: float64 [n, C·H·W]."""
    observations = np.asarray(observations, dtype=np.float64)
    return observations.reshape(len(observations), -1)


def _fitted_pca(dataset, dims, num_fit, seed):
    """(``sklearn.decomposition.PCA`` with ``dims`` components, randomised SVD seeded by ``seed``, the pixels
    it was fitted on): ``num_fit`` observations drawn through the ground-truth protocol from ``RandomState(seed)``."""
    from sklearn.decomposition import PCA

    rs = np.random.RandomState(seed)
    data = pixel_representation(dataset.sample_observations_from_factors(dataset.sample_factors(num_fit, rs), rs))
    return PCA(n_components=dims, svd_solver="randomized", random_state=seed).fit(data), data


def pca_representation(dataset, dims, num_fit, seed):
    """(representation function, fitted ``sklearn.decomposition.PCA``): the first ``dims`` principal
    components of ``num_fit`` observations drawn with ``seed`` (randomised SVD seeded by ``seed``)."""
    pca, _ = _fitted_pca(dataset, dims, num_fit, seed)

    def represent(observations):
        return pca.transform(pixel_representation(observations))

    return represent, pca


def ica_representation(dataset, dims, num_fit, seed, max_iter=1000):
    """(representation function, (PCA, FastICA)): ``dims`` independent components (``FastICA``, unit-variance
    whitening, seeded) of the ``dims`` principal components of ``num_fit`` observations drawn with ``seed``."""
    import warnings

    from sklearn.decomposition import FastICA
    from sklearn.exceptions import ConvergenceWarning

    pca, data = _fitted_pca(dataset, dims, num_fit, seed)
    ica = FastICA(n_components=dims, whiten="unit-variance", max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ica.fit(pca.transform(data))

    def represent(observations):
        return ica.transform(pca.transform(pixel_representation(observations)))

    return represent, (pca, ica)


def untrained_vae_representation(dataset, latent_dim, seed, device="cpu"):
    """The posterior mean of the standard VAE encoder (:func:`pyrovae.models.build_vae`) at its seeded
    initialisation."""
    from ..models import build_vae

    torch.manual_seed(seed)
    _, guide = build_vae(dataset.observation_shape, latent_dim)
    guide.to(device).eval()
    return representation_function(guide, torch.device(device))


# ---- scoring ------------------------------------------------------------------------------------------
SCORES = ("beta_vae", "beta_vae_standardised", "factor_vae", "mig", "sap", "dci")


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
    from .. import metrics

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


# ---- trained rows ------------------------------------------------------------------------------------
def train_vae_baseline(dataset, objective, options, latent_dim, steps, seed, run_dir, device="auto", lr=1e-4,
                       batch_size=64, plots=False, progress=False, precision="auto"):
    """Train a VAE-family baseline with :func:`pyrovae.train.fit` into ``run_dir``; returns the Run."""
    from ..train import TrainConfig, fit

    config = TrainConfig(objective=objective, objective_options=dict(options), dataset=getattr(dataset, "name", "data"),
                         latent_dim=latent_dim, steps=steps, seed=seed, device=device, lr=lr,
                         batch_size=batch_size, out=str(run_dir), plots=plots, evaluate=False,
                         checkpoint_every=max(steps or 1, 1), precision=precision)
    return fit(config, dataset=dataset, progress=progress)


def train_infogan_baseline(dataset, latent_dim, steps, seed, run_dir, device="cpu", lr_discriminator=2e-4,
                           lr_generator=1e-3, batch_size=64, noise_dim=5, plots=False, progress=False):
    """Train an InfoGAN with ``latent_dim`` continuous codes (no categorical code, so that its
    representation has ``latent_dim`` columns like the other rows) and ``noise_dim`` noise dimensions;
    writes ``infogan.pt`` (config and weights), ``history.json`` and, with ``plots``, ``traversals.png``
    into ``run_dir``; returns the InfoGAN."""
    from ..models.infogan import InfoGAN
    from ..plots import plot_infogan_traversals
    from ..train.infogan import fit_infogan

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    gan = InfoGAN(dataset.observation_shape, num_continuous=latent_dim, categorical=(), noise_dim=noise_dim)
    gan.to(device)
    history = fit_infogan(gan, dataset, steps=steps, batch_size=batch_size, lr_discriminator=lr_discriminator,
                          lr_generator=lr_generator, seed=seed, progress=progress)
    torch.save({"config": gan.config(), "state_dict": gan.state_dict(), "steps": steps}, run_dir / "infogan.pt")
    (run_dir / "history.json").write_text(json.dumps(history, indent=1))
    if plots:
        plot_infogan_traversals(gan, run_dir / "traversals.png")
    return gan


def _parse_seeds(seeds):
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in seeds):
        raise PyroVAEError(f"seeds must be one or more integers >= 0, got {seeds!r}")
    return [int(s) for s in seeds]


def baseline_table(dataset="dsprites", latent_dim=10, num_train=None, num_test=None, num_sampled=None,
                   seeds=(0,), train_steps=None, runs=None, baselines=None, out=None, device="auto",
                   batch_size=64, train_lr=1e-4, plots=False, progress=False, slow_metric_max_dims=64,
                   echo=print, precision="auto"):
    """Score every baseline (:data:`BASELINES`, or those named in ``baselines``) for each seed; returns the
    dict that :func:`write_baselines` saves as ``baselines.json``.

    ``dataset``: a registered name or a dataset with ground-truth factors. Sizes default to the study's
    (:data:`FULL_SIZES`) on a GPU and to :data:`CPU_SIZES` on a CPU: ``num_train`` / ``num_test`` codes
    for MIG, SAP and DCI (also the PCA/ICA fit size), ``num_sampled`` training points of the β-VAE and
    FactorVAE scores (half as many evaluation points). ``train_steps``: steps of each trained row
    (default: the thesis budget, 22,260, on a GPU; 1,000 on a CPU); ``train_lr`` their learning rate.
    ``runs``: ``{name: run_dir}`` of trained runs to score instead of training ``name`` (any other name
    adds a row). Trained runs go to ``out/runs/<name>-seed<seed>`` (a temporary dir without ``out``).
    ``precision``: of the VAE-family rows' training (:class:`pyrovae.train.TrainConfig`; InfoGAN trains
    in fp32).
    """
    from ..data import load_dataset
    from ..train.config import THESIS_STEPS
    from ..utils import resolve_device, resolve_precision

    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    gpu = device.type == "cuda"
    sizes = dict(FULL_SIZES if gpu else CPU_SIZES)
    for key, value in (("num_train", num_train), ("num_test", num_test), ("num_sampled", num_sampled)):
        if value is not None:
            sizes[key] = check_int(key.replace("_", "-"), value, minimum=2)
    latent_dim = check_int("latent-dim", latent_dim, minimum=2)
    seeds = _parse_seeds(seeds)
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
    start = time.perf_counter()
    try:
        for name in names:
            per_seed = []
            for seed in seeds:
                t0 = time.perf_counter()
                represent, scored_on, info = _representation(name, dataset, latent_dim, seed, sizes, train_steps,
                                                             train_lr, batch_size, runs, root, device, plots, progress,
                                                             precision)
                t1 = time.perf_counter()
                scores = score_representation(scored_on, represent, seed, sizes["num_train"], sizes["num_test"],
                                              sizes["num_sampled"], batch_size, slow_metric_max_dims)
                scores.update(seed=seed, build_s=round(t1 - t0, 3), score_s=round(time.perf_counter() - t1, 3),
                              **info)
                per_seed.append(scores)
                echo(f"{LABELS.get(name, name)} seed {seed}: β-VAE {_fmt(scores['beta_vae'])} (std. codes "
                     f"{_fmt(scores['beta_vae_standardised'])}), FactorVAE "
                     f"{_fmt(scores['factor_vae'])}, MIG {_fmt(scores['mig'])}, SAP {_fmt(scores['sap'])}, DCI "
                     f"{_fmt(scores['dci_disentanglement'])} ({scores['build_s']:.0f} s + {scores['score_s']:.0f} s)")
            result["rows"][name] = {"label": LABELS.get(name, name), "per_seed": per_seed,
                                    "summary": _summary(per_seed)}
    finally:
        if tmp is not None:
            tmp.cleanup()
    result["total_s"] = round(time.perf_counter() - start, 1)
    return result


def _representation(name, dataset, latent_dim, seed, sizes, train_steps, train_lr, batch_size, runs, root, device,
                    plots, progress, precision="auto"):
    """(representation function, the dataset to score it on, info for the JSON) of one row and seed."""
    if name in runs:
        from ..train import load_run

        run = load_run(runs[name], device=str(device))
        if tuple(run.dataset.observation_shape) != tuple(dataset.observation_shape):
            raise PyroVAEError(f"--run {name}={runs[name]} was trained on data of shape "
                               f"{tuple(run.dataset.observation_shape)}, not {tuple(dataset.observation_shape)}")
        return representation_function(run.guide, device), dataset, {"run_dir": str(runs[name]), "steps": run.step}
    if name == "ground_truth":
        return identity_representation, FactorsAsObservations(dataset), {}
    if name == "raw_pixels":
        return pixel_representation, dataset, {}
    if name == "pca":
        represent, pca = pca_representation(dataset, latent_dim, sizes["num_train"], seed)
        return represent, dataset, {"explained_variance": float(pca.explained_variance_ratio_.sum())}
    if name == "ica":
        represent, _ = ica_representation(dataset, latent_dim, sizes["num_train"], seed)
        return represent, dataset, {}
    if name == "untrained_vae":
        return untrained_vae_representation(dataset, latent_dim, seed, device), dataset, {}
    run_dir = root / "runs" / f"{name.replace('_', '-')}-seed{seed}"
    if name == "infogan":
        gan = train_infogan_baseline(dataset, latent_dim, train_steps, seed, run_dir, device=device,
                                     batch_size=batch_size, plots=plots, progress=progress)
        return representation_function(gan, device), dataset, {"run_dir": str(run_dir), "steps": train_steps}
    objective, options = TRAINED[name]
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)  # a table is recomputed from scratch: never resume a stale run
    run = train_vae_baseline(dataset, objective, options, latent_dim, train_steps, seed, run_dir, device=str(device),
                             lr=train_lr, batch_size=batch_size, plots=plots, progress=progress, precision=precision)
    return representation_function(run.guide, device), dataset, {"run_dir": str(run_dir), "steps": run.step}


def _summary(per_seed):
    """{column: {"mean", "sd", "n"}} over seeds (sd None for one seed; mean None where not computed)."""
    summary = {}
    for key, _ in COLUMNS:
        values = [r[key] for r in per_seed if r.get(key) is not None and math.isfinite(r[key])]
        if not values:
            summary[key] = {"mean": None, "sd": None, "n": 0}
            continue
        summary[key] = {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)) if len(values) > 1 else None,
                        "n": len(values)}
    return summary


# ---- output ------------------------------------------------------------------------------------------
def _fmt(value, digits=3):
    return "—" if value is None else f"{value:.{digits}f}"


def _cell(entry, percent=False):
    if entry["mean"] is None:
        return "—"
    scale, digits = (100.0, 1) if percent else (1.0, 3)
    text = f"{entry['mean'] * scale:.{digits}f}"
    if entry["sd"] is not None:
        text += f" ± {entry['sd'] * scale:.{digits}f}"
    return text + (" %" if percent else "")


def _published_cell(name, dataset):
    if name not in PUBLISHED or dataset != "dsprites":
        return "—"
    mean, sd = PUBLISHED[name]
    return f"{mean:g}" + (f" ± {sd:g}" if sd is not None else "") + " %"


def format_markdown(result, gpu_note=None):
    """The table (ours beside the published β-VAE scores) and its notes, as Markdown."""
    sizes = result["sizes"]
    n_seeds = len(result["seeds"])
    lines = [f"# Baselines of the β-VAE paper's metric table — {result['dataset']}", "",
             f"Latent/representation dimension {result['latent_dim']}; {sizes['num_train']} training and "
             f"{sizes['num_test']} test codes for MIG, SAP and DCI (and the PCA/ICA fit); {sizes['num_sampled']} "
             f"training and {max(sizes['num_sampled'] // 2, 1)} evaluation points of batch {sizes['batch_size']} "
             f"for the β-VAE and FactorVAE scores; seeds {', '.join(map(str, result['seeds']))} (mean ± sd over "
             f"seeds{'' if n_seeds > 1 else '; one seed, so no sd'}); trained rows: {result['train_steps']} steps, "
             f"Adam lr {result['train_lr']:g}, batch {sizes['batch_size']}; device {result['device']}; "
             f"{result.get('total_s', 0):.0f} s in all.", ""]
    headers = ["representation", "dims", "β-VAE score", "β-VAE score, published", "β-VAE score, std. codes",
               "FactorVAE score", "MIG", "SAP", "DCI dis.", "DCI compl.", "DCI info."]
    lines += ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    for name, row in result["rows"].items():
        s = row["summary"]
        dims = row["per_seed"][0]["dims"]
        label = row["label"] + (" (run dir)" if name in result.get("runs", {}) else "")
        cells = [label, str(dims), _cell(s["beta_vae"], percent=True), _published_cell(name, result["dataset"]),
                 _cell(s["beta_vae_standardised"], percent=True), *(_cell(s[key]) for key, _ in COLUMNS[2:])]
        lines.append("| " + " | ".join(cells) + " |")
    skipped = {why for row in result["rows"].values() for r in row["per_seed"] for why in r["skipped"].values()}
    lines += ["", "Notes:", "", METRIC_NOTES]
    for why in sorted(skipped):
        lines.append(f"- \"—\" for SAP and DCI: not computed ({why}).")
    lines.append("- Published (dSprites only): " + PUBLISHED_SOURCE + " The AAE is not in that table.")
    lines.append("- " + (gpu_note or ("GPU runs at the thesis budget (22,260 steps) for InfoGAN and AAE: not yet "
                                      "measured." if result["device"] == "cpu" else
                                      "Trained rows on the GPU at the budget stated above.")))
    return "\n".join(lines) + "\n"


def write_baselines(result, out):
    """``out/baselines.json`` and ``out/baselines.md``; returns their paths."""
    from ..atomic import write_json
    from ..train.rundir import provenance

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "baselines.json", {**result, "provenance": provenance()})
    (out / "baselines.md").write_text(format_markdown(result))
    return out / "baselines.json", out / "baselines.md"


# ---- command line ----------------------------------------------------------------------------------
def _run_option(text):
    name, eq, path = text.partition("=")
    if not eq or not name.strip() or not path.strip():
        raise PyroVAEError(f"--run takes NAME=RUN_DIR (e.g. --run vae=runs/vae-seed0), got {text!r}")
    return name.strip().replace("-", "_"), path.strip()


def add_baselines_parser(sub):
    p = sub.add_parser("baselines", help="score the β-VAE paper's baselines (ground truth, pixels, PCA, ICA, "
                                         "untrained/trained VAEs, InfoGAN, AAE) with the metric suite")
    p.add_argument("--dataset", default="dsprites", help="a dataset with ground-truth factors (default dsprites)")
    p.add_argument("--latent-dim", type=int, default=10, help="latent / PCA / ICA dimensions (default 10)")
    p.add_argument("--num-train", type=int, default=None,
                   help="codes for MIG, SAP, DCI and the PCA/ICA fit (default: 10,000 on a GPU, 1,000 on a CPU)")
    p.add_argument("--num-test", type=int, default=None, help="test codes (default: 5,000 on a GPU, 500 on a CPU)")
    p.add_argument("--num-sampled", type=int, default=None,
                   help="training points of the β-VAE and FactorVAE scores, half as many to evaluate "
                        "(default: 10,000 on a GPU, 300 on a CPU)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (default 0)")
    p.add_argument("--train-steps", type=int, default=None,
                   help="steps of each trained row (default: 22,260 on a GPU, 1,000 on a CPU)")
    p.add_argument("--train-lr", type=float, default=1e-4, help="Adam learning rate of the VAE-family rows")
    p.add_argument("--run", action="append", default=[], metavar="NAME=RUN_DIR",
                   help="score this trained run as row NAME instead of training it (repeatable)")
    p.add_argument("--only", nargs="+", default=None, help=f"only these rows, of: {', '.join(BASELINES)}")
    p.add_argument("--out", default="baselines", help="output dir for baselines.json, baselines.md and runs/")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="skip the trained rows' plots")
    p.add_argument("--progress", action="store_true", help="progress bars while training")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="training precision of the VAE-family rows (see pyrovae train --help; default auto)")


def baselines_command(args):
    runs = dict(_run_option(text) for text in args.run)
    if not args.train_lr > 0:
        raise PyroVAEError(f"--train-lr must be > 0, got {args.train_lr}")
    result = baseline_table(dataset=args.dataset, latent_dim=args.latent_dim, num_train=args.num_train,
                            num_test=args.num_test, num_sampled=args.num_sampled, seeds=args.seeds,
                            train_steps=args.train_steps, runs=runs, baselines=args.only, out=args.out,
                            device=args.device, train_lr=args.train_lr, plots=args.plots, progress=args.progress,
                            precision=args.precision)
    json_path, md_path = write_baselines(result, args.out)
    print(format_markdown(result))
    print(f"written: {json_path}, {md_path}")

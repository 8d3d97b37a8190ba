"""The rows of the baseline table as representation functions (observations -> codes [n, D]): the
ground truth, raw pixels, PCA, ICA, an untrained VAE encoder, and trained rows (VAE-family runs trained
with :func:`~pyrovae.experiments.job.run_job`, InfoGAN with :func:`~pyrovae.train.infogan.fit_infogan`, or
runs read from run dirs)."""
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA, FastICA
from sklearn.exceptions import ConvergenceWarning

from ...errors import PyroVAEError
from ...evaluation import representation_function
from ...models import build_vae
from ...models.infogan import InfoGAN
from ...plots import plot_infogan_traversals
from ...train import TrainConfig, load_run
from ...train.infogan import fit_infogan
from ..job import run_job

#: trained rows: name -> (objective, its options); InfoGAN is trained by fit_infogan
TRAINED = {"vae": ("vae", {}), "beta_vae": ("beta-vae", {"beta": 4.0}), "aae": ("aae", {})}


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
    torch.manual_seed(seed)
    _, guide = build_vae(dataset.observation_shape, latent_dim)
    guide.to(device).eval()
    return representation_function(guide, torch.device(device))


def train_vae_baseline(dataset, objective, options, latent_dim, steps, seed, run_dir, device="auto", lr=1e-4,
                       batch_size=64, plots=False, progress=False, precision="auto"):
    """Train a VAE-family baseline into ``run_dir`` (with its plots when ``plots``); returns the Run."""
    config = TrainConfig(objective=objective, objective_options=dict(options), dataset=getattr(dataset, "name", "data"),
                         latent_dim=latent_dim, steps=steps, seed=seed, device=device, lr=lr,
                         batch_size=batch_size, out=str(run_dir), plots=plots, evaluate=False,
                         checkpoint_every=max(steps or 1, 1), precision=precision)
    run, _ = run_job(config, dataset=dataset, progress=progress)
    return run


def train_infogan_baseline(dataset, latent_dim, steps, seed, run_dir, device="cpu", lr_discriminator=2e-4,
                           lr_generator=1e-3, batch_size=64, noise_dim=5, plots=False, progress=False):
    """Train an InfoGAN with ``latent_dim`` continuous codes (no categorical code, so that its
    representation has ``latent_dim`` columns like the other rows) and ``noise_dim`` noise dimensions;
    writes ``infogan.pt`` (config and weights), ``history.json`` and, with ``plots``, ``traversals.png``
    into ``run_dir``; returns the InfoGAN."""
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


def build_representation(name, dataset, latent_dim, seed, num_fit, train, runs, root, device):
    """(representation function, the dataset to score it on, info for the JSON) of row ``name`` and ``seed``.

    ``num_fit``: observations PCA and ICA are fitted on; ``train``: keyword arguments of the trained rows
    (steps, lr, batch_size, plots, progress, precision); ``runs``: {name: run_dir} read instead of trained;
    ``root``: where trained rows go (``root/runs/<name>-seed<seed>``)."""
    if name in runs:
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
        represent, pca = pca_representation(dataset, latent_dim, num_fit, seed)
        return represent, dataset, {"explained_variance": float(pca.explained_variance_ratio_.sum())}
    if name == "ica":
        represent, _ = ica_representation(dataset, latent_dim, num_fit, seed)
        return represent, dataset, {}
    if name == "untrained_vae":
        return untrained_vae_representation(dataset, latent_dim, seed, device), dataset, {}
    run_dir = root / "runs" / f"{name.replace('_', '-')}-seed{seed}"
    if name == "infogan":
        gan = train_infogan_baseline(dataset, latent_dim, train["steps"], seed, run_dir, device=device,
                                     batch_size=train["batch_size"], plots=train["plots"], progress=train["progress"])
        return representation_function(gan, device), dataset, {"run_dir": str(run_dir), "steps": train["steps"]}
    objective, options = TRAINED[name]
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a table is recomputed from scratch: never resume a stale run
    run = train_vae_baseline(dataset, objective, options, latent_dim, seed=seed, run_dir=run_dir, device=str(device),
                             **train)
    return representation_function(run.guide, device), dataset, {"run_dir": str(run_dir), "steps": run.step}

r"""The classic baselines of the β-VAE paper's metric table, scored with pyrovae's metric suite.

Higgins et al. (2017, Table 1 / Fig. 6, dSprites) compare the β-VAE score of learnt representations with
fixed ones. :func:`baseline_table` rebuilds every row as a representation function (observations -> codes
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
trained here with ``train_steps`` steps each (:func:`pyrovae.experiments.job.run_job`, and
:func:`pyrovae.train.infogan.fit_infogan` for InfoGAN) or read from run dirs (``runs={"vae": RUN_DIR}``;
a name that is no baseline adds a row). :data:`PUBLISHED` holds the paper's numbers, shown beside ours
by :func:`format_markdown`, whose notes say where our metric variant differs from the paper's protocol.

Raw pixels have 4,096 dimensions: SAP (one SVM per dimension and factor) and DCI (gradient-boosted trees
over all dimensions) are not computed above ``slow_metric_max_dims`` dimensions (64) and show "—".

Modules: :mod:`.representations` (the rows), :mod:`.table` (scoring them), :mod:`.markdown` (the output).
"""
from .markdown import METRIC_NOTES, format_markdown, write_baselines
from .representations import (
                              TRAINED,
                              FactorsAsObservations,
                              ica_representation,
                              identity_representation,
                              pca_representation,
                              pixel_representation,
                              train_infogan_baseline,
                              train_vae_baseline,
                              untrained_vae_representation,
)
from .table import (
                              BASELINES,
                              COLUMNS,
                              CPU_TRAIN_STEPS,
                              LABELS,
                              PUBLISHED,
                              PUBLISHED_SOURCE,
                              SCORES,
                              baseline_table,
                              score_representation,
)

__all__ = ["BASELINES", "COLUMNS", "CPU_TRAIN_STEPS", "FactorsAsObservations", "LABELS", "METRIC_NOTES",
           "PUBLISHED", "PUBLISHED_SOURCE", "SCORES", "TRAINED", "baseline_table", "format_markdown",
           "ica_representation", "identity_representation", "pca_representation", "pixel_representation",
           "score_representation", "train_infogan_baseline", "train_vae_baseline", "untrained_vae_representation",
           "write_baselines"]

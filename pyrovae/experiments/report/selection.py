"""The report's rows and numbers, without figures or Markdown: which metrics it shows, the settings
(objective × hyperparameters × dataset) with their runs over seeds, the regularisation strength of a
setting, representative runs, rank correlations, and the thesis' tables."""
import json
import math
from importlib import resources

import numpy as np
from scipy.stats import spearmanr

from ...objectives import OBJECTIVES
from ..spec import dataset_label
from ..summary import finite_values, format_value, mean_sd

#: (column, label) of the headline metrics, in table order
MAIN_METRICS = [
    ("beta_vae.eval_accuracy", "β-VAE score"),
    ("factor_vae.eval_accuracy", "FactorVAE score"),
    ("mig.discrete_mig", "MIG"),
    ("chen_mig.mig", "MIG (Chen)"),
    ("sap.SAP_score", "SAP"),
    ("dci.disentanglement", "DCI dis."),
    ("modularity_explicitness.modularity_score", "modularity"),
    ("downstream.efficiency", "downstream eff."),
    ("reconstruction.nll_per_pixel", "recon NLL/px"),
    ("reconstruction.mse_per_pixel", "recon MSE/px"),
    ("kl_total", "KL (nats)"),
    ("active_units", "active units"),
    ("log_likelihood.mean", "log p(x)"),
]
SUPERVISED = ["beta_vae.eval_accuracy", "factor_vae.eval_accuracy", "mig.discrete_mig", "chen_mig.mig",
              "sap.SAP_score", "dci.disentanglement", "dci.completeness", "dci.informativeness_test",
              "modularity_explicitness.modularity_score", "modularity_explicitness.explicitness_score_test",
              "downstream.efficiency"]
RECON = "reconstruction.nll_per_pixel"
DISENTANGLEMENT = "mig.discrete_mig"
CHEN_MIG = "chen_mig.mig"
#: the hyperparameter that sets the strength of an objective's regulariser, when a sweep varies several
STRENGTH_KEYS = ["beta", "gamma", "lambda_od", "lambda_mmd", "capacity_max", "alpha", "num_particles"]
LABELS = {**dict(MAIN_METRICS), "dci.completeness": "DCI compl.", "dci.informativeness_test": "DCI inform.",
          "modularity_explicitness.explicitness_score_test": "explicitness",
          "unsupervised.gaussian_total_correlation": "Gauss. TC",
          "unsupervised.gaussian_wasserstein_correlation": "Wass. corr.",
          "unsupervised.gaussian_wasserstein_correlation_norm": "Wass. corr. (norm.)",
          "unsupervised.mutual_info_score": "MI score"}


def metric_label(column):
    return LABELS.get(column, column)


def thesis_tables():
    """The thesis' reference tables (Mushom 2020), from ``thesis_tables.json`` beside this module."""
    return json.loads(resources.files(__package__).joinpath("thesis_tables.json").read_text(encoding="utf-8"))


def _label(key, value):
    return f"{key}={format_value(value)}"


class Setting:
    """One objective × hyperparameters × dataset: the runs over seeds."""

    def __init__(self, objective, hyperparameters, dataset, show_dataset):
        self.objective, self.hyperparameters, self.dataset = objective, hyperparameters, dataset
        hp = ", ".join(_label(k, v) for k, v in sorted(hyperparameters.items()))
        self.label = objective + (f" ({hp})" if hp else "") + (f" @ {dataset}" if show_dataset else "")
        self.short = (" ".join(_label(k, v) for k, v in sorted(hyperparameters.items())) or objective) + \
            (f" @{dataset}" if show_dataset else "")
        self.runs = []

    def values(self, column):
        return finite_values(self.runs, column)


def group_settings(rows):
    """The settings of ``rows``: objectives in the rows' order, then dataset, then hyperparameter values."""
    datasets = {r["dataset"] for r in rows}
    settings, order = {}, []
    for row in rows:
        key = (row["objective"], json.dumps(row["hyperparameters"], sort_keys=True), row["dataset"])
        if key not in settings:
            settings[key] = Setting(row["objective"], row["hyperparameters"], dataset_label(row["dataset"]),
                                    len(datasets) > 1)
            order.append(key)
        settings[key].runs.append(row)
    objectives = list(dict.fromkeys(r["objective"] for r in rows))

    def sort_key(key):
        hp = settings[key].hyperparameters
        return (objectives.index(key[0]), key[2],
                [(k, (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v))) for k, v in sorted(hp.items())])

    return [settings[k] for k in sorted(order, key=sort_key)]


def strength_key(objective, settings):
    """The hyperparameter of ``objective`` the sweep varies (or the objective's usual strength knob)."""
    hps = [s.hyperparameters for s in settings if s.objective == objective]
    keys = list(dict.fromkeys(k for hp in hps for k in hp))
    varying = [k for k in keys if len({json.dumps(hp.get(k)) for hp in hps}) > 1]
    for candidates in (varying, keys):
        for k in STRENGTH_KEYS:
            if k in candidates:
                return k
        if candidates:
            return candidates[0]
    if objective not in OBJECTIVES:
        return None
    own = list(OBJECTIVES[objective].hyperparameters)
    return next((k for k in STRENGTH_KEYS if k in own), None)


def strength_value(setting, key):
    """The value of hyperparameter ``key`` in ``setting`` (its objective's default when not set), as a float."""
    if key is None:
        return None
    if key in setting.hyperparameters:
        value = setting.hyperparameters[key]
    else:
        try:
            value = OBJECTIVES[setting.objective].hyperparameters[key][0]
        except KeyError:
            return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def best_setting(settings, column):
    """The setting with the highest mean of ``column`` over seeds (lowest for the reconstruction error), or
    None when no setting has a value."""
    scored = [(mean_sd(s.values(column))[0], s) for s in settings if s.values(column)]
    if not scored:
        return None
    return (min if column == RECON else max)(scored, key=lambda t: t[0])[1]


def representative(done, objective):
    """(run, the column it was picked by): the finished run of ``objective`` with the median MIG (or
    reconstruction error) of its runs."""
    runs = [r for r in done if r["objective"] == objective]
    for column in (DISENTANGLEMENT, RECON):
        scored = [r for r in runs if isinstance(r.get(column), (int, float))]
        if scored:
            scored.sort(key=lambda r: (r[column], r["name"]))
            return scored[(len(scored) - 1) // 2], column
    return (runs[0], None) if runs else (None, None)


def varying(rows, columns, present):
    """The columns of ``columns`` in ``present`` whose finite values differ across ``rows``."""
    return [c for c in columns if c in present and len(set(finite_values(rows, c))) > 1]


def spearman_matrix(rows, row_columns, column_columns):
    """Spearman ρ between each pair of columns over the ``rows`` that have both values; NaN where fewer
    than 3 rows have them or one of them is constant."""
    matrix = np.full((len(row_columns), len(column_columns)), np.nan)
    for i, a in enumerate(row_columns):
        for j, b in enumerate(column_columns):
            pairs = [(r[a], r[b]) for r in rows if isinstance(r.get(a), (int, float))
                     and isinstance(r.get(b), (int, float)) and math.isfinite(r[a]) and math.isfinite(r[b])]
            if len(pairs) >= 3 and len({p[0] for p in pairs}) > 1 and len({p[1] for p in pairs}) > 1:
                matrix[i, j] = spearmanr([p[0] for p in pairs], [p[1] for p in pairs])[0]
    return matrix


def domain_shift_candidates(done):
    """Finished runs in the order the domain-shift study tries them: dSprites first, then the best
    reconstructing."""
    return sorted(done, key=lambda r: (r["dataset"] != "dsprites",
                                       r.get(RECON) if r.get(RECON) is not None else math.inf, r["name"]))

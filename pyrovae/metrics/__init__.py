"""Disentanglement metrics: pure functions on arrays, matching the definitions of the large-scale study
of Locatello et al. (2019) as implemented in disentanglement_lib (see ``docs/metrics.md`` in shared/).

Codes are float arrays [N, D] (encoder means), factors integer class indices [N, K]. Each metric lives
in its own module, with its paper cited at the top:

- :func:`mutual_info_gap` (:mod:`~pyrovae.metrics.mig`): Chen et al. 2018 (the study's discrete estimate)
- :func:`chen_mutual_info_gap` (:mod:`~pyrovae.metrics.chen_mig`): Chen et al. 2018 (their estimate from q(z|x))
- :func:`sap_score` (:mod:`~pyrovae.metrics.sap`): Kumar et al. 2018
- :func:`dci` (:mod:`~pyrovae.metrics.dci`): Eastwood & Williams 2018
- :func:`modularity_explicitness` (:mod:`~pyrovae.metrics.modularity`): Ridgeway & Mozer 2018
- :func:`unsupervised_scores` (:mod:`~pyrovae.metrics.unsupervised`): Locatello et al. 2019
- :func:`beta_vae_score` (:mod:`~pyrovae.metrics.beta_vae_score`): Higgins et al. 2017
- :func:`factor_vae_score` (:mod:`~pyrovae.metrics.factor_vae_score`): Kim & Mnih 2018
- :func:`downstream_sample_efficiency` (:mod:`~pyrovae.metrics.downstream`): Locatello et al. 2019
- :func:`active_units` (:mod:`~pyrovae.metrics.active_units`): Burda et al. 2016

:func:`compute_array_metrics` runs the array metrics (those that need only codes and factors) and
returns them keyed like disentanglement_lib (``{"mig": {"discrete_mig": ...}, "sap": {"SAP_score": ...},
...}``). Invalid input raises :class:`pyrovae.errors.PyroVAEError` with a one-line message.
"""
import warnings

from ..errors import PyroVAEError
from ._utils import check_train_test, constant_factors, histogram_discretize
from .active_units import active_units
from .beta_vae_score import beta_vae_score
from .chen_mig import chen_mutual_info_gap
from .dci import dci
from .downstream import downstream_sample_efficiency
from .factor_vae_score import factor_vae_score
from .mig import mutual_info_gap
from .modularity import modularity_explicitness
from .sap import sap_score
from .unsupervised import unsupervised_scores

__all__ = ["ARRAY_METRICS", "active_units", "beta_vae_score", "chen_mutual_info_gap", "compute_array_metrics", "dci",
           "downstream_sample_efficiency",
           "factor_vae_score", "histogram_discretize", "modularity_explicitness", "mutual_info_gap", "sap_score",
           "unsupervised_scores"]

#: The metrics computed from (codes_train, factors_train, codes_test, factors_test) arrays, by the names
#: disentanglement_lib gives their results: name -> function returning {result key: value}.
ARRAY_METRICS = {
    "mig": lambda ctr, ftr, cte, fte: {"discrete_mig": mutual_info_gap(ctr, ftr)},
    "sap": lambda ctr, ftr, cte, fte: {"SAP_score": sap_score(ctr, ftr, cte, fte)},
    "dci": lambda ctr, ftr, cte, fte: dci(ctr, ftr, cte, fte),
    "modularity_explicitness": lambda ctr, ftr, cte, fte: modularity_explicitness(ctr, ftr, cte, fte),
    "unsupervised": lambda ctr, ftr, cte, fte: unsupervised_scores(ctr),
}


def compute_array_metrics(codes_train, factors_train, codes_test, factors_test, metrics=None):
    """Every metric of :data:`ARRAY_METRICS` (or those named in ``metrics``) with the study's defaults.

    Returns ``{metric: {result: value}}``, e.g. ``out["mig"]["discrete_mig"]``, with the keys of
    ``metrics_reference.json``. Factors that take a single value on the training split carry nothing to
    predict (the supervised metrics cannot fit a classifier to them): they are dropped, with a
    ``UserWarning`` naming them; if no factor is left, only the unsupervised scores are computed.
    """
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test)
    names = list(ARRAY_METRICS) if metrics is None else list(metrics)
    unknown = [n for n in names if n not in ARRAY_METRICS]
    if unknown:
        raise PyroVAEError(f"unknown array metric(s) {unknown}; choose from {list(ARRAY_METRICS)}")
    constant = constant_factors(factors_train)
    if constant:
        warnings.warn(f"factor column(s) {constant} take a single value on the training split and are left out "
                      "of the supervised metrics", UserWarning, stacklevel=2)
        keep = [j for j in range(factors_train.shape[1]) if j not in constant]
        factors_train, factors_test = factors_train[:, keep], factors_test[:, keep]
        if not keep:
            names = [n for n in names if n == "unsupervised"]
    return {name: ARRAY_METRICS[name](codes_train, factors_train, codes_test, factors_test) for name in names}

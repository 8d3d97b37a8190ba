"""Scores of a trained model: its codes (:mod:`~pyrovae.evaluation.codes`), the model-level scores that
need the model and guide (:mod:`~pyrovae.evaluation.model_scores`), Chen et al.'s MIG from q(z|x)
(:mod:`~pyrovae.evaluation.chen_mig`) and the whole suite that writes a run's metrics.json
(:mod:`~pyrovae.evaluation.suite`). The metrics themselves are array functions in :mod:`pyrovae.metrics`.
"""
from . import model_scores
from .chen_mig import chen_mig
from .codes import codes_and_factors, gaussian_posterior, posterior_function, representation_function
from .suite import METRICS, MIG_NOTE, eval_sizes, evaluate_run, format_table, parse_metrics

__all__ = ["METRICS", "MIG_NOTE", "chen_mig", "codes_and_factors", "eval_sizes", "evaluate_run", "format_table",
           "gaussian_posterior", "model_scores", "parse_metrics", "posterior_function", "representation_function"]

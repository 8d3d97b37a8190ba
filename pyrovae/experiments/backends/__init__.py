"""Where a sweep's runs execute: local worker processes or Ray tasks. Each backend is a function
``(plan, todo, db, workers, retries, address, echo)`` that runs ``todo`` and records every result in
``db`` (:class:`~pyrovae.experiments.results.ResultsDB`)."""
from .local import run_local
from .ray import run_ray

BACKENDS = {"local": run_local, "ray": run_ray}

__all__ = ["BACKENDS", "run_local", "run_ray"]

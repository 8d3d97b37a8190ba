"""One job: train a run, then write its plots and its ``metrics.json`` (``pyrovae train`` and each run
of a sweep)."""
from ..evaluation import evaluate_run
from ..plots import plot_run
from ..train import fit


def run_job(config, resume=False, progress=True, dataset=None):
    """:func:`~pyrovae.train.fit` ``config``, then :func:`~pyrovae.plots.plot_run` (when
    ``config.plots``) and :func:`~pyrovae.evaluation.evaluate_run` (when ``config.evaluate``).

    Returns ``(run, metrics)``: the :class:`~pyrovae.train.Run` and the scores written to metrics.json
    (None without evaluation)."""
    run = fit(config, dataset=dataset, resume=resume, progress=progress)
    if run.config.plots:
        plot_run(run)
    metrics = evaluate_run(run) if run.config.evaluate else None
    return run, metrics

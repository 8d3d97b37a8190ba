"""Plots a person can look at: reconstructions, samples, traversals, KL per dimension, curves."""
from .run_plots import (plot_kl_per_dim, plot_reconstructions, plot_run, plot_samples,
                        plot_training_curves, plot_traversals)

__all__ = ["plot_run", "plot_reconstructions", "plot_samples", "plot_traversals", "plot_kl_per_dim",
           "plot_training_curves"]

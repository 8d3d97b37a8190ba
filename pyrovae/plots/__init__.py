"""Plots a person can look at: reconstructions, samples, traversals, KL per dimension, curves."""
import matplotlib

matplotlib.use("Agg")  # files only: never open a window, and work without a display

from .images import as_images, image_grid  # noqa: E402
from .infogan import plot_infogan_traversals  # noqa: E402
from .run_plots import (plot_kl_per_dim, plot_reconstructions, plot_run, plot_samples,  # noqa: E402
                        plot_training_curves, plot_traversals)

__all__ = ["as_images", "image_grid", "plot_infogan_traversals", "plot_kl_per_dim", "plot_reconstructions",
           "plot_run", "plot_samples", "plot_training_curves", "plot_traversals"]

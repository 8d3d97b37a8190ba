"""Plots a person can look at: reconstructions, samples, traversals, KL per dimension, curves."""
import matplotlib

from .images import as_images, image_grid
from .infogan import plot_infogan_traversals
from .run_plots import (
                        plot_kl_per_dim,
                        plot_reconstructions,
                        plot_run,
                        plot_samples,
                        plot_training_curves,
                        plot_traversals,
)

# files only: never open a window, and work without a display (pyplot picks its backend at the first figure)
matplotlib.use("Agg")

__all__ = ["as_images", "image_grid", "plot_infogan_traversals", "plot_kl_per_dim", "plot_reconstructions",
           "plot_run", "plot_samples", "plot_training_curves", "plot_traversals"]

"""The code traversals of a trained :class:`~pyrovae.models.infogan.InfoGAN`."""
from .images import as_images, image_grid


def plot_infogan_traversals(gan, path, steps=9, limit=1.0):
    """Write the traversal of every code (:meth:`InfoGAN.traversal`) as a PNG grid; returns the path."""
    gan.eval()
    rows, labels = gan.traversal(steps=steps, limit=limit)
    image_grid([as_images(r) for r in rows], path, row_labels=labels,
               title=f"InfoGAN code traversals over [-{limit:g}, {limit:g}] (noise 0)")
    return path

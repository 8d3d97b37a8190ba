"""Datasets: procedural dSprites and user arrays, all sampled on the training device."""
import importlib
from pathlib import Path

from ..errors import PyroVAEError
from .arrays import ArrayDataset
from .files import load_data_file

# The dataset classes, imported on first use so that ``import pyrovae.data`` stays cheap (no scikit-learn,
# no dSprites tables): class name -> its module.
_LAZY = {"DSprites": "dsprites", "NoisyDSprites": "variants", "ColorDSprites": "variants", "Digits": "digits",
         "GridDataset": "grid", "Shapes3D": "shapes3d", "MPI3D": "mpi3d", "SmallNORB": "smallnorb", "Cars3D": "cars3d"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _lazy(cls_name):
    return lambda **kwargs: __getattr__(cls_name)(**kwargs)


# name -> constructor(**kwargs). A name that is not registered but is an existing file or folder is
# loaded as the user's data (see load_dataset).
DATASETS = {
    "dsprites": _lazy("DSprites"),
    "noisy-dsprites": _lazy("NoisyDSprites"),
    "color-dsprites": _lazy("ColorDSprites"),
    "digits": _lazy("Digits"),
    # the 2019 study's datasets, read from their official files (path=FILE or FOLDER; docs/datasets.md)
    "shapes3d": _lazy("Shapes3D"),
    "mpi3d": _lazy("MPI3D"),
    "smallnorb": _lazy("SmallNORB"),
    "cars3d": _lazy("Cars3D"),
}


def load_dataset(name, **kwargs):
    """A dataset by registered name (``dsprites``, ...) or by the path of the user's data file."""
    if name in DATASETS:
        return DATASETS[name](**kwargs)
    if Path(name).suffix or Path(name).exists():
        return load_data_file(name, **kwargs)
    raise PyroVAEError(f"unknown dataset {name!r}: choose one of {', '.join(sorted(DATASETS))} "
                       "or give the path of a .npz/.npy file or image folder")


__all__ = ["ArrayDataset", "DATASETS", "load_dataset", *_LAZY]

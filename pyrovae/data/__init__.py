"""Datasets: procedural dSprites and user arrays, all sampled on the training device."""
from pathlib import Path

from ..errors import PyroVAEError
from .arrays import ArrayDataset


def _dsprites(**kwargs):
    from .dsprites import DSprites

    return DSprites(**kwargs)


# name -> constructor(**kwargs). A name that is not registered but is an existing file or folder is
# loaded as the user's data (see load_dataset).
DATASETS = {
    "dsprites": _dsprites,
    # imported lazily, like dSprites
    "noisy-dsprites": lambda **kw: __import__(f"{__name__}.variants", fromlist=["_"]).NoisyDSprites(**kw),
    "color-dsprites": lambda **kw: __import__(f"{__name__}.variants", fromlist=["_"]).ColorDSprites(**kw),
    "digits": lambda **kw: __import__(f"{__name__}.digits", fromlist=["_"]).Digits(**kw),
    # the 2019 study's datasets, read from their official files (path=FILE or FOLDER; docs/datasets.md)
    "shapes3d": lambda **kw: __import__(f"{__name__}.shapes3d", fromlist=["_"]).Shapes3D(**kw),
    "mpi3d": lambda **kw: __import__(f"{__name__}.mpi3d", fromlist=["_"]).MPI3D(**kw),
    "smallnorb": lambda **kw: __import__(f"{__name__}.smallnorb", fromlist=["_"]).SmallNORB(**kw),
    "cars3d": lambda **kw: __import__(f"{__name__}.cars3d", fromlist=["_"]).Cars3D(**kw),
}


def load_dataset(name, **kwargs):
    """A dataset by registered name (``dsprites``, ...) or by the path of the user's data file."""
    if name in DATASETS:
        return DATASETS[name](**kwargs)
    if Path(name).suffix or Path(name).exists():
        from .files import load_data_file

        return load_data_file(name, **kwargs)
    raise PyroVAEError(f"unknown dataset {name!r}: choose one of {', '.join(sorted(DATASETS))} "
                       "or give the path of a .npz/.npy file or image folder")


__all__ = ["ArrayDataset", "DATASETS", "load_dataset"]

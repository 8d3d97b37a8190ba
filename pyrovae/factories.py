"""The user's own model and guide: ``path.py:factory`` specs, read from plain Python files.

A spec names a file and a function in it, ``models/my_model.py:make_model``; without ``:name`` the
function is ``make_model`` (``--model``) or ``make_guide`` (``--guide``). The file is imported by path,
not as a package, so the top-level ``models/`` and ``guides/`` folders need no ``__init__.py`` and are
never installed. The function gets ``(data_shape, latent_dim)`` and returns a ``torch.nn.Module``.
"""
import hashlib
import importlib.util
import inspect
import os
import sys
import traceback
from pathlib import Path

import torch

from .errors import PyroVAEError

#: the function a spec without ``:name`` names, per kind
DEFAULT_FACTORY = {"model": "make_model", "guide": "make_guide"}


def is_factory_spec(text):
    """Whether ``text`` names a factory in a file (``path.py:name`` or ``path.py``), not a registered
    component (``iaf:flows=4``)."""
    if not isinstance(text, str):
        return False
    path, sep, _ = text.rpartition(":")
    return text.strip().endswith(".py") or bool(sep and path.strip().endswith(".py"))


def split_spec(spec, kind):
    """``(Path, function name)`` of a factory spec."""
    text = spec.strip()
    if text.endswith(".py"):
        return Path(text), DEFAULT_FACTORY[kind]
    path, _, name = text.rpartition(":")
    if not name.strip().isidentifier():
        raise PyroVAEError(f"--{kind} {spec}: {name.strip()!r} is not a function name: write "
                           f"--{kind} PATH.py:{DEFAULT_FACTORY[kind]}")
    return Path(path.strip()), name.strip()


def normalise_spec(spec, kind, base_dir=None):
    """``spec`` with its file made absolute (relative to ``base_dir``, default the working directory) and
    its function named, so that a resumed run and :func:`pyrovae.train.load_run` find the same file from
    anywhere; a missing file is an error here."""
    path, name = split_spec(spec, kind)
    if not path.is_absolute():
        path = (Path(base_dir) if base_dir is not None else Path.cwd()) / path
    path = path.resolve()
    if not path.is_file():
        raise PyroVAEError(f"--{kind} {spec}: no file {path}")
    return f"{path}:{name}"


def load_factory(spec, kind):
    """The function a spec names, from a fresh import of its file (so an edited file is read again)."""
    path, name = split_spec(spec, kind)
    if not path.is_file():
        raise PyroVAEError(f"--{kind} {spec}: no file {path}")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    module_name = f"pyrovae_user_{kind}_{digest}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    # registered while it runs (dataclasses and pickling look a class's module up), and the file's folder
    # on the path, so that it can import a helper file beside it
    sys.modules[module_name] = module
    sys.path.insert(0, str(path.resolve().parent))
    try:
        module_spec.loader.exec_module(module)
    except Exception as e:
        sys.modules.pop(module_name, None)
        raise PyroVAEError(f"--{kind} {spec}: {path} failed to import: {type(e).__name__}: {first_line(e)}") from None
    finally:
        sys.path.remove(str(path.resolve().parent))
    factory = getattr(module, name, None)
    if not callable(factory):
        defined = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                         and getattr(v, "__module__", None) == module_name)
        raise PyroVAEError(f"--{kind} {spec}: {path.name} has no function {name}"
                           f" (it defines: {', '.join(defined) or 'none'})")
    return factory


def first_line(error):
    """The first line of an error's message, for a one-line report; Pyro appends its trace's shapes to an
    error raised inside a model or guide, and an empty message becomes where it was raised."""
    text = str(error).split("Trace Shapes:")[0].strip()
    if text:
        return text.splitlines()[0][:300]
    frames = traceback.extract_tb(error.__traceback__)
    return f"raised in {frames[-1].name}() of {Path(frames[-1].filename).name}" if frames else "(no message)"


def build_from_spec(spec, kind, data_shape, latent_dim):
    """Call the spec's factory with ``(data_shape, latent_dim)``; the module it returns."""
    factory = load_factory(spec, kind)
    call = f"{split_spec(spec, kind)[1]}(data_shape={tuple(data_shape)}, latent_dim={latent_dim})"
    try:
        module = factory(tuple(data_shape), latent_dim)
    except PyroVAEError:
        raise
    except Exception as e:
        raise PyroVAEError(f"--{kind} {spec}: {call} failed: {type(e).__name__}: {first_line(e)}") from None
    if not isinstance(module, torch.nn.Module):
        raise PyroVAEError(f"--{kind} {spec}: {call} returned a {type(module).__name__}, not a torch.nn.Module "
                           f"whose forward(x) is the Pyro {kind}")
    return module


def factory_spec(factory, kind):
    """A spec string for ``fit(model=..., guide=...)``: a spec as it is, or a factory function as
    ``its_file.py:name`` (a top-level function of a file, so that a resumed run and ``load_run`` can
    import it again)."""
    if isinstance(factory, (str, os.PathLike)):
        return str(factory)
    path = inspect.getsourcefile(factory) if inspect.isfunction(factory) else None
    if path is None or not factory.__qualname__.isidentifier() or factory.__module__ == "__main__":
        raise PyroVAEError(f"{kind}= takes 'PATH.py:{DEFAULT_FACTORY[kind]}' or a top-level function of a file other "
                           f"than the script that runs (resume and load_run import it again), got {factory!r}")
    return f"{path}:{factory.__qualname__}"

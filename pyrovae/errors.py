"""User-facing errors.

Everything a user can get wrong (a bad option, a bad file, bad data) raises :class:`PyroVAEError` with a
one-line message that names the problem and the fix. The CLI prints it without a traceback and exits 2.
"""
import importlib


class PyroVAEError(ValueError):
    """A problem with the user's input, described in one line."""


class MissingExtra(PyroVAEError):
    """An option needs an optional dependency that is not installed; the message names the extra."""


def import_extra(module, extra, purpose):
    """``import module`` for ``purpose`` (an option, a file format), or :class:`MissingExtra` naming the extra
    that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(f"{purpose} needs {module}: pip install 'pyrovae[{extra}]'") from None

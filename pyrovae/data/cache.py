"""The folder where datasets keep what they build once: tables, unpacked and bit-packed copies of files."""
import os
from pathlib import Path


def default_cache_dir():
    """``$PYROVAE_CACHE`` or ``~/.cache/pyrovae``."""
    return Path(os.environ.get("PYROVAE_CACHE") or Path.home() / ".cache" / "pyrovae")

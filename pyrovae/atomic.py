"""The one atomic file writer: a process killed at any moment leaves either the old file or the new one,
never half a file."""
import json
import os
import tempfile
from pathlib import Path


def atomic_write(path, write):
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, flush it to disk and rename it onto
    ``path`` (readable like any other file, mode 0644). The temporary file ends like ``path`` (e.g.
    ``.npz``), so writers that pick a format from the name see the right one; it is removed on any error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + path.suffix)
    os.close(fd)
    tmp = Path(tmp)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_json(path, obj):
    """Write ``obj`` as indented JSON, atomically (values JSON lacks, such as paths, as strings)."""
    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2, default=str)))

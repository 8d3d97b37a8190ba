"""The one atomic writer: the old file or the new one, never half of one, and no temporary file left."""
import json

import numpy as np
import pytest

from pyrovae.atomic import atomic_write, write_json


def test_write_json_and_files_named_by_their_format(tmp_path):
    path = write_json(tmp_path / "sub" / "a.json", {"x": 1, "path": tmp_path})
    assert json.loads(path.read_text()) == {"x": 1, "path": str(tmp_path)}
    atomic_write(tmp_path / "t.npz", lambda tmp: np.savez(tmp, a=np.arange(3)))  # savez keeps a .npz name
    with np.load(tmp_path / "t.npz") as f:
        assert f["a"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub", "t.npz"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    write_json(tmp_path / "a.json", {"old": True})

    def fail(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path / "a.json", fail)
    assert json.loads((tmp_path / "a.json").read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]

"""The run dir contract: the saved config and which changes a saved run tolerates."""
import json

import pytest

from pyrovae.errors import PyroVAEError
from pyrovae.train.rundir import CONFIG, RESUMABLE_CHANGES, RUNTIME_KEYS, changed_keys, log_records, read_config


def test_read_config(tmp_path):
    assert read_config(tmp_path, missing_ok=True) is None
    with pytest.raises(PyroVAEError, match="not a pyrovae run dir"):
        read_config(tmp_path)
    (tmp_path / CONFIG).write_text("{")
    with pytest.raises(PyroVAEError, match="corrupt"):
        read_config(tmp_path, missing_ok=True)
    (tmp_path / CONFIG).write_text(json.dumps({"config": {"latent_dim": 3}}))
    assert read_config(tmp_path) == {"latent_dim": 3}


def test_changed_keys():
    saved = {"latent_dim": 3, "steps": 10, "device": "cpu", "lr": 1e-3}
    current = {"latent_dim": 4, "steps": 20, "device": "cuda", "lr": 1e-3}
    assert changed_keys(saved, current) == ["latent_dim"]  # steps and device may change on resume
    assert changed_keys(saved, current, ignore=RUNTIME_KEYS) == ["latent_dim", "steps"]
    assert RUNTIME_KEYS < RESUMABLE_CHANGES


def test_log_records_leave_out_a_line_torn_by_a_kill(tmp_path):
    path = tmp_path / "log.jsonl"
    assert log_records(path) == []
    path.write_text('{"step": 10, "loss": 1.5}\n\n{"step": 20, "loss": 1.25}\n{"step": 30, "lo')
    assert log_records(path) == [{"step": 10, "loss": 1.5}, {"step": 20, "loss": 1.25}]

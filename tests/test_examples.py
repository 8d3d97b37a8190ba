"""The example scripts run as written (they are documentation: they must not rot)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("script, expected", [
    ("custom_prior.py", "learned prior location"),
    ("user_data.py", "trained on 512 images"),
    ("flow_guide.py", "iaf:flows=2: held-out ELBO"),
])
def test_example_runs(script, expected, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",  # this checkout's pyrovae, not an installed one
           "PYTHONPATH": os.pathsep.join([str(EXAMPLES.parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(EXAMPLES / script)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert expected in done.stdout
    assert "Traceback" not in done.stderr

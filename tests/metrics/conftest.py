"""Fixtures of the metric tests: the reference arrays and values of ../shared/docs."""
import json
from functools import lru_cache

import numpy as np
import pytest


@lru_cache(maxsize=None)
def _load(docs):
    arrays = dict(np.load(f"{docs}/metric_fixtures.npz"))
    with open(f"{docs}/metrics_reference.json") as f:
        reference = json.load(f)
    return arrays, reference


@pytest.fixture
def fixtures(shared_docs):
    """(arrays of metric_fixtures.npz, parsed metrics_reference.json); skips without ../shared/docs."""
    return _load(str(shared_docs))

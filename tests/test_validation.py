"""The shared checks: one-line errors, and values from the CLI, YAML or JSON in their plain types."""
import numpy as np
import pytest

from pyrovae.errors import PyroVAEError
from pyrovae.validation import check_choice, check_int, check_number, check_seeds


def test_check_int_takes_integral_values_of_any_source():
    assert check_int("n", 3) == check_int("n", "3") == check_int("n", 3.0) == check_int("n", np.int64(3)) == 3
    assert check_int("n", 0, minimum=0) == 0 and check_int("n", None, allow_none=True) is None
    for bad, message in ((0, "n must be a positive integer, got 0"), (1.5, "positive integer"), (True, "integer"),
                         ("x", "integer"), (float("nan"), "integer"), (None, "integer")):
        with pytest.raises(PyroVAEError, match=message) as info:
            check_int("n", bad)
        assert "\n" not in str(info.value)
    with pytest.raises(PyroVAEError, match="n must be an integer >= 2, got 1"):
        check_int("n", 1, minimum=2)


def test_check_number_bounds():
    assert check_number("x", "2.5") == 2.5 and check_number("x", -1) == -1.0
    assert check_number("x", "auto", allow_none=True) is None
    assert check_number("x", 0, minimum=0) == 0.0
    for bad, kwargs, message in ((0, {"minimum": 0, "exclusive": True}, "x must be a number > 0, got 0"),
                                 (2, {"minimum": 0, "maximum": 1}, "x must be a number >= 0 and <= 1"),
                                 (float("inf"), {}, "x must be a finite number"), (False, {}, "number")):
        with pytest.raises(PyroVAEError, match=message):
            check_number("x", bad, **kwargs)


def test_check_choice_and_seeds():
    assert check_choice("kernel", "rbf", ("rbf", "imq")) == "rbf"
    with pytest.raises(PyroVAEError, match="unknown kernel 'gauss': choose one of rbf, imq"):
        check_choice("kernel", "gauss", ("rbf", "imq"))
    assert check_seeds(3) == [0, 1, 2] and check_seeds([4, 7]) == [4, 7] and check_seeds("0, 2") == [0, 2]
    for bad, message in ((0, "positive integer"), ([1, 1], "repeat"), ([-1], ">= 0"), ([], "got none")):
        with pytest.raises(PyroVAEError, match=message):
            check_seeds(bad)

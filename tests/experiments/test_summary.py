"""The one number formatter and the mean ± sd helpers shared by the report and the baseline table."""
import math

from pyrovae.experiments.summary import (
    format_mean_sd,
    format_number,
    format_value,
    markdown_table,
    mean_sd,
    mean_sd_text,
)


def test_numbers_are_compact_or_fixed():
    assert [format_number(v) for v in (None, math.nan, 3, 0.12345, 150.0, 1234.5, 1e-5, 0.0)] == \
        ["—", "—", "3", "0.123", "150", "1234.5", "1.00e-05", "0.000"]
    assert format_number(100.0, 1, fixed=True) == "100.0" and format_number(1e-5, fixed=True) == "0.000"
    assert [format_value(v) for v in (4.0, 0.5, True, "a")] == ["4", "0.5", "true", "a"]


def test_mean_and_sample_sd_over_seeds():
    assert mean_sd([]) == (None, None) and mean_sd([2.0]) == (2.0, None)
    mean, sd = mean_sd([1.0, 3.0])
    assert mean == 2.0 and math.isclose(sd, math.sqrt(2))
    assert mean_sd_text([1.0, 3.0]) == "2.000 ± 1.414" and mean_sd_text([2.0]) == "2.000 (n=1)"
    assert mean_sd_text([]) == "—"
    assert format_mean_sd(86.7, None, 1, fixed=True, single="") == "86.7"


def test_markdown_tables_escape_bars():
    assert markdown_table(["a", "b"], [["x|y", 1]]) == ["| a | b |", "| --- | --- |", "| x\\|y | 1 |"]

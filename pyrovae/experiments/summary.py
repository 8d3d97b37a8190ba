"""Numbers as the sweep, the report and the baseline table show them: run-name values, mean ± sd over
seeds, one number formatter and Markdown tables."""
import math

import numpy as np

MISSING = "—"


def format_value(value):
    """A hyperparameter value as written in run names and labels: ``4`` for 4.0, ``true`` for True."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:g}"
    return str(value)


def format_number(value, digits=3, fixed=False):
    """A score as text; "—" for None, NaN or infinity.

    ``fixed``: always ``digits`` decimals (columns of one kind of score, e.g. the baseline table). Else
    compact: integers as integers (floats too from 100 up), one decimal from 1,000 up, and scientific
    notation for values too small for ``digits`` decimals."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    if fixed:
        return f"{value:.{digits}f}"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 100):
        return f"{int(value)}"
    if abs(value) >= 1000:
        return f"{value:.1f}"
    if value != 0 and abs(value) < 10 ** -digits:
        return f"{value:.2e}"
    return f"{value:.{digits}f}"


def finite_values(rows, column):
    """The finite numbers of ``column`` over ``rows`` (dicts), as floats."""
    return [float(row[column]) for row in rows
            if isinstance(row.get(column), (int, float)) and math.isfinite(row[column])]


def mean_sd(values):
    """(mean, sample sd) of ``values``; sd None for one value, both None for none."""
    if not values:
        return None, None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else None


def format_mean_sd(mean, sd, digits=3, fixed=False, single=" (n=1)"):
    """``mean ± sd`` (:func:`format_number`), or the mean and ``single`` without an sd; "—" without a mean."""
    if mean is None:
        return MISSING
    text = format_number(mean, digits, fixed)
    return text + (f" ± {format_number(sd, digits, fixed)}" if sd is not None else single)


def mean_sd_text(values):
    """``mean ± sd`` over ``values``, or ``mean (n=1)``, or "—"."""
    return format_mean_sd(*mean_sd(values))


def markdown_table(headers, rows):
    """The lines of a Markdown table (``|`` in a cell escaped)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    return lines

"""Checks of user-given numbers and names, shared by every layer.

Each returns the value in its plain Python type or raises :class:`~pyrovae.errors.PyroVAEError` with one
line that names the option, what it accepts and what it got. Values from the CLI, YAML or JSON arrive as
strings or floats, so ``"3"`` and ``3.0`` count as the integer 3; booleans are never numbers.
"""
import math
import numbers

from .errors import PyroVAEError


def _parse(value):
    """``value`` as a float, or None when it is not a number (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return float(value) if isinstance(value, numbers.Real) else None


def _is_none(value):
    return value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "auto"))


def check_int(name, value, minimum=1, allow_none=False):
    """``value`` as an int >= ``minimum``; None (or "none"/"auto") passes through when ``allow_none``."""
    if allow_none and _is_none(value):
        return None
    parsed = _parse(value)
    if parsed is None or not math.isfinite(parsed) or parsed != int(parsed) or parsed < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise PyroVAEError(f"{name} must be {kind}, got {value!r}")
    return int(parsed)


def check_number(name, value, minimum=None, maximum=None, exclusive=False, allow_none=False):
    """``value`` as a finite float within [``minimum``, ``maximum``] (open bounds when ``exclusive``; None:
    unbounded); None (or "none"/"auto") passes through when ``allow_none``."""
    if allow_none and _is_none(value):
        return None
    parsed = _parse(value)
    too_low = minimum is not None and parsed is not None and (parsed <= minimum if exclusive else parsed < minimum)
    too_high = maximum is not None and parsed is not None and (parsed >= maximum if exclusive else parsed > maximum)
    if parsed is None or not math.isfinite(parsed) or too_low or too_high:
        bounds = [f"{op} {bound:g}" for op, bound in ((">" if exclusive else ">=", minimum),
                                                       ("<" if exclusive else "<=", maximum)) if bound is not None]
        raise PyroVAEError(f"{name} must be a {'finite ' if not bounds else ''}number{' ' if bounds else ''}"
                           f"{' and '.join(bounds)}, got {value!r}")
    return parsed


def check_choice(name, value, choices):
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise PyroVAEError(f"unknown {name} {value!r}: choose one of {', '.join(map(str, choices))}")
    return value


def check_seeds(value, name="seeds"):
    """Seeds as a list of distinct ints >= 0: a count n (seeds 0 … n-1), a list, or a comma-separated string
    (``"0,1,2"``, from the CLI)."""
    if isinstance(value, str):
        value = [item for item in value.split(",") if item.strip()]
    elif not isinstance(value, (list, tuple)):
        return list(range(check_int(f"{name} (a count)", value)))
    if not value:
        raise PyroVAEError(f"{name} must be a count or one or more integers >= 0, got none")
    seeds = [check_int(name, seed, minimum=0) for seed in value]
    if len(set(seeds)) != len(seeds):
        raise PyroVAEError(f"{name} repeat: {seeds}")
    return seeds

"""Argument checks at the edges, one helper for every constructor: each error names
the argument and the bound it missed. The inner loops trust what passed here.

    check_number("rate", 0.5, low=0, high=1)            # a float in [0, 1)
    check_number("units", 64, integer=True, low=1)       # an integer >= 1
"""
from __future__ import annotations

import math

import numpy as np


def check_number(name: str, value, *, integer: bool = False, low=None, high=None,
                 low_open: bool = False, high_open: bool = True, say_kind: bool = False):
    """``value`` as an int (``integer``) or a float, else an error naming ``name``:
    TypeError for something that is not a number (bool included), ValueError for
    NaN, infinity or a value outside [low, high) (``low_open``: low excluded;
    ``high_open=False``: high included), worded "NAME must be > 0, got -1"
    ("must be an integer >= 0" with ``say_kind``). NumPy scalars count as numbers."""
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    what = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise TypeError(f"{name} must be {what}, got {value!r}")
    below = low is not None and not (value > low if low_open else value >= low)
    above = high is not None and not (value < high if high_open else value <= high)
    if below or above or not math.isfinite(value):
        bounds = _bounds(low, high, low_open, high_open) if (low, high) != (None, None) else "finite"
        raise ValueError(f"{name} must be {what + ' ' if say_kind else ''}{bounds}, got {value!r}")
    return int(value) if integer else float(value)


def _bounds(low, high, low_open, high_open) -> str:
    if high is None:
        return f"{'>' if low_open else '>='} {low}"
    if low is None:
        return f"{'<' if high_open else '<='} {high}"
    return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def check_positive(name: str, value, kind=float, allow_zero: bool = False):
    """A count or a size: an integer (``kind=int``) or a number, > 0 (>= 0 with
    ``allow_zero``)."""
    if kind is int and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    return check_number(name, value, integer=kind is int, low=0, low_open=not allow_zero)

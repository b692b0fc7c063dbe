"""Argument checks at the edges, one helper for every constructor: each error names
the argument and the bound it missed. The inner loops trust what passed here.

    check_number("rate", 0.5, low=0, high=1)            # a float in [0, 1)
    check_number("units", 64, integer=True, low=1)       # an integer >= 1
    check_X(X, n_features)                               # features: 2-D, numeric, finite
"""
from __future__ import annotations

import math

import numpy as np


def check_number(name: str, value, *, integer: bool = False, low=None, high=None,
                 low_open: bool = False, high_open: bool = True, say_kind: bool = False,
                 type_error: bool = True):
    """``value`` as an int (``integer``) or a float, else an error naming ``name``:
    TypeError for something that is not a number (bool included), ValueError for
    NaN, infinity or a value outside [low, high) (``low_open``: low excluded;
    ``high_open=False``: high included), worded "NAME must be > 0, got -1"
    ("must be an integer >= 0" with ``say_kind``). NumPy scalars count as numbers.
    ``type_error=False``: a value of the wrong type raises that same ValueError
    (for arguments whose callers have always caught ValueError alone)."""
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    what = "an integer" if integer else "a number"
    wrong_type = isinstance(value, bool) or not isinstance(value, kinds)
    if wrong_type and type_error:
        raise TypeError(f"{name} must be {what}, got {value!r}")
    below = not wrong_type and low is not None and not (value > low if low_open else value >= low)
    above = not wrong_type and high is not None and not (value < high if high_open else value <= high)
    if wrong_type or below or above or not math.isfinite(value):
        bounds = _bounds(low, high, low_open, high_open) if (low, high) != (None, None) else "finite"
        raise ValueError(f"{name} must be {what + ' ' if say_kind else ''}{bounds}, got {value!r}")
    return int(value) if integer else float(value)


def _bounds(low, high, low_open, high_open) -> str:
    if high is None:
        return f"{'>' if low_open else '>='} {low}"
    if low is None:
        return f"{'<' if high_open else '<='} {high}"
    return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def check_positive(name: str, value, kind=float, allow_zero: bool = False,
                   type_error: bool = True):
    """A count or a size: an integer (``kind=int``) or a number, > 0 (>= 0 with
    ``allow_zero``). ``type_error=False`` (integers): one ValueError, whatever is
    wrong, worded "NAME must be a positive integer, got V" ("an integer >= 0" with
    ``allow_zero``)."""
    if kind is int:
        wrong_type = isinstance(value, bool) or not isinstance(value, (int, np.integer))
        if wrong_type and type_error:
            raise TypeError(f"{name} must be a positive integer, got {value!r}")
        if not type_error and (wrong_type or value < (0 if allow_zero else 1)):
            what = "an integer >= 0" if allow_zero else "a positive integer"
            raise ValueError(f"{name} must be {what}, got {value!r}")
    return check_number(name, value, integer=kind is int, low=0, low_open=not allow_zero,
                        type_error=type_error)


def check_X(X, n_features: int | None = None, dtype=np.float64, name: str = "X") -> np.ndarray:
    """Validate features: 2-D, non-empty, numeric, finite, with the expected width.

    Returns a C-contiguous array of ``dtype`` (a copy only when needed)."""
    if hasattr(X, "to_numpy"):  # pandas
        X = X.to_numpy()
    try:
        X = np.asarray(X)
    except ValueError as e:
        raise ValueError(f"{name} could not be read as an array: {e}") from None
    if X.dtype == object or X.dtype.kind in "USV":
        try:
            X = X.astype(np.float64)
        except OverflowError:  # Python ints beyond float64
            raise ValueError(f"{name} has numbers too large for float64 (dtype {X.dtype})") from None
        except (TypeError, ValueError):
            raise ValueError(f"{name} has non-numeric values (dtype {X.dtype})") from None
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (samples, features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: shape {X.shape}")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has zero features: shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features, but the model was trained with {n_features}"
        )
    narrowed = X.dtype.kind == "f" and X.dtype.itemsize > np.dtype(dtype).itemsize
    with np.errstate(over="ignore"):
        X = np.ascontiguousarray(X, dtype=dtype)
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or inf" + (
            f" (or values beyond the range of {X.dtype.name})" if narrowed else ""))
    return X

"""The one argument-check helper: every constructor's errors name the argument and the bound."""
import numpy as np
import pytest

from scratchnet.validation import check_number, check_positive


def test_check_number_accepts_numbers_in_range_and_numpy_scalars():
    assert check_number("rate", np.float32(0.5), low=0, high=1) == 0.5
    assert check_number("units", np.int64(3), integer=True, low=1) == 3
    assert isinstance(check_number("units", np.int64(3), integer=True, low=1), int)


@pytest.mark.parametrize("value, kw, error, message", [
    (True, {}, TypeError, "x must be a number, got True"),
    ("1", {}, TypeError, "x must be a number"),
    (1.5, {"integer": True}, TypeError, "x must be an integer, got 1.5"),
    (float("nan"), {"low": 0}, ValueError, r"x must be >= 0, got nan"),
    (float("inf"), {}, ValueError, "x must be finite, got inf"),
    (0, {"low": 0, "low_open": True}, ValueError, "x must be > 0, got 0"),
    (1, {"low": 0, "high": 1}, ValueError, r"x must be in \[0, 1\), got 1"),
    (2, {"low": 0, "high": 1, "high_open": False}, ValueError, r"x must be in \[0, 1\], got 2"),
    (-1, {"integer": True, "low": 0, "say_kind": True}, ValueError, "x must be an integer >= 0, got -1"),
])
def test_check_number_names_the_argument_and_the_bound(value, kw, error, message):
    with pytest.raises(error, match=message):
        check_number("x", value, **kw)


def test_check_positive():
    assert check_positive("epochs", 3, int) == 3
    with pytest.raises(TypeError, match="epochs must be a positive integer"):
        check_positive("epochs", 2.0, int)
    with pytest.raises(ValueError, match="lr must be > 0, got 0"):
        check_positive("lr", 0)
    assert check_positive("wd", 0, allow_zero=True) == 0

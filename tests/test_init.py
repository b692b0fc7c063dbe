import numpy as np
import pytest

from scratchnet import init


@pytest.mark.parametrize("name, expected_var", [
    ("he", lambda i, o: 2 / i), ("he_uniform", lambda i, o: 2 / i),
    ("glorot", lambda i, o: 2 / (i + o)), ("glorot_normal", lambda i, o: 2 / (i + o)),
    ("normal", lambda i, o: 1.0),
])
def test_weight_variance_and_bias(name, expected_var):
    rng = np.random.default_rng(0)
    fan_in, fan_out = 400, 300
    W, b = np.empty((fan_in, fan_out)), np.full(fan_out, 9.0)
    init.initialize(name, W, b, rng)
    assert W.var() == pytest.approx(expected_var(fan_in, fan_out), rel=0.02)
    assert abs(W.mean()) < 0.01 * np.sqrt(expected_var(fan_in, fan_out)) * 10
    if name == "normal":  # the tutorial draws its biases too
        assert b.var() == pytest.approx(1.0, rel=0.3)
    else:
        np.testing.assert_array_equal(b, 0)


@pytest.mark.parametrize("name", ["he_uniform", "glorot"])
def test_uniform_bounds(name):
    W, b = np.empty((50, 70)), np.empty(70)
    init.initialize(name, W, b, np.random.default_rng(1))
    limit = np.sqrt(6 / 50) if name == "he_uniform" else np.sqrt(6 / 120)
    assert np.abs(W).max() <= limit and np.abs(W).max() > 0.95 * limit


def test_model_axis_uses_the_last_two_axes():
    W, b = np.empty((5, 100, 200)), np.empty((5, 200))
    init.initialize("he", W, b, np.random.default_rng(2))
    assert W.var() == pytest.approx(2 / 100, rel=0.03)


def test_same_generator_state_same_weights():
    a, b = np.empty((3, 4)), np.empty((3, 4))
    init.initialize("glorot_normal", a, np.empty(4), np.random.default_rng(5))
    init.initialize("glorot_normal", b, np.empty(4), np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid: .*glorot_normal.*he_uniform"):
        init.check_name("lecun")

import numpy as np
import pytest

from scratchnet import layers as L
from scratchnet.gradcheck import bind_random, check_layer, check_model_axis


@pytest.mark.parametrize("shape", [(1, 3), (7, 4), (3, 5, 2)])
@pytest.mark.parametrize("make", [lambda: L.Dense(3), L.ReLU, L.Softmax])
def test_gradients_match_finite_differences(make, shape, rng):
    layer = make()
    bind_random(layer, shape[-1], rng, lead=shape[:-2])
    x = rng.standard_normal(shape)
    if isinstance(layer, L.ReLU):
        x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink
    check_layer(layer, x, rng)


def test_dense_model_axis_equals_separate_models(rng):
    """A group of 3 stacked Dense layers computes what 3 separate ones do."""
    group = bind_random(L.Dense(4), 5, rng, lead=(3,))
    check_model_axis(group, rng.standard_normal((3, 6, 5)), rng.standard_normal((3, 6, 4)), train=False)


def test_relu_does_not_modify_its_input():
    x = np.array([[-1.0, 2.0, -3.0]])
    before = x.copy()
    out = L.ReLU().forward(x)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(out, [[0.0, 2.0, 0.0]])


def test_relu_gate_is_x_greater_than_zero():
    """The tutorial's eq. 17 says x >= 1; the derivative of max(0, x) is 1 for 0 < x < 1 too."""
    relu = L.ReLU()
    relu.forward(np.array([[-0.5, 0.5, 2.0]]))
    np.testing.assert_array_equal(relu.backward(np.ones((1, 3))), [[0.0, 1.0, 1.0]])


def test_softmax_is_stable_for_huge_logits():
    probs = L.softmax(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]]))
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0)
    np.testing.assert_allclose(probs[0], [1.0, 0.0, 0.0])


def test_softmax_matches_tutorial_example():
    np.testing.assert_allclose(L.softmax(np.array([[10.0, 10.0], [1.0, 4.0]])),
                               [[0.5, 0.5], [0.04742587, 0.95257413]], rtol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_stays_float32(dtype, rng):
    dense = L.Dense(3)
    dense.bind({"W": np.ones((2, 3), dtype), "b": np.zeros(3, dtype)},
               {"W": np.zeros((2, 3), dtype), "b": np.zeros(3, dtype)})
    out = L.ReLU().forward(dense.forward(rng.standard_normal((4, 2)).astype(dtype)))
    assert out.dtype == dtype
    assert dense.backward(out).dtype == dtype


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="valid: .*relu"):
        L.activation("swishy")
    with pytest.raises(ValueError, match="valid: .*he"):
        L.Dense(3, init="zeros-ish")
    with pytest.raises(ValueError, match="positive integer"):
        L.Dense(0)

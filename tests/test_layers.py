import numpy as np
import pytest

from scratchnet import layers as L
from scratchnet.gradcheck import numerical_grad, relative_error


def bound(layer, n_in, rng, n_models=None):
    """Give a layer freshly allocated, randomly filled parameters."""
    shapes = layer.param_shapes(n_in)
    lead = () if n_models is None else (n_models,)
    params = {k: rng.standard_normal(lead + s) for k, s in shapes.items()}
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    layer.bind(params, grads)
    return layer


def check_layer_grads(layer, x, rng):
    """Compare backward's input and parameter gradients with finite differences
    of the scalar sum(forward(x) * G) for a random G."""
    G = rng.standard_normal(layer.forward(x).shape)
    f = lambda: float(np.sum(layer.forward(x) * G))  # noqa: E731
    layer.forward(x, train=True)
    grad_x = layer.backward(G)
    analytic = {k: v.copy() for k, v in layer.grads.items()}
    assert relative_error(grad_x, numerical_grad(f, x)) < 1e-6
    for name, p in layer.params.items():
        assert relative_error(analytic[name], numerical_grad(f, p)) < 1e-6, name


@pytest.mark.parametrize("shape", [(1, 3), (7, 4), (3, 5, 2)])
@pytest.mark.parametrize("make", [lambda: L.Dense(3), L.ReLU, L.Softmax])
def test_gradients_match_finite_differences(make, shape, rng):
    layer = make()
    n_models = shape[0] if len(shape) == 3 else None
    bound(layer, shape[-1], rng, n_models)
    x = rng.standard_normal(shape)
    if isinstance(layer, L.ReLU):
        x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink
    check_layer_grads(layer, x, rng)


def test_dense_model_axis_equals_separate_models(rng):
    """A group of 3 stacked Dense layers computes what 3 separate ones do."""
    group = bound(L.Dense(4), 5, rng, n_models=3)
    x = rng.standard_normal((3, 6, 5))
    g = rng.standard_normal((3, 6, 4))
    out = group.forward(x)
    grad_x = group.backward(g)
    for m in range(3):
        single = L.Dense(4)
        single.bind({k: v[m].copy() for k, v in group.params.items()},
                    {k: np.zeros_like(v[m]) for k, v in group.params.items()})
        np.testing.assert_allclose(single.forward(x[m]), out[m], rtol=1e-12)
        np.testing.assert_allclose(single.backward(g[m]), grad_x[m], rtol=1e-12)
        for k in group.grads:
            np.testing.assert_allclose(single.grads[k], group.grads[k][m], rtol=1e-12)


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

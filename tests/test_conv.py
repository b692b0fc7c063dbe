"""Conv1d, MaxPool1d, GlobalAvgPool1d and Flatten: finite differences, PyTorch
(float64, within 1e-10), the model axis, models built from them, saving and loading."""
import numpy as np
import pytest
from conftest import require

import scratchnet as sn
from scratchnet import conv
from scratchnet.gradcheck import bind_random, check_layer, check_model_axis

TOL = 1e-10

# (C_in, L, channels, kernel_size, stride, padding): odd and even lengths, strides, padding
CONV_CASES = [(1, 9, 2, 3, 1, 0), (3, 10, 4, 3, 2, 1), (2, 7, 3, 5, 2, 2),
              (4, 8, 2, 1, 1, 0), (2, 12, 5, 4, 3, 1)]
POOL_CASES = [(3, 2, None), (9, 3, 2), (10, 2, 1), (8, 3, 3), (7, 4, 1)]  # (L, kernel, stride)


def conv_layer(C_in, L, channels, K, stride, padding, rng, lead=()):
    return bind_random(sn.Conv1d(channels, K, stride, padding), (C_in, L), rng, lead=lead)


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv1d_gradients_match_finite_differences(case, rng):
    C_in, L, channels, K, stride, padding = case
    layer = conv_layer(*case, rng)
    check_layer(layer, rng.standard_normal((3, C_in, L)), rng)


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_pool_and_flatten_gradients_match_finite_differences(case, rng):
    L, K, stride = case
    x = rng.standard_normal((3, 2, L))  # distinct values: no ties inside a window
    for layer in (sn.MaxPool1d(K, stride), sn.GlobalAvgPool1d(), sn.Flatten()):
        check_layer(layer, x, rng)


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv1d_matches_torch(case, rng):
    torch = require("torch")
    C_in, L, channels, K, stride, padding = case
    layer = conv_layer(*case, rng)
    x, W, b = rng.standard_normal((5, C_in, L)), layer.params["W"], layer.params["b"]
    ref = torch.nn.Conv1d(C_in, channels, K, stride=stride, padding=padding).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(W))
        ref.bias.copy_(torch.from_numpy(b))
    xt = torch.tensor(x, requires_grad=True)
    out_t = ref(xt)
    G = rng.standard_normal(tuple(out_t.shape))
    (out_t * torch.from_numpy(G)).sum().backward()
    np.testing.assert_allclose(layer.forward(x, train=True), out_t.detach().numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(layer.backward(G), xt.grad.numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(layer.grads["W"], ref.weight.grad.numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(layer.grads["b"], ref.bias.grad.numpy(), rtol=TOL, atol=TOL)
    assert layer.output_shape((C_in, L)) == tuple(out_t.shape[1:])
    # the reference functions give the same numbers as the layer
    grad_x, grad_W, grad_b = conv.conv1d_backward(G, x, W, stride, padding)
    np.testing.assert_allclose(conv.conv1d(x, W, b, stride, padding), out_t.detach().numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(grad_W, ref.weight.grad.numpy(), rtol=TOL, atol=TOL)


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_pooling_and_flatten_match_torch(case, rng):
    torch = require("torch")
    L, K, stride = case
    x = rng.standard_normal((4, 3, L))
    references = [(sn.MaxPool1d(K, stride), torch.nn.MaxPool1d(K, stride)),
                  (sn.GlobalAvgPool1d(), torch.nn.Sequential(torch.nn.AdaptiveAvgPool1d(1),
                                                             torch.nn.Flatten())),
                  (sn.Flatten(), torch.nn.Flatten())]
    for ours, theirs in references:
        xt = torch.tensor(x, requires_grad=True)
        out_t = theirs(xt)
        G = rng.standard_normal(tuple(out_t.shape))
        (out_t * torch.from_numpy(G)).sum().backward()
        np.testing.assert_allclose(ours.forward(x, train=True), out_t.detach().numpy(), rtol=TOL, atol=TOL)
        np.testing.assert_allclose(ours.backward(G), xt.grad.numpy(), rtol=TOL, atol=TOL)
        assert ours.output_shape((3, L)) == tuple(out_t.shape[1:])


def test_max_pool_ties_go_to_the_first_maximum_as_in_torch():
    torch = require("torch")
    x = np.array([[[1.0, 1.0, 0.0, 2.0, 2.0, 2.0]]])
    G = np.array([[[1.0, 10.0]]])
    pool = sn.MaxPool1d(3)
    pool.forward(x)
    xt = torch.tensor(x, requires_grad=True)
    (torch.nn.MaxPool1d(3)(xt) * torch.from_numpy(G)).sum().backward()
    np.testing.assert_array_equal(pool.backward(G), xt.grad.numpy())
    np.testing.assert_array_equal(pool.backward(G), [[[1, 0, 0, 10, 0, 0]]])


def test_conv1d_model_axis_equals_separate_models(rng):
    """M = 3 stacked convolutions compute what 3 separate ones do."""
    group = conv_layer(2, 9, 4, 3, 2, 1, rng, lead=(3,))
    check_model_axis(group, rng.standard_normal((3, 5, 2, 9)), rng.standard_normal((3, 5, 4, 5)),
                     train=False)


def test_layers_refuse_the_wrong_sample_shape():
    with pytest.raises(ValueError, match=r"Conv1d takes samples of shape \(channels, length\)"):
        sn.Conv1d(4, 3).param_shapes((10,))
    with pytest.raises(ValueError, match="Dense takes flat samples.*Flatten"):
        sn.Dense(4).param_shapes((2, 10))
    with pytest.raises(ValueError, match="does not fit a sequence of length 3"):
        sn.Conv1d(4, 5).output_shape((1, 3))
    with pytest.raises(ValueError, match="does not fit a sequence of length 2"):
        sn.MaxPool1d(3).output_shape((1, 2))
    for bad in (0, -1, 2.5, True):  # a value out of range, or not an integer at all
        with pytest.raises((ValueError, TypeError), match="channels must be an integer"):
            sn.Conv1d(bad, 3)
    with pytest.raises(ValueError, match="padding must be an integer >= 0"):
        sn.Conv1d(2, 3, padding=-1)


def small_cnn(**kwargs):
    return sn.Sequential([sn.Conv1d(4, 3, stride=2, padding=1), sn.ReLU(), sn.MaxPool1d(2),
                          sn.Conv1d(3, 3, padding=1), sn.ReLU(), sn.Flatten(), sn.Dense(3)],
                         optimizer="adam", lr=1e-2, **{"seed": 0, **kwargs})


def sequences(rng, n=60, C=None, L=12):
    """Three classes: a bump near the start, middle or end of the sequence."""
    y = np.arange(n) % 3
    X = rng.standard_normal((n, L)) * 0.3
    X[np.arange(n), 2 + y * 4] += 2.0
    return (X if C is None else np.repeat(X[:, None, :], C, axis=1)), y


def test_a_cnn_learns_and_infers_its_input_channels(rng):
    X, y = sequences(rng)
    model = small_cnn().fit(X, y, epochs=30, batch_size=10)
    assert model.input_shape_ == (1, 12) and model.layers[0].params["W"].shape == (4, 1, 3)
    assert model.evaluate(X, y)["accuracy"] > 0.9
    np.testing.assert_array_equal(model.predict(X), model.predict(X[:, None, :]))  # (N, L) = (N, 1, L)
    assert "(None, 4, 6)" in model.summary() and "(None, 3)" in model.summary()
    X3, _ = sequences(rng, C=2)
    two = small_cnn().fit(X3, y, epochs=1, batch_size=10)
    assert two.input_shape_ == (2, 12) and two.layers[0].params["W"].shape == (4, 2, 3)
    with pytest.raises(ValueError, match=r"samples of shape \(12,\).*trained with \(2, 12\)"):
        two.predict(X)
    with pytest.raises(ValueError, match=r"samples of shape \(2, 11\).*trained with \(2, 12\)"):
        two.predict(X3[:, :, :11])


def test_a_model_must_end_flat(rng):
    X, y = sequences(rng)
    with pytest.raises(ValueError, match="last layer's outputs have shape"):
        sn.Sequential([sn.Conv1d(3, 3)], seed=0).fit(X, y, epochs=1)


def test_a_cnn_is_saved_and_loaded_exactly(rng, tmp_path):
    X, y = sequences(rng, C=2)
    model = small_cnn(scale=True).fit(X, y, epochs=2, batch_size=10)
    sn.save(model, tmp_path / "cnn.npz")
    loaded = sn.load(tmp_path / "cnn.npz")
    assert [repr(layer) for layer in loaded.layers] == [repr(layer) for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    model.fit(X, y, epochs=1, batch_size=10)  # training continues exactly
    loaded.fit(X, y, epochs=1, batch_size=10)
    np.testing.assert_array_equal(loaded.params, model.params)


def test_random_shift_moves_each_row_circularly(rng):
    from scratchnet.train import RandomShift

    xb = np.arange(24.0).reshape(4, 6)
    out = RandomShift(2)(xb, np.random.default_rng(0))
    shifts = np.random.default_rng(0).integers(-2, 3, size=4)
    for row, s in zip(range(4), shifts):
        np.testing.assert_array_equal(out[row], np.roll(xb[row], s))
    x3 = np.stack([xb, -xb], axis=1)  # (4, 2, 6): both channels move together
    out3 = RandomShift(2)(x3, np.random.default_rng(0))
    np.testing.assert_array_equal(out3[:, 0], out)
    np.testing.assert_array_equal(out3[:, 1], -out)
    with pytest.raises(ValueError, match="max_shift"):
        RandomShift(-1)


def test_group_training_equals_training_alone(rng):
    """The group engine trains conv models as it trains MLPs: each model of a group
    ends with the weights it gets alone (1e-12, float64)."""
    from scratchnet.group import fit_group

    X, y = sequences(rng)
    models = [small_cnn(seed=s) for s in (0, 1, 2)]
    assert fit_group(models, X, y, epochs=2, batch_size=10, threads=1) == [None] * 3
    for s, model in enumerate(models):
        alone = small_cnn(seed=s).fit(X, y, epochs=2, batch_size=10)
        np.testing.assert_allclose(model.params, alone.params, rtol=0, atol=1e-12)
        assert model.history["loss"] == pytest.approx(alone.history["loss"], rel=1e-12)

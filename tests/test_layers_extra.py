"""Finite-difference gradient checks (float64, relative error < 1e-6) for the layers
and losses beyond the tutorial, their model axis, and their configs."""
import numpy as np
import pytest

from scratchnet import layers as L
from scratchnet import losses
from scratchnet.gradcheck import bind_random as bound
from scratchnet.gradcheck import check_layer as check_grads
from scratchnet.gradcheck import check_model_axis
from scratchnet.gradcheck import numerical_grad, relative_error

ACTIVATIONS = [lambda: L.LeakyReLU(0.2), L.Sigmoid, L.Tanh, L.GELU, L.Softmax, L.ReLU]


@pytest.mark.parametrize("shape", [(1, 3), (7, 4), (3, 5, 2)])
@pytest.mark.parametrize("make", ACTIVATIONS, ids=lambda m: type(m()).__name__)
def test_activation_gradients(make, shape, rng):
    x = rng.standard_normal(shape) * 2
    x[np.abs(x) < 1e-3] = 0.5  # keep finite differences off the kinks
    check_grads(make(), x, rng)


@pytest.mark.parametrize("shape", [(6, 3), (3, 5, 2)])
@pytest.mark.parametrize("train", [True, False])
def test_batchnorm_gradients(shape, train, rng):
    bn = bound(L.BatchNorm1d(), shape[-1], rng, shape[:-2])
    bn.buffers["running_mean"][...] = rng.standard_normal(bn.buffers["running_mean"].shape)
    bn.momentum = 0.0  # finite differences must not move the running statistics
    check_grads(bn, rng.standard_normal(shape) * 2 + 1, rng, train=train)


def test_dropout_gradient_with_fixed_mask(rng):
    drop = L.Dropout(0.4)
    x = rng.standard_normal((8, 5))
    G = rng.standard_normal(x.shape)

    def f():
        drop.rng = np.random.default_rng(7)  # the same mask for every evaluation
        return float(np.sum(drop.forward(x, train=True) * G))

    f()
    assert relative_error(drop.backward(G), numerical_grad(f, x)) < 1e-6


def test_dropout_inactive_at_inference_and_keeps_the_mean(rng):
    drop = L.Dropout(0.25)
    drop.rng = np.random.default_rng(0)
    x = np.ones((400, 100))
    np.testing.assert_array_equal(drop.forward(x, train=False), x)
    out = drop.forward(x, train=True)
    assert abs((out == 0).mean() - 0.25) < 0.01
    assert abs(out.mean() - 1) < 0.02
    with pytest.raises(ValueError, match="rate"):
        L.Dropout(1.0)


# a uniform that the first draw below makes, and the float32 number above it: a unit
# drawn exactly at the rate is kept, one just below it dropped. This one's 32 bits end
# in 8 zero bits (dropped by the float): its bits equal the threshold's
_FIRST = np.random.default_rng(11).random((128, 256), dtype=np.float32).ravel()
_DRAWN = _FIRST[np.flatnonzero(np.random.default_rng(11).bit_generator.random_raw(128 * 128)
                               .view(np.uint32) % 256 == 0)[0]]


@pytest.mark.parametrize("rate", [0.2, 0.3, 0.5, 1e-7, 0.9999, float(_DRAWN),
                                  float(np.nextafter(_DRAWN, np.float32(1)))])
def test_dropout_masks_from_raw_bits_are_the_uniform_draws_own(rate):
    """Large float32 masks come from the generator's raw bits: the same keep/drop of
    every unit as ``rng.random(dtype=float32) >= rate`` on the same stream, draw after
    draw, an odd-sized draw (which leaves half a word, so the next one draws as
    uniforms) among them; a model group's streams likewise."""
    shapes = [(128, 256), (256, 130), (129, 129), (128, 256), (129, 129), (256, 128)]
    raw = [True, True, False, False, False, True]  # drawn from raw bits, or as uniforms
    drop, reference = L.Dropout(rate), np.random.default_rng(11)
    drop.rng = np.random.default_rng(11)
    for shape, from_bits in zip(shapes, raw):
        x = np.ones(shape, np.float32)
        drop._buffers(x)[0][...] = np.nan  # the uniforms' buffer: left alone by raw bits
        drop.forward(x, train=True)
        expected = reference.random(shape, dtype=np.float32) >= np.float32(rate)
        np.testing.assert_array_equal(drop.mask != 0, expected)
        assert np.isnan(drop._buffers(x)[0]).all() == from_bits
        # the same state, the unused half word included (saved with the model)
        assert drop.rng.bit_generator.state == reference.bit_generator.state
    group = L.Dropout(rate)
    group.rng = [np.random.default_rng(s) for s in (3, 4)]
    group.forward(np.ones((2, 128, 256), np.float32), train=True)
    for s, mask, rng in zip((3, 4), group.mask, group.rng):
        own = np.random.default_rng(s)
        expected = own.random((128, 256), dtype=np.float32) >= np.float32(rate)
        np.testing.assert_array_equal(mask != 0, expected)
        assert rng.bit_generator.state == own.bit_generator.state


@pytest.mark.parametrize("rate", [0.2, 0.3, 1e-7, 0.5, 2.0 ** -24, 2.0 ** -25, 1 - 2.0 ** -24,
                                  float(np.nextafter(np.float32(0.5), np.float32(0))),
                                  float(np.nextafter(np.float32(0.5), np.float32(1))),
                                  float(np.nextafter(np.float32(0.7), np.float32(1))), 0.99999999])
def test_dropout_keep_threshold_is_where_the_float32_uniforms_reach_the_rate(rate):
    """Every word b in a window around the rate, with its low 8 bits all 0 or all 1,
    is at or above the threshold exactly where its float32 uniform (b >> 8) 2^-24
    is >= rate (compared in float32, as the uniforms are)."""
    rate32 = np.float32(rate)
    threshold = L.Dropout._keep_threshold(rate32)
    near = int(float(rate32) * 2 ** 24)  # the uniforms' k (u = k 2^-24) next to the rate
    k = np.arange(max(0, near - 4), min(2 ** 24, near + 5))
    reaches = (k.astype(np.float32) * np.float32(2.0 ** -24)) >= rate32
    for low in (0, 255):
        np.testing.assert_array_equal((k * 256 + low) >= threshold, reaches)
    if threshold >= 2 ** 32:  # the rate rounds to 1 in float32: no uniform reaches it
        assert rate32 == 1 and not reaches.any()


@pytest.mark.parametrize("make", [L.BatchNorm1d, L.GELU, lambda: L.LeakyReLU(0.2)],
                         ids=["BatchNorm1d", "GELU", "LeakyReLU"])
def test_model_axis_equals_separate_models(make, rng):
    """A group of 3 models computes what 3 separate layers do, running statistics included."""
    group = bound(make(), 4, rng, (3,))
    check_model_axis(group, rng.standard_normal((3, 6, 4)), rng.standard_normal((3, 6, 4)))


@pytest.mark.parametrize("layer", [L.Dense(5, init="glorot_normal"), L.ReLU(), L.LeakyReLU(0.3), L.Sigmoid(),
                                   L.Tanh(), L.GELU(), L.Softmax(), L.Dropout(0.2),
                                   L.BatchNorm1d(momentum=0.2, eps=1e-3)], ids=repr)
def test_config_rebuilds_the_layer(layer):
    again = L.from_config(layer.config())
    assert type(again) is type(layer) and again.config() == layer.config()


@pytest.mark.parametrize("name", sorted(L.ACTIVATIONS))
def test_every_activation_name_builds(name):
    assert isinstance(L.activation(name), L.Layer)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", ACTIVATIONS + [L.BatchNorm1d], ids=lambda m: type(m()).__name__)
def test_dtype_is_kept(make, dtype, rng):
    layer = make()
    if layer.param_shapes(3):
        layer.bind({k: np.ones(s, dtype) for k, s in layer.param_shapes(3).items()},
                   {k: np.zeros(s, dtype) for k, s in layer.param_shapes(3).items()})
    x = rng.standard_normal((4, 3)).astype(dtype)
    assert layer.forward(x, train=True).dtype == dtype
    assert layer.backward(x).dtype == dtype


# -- losses ------------------------------------------------------------------------------
def _targets(kind, shape, rng):
    if kind == "mse":
        return rng.standard_normal(shape)
    if kind == "binary_cross_entropy":
        return rng.integers(0, 2, shape).astype(float)
    return np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]


@pytest.mark.parametrize("kind, kwargs", [("softmax_cross_entropy", {"label_smoothing": 0.1}),
                                          ("binary_cross_entropy", {}), ("mse", {})])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shape", [(6, 3), (2, 5, 1)])
def test_loss_gradients(kind, kwargs, reduction, shape, rng):
    if kind == "binary_cross_entropy":
        shape = shape[:-1] + (1,)
    loss = losses.get(kind, reduction=reduction, **kwargs)
    z, y = rng.standard_normal(shape) * 3, _targets(kind, shape, rng)
    loss.forward(z, y)
    analytic = loss.backward()
    numeric = numerical_grad(lambda: float(np.sum(loss.forward(z, y))), z)
    assert relative_error(analytic, numeric) < 1e-6
    assert np.shape(loss.forward(z, y)) == shape[:-2]  # one loss per model
    assert losses.from_config(loss.config()).config() == loss.config()


def test_cross_entropy_integer_targets_equal_one_hot(rng):
    z, y = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    loss = losses.SoftmaxCrossEntropy(label_smoothing=0.3)
    a, grad_a = loss.forward(z, y), loss.backward().copy()
    b, grad_b = loss.forward(z, np.eye(4)[y]), loss.backward()
    assert a == pytest.approx(b, rel=1e-14)
    np.testing.assert_allclose(grad_a, grad_b, rtol=1e-14)


def test_binary_cross_entropy_is_finite_for_huge_logits():
    loss = losses.BinaryCrossEntropy("sum")
    value = loss.forward(np.array([[1e4], [-1e4]]), np.array([[0.0], [1.0]]))
    assert value == pytest.approx(2e4)
    np.testing.assert_array_equal(loss.backward(), [[1.0], [-1.0]])


def test_bad_loss_arguments():
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.SoftmaxCrossEntropy(label_smoothing=1.0)
    with pytest.raises(ValueError, match="valid: .*mse"):
        losses.get("hinge")


@pytest.mark.parametrize("copy_model", ["deepcopy", "pickle"])
def test_batch_norm_statistics_survive_a_copy_and_keep_moving(copy_model, moons):
    """The running mean and variance are the rows of one array (one update moves both);
    a copied model's loose buffers keep their values and move as the original's."""
    import copy
    import pickle

    import scratchnet as sn

    X, _, y, _ = moons
    model = sn.MLP(hidden=(8,), batchnorm=True, seed=0).fit(X[:200], y[:200], epochs=2, batch_size=10)
    copied = copy.deepcopy(model) if copy_model == "deepcopy" else pickle.loads(pickle.dumps(model))
    for name in ("running_mean", "running_var"):
        np.testing.assert_array_equal(copied.layers[1].buffers[name], model.layers[1].buffers[name])
    model.fit(X[:200], y[:200], epochs=1, batch_size=10)
    copied.fit(X[:200], y[:200], epochs=1, batch_size=10)
    np.testing.assert_array_equal(copied.params, model.params)
    for name in ("running_mean", "running_var"):
        np.testing.assert_array_equal(copied.layers[1].buffers[name], model.layers[1].buffers[name])

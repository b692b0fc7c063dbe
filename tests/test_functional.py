"""Every fast path equals the reference math in ``scratchnet.functional``:
float64 within rtol = atol = 1e-12, float32 within rtol 1e-5 of the float64 reference;
one model and a group of three (a leading model axis)."""
import numpy as np
import pytest

import scratchnet as sn
from scratchnet import functional as F
from scratchnet import layers as L
from scratchnet import losses, optimizers
from scratchnet.gradcheck import bind_random
from scratchnet.train import train_step

LEADS = [(), (3,)]  # one model, a group of three


def close(ours, reference, dtype=np.float64):
    if np.dtype(dtype) == np.float64:
        np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-12)
    else:
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5)


ACTIVATION_LAYERS = {"relu": L.ReLU, "leaky_relu": L.LeakyReLU, "sigmoid": L.Sigmoid,
                     "tanh": L.Tanh, "gelu": L.GELU, "identity": L.Identity}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("lead", LEADS)
@pytest.mark.parametrize("name", sorted(ACTIVATION_LAYERS))
@pytest.mark.parametrize("train", [True, False])
def test_activation_layers_equal_the_reference(name, lead, dtype, train, rng):
    x64 = rng.standard_normal(lead + (7, 5)) * 3
    g64 = rng.standard_normal(x64.shape)
    f, f_backward = F.ACTIVATIONS[name]
    layer = ACTIVATION_LAYERS[name]()
    x, g = x64.astype(dtype), g64.astype(dtype)
    close(layer.forward(x, train), f(x64), dtype)
    close(layer.backward(g), f_backward(g64, x64), dtype)
    close(layer.infer(x.copy(), inplace=True), f(x64), dtype)


@pytest.mark.parametrize("slope", [0.0, 0.2, 1.0, 1.5, -0.3])  # the max(sign(x), slope) gate for 0..1
@pytest.mark.parametrize("train", [True, False])
def test_leaky_relu_equals_the_reference_for_any_slope(slope, train, rng):
    x, g = rng.standard_normal((7, 5)) * 3, rng.standard_normal((7, 5))
    x[0, :2] = 0.0  # the gate at exactly 0 is the slope
    layer = L.LeakyReLU(slope)
    close(layer.forward(x, train), F.leaky_relu(x, slope))
    close(layer.backward(g), F.leaky_relu_backward(g, x, slope))
    close(layer.infer(x.copy(), inplace=True), F.leaky_relu(x, slope))


@pytest.mark.parametrize("lead", LEADS)
@pytest.mark.parametrize("batch", [10, 3])  # a full and a partial last batch
def test_dense_equals_affine(lead, batch, rng):
    layer = bind_random(L.Dense(4), 5, rng, lead)
    x, g = rng.standard_normal(lead + (batch, 5)), rng.standard_normal(lead + (batch, 4))
    W, b = layer.params["W"], layer.params["b"]
    close(layer.forward(x, train=True), F.affine(x, W, b))
    grad_x, grad_W, grad_b = F.affine_backward(g, x, W)
    close(layer.backward(g), grad_x)
    close(layer.grads["W"], grad_W)
    close(layer.grads["b"], grad_b)
    close(layer.infer(x), F.affine(x, W, b))


@pytest.mark.parametrize("batch", [10, 3])
def test_bias_folded_into_the_product_equals_affine(batch, rng):
    """A built model's Dense layers multiply [x, 1] @ [W; b] into reused buffers."""
    model = sn.Sequential([L.Dense(6), L.ReLU(), L.Dense(3)], seed=0).build(4)
    dense = model.layers[0]
    x, g = rng.standard_normal((batch, 4)), rng.standard_normal((batch, 6))
    for _ in range(2):  # the second call reuses the first call's buffers
        out = dense.forward(x, train=True)
        assert dense.x1 is not None  # the fast path ran
        close(out, F.affine(x, dense.params["W"], dense.params["b"]))
        dense.needs_input_grad = True
        _, grad_W, grad_b = F.affine_backward(g, x, dense.params["W"])
        dense.backward(g)
        close(dense.grads["W"], grad_W)
        close(dense.grads["b"], grad_b)


@pytest.mark.parametrize("lead", LEADS)
@pytest.mark.parametrize("batch", [8, 64])  # a small batch is centred by one product, a large one not
def test_batch_norm_equals_the_reference(lead, batch, rng):
    layer = bind_random(L.BatchNorm1d(), 5, rng, lead)
    x, g = rng.standard_normal(lead + (batch, 5)) * 2 + 1, rng.standard_normal(lead + (batch, 5))
    gamma, beta = layer.params["gamma"], layer.params["beta"]
    close(layer.forward(x, train=True), F.batch_norm(x, gamma, beta, layer.eps))
    grad_x, grad_gamma, grad_beta = F.batch_norm_backward(g, x, gamma, layer.eps)
    close(layer.backward(g), grad_x)
    close(layer.grads["gamma"], grad_gamma)
    close(layer.grads["beta"], grad_beta)
    rm, rv = layer.buffers["running_mean"][..., None, :], layer.buffers["running_var"][..., None, :]
    reference = F.batch_norm_eval(x, gamma[..., None, :], beta[..., None, :], rm, rv, layer.eps)
    close(layer.forward(x, train=False), reference)
    close(layer.infer(x), reference)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dropout_equals_the_reference_with_its_own_mask(dtype, rng):
    layer = L.Dropout(0.3)
    layer.rng = np.random.default_rng(0)
    x64, g64 = rng.standard_normal((50, 6)), rng.standard_normal((50, 6))
    out = layer.forward(x64.astype(dtype), train=True)
    keep = layer.mask != 0
    assert 0.5 < keep.mean() < 0.9
    close(out, F.dropout(x64, keep, 0.3), dtype)
    close(layer.backward(g64.astype(dtype)), F.dropout_backward(g64, keep, 0.3), dtype)


@pytest.mark.parametrize("lead", LEADS)
@pytest.mark.parametrize("n_classes", [2, 3, 10])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_softmax_cross_entropy_equals_the_reference(lead, n_classes, reduction, smoothing, rng):
    logits = rng.standard_normal(lead + (9, n_classes)) * 4
    y = rng.integers(0, n_classes, lead + (9,))
    Y = F.one_hot(y, n_classes)
    loss = losses.SoftmaxCrossEntropy(reduction, smoothing)
    close(loss.forward(logits, Y), F.softmax_cross_entropy(logits, Y, reduction, smoothing))
    reference_grad = F.softmax_cross_entropy_backward(logits, Y, reduction, smoothing)
    close(loss.backward(), reference_grad)
    close(loss.gradient(logits, Y), reference_grad)  # the training step's small-class path
    close(loss.gradient(logits, y), reference_grad)  # class indices as targets
    close(L.softmax(logits), F.softmax(logits))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("lead", LEADS)
def test_bce_and_mse_equal_the_reference(reduction, lead, rng):
    z = rng.standard_normal(lead + (9, 1)) * 5
    y = rng.integers(0, 2, z.shape).astype(float)
    bce = losses.BinaryCrossEntropy(reduction)
    close(bce.forward(z, y), F.binary_cross_entropy(z, y, reduction))
    close(bce.backward(), F.binary_cross_entropy_backward(z, y, reduction))
    close(bce.gradient(z, y), F.binary_cross_entropy_backward(z, y, reduction))  # the step's path
    out, target = rng.standard_normal(lead + (9, 2)), rng.standard_normal(lead + (9, 2))
    mse = losses.MeanSquaredError(reduction)
    close(mse.forward(out, target), F.mse(out, target, reduction))
    close(mse.backward(), F.mse_backward(out, target, reduction))
    close(mse.gradient(out, target), F.mse_backward(out, target, reduction))


def _reference_run(name, theta, grads, kw):
    """The functional update rule over a sequence of gradients."""
    lr, wd, l1 = kw["lr"], kw.get("weight_decay", 0.0), kw.get("l1", 0.0)
    state = [np.zeros_like(theta), np.zeros_like(theta)]
    for t, g in enumerate(grads, start=1):
        if kw.get("clipnorm"):
            g = F.clip_by_global_norm(g, kw["clipnorm"])
        if name == "adamw":
            g = F.l2_and_l1(theta, g, 0.0, l1)
            theta, state[0], state[1] = F.adam(theta, g, *state, t, lr, decoupled_weight_decay=wd)
            continue
        g = F.l2_and_l1(theta, g, wd, l1)
        if name == "sgd":
            theta = F.sgd(theta, g, lr)
        elif name in ("momentum", "nesterov"):
            theta, state[0] = F.momentum(theta, g, state[0], lr, 0.9, nesterov=name == "nesterov")
        elif name == "rmsprop":
            theta, state[0] = F.rmsprop(theta, g, state[0], lr)
        else:
            theta, state[0], state[1] = F.adam(theta, g, *state, t, lr)
    return theta


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"])
@pytest.mark.parametrize("extra", [{}, {"weight_decay": 0.01}, {"clipnorm": 0.5}, {"l1": 0.003}])
def test_optimizers_equal_the_reference(name, extra, rng):
    theta0 = rng.standard_normal(40)
    grads = [rng.standard_normal(40) for _ in range(5)]
    kw = {"lr": 0.05, **extra}
    opt = optimizers.get(name, **kw)
    kw["weight_decay"] = opt.weight_decay  # AdamW's default is 0.01
    theta = theta0.copy()
    for g in grads:
        opt.step(theta, g.copy())
    close(theta, _reference_run(name, theta0, grads, kw))


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_follows_hyper_parameters_changed_between_steps(name, rng):
    """Adam keeps its numbers as arrays made once (``_constants``): a learning rate or
    weight decay set between steps (a schedule) must still reach the next step."""
    theta = rng.standard_normal(40)
    opt = optimizers.get(name, lr=0.05, weight_decay=0.01)
    reference, m, v = theta.copy(), np.zeros(40), np.zeros(40)
    for t, (lr, wd) in enumerate([(0.05, 0.01), (0.05, 0.01), (0.02, 0.01), (0.02, 0.1), (0.05, 0.1)], 1):
        opt.lr, opt.weight_decay = lr, wd
        g = rng.standard_normal(40)
        opt.step(theta, g.copy())
        if name == "adamw":
            reference, m, v = F.adam(reference, g, m, v, t, lr, decoupled_weight_decay=wd)
        else:
            reference, m, v = F.adam(reference, F.l2_and_l1(reference, g, wd), m, v, t, lr)
        close(theta, reference)


@pytest.mark.parametrize("loss,n_out", [("softmax_cross_entropy", 3), ("binary_cross_entropy", 1),
                                        ("mse", 2)])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_one_training_step_equals_the_reference(loss, n_out, reduction, rng):
    """train_step (buffers, the folded bias, the fused loss gradient, the in-place
    gate) against the network written out with ``functional``."""
    model = sn.Sequential([L.Dense(8), L.ReLU(), L.Dense(6), L.Tanh(), L.Dense(n_out)],
                          loss=loss, reduction=reduction, lr=0.1, seed=0).build(4)
    W1, b1, W2, b2, W3, b3 = (p.copy() for layer in model.layers for p in layer.params.values())
    x = rng.standard_normal((7, 4))
    Y = (F.one_hot(rng.integers(0, 3, 7), 3) if loss == "softmax_cross_entropy"
         else rng.integers(0, 2, (7, 1)).astype(float) if n_out == 1 else rng.standard_normal((7, 2)))
    # the reference forward and backward
    z1 = F.affine(x, W1, b1)
    h1 = F.relu(z1)
    z2 = F.affine(h1, W2, b2)
    h2 = F.tanh(z2)
    logits = F.affine(h2, W3, b3)
    backward = {"softmax_cross_entropy": F.softmax_cross_entropy_backward,
                "binary_cross_entropy": F.binary_cross_entropy_backward, "mse": F.mse_backward}[loss]
    g = backward(logits, Y, reduction)
    g, gW3, gb3 = F.affine_backward(g, h2, W3)
    g, gW2, gb2 = F.affine_backward(F.tanh_backward(g, z2), h1, W2)
    _, gW1, gb1 = F.affine_backward(F.relu_backward(g, z1), x, W1)
    close(train_step(model, x, Y), logits)
    expected = [F.sgd(p, gp, 0.1) for p, gp in
                [(W1, gW1), (b1, gb1), (W2, gW2), (b2, gb2), (W3, gW3), (b3, gb3)]]
    ours = [p for layer in model.layers for p in layer.params.values()]
    for got, want in zip(ours, expected):
        close(got, want)

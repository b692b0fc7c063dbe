"""The fast training path computes what the plain one does.

Training steps take shortcuts (Dense's bias folded into its matrix product,
buffers reused between steps, the loss gradient without the loss value, loss and
accuracy from the epoch's logits at once). Each test pits a shortcut against the
straightforward computation, including the cases the shortcuts must not break:
batch shapes that change, float32, the leading model axis, callers holding arrays.
"""
import tracemalloc

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import kernels
from scratchnet import layers as L
from scratchnet.data import one_hot
from scratchnet.losses import SoftmaxCrossEntropy
from scratchnet.train import train_epoch


def built_mlp(hidden=(7, 5), n_features=3, n_classes=4, dtype="float64", seed=0, **kw):
    model = sn.MLP(hidden=hidden, dtype=dtype, seed=seed, **kw)
    model.finish_layers(n_classes)
    model.build(n_features)
    model.params += 0.1 * np.random.default_rng(seed).standard_normal(model.params.shape).astype(dtype)
    return model


def reference_epoch(model, X, Y, y_idx, batch_size, rng):
    """The plain loop: gather by fancy indexing, forward with train=False (no
    buffers, no fused bias), loss value and gradient by forward/backward."""
    n = len(X)
    order = rng.permutation(n)
    loss_sum, correct = 0.0, 0
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        logits = model.forward(X[idx])
        batch_loss = model.loss.forward(logits, Y[idx])
        loss_sum += batch_loss * len(idx) if model.loss.reduction == "mean" else batch_loss
        correct += np.count_nonzero(logits.argmax(axis=-1) == y_idx[idx])
        model.backward(model.loss.backward())
        model.optimizer.step(model.params, model.grads)
    return float(loss_sum) / n, correct / n


@pytest.mark.parametrize("n_classes", [2, 4])  # two classes take their own loss path
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("n, batch_size", [(53, 10), (40, 8), (7, 7)])
def test_train_epoch_matches_the_plain_loop(n, batch_size, reduction, n_classes):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, 3))
    y = rng.integers(0, n_classes, n)
    Y = one_hot(y, n_classes)
    fast = built_mlp(lr=0.05, reduction=reduction, n_classes=n_classes)
    plain = built_mlp(lr=0.05, reduction=reduction, n_classes=n_classes)
    for epoch in range(3):
        got = train_epoch(fast, X, Y, y, batch_size, np.random.default_rng(epoch))
        want = reference_epoch(plain, X, Y, y, batch_size, np.random.default_rng(epoch))
        assert got[0] == pytest.approx(want[0], rel=1e-12)
        assert got[1] == want[1]
        np.testing.assert_allclose(fast.params, plain.params, rtol=1e-12, atol=1e-14)


def test_float32_training_stays_float32_and_close_to_float64():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((45, 3))
    y = rng.integers(0, 4, 45)
    m32 = built_mlp(dtype="float32", lr=0.05)
    m64 = built_mlp(dtype="float64", lr=0.05)
    m64.params[...] = m32.params
    loss32, _ = train_epoch(m32, X.astype(np.float32), one_hot(y, 4, np.float32), y, 10,
                            np.random.default_rng(0))
    loss64, _ = train_epoch(m64, X, one_hot(y, 4), y, 10, np.random.default_rng(0))
    assert m32.params.dtype == np.float32 and m32.grads.dtype == np.float32
    assert m32.forward(X[:10].astype(np.float32), train=True).dtype == np.float32
    np.testing.assert_allclose(m32.params, m64.params, rtol=1e-4, atol=1e-5)
    assert loss32 == pytest.approx(loss64, rel=1e-5)


def test_dense_fused_bias_path_equals_matmul_plus_bias(rng):
    model = built_mlp()
    dense = model.layers[0]
    assert dense.Wb is not None and np.shares_memory(dense.Wb, model.params)
    np.testing.assert_array_equal(dense.Wb[:-1], dense.params["W"])
    np.testing.assert_array_equal(dense.Wb[-1], dense.params["b"])
    for rows in (6, 2, 6):  # a batch shape, another, and back
        x = rng.standard_normal((rows, 3))
        g = rng.standard_normal((rows, 7))
        plain_out = dense.forward(x)  # train=False: x @ W + b, no buffers
        dense.backward(g)
        plain_grads = model.grads.copy()
        fast_out = dense.forward(x, train=True)
        np.testing.assert_allclose(fast_out, plain_out, rtol=1e-13)
        dense.backward(g)
        np.testing.assert_allclose(model.grads, plain_grads, rtol=1e-13, atol=1e-15)


def test_dense_input_gradient_on_the_fast_path(rng):
    model = built_mlp()
    dense = model.layers[2]  # needs its input gradient
    x, g = rng.standard_normal((5, 7)), rng.standard_normal((5, 5))
    dense.forward(x)
    plain = dense.backward(g)
    dense.forward(x, train=True)
    np.testing.assert_allclose(dense.backward(g), plain, rtol=1e-13)


def test_stacked_view_only_for_adjacent_views_of_one_array(rng):
    flat = np.arange(3 * 4 + 4, dtype=float)
    W, b = flat[:12].reshape(3, 4), flat[12:]
    np.testing.assert_array_equal(kernels.stacked_bias(W, b), flat.reshape(4, 4))
    assert kernels.stacked_bias(rng.standard_normal((3, 4)), rng.standard_normal(4)) is None  # apart
    assert kernels.stacked_bias(flat[4:].reshape(3, 4), flat[:4]) is None  # b before W
    group = np.zeros(2 * 3 * 4 + 2 * 4)
    assert kernels.stacked_bias(group[:24].reshape(2, 3, 4), group[24:].reshape(2, 4)) is None  # model axis


def test_model_axis_keeps_working_in_training_mode(rng):
    """Dense and ReLU with a leading model axis take the general path when training."""
    dense = L.Dense(4)
    params = {"W": rng.standard_normal((3, 5, 4)), "b": rng.standard_normal((3, 4))}
    dense.bind(params, {k: np.zeros_like(v) for k, v in params.items()})
    relu = L.ReLU()
    x, g = rng.standard_normal((3, 6, 5)), rng.standard_normal((3, 6, 4))
    out = relu.forward(dense.forward(x, train=True), train=True)
    grad_x = dense.backward(relu.backward(g))
    for m in range(3):
        pre = x[m] @ params["W"][m] + params["b"][m]
        np.testing.assert_allclose(out[m], np.maximum(pre, 0), rtol=1e-13)
        gate = g[m] * (pre > 0)
        np.testing.assert_allclose(dense.grads["W"][m], x[m].T @ gate, rtol=1e-12)
        np.testing.assert_allclose(dense.grads["b"][m], gate.sum(axis=0), rtol=1e-12)
        np.testing.assert_allclose(grad_x[m], gate @ params["W"][m].T, rtol=1e-12)


def test_inference_results_are_never_training_buffers(moons):
    X_train, X_test, y_train, _ = moons
    model = sn.MLP(hidden=(8,), seed=0).fit(X_train[:95], y_train[:95], epochs=1, batch_size=10)
    probs = model.predict_proba(X_test[:10])
    logits = model.forward(X_test[:10])
    kept_probs, kept_logits = probs.copy(), logits.copy()
    model.fit(X_train[:95], y_train[:95], epochs=1, batch_size=10)  # batches of 10 and of 5
    np.testing.assert_array_equal(probs, kept_probs)
    np.testing.assert_array_equal(logits, kept_logits)
    for layer in model.layers:
        for held in (probs, logits):
            assert not any(np.shares_memory(held, buf) for bufs in getattr(layer, "_scratch", {}).values()
                           for buf in (bufs if isinstance(bufs, tuple) else (bufs,)))


def test_training_after_predict_and_with_changing_batch_sizes(moons):
    """Buffers are per batch shape: a model trained in between predictions of other
    sizes ends where one trained without them does."""
    X_train, X_test, y_train, _ = moons
    a = sn.MLP(hidden=(8,), seed=3).fit(X_train[:97], y_train[:97], epochs=1, batch_size=10)
    b = sn.MLP(hidden=(8,), seed=3).fit(X_train[:97], y_train[:97], epochs=1, batch_size=10)
    a.predict(X_test[:33])
    a.fit(X_train[:97], y_train[:97], epochs=2, batch_size=10)
    a.predict(X_test)
    b.fit(X_train[:97], y_train[:97], epochs=2, batch_size=10)
    np.testing.assert_array_equal(a.params, b.params)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(4, 3), (64, 40)])  # small and large arrays gate differently
def test_relu_backward_leaves_its_argument_alone(shape, dtype, rng):
    relu = L.ReLU()
    x = rng.standard_normal(shape).astype(dtype)
    x[0, :2] = 0.0  # the gate at exactly 0 is 0
    out = relu.forward(x, train=True)
    g = rng.standard_normal(shape).astype(dtype)
    kept = g.copy()
    grad = relu.backward(g)
    np.testing.assert_array_equal(g, kept)
    np.testing.assert_array_equal(grad, kept * (x > 0))
    assert grad.dtype == dtype and not np.shares_memory(grad, out)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(7, 2), (300, 10), (3, 5, 4), (1, 1)])
def test_row_max_and_row_sum_are_max_and_sum_over_the_class_axis(shape, dtype, rng):
    from scratchnet.kernels import row_max, row_sum

    a = (rng.standard_normal(shape) * 10).astype(dtype)
    kept = a.copy()
    np.testing.assert_array_equal(row_max(a), a.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(row_sum(a), a.sum(axis=-1, keepdims=True),
                               rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-5)
    assert row_max(a).dtype == row_sum(a).dtype == dtype
    np.testing.assert_array_equal(a, kept)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 3), (6, 2), (3, 5, 2)])  # C = 2 has its own path
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_loss_gradient_equals_forward_then_backward(reduction, shape, smoothing, rng):
    loss = SoftmaxCrossEntropy(reduction, label_smoothing=smoothing)
    logits = rng.standard_normal(shape) * 3
    targets = one_hot(rng.integers(0, shape[-1], shape[:-1]), shape[-1])
    kept = logits.copy()
    fast = loss.gradient(logits, targets)
    np.testing.assert_array_equal(logits, kept)
    loss.forward(logits, targets)
    np.testing.assert_allclose(fast, loss.backward(), rtol=1e-12, atol=1e-15)


def test_loss_gradient_is_finite_for_extreme_logits():
    grad = SoftmaxCrossEntropy().gradient(np.array([[1e4, -1e4], [-1e4, 1e4]]),
                                          one_hot(np.array([1, 1]), 2))
    # two classes: a probability of exp(-2e4) comes out under 1e-306, not 0 (kernels.exp_capped)
    np.testing.assert_allclose(grad, [[0.5, -0.5], [0.0, 0.0]], atol=1e-306)
    grad = SoftmaxCrossEntropy().gradient(np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]]),
                                          one_hot(np.array([1, 1]), 3))
    np.testing.assert_allclose(grad, [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]])


def test_an_epoch_does_not_copy_the_data():
    """Batches are gathered from a shuffled index: nothing of the size of X is allocated."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 100))  # 16 MB
    y = rng.integers(0, 4, 20_000)
    Y = one_hot(y, 4)
    model = built_mlp(n_features=100)
    tracemalloc.start()
    try:
        train_epoch(model, X, Y, y, 64, np.random.default_rng(0))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < X.nbytes / 4


def _flat_dense(units, n_in, lead, rng):
    """A Dense layer bound as a model binds it: W and then b in one flat block per
    model, so that [W; b] is one matrix (the bias may be folded)."""
    layer = L.Dense(units)
    blocks = [rng.standard_normal(lead + (n_in + 1, units)), np.zeros(lead + (n_in + 1, units))]
    layer.bind(*({"W": blk[..., :-1, :], "b": blk[..., -1, :]} for blk in blocks))
    assert layer.Wb is not None
    return layer


@pytest.mark.parametrize("lead", [(), (3,)])
@pytest.mark.parametrize("batch, folded", [(64, False), (5, True)])
def test_dense_keeps_the_bias_apart_for_a_large_wide_input(lead, batch, folded, rng):
    """128 -> 3: a large input is not copied into [x, 1]; a small one is. Both paths,
    and a change between them, equal x @ W + b and its gradients."""
    from scratchnet import functional as F
    dense = _flat_dense(3, 128, lead, rng)
    dense.needs_input_grad = True
    for _ in range(2):  # the second step reuses the first one's buffers
        x, g = rng.standard_normal(lead + (batch, 128)), rng.standard_normal(lead + (batch, 3))
        W, b = dense.params["W"], dense.params["b"]
        np.testing.assert_allclose(dense.forward(x, train=True), F.affine(x, W, b), rtol=1e-12, atol=1e-12)
        assert (dense.x1 is not None) == folded
        grad_x, grad_W, grad_b = F.affine_backward(g, x, W)
        np.testing.assert_allclose(dense.backward(g), grad_x, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dense.grads["W"], grad_W, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dense.grads["b"], grad_b, rtol=1e-12, atol=1e-12)


def test_batch_sum_equals_the_sum_over_the_batch_axis(rng):
    for shape in [(10, 3), (4, 10, 2), (2, 3, 7, 5)]:
        g = rng.standard_normal(shape)
        out = np.empty(shape[:-2] + shape[-1:])
        np.testing.assert_allclose(kernels.batch_sum(g, out), g.sum(axis=-2)[..., None, :],
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(out, g.sum(axis=-2), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("lead", [(), (3,)], ids=["one model", "a group of 3"])
@pytest.mark.parametrize("kw", [{}, {"optimizer": "adam"}, {"dropout": 0.2}], ids=["sgd", "adam", "dropout"])
def test_rows_gathered_with_their_ones_column_change_no_bit(lead, kw, monkeypatch):
    """train_epoch gathers a small X's rows as [x, 1] for the first Dense layer
    (Sequential.input_with_ones): the same bits as the layer copying each batch into
    its own [x, 1]. A partial last batch (25 rows, batch 10) included."""
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((25, 3)), rng.integers(0, 4, 25)
    Y = one_hot(y, 4)
    order = np.stack([rng.permutation(25) for _ in range(3)]) if lead else None
    results = []
    for gathered in (True, False):
        model = built_mlp(**kw)
        if lead:  # the same model three times, stacked as a group
            from scratchnet.group import Shard, widths
            net = Shard([built_mlp(**kw) for _ in range(3)], widths(model)).net
        else:
            net = model
        if not gathered:
            monkeypatch.setattr(type(net), "input_with_ones", lambda self, X, max_bytes: None)
        seen = []
        original = L.Dense.forward_with_ones
        monkeypatch.setattr(L.Dense, "forward_with_ones",
                            lambda self, x1: seen.append(x1.shape) or original(self, x1))
        for _ in range(2):
            train_epoch(net, X, Y, y, 10, None if lead else np.random.default_rng(0), order=order)
        monkeypatch.undo()
        assert bool(seen) == gathered and all(s[-1] == 4 for s in seen)  # 3 features + ones
        results.append(net.params.copy())
    np.testing.assert_array_equal(results[0], results[1])

"""Each speed trick in ``scratchnet.kernels`` equals the reference it names in
``scratchnet.functional`` (float64 within 1e-12)."""
import numpy as np
import pytest

from scratchnet import functional as F
from scratchnet import kernels as K


def close(ours, reference):
    np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(7, 2), (7, 3), (3, 7, 10), (1, 1)])
def test_reductions_over_the_class_axis(shape, rng):
    a = rng.standard_normal(shape)
    np.testing.assert_array_equal(K.row_max(a), a.max(axis=-1, keepdims=True))
    close(K.row_sum(a), a.sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("n_classes", [2, 3, 10])
@pytest.mark.parametrize("lead", [(), (3,)])
def test_softmax_and_cross_entropy_kernels(n_classes, lead, rng):
    logits = rng.standard_normal(lead + (9, n_classes)) * 5
    Y = F.one_hot(rng.integers(0, n_classes, lead + (9,)), n_classes)
    close(K.softmax(logits), F.softmax(logits))
    close(K.softmax_cross_entropy_rows(logits, Y).sum(axis=-1), F.softmax_cross_entropy(logits, Y, "sum"))
    close(K.softmax_cross_entropy_rows(logits, F.smooth(Y, 0.1)).sum(axis=-1),
          F.softmax_cross_entropy(logits, Y, "sum", label_smoothing=0.1))
    close(K.log_sum_exp(logits), np.log(np.exp(logits).sum(axis=-1)))
    close(K.softmax_cross_entropy_grad(logits, Y), F.softmax_cross_entropy_backward(logits, Y, "sum"))


@pytest.mark.parametrize("lead", [(), (3,)])
def test_two_class_log_sum_exp_in_float32(lead, rng):
    """float32 takes max + log1p(exp(-|gap|)) in separate calls: within float32 rounding
    of the float64 logaddexp, extreme logits included, never overflowing."""
    logits = rng.standard_normal(lead + (50, 2)) * 30
    logits[..., 0, :] = (80.0, -80.0)
    logits[..., 1, :] = (-3e30, 3e30)
    ours = K.log_sum_exp(logits.astype(np.float32))
    assert ours.dtype == np.float32 and np.isfinite(ours).all()
    np.testing.assert_allclose(ours, np.logaddexp(logits[..., 0], logits[..., 1]), rtol=1e-6, atol=1e-6)


def test_softmax_of_extreme_logits_is_finite():
    probs = K.softmax(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]]))
    assert np.isfinite(probs).all()
    close(probs, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]])


@pytest.mark.parametrize("repeat", [1, 20])  # few rows (logaddexp) and many (the gap form)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_two_class_gradient_is_accurate_and_finite_for_extreme_logits(rng, repeat, dtype):
    logits = np.array([[30.0, -10.0], [0.5, 0.25], [1e4, -1e4], [-800.0, 0.0]])
    Y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    noise = rng.standard_normal((4 * repeat, 2))  # the plain rows between the extreme ones
    logits, Y = np.concatenate([np.tile(logits, (repeat, 1)), noise]), np.concatenate([np.tile(Y, (repeat, 1)), Y[noise[:, 0].argsort() % 4]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow, no 0 * inf
        grad = K.softmax_cross_entropy_grad(logits.astype(dtype), Y.astype(dtype))
    assert np.isfinite(grad).all()
    want = F.softmax_cross_entropy_backward(logits, Y, "sum")
    if dtype is np.float64:
        np.testing.assert_allclose(grad, want, rtol=1e-13, atol=1e-300)
        assert grad[0, 1] == pytest.approx(np.exp(-40), rel=1e-14)  # not 1 - (almost 1) = 0
    else:
        np.testing.assert_allclose(grad, want, rtol=2e-6, atol=1e-37)


def test_sigmoid_and_binary_cross_entropy(rng):
    z = np.concatenate([rng.standard_normal(50) * 10, [-800.0, 800.0, 0.0]])[:, None]
    y = rng.integers(0, 2, z.shape).astype(float)
    close(K.sigmoid(z), F.sigmoid(z))
    close(K.binary_cross_entropy_elements(z, y).sum(), F.binary_cross_entropy(z, y, "sum"))


@pytest.mark.parametrize("lead", [(), (3,)])
def test_stacked_bias_is_the_affine_map(lead, rng):
    """[x, 1] @ [W; b] equals x @ W + b, and [x, 1]^T g is [grad_W; grad_b]."""
    F_in, H, B = 4, 5, 6
    M = lead[0] if lead else 1
    flat = rng.standard_normal(M * (F_in + 1) * H)
    block = flat.reshape(lead + (F_in + 1, H))
    W, b = block[..., :F_in, :], block[..., F_in, :]
    Wb = K.stacked_bias(W, b)
    assert Wb is not None
    x, g = rng.standard_normal(lead + (B, F_in)), rng.standard_normal(lead + (B, H))
    x1 = np.concatenate([x, np.ones(lead + (B, 1))], axis=-1)
    close(x1 @ Wb, F.affine(x, W, b))
    _, grad_W, grad_b = F.affine_backward(g, x, W)
    grads = x1.swapaxes(-1, -2) @ g
    close(grads[..., :F_in, :], grad_W)
    close(grads[..., F_in, :], grad_b)


def test_stacked_bias_only_for_adjacent_views_of_one_array(rng):
    flat = rng.standard_normal(16)
    assert K.stacked_bias(flat[4:].reshape(3, 4), flat[:4]) is None  # b before W
    assert K.stacked_bias(rng.standard_normal((3, 4)), rng.standard_normal(4)) is None  # apart


@pytest.mark.parametrize("size", [10, 5000])  # the sign path and the comparison path
def test_relu_gate(size, rng):
    x = rng.standard_normal((size // 10, 10))
    out = np.maximum(x, 0)
    g = rng.standard_normal(x.shape)
    gate = K.relu_gate(out, g, np.empty_like(x), np.zeros_like(x))
    close(gate, F.relu_backward(g, x))


def test_keep_buffers_holds_a_few_shapes():
    scratch = {}
    for n in range(6):
        assert K.keep_buffers(scratch, (n,), n) == n
    assert len(scratch) <= 4 and scratch[(5,)] == 5

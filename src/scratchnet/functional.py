"""The reference math: every piece of the network as a pure function, written as
the tutorial and docs/math.md write it.

No buffers, no in-place updates, no tricks. This is what a learner reads, and what
every fast path in ``layers``, ``losses``, ``optimizers`` and ``kernels`` is tested
against (``tests/test_functional.py``: float64 within 1e-12).

Shapes: B is the batch, F the features, H a layer's width, C the classes. Every
function also takes a leading model axis (M, B, F) where the fast paths do.
Backward functions take ``grad_out`` = dL/d(output) and return dL/d(input) (and
the parameters' gradients), by the chain rule.
"""
from __future__ import annotations

import math

import numpy as np

GELU_C = math.sqrt(2 / math.pi)


# -- the affine layer (eq. 5-6, 15-16) -------------------------------------------------
def affine(x, W, b):
    """x: (B, F), W: (F, H), b: (H,) -> x @ W + b: (B, H)."""
    return x @ W + b[..., None, :]


def affine_backward(grad_out, x, W):
    """grad_out: (B, H) -> (grad_x (B, F), grad_W (F, H), grad_b (H,)).

    grad_W = x^T grad_out, grad_b = sum over the batch of grad_out,
    grad_x = grad_out W^T."""
    grad_W = x.swapaxes(-1, -2) @ grad_out
    grad_b = grad_out.sum(axis=-2)
    grad_x = grad_out @ W.swapaxes(-1, -2)
    return grad_x, grad_W, grad_b


# -- activations: f(x) and df/dx, element-wise ---------------------------------------
def relu(x):
    """max(0, x) (eq. 3)."""
    return np.maximum(x, 0)


def relu_backward(grad_out, x):
    """The gate is 1 where x > 0 (eq. 17, corrected: not x >= 1)."""
    return grad_out * (x > 0)


def leaky_relu(x, negative_slope=0.01):
    return np.where(x > 0, x, negative_slope * x)


def leaky_relu_backward(grad_out, x, negative_slope=0.01):
    return grad_out * np.where(x > 0, 1.0, negative_slope)


def sigmoid(x):
    """1 / (1 + exp(-x)), in the form that never overflows: for x < 0,
    exp(x) / (1 + exp(x))."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_backward(grad_out, x):
    s = sigmoid(x)
    return grad_out * s * (1 - s)


def tanh(x):
    return np.tanh(x)


def tanh_backward(grad_out, x):
    return grad_out * (1 - np.tanh(x) ** 2)


def gelu(x):
    """The tanh approximation: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)."""
    return 0.5 * x * (1 + np.tanh(GELU_C * (x + 0.044715 * x**3)))


def gelu_backward(grad_out, x):
    t = np.tanh(GELU_C * (x + 0.044715 * x**3))
    du_dx = GELU_C * (1 + 3 * 0.044715 * x**2)
    return grad_out * (0.5 * (1 + t) + 0.5 * x * (1 - t**2) * du_dx)


def identity(x):
    return x


def identity_backward(grad_out, x):
    return grad_out


ACTIVATIONS = {"relu": (relu, relu_backward), "leaky_relu": (leaky_relu, leaky_relu_backward),
               "sigmoid": (sigmoid, sigmoid_backward), "tanh": (tanh, tanh_backward),
               "gelu": (gelu, gelu_backward), "identity": (identity, identity_backward)}


# -- softmax and the losses (eq. 1-2, 9, 11-14) --------------------------------------
def softmax(logits):
    """(B, C) -> probs (B, C): exp(z) / sum exp(z), shifted by the row max (the same
    value, and exp never overflows)."""
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(logits):
    """(B, C) -> log probs (B, C) = z - log sum exp(z)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def one_hot(y, n_classes, dtype=np.float64):
    """Class indices (B,) -> (B, C) rows of 0 and one 1."""
    return (np.asarray(y)[..., None] == np.arange(n_classes)).astype(dtype)


def smooth(Y, label_smoothing):
    """Targets mixed with the uniform distribution: (1 - e) Y + e / C."""
    return Y * (1 - label_smoothing) + label_smoothing / Y.shape[-1]


def _reduce(per_row_sum, n, reduction):
    return per_row_sum / n if reduction == "mean" else per_row_sum


def softmax_cross_entropy(logits, Y, reduction="mean", label_smoothing=0.0):
    """L = -sum_rows sum_c Y log softmax(logits), divided by B for ``mean``.
    logits, Y: (B, C), Y one-hot (or any distribution per row)."""
    Y = smooth(Y, label_smoothing)
    total = -(Y * log_softmax(logits)).sum(axis=(-2, -1))
    return _reduce(total, logits.shape[-2], reduction)


def softmax_cross_entropy_backward(logits, Y, reduction="mean", label_smoothing=0.0):
    """dL/dlogits = (softmax(logits) - Y) / B for ``mean``; without the 1/B for
    ``sum`` (the tutorial's summed gradient)."""
    grad = softmax(logits) - smooth(Y, label_smoothing)
    return grad / logits.shape[-2] if reduction == "mean" else grad


def binary_cross_entropy(logits, Y, reduction="mean"):
    """Sigmoid then cross-entropy on each logit: -(y log p + (1 - y) log(1 - p)),
    written as max(z, 0) - z y + log(1 + exp(-|z|)) so that no log meets 0.
    logits, Y: (B, K); ``mean`` divides by B * K."""
    elementwise = np.maximum(logits, 0) - logits * Y + np.log1p(np.exp(-np.abs(logits)))
    total = elementwise.sum(axis=(-2, -1))
    return total / (Y.shape[-2] * Y.shape[-1]) if reduction == "mean" else total


def binary_cross_entropy_backward(logits, Y, reduction="mean"):
    """dL/dz = sigmoid(z) - y, divided by B * K for ``mean``."""
    grad = sigmoid(logits) - Y
    return grad / (Y.shape[-2] * Y.shape[-1]) if reduction == "mean" else grad


def mse(outputs, Y, reduction="mean"):
    """sum (outputs - Y)^2, divided by B * K for ``mean``."""
    total = ((outputs - Y) ** 2).sum(axis=(-2, -1))
    return total / (Y.shape[-2] * Y.shape[-1]) if reduction == "mean" else total


def mse_backward(outputs, Y, reduction="mean"):
    grad = 2 * (outputs - Y)
    return grad / (Y.shape[-2] * Y.shape[-1]) if reduction == "mean" else grad


# -- dropout and batch norm --------------------------------------------------------------
def dropout(x, keep, rate):
    """Inverted dropout with a given boolean ``keep`` mask: x * keep / (1 - rate)."""
    return x * keep / (1 - rate)


def dropout_backward(grad_out, keep, rate):
    return grad_out * keep / (1 - rate)


def batch_norm(x, gamma, beta, eps=1e-5):
    """Training form: normalise each feature over the batch with the biased batch
    variance, then scale and shift. x: (B, F), gamma, beta: (F,) -> (B, F)."""
    mean = x.mean(axis=-2, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-2, keepdims=True)
    return gamma[..., None, :] * (x - mean) / np.sqrt(var + eps) + beta[..., None, :]


def batch_norm_backward(grad_out, x, gamma, eps=1e-5):
    """-> (grad_x, grad_gamma, grad_beta). The batch statistics depend on x, so
    grad_x = (1/sqrt(var + eps)) (g - mean_B(g) - x_hat mean_B(g x_hat)), g = grad_out gamma."""
    mean = x.mean(axis=-2, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-2, keepdims=True)
    x_hat = (x - mean) / np.sqrt(var + eps)
    g = grad_out * gamma[..., None, :]
    grad_x = (g - g.mean(axis=-2, keepdims=True)
              - x_hat * (g * x_hat).mean(axis=-2, keepdims=True)) / np.sqrt(var + eps)
    return grad_x, (grad_out * x_hat).sum(axis=-2), grad_out.sum(axis=-2)


def batch_norm_eval(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """Inference form: the running statistics in place of the batch's."""
    return gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta


# -- optimizer updates: new parameters (and state) from the gradient -------------------
def l2_and_l1(theta, grad, weight_decay=0.0, l1=0.0):
    """The penalised gradient: grad + wd * theta + l1 * sign(theta)."""
    return grad + l1 * np.sign(theta) + weight_decay * theta


def clip_by_global_norm(grad, max_norm):
    """grad scaled by max_norm / (||grad|| + 1e-6) where that is below 1 (torch's rule)."""
    factor = max_norm / (np.sqrt((grad**2).sum()) + 1e-6)
    return grad * factor if factor < 1 else grad


def sgd(theta, grad, lr):
    """theta - lr grad (eq. 7)."""
    return theta - lr * grad


def momentum(theta, grad, velocity, lr, mu, nesterov=False):
    """v = mu v + grad; theta - lr v, or with Nesterov theta - lr (grad + mu v).
    -> (theta, v)."""
    velocity = mu * velocity + grad
    step = grad + mu * velocity if nesterov else velocity
    return theta - lr * step, velocity


def rmsprop(theta, grad, square_avg, lr, alpha=0.99, eps=1e-8):
    """s = alpha s + (1 - alpha) grad^2; theta - lr grad / (sqrt(s) + eps). -> (theta, s)."""
    square_avg = alpha * square_avg + (1 - alpha) * grad**2
    return theta - lr * grad / (np.sqrt(square_avg) + eps), square_avg


def adam(theta, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, decoupled_weight_decay=0.0):
    """Adam at step t (1, 2, ...): m = b1 m + (1 - b1) grad, v = b2 v + (1 - b2) grad^2,
    theta - lr m_hat / (sqrt(v_hat) + eps) with m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t).
    AdamW first shrinks theta by (1 - lr wd) (``decoupled_weight_decay``). -> (theta, m, v)."""
    theta = theta * (1 - lr * decoupled_weight_decay)
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps), m, v

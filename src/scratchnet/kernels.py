"""Every speed trick of the engine, in one place.

Each function here computes something ``scratchnet.functional`` writes plainly, only
faster on the shapes this library trains (a few classes, small batches, many steps),
and its docstring names that reference; ``tests/test_kernels.py`` holds each to it
(float64 within 1e-12). Layers and losses call these; a learner reads
``functional``.
"""
from __future__ import annotations

import numpy as np


# -- reductions over a short class axis -------------------------------------------------
def row_max(a: np.ndarray) -> np.ndarray:
    """= ``a.max(axis=-1, keepdims=True)``, (..., B, C) -> (..., B, 1). NumPy reduces a
    short last axis row by row (30 ns a row); over the batch axis of a transposed
    copy it runs vectorised, 5 to 25 times faster for up to a few dozen classes."""
    return np.maximum.reduce(a.swapaxes(-1, -2).copy(), axis=-2)[..., None]


def row_sum(a: np.ndarray) -> np.ndarray:
    """= ``a.sum(axis=-1, keepdims=True)``, (..., B, C) -> (..., B, 1): a product with
    ones, for the same reason as ``row_max``."""
    return np.matmul(a, ones((a.shape[-1], 1), a.dtype))


def batch_sum(g: np.ndarray, out: np.ndarray) -> np.ndarray:
    """= ``g.sum(axis=-2)`` into ``out``, (..., B, C) -> (..., C): the bias gradient
    of ``functional.affine_backward``. A product with a row of ones: NumPy reduces
    the middle axis of a model group's (M, B, C) four times slower."""
    return np.matmul(ones((1, g.shape[-2]), g.dtype), g, out=out[..., None, :])


def ones(shape: tuple, dtype) -> np.ndarray:
    """A read-only array of ones, made once per shape and dtype (an array's ``.dtype``):
    np.ones is a Python function, a microsecond of a small product."""
    key = (shape, dtype)
    array = _ONES.get(key)
    if array is None:
        array = _ONES[key] = np.ones(shape, dtype)
        array.flags.writeable = False
    return array


_ONES = {}  # (shape, dtype) -> ones


# -- softmax and cross-entropy -------------------------------------------------------------
def softmax(logits: np.ndarray) -> np.ndarray:
    """= ``functional.softmax``: (..., C) -> probs (..., C), shifted by the row max so
    exp never overflows; the exps normalised in place."""
    probs = logits - row_max(logits)
    np.exp(probs, out=probs)
    probs /= row_sum(probs)
    return probs


def log_sum_exp(logits: np.ndarray) -> np.ndarray:
    """log sum_c exp(z_c) per row, (..., B, C) -> (..., B): for two classes
    max(z) + log(1 + exp(-|z_0 - z_1|)), NumPy's ``logaddexp`` in float64 and the same
    formula in separate calls in float32 (NumPy's float32 logaddexp runs 2.4x slower
    than its vectorised exp and log1p, for the same accuracy); else shifted by the row
    max, so exp never overflows."""
    if logits.shape[-1] == 2:
        z0, z1 = logits[..., 0], logits[..., 1]
        if logits.dtype != np.float32:
            return np.logaddexp(z0, z1)
        gap = np.subtract(z0, z1)
        np.abs(gap, out=gap)
        np.negative(gap, out=gap)
        np.exp(gap, out=gap)
        np.log1p(gap, out=gap)
        return np.add(gap, np.maximum(z0, z1), out=gap)
    top = row_max(logits)
    exp = logits - top
    np.exp(exp, out=exp)
    return (np.log(row_sum(exp)) + top)[..., 0]


def softmax_cross_entropy_rows(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Each row's -sum_c y_c log softmax(z)_c = log-sum-exp(z) - sum_c y_c z_c, (..., B),
    for target rows that sum to 1 (one-hot or smoothed): ``functional.softmax_cross_entropy``
    before the sum over rows, without the probabilities (a loss value needs none)."""
    return log_sum_exp(logits) - row_sum(logits * targets)[..., 0]


# exp(cap) stays finite: the cap of exp_capped's argument, as 0-d arrays of the dtype (a
# Python float would cost a conversion per call)
_EXP_CAP = {np.dtype(np.float64): np.array(705.0), np.dtype(np.float32): np.array(87.0, np.float32)}
# z @ _GAPS = (z_1 - z_0, z_0 - z_1): each of two logits' gap to the other
_GAPS = {dtype: np.array([[-1, 1], [1, -1]], dtype) for dtype in _EXP_CAP}


def softmax_cross_entropy_grad(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """= ``functional.softmax_cross_entropy_backward(..., reduction="sum")``:
    softmax(z) - y, (..., B, C), without computing the loss."""
    if logits.shape[-1] != 2 or logits.dtype not in _GAPS:
        grad = softmax(logits)
    else:
        # two classes: softmax(z)_c = 1 / (1 + exp(z_other - z_c)), every row's gaps
        # z_other - z_c from one product with [[-1, 1], [1, -1]] (exact differences: each
        # a product by -1 and by 1, summed once), then sigmoid_of_negated. No log, and no
        # operation along the class axis of two (NumPy iterates it row by row, slower still
        # with a broadcast or reversed operand). Accurate in every entry, tiny ones included.
        gaps = _GAPS[logits.dtype]
        if logits.ndim == 2:
            gaps = logits.dot(gaps)
        else:  # a model group's rows as one product
            gaps = logits.reshape(-1, 2).dot(gaps).reshape(logits.shape)
        grad = sigmoid_of_negated(gaps)
    grad -= targets
    return grad


# -- the logistic function and binary cross-entropy --------------------------------------
# 1 as a 0-d array of each float dtype: a Python number operand costs a conversion per call
# (a third of a small array's ufunc call), an array of the operand's dtype none
ONE = {dtype: np.ones((), dtype) for dtype in _EXP_CAP}


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """= ``functional.sigmoid`` (within rounding): 1 / (1 + exp(-x)), into ``out`` if given
    (it may be x). Five calls on one array, no branch per element (the reference's form
    takes two temporaries and a masked copy): ``sigmoid_of_negated(-x)``."""
    return sigmoid_of_negated(np.negative(x, out=out))


def sigmoid_of_negated(w: np.ndarray) -> np.ndarray:
    """sigmoid(-w) = 1 / (1 + exp(w)), in place in ``w``; accurate to rounding down to
    1e-306 (float64) or 1e-38 (float32), below which ``exp_capped`` gives that floor."""
    exp_capped(w)
    np.add(w, ONE.get(w.dtype, 1), out=w)
    return np.reciprocal(w, out=w)


def exp_capped(w: np.ndarray) -> np.ndarray:
    """exp(w) in place in ``w``, w capped short of exp's overflow (705 in float64, 87 in
    float32): exp(w) stays finite, so 1 / (1 + exp(w)) is a tiny number there (under
    1e-306 or 1e-38) instead of an overflow."""
    cap = _EXP_CAP.get(w.dtype)
    if cap is not None:
        np.minimum(w, cap, out=w)
    return np.exp(w, out=w)


def binary_cross_entropy_elements(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """= the terms of ``functional.binary_cross_entropy``: max(z, 0) - z y + log(1 + exp(-|z|))."""
    out = np.abs(z)
    np.negative(out, out=out)
    np.exp(out, out=out)
    np.log1p(out, out=out)
    out += np.maximum(z, 0)
    out -= z * y
    return out


# -- the affine layer: the bias inside the matrix product --------------------------------
def stacked_bias(W: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """The (..., F_in + 1, units) view [W; b] when each model's b (units,) directly
    follows its W (F_in, units) in memory (one model's flat parameter array, or a
    model group's (M, F_in + 1, units) blocks), else None. Then
    [x, 1] @ [W; b] = ``functional.affine(x, W, b)``, and [x, 1]^T g is
    [grad_W; grad_b] of ``functional.affine_backward``: one product, not three calls."""
    if W.ndim < 2 or b.shape != W.shape[:-2] + W.shape[-1:] or W.dtype != b.dtype:
        return None
    if W.base is None or b.base is not W.base:
        return None  # not two views of one flat array
    item, (rows, units) = W.itemsize, W.shape[-2:]
    if (W.strides[-2:] != (units * item, item) or b.strides[-1] != item
            or b.strides[:-1] != W.strides[:-2]
            or b.ctypes.data != W.ctypes.data + rows * units * item):
        return None
    return np.lib.stride_tricks.as_strided(W, W.shape[:-2] + (rows + 1, units), W.strides)


# -- reused buffers --------------------------------------------------------------------
def keep_buffers(scratch: dict, shape: tuple, new):
    """Keep ``new`` as the training-step arrays for inputs of ``shape``; a few shapes
    at most (a full and a last batch, typically). What a training step returns is
    only valid until the next step of that shape; inference never uses them."""
    if len(scratch) >= 4:
        scratch.clear()
    scratch[shape] = new
    return new


def relu_gate(out: np.ndarray, grad_out: np.ndarray, gate: np.ndarray, zeros) -> np.ndarray:
    """= ``functional.relu_backward(grad_out, x)`` from the ReLU's output
    out = max(x, 0) (x > 0 exactly where out > 0), written into ``gate``. The gate
    is sign(out), the lower fixed cost, on small arrays, and out > zeros, the lower
    cost per element, on large ones."""
    if zeros is None or out.size < 2048:
        gate = np.sign(out, out=gate)
    else:
        np.greater(out, zeros, out=gate)
    return np.multiply(grad_out, gate, out=gate)


def product_for(ndim: int):
    """``np.matmul`` as ``f(a, b, out=out)`` for operands of ``ndim`` dimensions: for 2-D
    ones (one model) ``ndarray.dot``, which skips matmul's ufunc dispatch (a microsecond
    of a small product), for a model group's (M, ...) stacks ``np.matmul``. The same
    bits. A layer chooses once, not per product: a Python call around each product
    would cost about what the choice saves."""
    return np.ndarray.dot if ndim == 2 else np.matmul


def leaky_gate(x: np.ndarray, slope: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """= ``np.where(x > 0, 1, slope)``, the factor of ``functional.leaky_relu_backward``
    (and x times it is ``functional.leaky_relu``), for 0 <= slope <= 1: max(sign(x), slope),
    into ``out``. Two cheap calls; a comparison and a three-argument where cost three times
    as much on small arrays."""
    gate = np.sign(x, out=out)
    return np.maximum(gate, slope, out=gate)


def buffers_like(scratch: dict, x: np.ndarray, count: int, constants: tuple = ()) -> tuple:
    """``count`` arrays shaped and typed like ``x``, then ``constants`` as 0-d arrays of
    its dtype (``typed``): a layer's training-step arrays for inputs like ``x``, made
    once per batch shape (see ``keep_buffers``)."""
    bufs = scratch.get(x.shape)
    if bufs is None or bufs[0].dtype != x.dtype:
        arrays = tuple(np.empty(x.shape, x.dtype) for _ in range(count))
        bufs = keep_buffers(scratch, x.shape, arrays + typed(constants, x.dtype))
    return bufs


def typed(values: tuple, dtype) -> tuple:
    """Python numbers as 0-d arrays of ``dtype``, the operand NumPy takes fastest (see ``ONE``)."""
    return tuple(np.array(v, dtype) for v in values)

"""Convolution for sequences: ``Conv1d``, ``MaxPool1d``, ``GlobalAvgPool1d``, ``Flatten``.

Activations here are ``(..., B, C, L)``: batch, channels, length, with the model
axis ``M`` in front in a model group (parameters then carry a leading ``(M,)``).
One sample's shape is ``(C, L)``.

The convolution is a matrix product. ``im2col`` lays every window of the (padded)
input out as a row: ``cols[b, t, (c, k)] = x_pad[b, c, t * stride + k]``, so

    out[b, o, t] = sum_{c, k} W[o, c, k] x_pad[b, c, t * stride + k] + b[o]
                 = (cols @ W_flat^T)[b, t, o] + b[o]            W_flat: (C_out, C_in * K)

and the backward pass is two more products and a scatter-add (``col2im``); see the
Conv1d section of docs/math.md for the derivation. As in PyTorch (and every deep
learning library), "convolution" is cross-correlation: the kernel is not flipped.

The pure functions (``conv1d``, ``conv1d_backward``, ``max_pool1d``, ...) are the
reference math; the layers hold parameters and caches and call them.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import init as initializers
from .layers import LAYERS, Layer
from .validation import check_number


def output_length(length: int, kernel_size: int, stride: int, padding: int = 0) -> int:
    """L_out = floor((L + 2 padding - K) / stride) + 1, as PyTorch's Conv1d/MaxPool1d."""
    return (length + 2 * padding - kernel_size) // stride + 1


# -- the reference math -------------------------------------------------------------
def im2col(x: np.ndarray, kernel_size: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """x (..., B, C, L) -> cols (..., B * L_out, C * K), one row per output position:
    cols[b * L_out + t, c * K + k] = x_pad[b, c, t * stride + k]."""
    if padding:
        x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(padding, padding)])
    windows = sliding_window_view(x, kernel_size, axis=-1)[..., ::stride, :]  # (..., B, C, L_out, K), a view
    *lead, B, C, L_out, K = windows.shape
    return windows.swapaxes(-3, -2).reshape(*lead, B * L_out, C * K)  # the one copy


def col2im(grad_cols: np.ndarray, x_shape: tuple, kernel_size: int, stride: int = 1,
           padding: int = 0) -> np.ndarray:
    """The adjoint of ``im2col``: grad_cols (..., B * L_out, C * K) -> grad_x (..., B, C, L).
    Each input element sums the gradients of every window position it was copied to."""
    *lead, B, C, L = x_shape
    K = kernel_size
    L_out = grad_cols.shape[-2] // B
    g = grad_cols.reshape(*lead, B, L_out, C, K)
    grad_pad = np.zeros((*lead, B, C, L + 2 * padding), grad_cols.dtype)
    span = stride * (L_out - 1) + 1
    for k in range(K):  # tap k of every window reads x_pad[..., k::stride]: a strided add
        grad_pad[..., k:k + span:stride] += g[..., k].swapaxes(-1, -2)
    return grad_pad[..., padding:padding + L] if padding else grad_pad


def conv1d(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int = 1,
           padding: int = 0) -> np.ndarray:
    """x (..., B, C_in, L), W (..., C_out, C_in, K), b (..., C_out) -> (..., B, C_out, L_out)."""
    return _conv_forward(im2col(x, W.shape[-1], stride, padding), W, b, x.shape[-3])


def _conv_forward(cols, W, b, B):
    *lead, C_out, C_in, K = W.shape
    W_flat = W.reshape(*lead, C_out, C_in * K)
    out = np.matmul(cols, W_flat.swapaxes(-1, -2))  # (..., B * L_out, C_out)
    out += b[..., None, :]
    out = out.reshape(*lead, B, -1, C_out).swapaxes(-1, -2)  # (..., B, C_out, L_out)
    return np.ascontiguousarray(out)


def conv1d_backward(grad_out: np.ndarray, x: np.ndarray, W: np.ndarray, stride: int = 1,
                    padding: int = 0):
    """Gradients of ``conv1d`` from grad_out (..., B, C_out, L_out):
    returns (grad_x (..., B, C_in, L), grad_W like W, grad_b (..., C_out))."""
    cols = im2col(x, W.shape[-1], stride, padding)
    grad_W, grad_b = np.empty_like(W), np.empty(W.shape[:-2], W.dtype)
    grad_x = _conv_backward(grad_out, cols, W, grad_W, grad_b, x.shape, stride, padding)
    return grad_x, grad_W, grad_b


def _conv_backward(grad_out, cols, W, grad_W, grad_b, x_shape, stride, padding):
    """Fill grad_W and grad_b in place; return grad_x (None when x_shape is None)."""
    *lead, C_out, C_in, K = W.shape
    # g[b * L_out + t, o] = grad_out[b, o, t]
    g = grad_out.swapaxes(-1, -2).reshape(*lead, -1, C_out)
    # grad_W[o, (c, k)] = sum_{b, t} g[(b, t), o] cols[(b, t), (c, k)] = (g^T cols)[o, (c, k)]
    grad_W[...] = np.matmul(g.swapaxes(-1, -2), cols).reshape(grad_W.shape)
    np.sum(grad_out, axis=(-3, -1), out=grad_b)  # over batch and positions
    if x_shape is None:
        return None
    grad_cols = np.matmul(g, W.reshape(*lead, C_out, C_in * K))  # (..., B * L_out, C_in * K)
    return col2im(grad_cols, x_shape, K, stride, padding)


def max_pool1d(x: np.ndarray, kernel_size: int, stride: int):
    """x (..., C, L) -> (out (..., C, L_out), argmax (..., C, L_out)): the largest
    element of each window and its position in the window (the first one on ties)."""
    windows = sliding_window_view(x, kernel_size, axis=-1)[..., ::stride, :]
    argmax = windows.argmax(axis=-1)
    return np.take_along_axis(windows, argmax[..., None], axis=-1)[..., 0], argmax


def max_pool1d_backward(grad_out, argmax, x_shape, kernel_size, stride):
    """Route each window's gradient to the element that was its maximum."""
    grad_x = np.zeros(x_shape, grad_out.dtype)
    span = stride * (grad_out.shape[-1] - 1) + 1
    for k in range(kernel_size):  # windows whose maximum is their k-th element
        grad_x[..., k:k + span:stride] += np.where(argmax == k, grad_out, 0)
    return grad_x


# -- layers -------------------------------------------------------------------------
def channels_length(layer, in_shape) -> tuple[int, int]:
    """One sample's (C, L) or a ValueError naming the layer."""
    shape = (in_shape,) if isinstance(in_shape, (int, np.integer)) else tuple(in_shape)
    if len(shape) != 2:
        raise ValueError(f"{type(layer).__name__} takes samples of shape (channels, length), "
                         f"got {shape}: pass X as (N, length) or (N, channels, length)")
    return int(shape[0]), int(shape[1])


def _positive_int(name, value, minimum=1):
    return check_number(name, value, integer=True, low=minimum, say_kind=True)


class Conv1d(Layer):
    """1-D convolution with ``channels`` output channels, as ``torch.nn.Conv1d``
    (the input channels are inferred when the model is built).

    W: (channels, C_in, kernel_size), b: (channels,), each with a leading (M,) in a
    model group. x (..., B, C_in, L) -> (..., B, channels, L_out),
    L_out = (L + 2 padding - kernel_size) // stride + 1. Zero padding on both ends.
    Init: ``init`` ("he" by default) with fan_in = C_in * kernel_size, fan_out = channels.
    """

    sample_ndim = 2

    def __init__(self, channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 init: str = "he"):
        super().__init__()
        self.channels = _positive_int("Conv1d channels", channels)
        self.kernel_size = _positive_int("Conv1d kernel_size", kernel_size)
        self.stride = _positive_int("Conv1d stride", stride)
        self.padding = _positive_int("Conv1d padding", padding, minimum=0)
        self.init = initializers.check_name(init)
        self.needs_input_grad = True  # the model turns this off for its first layer

    def param_shapes(self, in_shape):
        C_in, _ = channels_length(self, in_shape)
        return {"W": (self.channels, C_in, self.kernel_size), "b": (self.channels,)}

    def output_shape(self, in_shape):
        _, L = channels_length(self, in_shape)
        L_out = output_length(L, self.kernel_size, self.stride, self.padding)
        if L_out < 1:
            raise ValueError(f"Conv1d(kernel_size={self.kernel_size}, padding={self.padding}) "
                             f"does not fit a sequence of length {L}")
        return (self.channels, L_out)

    def init_params(self, params, rng):
        W = params["W"]
        # as a (fan_in, fan_out) = (C_in * K, C_out) matrix: a view, filled in place
        W_fan = W.reshape(*W.shape[:-3], W.shape[-3], -1).swapaxes(-1, -2)
        initializers.initialize(self.init, W_fan, params["b"], rng)

    def forward(self, x, train=False):
        self.x_shape = x.shape
        self.cols = im2col(x, self.kernel_size, self.stride, self.padding)
        return _conv_forward(self.cols, self.params["W"], self.params["b"], x.shape[-3])

    def infer(self, x, inplace=False):  # forward without keeping cols for a backward pass
        return conv1d(x, self.params["W"], self.params["b"], self.stride, self.padding)

    def backward(self, grad_out):
        return _conv_backward(grad_out, self.cols, self.params["W"], self.grads["W"],
                              self.grads["b"], self.x_shape if self.needs_input_grad else None,
                              self.stride, self.padding)

    def config(self):
        return {"type": "Conv1d", "channels": self.channels, "kernel_size": self.kernel_size,
                "stride": self.stride, "padding": self.padding, "init": self.init}


class MaxPool1d(Layer):
    """The maximum of each window of ``kernel_size`` steps, every ``stride`` steps
    (default: ``kernel_size``), as ``torch.nn.MaxPool1d``: (..., C, L) -> (..., C, L_out)."""

    sample_ndim = 2

    def __init__(self, kernel_size: int, stride: int | None = None):
        super().__init__()
        self.kernel_size = _positive_int("MaxPool1d kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else _positive_int("MaxPool1d stride", stride)

    def output_shape(self, in_shape):
        C, L = channels_length(self, in_shape)
        if L < self.kernel_size:
            raise ValueError(f"MaxPool1d(kernel_size={self.kernel_size}) does not fit a "
                             f"sequence of length {L}")
        return (C, output_length(L, self.kernel_size, self.stride))

    def forward(self, x, train=False):
        self.x_shape = x.shape
        out, self.argmax = max_pool1d(x, self.kernel_size, self.stride)
        return out

    def infer(self, x, inplace=False):
        return max_pool1d(x, self.kernel_size, self.stride)[0]

    def backward(self, grad_out):
        return max_pool1d_backward(grad_out, self.argmax, self.x_shape, self.kernel_size, self.stride)

    def config(self):
        return {"type": "MaxPool1d", "kernel_size": self.kernel_size, "stride": self.stride}


class GlobalAvgPool1d(Layer):
    """The mean over the length axis (``torch.nn.AdaptiveAvgPool1d(1)`` then flatten):
    (..., B, C, L) -> (..., B, C)."""

    sample_ndim = 2

    def output_shape(self, in_shape):
        C, _ = channels_length(self, in_shape)
        return (C,)

    def forward(self, x, train=False):
        self.x_shape = x.shape
        return x.mean(axis=-1)

    def backward(self, grad_out):
        # every position contributed 1/L of the mean
        L = self.x_shape[-1]
        return np.repeat(grad_out[..., None] / L, L, axis=-1)


class Flatten(Layer):
    """(..., B, C, L) -> (..., B, C * L), channel-major (``out[c * L + t] = x[c, t]``)
    as ``torch.nn.Flatten`` orders it."""

    sample_ndim = 2

    def output_shape(self, in_shape):
        C, L = channels_length(self, in_shape)
        return (C * L,)

    def forward(self, x, train=False):
        self.x_shape = x.shape
        return x.reshape(*x.shape[:-2], -1)

    def infer(self, x, inplace=False):
        # a view of x only where later layers may overwrite x: never the caller's array
        out = x.reshape(*x.shape[:-2], -1)
        return out if inplace else out.copy()

    def backward(self, grad_out):
        return grad_out.reshape(self.x_shape)


# model files and Sequential.from_config find layers by class name
LAYERS.update({cls.__name__: cls for cls in (Conv1d, MaxPool1d, GlobalAvgPool1d, Flatten)})

"""Layers: each maps ``x`` of shape ``(..., B, F_in)`` to ``(..., B, F_out)``.

The optional leading axis is the *model* axis: ``M`` independent networks whose
parameters are stacked (``W`` of shape ``(M, F_in, F_out)``). The same code
serves one model (``W`` of shape ``(F_in, F_out)``) because it is written with
``np.matmul``, ``swapaxes(-1, -2)`` and reductions over ``axis=-2``.

A layer's parameters are views into its model's one flat parameter array; the
model binds them (``bind``) after allocating. ``forward`` keeps what ``backward``
needs, so a training step runs the forward pass once.
"""
from __future__ import annotations

import numpy as np

from . import init as initializers
from .kernels import (ONE, batch_sum, buffers_like, exp_capped, keep_buffers, leaky_gate, product_for,
                      relu_gate, sigmoid, softmax, stacked_bias, typed)
from .validation import check_number, check_positive


class Layer:
    """Base class. Parameter-free layers only override ``forward``/``backward``."""

    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]

    def __init__(self):
        self.params, self.grads = {}, {}

    sample_ndim: int | None = None  # 1: takes (F,) samples, 2: (C, L), None: any

    def param_shapes(self, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """Shapes of this layer's parameters for one model, given one input sample's
        shape: ``(F,)`` or ``(C, L)`` (an integer F is read as ``(F,)``)."""
        return {}

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """One output sample's shape for one input sample's shape. A layer on flat
        samples may define ``output_dim(F)`` instead."""
        shape = as_shape(in_shape)
        return (self.output_dim(shape[0]),) if len(shape) == 1 else shape

    def output_dim(self, n_in: int) -> int:
        return n_in

    def init_params(self, params: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        """Fill freshly bound parameters (one model's views) in place."""

    def bind(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        self.params, self.grads = params, grads

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def infer(self, x: np.ndarray, inplace: bool = False) -> np.ndarray:
        """The same as ``forward(x, train=False)``, but keeping nothing for a backward
        pass (inference holds no activations). With ``inplace`` the layer may write
        its output into ``x``. Layers override it; this fallback caches like forward."""
        return self.forward(x, train=False)

    def config(self) -> dict:
        """JSON-able description, enough to rebuild the layer (see ``from_config``)."""
        return {"type": type(self).__name__}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "type")
        return f"{type(self).__name__}({args})"


class Dense(Layer):
    """Affine layer ``out = x @ W + b`` (tutorial eq. 5-6).

    W: (F_in, units), b: (units,), each with a leading (M,) in a model group.
    """

    def __init__(self, units: int, init: str = "he"):
        super().__init__()
        self.units = check_positive("Dense units", units, int, type_error=False)
        self.init = initializers.check_name(init)
        self.needs_input_grad = True  # the model turns this off for its first layer
        self.Wb = self.grad_Wb = self.WT = None
        self._scratch = {}  # training-step arrays by input shape (not state: never saved)

    sample_ndim = 1

    def param_shapes(self, in_shape):
        return {"W": (features(self, in_shape), self.units), "b": (self.units,)}

    def output_dim(self, n_in):
        return self.units

    def init_params(self, params, rng):
        initializers.initialize(self.init, params["W"], params["b"], rng)

    def bind(self, params, grads):
        super().bind(params, grads)
        # One model whose b directly follows W in the flat array: [W; b] is one
        # (F_in + 1, units) matrix, and x @ W + b = [x, 1] @ [W; b]. The bias then
        # rides along in the matrix product, and so does its gradient:
        # [x, 1]^T g = [grad_W; grad_b]. Training steps use this (two NumPy calls fewer).
        self.Wb = stacked_bias(params["W"], params["b"])
        self.grad_Wb = stacked_bias(grads["W"], grads["b"])
        self.WT = None if self.Wb is None else params["W"].swapaxes(-1, -2)
        self.product = None if self.Wb is None else product_for(self.Wb.ndim)
        self._scratch = {}

    def forward(self, x, train=False):
        self.x = x
        bufs = self._scratch.get(x.shape) if train else None
        if bufs is None or x.dtype != bufs[3].dtype:
            bufs = self._buffers(x) if train else None
            if bufs is None:  # the general path: inference, another dtype
                self.x1 = self.grad_in = None
                return self.infer(x)
        # the output and the input gradient (and [x, 1]) live in buffers reused by
        # every step of this batch shape
        self.x1, self.x1T, x_part, out, self.grad_in = bufs
        if self.x1 is None:  # a wide input: the bias added to the narrow output
            np.matmul(x, self.params["W"], out=out)
            out += self.params["b"][..., None, :]
            return out
        x_part[...] = x
        return self.product(self.x1, self.Wb, out=out)  # a model group: (M, B, F + 1) @ (M, F + 1, H)

    FOLD_COPY_MAX = 4096  # inputs this small are copied into [x, 1] for free (a call costs more)

    def forward_with_ones(self, x1):
        """The training forward of x1 = [x, 1] (..., B, F_in + 1), its last column ones,
        as given: [x, 1] @ [W; b], the same as ``forward(x, train=True)`` without copying x
        into a buffer (``train_epoch`` gathers the batch's rows with their ones column:
        ``Sequential.input_with_ones``). x1 must stay unchanged until ``backward``. Only
        a first layer takes it, which needs no input gradient: no buffer for one."""
        bufs = self._scratch.get(x1.shape)
        if bufs is None or x1.dtype != bufs[3].dtype:
            out = np.empty(x1.shape[:-1] + (self.units,), x1.dtype)
            bufs = keep_buffers(self._scratch, x1.shape, (None, None, None, out, None))
        self.x1, self.x1T, self.grad_in = x1, x1.swapaxes(-1, -2), None
        return self.product(x1, self.Wb, out=bufs[3])

    def _buffers(self, x):
        """Training-step arrays for inputs like ``x``: (x1, x1T, x1's x part, out,
        grad_in), the first three None where the bias is not folded; or None where
        no buffer applies. [x, 1] costs a copy of x each step, the bias apart a pass
        over the output and one over its gradient: the bias is folded unless x is
        both large and over twice as wide as the output (e.g. a 512 -> 10 layer, or
        a model group's 64 -> 2)."""
        if self.Wb is None or x.ndim != self.Wb.ndim or x.dtype != self.Wb.dtype:
            return None
        out = np.empty(x.shape[:-1] + (self.units,), x.dtype)
        if x.shape[-1] > 2 * self.units and x.size > self.FOLD_COPY_MAX:
            return keep_buffers(self._scratch, x.shape, (None, None, None, out, np.empty_like(x)))
        x1 = np.ones(x.shape[:-1] + (x.shape[-1] + 1,), x.dtype)
        return keep_buffers(self._scratch, x.shape,
                     (x1, x1.swapaxes(-1, -2), x1[..., :-1], out, np.empty_like(x)))

    def infer(self, x, inplace=False):
        out = np.matmul(x, self.params["W"])  # the same as forward: x @ W + b
        out += self.params["b"][..., None, :]
        return out

    def backward(self, grad_out):
        # grad_W = x^T g and grad_b = sum_rows g  (eq. 15-16, per model)
        if self.x1 is None:  # the bias apart
            np.matmul(self.x.swapaxes(-1, -2), grad_out, out=self.grads["W"])
            batch_sum(grad_out, self.grads["b"])
            if not self.needs_input_grad:
                return None
            return np.matmul(grad_out, self.params["W"].swapaxes(-1, -2), out=self.grad_in)
        self.product(self.x1T, grad_out, out=self.grad_Wb)  # [x, 1]^T g = [grad_W; grad_b]
        if not self.needs_input_grad:
            return None
        return self.product(grad_out, self.WT, out=self.grad_in)

    def config(self):
        return {"type": "Dense", "units": self.units, "init": self.init}


class ReLU(Layer):
    """max(0, x) (eq. 3-4). Does not modify its input; gradient gate is x > 0."""

    def __init__(self):
        super().__init__()
        self._scratch = {}  # training-step outputs by input shape (not state: never saved)

    def forward(self, x, train=False):
        if not train:
            self.out, self.zeros, self.grad_in = np.maximum(x, 0), None, None
            return self.out
        # into a buffer reused by every step of this batch shape; max against zeros
        # of the same shape costs half of max against the scalar 0 on small batches
        bufs = self._scratch.get(x.shape)
        if bufs is None or bufs[0].dtype != x.dtype:
            bufs = keep_buffers(self._scratch, x.shape, (np.empty_like(x), np.zeros_like(x), np.empty_like(x)))
        self.out, self.zeros, self.grad_in = bufs
        return np.maximum(x, self.zeros, out=self.out)

    def infer(self, x, inplace=False):
        return np.maximum(x, 0, out=x if inplace else None)

    def backward(self, grad_out):
        # eq. 17 corrected: the gate is 1 where x > 0, not where x >= 1.
        # out = max(x, 0) >= 0, so sign(out) is that gate, in the float dtype.
        # sign has the lower fixed cost, out > 0 the lower cost per element.
        return relu_gate(self.out, grad_out, self.grad_in, self.zeros)


class Softmax(Layer):
    """Row-wise softmax (eq. 1-2), shifted by the row max so exp never overflows.

    Use it for probabilities at inference; for training, ``SoftmaxCrossEntropy``
    fuses softmax with the loss and is both faster and more stable.
    """

    def forward(self, x, train=False):
        self.out = softmax(x)
        return self.out

    def infer(self, x, inplace=False):
        return softmax(x)

    def backward(self, grad_out):
        # Jacobian-vector product of eq. 11-12: s * (g - <g, s>)
        s = self.out
        return s * (grad_out - np.sum(grad_out * s, axis=-1, keepdims=True))


def as_shape(in_shape) -> tuple[int, ...]:
    """One sample's shape as a tuple: an integer width F is ``(F,)``."""
    if isinstance(in_shape, (int, np.integer)) and not isinstance(in_shape, bool):
        return (int(in_shape),)
    return tuple(int(n) for n in in_shape)


def features(layer, in_shape) -> int:
    """The width F of flat samples ``(F,)``, or a ValueError naming the layer."""
    shape = as_shape(in_shape)
    if len(shape) != 1:
        raise ValueError(f"{type(layer).__name__} takes flat samples (features,), got {shape}: "
                         f"put Flatten() or GlobalAvgPool1d() before it")
    return shape[0]





class LeakyReLU(Layer):
    """x where x > 0, else ``negative_slope * x``."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)
        self._scratch = {}  # training-step arrays by input shape (not state: never saved)

    def _gate(self, x, slope, out=None):
        """The gradient's factor, 1 where x > 0, else ``slope`` (0-d, x's dtype), in x's
        dtype (a float64 mask cast to float32 costs two passes)."""
        if 0 <= self.negative_slope <= 1:
            return leaky_gate(x, slope, out)
        return np.where(x > 0, x.dtype.type(1), slope)

    def forward(self, x, train=False):
        if train:
            gate, out, self.grad_in, slope = buffers_like(self._scratch, x, 3, (self.negative_slope,))
        else:
            gate = out = self.grad_in = None
            (slope,) = typed((self.negative_slope,), x.dtype)
        self.slope = self._gate(x, slope, gate)
        return np.multiply(x, self.slope, out=out)

    def infer(self, x, inplace=False):
        gate = self._gate(x, *typed((self.negative_slope,), x.dtype))
        return np.multiply(x, gate, out=gate)

    def backward(self, grad_out):
        return np.multiply(grad_out, self.slope, out=self.grad_in)

    def config(self):
        return {"type": "LeakyReLU", "negative_slope": self.negative_slope}


class Sigmoid(Layer):
    """1 / (1 + exp(-x)); backward uses s * (1 - s)."""

    def __init__(self):
        super().__init__()
        self._scratch = {}  # training-step arrays by input shape (not state: never saved)

    def forward(self, x, train=False):
        out, self.grad_in, self.work = buffers_like(self._scratch, x, 3) if train else (None,) * 3
        self.out = sigmoid(x, out=out)
        return self.out

    def infer(self, x, inplace=False):
        return sigmoid(x, out=x if inplace else None)

    def backward(self, grad_out):
        s = self.out
        grad = np.multiply(grad_out, s, out=self.grad_in)
        grad *= np.subtract(ONE.get(s.dtype, 1), s, out=self.work)
        return grad


class Tanh(Layer):
    """tanh(x); backward uses 1 - tanh(x)^2."""

    def __init__(self):
        super().__init__()
        self._scratch = {}  # training-step arrays by input shape (not state: never saved)

    def forward(self, x, train=False):
        out, self.grad_in = buffers_like(self._scratch, x, 2) if train else (None, None)
        self.out = np.tanh(x, out=out)
        return self.out

    def infer(self, x, inplace=False):
        return np.tanh(x, out=x if inplace else None)

    def backward(self, grad_out):
        grad = np.multiply(self.out, self.out, out=self.grad_in)
        np.subtract(ONE.get(grad.dtype, 1), grad, out=grad)
        grad *= grad_out
        return grad


class GELU(Layer):
    """The tanh approximation of GELU (torch's ``GELU(approximate="tanh")``):
    0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3).

    Computed as x / E with E = 1 + exp(-2u): (1 + tanh(u)) / 2 = sigmoid(2u) = 1 / E.
    NumPy's exp costs a third to a half of its tanh (640 float64 numbers: 4-5 against
    10-14 us), and the division gives x h in one call."""

    C = float(np.sqrt(2 / np.pi))
    A, B = C, C * 0.044715  # u = x (A + B x^2)
    K = (-2 * A, -2 * B, 2 * A, 6 * B)  # -2u = x (-2A - 2B x^2), 2 du/dx = 2A + 6B x^2

    def __init__(self, approximate: str = "tanh"):
        super().__init__()
        if approximate != "tanh":
            raise ValueError(f"GELU supports approximate='tanh' only, got {approximate!r}")
        self._scratch = {}  # training-step arrays by input shape (not state: never saved)

    @staticmethod
    def _exp(x, x2, k, out):
        """e = exp(-2u) into ``out``, from x and x^2; ``k`` = K in x's dtype."""
        w = np.multiply(x2, k[1], out=out)
        w += k[0]
        w *= x  # -2u
        return exp_capped(w)

    def forward(self, x, train=False):
        # kept for the backward: x^2, e = exp(-2u), E = 1 + e and the output x / E
        if train:
            x2, e, E, out, self.grad_in, self.work, *self.k = buffers_like(self._scratch, x, 6, self.K)
        else:
            x2 = e = E = out = self.grad_in = self.work = None
            self.k = typed(self.K, x.dtype)
        self.x2 = np.multiply(x, x, out=x2)
        self.e = self._exp(x, self.x2, self.k, e)
        self.E = np.add(self.e, ONE.get(x.dtype, 1), out=E)
        self.out = np.divide(x, self.E, out=out)
        return self.out

    def infer(self, x, inplace=False):
        w = x * x
        E = self._exp(x, w, typed(self.K, x.dtype), w)
        E += ONE.get(x.dtype, 1)
        return np.divide(x, E, out=E)

    def backward(self, grad_out):
        # d/dx x h = h + x h' with h = 1 / E, h' = 2 h (1 - h) du/dx and 1 - h = e / E:
        # (1 + out e (2A + 6B x^2)) / E, seven NumPy calls
        k = self.k
        du2 = np.multiply(self.x2, k[3], out=self.work)
        du2 += k[2]  # 2 du/dx
        grad = np.multiply(self.out, self.e, out=self.grad_in)
        grad *= du2
        grad += ONE.get(grad.dtype, 1)
        grad /= self.E
        grad *= grad_out
        return grad

    def config(self):
        return {"type": "GELU", "approximate": "tanh"}


class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability ``rate`` and
    scale the rest by 1 / (1 - rate); at inference (``train=False``) the identity.

    Its random stream is spawned from the model's init stream at build time
    (or set ``layer.rng`` yourself). In a model group ``rng`` is a list, one stream
    per model: each model draws its own mask (B, H) from its own stream, as alone."""

    def __init__(self, rate: float = 0.5):
        super().__init__()
        self.rate = check_number("Dropout rate", rate, low=0, high=1, say_kind=True)
        self.rng = None
        self._scratch = {}  # training-step arrays by input shape (not state: never saved)

    def init_params(self, params, rng):
        self.rng = rng.spawn(1)[0]

    def forward(self, x, train=False):
        if not train or self.rate == 0:
            self.mask = None
            return x
        if self.rng is None:
            raise RuntimeError("Dropout has no random stream: build the model or set layer.rng")
        uniform, keep, mask, out, self.grad_in, rate, scale = self._buffers(x)
        if isinstance(self.rng, list):  # a model group: x (M, B, H), each model its own draws
            for rng, own, own_keep in zip(self.rng, uniform, keep):
                self._draw_keep(rng, own, rate, own_keep)
        else:
            self._draw_keep(self.rng, uniform, rate, keep)
        np.copyto(mask, keep)  # 0 or 1 in x's dtype: a bool operand costs a cast in every product
        mask *= scale
        self.mask = mask
        return np.multiply(x, mask, out=out)

    RAW_DRAW_MIN = 16384  # float32 draws from which the raw bits are read (below, fixed costs win)

    @staticmethod
    def _draw_keep(rng, uniform, rate, keep):
        """keep = (u >= rate) for uniforms u = rng.random(dtype=uniform.dtype) drawn into
        ``uniform``; ``rate`` is a 0-d array of uniform's dtype. Many float32 draws of
        PCG64 (``default_rng``'s) are compared as the bits they are made of: the same
        comparisons, and the generator left in the same state, for 65,536 numbers in 0.6
        of the time (175 against 292 us here). Each u is (b >> 8) 2^-24 for the
        32-bit halves b of the generator's 64-bit words (``random_raw``), low half first,
        so u >= rate exactly where b >= ``_keep_threshold(rate)``."""
        if (uniform.dtype == np.float32 and uniform.size >= Dropout.RAW_DRAW_MIN and np.little_endian
                and uniform.size % 2 == 0 and type(rng.bit_generator) is np.random.PCG64):
            threshold, bits = Dropout._keep_threshold(rate), rng.bit_generator
            # no half word left over from an odd draw before: the stream starts on a word
            if threshold < 2 ** 32 and not bits.state["has_uint32"]:
                words = bits.random_raw(uniform.size // 2)
                state = bits.state  # as the float path leaves it: the last word's high half kept
                state["uinteger"] = int(words[-1] >> 32)
                bits.state = state
                return np.greater_equal(words.view(np.uint32).reshape(uniform.shape),
                                        np.uint32(threshold), out=keep)
        rng.random(out=uniform, dtype=uniform.dtype)
        return np.greater_equal(uniform, rate, out=keep)

    @staticmethod
    def _keep_threshold(rate) -> int:
        """The least 32-bit word b whose float32 uniform (b >> 8) 2^-24 is >= ``rate``
        (a float32 number): ceil(rate 2^24) 2^8; 2^32 where no word reaches it."""
        return int(np.ceil(float(rate) * 2.0 ** 24)) << 8

    def _buffers(self, x):
        bufs = self._scratch.get(x.shape)
        if bufs is None or bufs[2].dtype != x.dtype:
            # uniforms drawn in the model's float dtype: float32 draws for a float32 model
            # (half the bytes, and a float32 comparison)
            draw = x.dtype if x.dtype == np.float32 else np.dtype(np.float64)
            bufs = keep_buffers(self._scratch, x.shape, (
                np.empty(x.shape, draw), np.empty(x.shape, bool), np.empty_like(x), np.empty_like(x),
                np.empty_like(x), np.array(self.rate, draw), np.array(1 / (1 - self.rate), x.dtype)))
        return bufs

    def infer(self, x, inplace=False):
        return x  # the identity at inference

    def backward(self, grad_out):
        if self.mask is None:
            return grad_out
        return np.multiply(grad_out, self.mask, out=self.grad_in)

    def config(self):
        return {"type": "Dropout", "rate": self.rate}


class BatchNorm1d(Layer):
    """Batch normalisation over the batch axis (-2), as torch's ``BatchNorm1d``.

    Training: x_hat = (x - mean_B) / sqrt(var_B + eps) with the biased batch
    variance, out = gamma * x_hat + beta, and the running statistics move by
    ``momentum`` towards the batch mean and the *unbiased* batch variance.
    Inference (``train=False``) normalises with the running statistics.

    gamma, beta: (F,) parameters. ``buffers`` holds running_mean, running_var (F,)
    (with a leading (M,) in a model group): state that is not trained but must
    be saved with the model.

    A training step's sums and means over the batch are products with a row of ones
    (or of 1/n): one BLAS call, where NumPy's reduction over the batch axis costs two
    to four times as much on small arrays. On small batches (n^2 F up to CENTER_MAX)
    x - mean_B(x) and mean_B(x) are one product with [I - 1 1^T / n; 1^T / n] (n + 1, n),
    and so is g - mean_B(g) in the backward, instead of a mean and a broadcast
    subtraction (which NumPy iterates row by row).
    """

    CENTER_MAX = 16384  # n^2 F multiply-adds: the centring product's cost

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.momentum = check_number("BatchNorm1d momentum", momentum, low=0, high=1, high_open=False)
        self.eps = check_number("BatchNorm1d eps", eps, low=0, low_open=True)
        self.buffers: dict[str, np.ndarray] = {}

    sample_ndim = 1

    def param_shapes(self, in_shape):
        n_in = features(self, in_shape)
        return {"gamma": (n_in,), "beta": (n_in,)}

    def init_params(self, params, rng):
        params["gamma"][...] = 1
        params["beta"][...] = 0

    def bind(self, params, grads):
        super().bind(params, grads)
        gamma = params["gamma"]
        # running_mean and running_var as the rows of one array: one update moves both
        self._stack(np.zeros_like(gamma), np.ones_like(gamma))
        # gamma, beta and their gradients as rows (..., 1, F): views made once
        self.gamma, self.beta = gamma[..., None, :], params["beta"][..., None, :]
        self.grad_rows = grads["gamma"][..., None, :], grads["beta"][..., None, :]
        self._scratch = {}  # training-step arrays by input shape (not state: never saved)

    def _stack(self, mean, var):
        """Make the buffers running_mean and running_var the rows of one (2, ..., F) array."""
        running = np.stack([mean, var])
        self.buffers = {"running_mean": running[0], "running_var": running[1]}
        self._running = (running, self.buffers["running_mean"], self.buffers["running_var"])

    def _running_stats(self):
        """[running_mean; running_var] (2, ..., F), the one array whose rows the buffers
        are; stacked again where the buffers were replaced (a copied model)."""
        running, mean, var = self._running
        if self.buffers["running_mean"] is not mean or self.buffers["running_var"] is not var:
            self._stack(self.buffers["running_mean"], self.buffers["running_var"])
            running = self._running[0]
        return running

    def _buffers(self, x):
        """The training step's arrays for inputs like x (..., n, F), views included (a
        view costs a fraction of a microsecond to make): see ``forward``."""
        bufs = self._scratch.get(x.shape)
        if bufs is None or bufs[0].dtype != x.dtype:
            n, lead, F = x.shape[-2], x.shape[:-2], x.shape[-1]
            stats = np.empty(lead + (n + 2, F), x.dtype)  # rows: x - mean (then x_hat), mean, var
            mean_row = np.full((1, n), 1 / n, x.dtype)
            center = np.vstack([np.eye(n, dtype=x.dtype) - mean_row, mean_row])
            m = self.momentum
            moves = np.empty((2,) + lead + (F,), x.dtype)  # full rows: no broadcast in the update
            moves[0], moves[1] = m, m * n / max(n - 1, 1)
            views = (stats[..., :n + 1, :], stats[..., :n, :], stats[..., n:n + 1, :],
                     stats[..., n + 1:, :], np.moveaxis(stats[..., n:, :], -2, 0))
            work = tuple(np.empty(shape, x.dtype) for shape in (
                x.shape, x.shape, x.shape, (2,) + lead + (F,), lead + (1, F)))
            if n * n * F > self.CENTER_MAX:  # a large batch: a mean and a subtraction instead
                center = None
            constants = ((center, None if center is None else center[:n], mean_row, np.ones((1, n), x.dtype))
                         + typed((self.eps, 1 - m), x.dtype) + (moves, product_for(x.ndim)))
            bufs = keep_buffers(self._scratch, x.shape, views + work + constants)
        return bufs

    def forward(self, x, train=False):
        self.train = train
        if not train:
            self.std = np.sqrt(self.buffers["running_var"][..., None, :] + self.eps)
            self.x_hat = x - self.buffers["running_mean"][..., None, :]
            self.x_hat /= self.std
            out = self.x_hat * self.gamma
            out += self.beta
            return out
        # centered_mean: the rows [x - mean; mean] of stats (..., n + 2, F), whose last row
        # is var; mean_var: [mean; var] (2, ..., F); center: [I - 1 1^T / n; 1^T / n],
        # centering and mean_row its first n rows and its last; moves: the running
        # update's factors of the mean and of the biased variance, [m; m n / (n - 1)]
        (centered_mean, centered, mean, var, mean_var, out, self.work, self.grad_in, moved,
         self.row, center, self.centering, self.mean_row, self.ones, eps, keep, moves,
         self.product) = self._buffers(x)
        product = self.product
        if center is not None:
            product(center, x, out=centered_mean)
        else:
            np.subtract(x, product(self.mean_row, x, out=mean), out=centered)
        squares = np.multiply(centered, centered, out=out)  # out as work space
        product(self.mean_row, squares, out=var)  # the biased batch variance, as x.var computes it
        # running = (1 - m) running + m [mean; n / (n - 1) var]: the unbiased variance
        running = self._running_stats()
        running *= keep
        running += np.multiply(mean_var, moves, out=moved)
        var += eps
        self.std = np.sqrt(var, out=var)
        self.x_hat = np.divide(centered, self.std, out=centered)
        np.multiply(self.x_hat, self.gamma, out=out)
        out += self.beta
        return out

    def infer(self, x, inplace=False):
        # the same as forward(x, train=False): (x - running_mean) / sqrt(running_var + eps)
        # * gamma + beta, as one scale and one shift
        scale = self.params["gamma"] / np.sqrt(self.buffers["running_var"] + self.eps)
        out = np.subtract(x, self.buffers["running_mean"][..., None, :], out=x if inplace else None)
        out *= scale[..., None, :]
        out += self.params["beta"][..., None, :]
        return out

    def backward(self, grad_out):
        x_hat = self.x_hat
        if not self.train:  # fixed statistics: an affine map
            np.add.reduce(grad_out * x_hat, axis=-2, out=self.grads["gamma"])
            np.add.reduce(grad_out, axis=-2, out=self.grads["beta"])
            return grad_out * (self.gamma / self.std)
        grad_gamma, grad_beta = self.grad_rows
        product = self.product
        work = np.multiply(grad_out, x_hat, out=self.work)
        product(self.ones, work, out=grad_gamma)  # sum_B grad_out x_hat
        product(self.ones, grad_out, out=grad_beta)  # sum_B grad_out
        # the batch mean and variance depend on x too: with g = grad_out,
        # dx = gamma / std (g - mean_B(g) - x_hat mean_B(g x_hat))
        if self.centering is not None:  # g - mean_B(g)
            grad = product(self.centering, grad_out, out=self.grad_in)
        else:
            grad = np.subtract(grad_out, product(self.mean_row, grad_out, out=self.row), out=self.grad_in)
        grad -= np.multiply(x_hat, product(self.mean_row, work, out=self.row), out=work)
        grad *= np.divide(self.gamma, self.std, out=self.row)
        return grad

    def config(self):
        return {"type": "BatchNorm1d", "momentum": self.momentum, "eps": self.eps}


class Identity(Layer):
    """f(x) = x, f'(x) = 1: a linear "activation" (the playground's, scikit-learn's "identity")."""

    def forward(self, x, train=False):
        return x

    def backward(self, grad_out):
        return grad_out


class FeatureMap(Layer):
    """Fixed features of two inputs (x1, x2), as TensorFlow Playground's:
    (..., B, 2) -> (..., B, len(features)). No parameters; part of the model, so a
    saved model still takes the raw (x1, x2).

    features: names from ``FeatureMap.FEATURES``, e.g. ["x1", "x2", "x1^2", "sin x1"].
    """

    # name: (value, derivative w.r.t. x1, derivative w.r.t. x2)
    FEATURES = {
        "x1": (lambda a, b: a, lambda a, b: np.ones_like(a), lambda a, b: np.zeros_like(a)),
        "x2": (lambda a, b: b, lambda a, b: np.zeros_like(a), lambda a, b: np.ones_like(a)),
        "x1^2": (lambda a, b: a * a, lambda a, b: 2 * a, lambda a, b: np.zeros_like(a)),
        "x2^2": (lambda a, b: b * b, lambda a, b: np.zeros_like(a), lambda a, b: 2 * b),
        "x1*x2": (lambda a, b: a * b, lambda a, b: b, lambda a, b: a),
        "sin x1": (lambda a, b: np.sin(a), lambda a, b: np.cos(a), lambda a, b: np.zeros_like(a)),
        "sin x2": (lambda a, b: np.sin(b), lambda a, b: np.zeros_like(a), lambda a, b: np.cos(b)),
    }

    def __init__(self, features=("x1", "x2")):
        super().__init__()
        features = [features] if isinstance(features, str) else list(features)
        unknown = [f for f in features if f not in self.FEATURES]
        if not features or unknown or len(set(features)) != len(features):
            raise ValueError(f"FeatureMap features must be distinct names from "
                             f"{', '.join(self.FEATURES)}; got {features!r}")
        self.features = features

    def output_dim(self, n_in):
        if n_in != 2:
            raise ValueError(f"FeatureMap takes 2 inputs (x1, x2), got {n_in}")
        return len(self.features)

    def forward(self, x, train=False):
        self.x = x
        return self.infer(x)

    def infer(self, x, inplace=False):
        if self.features == ["x1", "x2"]:
            return x  # the raw inputs: nothing to compute
        a, b = x[..., 0], x[..., 1]
        out = np.empty(x.shape[:-1] + (len(self.features),), x.dtype)
        for i, name in enumerate(self.features):
            out[..., i] = self.FEATURES[name][0](a, b)
        return out

    def backward(self, grad_out):
        # dL/dx_k = sum_f dL/dfeature_f * dfeature_f/dx_k
        a, b = self.x[..., 0], self.x[..., 1]
        grad_in = np.zeros_like(self.x)
        for i, f in enumerate(self.features):
            _, d1, d2 = self.FEATURES[f]
            grad_in[..., 0] += grad_out[..., i] * d1(a, b)
            grad_in[..., 1] += grad_out[..., i] * d2(a, b)
        return grad_in

    def config(self):
        return {"type": "FeatureMap", "features": list(self.features)}


ACTIVATIONS: dict[str, type[Layer]] = {"relu": ReLU, "leaky_relu": LeakyReLU, "sigmoid": Sigmoid,
                                       "tanh": Tanh, "gelu": GELU, "softmax": Softmax,
                                       "identity": Identity}
LAYERS: dict[str, type[Layer]] = {cls.__name__: cls for cls in (
    Dense, ReLU, Softmax, LeakyReLU, Sigmoid, Tanh, GELU, Dropout, BatchNorm1d, Identity,
    FeatureMap)}


def activation(name: str) -> Layer:
    """A fresh activation layer by name ("relu", ...)."""
    try:
        return ACTIVATIONS[name]()
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {name!r}; valid: {', '.join(sorted(ACTIVATIONS))}"
        ) from None


def from_config(cfg: dict) -> Layer:
    """Rebuild a layer from ``Layer.config()``."""
    cfg = dict(cfg)
    kind = cfg.pop("type", None)
    if kind not in LAYERS:
        raise ValueError(f"unknown layer type {kind!r}; valid: {', '.join(sorted(LAYERS))}")
    return LAYERS[kind](**cfg)

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


class Layer:
    """Base class. Parameter-free layers only override ``forward``/``backward``."""

    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]

    def __init__(self):
        self.params, self.grads = {}, {}

    def param_shapes(self, n_in: int) -> dict[str, tuple[int, ...]]:
        """Shapes of this layer's parameters for one model, given input width."""
        return {}

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
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.init = initializers.check_name(init)
        self.needs_input_grad = True  # the model turns this off for its first layer
        self.Wb = self.grad_Wb = self.WT = None
        self._scratch = {}  # training-step arrays by input shape (not state: never saved)

    def param_shapes(self, n_in):
        return {"W": (n_in, self.units), "b": (self.units,)}

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
        self.Wb = _stacked(params["W"], params["b"])
        self.grad_Wb = _stacked(grads["W"], grads["b"])
        self.WT = None if self.Wb is None else params["W"].T
        self._scratch = {}

    def forward(self, x, train=False):
        self.x = x
        bufs = self._scratch.get(x.shape) if train else None
        if bufs is None or x.dtype != bufs[0].dtype:
            bufs = self._buffers(x) if train else None
            if bufs is None:  # the general path: inference, a model group, another dtype
                self.x1 = None
                out = np.matmul(x, self.params["W"])
                out += self.params["b"][..., None, :]
                return out
        # [x, 1], the output and the input gradient live in buffers reused by
        # every step of this batch shape
        self.x1, self.x1T, x_part, out, self.grad_in = bufs
        x_part[...] = x
        return self.x1.dot(self.Wb, out=out)  # the method skips np.dot's dispatch

    def _buffers(self, x):
        """Training-step arrays for inputs like ``x``, or None where [x, 1] @ [W; b]
        does not apply."""
        if self.Wb is None or x.ndim != 2 or x.dtype != self.Wb.dtype:
            return None
        x1 = np.ones((len(x), x.shape[1] + 1), x.dtype)
        out = np.empty((len(x), self.units), x.dtype)
        return _keep(self._scratch, x.shape, (x1, x1.T, x1[:, :-1], out, np.empty_like(x)))

    def backward(self, grad_out):
        # grad_W = x^T g and grad_b = sum_rows g  (eq. 15-16, per model)
        if self.x1 is None:
            W = self.params["W"]
            np.matmul(self.x.swapaxes(-1, -2), grad_out, out=self.grads["W"])
            np.add.reduce(grad_out, axis=-2, out=self.grads["b"])
            if not self.needs_input_grad:
                return None
            return np.matmul(grad_out, W.swapaxes(-1, -2))
        self.x1T.dot(grad_out, out=self.grad_Wb)  # [x, 1]^T g = [grad_W; grad_b]
        if not self.needs_input_grad:
            return None
        return grad_out.dot(self.WT, out=self.grad_in)

    def config(self):
        return {"type": "Dense", "units": self.units, "init": self.init}


class ReLU(Layer):
    """max(0, x) (eq. 3-4). Does not modify its input; gradient gate is x > 0."""

    def __init__(self):
        super().__init__()
        self._scratch = {}  # training-step outputs by input shape (not state: never saved)

    def forward(self, x, train=False):
        if not train:
            self.out, self.grad_in = np.maximum(x, 0), None
            return self.out
        # into a buffer reused by every step of this batch shape; max against zeros
        # of the same shape costs half of max against the scalar 0 on small batches
        bufs = self._scratch.get(x.shape)
        if bufs is None or bufs[0].dtype != x.dtype:
            bufs = _keep(self._scratch, x.shape, (np.empty_like(x), np.zeros_like(x), np.empty_like(x)))
        self.out, zeros, self.grad_in = bufs
        return np.maximum(x, zeros, out=self.out)

    def backward(self, grad_out):
        # eq. 17 corrected: the gate is 1 where x > 0, not where x >= 1.
        # out = max(x, 0) >= 0, so sign(out) is that gate, in the float dtype.
        # sign has the lower fixed cost, out > 0 the lower cost per element.
        out, gate = self.out, self.grad_in
        if gate is None or out.size < 2048:
            gate = np.sign(out, out=gate)
        else:
            np.greater(out, self._scratch[out.shape][1], out=gate)
        return np.multiply(grad_out, gate, out=gate)


class Softmax(Layer):
    """Row-wise softmax (eq. 1-2), shifted by the row max so exp never overflows.

    Use it for probabilities at inference; for training, ``SoftmaxCrossEntropy``
    fuses softmax with the loss and is both faster and more stable.
    """

    def forward(self, x, train=False):
        self.out = softmax(x)
        return self.out

    def backward(self, grad_out):
        # Jacobian-vector product of eq. 11-12: s * (g - <g, s>)
        s = self.out
        return s * (grad_out - np.sum(grad_out * s, axis=-1, keepdims=True))


def _stacked(W: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """The (F_in + 1, units) view [W; b] when W (F_in, units) and b (units,) are
    adjacent in memory, else None (e.g. in a model group)."""
    if W.ndim != 2 or not (W.flags.c_contiguous and b.flags.c_contiguous):
        return None
    if W.base is None or b.base is not W.base or b.shape != W.shape[1:]:
        return None  # not two views of one flat array
    if b.ctypes.data != W.ctypes.data + W.nbytes:
        return None
    return np.lib.stride_tricks.as_strided(W, (W.shape[0] + 1, W.shape[1]))


def _keep(scratch: dict, shape: tuple, new):
    """Keep ``new`` as the training-step arrays for inputs of ``shape``; a few shapes
    at most (a full and a last batch, typically). What a training step returns is
    only valid until the next step of that shape; inference never uses them."""
    if len(scratch) >= 4:
        scratch.clear()
    scratch[shape] = new
    return new


def softmax(logits: np.ndarray) -> np.ndarray:
    """Stable softmax over the last axis. logits: (..., C) -> probs: (..., C)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=-1, keepdims=True)
    return probs


class LeakyReLU(Layer):
    """x where x > 0, else ``negative_slope * x``."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x, train=False):
        self.slope = np.where(x > 0, 1.0, self.negative_slope).astype(x.dtype, copy=False)
        return x * self.slope

    def backward(self, grad_out):
        return grad_out * self.slope

    def config(self):
        return {"type": "LeakyReLU", "negative_slope": self.negative_slope}


class Sigmoid(Layer):
    """1 / (1 + exp(-x)); backward uses s * (1 - s)."""

    def forward(self, x, train=False):
        self.out = sigmoid(x)
        return self.out

    def backward(self, grad_out):
        return grad_out * self.out * (1 - self.out)


class Tanh(Layer):
    """tanh(x); backward uses 1 - tanh(x)^2."""

    def forward(self, x, train=False):
        self.out = np.tanh(x)
        return self.out

    def backward(self, grad_out):
        return grad_out * (1 - self.out * self.out)


class GELU(Layer):
    """The tanh approximation of GELU (torch's ``GELU(approximate="tanh")``):
    0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)."""

    C = float(np.sqrt(2 / np.pi))  # a Python float keeps float32 inputs float32

    def __init__(self, approximate: str = "tanh"):
        super().__init__()
        if approximate != "tanh":
            raise ValueError(f"GELU supports approximate='tanh' only, got {approximate!r}")

    def forward(self, x, train=False):
        self.x = x
        self.t = np.tanh(self.C * (x + 0.044715 * x**3))
        return 0.5 * x * (1 + self.t)

    def backward(self, grad_out):
        x, t = self.x, self.t
        du_dx = self.C * (1 + 3 * 0.044715 * x * x)
        return grad_out * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du_dx)

    def config(self):
        return {"type": "GELU", "approximate": "tanh"}


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Stable logistic function: exp is only ever taken of -|x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability ``rate`` and
    scale the rest by 1 / (1 - rate); at inference (``train=False``) the identity.

    Its random stream is spawned from the model's init stream at build time
    (or set ``layer.rng`` yourself)."""

    def __init__(self, rate: float = 0.5):
        super().__init__()
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)) or not 0 <= rate < 1:
            raise ValueError(f"Dropout rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.rng = None

    def init_params(self, params, rng):
        self.rng = rng.spawn(1)[0]

    def forward(self, x, train=False):
        if not train or self.rate == 0:
            self.mask = None
            return x
        if self.rng is None:
            raise RuntimeError("Dropout has no random stream: build the model or set layer.rng")
        keep = self.rng.random(x.shape) >= self.rate
        self.mask = keep.astype(x.dtype) / x.dtype.type(1 - self.rate)
        return x * self.mask

    def backward(self, grad_out):
        return grad_out if self.mask is None else grad_out * self.mask

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
    """

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        if not 0 <= momentum <= 1:
            raise ValueError(f"BatchNorm1d momentum must be in [0, 1], got {momentum!r}")
        if not eps > 0:
            raise ValueError(f"BatchNorm1d eps must be > 0, got {eps!r}")
        self.momentum, self.eps = float(momentum), float(eps)
        self.buffers: dict[str, np.ndarray] = {}

    def param_shapes(self, n_in):
        return {"gamma": (n_in,), "beta": (n_in,)}

    def init_params(self, params, rng):
        params["gamma"][...] = 1
        params["beta"][...] = 0

    def bind(self, params, grads):
        super().bind(params, grads)
        gamma = params["gamma"]
        self.buffers = {"running_mean": np.zeros_like(gamma), "running_var": np.ones_like(gamma)}

    def forward(self, x, train=False):
        gamma, beta = self.params["gamma"][..., None, :], self.params["beta"][..., None, :]
        self.train = train
        if train:
            n = x.shape[-2]
            mean = x.mean(axis=-2, keepdims=True)
            var = x.var(axis=-2, keepdims=True)
            m = self.momentum
            self.buffers["running_mean"][...] = (1 - m) * self.buffers["running_mean"] + m * mean[..., 0, :]
            unbiased = var[..., 0, :] * (n / max(n - 1, 1))
            self.buffers["running_var"][...] = (1 - m) * self.buffers["running_var"] + m * unbiased
        else:
            mean = self.buffers["running_mean"][..., None, :]
            var = self.buffers["running_var"][..., None, :]
        self.inv_std = 1 / np.sqrt(var + self.eps)
        self.x_hat = (x - mean) * self.inv_std
        return gamma * self.x_hat + beta

    def backward(self, grad_out):
        x_hat = self.x_hat
        np.sum(grad_out * x_hat, axis=-2, out=self.grads["gamma"])
        np.sum(grad_out, axis=-2, out=self.grads["beta"])
        g = grad_out * self.params["gamma"][..., None, :]  # dL/dx_hat
        if not self.train:  # fixed statistics: an affine map
            return g * self.inv_std
        # the batch mean and variance depend on x too:
        # dx = inv_std * (g - mean_B(g) - x_hat * mean_B(g * x_hat))
        return self.inv_std * (g - g.mean(axis=-2, keepdims=True)
                               - x_hat * (g * x_hat).mean(axis=-2, keepdims=True))

    def config(self):
        return {"type": "BatchNorm1d", "momentum": self.momentum, "eps": self.eps}


ACTIVATIONS: dict[str, type[Layer]] = {"relu": ReLU, "leaky_relu": LeakyReLU, "sigmoid": Sigmoid,
                                       "tanh": Tanh, "gelu": GELU, "softmax": Softmax}
LAYERS: dict[str, type[Layer]] = {cls.__name__: cls for cls in (
    Dense, ReLU, Softmax, LeakyReLU, Sigmoid, Tanh, GELU, Dropout, BatchNorm1d)}


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

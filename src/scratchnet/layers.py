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

    def param_shapes(self, n_in):
        return {"W": (n_in, self.units), "b": (self.units,)}

    def output_dim(self, n_in):
        return self.units

    def init_params(self, params, rng):
        initializers.initialize(self.init, params["W"], params["b"], rng)

    def forward(self, x, train=False):
        self.x = x
        out = np.matmul(x, self.params["W"])
        out += self.params["b"][..., None, :]
        return out

    def backward(self, grad_out):
        # grad_W = x^T g and grad_b = sum_rows g  (eq. 15-16, per model)
        np.matmul(self.x.swapaxes(-1, -2), grad_out, out=self.grads["W"])
        np.sum(grad_out, axis=-2, out=self.grads["b"])
        if not self.needs_input_grad:
            return None
        return np.matmul(grad_out, self.params["W"].swapaxes(-1, -2))

    def config(self):
        return {"type": "Dense", "units": self.units, "init": self.init}


class ReLU(Layer):
    """max(0, x) (eq. 3-4). Does not modify its input; gradient gate is x > 0."""

    def forward(self, x, train=False):
        self.out = np.maximum(x, 0)
        return self.out

    def backward(self, grad_out):
        # eq. 17 corrected: the gate is 1 where x > 0, not where x >= 1.
        return grad_out * (self.out > 0)


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


def softmax(logits: np.ndarray) -> np.ndarray:
    """Stable softmax over the last axis. logits: (..., C) -> probs: (..., C)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=-1, keepdims=True)
    return probs


ACTIVATIONS: dict[str, type[Layer]] = {"relu": ReLU}
LAYERS: dict[str, type[Layer]] = {"Dense": Dense, "ReLU": ReLU, "Softmax": Softmax}


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

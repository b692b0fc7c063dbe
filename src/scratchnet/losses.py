"""Losses: ``forward`` returns the loss and keeps what ``backward`` needs."""
from __future__ import annotations

import numpy as np

from .layers import sigmoid


class SoftmaxCrossEntropy:
    """Softmax followed by cross-entropy (eq. 9, 13-14), fused.

    forward(logits (..., B, C), targets (..., B, C) one-hot or (..., B) class
    indices) -> loss, a float (or (M,) for a model group).
    backward() -> dL/dlogits = (probs - targets) / B, or without the 1/B when
    ``reduction="sum"`` (the tutorial's summed gradient).
    ``label_smoothing`` = e mixes the targets with the uniform distribution,
    (1 - e) * onehot + e / C, as torch's ``CrossEntropyLoss(label_smoothing=e)``.
    The log-probabilities come from log-sum-exp, so a probability of 0 never
    reaches a log and logits of +-1e4 give a finite loss.
    """

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0):
        self.reduction = check_reduction(reduction)
        if isinstance(label_smoothing, bool) or not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits: np.ndarray, targets: np.ndarray):
        if self.label_smoothing or targets.ndim < logits.ndim:
            targets = self.soft_targets(targets, logits.shape[-1], logits.dtype)
        shifted = logits - row_max(logits)
        exp = np.exp(shifted)
        sum_exp = row_sum(exp)
        self.probs = np.divide(exp, sum_exp, out=exp)
        self.targets = targets
        # -log p_target = log(sum exp) - shifted_target, per row
        nll = np.log(sum_exp[..., 0]) - row_sum(shifted * targets)[..., 0]
        loss = np.add.reduce(nll, axis=-1)
        if self.reduction == "mean":
            loss = loss / logits.shape[-2]
        return loss

    def backward(self) -> np.ndarray:
        grad = self.probs - self.targets
        if self.reduction == "mean":
            grad /= grad.shape[-2]
        return grad

    def gradient(self, logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """dL/dlogits (..., B, C) without the loss value: what a training step needs."""
        if self.label_smoothing or targets.ndim < logits.ndim:
            targets = self.soft_targets(targets, logits.shape[-1], logits.dtype)
        if logits.shape[-1] == 2:
            # probs = exp(logits - logsumexp(logits)): for two classes one stable
            # logaddexp per row beats shift-exp-normalise, in NumPy calls and in flops
            grad = logits - np.logaddexp(logits[..., 0], logits[..., 1])[..., None]
            np.exp(grad, out=grad)
        else:  # C - 1 logaddexps per row would cost more than C exps
            grad = logits - row_max(logits)
            np.exp(grad, out=grad)
            grad /= row_sum(grad)
        grad -= targets
        if self.reduction == "mean":
            grad /= grad.shape[-2]
        return grad

    def soft_targets(self, targets, n_classes, dtype):
        """Class indices (..., B) or one-hot (..., B, C) -> smoothed targets (..., B, C)."""
        if targets.ndim and targets.dtype.kind in "iu":
            targets = (targets[..., None] == np.arange(n_classes)).astype(dtype)
        e = self.label_smoothing
        return targets * (1 - e) + e / n_classes if e else targets

    def config(self) -> dict:
        return {"type": "SoftmaxCrossEntropy", "reduction": self.reduction,
                "label_smoothing": self.label_smoothing}


class BinaryCrossEntropy:
    """Sigmoid followed by binary cross-entropy on one logit per row, fused
    (torch's ``BCEWithLogitsLoss``).

    forward(logits (..., B, 1), targets (..., B, 1) in [0, 1]) -> loss.
    Per element: max(z, 0) - z * y + log(1 + exp(-|z|)), which never takes exp of
    a large positive number nor log of 0. backward() -> (sigmoid(z) - y) / (B * K).
    """

    def __init__(self, reduction: str = "mean"):
        self.reduction = check_reduction(reduction)

    def forward(self, logits, targets):
        z = logits
        self.targets = targets
        self.probs = sigmoid(z)
        elementwise = np.maximum(z, 0) - z * targets + np.log1p(np.exp(-np.abs(z)))
        return _reduce(elementwise, self.reduction)

    def backward(self):
        grad = self.probs - self.targets
        if self.reduction == "mean":
            grad /= grad.shape[-2] * grad.shape[-1]
        return grad

    def config(self):
        return {"type": "BinaryCrossEntropy", "reduction": self.reduction}


class MeanSquaredError:
    """Squared error (torch's ``MSELoss``): forward(outputs (..., B, K),
    targets (..., B, K)) -> mean (or sum) of (outputs - targets)^2 over B and K.
    backward() -> 2 (outputs - targets) / (B * K)."""

    def __init__(self, reduction: str = "mean"):
        self.reduction = check_reduction(reduction)

    def forward(self, outputs, targets):
        self.diff = outputs - targets
        return _reduce(self.diff * self.diff, self.reduction)

    def backward(self):
        grad = 2 * self.diff
        if self.reduction == "mean":
            grad /= grad.shape[-2] * grad.shape[-1]
        return grad

    def config(self):
        return {"type": "MeanSquaredError", "reduction": self.reduction}


def row_max(a: np.ndarray) -> np.ndarray:
    """max over the last (class) axis, (..., B, C) -> (..., B, 1). NumPy reduces a
    short last axis row by row (30 ns a row); over the batch axis of a transposed
    copy it runs vectorised, 5 to 25 times faster for up to a few dozen classes."""
    return np.maximum.reduce(a.swapaxes(-1, -2).copy(), axis=-2)[..., None]


def row_sum(a: np.ndarray) -> np.ndarray:
    """sum over the last (class) axis, (..., B, C) -> (..., B, 1): a product with
    ones, for the same reason as ``row_max``."""
    return np.matmul(a, np.ones((a.shape[-1], 1), a.dtype))


def check_reduction(reduction):
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    return reduction


def _reduce(elementwise, reduction):
    """Sum (or mean) over the batch and output axes, keeping a model axis."""
    total = elementwise.sum(axis=(-2, -1))
    return total / (elementwise.shape[-2] * elementwise.shape[-1]) if reduction == "mean" else total


LOSSES = {"softmax_cross_entropy": SoftmaxCrossEntropy, "binary_cross_entropy": BinaryCrossEntropy,
          "mse": MeanSquaredError}


def get(name: str, **kwargs):
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; valid: {', '.join(sorted(LOSSES))}")
    return LOSSES[name](**kwargs)


def from_config(cfg: dict):
    """Rebuild a loss from its ``config()``."""
    cfg = dict(cfg)
    by_type = {cls.__name__: cls for cls in LOSSES.values()}
    kind = cfg.pop("type", None)
    if kind not in by_type:
        raise ValueError(f"unknown loss type {kind!r}; valid: {', '.join(sorted(by_type))}")
    return by_type[kind](**cfg)

"""Losses: ``forward`` returns the loss and keeps what ``backward`` needs."""
from __future__ import annotations

import numpy as np

from .kernels import (binary_cross_entropy_elements, sigmoid,
                      softmax_cross_entropy_grad, softmax_cross_entropy_rows)
from .validation import check_number


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
        self.label_smoothing = check_number("label_smoothing", label_smoothing, low=0, high=1)

    def forward(self, logits: np.ndarray, targets: np.ndarray):
        if self.label_smoothing or targets.ndim < logits.ndim:
            targets = self.soft_targets(targets, logits.shape[-1], logits.dtype)
        self.logits, self.targets = logits, targets  # backward's softmax comes from them
        loss = np.add.reduce(softmax_cross_entropy_rows(logits, targets), axis=-1)
        if self.reduction == "mean":
            loss = loss / logits.shape[-2]
        return loss

    def backward(self) -> np.ndarray:
        grad = softmax_cross_entropy_grad(self.logits, self.targets)
        if self.reduction == "mean":
            grad /= grad.shape[-2]
        return grad

    def gradient(self, logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """dL/dlogits (..., B, C) without the loss value: what a training step needs."""
        if self.label_smoothing or targets.ndim < logits.ndim:
            targets = self.soft_targets(targets, logits.shape[-1], logits.dtype)
        grad = softmax_cross_entropy_grad(logits, targets)
        if self.reduction == "mean":
            grad /= grad.shape[-2]
        return grad

    def rows(self, logits: np.ndarray, targets: np.ndarray):
        """Each row's loss and its gradient, before the reduction over rows:
        (..., B) -log p_target and (..., B, C) probs - targets. ``forward`` is their
        mean (or sum) over rows; sample weights are applied by the caller
        (``engine.loss_and_grad``)."""
        if self.label_smoothing or targets.ndim < logits.ndim:
            targets = self.soft_targets(targets, logits.shape[-1], logits.dtype)
        return softmax_cross_entropy_rows(logits, targets), softmax_cross_entropy_grad(logits, targets)

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
    With K > 1 columns: K independent labels (multilabel). ``reduction="batchmean"``
    (torch's name for it; scikit-learn's MLPClassifier convention) sums over the K
    labels and averages over the B rows: backward() -> (sigmoid(z) - y) / B.
    """

    def __init__(self, reduction: str = "mean"):
        self.reduction = check_reduction(reduction, batchmean=True)

    def forward(self, logits, targets):
        z = logits
        self.targets = targets
        self.probs = sigmoid(z)
        return _reduce(binary_cross_entropy_elements(z, targets), self.reduction)

    def backward(self):
        return self._scaled(self.probs - self.targets)

    def gradient(self, logits, targets):
        """dL/dlogits (..., B, K) without the loss value: what a training step needs."""
        grad = sigmoid(logits)
        grad -= targets
        return self._scaled(grad)

    def _scaled(self, grad):
        """sigmoid(z) - y, divided in place as the reduction says."""
        if self.reduction == "mean":
            grad /= grad.shape[-2] * grad.shape[-1]
        elif self.reduction == "batchmean":
            grad /= grad.shape[-2]
        return grad

    def rows(self, logits, targets):
        """Each row's loss (..., B) and its gradient (..., B, K), before the reduction
        over rows (see ``SoftmaxCrossEntropy.rows``)."""
        z = logits
        elementwise = binary_cross_entropy_elements(z, targets)
        per_output = 1 / z.shape[-1] if self.reduction == "mean" else 1
        return elementwise.sum(axis=-1) * per_output, (sigmoid(z) - targets) * per_output

    def config(self):
        return {"type": "BinaryCrossEntropy", "reduction": self.reduction}


class MeanSquaredError:
    """Squared error (torch's ``MSELoss``): forward(outputs (..., B, K),
    targets (..., B, K)) -> mean (or sum) of (outputs - targets)^2 over B and K.
    backward() -> 2 (outputs - targets) / (B * K).

    scikit-learn's MLPRegressor convention is ``half=True, reduction="batchmean"``:
    the half squared error 0.5 (outputs - targets)^2, summed over the K outputs and
    averaged over the B rows, whose gradient is (outputs - targets) / B.
    """

    def __init__(self, reduction: str = "mean", half: bool = False):
        self.reduction = check_reduction(reduction, batchmean=True)
        self.half = bool(half)

    def forward(self, outputs, targets):
        self.diff = outputs - targets
        squared = self.diff * self.diff
        return _reduce(0.5 * squared if self.half else squared, self.reduction)

    def backward(self):
        return self._gradient(self.diff.copy())

    def gradient(self, outputs, targets):
        """dL/doutputs (..., B, K) without the loss value: what a training step needs."""
        return self._gradient(outputs - targets)

    def _gradient(self, diff):
        """2 (outputs - targets) / (B K) (or as ``half`` and the reduction say), in place
        in ``diff``. 2 d / n is computed as d / (n / 2): the same quotient, rounded once
        either way (n / 2 is exact), one NumPy call fewer."""
        divisor = 1 if self.half else 0.5
        if self.reduction == "mean":
            divisor *= diff.shape[-2] * diff.shape[-1]
        elif self.reduction == "batchmean":
            divisor *= diff.shape[-2]
        if divisor != 1:
            diff /= divisor
        return diff

    def rows(self, outputs, targets):
        """Each row's loss (..., B) and its gradient (..., B, K), before the reduction
        over rows (see ``SoftmaxCrossEntropy.rows``)."""
        diff = outputs - targets
        scale = (0.5 if self.half else 1.0) / (diff.shape[-1] if self.reduction == "mean" else 1)
        return scale * np.sum(diff * diff, axis=-1), (2 * scale) * diff

    def config(self):
        half = {"half": True} if self.half else {}  # absent when off: older configs stay as they were
        return {"type": "MeanSquaredError", "reduction": self.reduction} | half


class PoissonDeviance:
    """Half the Poisson deviance with a log link, scikit-learn's
    ``MLPRegressor(loss="poisson")``: the prediction is mu = exp(z) for the last
    layer's output z, and per element

        loss = y log(y / mu) - y + mu   (0 log 0 = 0),   dloss/dz = mu - y,

    for counts or rates y >= 0. forward(z (..., B, K), y (..., B, K)) -> the loss
    averaged over B and K ("mean"), summed over K and averaged over B
    ("batchmean", scikit-learn's), or summed ("sum"). Not a ``LOSSES`` name yet:
    ``Sequential`` treats only "mse" as regression.
    """

    def __init__(self, reduction: str = "mean"):
        self.reduction = check_reduction(reduction, batchmean=True)

    @staticmethod
    def _elementwise(z, y):
        mu = np.exp(z)
        log_y = np.log(np.where(y > 0, y, 1))  # y log y = 0 at y = 0
        return y * (log_y - z) - y + mu, mu

    def forward(self, z, y):
        elementwise, mu = self._elementwise(z, y)
        self.grad = mu - y
        return _reduce(elementwise, self.reduction)

    def backward(self):
        grad = self.grad
        if self.reduction == "mean":
            grad = grad / (grad.shape[-2] * grad.shape[-1])
        elif self.reduction == "batchmean":
            grad = grad / grad.shape[-2]
        return grad

    def rows(self, z, y):
        """Each row's loss (..., B) and its gradient (..., B, K), before the reduction
        over rows (see ``SoftmaxCrossEntropy.rows``)."""
        elementwise, mu = self._elementwise(z, y)
        per_output = 1 / z.shape[-1] if self.reduction == "mean" else 1
        return elementwise.sum(axis=-1) * per_output, (mu - y) * per_output

    def config(self):
        return {"type": "PoissonDeviance", "reduction": self.reduction}


def check_reduction(reduction, batchmean=False):
    """'mean' or 'sum'; also 'batchmean' (sum over outputs, mean over rows) where allowed."""
    valid = ("mean", "sum", "batchmean") if batchmean else ("mean", "sum")
    if reduction not in valid:
        raise ValueError(f"reduction must be {' or '.join(map(repr, valid))}, got {reduction!r}")
    return reduction


def _reduce(elementwise, reduction):
    """Sum (or mean) over the batch and output axes, keeping a model axis;
    "batchmean" divides the sum by the batch size only."""
    total = elementwise.sum(axis=(-2, -1))
    if reduction == "batchmean":
        return total / elementwise.shape[-2]
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

"""Losses: ``forward`` returns the loss and keeps what ``backward`` needs."""
from __future__ import annotations

import numpy as np


class SoftmaxCrossEntropy:
    """Softmax followed by cross-entropy (eq. 9, 13-14), fused.

    forward(logits (..., B, C), targets (..., B, C) one-hot) -> loss, a float
    (or (M,) for a model group). backward() -> dL/dlogits = (probs - targets) / B,
    or without the 1/B when ``reduction="sum"`` (the tutorial's summed gradient).
    The log-probabilities come from log-sum-exp, so a probability of 0 never
    reaches a log and logits of +-1e4 give a finite loss.
    """

    def __init__(self, reduction: str = "mean"):
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction

    def forward(self, logits: np.ndarray, targets: np.ndarray):
        shifted = logits - logits.max(axis=-1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=-1, keepdims=True)
        self.probs = exp / sum_exp
        self.targets = targets
        # -log p_target = log(sum exp) - shifted_target, per row
        nll = np.log(sum_exp[..., 0]) - np.sum(shifted * targets, axis=-1)
        loss = nll.sum(axis=-1)
        if self.reduction == "mean":
            loss = loss / logits.shape[-2]
        return loss

    def backward(self) -> np.ndarray:
        grad = self.probs - self.targets
        if self.reduction == "mean":
            grad /= grad.shape[-2]
        return grad

    def config(self) -> dict:
        return {"type": "SoftmaxCrossEntropy", "reduction": self.reduction}


LOSSES = {"softmax_cross_entropy": SoftmaxCrossEntropy}


def get(name: str, **kwargs):
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; valid: {', '.join(sorted(LOSSES))}")
    return LOSSES[name](**kwargs)

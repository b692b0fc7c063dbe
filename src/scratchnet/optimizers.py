"""Optimizers. Each updates a model's one flat parameter array in place from the
flat gradient array of the same shape, so a step costs a few NumPy calls
whatever the depth. ``lr`` may be a float or an array broadcastable to the
parameters (per-model learning rates in a model group)."""
from __future__ import annotations

import numpy as np


class Optimizer:
    def __init__(self, lr=0.01):
        self.lr = lr

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        raise NotImplementedError

    def state(self) -> dict[str, np.ndarray]:
        """Arrays to save with a checkpoint (empty for stateless optimizers)."""
        return {}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        pass

    def config(self) -> dict:
        lr = self.lr
        return {"type": type(self).__name__, "lr": lr if np.isscalar(lr) else None}


class SGD(Optimizer):
    """theta <- theta - lr * grad  (tutorial eq. 7)."""

    def step(self, params, grads):
        params -= self.lr * grads


OPTIMIZERS = {"sgd": SGD}


def get(name: str, lr, **kwargs) -> Optimizer:
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(sorted(OPTIMIZERS))}")
    return OPTIMIZERS[name](lr=lr, **kwargs)

"""Weight initialisers. Each fills one model's ``W`` (fan_in, fan_out) and ``b`` in place.

fan_in and fan_out are the last two axes of ``W``, so a model group's (M, fan_in,
fan_out) works too."""
from __future__ import annotations

import numpy as np


def he(W, b, rng):
    """He normal: W ~ N(0, 2 / fan_in), b = 0. Suits ReLU."""
    W[...] = rng.standard_normal(W.shape) * np.sqrt(2.0 / W.shape[-2])
    b[...] = 0


def he_uniform(W, b, rng):
    """He uniform: W ~ U(-a, a), a = sqrt(6 / fan_in) (variance 2 / fan_in), b = 0."""
    limit = np.sqrt(6.0 / W.shape[-2])
    W[...] = rng.uniform(-limit, limit, W.shape)
    b[...] = 0


def glorot(W, b, rng):
    """Glorot/Xavier uniform: W ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out)), b = 0."""
    limit = np.sqrt(6.0 / (W.shape[-2] + W.shape[-1]))
    W[...] = rng.uniform(-limit, limit, W.shape)
    b[...] = 0


def glorot_normal(W, b, rng):
    """Glorot/Xavier normal: W ~ N(0, 2 / (fan_in + fan_out)), b = 0. Suits tanh/sigmoid."""
    W[...] = rng.standard_normal(W.shape) * np.sqrt(2.0 / (W.shape[-2] + W.shape[-1]))
    b[...] = 0


def normal(W, b, rng):
    """The tutorial's init: W and b both standard normal, unscaled."""
    W[...] = rng.standard_normal(W.shape)
    b[...] = rng.standard_normal(b.shape)


INITIALIZERS = {"he": he, "he_uniform": he_uniform, "glorot": glorot,
                "glorot_normal": glorot_normal, "normal": normal}


def check_name(name: str) -> str:
    if name not in INITIALIZERS:
        raise ValueError(f"unknown init {name!r}; valid: {', '.join(sorted(INITIALIZERS))}")
    return name


def initialize(name: str, W: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> None:
    INITIALIZERS[check_name(name)](W, b, rng)

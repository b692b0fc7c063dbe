"""Data: the tutorial's moons, label encoding, one-hot, minibatches, input checks."""
from __future__ import annotations

from typing import Iterator

import numpy as np


def tutorial_moons():
    """The tutorial's data, exactly: ``make_moons(5000, noise=0.1, random_state=42)``
    split by ``train_test_split(random_state=42)``.

    Returns X_train (3750, 2), X_test (1250, 2), y_train (3750,), y_test (1250,).
    """
    from sklearn.datasets import make_moons
    from sklearn.model_selection import train_test_split

    X, y = make_moons(n_samples=5000, random_state=42, noise=0.1)
    return train_test_split(X, y, random_state=42)


def as_generator(seed) -> np.random.Generator:
    """A Generator from a seed, a SeedSequence, or a Generator (returned as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


class LabelEncoder:
    """Maps any label values (ints, strings, ...) to class indices 0..C-1 and back."""

    def fit(self, y) -> "LabelEncoder":
        y = _labels_1d(y)
        try:
            self.classes_ = np.unique(y)
        except TypeError:  # e.g. ints mixed with strings: no order, so no classes
            kinds = sorted({type(v).__name__ for v in y.ravel()})
            raise TypeError(f"y mixes label types that cannot be compared ({', '.join(kinds)}): "
                            f"use labels of one type") from None
        return self

    def transform(self, y) -> np.ndarray:
        """y: (N,) labels -> (N,) int64 class indices; unknown labels raise ValueError."""
        y = _labels_1d(y)
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        unknown = self.classes_[idx] != y
        if np.any(unknown):
            raise ValueError(
                f"y has labels never seen in training: {np.unique(y[unknown])[:10].tolist()}; "
                f"known labels: {self.classes_[:10].tolist()}"
            )
        return idx.astype(np.int64)

    def inverse_transform(self, idx: np.ndarray) -> np.ndarray:
        return self.classes_[np.asarray(idx)]


def _labels_1d(y) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one label per row), got shape {y.shape}")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise ValueError("y contains NaN")
    if y.dtype == object and any(v is None or v != v for v in y):  # None, float('nan')
        raise ValueError("y contains missing labels (None or NaN)")
    return y


def one_hot(idx: np.ndarray, n_classes: int, dtype=np.float64) -> np.ndarray:
    """Class indices (..., N) -> one-hot (..., N, n_classes)."""
    idx = np.asarray(idx)
    if idx.size and (idx.min() < 0 or idx.max() >= n_classes):
        raise ValueError(f"class indices must lie in [0, {n_classes}), got {idx.min()}..{idx.max()}")
    return (idx[..., None] == np.arange(n_classes)).astype(dtype)


def batches(n: int, batch_size: int, rng: np.random.Generator | None) -> Iterator[np.ndarray]:
    """Row indices of each minibatch of one epoch: a fresh permutation when
    ``rng`` is given, else in order. The last batch may be smaller."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def check_X(X, n_features: int | None = None, dtype=np.float64, name: str = "X") -> np.ndarray:
    """Validate features: 2-D, non-empty, numeric, finite, with the expected width.

    Returns a C-contiguous array of ``dtype`` (a copy only when needed)."""
    if hasattr(X, "to_numpy"):  # pandas
        X = X.to_numpy()
    try:
        X = np.asarray(X)
    except ValueError as e:
        raise ValueError(f"{name} could not be read as an array: {e}") from None
    if X.dtype == object or X.dtype.kind in "USV":
        try:
            X = X.astype(np.float64)
        except OverflowError:  # Python ints beyond float64
            raise ValueError(f"{name} has numbers too large for float64 (dtype {X.dtype})") from None
        except (TypeError, ValueError):
            raise ValueError(f"{name} has non-numeric values (dtype {X.dtype})") from None
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (samples, features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: shape {X.shape}")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has zero features: shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features, but the model was trained with {n_features}"
        )
    narrowed = X.dtype.kind == "f" and X.dtype.itemsize > np.dtype(dtype).itemsize
    with np.errstate(over="ignore"):
        X = np.ascontiguousarray(X, dtype=dtype)
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or inf" + (
            f" (or values beyond the range of {X.dtype.name})" if narrowed else ""))
    return X

"""Preprocessing, in one place: label encoding (``LabelEncoder``), one-hot targets
(``one_hot``) and feature standardisation (``Standardizer``).

A model fits its encoder and scaler in ``fit`` and keeps them: model files store
their arrays (``scratchnet.io``), and files that name the old homes of these classes
(``scratchnet.data``, ``scratchnet.datasets``) still load, as both re-export them.
"""
from __future__ import annotations

import numpy as np

from .validation import check_X


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


class Standardizer:
    """Scale each feature to mean 0 and standard deviation 1, with the statistics
    of the data it was fitted on (like scikit-learn's ``StandardScaler``).

    State: ``mean_`` and ``scale_`` (F,), plain arrays; a constant feature gets
    scale 1 so it maps to 0 instead of dividing by zero.
    """

    def fit(self, X) -> "Standardizer":
        X = check_X(X)
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, X, dtype=np.float64) -> np.ndarray:
        if not hasattr(self, "mean_"):
            raise RuntimeError("this Standardizer is not fitted yet: call fit(X) first")
        X = check_X(X, len(self.mean_))
        return ((X - self.mean_) / self.scale_).astype(dtype, copy=False)

    def fit_transform(self, X) -> np.ndarray:
        return self.fit(X).transform(X)

    def inverse_transform(self, Z) -> np.ndarray:
        return np.asarray(Z) * self.scale_ + self.mean_

    def state(self) -> dict[str, np.ndarray]:
        return {"mean_": self.mean_, "scale_": self.scale_}

    @classmethod
    def from_state(cls, state) -> "Standardizer":
        scaler = cls()
        scaler.mean_ = np.asarray(state["mean_"], dtype=np.float64)
        scaler.scale_ = np.asarray(state["scale_"], dtype=np.float64)
        return scaler

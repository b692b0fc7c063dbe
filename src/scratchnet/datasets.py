"""Datasets, all offline: generated (moons, circles, blobs, spirals), scikit-learn's
bundled digits and iris, a user's CSV file, and a feature scaler.

Each loader returns ``X`` (N, F) float64 and ``y`` (N,). Generators take ``seed``:
an int, a SeedSequence, a ``numpy.random.Generator`` or None.
"""
from __future__ import annotations

import csv
import math
import os

import numpy as np

from .data import as_generator, check_X


def _sklearn_seed(seed) -> int:
    """scikit-learn's generators want an int: draw one from our seed."""
    return int(as_generator(seed).integers(2**31))


def moons(n_samples=1000, noise=0.1, seed=None):
    """Two interleaving half circles (``sklearn.datasets.make_moons``); 2 classes."""
    from sklearn.datasets import make_moons

    return make_moons(n_samples=n_samples, noise=noise, random_state=_sklearn_seed(seed))


def circles(n_samples=1000, noise=0.05, factor=0.5, seed=None):
    """A small circle inside a large one (``make_circles``); 2 classes."""
    from sklearn.datasets import make_circles

    return make_circles(n_samples=n_samples, noise=noise, factor=factor,
                        random_state=_sklearn_seed(seed))


def blobs(n_samples=1000, centers=3, n_features=2, cluster_std=1.0, seed=None):
    """Isotropic Gaussian clusters (``make_blobs``); one class per center."""
    from sklearn.datasets import make_blobs

    return make_blobs(n_samples=n_samples, centers=centers, n_features=n_features,
                      cluster_std=cluster_std, random_state=_sklearn_seed(seed))


def spirals(n_samples=1000, n_classes=3, turns=1.0, noise=0.2, seed=None):
    """``n_classes`` interleaved spiral arms in 2-D, one class per arm.

    Arm k at position t in [0, 1]: radius t, angle 2 pi (turns * t + k / n_classes),
    plus Gaussian noise of std ``noise * t`` on the angle (the arms blur outwards).
    """
    rng = as_generator(seed)
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes!r}")
    y = np.arange(n_samples) % n_classes
    t = rng.uniform(0.05, 1.0, n_samples)
    angle = 2 * math.pi * (turns * t + y / n_classes) + noise * t * rng.standard_normal(n_samples)
    X = np.column_stack([t * np.cos(angle), t * np.sin(angle)])
    return X, y


def digits():
    """8x8 images of handwritten digits (1797, 64), pixel values 0..16; 10 classes."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data.astype(np.float64), data.target


def iris():
    """Fisher's iris (150, 4); 3 classes."""
    from sklearn.datasets import load_iris

    data = load_iris()
    return data.data.astype(np.float64), data.target


LOADERS = {"moons": moons, "circles": circles, "blobs": blobs, "spirals": spirals,
           "digits": digits, "iris": iris}


def load(name: str, **kwargs):
    """Any of the datasets above by name: ``load("spirals", seed=0)``."""
    if name not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(sorted(LOADERS))}")
    return LOADERS[name](**kwargs)


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


def read_csv(path, target: str, features=None, regression: bool = False, delimiter=","):
    """Read a CSV file with a header row: numeric feature columns and a named target.

    Args:
        path: file path.
        target: name of the target column.
        features: names of the feature columns; default all columns but the target.
        regression: parse the target as numbers and refuse missing values (NaN);
            otherwise targets are class labels, kept as strings unless all are numbers.

    Returns X (N, F) float64, y (N,), and the feature names (list of str).
    Errors name the column (and the line) at fault.
    """
    path = os.fspath(path)
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter=delimiter))
    if not rows:
        raise ValueError(f"{path} is empty: expected a header row")
    header = [h.strip() for h in rows[0]]
    body = [r for r in rows[1:] if any(cell.strip() for cell in r)]
    if target not in header:
        raise ValueError(f"target column {target!r} is not in {path}; its columns are {header}")
    if features is None:
        features = [h for h in header if h != target]
    missing = [c for c in features if c not in header]
    if missing:
        raise ValueError(f"feature columns {missing} are not in {path}; its columns are {header}")
    if not features:
        raise ValueError(f"{path} has no feature columns besides the target {target!r}")
    if not body:
        raise ValueError(f"{path} has a header but no data rows")
    for line, r in enumerate(body, start=2):
        if len(r) != len(header):
            raise ValueError(f"{path} line {line}: {len(r)} fields, but the header has {len(header)}")
    cols = {name: [r[header.index(name)].strip() for r in body] for name in header}
    X = np.column_stack([_numeric(cols[name], name, path) for name in features])
    if not np.isfinite(X).all():
        bad = features[int(np.argwhere(~np.isfinite(X))[0, 1])]
        raise ValueError(f"feature column {bad!r} in {path} has missing or infinite values")
    labels = cols[target]
    if regression:
        y = _numeric(labels, target, path)
        if np.isnan(y).any():
            line = int(np.argmax(np.isnan(y))) + 2
            raise ValueError(f"regression target {target!r} in {path} has a missing value "
                             f"(NaN) at line {line}; drop or fill those rows before training")
    else:
        if any(v == "" for v in labels):
            raise ValueError(f"target column {target!r} in {path} has empty labels")
        try:
            y = np.array([float(v) for v in labels])
            if np.all(y == np.round(y)):
                y = y.astype(np.int64)
        except ValueError:
            y = np.array(labels)
    return X, y, list(features)


def _numeric(values, name, path) -> np.ndarray:
    out = np.empty(len(values))
    for i, v in enumerate(values):
        try:
            out[i] = float(v) if v not in ("", "NA", "nan", "NaN") else np.nan
        except ValueError:
            raise ValueError(f"column {name!r} in {path} is not numeric: {v!r} at line {i + 2}") from None
    return out

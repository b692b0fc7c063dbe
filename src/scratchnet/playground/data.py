"""The playground's data and the few library calls a replay script needs.

NumPy and scikit-learn only (no web server): a replay script downloaded from the
playground imports ``make_dataset``, ``prepare`` and ``batch`` from here.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from .. import datasets
from ..preprocessing import LabelEncoder, Standardizer

DATASETS = ("moons", "circles", "xor", "blobs", "spirals", "regression")
MAX_POINTS = 100_000  # generated, uploaded or clicked, all together
MAX_UPLOAD_BYTES = 10 * 1024 * 1024


def make_dataset(name: str, n: int = 5000, noise: float = 0.1, seed: int = 42,
                 train_fraction: float = 0.75, classes: int = 2):
    """Generate a dataset and split it: X_train (N_train, 2), y_train (N_train,),
    X_test, y_test. Labels are class indices 0..classes-1, or numbers for "regression".

    moons with n=5000, noise=0.1, seed=42 and train_fraction=0.75 is the tutorial's
    data and split exactly (``scratchnet.datasets.tutorial_moons``). Every set comes
    from ``scratchnet.datasets``; regression is its ``surface``."""
    from sklearn.model_selection import train_test_split

    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    if name == "moons":
        X, y = datasets.moons(n, noise=noise, random_state=seed)
    elif name == "circles":
        X, y = datasets.circles(n, noise=noise, factor=0.5, random_state=seed)
    elif name == "xor":
        X, y = datasets.xor(n, noise=noise, seed=seed)
    elif name == "blobs":
        X, y = datasets.blobs(n, centers=classes, cluster_std=0.3 + 3 * noise, center_box=(-4, 4),
                              random_state=seed)
    elif name == "spirals":
        X, y = datasets.spirals(n, n_classes=classes, turns=1.0, noise=2 * noise, seed=seed)
    else:
        X, y = datasets.surface(n, noise=noise, seed=seed)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=1 - train_fraction, random_state=seed)
    return X_train, y_train, X_test, y_test


def read_upload(text: str, x1: str | None = None, x2: str | None = None,
                label: str | None = None, filename: str = "upload.csv"):
    """An uploaded CSV as (X (N, 2), labels (N,), header, task): two numeric feature
    columns and a label column by name (default: the first two columns and the last).
    task is "classification" (at most 10 distinct labels, any values) or
    "regression" (numeric labels with more distinct values). Errors name the problem."""
    if not isinstance(text, str):
        raise ValueError("the upload must be the text of a CSV file")
    if len(text.encode("utf-8", "replace")) > MAX_UPLOAD_BYTES:
        raise ValueError(f"{filename} is larger than the upload limit of "
                         f"{MAX_UPLOAD_BYTES // 2**20} MB")
    if "\x00" in text:
        raise ValueError(f"{filename} is not a CSV file (it holds binary data)")
    first = text.split("\n", 1)[0]
    header = [h.strip() for h in first.split(",")]
    if len(header) < 3:
        raise ValueError(f"{filename} needs a header row with at least 3 columns (two features "
                         f"and a label); its first line has {len(header)}")
    x1, x2, label = x1 or header[0], x2 or header[1], label or header[-1]
    if len({x1, x2, label}) < 3:
        raise ValueError("choose three different columns: two features and the label")
    if text.count("\n") > MAX_POINTS + 1:
        raise ValueError(f"{filename} has more than {MAX_POINTS:,} rows, the upload limit")
    # the library's CSV reader, for its messages naming line and column
    fd, path = tempfile.mkstemp(suffix=".csv")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        X, labels, _ = datasets.read_csv(path, target=label, features=[x1, x2])
    except ValueError as e:
        raise ValueError(str(e).replace(path, filename)) from None
    finally:
        os.unlink(path)
    if len(X) < 4:
        raise ValueError(f"{filename} has {len(X)} data rows; the playground needs at least 4")
    distinct = np.unique(labels)
    numeric = labels.dtype.kind in "iuf"
    if len(distinct) <= 10:
        task = "classification"
    elif numeric:
        task = "regression"
    else:
        raise ValueError(f"the label column {label!r} has {len(distinct)} distinct values: "
                         f"the playground shows at most 10 classes")
    return X, labels, header, task


def split(X, labels, train_fraction: float, seed: int):
    """Random train/test split of uploaded data (at least one row on each side)."""
    order = np.random.default_rng(seed).permutation(len(X))
    n_train = min(max(int(round(len(X) * train_fraction)), 1), len(X) - 1)
    tr, te = order[:n_train], order[n_train:]
    return X[tr], labels[tr], X[te], labels[te]


def prepare(model, X_train, classes=None):
    """Build ``model`` for (x1, x2) inputs before its first ``fit``, so its untrained
    state can be shown and stepped: the label encoder over ``classes`` (the class
    values; None for a regressor) and, for a ``scale=True`` model, its scaler fitted
    on ``X_train``. ``fit`` keeps all three, exactly as if it had made them."""
    if classes is None:
        model.n_targets_ = 1
    else:
        model.encoder = LabelEncoder().fit(np.asarray(classes))
    if model.scale:
        model.scaler = Standardizer().fit(X_train)
    model.build(2)
    return model


def batch(model, X_train, y_train, batch_size: int):
    """The minibatch "step one batch" trains on: ``batch_size`` rows drawn with the
    model's own shuffle stream (so a replay draws the same rows). Returns
    (xb (B, 2) as the network takes it, yb (B, C) targets as the loss takes them)."""
    rows = model.shuffle_rng.permutation(len(X_train))[:batch_size]
    xb = model.scaled(np.ascontiguousarray(X_train[rows], dtype=model.dtype))
    return xb, targets(model, y_train[rows])


def targets(model, labels) -> np.ndarray:
    """Labels -> what the loss takes (one-hot rows, a 0/1 column or values), as ``fit`` makes them."""
    return model.encode_targets(labels, len(labels))[0]

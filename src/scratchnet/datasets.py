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


MNIST1D_TRAIN = 4000  # load("mnist1d"): the first 4,000 rows are the standard training split


def mnist1d(seed=42, length=40, shift=48, noise=0.25, iid_noise=0.02, shear=0.75,
            scale=0.4, n_samples=5000, shuffle_seq=False, cache=True):
    """MNIST-1D (Greydanus & Kobak, "Scaling down deep learning"): 10 classes of
    1-D digit templates, padded, scaled, translated, sheared and noised, then
    resampled to ``length`` points and standardised. X (n_samples, length), y (n_samples,).

    The first 80% of the rows (4,000 with the defaults, ``MNIST1D_TRAIN``) are the
    paper's training split, the rest its test split. The defaults are the paper's
    dataset; ``shift`` is the largest translation (in steps of the padded signal),
    ``noise`` the scale of the correlated background noise, ``iid_noise`` that of the
    white noise, ``shear``/``scale`` the random slope and amplitude ranges.

    Generated offline by the ``mnist1d`` package (``make_dataset`` only: never its
    download or pickle paths), which seeds NumPy's and ``random``'s global states:
    both are restored afterwards. Cached as ``.npz`` in ``$XDG_CACHE_HOME/scratchnet/``
    (default ``~/.cache/scratchnet/``), one file per set of generation arguments.
    """
    import hashlib
    import json
    import random

    from .extras import need
    from .io import atomic_write

    gen = need("mnist1d.data", "mnist1d")
    args = {"seed": seed, "final_seq_length": length, "max_translation": shift,
            "corr_noise_scale": noise, "iid_noise_scale": iid_noise, "shear_scale": shear,
            "scale_coeff": scale, "num_samples": n_samples, "shuffle_seq": shuffle_seq}
    for name, value in args.items():
        kind = bool if name == "shuffle_seq" else int if name in (
            "seed", "final_seq_length", "max_translation", "num_samples") else float
        ok = isinstance(value, (bool, np.bool_)) if kind is bool else (
            not isinstance(value, bool) and isinstance(value, (int, np.integer) if kind is int
                                                       else (int, float, np.integer, np.floating)))
        if not ok or (kind is not bool and not (np.isfinite(value) and value >= 0)):
            raise ValueError(f"mnist1d {name} must be a{' boolean' if kind is bool else ' number >= 0'}"
                             f"{' (integer)' if kind is int else ''}, got {value!r}")
        args[name] = kind(value)
    if args["final_seq_length"] < 2 or args["num_samples"] < 10 or args["max_translation"] < 1:
        raise ValueError(f"mnist1d needs length >= 2, n_samples >= 10 and shift >= 1, got "
                         f"{length}, {n_samples}, {shift}")
    import importlib.metadata

    version = importlib.metadata.version("mnist1d")
    key = hashlib.sha256(json.dumps([version, args], sort_keys=True).encode()).hexdigest()[:16]
    folder = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                          "scratchnet")
    path = os.path.join(folder, f"mnist1d-{key}.npz")
    if cache and os.path.isfile(path):
        try:
            with np.load(path, allow_pickle=False) as data:
                return data["X"], data["y"]
        except (OSError, ValueError, KeyError, EOFError):
            pass  # a damaged cache file: generate it again
    spec = gen.get_dataset_args()
    for name, value in args.items():
        setattr(spec, name, value)
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        dataset = gen.make_dataset(spec)
    finally:  # make_dataset seeds the global generators: give them back as they were
        np.random.set_state(np_state)
        random.setstate(py_state)
    X = np.concatenate([dataset["x"], dataset["x_test"]]).astype(np.float64)
    y = np.concatenate([dataset["y"], dataset["y_test"]]).astype(np.int64)
    if cache:
        os.makedirs(folder, exist_ok=True)
        atomic_write(path, lambda f: np.savez(f, X=X, y=y))
    return X, y


LOADERS = {"moons": moons, "circles": circles, "blobs": blobs, "spirals": spirals,
           "digits": digits, "iris": iris, "mnist1d": mnist1d}


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


def read_csv(path, target: str | None = None, features=None, regression: bool = False,
             delimiter: str = ","):
    """Read a CSV file with a header row: numeric feature columns and a named target.

    Args:
        path: file path.
        target: name of the target column, or None for features only (prediction).
        features: names of the feature columns, in that order; default all but the target.
        regression: parse the target as numbers and refuse missing values (NaN);
            otherwise targets are class labels that keep their values: ints, else
            floats, else strings.

    Returns X (N, F) float64, y (N,) (None without a target), and the feature names.
    Errors name the file, the line and the column at fault.
    """
    path = os.fspath(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f, delimiter=delimiter))
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {path}") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{path} is not a readable CSV file: {e}") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ValueError(f"{path} is empty: expected a header row and data rows")
    header = [name.strip() for name in rows[0]]
    body = [(i + 2, row) for i, row in enumerate(rows[1:]) if any(cell.strip() for cell in row)]
    if not body:
        raise ValueError(f"{path} has a header but no data rows")
    if target is not None and target not in header:
        raise ValueError(f"{path} has no column {target!r}; its columns are: {', '.join(header)}")
    features = [name for name in header if name != target] if features is None else list(features)
    missing = [name for name in features if name not in header]
    if missing:
        raise ValueError(f"{path} lacks the feature column(s) {', '.join(missing)}; "
                         f"its columns are: {', '.join(header)}")
    if not features:
        raise ValueError(f"{path} has no feature columns besides the target {target!r}")
    columns = [header.index(name) for name in features]
    X = np.empty((len(body), len(columns)))
    for r, (line, row) in enumerate(body):
        if len(row) != len(header):
            raise ValueError(f"{path} line {line} has {len(row)} fields, the header has {len(header)}")
        for c, col in enumerate(columns):
            if not row[col].strip():
                raise ValueError(f"{path} line {line}: column {header[col]!r} is empty (a missing "
                                 f"value); fill or drop such rows first")
            try:
                X[r, c] = float(row[col])
            except ValueError:
                raise ValueError(f"{path} line {line}: column {header[col]!r} has the non-numeric "
                                 f"value {row[col]!r}") from None
    if not np.isfinite(X).all():
        r, c = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(f"{path} line {body[r][0]}: column {features[c]!r} is not finite")
    if target is None:
        return X, None, features
    values = [row[header.index(target)].strip() for _, row in body]
    return X, _parse_target(values, [line for line, _ in body], path, target, regression), features


def _parse_target(values, lines, path, target, regression):
    for value, line in zip(values, lines):
        if value == "" or (regression and value.lower() in ("nan", "na")):
            what = "regression target" if regression else "target column"
            raise ValueError(f"{path} line {line}: the {what} {target!r} is missing (NaN); "
                             f"drop or fill such rows before training")
    for kind in (float,) if regression else (int, float):
        try:
            return np.array([kind(v) for v in values])
        except ValueError:
            if regression:
                bad = next(v for v in values if not _is_number(v))
                raise ValueError(f"{path}: the regression target {target!r} has the "
                                 f"non-numeric value {bad!r}") from None
    return np.array(values)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False

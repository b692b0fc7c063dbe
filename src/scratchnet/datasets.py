"""Datasets, all offline and all here: generated (moons, circles, blobs, spirals, xor,
surface), scikit-learn's bundled digits and iris, MNIST-1D, the tutorial's moons and
split (``tutorial_moons``), the command line's built-in names at their fixed sizes
(``builtin``), and a user's CSV or Parquet file (``read_table``).

Each loader returns ``X`` (N, F) float64 and ``y`` (N,). Generators take ``seed``:
an int, a SeedSequence, a ``numpy.random.Generator`` or None. ``Standardizer`` lives
in ``scratchnet.preprocessing``; it is imported here too, its old home.
"""
from __future__ import annotations

import csv
import math
import os
from typing import NamedTuple

import numpy as np

from .preprocessing import Standardizer  # noqa: F401  (its old import path)
from .validation import check_number


def as_generator(seed) -> np.random.Generator:
    """A Generator from a seed, a SeedSequence, or a Generator (returned as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _sklearn_seed(seed, random_state=None) -> int:
    """scikit-learn's generators want an int: ``random_state`` as given, else one
    drawn from our seed."""
    if random_state is None:
        return int(as_generator(seed).integers(2**31))
    if seed is not None:
        raise ValueError("give seed or random_state, not both")
    return random_state


# The scikit-learn generators take ``random_state`` too: scikit-learn's own seed, used
# as is instead of one drawn from ``seed``, for its exact data (the tutorial's moons:
# ``moons(5000, noise=0.1, random_state=42)`` is ``make_moons``'s with random_state=42).
def moons(n_samples=1000, noise=0.1, seed=None, random_state=None):
    """Two interleaving half circles (``sklearn.datasets.make_moons``); 2 classes."""
    from sklearn.datasets import make_moons

    return make_moons(n_samples=n_samples, noise=noise,
                      random_state=_sklearn_seed(seed, random_state))


def circles(n_samples=1000, noise=0.05, factor=0.5, seed=None, random_state=None):
    """A small circle inside a large one (``make_circles``); 2 classes."""
    from sklearn.datasets import make_circles

    return make_circles(n_samples=n_samples, noise=noise, factor=factor,
                        random_state=_sklearn_seed(seed, random_state))


def blobs(n_samples=1000, centers=3, n_features=2, cluster_std=1.0, center_box=(-10.0, 10.0),
          seed=None, random_state=None):
    """Isotropic Gaussian clusters (``make_blobs``), centers drawn in ``center_box``;
    one class per center."""
    from sklearn.datasets import make_blobs

    return make_blobs(n_samples=n_samples, centers=centers, n_features=n_features,
                      cluster_std=cluster_std, center_box=center_box,
                      random_state=_sklearn_seed(seed, random_state))


def spirals(n_samples=1000, n_classes=3, turns=1.0, noise=0.2, seed=None):
    """``n_classes`` interleaved spiral arms in 2-D, one class per arm.

    Arm k at position t in [0, 1]: radius t, angle 2 pi (turns * t + k / n_classes),
    plus Gaussian noise of std ``noise * t`` on the angle (the arms blur outwards).
    """
    rng = as_generator(seed)
    check_number("n_classes", n_classes, integer=True, low=2)
    y = np.arange(n_samples) % n_classes
    t = rng.uniform(0.05, 1.0, n_samples)
    angle = 2 * math.pi * (turns * t + y / n_classes) + noise * t * rng.standard_normal(n_samples)
    X = np.column_stack([t * np.cos(angle), t * np.sin(angle)])
    return X, y


def xor(n_samples=1000, noise=0.1, seed=None):
    """Points uniform in the square [-1, 1]^2, labelled by the sign of x1 * x2 (class 1
    where they agree), then jittered by Gaussian noise of std ``noise``; 2 classes."""
    rng = as_generator(seed)
    X = rng.uniform(-1, 1, (n_samples, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    X += noise * rng.standard_normal((n_samples, 2))
    return X, y


def surface(n_samples=1000, noise=0.1, seed=None):
    """Regression: a smooth surface ``sin(pi x1) cos(pi x2 / 2)`` over the square
    [-1, 1]^2 plus Gaussian noise of std ``noise``; y (N,) float64."""
    rng = as_generator(seed)
    X = rng.uniform(-1, 1, (n_samples, 2))
    y = np.sin(math.pi * X[:, 0]) * np.cos(math.pi * X[:, 1] / 2) + noise * rng.standard_normal(n_samples)
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
    import importlib.metadata
    import json
    import random

    from .extras import need
    from .io import atomic_write

    for name, value in {"seed": seed, "length": length, "shift": shift, "n_samples": n_samples}.items():
        check_number(f"mnist1d {name}", value, integer=True, low=0, say_kind=True, type_error=False)
    for name, value in {"noise": noise, "iid_noise": iid_noise, "shear": shear, "scale": scale}.items():
        check_number(f"mnist1d {name}", value, low=0, say_kind=True, type_error=False)
    if length < 2 or n_samples < 10 or shift < 1:
        raise ValueError(f"mnist1d needs length >= 2, n_samples >= 10 and shift >= 1, got "
                         f"length={length}, n_samples={n_samples}, shift={shift}")
    args = {"seed": int(seed), "final_seq_length": int(length), "max_translation": int(shift),
            "corr_noise_scale": float(noise), "iid_noise_scale": float(iid_noise),
            "shear_scale": float(shear), "scale_coeff": float(scale),
            "num_samples": int(n_samples), "shuffle_seq": bool(shuffle_seq)}
    try:  # the generator's version is part of the key; a cache hit imports nothing
        version = importlib.metadata.version("mnist1d")
    except importlib.metadata.PackageNotFoundError:
        need("mnist1d.data", "mnist1d")  # raises, naming the extra, when it is missing
        version = "unknown"
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
    gen = need("mnist1d.data", "mnist1d")
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


LOADERS = {"moons": moons, "circles": circles, "blobs": blobs, "spirals": spirals, "xor": xor,
           "surface": surface, "digits": digits, "iris": iris, "mnist1d": mnist1d}


def load(name: str, **kwargs):
    """Any of the datasets above by name: ``load("spirals", seed=0)``."""
    if name not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(sorted(LOADERS))}")
    return LOADERS[name](**kwargs)


def tutorial_moons():
    """The tutorial's data, exactly: ``make_moons(5000, noise=0.1, random_state=42)``
    split by ``train_test_split(random_state=42)``.

    Returns X_train (3750, 2), X_test (1250, 2), y_train (3750,), y_test (1250,).
    Read from the copy shipped in the package (``resources/tutorial_moons.npz``, 80 KB,
    written by those two calls; ``tests/test_datasets.py`` holds it to them bit for
    bit): importing scikit-learn to regenerate it takes two seconds here, twenty
    times a sweep's own startup.
    """
    from importlib.resources import files

    with np.load(files(__package__).joinpath("resources", "tutorial_moons.npz")) as f:
        return [f[name] for name in ("X_train", "X_test", "y_train", "y_test")]


BUILTIN = ("moons", "circles", "spirals", "digits", "iris", "mnist1d")  # scratchnet train --data NAME
UNSCALED = ("moons", "mnist1d")  # fed as they are: the tutorial's raw data; MNIST-1D, standardised
_BUILTIN_ARGS = {"circles": {"n_samples": 2000, "seed": 42}, "spirals": {"n_samples": 2000, "seed": 42}}


def builtin(name: str, test_size: float = 0.25, split_seed: int = 42):
    """A built-in dataset (``BUILTIN``), split: X_train, X_test, y_train, y_test.

    A name always means the same rows: moons is the tutorial's data and split
    (``tutorial_moons``) and mnist1d its standard split (the first ``MNIST1D_TRAIN``
    rows train), whatever ``test_size``; circles and spirals are 2,000 rows of seed 42,
    digits and iris as bundled, split by ``train_test_split(test_size=test_size,
    random_state=split_seed)``."""
    if name not in BUILTIN:
        raise ValueError(f"unknown built-in dataset {name!r}; valid: {', '.join(BUILTIN)}")
    if name == "moons":
        return tutorial_moons()
    X, y = load(name, **_BUILTIN_ARGS.get(name, {}))
    if name == "mnist1d":
        return X[:MNIST1D_TRAIN], X[MNIST1D_TRAIN:], y[:MNIST1D_TRAIN], y[MNIST1D_TRAIN:]
    from sklearn.model_selection import train_test_split

    return train_test_split(X, y, test_size=test_size, random_state=split_seed)


# -- data files: CSV and Parquet ------------------------------------------------------
CHUNK_ROWS = 65_536  # rows per chunk when reading a file in pieces
PARQUET_SUFFIXES = (".parquet", ".pq")
# A CSV file is read in byte ranges of about this size, a thread per core taking the
# next one, each range by its own C reader writing straight into X (_CsvSource._read_parts).
_PART_BYTES = 8 << 20


class Chunk(NamedTuple):
    """Rows ``start .. start + len(X) - 1`` of a data file (counted from 0, the
    first data row): X (n, F) float64 and y (n,), or None without a target."""
    X: np.ndarray
    y: np.ndarray | None
    start: int


def is_parquet(path) -> bool:
    return os.fspath(path).lower().endswith(PARQUET_SUFFIXES)


def read_table(path, target: str | None = None, features=None, regression: bool = False,
               delimiter: str = ",", *, chunk_rows: int | None = None, start_row: int = 0,
               labels=None):
    """Read a CSV file with a header row, or a Parquet file (by its suffix, .parquet
    or .pq): numeric feature columns and a named target. pyarrow's C readers do the
    parsing.

    Args:
        path: file path.
        target: name of the target column, or None for features only (prediction).
        features: names of the feature columns, in that order; default all but the target.
        regression: parse the target as numbers and refuse missing values (NaN);
            otherwise targets are class labels that keep their values: ints, else
            floats, else strings (decided over the whole file, or per chunk).
        delimiter: the CSV field separator.
        chunk_rows: None to read the whole file; N to read it in chunks of N rows.
        start_row: with ``chunk_rows``, the first data row to read (counted from 0).
        labels: ``str`` keeps class labels as the text in the file (stripped);
            ``int`` or ``float`` converts them; None decides as said above.

    Returns X (N, F) float64, y (N,) (None without a target) and the feature names;
    with ``chunk_rows``, a ``Chunks`` iterable of ``Chunk(X, y, start)`` instead, whose
    ``features`` are the names (the header is checked at once, the rows as they come).

    Errors (ValueError) name the file, the row and the column at fault: CSV lines
    are counted from 1 with the header as line 1; Parquet rows from 1, the first data row.
    """
    path = os.fspath(path)
    source = _ParquetSource(path) if is_parquet(path) else _CsvSource(path, delimiter)
    names = source.columns
    if target is not None and target not in names:
        raise ValueError(f"{path} has no column {target!r}; its columns are: {', '.join(names)}")
    features = [name for name in names if name != target] if features is None else list(features)
    missing = [name for name in features if name not in names]
    if missing:
        raise ValueError(f"{path} lacks the feature column(s) {', '.join(missing)}; "
                         f"its columns are: {', '.join(names)}")
    if not features:
        raise ValueError(f"{path} has no feature columns besides the target {target!r}")
    if labels not in (None, str, int, float):
        raise ValueError(f"labels must be None, str, int or float, got {labels!r}")
    spec = _Spec(path, features, target, regression, labels)
    if chunk_rows is None:
        X, y = source.read_all(spec)
        return X, y, features
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)) or chunk_rows < 1:
        raise ValueError(f"chunk_rows must be an integer >= 1, got {chunk_rows!r}")
    if isinstance(start_row, bool) or not isinstance(start_row, (int, np.integer)) or start_row < 0:
        raise ValueError(f"start_row must be an integer >= 0, got {start_row!r}")
    return Chunks(features, lambda: source.chunks(spec, int(chunk_rows), int(start_row)))


def read_csv(path, target: str | None = None, features=None, regression: bool = False,
             delimiter: str = ",", **kwargs):
    """``read_table`` under the name it had before it read Parquet too."""
    return read_table(path, target, features, regression, delimiter, **kwargs)


class Chunks:
    """The chunks of a data file: iterable (again and again: each pass reads the file
    anew), with the feature names as ``features``."""

    def __init__(self, features, make):
        self.features, self._make = features, make

    def __iter__(self):
        return self._make()


class _Spec(NamedTuple):
    path: str
    features: list
    target: str | None
    regression: bool
    labels: object


def _cores() -> int:
    """How many threads read a CSV file's byte ranges: pyarrow's CPU count (which
    ``pyarrow.set_cpu_count`` sets)."""
    import pyarrow as pa

    return pa.cpu_count()


class _Overflow(Exception):
    """A byte range of a CSV file held more rows than line ends (lone \\r line ends)."""


def _in_threads(work, n, threads, failed):
    """work(0), ..., work(n - 1) on ``threads`` threads (this one among them), each
    taking the next k not yet taken. What a work(k) raises is appended to ``failed``
    as (k, exception), and no thread takes a new k after that."""
    import threading

    taken = iter(range(n))
    lock = threading.Lock()

    def worker():
        while not failed:
            with lock:
                k = next(taken, None)
            if k is None:
                return
            try:
                work(k)
            except BaseException as e:  # noqa: BLE001 (the caller raises it, once all stopped)
                failed.append((k, e))

    others = [threading.Thread(target=worker) for _ in range(threads - 1)]
    for thread in others:
        thread.start()
    worker()
    for thread in others:
        thread.join()


class _Anomaly(Exception):
    """What the fast path will not decide: a missing, non-finite or unparsable value
    at (row within the batch, column name)."""

    def __init__(self, row, column, kind, value=None):
        super().__init__(kind)
        self.row, self.column, self.kind, self.value = row, column, kind, value


def rebatch(batches, chunk_rows, start_row):
    """(X, y) pieces of any sizes -> Chunks of exactly ``chunk_rows`` rows (the last may
    be smaller), the first ``start_row`` rows dropped. No array is kept a moment longer
    than needed: a stream's memory is one or two chunks, whatever the file's length."""
    pending, n_pending, row = [], 0, 0
    for X, y in batches:
        if row + len(X) <= start_row:
            row += len(X)
            continue
        if row < start_row:
            X, y = X[start_row - row:], None if y is None else y[start_row - row:]
            row = start_row
        pending.append((X, y))
        n_pending += len(X)
        del X, y
        while n_pending >= chunk_rows:
            X_all, y_all = _joined(pending)
            head = Chunk(X_all[:chunk_rows], None if y_all is None else y_all[:chunk_rows], row)
            n_pending -= chunk_rows
            pending = [(X_all[chunk_rows:], None if y_all is None else y_all[chunk_rows:])] \
                if n_pending else []
            del X_all, y_all
            row += chunk_rows
            yield head
            del head
    if n_pending:
        X_all, y_all = _joined(pending)
        pending = []
        yield Chunk(X_all, y_all, row)


def _joined(pieces):
    if len(pieces) == 1:
        return pieces[0]
    X = np.concatenate([X for X, _ in pieces])
    ys = [y for _, y in pieces]
    return X, None if ys[0] is None else np.concatenate(ys)


def _matrix(columns, names, n) -> np.ndarray:
    """pyarrow float64 columns -> X (n, F) float64, C order, filled one block of rows at
    a time (cache-friendly) and each block's arrays released once copied (``columns``
    is emptied), so the peak is about the table or X, not both. Raises _Anomaly at the
    first missing or non-finite value."""
    for column, name in zip(columns, names):
        if column.null_count:
            raise _Anomaly(_first_null(column), name, "missing")
    pieces = [list(getattr(column, "chunks", [column])) for column in columns]
    columns.clear()
    sizes = [len(piece) for piece in pieces[0]]
    if any([len(piece) for piece in column] != sizes for column in pieces):  # unaligned: one block
        pieces = [[_concat(column)] for column in pieces]
        sizes = [n]
    X = np.empty((n, len(names)))
    offset = 0
    for b, size in enumerate(sizes):
        block = X[offset:offset + size]
        for j, column in enumerate(pieces):
            block[:, j] = _values(column[b])
            column[b] = None
        offset += size
    if not np.isfinite(X).all():
        r, c = np.argwhere(~np.isfinite(X))[0]
        raise _Anomaly(int(r), names[c], "not finite")
    return X


def _values(column) -> np.ndarray:
    """A pyarrow integer or float column (an array, or chunks) without nulls as NumPy
    values: views of its data buffers, joined into one new array where there are
    several chunks. pyarrow's ``to_numpy`` costs about 60 µs a chunk on its first call
    (0.5 s of a million-row CSV's 7,540 feature chunks, 0.5 s more for its labels);
    a view, 2 µs."""
    chunks = getattr(column, "chunks", [column])
    dtype = np.dtype(column.type.to_pandas_dtype())
    views = [np.frombuffer(c.buffers()[1], dtype, len(c), c.offset * dtype.itemsize) for c in chunks]
    return views[0] if len(views) == 1 else np.concatenate(views) if views else np.empty(0, dtype)


def _first_null(column) -> int:
    """The row of a column's first missing value."""
    import pyarrow.compute as pc

    return pc.index(column.is_null(), True).as_py()


def _concat(arrays):
    import pyarrow as pa

    return pa.concat_arrays(arrays) if len(arrays) != 1 else arrays[0]


def _label_array(column, spec):
    """A pyarrow column of class labels or regression targets -> (N,) array, parsed as
    the reference reader parses them (ints, else floats, else strings, unless
    ``spec.labels`` says which), or raises _Anomaly. Text is parsed once per distinct value."""
    import pyarrow as pa

    if column.null_count:
        raise _Anomaly(_first_null(column), spec.target, "missing label")
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        import pyarrow.compute as pc  # (0.1 s to import: only where text is parsed)

        encoded = pc.dictionary_encode(pc.utf8_trim_whitespace(column))
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        uniques = encoded.dictionary.to_pylist()
        missing = [v for v in uniques if v == "" or (spec.regression and v.lower() in ("nan", "na"))]
        if missing:
            raise _Anomaly(None, spec.target, "missing label", missing[0])
        kinds = (float,) if spec.regression else (spec.labels,) if spec.labels else (int, float)
        values = None
        for kind in kinds:
            if kind is str:
                values = np.array(uniques)
                break
            try:
                values = np.array([kind(v) for v in uniques])
                break
            except ValueError:
                continue
        if values is None:
            if spec.regression or spec.labels:
                raise _Anomaly(None, spec.target, "label type")
            values = np.array(uniques)
        return values[encoded.indices.to_numpy(zero_copy_only=False)]
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
            or pa.types.is_boolean(column.type)):
        raise _Anomaly(None, spec.target, "label type")
    if pa.types.is_boolean(column.type):  # bits, not a buffer of values
        y = column.to_numpy(zero_copy_only=False)
    else:
        y = _values(column)
        if not y.flags.writeable:  # a view of Arrow's buffer: the caller gets its own copy
            y = y.copy()
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise _Anomaly(int(np.argmax(np.isnan(y))), spec.target, "missing label")
    if spec.labels is not None and not spec.regression:
        return y.astype(spec.labels)
    return y


class _CsvSource:
    """A CSV file: pyarrow's C reader for the numbers; for anything it would not decide
    exactly as Python's ``csv`` and ``float`` do (missing or non-finite values, text,
    ragged rows, blank-looking rows, encoding errors), the reference reader below takes
    over from the first row not yet returned, and raises or reads what the reference
    reader always did."""

    def __init__(self, path, delimiter):
        self.path, self.delimiter = path, delimiter
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                reader = csv.reader(f, delimiter=delimiter)
                first = next(reader, None)
                has_rows = any(any(cell.strip() for cell in row) for row in reader)
        except FileNotFoundError:
            raise FileNotFoundError(f"no such file: {path}") from None
        except IsADirectoryError:
            raise IsADirectoryError(f"{path} is a folder, not a data file") from None
        except (UnicodeDecodeError, csv.Error) as e:
            raise ValueError(f"{path} is not a readable CSV file: {e}") from None
        if not first or not any(cell.strip() for cell in first):
            raise ValueError(f"{path} is empty: expected a header row and data rows")
        if not has_rows:
            raise ValueError(f"{path} has a header but no data rows")
        self.columns = [name.strip() for name in first]

    def _options(self, spec, block_size=None, labels_as=None, header=True, use_threads=True):
        """pyarrow's options for the features as float64 and the target as
        ``labels_as`` (default: text, parsed afterwards as the reference reader does);
        ``header=False`` for a byte range that starts past the header line."""
        import pyarrow as pa
        import pyarrow.csv as pcsv

        keys = [f"c{i}" for i in range(len(self.columns))]  # header names may repeat or need stripping
        self.keys = {name: keys[self.columns.index(name)] for name in spec.features}
        wanted = [self.keys[name] for name in spec.features]
        types = dict.fromkeys(wanted, pa.float64())
        if spec.target is not None:
            self.keys[spec.target] = keys[self.columns.index(spec.target)]
            wanted.append(self.keys[spec.target])
            types[self.keys[spec.target]] = labels_as or pa.string()
        read = pcsv.ReadOptions(skip_rows=1 if header else 0, column_names=keys, encoding="utf8",
                                use_threads=use_threads,
                                **({"block_size": block_size} if block_size else {}))
        try:
            parse = pcsv.ParseOptions(delimiter=self.delimiter)
        except ValueError as e:  # not one ASCII character ('§', NUL): the reference reader reads it
            raise pa.ArrowInvalid(str(e)) from None
        convert = pcsv.ConvertOptions(include_columns=wanted, column_types=types, null_values=[""],
                                      strings_can_be_null=False, quoted_strings_can_be_null=True)
        return read, parse, convert

    def _arrays(self, table, spec):
        columns = [table.column(self.keys[name]) for name in spec.features]
        labels = table.column(self.keys[spec.target]) if spec.target is not None else None
        n = table.num_rows
        del table  # the columns alone keep their memory, each released once copied
        X = _matrix(columns, spec.features, n)
        return X, None if labels is None else _label_array(labels, spec)

    def read_all(self, spec):
        import pyarrow as pa
        import pyarrow.csv as pcsv

        # Class labels are most often integers: the C reader parses them as int64 at
        # once (trimming and hashing a million labels as text costs 0.3 s). Where any
        # label is not an integer, the file is read again with the labels as text,
        # which _label_array parses as the reference reader does.
        int_labels = spec.target is not None and not spec.regression and spec.labels in (None, int)
        for labels_as in ([pa.int64()] if int_labels else []) + [pa.string()]:
            try:
                read = self._read_parts(spec, labels_as)
                if read is None:  # a file _read_parts can't split exactly: one table, then X
                    table = pcsv.read_csv(self.path, *self._options(spec, labels_as=labels_as))
            except pa.ArrowException:
                continue
            except _Anomaly:
                break
            try:
                if read is None:
                    return self._arrays(table, spec)
                X, labels = read
                return X, None if labels is None else _label_array(labels, spec)
            except (pa.ArrowException, _Anomaly):
                break
        pieces = list(self._reference(spec, None, 0))
        return pieces[0].X, pieces[0].y

    def _read_parts(self, spec, labels_as):
        """The whole file as (X, the target column or None), or None where it can't be
        read this way exactly (it holds a quote character after the header, so a field
        might span lines; or a range held more rows than line ends).

        The data rows are cut at line ends into byte ranges of about _PART_BYTES, and a
        thread per core takes the next range not yet taken, reads it with its own
        single-threaded streaming C reader over the memory-mapped file and writes its
        rows straight into one preallocated X, batch by batch, while the batch is still
        in the cache. No table of the whole file is built: pyarrow's threaded read_csv
        built one (168 MB of fresh pages for 1,000,000 x 21 numbers) and a second pass
        copied it into X, which cost more than the parsing. Ranges are taken from a
        queue, not dealt out half each, so a thread slowed by other work on its core
        reads fewer of them. Each range's rows start at the row its line ends give it
        (counted first, a byte scan); blank lines, which both readers skip, leave gaps
        that are closed at the end. Raises what the reader raises (pa.ArrowException)
        and _Anomaly at a missing or non-finite value; the caller goes on as it would
        after read_csv."""
        import mmap

        import pyarrow as pa
        import pyarrow.csv as pcsv

        if self.delimiter in ('"', "\n", "\r"):
            return None
        try:
            with open(self.path, "rb") as f:
                data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            return None
        newline = data.find(b"\n")
        return_ = data.find(b"\r", 0, newline if newline >= 0 else len(data))
        end = return_ if return_ >= 0 else newline  # the header line's end
        if end < 0:
            return None
        start = end + (2 if data[end:end + 2] == b"\r\n" else 1)  # the first data row
        # A quote after the first line end: a quoted field might hold a line end (the
        # header's own, too), so cuts at line ends would not be row ends.
        if data.find(b'"', start) >= 0:
            return None
        size = len(data)
        cuts = [start]
        for target in range(start + _PART_BYTES, size, _PART_BYTES):
            if target < cuts[-1]:
                continue
            end = data.find(b"\n", target)
            if end < 0 or end + 1 >= size:
                break
            cuts.append(end + 1)
        cuts.append(size)
        # a BOM at a range's start: pyarrow's reader drops it there, Python's csv keeps it
        if any(data[c:c + 3] == b"\xef\xbb\xbf" for c in cuts[:-1]):
            return None
        ranges = len(cuts) - 1
        threads = max(1, min(_cores(), ranges))
        text = np.frombuffer(data, np.uint8)
        lines = [0] * ranges  # line ends per range: at least its rows, but for lone \r ends

        def count(k):
            lo, hi = cuts[k], cuts[k + 1]
            lines[k] = sum(int(np.count_nonzero(text[i:min(i + (1 << 20), hi)] == 10))
                           for i in range(lo, hi, 1 << 20))
            if k == ranges - 1 and text[-1] != 10:
                lines[k] += 1  # a last row without a line end
            # bytes past ASCII: the reference reader decodes them all, in columns not read too
            if text[lo:hi].max() >= 128:
                try:
                    data[lo:hi].decode()
                except UnicodeDecodeError:
                    raise _Anomaly(None, None, "encoding") from None

        failed = []
        _in_threads(count, ranges, threads, failed)
        if failed:
            raise failed[0][1]
        first = np.concatenate([[0], np.cumsum(lines)]).tolist()
        X = np.empty((first[-1], len(spec.features)))
        labels = [[] for _ in range(ranges)]
        rows = [0] * ranges
        options = self._options(spec, labels_as=labels_as, header=False, use_threads=False)
        keys = [self.keys[name] for name in spec.features]
        target = self.keys[spec.target] if spec.target is not None else None
        buffer = pa.py_buffer(data)

        def read(k):
            row, limit = first[k], first[k + 1]
            reader = pcsv.open_csv(pa.BufferReader(buffer.slice(cuts[k], cuts[k + 1] - cuts[k])),
                                   *options)
            # closed however the loop ends: a reader left open at a refused value keeps
            # Arrow's read-ahead thread, which can abort the process at its exit
            with reader:
                for batch in reader:
                    if failed:
                        return
                    n = batch.num_rows
                    if row + n > limit:
                        raise _Overflow()
                    block = X[row:row + n]
                    for j, key in enumerate(keys):
                        column = batch.column(key)
                        if column.null_count:
                            raise _Anomaly(None, spec.features[j], "missing")
                        block[:, j] = _values(column)
                    if not np.isfinite(block).all():
                        raise _Anomaly(None, None, "not finite")
                    if target is not None:
                        labels[k].append(batch.column(target))
                    row += n
                    del batch, block
            rows[k] = row - first[k]

        _in_threads(read, ranges, threads, failed)
        del buffer, text
        if failed:
            errors = [e for _, e in sorted(failed, key=lambda f: f[0])]
            # as after read_csv: a value the reader refuses first; then a range that
            # overflowed (read_csv reads the file); then a missing or non-finite value
            for kind in (pa.ArrowException, _Overflow, BaseException):
                for e in errors:
                    if isinstance(e, kind):
                        if isinstance(e, _Overflow):
                            return None
                        raise e
        n = sum(rows)
        if n < first[-1]:  # blank lines: move each range's rows up to the one before
            row = rows[0]
            for k in range(1, ranges):
                X[row:row + rows[k]] = X[first[k]:first[k] + rows[k]]
                row += rows[k]
            X = X[:n].copy()
        if target is None:
            return X, None
        return X, pa.chunked_array([c for part in labels for c in part], type=labels_as)

    def chunks(self, spec, chunk_rows, start_row):
        import pyarrow as pa
        import pyarrow.csv as pcsv

        done = start_row  # rows returned so far, counted from the file's first data row

        def batches():
            with pcsv.open_csv(self.path, *self._options(spec, block_size=1 << 22)) as reader:
                for batch in reader:  # closed at the end, at an error or when abandoned
                    arrays = self._arrays(batch, spec)
                    del batch  # not kept while the chunk is used
                    yield arrays

        try:
            for chunk in rebatch(batches(), chunk_rows, start_row):
                done += len(chunk.X)
                yield chunk
                del chunk
            return
        except (pa.ArrowException, _Anomaly):
            pass
        yield from self._reference(spec, chunk_rows, done)

    def _reference(self, spec, chunk_rows, start_row):
        """The reference reader: Python's csv module and ``float`` per cell. Exact line
        numbers in errors; rows whose cells are all blank are skipped."""
        path, header = self.path, self.columns
        columns = [header.index(name) for name in spec.features]
        t = header.index(spec.target) if spec.target is not None else None
        lines, rows, labels, index = [], [], [], 0

        def chunk():
            X = np.array(rows, dtype=np.float64).reshape(len(rows), len(columns))
            if not np.isfinite(X).all():
                r, c = np.argwhere(~np.isfinite(X))[0]
                raise ValueError(f"{path} line {lines[r]}: column {spec.features[c]!r} is not finite")
            y = None if t is None else _parse_target(labels, lines, path, spec.target,
                                                     spec.regression, spec.labels)
            return Chunk(X, y, index - len(rows))

        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                reader = csv.reader(f, delimiter=self.delimiter)
                next(reader)
                for line, row in enumerate(reader, start=2):
                    if not any(cell.strip() for cell in row):
                        continue
                    index += 1
                    if index <= start_row:
                        continue
                    if len(row) != len(header):
                        raise ValueError(f"{path} line {line} has {len(row)} fields, "
                                         f"the header has {len(header)}")
                    values = []
                    for col in columns:
                        if not row[col].strip():
                            raise ValueError(f"{path} line {line}: column {header[col]!r} is empty "
                                             f"(a missing value); fill or drop such rows first")
                        try:
                            values.append(float(row[col]))
                        except ValueError:
                            raise ValueError(f"{path} line {line}: column {header[col]!r} has the "
                                             f"non-numeric value {row[col]!r}") from None
                    lines.append(line)
                    rows.append(values)
                    if t is not None:
                        labels.append(row[t].strip())
                    if chunk_rows is not None and len(rows) == chunk_rows:
                        yield chunk()
                        lines, rows, labels = [], [], []
        except (UnicodeDecodeError, csv.Error) as e:
            raise ValueError(f"{path} is not a readable CSV file: {e}") from None
        if rows:
            yield chunk()
        elif chunk_rows is None:  # every row was blank
            raise ValueError(f"{path} has a header but no data rows")


class _ParquetSource:
    """A Parquet file, read by row groups (``iter_batches``) or whole."""

    def __init__(self, path):
        self.path = path
        pa, pq = self._modules()
        try:
            self.file = pq.ParquetFile(path, pre_buffer=False)  # pre-buffering keeps every row group read
        except FileNotFoundError:
            raise FileNotFoundError(f"no such file: {path}") from None
        except IsADirectoryError:
            raise IsADirectoryError(f"{path} is a folder, not a data file") from None
        except (pa.ArrowException, OSError) as e:
            raise ValueError(f"{path} is not a readable Parquet file (truncated or another "
                             f"format?): {e}") from None
        self.columns = self.file.schema_arrow.names
        if not self.columns:
            raise ValueError(f"{path} is empty: expected columns and data rows")
        if self.file.metadata.num_rows == 0:
            raise ValueError(f"{path} has columns but no data rows")

    @staticmethod
    def _modules():
        import pyarrow as pa
        import pyarrow.parquet as pq

        return pa, pq

    def _wanted(self, spec):
        return spec.features + ([spec.target] if spec.target is not None else [])

    def _arrays(self, table, spec, start):
        """(X, y) of a table whose first row is data row ``start``, or a one-line error."""
        import pyarrow as pa
        import pyarrow.compute as pc

        columns = []
        for name in spec.features:
            column = table.column(name)
            if not (pa.types.is_floating(column.type) and column.type.bit_width == 64):
                column = self._numbers(column, name, start, pa, pc)
            columns.append(column)
        labels = table.column(spec.target) if spec.target is not None else None
        n = table.num_rows
        del table
        try:
            X = _matrix(columns, spec.features, n)
            y = None if labels is None else _label_array(labels, spec)
        except _Anomaly as a:
            raise ValueError(self._message(a, labels, start, spec)) from None
        return X, y

    def _numbers(self, column, name, start, pa, pc):
        """A non-float64 feature column as float64: integers, booleans, decimals and
        numbers written as text; anything else names the first value that is not a number."""
        kind = column.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            try:
                return pc.cast(pc.utf8_trim_whitespace(column), pa.float64())
            except pa.ArrowInvalid:
                for r, value in enumerate(column.to_pylist()):
                    if value is not None and not _is_number(value):
                        raise ValueError(f"{self.path} row {start + r + 1}: column {name!r} has the "
                                         f"non-numeric value {value!r}") from None
        if (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
                or pa.types.is_decimal(kind)):
            return pc.cast(column, pa.float64())
        raise ValueError(f"{self.path}: column {name!r} holds {kind} values, not numbers")

    def _message(self, a, labels, start, spec):
        """The one-line error for an _Anomaly in rows from data row ``start`` on."""
        row = a.row
        if row is None:  # in the labels: find the first value at fault
            values = [None if v is None else str(v).strip() for v in labels.to_pylist()]
            if a.kind == "missing label":
                row = values.index(a.value)
            elif not spec.regression and spec.labels is None:
                return f"{self.path}: the target {spec.target!r} holds {labels.type} values, not labels"
            else:
                kind = float if spec.regression else spec.labels
                row = next(r for r, v in enumerate(values) if not _parses(v, kind))
                what = "regression target" if spec.regression else "target"
                return (f"{self.path} row {start + row + 1}: the {what} {spec.target!r} has the "
                        f"non-numeric value {values[row]!r}" if kind is float else
                        f"{self.path} row {start + row + 1}: the target {spec.target!r} has the "
                        f"value {values[row]!r}, not a {kind.__name__}")
        where = f"{self.path} row {start + row + 1}"
        if a.kind == "missing":
            return f"{where}: column {a.column!r} is empty (a missing value); fill or drop such rows first"
        if a.kind == "not finite":
            return f"{where}: column {a.column!r} is not finite"
        what = "regression target" if spec.regression else "target column"
        return (f"{where}: the {what} {spec.target!r} is missing (NaN); "
                f"drop or fill such rows before training")

    def read_all(self, spec):
        return self._arrays(self._read(spec), spec, 0)  # no name holds the table: freed as copied

    def _read(self, spec):
        pa, _ = self._modules()
        try:
            return self.file.read(columns=self._wanted(spec))
        except (pa.ArrowException, OSError) as e:
            raise ValueError(f"{self.path} is not a readable Parquet file (truncated or "
                             f"damaged?): {e}") from None

    def chunks(self, spec, chunk_rows, start_row):
        pa, _ = self._modules()
        meta = self.file.metadata
        groups, skip, end = [], 0, 0  # row groups from the one holding start_row on
        for g in range(meta.num_row_groups):
            end += meta.row_group(g).num_rows
            if end > start_row:
                groups.append(g)
            else:
                skip = end  # rows before the first group read

        def batches():
            row = skip
            try:
                for batch in self.file.iter_batches(batch_size=chunk_rows, row_groups=groups,
                                                    columns=self._wanted(spec), use_threads=False):
                    arrays = self._arrays(pa.Table.from_batches([batch]), spec, row)
                    row += batch.num_rows
                    del batch  # not kept while the chunk is used
                    # Arrow's allocator keeps freed pages for reuse, a few MiB more at each
                    # odd-sized read: given back per batch, a stream's peak stays flat
                    pa.default_memory_pool().release_unused()
                    yield arrays
            except (pa.ArrowException, OSError) as e:
                raise ValueError(f"{self.path} is not a readable Parquet file (truncated or "
                                 f"damaged?): {e}") from None

        for chunk in rebatch(batches(), chunk_rows, start_row - skip):
            yield chunk._replace(start=chunk.start + skip)
            del chunk


def _parse_target(values, lines, path, target, regression, labels=None):
    for value, line in zip(values, lines):
        if value == "" or (regression and value.lower() in ("nan", "na")):
            what = "regression target" if regression else "target column"
            raise ValueError(f"{path} line {line}: the {what} {target!r} is missing (NaN); "
                             f"drop or fill such rows before training")
    if labels is str and not regression:
        return np.array(values)
    for kind in (float,) if regression else (labels,) if labels else (int, float):
        try:
            return np.array([kind(v) for v in values])
        except ValueError:
            if regression or labels:
                bad = next(v for v in values if not _parses(v, kind))
                line = lines[values.index(bad)]
                if regression:
                    raise ValueError(f"{path}: the regression target {target!r} has the "
                                     f"non-numeric value {bad!r}") from None
                raise ValueError(f"{path} line {line}: the target {target!r} has the value "
                                 f"{bad!r}, not a {kind.__name__}") from None
    return np.array(values)


def _parses(text: str, kind) -> bool:
    try:
        kind(text)
        return True
    except ValueError:
        return False


def _is_number(text: str) -> bool:
    return _parses(text, float)

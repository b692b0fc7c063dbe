"""Data bigger than memory: train, predict and evaluate from a file read in chunks,
in bounded memory, here or on a Dask cluster.

Training (``fit_stream``, ``scratchnet train --stream``) reads the file once to learn
what fitting needs (the row count, the classes, the scaler's mean and standard
deviation), then once per epoch. Each chunk's training rows go into a *shuffle
buffer* of ``shuffle_buffer`` rows (default 65,536); whenever it is full it is
permuted, and its first half (whole batches) is trained on with the library's epoch
loop (``train.train_epoch``) while the rest waits for the next rows. At the end of the
epoch the remainder is permuted and trained on. So rows are shuffled within a window
of about ``shuffle_buffer`` rows, *not* over the whole file: a file sorted by class needs
a buffer that spans the classes, or a shuffled file. The order depends only on the rows,
the buffer size and the model's seed: never on the chunk size, nor on where it ran.

Held-out rows are chosen by a hash of their row index (``held_out``): the same rows in
every pass, every chunk size and every resumed run, with no list of them in memory.

Memory: about ``chunk_rows + shuffle_buffer`` rows of features at a time, plus the model.
"""
from __future__ import annotations

import copy
import csv
import math
import os
from concurrent.futures import CancelledError
from dataclasses import dataclass, field

import numpy as np

from . import datasets, losses
from .datasets import CHUNK_ROWS, Chunk, Chunks
from .model import CHUNK_ROWS as MODEL_CHUNK_ROWS
from .preprocessing import LabelEncoder
from .validation import check_positive, check_X
from .train import TrainingDiverged, predicted_index, restore_training, run_epochs, snapshot_training, train_epoch

SHUFFLE_ROWS = 65_536  # rows in the shuffle buffer
BLOCK_ROWS = MODEL_CHUNK_ROWS  # rows per predict call: the model's own chunks, whatever the reader's
SCAN_ROWS = 8192  # rows per block of the first pass's statistics


# -- sources --------------------------------------------------------------------------
def chunks_of(data, *, target=None, features=None, regression=False, chunk_rows=CHUNK_ROWS,
              labels=None):
    """A re-iterable of ``datasets.Chunk`` from a data file's path (CSV or Parquet),
    from a sequence of (X, y) pairs, or from a function returning an iterator of them."""
    if isinstance(data, (Chunks, FileChunks)):
        return data
    if isinstance(data, (str, os.PathLike)):
        return FileChunks(data, target, features, regression, chunk_rows, labels)
    if not callable(data) and not hasattr(data, "__iter__"):
        raise TypeError(f"expected a file path or chunks of (X, y), got {type(data).__name__}")

    def chunks():
        start = 0
        for i, pair in enumerate(data() if callable(data) else data):
            try:
                X, y = pair
            except (TypeError, ValueError):
                raise TypeError(f"chunk {i} is not an (X, y) pair") from None
            X = check_X(X, name=f"X of chunk {i}")
            y = None if y is None else np.asarray(y)
            if y is not None and len(y) != len(X):
                raise ValueError(f"chunk {i} has {len(X)} rows of X but {len(y)} of y")
            yield Chunk(X, y, start)
            start += len(X)

    return Chunks(features, chunks)


class FileChunks:
    """The chunks of a data file, read again at every pass wherever the pass runs (a
    Dask worker): picklable, unlike an open reader. The header is checked at once."""

    def __init__(self, path, target=None, features=None, regression=False,
                 chunk_rows=CHUNK_ROWS, labels=None):
        path = os.fspath(path)
        self.features = datasets.read_table(path, target, features, regression,
                                            chunk_rows=chunk_rows).features
        self.args = (path, target, self.features, regression)
        self.chunk_rows, self.labels = chunk_rows, labels

    def __iter__(self):
        return iter(datasets.read_table(*self.args, chunk_rows=self.chunk_rows, labels=self.labels))

    def read(self, i) -> Chunk:
        """Chunk ``i`` alone (rows i * chunk_rows ...)."""
        return next(iter(datasets.read_table(*self.args, chunk_rows=self.chunk_rows,
                                             start_row=i * self.chunk_rows, labels=self.labels)))


# -- held-out rows ----------------------------------------------------------------------
def held_out(rows, fraction: float, seed: int = 0) -> np.ndarray:
    """(n,) bool: True for the rows (global indices from 0) held out, each with
    probability ``fraction``, decided by the SplitMix64 hash of (row, seed): the same rows
    in every pass, chunking and run."""
    golden = 0x9E3779B97F4A7C15
    z = np.asarray(rows, dtype=np.uint64) + np.uint64((int(seed) + 1) * golden % 2**64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53 < fraction


@dataclass(frozen=True)
class Rows:
    """Which rows of a source a pass uses: all, the training rows, or the held-out ones."""
    fraction: float = 0.0   # held out by hash; 0: none
    seed: int = 0
    which: str = "all"      # "all", "train" or "held_out"

    def select(self, chunk: Chunk) -> Chunk:
        if self.which == "all" or not self.fraction:
            return chunk if self.which != "held_out" else chunk._replace(X=chunk.X[:0], y=(
                None if chunk.y is None else chunk.y[:0]))
        mask = held_out(np.arange(chunk.start, chunk.start + len(chunk.X)), self.fraction, self.seed)
        if self.which == "train":
            mask = ~mask
        return chunk._replace(X=chunk.X[mask], y=None if chunk.y is None else chunk.y[mask])


# -- the first pass -------------------------------------------------------------------------
@dataclass
class Scan:
    """What one pass over the training rows learns: enough to build and scale a model."""
    n_rows: int = 0                 # every data row of the source
    n_train: int = 0                # the training rows among them
    mean: np.ndarray | None = None  # (F,) of the training rows
    m2: np.ndarray | None = None    # (F,) sums of squared deviations from the mean
    labels: set = field(default_factory=set)
    n_targets: int | None = None    # regression: target columns

    def add(self, X, y, regression):
        """Merge a block's statistics (Chan et al.'s parallel mean and variance)."""
        n = len(X)
        if n == 0:
            return
        mean = X.mean(axis=0)
        m2 = ((X - mean) ** 2).sum(axis=0)
        if self.mean is None:
            self.mean, self.m2 = mean, m2
        else:
            delta, total = mean - self.mean, self.n_train + n
            self.mean = self.mean + delta * (n / total)
            self.m2 = self.m2 + m2 + delta**2 * (self.n_train * n / total)
        self.n_train += n
        if y is not None and not regression:
            self.labels.update(np.unique(y).tolist())
        elif y is not None:
            self.n_targets = 1 if np.ndim(y) == 1 else np.shape(y)[1]

    def scaler(self) -> datasets.Standardizer:
        std = np.sqrt(self.m2 / self.n_train)
        return datasets.Standardizer.from_state(
            {"mean_": self.mean, "scale_": np.where(std > 0, std, 1.0)})

    def classes(self):
        """(classes, labels kind): text labels become ints, else floats, else stay text,
        as ``read_table`` decides for a whole file."""
        values = sorted(self.labels, key=str)
        if all(isinstance(v, str) for v in values):
            for kind in (int, float):
                try:
                    return np.unique(np.array([kind(v) for v in values])), kind
                except ValueError:
                    continue
            return np.unique(np.array(values)), str
        return LabelEncoder().fit(np.array(values)).classes_, None


def scan(source: Chunks, rows: Rows, regression: bool) -> Scan:
    """The first pass: row counts, labels and the scaler's statistics of the training rows."""
    result = Scan()

    def kept():
        for chunk in source:
            result.n_rows = chunk.start + len(chunk.X)
            chunk = rows.select(chunk)
            yield chunk.X, chunk.y

    # statistics merged over fixed blocks of training rows: the same sums whatever the chunks
    for block in datasets.rebatch(kept(), SCAN_ROWS, 0):
        result.add(block.X, block.y, regression)
    if result.n_train == 0:
        raise ValueError("no training rows: the data is empty or all of it is held out")
    return result


# -- training ---------------------------------------------------------------------------------
class ShuffleBuffer:
    """Rows in; shuffled blocks of whole batches out, holding at most ``size`` rows.

    When full, the buffer is permuted and its first ``size // 2`` rows (rounded down to
    whole batches) leave as one block; ``drain`` permutes and hands out what is left."""

    def __init__(self, size: int, batch_size: int, rng):
        self.size, self.batch_size, self.rng = size, batch_size, rng
        self.emit = max(size // 2 // batch_size, 1) * batch_size
        self.arrays, self.n = None, 0

    def add(self, *arrays):
        """Append rows (each array (n, ...)); yields the blocks that leave."""
        if self.arrays is None:
            self.arrays = [np.empty((self.size,) + a.shape[1:], a.dtype) for a in arrays]
        done, total = 0, len(arrays[0])
        while done < total:
            take = min(self.size - self.n, total - done)
            for buf, a in zip(self.arrays, arrays):
                buf[self.n:self.n + take] = a[done:done + take]
            self.n += take
            done += take
            if self.n == self.size:
                order = self.rng.permutation(self.size)
                out, keep = order[:self.emit], order[self.emit:]
                block = [buf[out] for buf in self.arrays]
                for buf in self.arrays:
                    buf[:len(keep)] = buf[keep]
                self.n = len(keep)
                yield block

    def drain(self):
        if self.n:
            order = self.rng.permutation(self.n)
            self.n = 0
            yield [buf[order] for buf in self.arrays]


class EpochState:
    """One epoch in progress: the model, the shuffle buffer and the running sums of the
    training loss and accuracy. What passes from chunk to chunk (and worker to worker)."""

    def __init__(self, model, shuffle_buffer, batch_size, rows):
        self.model, self.batch_size, self.rows = model, batch_size, rows
        self.buffer = ShuffleBuffer(shuffle_buffer, batch_size, model.shuffle_rng)
        self.loss_sum, self.correct, self.n = 0.0, 0, 0

    def train_chunk(self, chunk: Chunk) -> "EpochState":
        chunk = self.rows.select(chunk)
        if len(chunk.X):
            X, Y, y_idx = _prepared(self.model, chunk)
            arrays = (X, Y) if y_idx is None else (X, Y, y_idx)
            for block in self.buffer.add(*arrays):
                self._train(block)
        return self

    def finish(self) -> tuple[float, float | None]:
        """Train on what the buffer holds; the epoch's mean loss and accuracy."""
        for block in self.buffer.drain():
            self._train(block)
        self.buffer.arrays = None
        accuracy = None if self.model.task == "regression" else self.correct / self.n
        return self.loss_sum / self.n, accuracy

    def _train(self, block):
        X, Y = block[0], block[1]
        y_idx = block[2] if len(block) > 2 else None
        with np.errstate(over="ignore", invalid="ignore"):
            loss, accuracy = train_epoch(self.model, X, Y, y_idx, self.batch_size, None)
        self.loss_sum += loss * len(X)
        self.correct += round(accuracy * len(X))
        self.n += len(X)


def train_read_chunk(state: EpochState, reader: FileChunks, i: int) -> EpochState:
    """A Dask task: read chunk ``i`` here and train on it; the state is copied first, so
    that a task run twice (after a lost worker) starts from the same state."""
    return copy.deepcopy(state).train_chunk(reader.read(i))


def _prepared(model, chunk):
    """A chunk's rows as the network takes them: scaled X, targets Y and class indices."""
    X = model.scaled(check_X(chunk.X, model.n_features_, model.dtype))
    Y, y_idx = model.encode_targets(chunk.y, len(X))
    return X, Y, y_idx


def start_model(model, n_features, *, classes=None, n_targets=None, scaler=None):
    """Build an unfitted model for ``n_features`` inputs and these classes (or regression
    targets), as a first ``fit`` would, without seeing the data."""
    if model.built:
        return model
    if model.task == "regression":
        model.n_targets_, model._y_1d = n_targets or 1, (n_targets or 1) == 1
        n_outputs = model.n_targets_
    else:
        if classes is None:
            raise ValueError("the first partial fit of a classifier needs classes=: "
                             "every label the data holds")
        model.encoder = LabelEncoder().fit(np.asarray(classes))
        n_outputs = len(model.encoder.classes_)
        if isinstance(model.loss, losses.BinaryCrossEntropy):
            if n_outputs > 2:
                raise ValueError(f"binary_cross_entropy needs 2 classes, y has {n_outputs}: "
                                 f"use softmax_cross_entropy")
            n_outputs = 1
        try:
            model.check_classes()
        except ValueError:
            model.encoder = None
            raise
    if model.scale and model.scaler is None:
        model.scaler = scaler
    fresh = len(model.layers)
    try:
        model.finish_layers(n_outputs)
        model.build(n_features)
        model.check_outputs(n_outputs)
    except (ValueError, TypeError):
        model.params = model.encoder = model.scaler = model.n_targets_ = None
        del model.layers[fresh:]
        raise
    return model


def partial_fit(model, X, y, *, classes=None, batch_size=32):
    """One pass of minibatch steps over (X, y), shuffled by the model's generator; the
    first call builds the model (a classifier needs ``classes``, every label there is;
    with ``scale=True`` the scaler is fitted on this first X)."""
    check_positive("batch_size", batch_size, int)
    X = check_X(X, model.n_features_ if model.built else None)
    if not model.built:
        if model.task == "regression":
            n_targets = 1 if np.ndim(y) == 1 else np.shape(y)[1]
            start_model(model, X.shape[1], n_targets=n_targets,
                        scaler=datasets.Standardizer().fit(X) if model.scale else None)
            model._y_1d = np.ndim(y) == 1
        else:
            start_model(model, X.shape[1], classes=classes,
                        scaler=datasets.Standardizer().fit(X) if model.scale else None)
    elif classes is not None and model.task != "regression":
        known = model.encoder.classes_
        if len(np.asarray(classes)) != len(known) or not np.all(np.unique(classes) == known):
            raise ValueError(f"classes={np.asarray(classes).tolist()} differ from those of the "
                             f"first call: {known.tolist()}")
    X, Y, y_idx = _prepared(model, Chunk(X, y, 0))
    snapshot = snapshot_training(model)
    with np.errstate(over="ignore", invalid="ignore"):
        loss, _ = train_epoch(model, X, Y, y_idx, min(batch_size, len(X)), model.shuffle_rng)
    if not np.isfinite(loss) or not np.isfinite(model.params).all():
        restore_training(model, snapshot)
        raise TrainingDiverged(f"training diverged in partial_fit: the loss became {loss}; the "
                               f"model keeps its weights from before this call. Try a lower "
                               f"learning rate (lr={model.optimizer.lr!r}).")
    return model


def fit_stream(model, data, *, target=None, features=None, epochs=10, batch_size=32,
               chunk_rows=CHUNK_ROWS, shuffle_buffer=SHUFFLE_ROWS, validation=None,
               holdout_seed=0, callbacks=(), client=None, log=None, progress=False):
    """Train ``model`` epoch by epoch on data read in chunks; see the module's doc.

    data: a CSV or Parquet path (with ``target``), or chunks of (X, y) (a list, or a
        function returning an iterator, read again every epoch).
    validation: None; a fraction in (0, 1): rows held out by a hash of their index
        (``held_out(row, fraction, holdout_seed)``), never trained on; a path to a data
        file with the same columns; or (X_val, y_val). Scored after every epoch.
    client: a ``dask.distributed.Client``: each chunk is read and trained on by a
        worker, the training state passed from task to task; the same result as here.
    log: called with a line of text when something happens worth saying (a lost worker).
    Returns the model; ``model.history`` has the epochs' loss, accuracy, val_loss, ...
    """
    check_positive("epochs", epochs, int)
    check_positive("batch_size", batch_size, int)
    check_positive("chunk_rows", chunk_rows, int)
    check_positive("shuffle_buffer", shuffle_buffer, int)
    if shuffle_buffer < 2 * batch_size:
        raise ValueError(f"shuffle_buffer={shuffle_buffer} must hold at least two batches "
                         f"(2 * batch_size = {2 * batch_size})")
    regression = model.task == "regression"
    if isinstance(data, (str, os.PathLike)) and target is None:
        raise ValueError("fit_stream on a data file needs target=, the column to predict")
    fraction = 0.0
    if isinstance(validation, (float, np.floating)) and not isinstance(validation, bool):
        if not 0 < validation < 1:
            raise ValueError(f"validation as a fraction must be in (0, 1), got {validation!r}")
        fraction = float(validation)
    train_rows = Rows(fraction, holdout_seed, "train")
    is_path = isinstance(data, (str, os.PathLike))
    source = chunks_of(data, target=target, features=features, regression=regression,
                       chunk_rows=chunk_rows, labels=str)  # labels as text until the scan decides
    features = source.features
    run = runner(client)
    if not model.built:
        found = run(scan, source, train_rows, regression)
        n_features = len(found.mean)
        classes, kind = (None, None) if regression else found.classes()
        start_model(model, n_features, classes=classes, n_targets=found.n_targets,
                    scaler=found.scaler() if model.scale else None)
        # plain attributes: saved with the model, for a resumed run
        model.stream_rows_, model.stream_train_rows_ = found.n_rows, found.n_train
        model.stream_labels_ = None if kind is None else kind.__name__
    kind = labels_kind(model)
    reader = FileChunks(data, target, features, regression, chunk_rows, kind) if is_path else None
    if reader is not None:
        source = reader
    val = _validation_source(validation, fraction, holdout_seed, data, target, features,
                             regression, chunk_rows, kind)
    n_rows = getattr(model, "stream_rows_", None)
    if client is not None and reader is not None and n_rows is None:  # built by fit(): count the rows
        n_rows = run(scan, source, Rows(), regression).n_rows
    workers = sorted(client.scheduler_info()["workers"]) if client is not None else []

    def epoch_steps():
        state = EpochState(model, shuffle_buffer, batch_size, train_rows)
        if client is not None and reader is not None:
            epoch = len(model.history.get("loss", []))
            state = _epoch_on_cluster(client, state, reader, n_rows, epoch, log, workers)
            _adopt(model, state.model)
            state.model = model
        else:
            for chunk in source:
                state.train_chunk(chunk)
        return state.finish()

    def validate():
        scores = run(evaluate, model, val)
        return scores["loss"], scores.get("accuracy")

    run_epochs(model, epoch_steps, epochs=epochs, validate=None if val is None else validate,
               callbacks=callbacks, progress=progress)
    return model


def _validation_source(validation, fraction, seed, data, target, features, regression,
                       chunk_rows, kind):
    if validation is None:
        return None
    if fraction:
        return Selected(chunks_of(data, target=target, features=features, regression=regression,
                                  chunk_rows=chunk_rows, labels=kind), Rows(fraction, seed, "held_out"))
    if isinstance(validation, (str, os.PathLike)):
        return chunks_of(validation, target=target, features=features, regression=regression,
                         chunk_rows=chunk_rows, labels=kind)
    if isinstance(validation, tuple) and len(validation) == 2:
        return chunks_of([validation], features=features)
    raise TypeError("validation must be None, a fraction, a file path or (X_val, y_val)")


class Selected:
    """Some rows of a source (``Rows``: the training or the held-out ones), as chunks."""

    def __init__(self, source, rows):
        self.source, self.rows, self.features = source, rows, source.features

    def __iter__(self):
        for chunk in self.source:
            kept = self.rows.select(chunk)
            if len(kept.X):
                yield kept


def labels_kind(model):
    """How a streamed model's labels are read from text (int, float, str or None)."""
    return {"int": int, "float": float, "str": str}.get(getattr(model, "stream_labels_", None))


def split_sources(model, path, target, *, features=None, chunk_rows=CHUNK_ROWS, fraction=0.0,
                  seed=0, test_data=None):
    """(training rows, test rows) of a data file as chunks: the test rows are those held
    out by hash at ``fraction``, or the file ``test_data``."""
    read = dict(features=features, regression=model.task == "regression", chunk_rows=chunk_rows,
                labels=labels_kind(model))
    source = chunks_of(path, target=target, **read)
    if test_data is not None:
        return source, chunks_of(test_data, target=target, **read)
    return Selected(source, Rows(fraction, seed, "train")), Selected(source, Rows(fraction, seed, "held_out"))


def _adopt(model, trained):
    """Make ``model`` the trained copy that came back from the cluster (keeping its
    history, which the epoch loop here writes)."""
    history = model.history
    model.__dict__.update(trained.__dict__)
    model.history = history


def runner(client):
    """Run a function here, or as one task on the cluster (where the files are)."""
    if client is None:
        return lambda fn, *args: fn(*args)
    return lambda fn, *args: client.submit(fn, *args, pure=False).result()


def _epoch_on_cluster(client, state, reader, n_rows, epoch, log, known, attempts=3):
    """One epoch as a chain of tasks, chunk i trained by the worker that reads it, the
    state passed along. A worker lost mid-epoch restarts the epoch from its start
    state (the last checkpoint), so the result is the same as without the loss.
    ``known``: the workers seen so far (a list, updated)."""
    from distributed import KilledWorker, wait
    from distributed.comm import CommClosedError

    # the cluster's trouble (retried), as opposed to the data's (raised as it is)
    trouble = (KilledWorker, CommClosedError, TimeoutError, ConnectionError, CancelledError)
    n_chunks = math.ceil(n_rows / reader.chunk_rows)
    for attempt in range(attempts):
        workers = set(client.scheduler_info()["workers"])
        gone, known[:] = set(known) - workers, sorted(workers)
        if gone and log is not None:  # died between epochs: nothing to redo, but say so
            log(f"worker {', '.join(sorted(gone))} left the cluster; epoch {epoch + 1} starts from "
                f"the checkpoint of epoch {epoch} on the {len(workers)} remaining worker(s)")
        # the start state travels inside the first task, so the scheduler still has it
        # if the worker running that task dies
        futures = [client.submit(train_read_chunk, state, reader, 0, pure=False)]
        for i in range(1, n_chunks):
            futures.append(client.submit(train_read_chunk, futures[-1], reader, i, pure=False))
        lost, error = set(), None
        try:
            while True:
                try:
                    done = bool(wait(futures[-1], timeout=0.25).done)
                except TimeoutError:
                    done = False
                lost = workers - set(client.scheduler_info()["workers"])
                if done or lost:
                    break
            if not lost:
                return futures[-1].result()
        except trouble as e:
            error = e
        client.cancel(futures)
        what = f"worker {', '.join(sorted(lost))} was lost" if lost else f"{type(error).__name__}: {error}"
        if log is not None:
            log(f"{what} during epoch {epoch + 1}; restarting that epoch from the checkpoint "
                f"of epoch {epoch} (attempt {attempt + 2} of {attempts})")
        known[:] = sorted(set(client.scheduler_info()["workers"]))
    raise RuntimeError(f"epoch {epoch + 1} failed {attempts} times on the cluster")


# -- inference --------------------------------------------------------------------------------
def predict(model, source, *, proba=False, block_rows=BLOCK_ROWS):
    """Predictions of every row of ``source`` (chunks of any sizes), block by block:
    yields (labels or values (n,), probabilities (n, C) or None). Blocks hold
    ``block_rows`` rows counted from the first, whatever the reader's chunks, so the
    results equal ``model.predict``/``predict_proba`` on the whole array, bit for bit."""
    for block in datasets.rebatch(_features_only(source), block_rows, 0):
        pred = model.predict(block.X)
        if pred.ndim > 1:
            raise ValueError("predict writes one value per row; this regressor has several targets")
        probs = model.predict_proba(block.X) if proba else None
        del block  # not kept while the next rows are read
        yield pred, probs


def _features_only(source):
    for chunk in source:
        X = chunk.X
        del chunk
        yield X, None
        del X


def evaluate(model, source, *, block_rows=BLOCK_ROWS) -> dict:
    """``runs.evaluate``'s scores from chunks: loss, accuracy and confusion matrix of a
    classifier; loss (MSE), R^2, MAE and RMSE of a regressor. One pass, bounded memory."""
    model.check_fitted()
    mean_loss = losses.from_config({**model.loss.config(), "reduction": "mean"})
    regression = model.task == "regression"
    n, loss_sum = 0, 0.0
    if regression:
        abs_sum, sq_sum, y_mean, y_m2 = 0.0, 0.0, None, None
    else:
        cm = np.zeros((len(model.classes_),) * 2, dtype=np.int64)
    # fixed blocks of rows, whatever the chunks: the same sums, so the same scores
    for block in datasets.rebatch(((chunk.X, chunk.y) for chunk in source), block_rows, 0):
        X = model.prepared_inputs(block.X)
        Y, y_idx = model.encode_targets(block.y, len(X))
        logits = model.network_outputs(X)
        with np.errstate(over="ignore"):
            loss_sum += float(mean_loss.forward(logits, Y)) * len(X)
        if regression:
            err = logits.astype(np.float64) - Y
            abs_sum += float(np.abs(err).sum())
            with np.errstate(over="ignore"):
                sq_sum += float((err**2).sum())
            mean, m2 = Y.mean(axis=0), ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)
            if y_mean is None:
                y_mean, y_m2 = mean, m2
            else:
                delta, total = mean - y_mean, n + len(X)
                y_mean = y_mean + delta * (len(X) / total)
                y_m2 = y_m2 + m2 + delta**2 * (n * len(X) / total)
        else:
            np.add.at(cm, (y_idx, predicted_index(logits[:, :cm.shape[0]] if logits.shape[-1] > 1
                                                   else logits)), 1)
        n += len(X)
    if n == 0:
        raise ValueError("no rows to evaluate")
    if regression:
        ss_tot = float(y_m2.sum())
        r2 = 1 - sq_sum / ss_tot if ss_tot > 0 else float(sq_sum == 0)
        k = model.n_targets_
        return {"loss": loss_sum / n, "r2": float(r2), "n": n, "mae": abs_sum / (n * k),
                "rmse": math.sqrt(sq_sum / (n * k))}
    return {"accuracy": float(np.trace(cm) / n), "loss": loss_sum / n, "n": n,
            "labels": model.classes_.tolist(), "confusion_matrix": cm.tolist()}


def write_predictions(model, source, path=None, *, proba=False, out=None, keep=None,
                      block_rows=BLOCK_ROWS) -> int:
    """Write one prediction per row (and a probability column per class with ``proba``)
    as CSV to ``out`` (a text stream, written as rows come), or to ``path`` (CSV, or
    Parquet by suffix) through a temporary file renamed at the end, so that an error
    half way leaves an earlier file at ``path`` untouched; ``keep``: a list that gets
    each block's (predictions, probabilities) too. Returns the row count."""
    from . import io

    classes = [] if model.task == "regression" else model.classes_.tolist()
    header = ["prediction"] + ([f"proba_{c}" for c in classes] if proba else [])
    count = [0]

    def blocks():
        for pred, probs in predict(model, source, proba=proba, block_rows=block_rows):
            count[0] += len(pred)
            if keep is not None:
                keep.append((pred, probs))
            yield pred, probs

    if path is not None and datasets.is_parquet(path):
        import pyarrow as pa
        import pyarrow.parquet as pq

        def write(f):
            writer = None
            for pred, probs in blocks():
                columns = {"prediction": pred} | (
                    {name: probs[:, j] for j, name in enumerate(header[1:])} if proba else {})
                table = pa.table(columns)
                writer = writer or pq.ParquetWriter(f, table.schema)
                writer.write_table(table)
                del table
                pa.default_memory_pool().release_unused()  # as the reader does: a flat peak
            if writer is not None:
                writer.close()

        io.atomic_write(path, write, "wb")
        return count[0]

    def write_csv(f):
        writer = csv.writer(f, lineterminator="\n")  # as runs.predictions_csv writes
        writer.writerow(header)
        for pred, probs in blocks():
            if probs is None:
                writer.writerows([p] for p in pred.tolist())
            else:
                writer.writerows([p, *map(repr, row)] for p, row in
                                 zip(pred.tolist(), probs.astype(np.float64).tolist()))

    if path is not None:
        io.atomic_write(path, write_csv, "w")
    elif out is not None:
        write_csv(out)
    else:
        for _ in blocks():
            pass
    return count[0]

"""Run folders: what ``scratchnet train`` does, as library calls.

A run folder holds ``model.npz`` (see ``scratchnet.io``), ``history.csv``,
``metrics.json`` and the plots; while training, ``checkpoint.npz`` as well.
``train_run`` writes one, ``resume_run`` continues an interrupted one to the same
final weights, and a first SIGINT/SIGTERM during training saves a checkpoint and
stops cleanly (a second one stops at once).
"""
from __future__ import annotations

import contextlib
import csv
import io as _stdio
import json
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from . import __version__, datasets, io
from .model import MLP
from . import presets
from .presets import MODEL_KEYS
from .sweep import fresh_seed, trials

MODEL_FILE, CHECKPOINT_FILE = "model.npz", "checkpoint.npz"


# -- data ---------------------------------------------------------------------------
@dataclass
class Data:
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]
    target: str | None


DATA_FILES = (".csv",) + datasets.PARQUET_SUFFIXES


def is_data_file(source: str) -> bool:
    """A CSV or Parquet path (by suffix), as opposed to a built-in dataset's name."""
    return source.lower().endswith(DATA_FILES)


def load_data(spec: dict) -> Data:
    """The train/test split a spec describes (a run's ``config["data"]``): ``source``,
    a built-in name (``datasets.builtin``, split by ``test_size`` and ``split_seed``
    where it has no fixed split) or a CSV/Parquet path with its ``target`` column, split
    the same way or tested on the rows of the file ``test_data``."""
    source = spec["source"]
    if source in datasets.BUILTIN:
        X_train, X_test, y_train, y_test = datasets.builtin(
            source, spec.get("test_size", 0.25), spec.get("split_seed", 42))
        return Data(X_train, X_test, y_train, y_test,
                    [f"x{i + 1}" for i in range(X_train.shape[1])], None)
    X, y, names = datasets.read_table(source, spec["target"])
    target = spec["target"]
    if spec.get("test_data"):  # a file of test rows instead of a split
        X_test, y_test, _ = datasets.read_table(spec["test_data"], target, names)
        return Data(X, X_test, y, y_test, names, target)
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=spec["test_size"], random_state=spec["split_seed"])
    return Data(X_train, X_test, y_train, y_test, names, target)


def model_features(model) -> list[str]:
    """The columns a model reads from a data file: its run's features, else x1..xF."""
    data = (model.training_config or {}).get("data") or {}
    return data.get("features") or [f"x{i + 1}" for i in range(model.n_features_)]


# -- metrics ------------------------------------------------------------------------
def evaluate(model, X, y) -> dict:
    """Loss, accuracy and confusion matrix (rows: true, columns: predicted) of a
    classifier, or loss (MSE), R^2, MAE and RMSE of a regressor, on (X, y); JSON-able.
    R^2, MAE and RMSE pool all outputs of a multi-output regressor, as
    ``stream.evaluate`` does from its running sums (scikit-learn averages them per output)."""
    from sklearn.metrics import confusion_matrix

    scores = model.evaluate(X, y)
    if model.task == "regression":
        err = np.asarray(model.predict(X), dtype=np.float64) - np.asarray(y, dtype=np.float64)
        return {"loss": float(scores["loss"]), "r2": float(scores["r2"]), "n": int(len(y)),
                "mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2)))}
    classes = model.classes_
    pred_idx = model.predict_proba(X).argmax(axis=-1)
    cm = confusion_matrix(model.encoder.transform(y), pred_idx, labels=np.arange(len(classes)))
    return {"accuracy": float(scores["accuracy"]), "loss": float(scores["loss"]), "n": int(len(y)),
            "labels": classes.tolist(), "confusion_matrix": cm.tolist()}


def evaluate_model(model, source=None, target=None, *, chunk_rows=datasets.CHUNK_ROWS):
    """A saved model's scores (``evaluate``'s) and, in words, the rows they were taken on.

    ``source`` None: the test rows of the run that trained it (for a streamed run, its
    rows held out by hash, streamed again). A built-in name: its test split
    (``datasets.builtin``). A CSV or Parquet file: all its rows, with the ``target``
    column (default: the one trained on), read ``chunk_rows`` at a time."""
    from . import stream

    config = model.training_config or {}
    trained_on = config.get("data") or {}
    if source is None and not trained_on.get("source"):
        raise ValueError("no data to evaluate on: the model file does not say what it was trained on")
    if source is None and config.get("stream"):  # the run's own test rows, streamed again
        _, rows = stream.split_sources(model, trained_on["source"], trained_on["target"],
                                       features=trained_on["features"], chunk_rows=chunk_rows,
                                       fraction=trained_on["test_size"], seed=trained_on["split_seed"],
                                       test_data=trained_on.get("test_data"))
        return stream.evaluate(model, rows), f"the test rows of {Path(trained_on['source']).name}"
    if source is None or source in datasets.BUILTIN:
        if source is None:
            data = load_data(trained_on)
            X_test, y_test = data.X_test, data.y_test
        else:
            _, X_test, _, y_test = datasets.builtin(source)
        name = Path(source or trained_on["source"]).name
        return evaluate(model, X_test, y_test), f"the test split of {name}"
    target = target or trained_on.get("target")
    if target is None:
        raise ValueError(f"{source} needs a target column: the model was not trained on a data file")
    chunks = datasets.read_table(source, target, model_features(model), chunk_rows=chunk_rows)
    return stream.evaluate(model, chunks), source


# -- signals and checkpoints --------------------------------------------------------
class Interrupted(Exception):
    """Training stopped on SIGINT/SIGTERM after saving a checkpoint."""

    def __init__(self, signum, epoch, total, run_dir):
        self.signum, self.epoch, self.total, self.run_dir = signum, epoch, total, run_dir
        name = signal.Signals(signum).name
        super().__init__(f"{name} at epoch {epoch} of {total}: checkpoint saved in {run_dir}; "
                         f"continue with: scratchnet train --resume {run_dir}")


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped the work where it was; what was saved stays saved."""

    def __init__(self, signum, note=""):
        self.signum = signum
        super().__init__(signal.Signals(signum).name + (f": {note}" if note else ""))


@contextlib.contextmanager
def interrupt_on_signals():
    """Within the block SIGINT and SIGTERM raise ``Stopped`` at once, so that a SIGTERM
    unwinds like Ctrl-C (temporary files removed) instead of killing the process mid-write."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Stopped(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextlib.contextmanager
def stop_on_signals():
    """Within the block, a first SIGINT or SIGTERM sets ``flag["signal"]`` (training
    stops at the end of the epoch); a second one raises KeyboardInterrupt at once."""
    flag = {"signal": None}
    if threading.current_thread() is not threading.main_thread():
        yield flag  # signal handlers can only be set in the main thread
        return

    def handler(signum, frame):
        if flag["signal"] is not None:
            raise KeyboardInterrupt
        flag["signal"] = signum

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class Checkpointer:
    """Callback: save a checkpoint every ``every`` epochs (0: never) and when a
    stop signal arrived, then stop training in the latter case."""

    def __init__(self, path, every, training, flag, seconds_before=0.0):
        self.path, self.every, self.training, self.flag = Path(path), every, training, flag
        self.start = time.perf_counter() - seconds_before

    def seconds(self) -> float:
        return time.perf_counter() - self.start

    def __call__(self, model, epoch, logs):
        stop = self.flag["signal"] is not None
        if stop or (self.every and epoch % self.every == 0):
            io.save(model, self.path, training=self.training,
                    extra={"checkpoint": {"epoch": epoch, "train_seconds": self.seconds()}})
        return stop


# -- runs ---------------------------------------------------------------------------
_CREATED: set[Path] = set()  # folders made for a run: removed with it when it fails


def _make_parents(folder: Path) -> None:
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    _CREATED.update(p.resolve() for p in missing)


def new_run_dir(root="runs") -> Path:
    """A fresh timestamped folder under ``root``."""
    root = Path(root)
    _make_parents(root)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        path = root / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            path.mkdir()
            _CREATED.add(path.resolve())
            return path
        except FileExistsError:
            continue
    raise OSError(f"could not create a fresh run folder under {root}")


def make_run_dir(out) -> Path:
    """``out`` (created; it must not hold files yet) or a fresh ``runs/<timestamp>``."""
    if out is None:
        return new_run_dir()
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"--out {out} already exists and is not empty: choose another folder "
                         f"(or continue a training run with --resume {out})")
    _make_parents(out)  # an empty folder the user made is kept if the run fails
    return out


@contextlib.contextmanager
def removed_on_error(run_dir):
    """Empty ``run_dir`` if the block fails, so no half-written output remains, and
    remove it and its parents where this command made them; but never a checkpoint
    (e.g. after a second Ctrl-C)."""
    try:
        yield run_dir
    except BaseException:
        run_dir = Path(run_dir).resolve()
        if not (run_dir / CHECKPOINT_FILE).exists():
            for item in run_dir.iterdir() if run_dir.is_dir() else ():
                if item.is_dir():
                    shutil.rmtree(item)
                else:
                    item.unlink()
            for folder in (run_dir, *run_dir.parents):  # e.g. runs/, if made for this run
                if folder not in _CREATED or any(folder.iterdir()):
                    break
                folder.rmdir()
        raise


def train_config(settings: dict, data: dict, seed, preset: str, checkpoint_every: int = 0) -> dict:
    """The JSON-able description of a run: enough to redo or resume it."""
    settings = {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()}
    return {"preset": preset, "settings": settings, "data": data, "seed": seed,
            "checkpoint_every": checkpoint_every}


def train_run(config: dict, out=None, *, progress=False, plots=True) -> tuple[Path, dict]:
    """Train one model as ``config`` says and write its run folder. Returns (folder, metrics).

    Raises ``Interrupted`` (after saving a checkpoint) on SIGINT/SIGTERM. On any
    other error a folder this call created is removed again."""
    data = load_data(config["data"])  # bad data fails before anything is written
    config = dict(config, data=dict(config["data"], features=data.feature_names))
    model_kw = {k: v for k, v in config["settings"].items() if k in MODEL_KEYS}
    if model_kw.get("loss") == "mse" and data.y_train.dtype.kind not in "iuf":
        raise ValueError(f"--loss mse needs a numeric target, but {data.target or 'y'} holds text "
                         f"such as {data.y_train[0]!r}")
    if config["seed"] is None:
        config = dict(config, seed=fresh_seed())  # 64-bit: JSON tools read it exactly
    model = presets.model(_model_settings(config["settings"]), seed=config["seed"])  # MLP or layer list
    with removed_on_error(make_run_dir(out)) as run_dir:
        return run_dir, _fit_and_write(model, data, config, run_dir, progress, plots, 0.0)


def trials_run(settings: dict, data: dict, n: int, seed=None, preset: str = "default", out=None,
               *, progress=False) -> tuple[Path | None, dict]:
    """``n`` independently seeded models of one setting, trained as one group
    (``sweep.trials``) on the split ``data`` describes. Returns (folder, results): the
    test accuracies and their statistics, also written to ``out``/metrics.json when
    ``out`` is given (folder None otherwise). ``seed`` None: a fresh one, reported."""
    loaded = load_data(data)
    run_dir = make_run_dir(out) if out else None
    seed = fresh_seed() if seed is None else seed  # reported, so the run can be repeated
    with removed_on_error(run_dir) if run_dir else contextlib.nullcontext(), interrupt_on_signals():
        result = trials(loaded.X_train, loaded.y_train, loaded.X_test, loaded.y_test, n=n,
                        seed=seed, progress=progress, **settings)
    results = {"test_accuracy_mean": result["mean"], "test_accuracy_std": result["std"],
               "trials": result["trials"], "seconds": result["seconds"], "preset": preset,
               "seed": seed,
               "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
               "data": data, "test_accuracies": result["accuracies"].tolist()}
    if run_dir is not None:
        results["run_dir"] = str(run_dir)
        io.atomic_write(run_dir / "metrics.json", lambda f: f.write(
            json.dumps(dict(results, library_version=__version__), indent=2)), "w")
    return run_dir, results


def _model_settings(settings: dict) -> dict:
    """The settings that describe the model and its recipe (not the run's validation)."""
    keys = set(MODEL_KEYS) | set(presets.SEQUENTIAL_KEYS) | set(presets.FIT_KEYS) | set(presets.RECIPE_KEYS)
    return {k: v for k, v in settings.items() if k in keys}


def resume_run(run_dir, *, epochs=None, progress=False, plots=True, client=None,
               log=None) -> tuple[Path, dict]:
    """Continue the run in ``run_dir`` from its checkpoint (or its finished model, to
    train further with a larger ``epochs``) to the same weights as an uninterrupted run.
    A streamed run continues streamed (on ``client``'s cluster if given)."""
    run_dir = Path(run_dir)
    source = run_dir / CHECKPOINT_FILE
    if not source.exists():
        source = run_dir / MODEL_FILE
    if not source.exists():
        raise FileNotFoundError(f"{run_dir} has no {CHECKPOINT_FILE} or {MODEL_FILE} to resume from")
    header = io.read_header(source)
    config = header.get("training")
    if not config:
        raise ValueError(f"{source} has no training config: it was not saved by scratchnet train")
    model = io.load(source)
    done = len(model.history.get("loss", []))
    total = epochs if epochs is not None else config["settings"]["epochs"]
    if done >= total:
        raise ValueError(f"{run_dir} has already trained {done} of {total} epochs; "
                         f"pass --epochs N with N > {done} to train further")
    config = dict(config, settings=dict(config["settings"], epochs=total))
    seconds = (header.get("checkpoint") or {}).get("train_seconds", 0.0)
    if source.name == MODEL_FILE:
        seconds = _read_json(run_dir / "metrics.json").get("timings", {}).get("train_seconds", 0.0)
    if config.get("stream"):  # streamed: the same chunks and hash-held-out rows again
        return run_dir, _stream_fit_and_write(model, config, run_dir, progress, plots, seconds,
                                              client, log)
    data = load_data(config["data"])
    return run_dir, _fit_and_write(model, data, config, run_dir, progress, plots, seconds)


def train_stream_run(config: dict, out=None, *, progress=False, plots=True, client=None,
                     log=None) -> tuple[Path, dict]:
    """``train_run`` for a data file read in chunks (``scratchnet.stream``): memory stays
    bounded whatever its size. ``config["stream"]`` holds chunk_rows and shuffle_buffer;
    the test rows are ``config["data"]["test_data"]`` or those held out by a hash of the
    row index at test_size. A checkpoint is saved at the end of every epoch (or every
    ``checkpoint_every``). ``client``: a Dask client, whose workers read the chunks."""
    spec = config["data"]
    if not is_data_file(spec["source"]):
        raise ValueError(f"--stream reads a .csv or .parquet file, not the built-in {spec['source']!r}")
    # the header is checked now: bad columns fail before anything is written
    features = datasets.read_table(spec["source"], spec["target"], chunk_rows=1).features
    if spec.get("test_data"):
        datasets.read_table(spec["test_data"], spec["target"], features, chunk_rows=1)
    config = dict(config, data=dict(spec, features=features))
    model_kw = {k: v for k, v in config["settings"].items() if k in MODEL_KEYS}
    if config["seed"] is None:
        config = dict(config, seed=fresh_seed())
    model = MLP(seed=config["seed"], **model_kw)
    with removed_on_error(make_run_dir(out)) as run_dir:
        return run_dir, _stream_fit_and_write(model, config, run_dir, progress, plots, 0.0, client, log)


def _stream_fit_and_write(model, config, run_dir, progress, plots, seconds_before, client, log):
    from . import stream

    settings, spec, options = config["settings"], config["data"], config["stream"]
    done = len(model.history.get("loss", []))
    with stop_on_signals() as flag:
        ckpt = Checkpointer(run_dir / CHECKPOINT_FILE, config["checkpoint_every"] or 1, config, flag,
                            seconds_before)
        model.fit_stream(spec["source"], target=spec["target"], features=spec["features"],
                         epochs=settings["epochs"] - done, batch_size=settings["batch_size"],
                         chunk_rows=options["chunk_rows"], shuffle_buffer=options["shuffle_buffer"],
                         validation=spec.get("test_data") or spec["test_size"],
                         holdout_seed=spec["split_seed"], callbacks=[ckpt], client=client, log=log,
                         progress=progress)
        epoch = len(model.history["loss"])
        if flag["signal"] is not None and epoch < settings["epochs"]:
            raise Interrupted(flag["signal"], epoch, settings["epochs"], run_dir)
    train_seconds = ckpt.seconds()
    io.save(model, run_dir / MODEL_FILE, training=config)
    train_rows, test_rows = stream.split_sources(
        model, spec["source"], spec["target"], features=spec["features"],
        chunk_rows=options["chunk_rows"], fraction=spec["test_size"], seed=spec["split_seed"],
        test_data=spec.get("test_data"))
    run = stream.runner(client)
    test, train = run(stream.evaluate, model, test_rows), run(stream.evaluate, model, train_rows)
    data = {"source": spec["source"], "n_train": train["n"], "n_test": test["n"],
            "features": spec["features"], "target": spec["target"],
            "validation": spec.get("test_data") or
            f"rows held out by a hash of their index (test_size {spec['test_size']})"}
    return _finish_run(run_dir, model, config, test, train, train_seconds, data, plots, None)


def _finish_run(run_dir, model, config, test, train, train_seconds, data_info, plots, data):
    """A finished run's metrics.json, history.csv and plots; the checkpoint goes
    (model.npz can resume as well). Returns the metrics."""
    epochs = len(model.history["loss"])
    metrics = {"test": test, "train": train, "epochs_trained": epochs,
               "timings": {"train_seconds": train_seconds,
                           "seconds_per_epoch": train_seconds / max(epochs, 1)},
               "data": data_info, "n_parameters": int(model.params.size), "config": config,
               "model": model.get_config(), "library_version": __version__}
    write_history(model.history, run_dir / "history.csv")
    if plots:
        write_plots(run_dir, model, data, model.history, metrics)
    io.atomic_write(run_dir / "metrics.json", lambda f: f.write(json.dumps(metrics, indent=2)), "w")
    (run_dir / CHECKPOINT_FILE).unlink(missing_ok=True)
    return metrics


def _fit_and_write(model, data, config, run_dir, progress, plots, seconds_before) -> dict:
    settings = config["settings"]
    done = len(model.history.get("loss", []))
    X_fit, y_fit = data.X_train, data.y_train
    validation, validation_name = (data.X_test, data.y_test), "the test split"
    if settings.get("validation_split"):  # the same rows on every resume
        from sklearn.model_selection import train_test_split

        X_fit, X_val, y_fit, y_val = train_test_split(
            data.X_train, data.y_train, test_size=settings["validation_split"],
            random_state=config["data"]["split_seed"])
        validation, validation_name = (X_val, y_val), f"{len(y_val)} training rows held out"
    with stop_on_signals() as flag:
        ckpt = Checkpointer(run_dir / CHECKPOINT_FILE, config["checkpoint_every"], config, flag,
                            seconds_before)
        recipe = presets.fit_options(settings)  # a preset's schedule and augmentation
        model.fit(X_fit, y_fit, epochs=settings["epochs"] - done, batch_size=settings["batch_size"],
                  validation_data=validation, early_stopping=settings.get("early_stopping"),
                  callbacks=[*recipe.get("callbacks", []), ckpt], progress=progress,
                  augment=recipe.get("augment"))
        epoch = len(model.history["loss"])
        if flag["signal"] is not None and epoch < settings["epochs"]:  # else: done, finish up
            raise Interrupted(flag["signal"], epoch, settings["epochs"], run_dir)
    train_seconds = ckpt.seconds()
    io.save(model, run_dir / MODEL_FILE, training=config)
    data_info = {"source": config["data"]["source"], "n_train": len(data.y_train),
                 "n_test": len(data.y_test), "features": data.feature_names,
                 "target": data.target, "validation": validation_name}
    return _finish_run(run_dir, model, config, evaluate(model, data.X_test, data.y_test),
                       evaluate(model, data.X_train, data.y_train), train_seconds, data_info,
                       plots, data)


def write_history(history: dict, path) -> None:
    keys = list(history)

    def write(f):
        w = csv.writer(f)
        w.writerow(keys)
        w.writerows(zip(*(history[k] for k in keys)))

    io.atomic_write(path, write, "w")


def write_plots(run_dir, model, data, history, metrics) -> list[Path]:
    """curves, confusion_matrix and (2-D data) decision_boundary, as PNG and SVG."""
    from . import plots

    run_dir = Path(run_dir)
    written = plots.plot_curves(history, run_dir / "curves")
    test = metrics["test"]
    if model.task == "regression":
        return written
    written += plots.plot_confusion_matrix(test["confusion_matrix"], test["labels"],
                                           run_dir / "confusion_matrix",
                                           title=f"confusion matrix (test accuracy {test['accuracy']:.4f})")
    if data is not None and data.X_test.shape[1] == 2:
        written += plots.plot_decision_boundary(model, data.X_test, data.y_test,
                                                run_dir / "decision_boundary",
                                                title="decision boundary over the test split")
    return written


def replot(run_dir) -> list[Path]:
    """Redraw a run's plots from its saved files (the data is reloaded from its config)."""
    run_dir = Path(run_dir)
    for name in (MODEL_FILE, "metrics.json"):
        if not (run_dir / name).exists():
            raise FileNotFoundError(f"{run_dir} is not a finished run folder: no {name}")
    model = io.load(run_dir / MODEL_FILE)
    metrics = _read_json(run_dir / "metrics.json")
    try:  # a streamed run's data may not fit in memory: no decision boundary then
        data = None if metrics["config"].get("stream") else load_data(metrics["config"]["data"])
    except (OSError, ValueError):
        data = None  # e.g. the CSV has moved: every plot but the decision boundary
    return write_plots(run_dir, model, data, model.history, metrics)


def _read_json(path) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None


def predictions_csv(pred, probs=None, classes=None) -> str:
    """Predictions (and probabilities per class) as CSV text, one row per input row."""
    buf = _stdio.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["prediction"] + ([f"proba_{c}" for c in classes] if probs is not None else []))
    for i, p in enumerate(pred):
        w.writerow([p] + (list(map(repr, map(float, probs[i]))) if probs is not None else []))
    return buf.getvalue()

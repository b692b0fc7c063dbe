"""The benchmark matrix of issue 12: scratchnet's speed and memory across its whole
surface, each cell a ratio of medians against a peer measured in the same run.

    python benchmarks/matrix.py --quick          # a representative subset, under 2 minutes
    python benchmarks/matrix.py                  # every cell, under 30 minutes
    python benchmarks/matrix.py --only 'M-float32|csv' --no-docs
    python benchmarks/matrix.py --quick --code 01cf38b   # the same cells on an older scratchnet
    python benchmarks/matrix.py --render benchmarks/results/matrix-....json   # docs from saved numbers

Cells (``--list`` prints their names; ``--only`` takes a regular expression on them):

  train-{S,M,L}-{dtype}-{factor}  time per training step. scratchnet's real epoch loop
      (``scratchnet.train.train_epoch`` over a fixed data set, on the inputs
      ``MLP.fit`` hands it) against an eager PyTorch loop doing the same work (same
      data, batch, layers and starting weights; index-gathered batches, zero_grad /
      backward / [clip] / step), PyTorch at its default threads and at 1 thread;
      seconds per epoch over the steps of the epoch. S = the tutorial's moons (its
      first 1,000 training rows), 2-64-2, batch 10 (100 steps); M = 2,000×40,
      40-512-512-10, batch 100; L = 5,120×32, 32-512-512-10, batch 256 (20 steps each).
      Factors vary one at a time from the base (ReLU, SGD, softmax cross-entropy, no
      regularisation). L cells also time their "BLAS floor": the step's matrix
      products alone (NumPy matmul, same shapes and dtype, forward and backward).
  infer-predict_proba  1,000,000×20 rows through a 20-256-256-2 float32 model:
      scratchnet's predict_proba, PyTorch (no_grad, softmax) and scikit-learn's
      MLPClassifier.predict_proba with the same weights.
  infer-20M  scratchnet's predict_proba on 20,000,000×20 rows of the same model (one
      call, full run only): that it works on this machine, its time and peak memory.
  memory-train-L  one epoch of L (model built inside the measurement).
  csv-read  ``scratchnet.datasets.read_csv`` against ``pandas.read_csv`` on a
      1,000,000×21 numeric file.
  sklearn-fit-{digits,moons}  ``scratchnet.sklearn.MLPClassifier`` against
      scikit-learn's, same arguments (benchmarks/sklearn_compare.py's splits).

Training cells race in this process (one warm-up epoch each, then rounds of one
epoch each, interleaved, the order rotating). The others run each contender in its
own fresh process per round (rounds interleaved too), which reports the time and its
peak memory: the peak resident set (VmHWM) minus the resident set after imports,
data and model (the high-water mark is reset there, /proc/self/clear_refs).
Raw results go to benchmarks/results/matrix-<UTC time>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from common import OneThread, Torch, machine, noisy, peak_mib, race, reset_peak  # noqa: E402
from report import DOC, write_section  # noqa: E402

RESULTS = HERE / "results"
TITLE = "Benchmark matrix"

# -- the training cells ---------------------------------------------------------------
SIZES = {  # rows are whole batches: every step of an epoch has the same shape
    "S": {"hidden": (64,), "batch_size": 10, "rows": 1_000, "features": 2},
    "M": {"hidden": (512, 512), "batch_size": 100, "rows": 2_000, "features": 40},
    "L": {"hidden": (512, 512), "batch_size": 256, "rows": 5_120, "features": 32},
}
# rounds at most, and seconds after which no new round starts once 3 are done (a busy
# machine slows multithreaded contenders most: their threads wait for each other)
ROUNDS = {"S": (7, 15.0), "M": (5, 20.0), "L": (5, 40.0)}
QUICK_ROUNDS = 3
BASE = {"activation": "relu", "optimizer": "sgd", "lr": 0.01, "loss": "softmax_cross_entropy"}
FACTORS = {  # each changes one thing of BASE
    "base": {},
    "leaky_relu": {"activation": "leaky_relu"},
    "sigmoid": {"activation": "sigmoid"},
    "tanh": {"activation": "tanh"},
    "gelu": {"activation": "gelu"},
    "momentum": {"optimizer": "momentum"},
    "nesterov": {"optimizer": "nesterov"},
    "rmsprop": {"optimizer": "rmsprop", "lr": 1e-3},
    "adam": {"optimizer": "adam", "lr": 1e-3},
    "adamw": {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.01},  # torch's default decay
    "dropout": {"dropout": 0.2},
    "batchnorm": {"batchnorm": True},
    "weight_decay": {"weight_decay": 1e-4},
    "clipnorm": {"clipnorm": 1.0},
    "label_smoothing": {"label_smoothing": 0.1},
    "bce": {"loss": "binary_cross_entropy"},  # one logit; labels y % 2
    "mse": {"loss": "mse"},  # regression on the one-hot labels
}
L_FACTORS = ("base", "gelu", "tanh", "adam", "adamw", "dropout", "batchnorm", "weight_decay")
QUICK = ("train-S-float64-base", "train-M-float32-base", "train-M-float32-gelu",
         "train-L-float32-base", "infer-predict_proba", "memory-train-L", "csv-read",
         "sklearn-fit-digits")
MLP_KEYS = ("activation", "optimizer", "loss", "dropout", "batchnorm", "weight_decay",
            "clipnorm", "label_smoothing")


def cell_names() -> list[str]:
    """Every cell, in the order a run measures them: a run stopped early (its results
    are saved after every cell) has L and M, where most of the work is, first."""
    def train(size, dtype):
        return [f"train-{size}-{dtype}-{f}" for f in (L_FACTORS if size == "L" else FACTORS)]

    return (train("L", "float32") + train("M", "float32") + train("M", "float64")
            + ["infer-predict_proba", "infer-20M", "memory-train-L", "csv-read", "sklearn-fit-digits",
               "sklearn-fit-moons"] + train("S", "float64") + train("S", "float32"))


def size_data(size: str, rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """X (N, F) float64 and class labels y (N,) of a size (generated, seeded);
    ``rows`` overrides the size's N (M and L)."""
    s = SIZES[size]
    if size == "S":
        from scratchnet.data import tutorial_moons

        X, _, y, _ = tutorial_moons()
        return X[:s["rows"]], y[:s["rows"]]
    from sklearn.datasets import make_classification

    return make_classification(n_samples=rows or s["rows"], n_features=s["features"],
                               n_informative=s["features"] // 2, n_classes=10, random_state=0)


def workload(size: str, dtype: str, factor: str, data) -> dict:
    """A training cell as common.Torch and Scratchnet take it: X, y (what ``MLP.fit``
    takes for the cell's loss), hidden, batch_size, dtype and the MLP options."""
    X, y = data
    w = dict(BASE, **FACTORS[factor], hidden=SIZES[size]["hidden"],
             batch_size=SIZES[size]["batch_size"], dtype=dtype, X=X.astype(dtype))
    if w["loss"] == "binary_cross_entropy":
        w["y"] = y % 2
    elif w["loss"] == "mse":
        w["y"] = np.eye(len(np.unique(y)))[y]
    else:
        w["y"] = y
    return w


class Scratchnet:
    """scratchnet's training path: ``train_epoch`` (the body of ``MLP.fit``'s epoch
    loop) on the inputs ``fit`` prepares for it (X in the model's dtype, the loss's
    targets, class indices), shuffling with the model's own stream."""

    name = "scratchnet"

    def __init__(self, w):
        import scratchnet as sn
        from scratchnet.train import train_epoch

        self.train_epoch, self.batch_size = train_epoch, w["batch_size"]
        self.model = sn.MLP(hidden=w["hidden"], lr=w["lr"], dtype=w["dtype"], seed=0,
                            **{k: w[k] for k in MLP_KEYS if k in w})
        # fit's own preparation (and the build), without fit's per-call checks
        self.X, self.Y, self.y_idx, _ = self.model._fit_inputs(w["X"], w["y"], w["batch_size"],
                                                               None, 0.0, None)

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """[(W (F_in, F_out), b), ...] of the Dense layers, copies."""
        from scratchnet.layers import Dense

        return [(layer.params["W"].copy(), layer.params["b"].copy())
                for layer in self.model.layers if isinstance(layer, Dense)]

    def epoch(self):
        return self.train_epoch(self.model, self.X, self.Y, self.y_idx, self.batch_size,
                                self.model.shuffle_rng)


class BlasFloor:
    """The matrix products of a training step alone, at the network's shapes:
    forward x_i @ W_i, backward grad_W_i = x_i^T g_i and grad_x_i = g_i W_i^T (not
    for the first layer, whose input needs no gradient), into preallocated outputs,
    one epoch's worth of steps per ``epoch()``. No bias, activation, loss or update:
    what any implementation pays for the BLAS calls of this network."""

    name = "floor"

    def __init__(self, sizes, batch_size, dtype, steps):
        rng = np.random.default_rng(0)
        B, self.steps, self.products = batch_size, steps, []

        def rand(*shape):
            return rng.standard_normal(shape).astype(dtype)

        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            x, W, g = rand(B, n_in), rand(n_in, n_out), rand(B, n_out)
            self.products.append((x, W, np.empty((B, n_out), dtype)))  # forward
            self.products.append((x.T, g, np.empty((n_in, n_out), dtype)))  # grad_W
            if i > 0:
                self.products.append((g, W.T, np.empty((B, n_in), dtype)))  # grad_x

    def epoch(self):
        matmul = np.matmul
        for _ in range(self.steps):
            for a, b, out in self.products:
                matmul(a, b, out=out)


def training_cell(name: str, quick: bool, cache: dict) -> dict:
    """Race scratchnet against PyTorch, both at their default threads and at one
    thread (S: scratchnet's products are too small for OpenBLAS to thread, so it has
    no one-thread twin); L adds its BLAS floor, also at both."""
    _, size, dtype, factor = name.split("-", 3)
    if size not in cache:
        cache[size] = size_data(size)
    w = workload(size, dtype, factor, cache[size])
    ours = Scratchnet(w)
    torch, torch1 = Torch(w, weights=ours.weights()), Torch(w, threads=1, weights=ours.weights())
    torch.name, torch1.name = "torch", "torch1"
    runners = [ours, torch, torch1] + ([] if size == "S" else [OneThread(ours, "scratchnet1")])
    steps = -(-len(w["X"]) // w["batch_size"])
    if size == "L":
        floor = BlasFloor((w["X"].shape[1], *w["hidden"], ours.model.n_outputs_),
                          w["batch_size"], dtype, steps)
        runners += [floor, OneThread(floor, "floor1")]
    rounds, budget = (QUICK_ROUNDS, None) if quick else ROUNDS[size]
    times = race(runners, rounds, name, pause=0.0 if size == "S" else 0.05 if quick else 0.2,
                 log=False, budget=budget)
    if not np.isfinite(ours.model.params).all():  # timing NaN arithmetic would say nothing
        raise RuntimeError(f"{name}: scratchnet's weights became non-finite during the benchmark")
    return {"kind": "train", "size": size, "dtype": dtype, "factor": factor, "steps": steps,
            "rounds": len(times["scratchnet"]), "times": times, "load": os.getloadavg()[0]}


# -- cells measured in child processes -------------------------------------------------
INFER_ROWS, INFER_FEATURES, INFER_HIDDEN = 1_000_000, 20, (256, 256)
HUGE_ROWS = 20_000_000  # 1.5 GiB of float32 input: the bounded-memory check


def infer_model(path: str) -> None:
    """Save the 20-256-256-2 float32 model (trained one epoch, so its weights are not
    the init's) as a scratchnet file and its weights as weights.npz beside it."""
    import scratchnet as sn

    rng = np.random.default_rng(1)
    X = rng.standard_normal((20_000, INFER_FEATURES), dtype=np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
    model = sn.MLP(hidden=INFER_HIDDEN, dtype="float32", lr=0.05, seed=0)
    model.fit(X, y, epochs=1, batch_size=100)
    sn.save(model, path)
    np.savez(Path(path).with_name("weights.npz"),
             **{f"{k}{i}": layer.params[k] for i, layer in enumerate(
                 [la for la in model.layers if type(la).__name__ == "Dense"]) for k in ("W", "b")})


def infer_predictor(kind: str, path: str):
    """The contender's predict_proba: X (N, 20) float32 -> probabilities (N, 2)."""
    if kind == "scratchnet":
        import scratchnet as sn

        return sn.load(path).predict_proba
    weights = np.load(Path(path).with_name("weights.npz"))
    Ws = [weights[f"W{i}"] for i in range(len(INFER_HIDDEN) + 1)]
    bs = [weights[f"b{i}"] for i in range(len(INFER_HIDDEN) + 1)]
    if kind == "torch":
        import torch

        layers = []
        for W, b in zip(Ws, bs):
            linear = torch.nn.Linear(*W.shape)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
                linear.bias.copy_(torch.from_numpy(b))
            layers += [linear, torch.nn.ReLU()]
        net = torch.nn.Sequential(*layers[:-1]).eval()

        def predict_proba(X):
            with torch.no_grad():
                return torch.softmax(net(torch.from_numpy(X)), dim=1).numpy()

        return predict_proba
    if kind == "sklearn":
        from sklearn.neural_network import MLPClassifier

        clf = MLPClassifier(hidden_layer_sizes=INFER_HIDDEN, max_iter=1)
        with warnings.catch_warnings():  # a one-iteration fit only builds its structure
            warnings.simplefilter("ignore")
            rng = np.random.default_rng(0)
            clf.fit(rng.standard_normal((20, Ws[0].shape[0]), dtype=np.float32), np.arange(20) % 2)
        # the same weights, and a two-column softmax output like the others
        clf.coefs_, clf.intercepts_ = Ws, bs
        clf.out_activation_, clf.n_outputs_ = "softmax", Ws[-1].shape[1]
        return clf.predict_proba
    raise ValueError(f"unknown inference contender {kind!r}")


def child(job: dict) -> dict:
    """Run one contender of a subprocess cell; measured: seconds and peak MiB above
    the resident set after imports, data and model."""
    kind = job["kind"]
    if job["cell"] == "infer":
        X = np.random.default_rng(0).standard_normal((job["rows"], INFER_FEATURES), dtype=np.float32)
        predict_proba = infer_predictor(kind, job["path"])
        base = reset_peak()
        t0 = time.perf_counter()
        probs = predict_proba(X)
        t1 = time.perf_counter()
        out = {"seconds": t1 - t0, "head": probs[:3].tolist()}
        if job["again"]:  # a second call: caches and page faults of the first are warm
            del probs
            predict_proba(X)
            out["seconds_again"] = time.perf_counter() - t1
        return dict(out, peak_mib=peak_mib() - base, base_mib=base)
    if job["cell"] == "csv":
        try:
            import pyarrow.csv  # noqa: F401 (imported before the baseline, for both sides)
        except ImportError:
            pass
        if kind == "scratchnet":
            from scratchnet.datasets import read_csv

            def read(path):
                X, y, _ = read_csv(path, target="label")
                return X, y
        else:
            import pandas

            def read(path):
                frame = pandas.read_csv(path)
                return frame, frame["label"]
        base = reset_peak()
        t0 = time.perf_counter()
        X, y = read(job["path"])
        seconds = time.perf_counter() - t0
        features = X.drop(columns="label") if kind == "pandas" else X
        return {"seconds": seconds, "peak_mib": peak_mib() - base, "base_mib": base,
                "shape": list(features.shape), "checksum": float(np.asarray(features).sum()),
                "label_sum": float(np.asarray(y).sum())}
    if job["cell"] == "memory":
        X, y = size_data("L", job["rows"])
        X = X.astype(np.float32)
        w = dict(BASE, hidden=SIZES["L"]["hidden"], batch_size=SIZES["L"]["batch_size"],
                 dtype="float32", X=X, y=y)
        if kind == "scratchnet":
            import scratchnet as sn
        else:
            import torch  # noqa: F401
        base = reset_peak()
        t0 = time.perf_counter()
        if kind == "scratchnet":  # the public path: fit builds the model and trains
            sn.MLP(hidden=w["hidden"], lr=w["lr"], dtype="float32", seed=0).fit(
                X, y, epochs=1, batch_size=w["batch_size"])
        else:
            Torch(w).epoch()
        return {"seconds": time.perf_counter() - t0, "peak_mib": peak_mib() - base,
                "base_mib": base}
    raise ValueError(f"unknown child cell {job['cell']!r}")


CHILD_SCRIPT = Path(__file__).resolve()  # measure() points it at a copy taken at its start


def in_child(job: dict) -> dict:
    res = subprocess.run([sys.executable, str(CHILD_SCRIPT), "--child", json.dumps(job)],
                         capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        raise RuntimeError(f"{job['cell']}/{job['kind']} child failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def child_rounds(cell: str, kinds, rounds: int, **job) -> dict[str, list[dict]]:
    """Each contender in a fresh process per round, the order rotating per round."""
    out = {k: [] for k in kinds}
    for i in range(rounds):
        for kind in kinds[i % len(kinds):] + kinds[:i % len(kinds)]:
            out[kind].append(in_child(dict(job, cell=cell, kind=kind)))
        print(f"  {cell} round {i + 1}/{rounds}: " + ", ".join(
            f"{k} {v[-1]['seconds']:.3g}s +{v[-1]['peak_mib']:.0f} MiB" for k, v in out.items()),
            file=sys.stderr)
    return out


def inference_cell(rows: int, rounds: int, again: bool, tmp: str) -> dict:
    path = os.path.join(tmp, "infer.npz")
    infer_model(path)
    # the same weights: all three give the same probabilities (float32 rounding)
    X = np.random.default_rng(2).standard_normal((1000, INFER_FEATURES), dtype=np.float32)
    probs = {k: infer_predictor(k, path)(X) for k in ("scratchnet", "torch", "sklearn")}
    gap = max(float(np.abs(p - probs["scratchnet"]).max()) for p in probs.values())
    if gap > 1e-4:
        raise RuntimeError(f"the inference contenders disagree by {gap:.3g}: not the same model")
    runs = child_rounds("infer", ["scratchnet", "torch", "sklearn"], rounds, rows=rows, path=path,
                        again=again)
    return {"kind": "infer", "rows": rows, "rounds": rounds, "runs": runs, "agree": gap,
            "load": os.getloadavg()[0]}


def huge_inference_cell(tmp: str) -> dict:
    """scratchnet alone on HUGE_ROWS rows of the inference model: does it fit, in how
    much memory."""
    path = os.path.join(tmp, "infer.npz")
    infer_model(path)
    runs = child_rounds("infer", ["scratchnet"], 1, rows=HUGE_ROWS, path=path, again=False)
    return {"kind": "infer-huge", "rows": HUGE_ROWS, "runs": runs, "load": os.getloadavg()[0]}


def write_csv_file(path: str, rows: int) -> None:
    """rows × 21 numbers: 20 features (6 decimals) and an integer 'label' column."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(0)
    columns = {f"x{j}": np.round(rng.standard_normal(rows), 6) for j in range(20)}
    columns["label"] = rng.integers(0, 10, rows)
    pacsv.write_csv(pa.table(columns), path)


def csv_cell(rows: int, rounds: int, tmp: str) -> dict:
    path = os.path.join(tmp, "data.csv")
    write_csv_file(path, rows)
    runs = child_rounds("csv", ["scratchnet", "pandas"], rounds, path=path)
    ours, theirs = runs["scratchnet"][0], runs["pandas"][0]
    if ours["shape"] != theirs["shape"] or not np.isclose(ours["checksum"], theirs["checksum"],
                                                            rtol=1e-9):
        raise RuntimeError(f"read_csv and pandas read different numbers: {ours} / {theirs}")
    return {"kind": "csv", "rows": rows, "rounds": rounds, "runs": runs,
            "bytes": os.path.getsize(path), "load": os.getloadavg()[0]}


def memory_cell(rows: int, rounds: int) -> dict:
    runs = child_rounds("memory", ["scratchnet", "torch"], rounds, rows=rows)
    return {"kind": "memory", "rows": rows, "rounds": rounds, "runs": runs,
            "load": os.getloadavg()[0]}


def sklearn_cell(name: str, seeds: int) -> dict:
    """Fit time of the two MLPClassifiers, same arguments (the defaults: adam, 200
    epochs at most), on sklearn_compare.py's splits; the order alternates per seed."""
    import sklearn.neural_network as sk_nn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn_compare import CLASSIFICATION, run, split

    import scratchnet.sklearn as sn_sk

    data_name = name.rsplit("-", 1)[1]
    X, y = CLASSIFICATION[data_name]()
    runs = {"scratchnet": [], "sklearn": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for seed in range(seeds):
            data = split(X, y, seed, False)
            pair = [("scratchnet", sn_sk.MLPClassifier), ("sklearn", sk_nn.MLPClassifier)]
            for kind, cls in pair if seed % 2 == 0 else pair[::-1]:
                score, seconds, epochs = run(cls, {}, data, seed)
                runs[kind].append({"seconds": seconds, "epochs": int(epochs), "score": float(score)})
    return {"kind": "sklearn", "data": data_name, "rows": len(X), "seeds": seeds, "runs": runs,
            "load": os.getloadavg()[0]}


# -- running ------------------------------------------------------------------------
def measure(names: list[str], quick: bool, save=None) -> dict:
    """Measure the cells ``names``; ``save(res)`` is called after every cell (the
    results so far, "complete": False until the last), so a stopped run keeps them."""
    started = time.time()
    res = {"machine": machine(), "quick": quick, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "code": code_state(), "load_start": os.getloadavg(), "cells": {}, "complete": False}
    cache = {}
    global CHILD_SCRIPT
    with tempfile.TemporaryDirectory() as tmp:
        # children run a copy of this script as it was at the start: an edit during a
        # long run cannot change (or break) what its later children do
        os.mkdir(os.path.join(tmp, "code"))
        for name in ("matrix.py", "common.py", "report.py"):
            shutil.copy(HERE / name, os.path.join(tmp, "code", name))
        CHILD_SCRIPT = Path(tmp, "code", "matrix.py")
        for name in names:
            t = time.time()
            try:
                if name.startswith("train-"):
                    cell = training_cell(name, quick, cache)
                elif name == "infer-predict_proba":
                    cell = inference_cell(INFER_ROWS, 1 if quick else 2, not quick, tmp)
                elif name == "infer-20M":
                    cell = huge_inference_cell(tmp)
                elif name == "memory-train-L":
                    cell = memory_cell(SIZES["L"]["rows"] if quick else 100_000, 1 if quick else 2)
                elif name == "csv-read":
                    cell = csv_cell(200_000 if quick else 1_000_000, 1 if quick else 2, tmp)
                elif name.startswith("sklearn-fit-"):
                    cell = sklearn_cell(name, 1 if quick else 3)
                else:
                    raise ValueError(f"unknown cell {name!r}")
            except Exception as e:  # one broken cell must not lose the others' numbers
                cell = {"kind": "error", "error": f"{type(e).__name__}: {e}"[:2000]}
            cell["wall_s"] = time.time() - t
            res["cells"][name] = cell
            print(f"{name}: {summary(name, cell)} ({cell['wall_s']:.1f} s)", file=sys.stderr)
            res["load_end"], res["wall_s"] = os.getloadavg(), time.time() - started
            if save is not None:
                save(res)
    res["complete"] = True
    if save is not None:
        save(res)
    return res


def code_state() -> dict:
    """Which scratchnet was measured: its path, the commit, and whether src/ differs from it."""
    import scratchnet

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    path = Path(scratchnet.__file__).resolve().parent
    if path != ROOT / "src" / "scratchnet":  # --code's tree (or another on PYTHONPATH)
        return {"scratchnet": str(path), "commit": os.environ.get("MATRIX_CODE_COMMIT"),
                "src_changed": []}
    return {"scratchnet": str(path), "commit": git("rev-parse", "--short", "HEAD"),
            "src_changed": git("status", "--porcelain", "--", "src").splitlines()}


# -- the report -----------------------------------------------------------------------
def med(values) -> float:
    return float(np.median(values))


def medians(runs, key) -> dict:
    """Per contender, the median of ``key`` over its rounds."""
    return {k: med([r[key] for r in v]) for k, v in runs.items()}


def train_ratios(cell: dict) -> dict:
    """Seconds per step (medians) and the ratios of medians the targets read."""
    t = {k: med(v) / cell["steps"] for k, v in cell["times"].items()}
    one = t.get("scratchnet1", t["scratchnet"])  # S: scratchnet runs one thread anyway
    out = {"step": t, "vs_torch": t["scratchnet"] / t["torch"], "vs_torch1": one / t["torch1"]}
    if "floor" in t:
        out["vs_floor"], out["vs_floor1"] = t["scratchnet"] / t["floor"], one / t["floor1"]
    return out


def summary(name: str, cell: dict) -> str:
    kind = cell["kind"]
    if kind == "error":
        return cell["error"]
    if kind == "train":
        r = train_ratios(cell)
        return (f"{r['step']['scratchnet'] * 1e6:.1f} µs/step, {r['vs_torch']:.2f}× torch, "
                f"{r['vs_torch1']:.2f}× at one thread"
                + (f", {r['vs_floor']:.2f}× floor" if "vs_floor" in r else "")
                + f" ({cell['rounds']} rounds)")
    if kind == "sklearn":
        return f"{sklearn_ratio(cell):.2f}× scikit-learn's fit time"
    sn_ = cell["runs"]["scratchnet"]
    return f"scratchnet {med([r['seconds'] for r in sn_]):.3g} s, +{med([r['peak_mib'] for r in sn_]):.0f} MiB"


def sklearn_ratio(cell) -> float:
    ours, theirs = cell["runs"]["scratchnet"], cell["runs"]["sklearn"]
    return med([a["seconds"] / b["seconds"] for a, b in zip(ours, theirs)])


def fmt_time(seconds: float, unit: str) -> str:
    return f"{seconds * {'µs': 1e6, 'ms': 1e3, 's': 1}[unit]:.3g}"


def report(res: dict, before: dict | None = None) -> str:
    """The docs section of a run; with ``before`` (an earlier run's results), each
    training cell that both measured also shows the earlier ratios."""
    info, cells = res["machine"], res["cells"]
    torch_threads = re.search(r"default (\d+) threads", info.get("torch") or "")
    tt = torch_threads.group(1) if torch_threads else "default"
    code = res.get("code", {})
    lines = [f"## {TITLE}", "",
             f"Measured by `python benchmarks/matrix.py{' --quick' if res['quick'] else ''}` on "
             f"{res['date']} in {res['wall_s'] / 60:.1f} minutes (raw numbers: "
             f"`benchmarks/results/{res.get('file', '…')}`"
             + "".join(f" and `benchmarks/results/{f}`" for f in res.get("also", []))
             + (", whose cells replace the first run's failed ones" if res.get("also") else "") + "), "
             + (f"scratchnet at commit {code['commit']}" if code.get("commit")
                else f"scratchnet from `{code.get('scratchnet')}`")
             + (" (exported by `--code`)" if code.get("commit") and code.get("scratchnet", "").find(
                 str(ROOT)) != 0 else "")
             + (f" with uncommitted changes in {len(code['src_changed'])} file(s) of src/"
                if code.get("src_changed") else "") + ". "
             "Every number is a median over interleaved rounds, every ratio a ratio of medians "
             "from the same run; a `~` marks a cell where some contender's slowest round took over "
             "1.5× its fastest (the machine was busy: read it with care). Load average (1, 5, 15 min) "
             f"at the start {fmt_load(res['load_start'])}, at the end {fmt_load(res['load_end'])}.", "",
             f"- CPU: {info['cpu']}, {info['cores']} cores; Python {info['python']}",
             f"- NumPy {info['numpy']} (BLAS: {info['numpy_blas']}); scikit-learn {info['sklearn']}; "
             f"PyTorch {info['torch']}",
             "- thread pools (threadpoolctl): " + "; ".join(info["threadpools"]), ""]
    if max(res["load_start"][0], res["load_end"][0]) > (info["cores"] or 1):
        lines += ["The load average exceeded the number of cores: other work shared the CPUs. "
                  "Contenders running several threads suffer most from that (each parallel region "
                  "waits for its slowest thread, which may be descheduled), so absolute times are "
                  "inflated, the default-thread ratios are noisy, and the one-thread columns are "
                  "the steadier comparison.", ""]
    if not res.get("complete", True):
        lines += [f"**This run stopped early**, after {len(cells)} cells: the tables hold those.", ""]
    errors = [f"- `{name}`: {c['error']}" for name, c in cells.items() if c["kind"] == "error"]
    for size, unit in (("S", "µs"), ("M", "ms"), ("L", "ms")):
        rows = {n: c for n, c in cells.items() if c["kind"] == "train" and c["size"] == size}
        if rows:
            lines += training_table(size, unit, rows, tt, before, res['quick'])
    lines += other_tables(cells)
    if before is not None:
        lines += before_lines(before)
    if errors:
        lines += ["### Cells that failed", "", *errors, ""]
    return "\n".join(lines)


def fmt_load(load) -> str:
    return ", ".join(f"{x:.2f}" for x in load)


def training_table(size, unit, rows, tt, before=None, quick=False) -> list[str]:
    s = SIZES[size]
    arch = "-".join(str(n) for n in (s["features"], *s["hidden"], "C"))
    any_cell = next(iter(rows.values()))
    target = 0.1 if size == "S" else 1.0
    lines = [f"### Training {size}: {arch}, batch {s['batch_size']}, {any_cell['steps']} steps per epoch", "",
             f"{unit} per training step (medians of up to {QUICK_ROUNDS if quick else ROUNDS[size][0]} "
             "rounds; `rounds` says how many ran). C = 10 classes (S: 2); bce: one logit on y mod 2; "
             "mse: regression on the one-hot labels. ratio = scratchnet / PyTorch, first both at their "
             f"default threads (NumPy's BLAS and PyTorch: {tt}), then both at one thread"
             + (" (S: scratchnet's products are too small for OpenBLAS to thread, so the one-thread "
                "ratio sets the same scratchnet against PyTorch at one thread)" if size == "S" else "")
             + "; target " + ("≤ 0.1 (at least 10× faster than PyTorch)" if size == "S" else "≤ 1.0")
             + (". floor: the step's matrix products alone (NumPy matmul, same shapes and dtype, "
                "forward and backward), at the same threads; target scratchnet ≤ 1.15× the floor. "
                "† marks a PyTorch target that the floor itself misses (the floor is slower than "
                "PyTorch): there the floor target is the one that counts" if size == "L" else "") + ".", ""]
    head = "| cell | rounds | scratchnet | torch | ratio | met | scratchnet, 1 thread | torch, 1 thread | ratio | met |"
    rule = "|---|---:|---:|---:|---:|---|---:|---:|---:|---|"
    if size == "L":
        head += " floor | scratchnet / floor | met | floor, 1 thread | ratio | met |"
        rule += "---:|---:|---|---:|---:|---|"
    earlier = {} if before is None else {n: c for n, c in before["cells"].items() if c["kind"] == "train"}
    if earlier:
        head += " before: ratio, 1 thread |"
        rule += "---:|"
    lines += [head, rule]
    met = met1 = floor_met = 0
    for c in rows.values():
        r = train_ratios(c)
        t = r["step"]
        mark = " ~" if any(noisy(v) for v in c["times"].values()) else ""
        ok, ok1 = r["vs_torch"] <= target, r["vs_torch1"] <= target
        met, met1 = met + ok, met1 + ok1
        dagger = "floor" in t and t["floor"] > t["torch"]
        dagger1 = "floor1" in t and t["floor1"] > t["torch1"]
        line = (f"| {c['dtype']} {c['factor']}{mark} | {c['rounds']} | {fmt_time(t['scratchnet'], unit)} | "
                f"{fmt_time(t['torch'], unit)} | {fmt_ratio(r['vs_torch'])} | {verdict(ok)}{' †' * dagger} | "
                f"{fmt_time(t.get('scratchnet1', t['scratchnet']), unit)} | {fmt_time(t['torch1'], unit)} | "
                f"{fmt_ratio(r['vs_torch1'])} | {verdict(ok1)}{' †' * dagger1} |")
        if size == "L":
            fok, fok1 = r["vs_floor"] <= 1.15, r["vs_floor1"] <= 1.15
            floor_met += fok
            line += (f" {fmt_time(t['floor'], unit)} | {r['vs_floor']:.2f} | {verdict(fok)} | "
                     f"{fmt_time(t['floor1'], unit)} | {r['vs_floor1']:.2f} | {verdict(fok1)} |")
        if earlier:
            old = earlier.get(f"train-{size}-{c['dtype']}-{c['factor']}")
            if old is None:
                line += " |"
            else:
                r_old = train_ratios(old)
                line += f" {fmt_ratio(r_old['vs_torch'])}, {fmt_ratio(r_old['vs_torch1'])} |"
        lines.append(line)
    lines += ["", f"Target met in {met} of {len(rows)} {size} cells at default threads, {met1} at one thread"
              + (f"; the floor target (default threads) in {floor_met}" if size == "L" else "") + ".", ""]
    return lines


def before_lines(before: dict) -> list[str]:
    """What the earlier run measured outside the training tables."""
    code = before.get("code", {})
    what = f"commit {code['commit']}" if code.get("commit") else f"`{code.get('scratchnet')}`"
    files = " and ".join(f"`benchmarks/results/{f}`" for f in [before.get("file"), *before.get("also", [])])
    lines = [f"### Before: {files}", "",
             f"The \"before\" columns above come from that run ({before['date']}, scratchnet from "
             f"{what}{', --quick' if before.get('quick') else ''}); it measured besides:", ""]
    for name, c in before["cells"].items():
        if c["kind"] in ("infer", "csv", "memory"):
            parts = [f"{k} {med([r['seconds'] for r in v]):.3g} s, +{med([r['peak_mib'] for r in v]):.0f} MiB"
                     for k, v in c["runs"].items()]
            lines.append(f"- `{name}` ({c['rows']:,} rows): " + "; ".join(parts))
        elif c["kind"] == "sklearn":
            lines.append(f"- `{name}`: fit time {sklearn_ratio(c):.2f}× scikit-learn's")
    return lines + [""]


def fmt_ratio(ratio: float) -> str:
    """Two decimals, or three significant digits below 0.1 (S's ratios are small)."""
    return f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.3g}"


def verdict(ok: bool) -> str:
    return "met" if ok else "not met"


def other_tables(cells) -> list[str]:
    lines = []
    c = cells.get("infer-predict_proba")
    if c and c["kind"] == "infer":
        runs = c["runs"]
        calls = [("first call", "seconds")] + (
            [("second call", "seconds_again")] if "seconds_again" in runs["scratchnet"][0] else [])
        secs = {key: medians(runs, key) for _, key in calls}
        peak = medians(runs, "peak_mib")
        lines += [f"### Inference: predict_proba of {c['rows']:,}×20 rows, 20-256-256-2 float32 "
                  f"({c['rounds']} round{'s' if c['rounds'] > 1 else ''})", "",
                  "Each contender in a fresh process per round: "
                  + ("the first call, then a second one" if len(calls) > 1 else "one call")
                  + "; peak = peak resident set minus the resident set after imports, the input array "
                  f"({c['rows'] * 20 * 4 / 2**20:.0f} MiB) and the model. PyTorch: `no_grad`, softmax "
                  "of the logits, default threads; scikit-learn: MLPClassifier.predict_proba with the "
                  f"same weights (the three agree within {c['agree']:.1g}).", "",
                  "| contender | " + " | ".join(f"{label} (s)" for label, _ in calls) + " | peak (MiB) |",
                  "|---|" + "---:|" * (len(calls) + 1)]
        for k in runs:
            lines.append(f"| {k} | " + " | ".join(f"{secs[key][k]:.3g}" for _, key in calls)
                         + f" | {peak[k]:.0f} |")
        ratios = [(label, secs[key]["scratchnet"] / min(secs[key]["torch"], secs[key]["sklearn"]))
                  for label, key in calls]
        lines += ["", "Targets: time at most 1.0× the faster of PyTorch and scikit-learn: "
                  + ", ".join(f"{label} {r:.2f}× ({verdict(r <= 1.0)})" for label, r in ratios)
                  + f"; peak at most 300 MB (286 MiB) above the input: {peak['scratchnet']:.0f} MiB "
                  f"({verdict(peak['scratchnet'] <= 300e6 / 2**20)}).", ""]
    c = cells.get("infer-20M")
    if c and c["kind"] == "infer-huge":
        run = c["runs"]["scratchnet"][0]
        lines += [f"### Inference on {c['rows']:,}×20 rows (the same model, scratchnet alone, one "
                  "call)", "", f"predict_proba took {run['seconds']:.1f} s; peak {run['peak_mib']:.0f} "
                  f"MiB above the input array ({c['rows'] * 20 * 4 / 2**20:,.0f} MiB) and the model, "
                  f"the output ({c['rows'] * 2 * 4 / 2**20:,.0f} MiB) included.", ""]
    c = cells.get("memory-train-L")
    if c and c["kind"] == "memory":
        runs = c["runs"]
        peak = medians(runs, "peak_mib")
        secs = medians(runs, "seconds")
        lines += [f"### Memory: training one epoch of L ({c['rows']:,} rows, {c['rounds']} "
                  f"round{'s' if c['rounds'] > 1 else ''})", "",
                  "Fresh process per contender and round; the data loaded first, then the model built "
                  "and one epoch trained (scratchnet through `MLP.fit`) inside the measurement.", "",
                  "| contender | peak above data (MiB) | seconds |", "|---|---:|---:|"]
        lines += [f"| {k} | {peak[k]:.0f} | {secs[k]:.3g} |" for k in runs]
        lines += ["", f"Target: scratchnet's peak at most PyTorch's: {peak['scratchnet']:.0f} vs "
                  f"{peak['torch']:.0f} MiB ({'met' if peak['scratchnet'] <= peak['torch'] else 'not met'}).", ""]
    c = cells.get("csv-read")
    if c and c["kind"] == "csv":
        runs = c["runs"]
        peak = medians(runs, "peak_mib")
        secs = medians(runs, "seconds")
        rt, rm = secs["scratchnet"] / secs["pandas"], peak["scratchnet"] / peak["pandas"]
        lines += [f"### CSV loading: {c['rows']:,}×21 numbers ({c['bytes'] / 2**20:.0f} MiB file, "
                  f"{c['rounds']} round{'s' if c['rounds'] > 1 else ''})", "",
                  "`scratchnet.datasets.read_csv(path, target=\"label\")` against `pandas.read_csv(path)`, "
                  "each in a fresh process per round (pyarrow imported before the baseline in both); "
                  "both read the same numbers (checked).", "",
                  "| contender | seconds | peak (MiB) |", "|---|---:|---:|"]
        lines += [f"| {k} | {secs[k]:.3g} | {peak[k]:.0f} |" for k in runs]
        lines += ["", f"Targets: time at most 1.5× pandas: {rt:.2f}× ({verdict(rt <= 1.5)}); "
                  f"peak memory at most 2× pandas: {rm:.2f}× ({verdict(rm <= 2.0)}).", ""]
    sk = {n: c for n, c in cells.items() if c["kind"] == "sklearn"}
    if sk:
        lines += ["### scikit-learn estimators: fit time", "",
                  "`scratchnet.sklearn.MLPClassifier()` against `sklearn.neural_network.MLPClassifier()`, "
                  "both with the defaults (adam, at most 200 epochs, early termination on tol), on "
                  "sklearn_compare.py's standardised 75/25 splits, seeds interleaved; the ratio is the "
                  "median of per-seed ratios. Epoch counts can differ (each stops on its own "
                  "loss), so the time per epoch is given too. Issue 12 sets no target here.", "",
                  "| data | seeds | fit s: scratchnet / scikit-learn | ratio | epochs | s per epoch ratio |",
                  "|---|---:|---:|---:|---:|---:|"]
        for c in sk.values():
            ours, theirs = c["runs"]["scratchnet"], c["runs"]["sklearn"]
            per_epoch = med([a["seconds"] / a["epochs"] / (b["seconds"] / b["epochs"])
                             for a, b in zip(ours, theirs)])
            lines.append(f"| {c['data']} ({c['rows']} rows) | {c['seeds']} | "
                         f"{med([r['seconds'] for r in ours]):.3g} / {med([r['seconds'] for r in theirs]):.3g} | "
                         f"{sklearn_ratio(c):.2f} | {med([r['epochs'] for r in ours]):.0f} / "
                         f"{med([r['epochs'] for r in theirs]):.0f} | {per_epoch:.2f} |")
        lines.append("")
    return lines


# -- the command line ---------------------------------------------------------------
def select(pattern: str | None, quick: bool) -> list[str]:
    names = list(QUICK) if quick else cell_names()
    if pattern is None:
        return names
    try:
        regex = re.compile(pattern)
    except re.error as e:
        raise ValueError(f"--only {pattern!r} is not a regular expression: {e}") from None
    chosen = [n for n in names if regex.search(n)]
    if not chosen:
        raise ValueError(f"--only {pattern!r} matches no cell{' of --quick' if quick else ''} "
                         f"(see --list)")
    return chosen


def merge(runs: list[dict]) -> dict:
    """The first run, with every measured cell of the later runs added or replacing its own."""
    res = dict(runs[0], cells=dict(runs[0]["cells"]))
    for later in runs[1:]:
        if later.get("code") != res.get("code") or later.get("quick") != res.get("quick"):
            raise ValueError(f"{later.get('file')} measured other code or another mode than "
                             f"{res.get('file')}: not one matrix")
        res["cells"].update({n: c for n, c in later["cells"].items() if c["kind"] != "error"})
        res["also"] = res.get("also", []) + [later.get("file")]
        res["load_end"] = later["load_end"]
    return res


def run_commit(commit: str, argv: list[str]) -> None:
    """Run this script again with ``commit``'s src/ first on the path (and so in
    every child process): the benchmark is today's, the library that commit's."""
    rev = subprocess.run(["git", "rev-parse", "--short", "--verify", commit + "^{commit}"], cwd=ROOT,
                         capture_output=True, text=True)
    if rev.returncode != 0:
        raise ValueError(f"--code {commit!r} is not a commit of {ROOT}")
    rest, skip = [], False
    for a in argv:  # drop --code COMMIT / --code=COMMIT
        if skip or a.startswith("--code="):
            skip = False
            continue
        skip = a == "--code"
        if not skip:
            rest.append(a)
    with tempfile.TemporaryDirectory(prefix=f"matrix-{rev.stdout.strip()}-") as tmp:
        archive = subprocess.run(["git", "archive", commit, "src"], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [os.path.join(tmp, "src")] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
            MATRIX_CODE_COMMIT=rev.stdout.strip())
        raise SystemExit(subprocess.run([sys.executable, str(Path(__file__).resolve()), *rest],
                                        env=env).returncode)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a representative subset, fewer rounds (< 2 min)")
    p.add_argument("--only", metavar="PATTERN", help="only the cells whose name matches this "
                   "regular expression (e.g. 'train-M-float32', 'gelu|adam', 'csv')")
    p.add_argument("--list", action="store_true", help="print the cell names and exit")
    p.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    p.add_argument("--render", metavar="JSON", nargs="+", help="measure nothing: write the table "
                   "from saved results (with several files, the later ones' cells are added, or "
                   "replace the earlier ones': e.g. cells re-run after a failure)")
    p.add_argument("--before", metavar="JSON", nargs="+", help="an earlier run's results (several "
                   "files: merged as for --render), shown beside this one's")
    p.add_argument("--code", metavar="COMMIT", help="measure the scratchnet of this commit "
                   "(its src/ exported to a temporary folder), e.g. a 'before' to compare with")
    p.add_argument("--child", metavar="JOB", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    if args.code:
        try:
            return run_commit(args.code, list(argv if argv is not None else sys.argv[1:]))
        except ValueError as e:
            p.error(str(e))
    try:
        names = select(args.only, args.quick)
    except ValueError as e:
        p.error(str(e))
    if args.list:
        print("\n".join(names))
        return
    for given in (args.render or []) + (args.before or []):
        if not Path(given).is_file():
            p.error(f"no such results file: {given}")
    try:
        before = merge([json.loads(Path(f).read_text()) for f in args.before]) if args.before else None
        res = merge([json.loads(Path(f).read_text()) for f in args.render]) if args.render else None
    except ValueError as e:
        p.error(str(e))
    if res is None:
        RESULTS.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        file = f"matrix-{stamp}{'-quick' if args.quick else ''}.json"

        def save(res):
            from scratchnet.io import atomic_write

            res["file"] = file
            atomic_write(RESULTS / file, lambda f: f.write(json.dumps(res, indent=1)), mode="w")

        res = measure(names, args.quick, save)
        print(f"wrote benchmarks/results/{file}", file=sys.stderr)
    text = report(res, before)
    print(text)
    if not args.no_docs:
        write_section(TITLE, text)
        print(f"wrote the {TITLE} section of {DOC.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()

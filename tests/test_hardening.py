"""Bad input, numerical trouble and damaged files, tried systematically at every
entry point (Python API, scikit-learn estimators, CLI).

``CASES`` is a table: each case makes one call a user could make and names the
message it must produce. ``observe`` runs a case and reports what the user sees;
``benchmarks/reliability.py`` runs the same table to write docs/reliability.md.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io as _stdio
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import io
from scratchnet.cli import main
from scratchnet.group import fit_group
from scratchnet.sklearn import MLPClassifier, MLPRegressor
from scratchnet.sweep import grid, sweep, trials

RNG = np.random.default_rng(2024)
X = RNG.standard_normal((40, 3))
Y = np.where(X[:, 0] + X[:, 1] > 0, "pos", "neg")
Y_INT = (X[:, 0] > 0).astype(int)
Y_REAL = X @ np.array([1.0, -2.0, 0.5])


@dataclass
class Case:
    area: str  # "input", "numerical", "files"
    entry: str  # where the user calls
    what: str  # the bad thing
    call: Callable  # call(env) -> anything; raises, or returns (code, stdout, stderr) for the CLI
    expect: str  # regex the message must match
    kinds: tuple = ("ValueError", "TypeError")  # outcomes allowed ("exit 2" for the CLI)
    note: str = ""  # what else the case checks (asserted in ``call``)


class Env:
    """Where a case runs: a fresh folder, and files shared by the cases (made once)."""

    def __init__(self, tmp: Path, shared: Path):
        self.tmp, self.shared = Path(tmp), Path(shared)
        self.inputs = set()  # files a case wrote as its input

    def csv(self, name, text) -> str:
        path = self.tmp / name
        path.write_text(text)
        self.inputs.add(name)
        return str(path)

    @property
    def model_file(self) -> str:
        """A classifier trained by ``scratchnet train`` on good.csv (labels a, b)."""
        path = self.shared / "run" / "model.npz"
        if not path.exists():
            (self.shared / "good.csv").write_text(GOOD_CSV)
            code, _, err = cli("train", "--data", str(self.shared / "good.csv"), "--target", "label",
                               "--hidden", "4", "--epochs", "2", "--batch-size", "8", "--seed", "0",
                               "--no-plots", "--out", str(self.shared / "run"))
            assert code == 0, err
        return str(path)


GOOD_CSV = "x1,x2,label\n" + "".join(
    f"{a:.3f},{b:.3f},{'a' if a + b > 0 else 'b'}\n" for a, b in RNG.standard_normal((40, 2)))


def cli(*argv):
    """Run ``scratchnet`` in-process: (exit code, stdout, stderr)."""
    out, err = _stdio.StringIO(), _stdio.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@cache
def fitted(kind="mlp", dtype="float64"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "mlp":
            return sn.MLP(hidden=(8,), seed=0, dtype=dtype).fit(X, Y, epochs=2, batch_size=8)
        if kind == "mse":
            return sn.MLP(hidden=(8,), seed=0, loss="mse").fit(X, Y_REAL, epochs=2, batch_size=8)
        if kind == "clf":
            return MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, Y)
        return MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, Y_REAL)


def mlp_fit(X_=X, y=Y, model=None, **fit):
    fit = {"epochs": 1, "batch_size": 8} | fit
    return (model or sn.MLP(hidden=(8,), seed=0)).fit(X_, y, **fit)


def clf(**params):
    return MLPClassifier(**({"hidden_layer_sizes": (8,), "max_iter": 3, "random_state": 0} | params))


def reg(**params):
    return MLPRegressor(**({"hidden_layer_sizes": (8,), "max_iter": 3, "random_state": 0} | params))


@contextlib.contextmanager
def patched(owner, name, value):
    old = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


# -- input -------------------------------------------------------------------------
X_OBJ_STR = np.array([["1.0", "x", "2"]] * 40, dtype=object)
INPUT_CASES = [
    # the Python API
    Case("input", "MLP.fit", "X is 1-D", lambda e: mlp_fit(X[:, 0]), r"X must be 2-D .*\(40,\)"),
    Case("input", "MLP.fit", "X is 3-D", lambda e: mlp_fit(X[:, :, None]), r"X must be 2-D .*\(40, 3, 1\)"),
    Case("input", "MLP.fit", "X has NaN", lambda e: mlp_fit(np.where(X > 1, np.nan, X)), r"X contains NaN"),
    Case("input", "MLP.fit", "X has inf", lambda e: mlp_fit(np.where(X > 1, -np.inf, X)), r"X contains NaN or inf"),
    Case("input", "MLP.fit", "X is empty", lambda e: mlp_fit(X[:0], Y[:0]), r"X is empty: shape \(0, 3\)"),
    Case("input", "MLP.fit", "X has zero features", lambda e: mlp_fit(X[:, :0]), r"X has zero features: shape \(40, 0\)"),
    Case("input", "MLP.fit", "X is text that is not numbers", lambda e: mlp_fit(X_OBJ_STR), r"X has non-numeric values \(dtype object\)"),
    Case("input", "MLP.fit", "X is complex", lambda e: mlp_fit(X + 1j), r"X must be numeric, got dtype complex128"),
    Case("input", "MLP.fit", "X holds an int too large for a float", lambda e: mlp_fit(np.full((40, 3), 10**400, dtype=object)), r"X has numbers too large for float64"),
    Case("input", "MLP.fit", "X beyond float32's range (dtype='float32')",
         lambda e: mlp_fit(X * 1e39, model=sn.MLP(hidden=(8,), dtype="float32")), r"beyond the range of float32"),
    Case("input", "MLP.fit", "y has one class", lambda e: mlp_fit(y=np.full(40, "pos")), r"y has 1 class \('pos'\)"),
    Case("input", "MLP.fit", "y has NaN", lambda e: mlp_fit(y=np.where(Y_INT == 1, np.nan, 0.0)), r"y contains NaN"),
    Case("input", "MLP.fit", "y has None", lambda e: mlp_fit(y=np.array(list(Y[:-1]) + [None], dtype=object)), r"missing labels \(None or NaN\)"),
    Case("input", "MLP.fit", "y mixes ints and strings", lambda e: mlp_fit(y=np.array([1, "a"] * 20, dtype=object)), r"y mixes label types .*int, str"),
    Case("input", "MLP.fit", "y has the wrong length", lambda e: mlp_fit(y=Y[:-1]), r"X has 40 rows but y has 39 labels"),
    Case("input", "MLP.fit", "y is 2-D", lambda e: mlp_fit(y=np.stack([Y, Y], 1)), r"y must be 1-D .*\(40, 2\)"),
    Case("input", "MLP.fit", "batch_size=0", lambda e: mlp_fit(batch_size=0), r"batch_size must be > 0, got 0"),
    Case("input", "MLP.fit", "batch_size larger than the data", lambda e: mlp_fit(batch_size=41), r"batch_size=41 is larger than the 40 training rows"),
    Case("input", "MLP.fit", "batch_size=1.5", lambda e: mlp_fit(batch_size=1.5), r"batch_size must be a positive integer, got 1.5"),
    Case("input", "MLP.fit", "epochs=0", lambda e: mlp_fit(epochs=0), r"epochs must be > 0, got 0"),
    Case("input", "MLP.fit", "epochs=None", lambda e: mlp_fit(epochs=None), r"epochs must be a positive integer, got None"),
    Case("input", "MLP.fit", "validation_split=1.5", lambda e: mlp_fit(validation_split=1.5), r"validation_split must be a fraction in \(0, 1\), got 1.5"),
    Case("input", "MLP()", "lr=-0.1", lambda e: sn.MLP(lr=-0.1), r"lr must be > 0, got -0.1"),
    Case("input", "MLP()", "lr=nan", lambda e: sn.MLP(lr=float("nan")), r"lr must be > 0, got nan"),
    Case("input", "MLP()", "lr=0", lambda e: sn.MLP(lr=0), r"lr must be > 0, got 0"),
    Case("input", "MLP()", "lr='0.1' (a string)", lambda e: sn.MLP(lr="0.1"), r"lr must be a number, got '0.1'"),
    Case("input", "MLP()", "hidden=0", lambda e: sn.MLP(hidden=0), r"hidden size must be > 0, got 0"),
    Case("input", "MLP()", "hidden=(8, 0)", lambda e: sn.MLP(hidden=(8, 0)), r"hidden size must be > 0, got 0"),
    Case("input", "MLP()", "hidden=1.5", lambda e: sn.MLP(hidden=1.5), r"hidden must be an integer or a sequence of integers, got 1.5"),
    Case("input", "MLP()", "seed=-1", lambda e: sn.MLP(seed=-1), r"seed must be an integer >= 0.*got -1"),
    Case("input", "MLP()", "dtype='float16'", lambda e: sn.MLP(dtype="float16"), r"dtype must be one of \('float32', 'float64'\), got float16"),
    Case("input", "MLP()", "unknown activation", lambda e: sn.MLP(activation="swish"), r"swish.*relu"),
    Case("input", "MLP()", "unknown optimizer", lambda e: sn.MLP(optimizer="lbfgs"), r"lbfgs.*adam"),
    Case("input", "Sequential()", "a layer that is not a Layer", lambda e: sn.Sequential([sn.Dense(4), "relu"]), r"layers must be Layer instances, got 'relu'"),
    Case("input", "MLP.predict", "X with 2 features, trained on 3", lambda e: fitted().predict(X[:, :2]), r"X has 2 features, but the model was trained with 3"),
    Case("input", "MLP.predict", "X has NaN", lambda e: fitted().predict(np.full((2, 3), np.nan)), r"X contains NaN"),
    Case("input", "MLP.evaluate", "labels never seen in training", lambda e: fitted().evaluate(X[:3], ["pos", "maybe", "zero"]), r"labels never seen in training: \['maybe', 'zero'\]"),
    Case("input", "MLP(loss='mse').fit", "y has NaN", lambda e: mlp_fit(y=np.where(X[:, 0] > 1, np.nan, Y_REAL), model=sn.MLP(loss="mse")), r"y contains NaN or inf"),
    Case("input", "MLP(loss='mse').fit", "y is text", lambda e: mlp_fit(y=Y, model=sn.MLP(loss="mse")), r"y must be numbers"),
    Case("input", "trials", "n=0", lambda e: trials(X, Y, X, Y, n=0), r"trials must be a positive integer, got 0"),
    Case("input", "fit_group", "y has one class", lambda e: fit_group([sn.MLP(seed=1)], X, np.zeros(40), epochs=1, batch_size=8), r"y has 1 class \(0.0\)"),
    Case("input", "sweep", "hidden=0 in the grid", lambda e: sweep(X, Y, X, Y, grid(hidden=[4, 0]), seed=0), r"hidden size must be > 0, got 0"),
    Case("input", "sweep", "lr=nan in the grid", lambda e: sweep(X, Y, X, Y, grid(lr=[float("nan")]), seed=0), r"lr must be > 0, got nan"),
    Case("input", "sweep", "batch_size=0", lambda e: sweep(X, Y, X, Y, seed=0, batch_size=0), r"batch_size must be > 0, got 0"),
    Case("input", "sweep", "an unknown axis", lambda e: grid(width=[4]), r"unknown sweep axis 'width'"),
    # the scikit-learn estimators (their messages follow scikit-learn's own)
    Case("input", "MLPClassifier.fit", "X is 1-D", lambda e: clf().fit(X[:, 0], Y), r"Expected 2D array, got 1D array"),
    Case("input", "MLPClassifier.fit", "X is 3-D", lambda e: clf().fit(X[:, :, None], Y), r"Found array with dim 3"),
    Case("input", "MLPClassifier.fit", "X has NaN", lambda e: clf().fit(np.where(X > 1, np.nan, X), Y), r"Input X contains NaN"),
    Case("input", "MLPClassifier.fit", "X has inf", lambda e: clf().fit(np.where(X > 1, np.inf, X), Y), r"Input X contains infinity"),
    Case("input", "MLPClassifier.fit", "X is empty", lambda e: clf().fit(X[:0], Y[:0]), r"Found array with 0 sample\(s\)"),
    Case("input", "MLPClassifier.fit", "X has zero features", lambda e: clf().fit(X[:, :0], Y), r"Found array with 0 feature\(s\)"),
    Case("input", "MLPClassifier.fit", "X is text that is not numbers", lambda e: clf().fit(X_OBJ_STR, Y), r"could not convert string to float: 'x'"),
    Case("input", "MLPClassifier.fit", "y has one class",
         lambda e: clf(max_iter=20, tol=1e9, n_iter_no_change=1).fit(X, np.full(40, "pos")).predict(X[:3]).tolist(),
         r"returned \['pos', 'pos', 'pos'\]", kinds=("ok",), note="scikit-learn's convention: fitted, predicts that class"),
    Case("input", "MLPClassifier.fit", "y has NaN", lambda e: clf().fit(X, np.where(Y_INT == 1, np.nan, 0.0)), r"Input y contains NaN"),
    Case("input", "MLPClassifier.fit", "y is continuous", lambda e: clf().fit(X, Y_REAL), r"Unknown label type: continuous"),
    Case("input", "MLPClassifier.fit", "batch_size=0", lambda e: clf(batch_size=0).fit(X, Y), r"batch_size == 0, must be >= 1"),
    Case("input", "MLPClassifier.fit", "max_iter=0", lambda e: clf(max_iter=0).fit(X, Y), r"max_iter == 0, must be >= 1"),
    Case("input", "MLPClassifier.fit", "learning_rate_init=-1", lambda e: clf(learning_rate_init=-1).fit(X, Y), r"learning_rate_init == -1, must be > 0"),
    Case("input", "MLPClassifier.fit", "learning_rate_init=nan", lambda e: clf(learning_rate_init=float("nan")).fit(X, Y), r"learning_rate_init must be a finite number, got nan"),
    Case("input", "MLPClassifier.fit", "alpha=inf", lambda e: clf(alpha=float("inf")).fit(X, Y), r"alpha must be a finite number, got inf"),
    Case("input", "MLPClassifier.fit", "hidden_layer_sizes=(0,)", lambda e: clf(hidden_layer_sizes=(0,)).fit(X, Y), r"hidden_layer_sizes must be positive integers, got \(0,\)"),
    Case("input", "MLPClassifier.predict", "X with 2 features, fitted on 3", lambda e: fitted("clf").predict(X[:, :2]), r"X has 2 features, but MLPClassifier is expecting 3"),
    Case("input", "MLPRegressor.fit", "y has NaN", lambda e: reg().fit(X, np.where(X[:, 0] > 1, np.nan, Y_REAL)), r"Input y contains NaN"),
    Case("input", "MLPRegressor.fit", "y is None (object)", lambda e: reg().fit(X, np.array([None] * 40)), r"Input y contains NaN or infinity"),
    Case("input", "MLPRegressor.fit", "X has NaN", lambda e: reg().fit(np.where(X > 1, np.nan, X), Y_REAL), r"Input X contains NaN"),
    Case("input", "MLPRegressor.predict", "X with 2 features, fitted on 3", lambda e: fitted("reg").predict(X[:, :2]), r"X has 2 features, but MLPRegressor is expecting 3"),
    # scikit-learn's conventions, where they differ from an error
    Case("input", "MLPClassifier.fit", "batch_size larger than the data",
         lambda e: clf(batch_size=1000).fit(X, Y), r"UserWarning: batch_size=1000 is larger than the 40 training samples; using 40",
         kinds=("ok",), note="scikit-learn's convention: warn and clip"),
    Case("input", "MLPClassifier.score", "labels never seen in training",
         lambda e: f"returned {fitted('clf').score(X[:4], ['pos', 'pos', 'maybe', 'maybe']):.2f}", r"returned 0\.\d\d",
         kinds=("ok",), note="scikit-learn's convention: unseen labels count as errors"),
    # the command line: exit code 2, one line on stderr, nothing left behind
    Case("input", "scratchnet train", "--epochs 0", lambda e: cli("train", "--epochs", "0", "--out", "r"), r"epochs must be > 0, got 0", ("exit 2",)),
    Case("input", "scratchnet train", "--batch-size 0", lambda e: cli("train", "--batch-size", "0", "--out", "r"), r"batch_size must be > 0, got 0", ("exit 2",)),
    Case("input", "scratchnet train", "--batch-size larger than the data", lambda e: cli("train", "--batch-size", "5000", "--out", "r"), r"batch_size=5000 is larger than the 3750 training rows", ("exit 2",)),
    Case("input", "scratchnet train", "--lr nan", lambda e: cli("train", "--lr", "nan", "--out", "r"), r"lr must be > 0, got nan", ("exit 2",)),
    Case("input", "scratchnet train", "--lr -0.5", lambda e: cli("train", "--lr", "-0.5", "--out", "r"), r"lr must be > 0, got -0.5", ("exit 2",)),
    Case("input", "scratchnet train", "--hidden 16 0", lambda e: cli("train", "--hidden", "16", "0", "--out", "r"), r"hidden size must be > 0, got 0", ("exit 2",)),
    Case("input", "scratchnet train", "--hidden x", lambda e: cli("train", "--hidden", "x"), r"argument --hidden: invalid int value: 'x'", ("exit 2",)),
    Case("input", "scratchnet train", "--seed -1", lambda e: cli("train", "--seed", "-1", "--out", "r"), r"--seed must be an integer >= 0, got -1", ("exit 2",)),
    Case("input", "scratchnet train", "--validation-split 1.5", lambda e: cli("train", "--validation-split", "1.5", "--out", "r"), r"--validation-split must be a fraction in \(0, 1\), got 1.5", ("exit 2",)),
    Case("input", "scratchnet train", "--trials 3 --epochs 0", lambda e: cli("train", "--trials", "3", "--epochs", "0", "--out", "r"), r"epochs must be > 0, got 0", ("exit 2",)),
    Case("input", "scratchnet train", "CSV: a non-numeric feature",
         lambda e: cli("train", "--data", e.csv("d.csv", "x1,x2,label\n1,2,a\n3,abc,b\n"), "--target", "label"),
         r"line 3: column 'x2' has the non-numeric value 'abc'", ("exit 2",)),
    Case("input", "scratchnet train", "CSV: an empty cell (missing value)",
         lambda e: cli("train", "--data", e.csv("d.csv", "x1,x2,label\n1,2,a\n3,,b\n"), "--target", "label"),
         r"line 3: column 'x2' is empty", ("exit 2",)),
    Case("input", "scratchnet train", "CSV: NaN in a feature",
         lambda e: cli("train", "--data", e.csv("d.csv", "x1,x2,label\n1,2,a\n3,nan,b\n"), "--target", "label"),
         r"line 3: column 'x2' is not finite", ("exit 2",)),
    Case("input", "scratchnet train", "CSV: inf in a feature",
         lambda e: cli("train", "--data", e.csv("d.csv", "x1,x2,label\n1,2,a\n3,-inf,b\n"), "--target", "label"),
         r"line 3: column 'x2' is not finite", ("exit 2",)),
    Case("input", "scratchnet train", "CSV: the target has one class",
         lambda e: cli("train", "--data", e.csv("d.csv", "x1,label\n" + "1,a\n2,a\n" * 10), "--target", "label"),
         r"y has 1 class \('a'\)", ("exit 2",)),
    Case("input", "scratchnet train", "CSV: no feature columns",
         lambda e: cli("train", "--data", e.csv("d.csv", "label\na\nb\n"), "--target", "label"),
         r"has no feature columns besides the target 'label'", ("exit 2",)),
    Case("input", "scratchnet train", "CSV: an empty file",
         lambda e: cli("train", "--data", e.csv("d.csv", ""), "--target", "label"), r"d.csv is empty", ("exit 2",)),
    Case("input", "scratchnet train", "CSV: a header and no rows",
         lambda e: cli("train", "--data", e.csv("d.csv", "x1,label\n"), "--target", "label"), r"has a header but no data rows", ("exit 2",)),
    Case("input", "scratchnet predict", "CSV: a feature column missing",
         lambda e: cli("predict", "--model", e.model_file, "--data", e.csv("n.csv", "x1\n0.5\n"), "--output", "p.csv"),
         r"lacks the feature column\(s\) x2", ("exit 2",)),
    Case("input", "scratchnet predict", "CSV: a non-numeric feature",
         lambda e: cli("predict", "--model", e.model_file, "--data", e.csv("n.csv", "x1,x2\n0.5,?\n"), "--output", "p.csv"),
         r"column 'x2' has the non-numeric value '\?'", ("exit 2",)),
    Case("input", "scratchnet evaluate", "CSV: a label never seen in training",
         lambda e: cli("evaluate", "--model", e.model_file, "--data", e.csv("t.csv", "x1,x2,label\n0.5,1,a\n1,2,c\n")),
         r"labels never seen in training: \['c'\]", ("exit 2",)),
    Case("input", "scratchnet sweep", "--hidden 0", lambda e: cli("sweep", "--hidden", "0", "--out", "s"), r"hidden size must be > 0, got 0", ("exit 2",)),
    Case("input", "scratchnet sweep", "--lr nan", lambda e: cli("sweep", "--lr", "nan", "--out", "s"), r"lr must be > 0, got nan", ("exit 2",)),
    Case("input", "scratchnet sweep", "--batch-size 0", lambda e: cli("sweep", "--batch-size", "0", "--out", "s"), r"batch_size must be > 0, got 0", ("exit 2",)),
    Case("input", "scratchnet sweep", "--epochs 0", lambda e: cli("sweep", "--epochs", "0", "--out", "s"), r"epochs must be > 0, got 0", ("exit 2",)),
    Case("input", "scratchnet sweep", "--trials 0", lambda e: cli("sweep", "--trials", "0", "--out", "s"), r"--trials must be an integer >= 1, got 0", ("exit 2",)),
    Case("input", "scratchnet sweep", "--seed -1", lambda e: cli("sweep", "--seed", "-1", "--out", "s"), r"seed must be >= 0, got -1", ("exit 2",)),
]


# -- numerical trouble ----------------------------------------------------------------
def diverge_at_epoch_3(e):
    """lr jumps to 1e300 after epoch 2: epoch 3 diverges; the weights after epoch 2 stay."""
    kept = []

    def blow_up(model, epoch, logs):
        kept.append(model.params.copy())
        if epoch == 2:
            model.optimizer.lr = 1e300

    model = sn.MLP(hidden=(8,), seed=0, lr=0.1)
    try:
        model.fit(X, Y, epochs=5, batch_size=8, callbacks=[blow_up])
    finally:
        assert len(kept) == 2 and np.array_equal(model.params, kept[-1])
        assert np.isfinite(model.predict_proba(X)).all()
        io.save(model, e.tmp / "kept.npz")  # the kept weights can be saved and loaded
        assert np.array_equal(io.load(e.tmp / "kept.npz").params, kept[-1])


@cache
def moons():
    from scratchnet.data import tutorial_moons

    return tutorial_moons()


def finite_proba(model, X_):
    probs = model.predict_proba(X_)
    assert np.isfinite(probs).all()
    return f"returned probabilities {probs.tolist()}"


def huge_logits(e):
    """Logits near +-1e4: probabilities stay finite and sum to 1."""
    model = sn.MLP(hidden=(8,), seed=0).fit(X, Y, epochs=2, batch_size=8)
    model.layers[-1].params["W"][...] *= 1e4 / np.abs(model.forward(X)).max()
    probs = model.predict_proba(X)
    loss = model.evaluate(X, Y)["loss"]
    assert np.isfinite(probs).all() and np.allclose(probs.sum(axis=1), 1) and np.isfinite(loss)
    return f"returned probabilities in [{probs.min():.3g}, {probs.max():.3g}], loss {loss:.4g}"


NUMERICAL_CASES = [
    Case("numerical", "MLP.fit", "lr=1e300: training diverges", lambda e: mlp_fit(model=sn.MLP(hidden=(8,), lr=1e300, seed=0)),
         r"diverged at epoch 1: the loss became nan.*Try a lower learning rate \(lr=1e\+300\)", ("TrainingDiverged",)),
    Case("numerical", "MLP.fit", "lr jumps to 1e300 after epoch 2", diverge_at_epoch_3,
         r"diverged at epoch 3.*keeps the weights from before that epoch.*lower learning rate", ("TrainingDiverged",),
         note="the model keeps epoch 2's weights; they predict finite values and save"),
    Case("numerical", "MLP.fit", "moons scaled by 1e6", lambda e: mlp_fit(moons()[0] * 1e6, moons()[2], epochs=3, batch_size=32),
         r"diverged at epoch 1.*lower learning rate.*features reach [\d.]+e\+06 in magnitude: standardise them \(scale=True\)",
         ("TrainingDiverged",)),
    Case("numerical", "MLP(scale=True).fit", "inputs scaled by 1e6",
         lambda e: f"returned accuracy {mlp_fit(X * 1e6, model=sn.MLP(hidden=(8,), scale=True, seed=0), epochs=3).evaluate(X * 1e6, Y)['accuracy']:.3f}",
         r"returned accuracy", ("ok",), note="the fitted scaler makes it an ordinary problem"),
    Case("numerical", "MLP.predict_proba", "logits near +-1e4", huge_logits, r"returned probabilities in \[0, 1\]", ("ok",)),
    Case("numerical", "MLP.predict", "X of 1e308 overflows the network", lambda e: fitted().predict(np.full((2, 3), 1e308)),
         r"outputs overflowed \(not finite\) for these inputs, whose largest magnitude is 1e\+308"),
    Case("numerical", "MLPClassifier.predict_proba", "X of 1e308", lambda e: finite_proba(fitted("clf"), np.full((2, 3), 1e308)),
         r"returned probabilities \[\[", ("ok",), note="saturated but finite; an overflow would raise ValueError"),
    Case("numerical", "trials", "lr=1e9: every trial diverges", lambda e: trials(X, Y, X, Y, n=3, seed=0, lr=1e9, batch_size=8),
         r"3 of 3 trials diverged \(first: trial 0 at epoch \d+\); try a lower learning rate", ("TrainingDiverged",)),
    Case("numerical", "scratchnet train", "--lr 1e9", lambda e: cli("train", "--lr", "1e9", "--out", "r"),
         r"diverged at epoch 1: the loss became nan.*Try a lower learning rate \(lr=1000000000.0\)", ("exit 2",)),
]


# -- files ------------------------------------------------------------------------------
def saved_model(e, name="m.npz") -> Path:
    path = e.tmp / name
    e.inputs.add(name)
    io.save(fitted(), path)
    return path


def _writable(folder: Path) -> bool:
    try:
        (folder / ".probe").touch()
    except PermissionError:
        return False
    (folder / ".probe").unlink()
    return True


def save_read_only(e):
    """chmod 0o500 stops writes, except for root (as in CI containers), where the OS
    is made to answer as it would for a read-only folder: mkstemp raises EACCES."""
    folder = e.tmp / "ro"
    folder.mkdir()
    path = saved_model(e, "ro/m.npz")
    before = path.read_bytes()
    folder.chmod(0o500)
    try:
        if _writable(folder):
            def refuse(*args, dir=None, **kwargs):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dir))

            with patched(tempfile, "mkstemp", refuse):
                io.save(fitted("mlp", "float32"), path)
        else:
            io.save(fitted("mlp", "float32"), path)
    finally:
        folder.chmod(0o700)
        assert path.read_bytes() == before and os.listdir(folder) == ["m.npz"]


class FillingDisk:
    """A file object whose disk fills up after ``room`` bytes (ENOSPC), mid-write."""

    def __init__(self, f, room):
        self.f, self.room = f, room

    def write(self, data):
        if len(data) > self.room:
            self.f.write(bytes(data[:self.room]))
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


@contextlib.contextmanager
def full_disk(room=2000):
    real = os.fdopen
    with patched(io.os, "fdopen", lambda fd, mode: FillingDisk(real(fd, mode), room)):
        yield


def save_full_disk(e):
    path = saved_model(e)
    before = path.read_bytes()
    try:
        with full_disk():
            io.save(fitted("mlp", "float32"), path)
    finally:
        assert path.read_bytes() == before and os.listdir(e.tmp) == ["m.npz"]


def train_full_disk(e):
    try:
        with full_disk():
            return cli("train", "--epochs", "1", "--out", "r")
    finally:
        assert not (e.tmp / "r").exists()


def save_non_finite(e):
    model = sn.MLP(hidden=(8,), seed=0).fit(X, Y, epochs=1, batch_size=8)
    model.params[0] = np.nan
    try:
        io.save(model, e.tmp / "m.npz")
    finally:
        assert not os.listdir(e.tmp)


def rewrite(path, changes=None, **arrays):
    """Rewrite a model file with header changes and replaced arrays (np.savez pickles objects)."""
    with np.load(path, allow_pickle=False) as data:
        old = {k: data[k] for k in data.files}
    if changes is not None:
        header = json.loads(old["header"].tobytes()) | changes
        old["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **(old | arrays))
    return path


class Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def load_pickle_payload(e):
    marker = e.tmp / "pwned"
    path = rewrite(saved_model(e), params=np.array([Payload(marker)], dtype=object))
    try:
        io.load(path)
    finally:
        assert not marker.exists()


def damaged(e, how):
    path = saved_model(e)
    data = bytearray(path.read_bytes())
    if how == "truncated":
        data = data[:len(data) // 2]
    elif how == "corrupted":
        data[len(data) // 2:len(data) // 2 + 64] = bytes(64)
    path.write_bytes(bytes(data))
    return io.load(path)


FILE_CASES = [
    Case("files", "scratchnet.save", "a read-only folder", save_read_only, r"Permission denied",
         ("PermissionError",), note="the earlier file is intact, no temporary file left (as root, "
                                    "whom chmod does not stop, mkstemp is made to fail with EACCES)"),
    Case("files", "scratchnet.save", "a folder path that is a file", lambda e: io.save(fitted(), e.csv("f", "x") + "/m.npz"),
         r"Not a directory", ("NotADirectoryError",)),
    Case("files", "scratchnet.save", "the disk fills up mid-write", save_full_disk, r"No space left on device",
         ("OSError",), note="the earlier file is intact, no temporary file left"),
    Case("files", "scratchnet.save", "parameters with NaN", save_non_finite,
         r"refusing to save a model whose parameters contain NaN or inf", note="nothing is written"),
    Case("files", "scratchnet train", "the disk fills up while saving the run", train_full_disk,
         r"No space left on device", ("exit 2",), note="the half-written run folder is removed"),
    Case("files", "scratchnet.load", "a truncated file", lambda e: damaged(e, "truncated"), r"truncated or corrupted", ("ModelFileError",)),
    Case("files", "scratchnet.load", "64 zeroed bytes inside", lambda e: damaged(e, "corrupted"), r"corrupted|damaged", ("ModelFileError",)),
    Case("files", "scratchnet.load", "a CSV file named .npz", lambda e: io.load(e.csv("m.npz", "a,b\n1,2\n")), r"is not a scratchnet model file", ("ModelFileError",)),
    Case("files", "scratchnet.load", "an .npz without a header", lambda e: np.savez(e.tmp / "m.npz", a=np.arange(3)) or io.load(e.tmp / "m.npz"),
         r"not a scratchnet model file \(no header\)", ("ModelFileError",)),
    Case("files", "scratchnet.load", "a header that is not JSON",
         lambda e: io.load(rewrite(saved_model(e), header=np.frombuffer(b"{oops", np.uint8))),
         r"truncated or corrupted", ("ModelFileError",)),
    Case("files", "scratchnet.load", "a newer format version", lambda e: io.load(rewrite(saved_model(e), {"format_version": 99})),
         r"format version 99 .*reads up to version 1: upgrade scratchnet", ("ModelFileError",)),
    Case("files", "scratchnet.load", "an object array (a pickle payload)", load_pickle_payload,
         r"Object arrays cannot be loaded when allow_pickle=False", ("ModelFileError",), note="the payload never runs"),
    Case("files", "scratchnet.load", "a header naming a class outside scratchnet",
         lambda e: io.load(rewrite(saved_model(e), {"objects": {"encoder": {"module": "os", "type": "system", "values": {}, "arrays": []}}})),
         r"refusing to rebuild encoder from module 'os'", ("ModelFileError",)),
    Case("files", "scratchnet.load", "a header naming a function as a class",
         lambda e: io.load(rewrite(saved_model(e), {"objects": {"encoder": {"module": "scratchnet.cli", "type": "main", "values": {}, "arrays": []}}})),
         r"refusing to rebuild encoder: scratchnet.cli.main is not a class", ("ModelFileError",)),
    Case("files", "scratchnet.load", "parameters with NaN", lambda e: io.load(rewrite(saved_model(e), params=np.full_like(fitted().params, np.nan))),
         r"parameters contain NaN or inf", ("ModelFileError",)),
    Case("files", "scratchnet summary", "a truncated model file",
         lambda e: cli("summary", "--model", _truncated(e)), r"truncated or corrupted", ("exit 2",)),
]


def _truncated(e) -> str:
    path = saved_model(e)
    path.write_bytes(path.read_bytes()[:300])
    return str(path)


CASES = INPUT_CASES + NUMERICAL_CASES + FILE_CASES


def observe(case: Case, env: Env) -> tuple[str, str]:
    """Run a case: (outcome, what the user sees). Outcome: an exception's class name,
    "exit N" for the CLI, or "ok" (the message then says what it returned or warned)."""
    before = set(os.listdir(env.tmp))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = case.call(env)
        except (ValueError, TypeError, OSError) as e:
            return type(e).__name__, str(e)
    if case.entry.startswith("scratchnet ") and "." not in case.entry:
        code, out, err = result
        left = sorted(set(os.listdir(env.tmp)) - before - env.inputs)
        assert out == "" and len(err.strip().splitlines()) == 1, err
        assert not left, f"left behind: {left}"
        return f"exit {code}", err.strip()
    shown = [f"{w.category.__name__}: {w.message}" for w in caught
             if not issubclass(w.category, DeprecationWarning)]
    text = result if isinstance(result, str) else f"returned {result!r}"[:80]
    return "ok", "; ".join(shown) or text


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return tmp_path_factory.mktemp("shared")


@pytest.mark.parametrize("case", CASES, ids=[f"{c.entry}: {c.what}" for c in CASES])
def test_case(case, tmp_path, shared, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outcome, message = observe(case, Env(tmp_path, shared))
    assert outcome in case.kinds, (outcome, message)
    assert re.search(case.expect, message), message


def test_every_entry_point_has_each_kind_of_bad_input():
    """The table covers the issue's list at the three kinds of entry point."""
    for entry in ("MLP.fit", "MLPClassifier.fit", "scratchnet train"):
        whats = " ".join(c.what for c in CASES if c.entry == entry)
        for word in ("NaN", "one class", "batch_size" if "scratchnet" not in entry else "--batch-size"):
            assert word in whats, (entry, word)


# -- regressions found while building this table ----------------------------------------
def test_a_failed_one_class_fit_leaves_the_model_unfitted():
    model = sn.MLP(hidden=(4,), seed=0)
    with pytest.raises(ValueError, match="1 class"):
        model.fit(X, np.zeros(40), epochs=1, batch_size=8)
    model.fit(X, Y, epochs=1, batch_size=8)  # the same object, now with two classes
    assert model.classes_.tolist() == ["neg", "pos"] and model.predict(X).shape == (40,)


def test_trials_with_out_leaves_no_folder_when_it_fails(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("train", "--trials", "2", "--lr", "1e9", "--out", "t")
    assert code == 2 and "trials diverged" in err and not (tmp_path / "t").exists()


def test_constant_regression_target_scores_a_finite_r2():
    model = sn.MLP(hidden=(4,), seed=0, loss="mse").fit(X, Y_REAL, epochs=1, batch_size=8)
    assert np.isfinite(model.evaluate(X, np.ones(40))["r2"])


# -- determinism ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_same_seed_gives_bit_identical_weights(dtype):
    def run():
        return sn.MLP(hidden=(8, 4), seed=5, dtype=dtype, optimizer="adam", lr=0.01, dropout=0.1).fit(
            X, Y, epochs=3, batch_size=7, validation_split=0.2).params

    a, b = run(), run()
    assert a.dtype == dtype and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_group_engine_and_sweep_are_bit_identical_across_runs(dtype):
    def group():
        models = [sn.MLP(hidden=h, seed=s, dtype=dtype) for s, h in enumerate((3, 8, 5))]
        fit_group(models, X, Y, epochs=3, batch_size=8, threads=2)
        return b"".join(m.params.tobytes() for m in models)

    def rows():
        result = sweep(X, Y, X, Y, grid(hidden=[3, 6]), trials=2, seed=1, epochs=2, batch_size=8,
                       dtype=dtype, threads=2)
        return [{k: v for k, v in r.items() if k != "seconds"} for r in result.rows]

    assert group() == group()
    assert rows() == rows()


def test_same_seed_is_bit_identical_in_another_process():
    code = ("import hashlib, sys, numpy as np, scratchnet as sn; sys.path.insert(0, 'tests');"
            "from test_hardening import X, Y;"
            "print(hashlib.sha256(sn.MLP(hidden=(8,), seed=9, dtype='float32')"
            ".fit(X, Y, epochs=3, batch_size=8).params.tobytes()).hexdigest())")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         timeout=120, check=True).stdout.strip()
    here = sn.MLP(hidden=(8,), seed=9, dtype="float32").fit(X, Y, epochs=3, batch_size=8).params
    assert out == hashlib.sha256(here.tobytes()).hexdigest()


def test_diverging_sweep_members_leave_finite_rows_and_strict_json(tmp_path):
    result = sweep(X, Y, X, Y, grid(lr=[0.1, 1e3, 1e100], hidden=[3, 8]), trials=2, seed=3,
                   epochs=4, batch_size=4, out=tmp_path / "s")
    assert {r["diverged"] is not None for r in result.rows} == {True, False}
    for row in result.rows:
        for key in ("train_accuracy", "test_accuracy", "train_loss", "test_loss"):
            assert np.isfinite(row[key]), row

    def refuse(token):
        raise ValueError(f"non-standard JSON constant {token}")

    json.loads((tmp_path / "s" / "results.json").read_text(), parse_constant=refuse)


def test_group_members_that_diverge_keep_finite_weights():
    models = [sn.MLP(hidden=(6,), seed=s, lr=lr) for s, lr in enumerate((0.1, 1e300, 1e10))]
    diverged = fit_group(models, X, Y, epochs=3, batch_size=8, threads=1)
    assert diverged[0] is None and diverged[1] == 1
    for model in models:
        assert np.isfinite(model.params).all() and np.isfinite(model.predict_proba(X)).all()

"""scratchnet.sklearn against scikit-learn's own MLPClassifier / MLPRegressor.

The estimators are drop-ins, so the comparison is fair by construction: both get
the same constructor arguments (the defaults plus the solver below, so the same
max_iter, tol, n_iter_no_change, batch size, L2 alpha and learning rate), the same
train/test split and the same standardised features, for seeds 0..9. Each keeps its
own weight initialisation and random streams. Runs interleave (the order alternates
per seed) on one BLAS thread; times are medians of the per-run ratios.

    python benchmarks/sklearn_compare.py            # about a minute
    python benchmarks/sklearn_compare.py --seeds 3  # quicker
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import sklearn.neural_network as sk_nn
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import scratchnet.sklearn as sn_sk

CLASSIFICATION = {
    "digits": lambda: datasets.load_digits(return_X_y=True),
    "breast_cancer": lambda: datasets.load_breast_cancer(return_X_y=True),
    "wine": lambda: datasets.load_wine(return_X_y=True),
    "moons": lambda: datasets.make_moons(1000, noise=0.25, random_state=0),
}
REGRESSION = {
    "diabetes": lambda: datasets.load_diabetes(return_X_y=True),
    "friedman1": lambda: datasets.make_friedman1(1000, noise=1.0, random_state=0),
}
SOLVERS = {"adam": {}, "sgd": {"solver": "sgd"}}


def split(X, y, seed, regression):
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=seed, stratify=None if regression else y)
    scaler = StandardScaler().fit(X_train)
    if regression:  # targets in units of their spread, so the default lr suits them
        mean, std = y_train.mean(), y_train.std()
        y_train, y_test = (y_train - mean) / std, (y_test - mean) / std
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def run(cls, params, data, seed):
    X_train, X_test, y_train, y_test = data
    start = time.perf_counter()
    est = cls(random_state=seed, **params).fit(X_train, y_train)
    seconds = time.perf_counter() - start
    return est.score(X_test, y_test), seconds, est.n_iter_


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args(argv)
    rows = []
    tasks = [(name, load, False) for name, load in CLASSIFICATION.items()] + \
            [(name, load, True) for name, load in REGRESSION.items()]
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, load, regression in tasks:
            X, y = load()
            ours_cls = sn_sk.MLPRegressor if regression else sn_sk.MLPClassifier
            theirs_cls = sk_nn.MLPRegressor if regression else sk_nn.MLPClassifier
            for solver, params in SOLVERS.items():
                ours, theirs = [], []
                for seed in range(args.seeds):
                    data = split(X, y, seed, regression)
                    pair = [(ours, ours_cls), (theirs, theirs_cls)]
                    for results, cls in (pair if seed % 2 == 0 else pair[::-1]):
                        results.append(run(cls, params, data, seed))
                ours, theirs = np.array(ours), np.array(theirs)
                diff = ours[:, 0] - theirs[:, 0]
                rows.append((name, "R^2" if regression else "accuracy", solver,
                             ours[:, 0].mean(), theirs[:, 0].mean(), diff.mean(),
                             diff.std(ddof=1) / np.sqrt(len(diff)),
                             int((diff > 0).sum()), int((diff < 0).sum()),
                             np.median(ours[:, 2]), np.median(theirs[:, 2]),
                             np.median(ours[:, 1] / theirs[:, 1])))
    print(f"test score, mean over {args.seeds} seeds; diff = scratchnet - scikit-learn "
          "(paired, +- standard error)\n")
    print("| data | score | solver | scratchnet | scikit-learn | diff | wins/losses "
          "| epochs (sn / sk) | time ratio sn/sk |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.4f} | {r[4]:.4f} | {r[5]:+.4f} +- {r[6]:.4f} "
              f"| {r[7]}/{r[8]} | {r[9]:.0f} / {r[10]:.0f} | {r[11]:.2f} |")


if __name__ == "__main__":
    main()

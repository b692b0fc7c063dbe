"""scratchnet.sklearn against scikit-learn's own MLPClassifier / MLPRegressor.

The estimators are drop-ins, so the comparison is fair by construction: both get
the same constructor arguments (the defaults plus the solver below, so the same
max_iter, tol, n_iter_no_change, batch size, L2 alpha and learning rate), the same
train/test split and the same standardised features, for seeds 0..29. Both draw the
initial weights, the shuffles and the validation split from random_state's stream in
the same order, so a seed gives both the same start: SGD runs agree to rounding,
Adam to ~1e-6 (eps added after the bias correction), L-BFGS follows the same
objective from the same weights (tests/test_sklearn.py checks all three). Runs
interleave (the order alternates per seed) on one BLAS thread; times are medians of
the per-run ratios.

    python benchmarks/sklearn_compare.py            # a few minutes; rewrites the
                                                    # "## scikit-learn estimators" section
                                                    # of docs/benchmarks.md
    python benchmarks/sklearn_compare.py --seeds 3 --no-write  # quicker, prints only
"""
from __future__ import annotations

import argparse
import platform
import time
import warnings

from report import DOC, write_section
import numpy as np
import sklearn
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
SOLVERS = {"adam": {}, "sgd": {"solver": "sgd"}, "lbfgs": {"solver": "lbfgs"}}
TITLE = "## scikit-learn estimators"


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


def compare(n_seeds):
    """One row per (data, solver): mean scores, paired difference, epochs, time ratio."""
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
                for seed in range(n_seeds):
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
    return rows


def section(rows, n_seeds) -> str:
    lines = [
        TITLE, "",
        "`scratchnet.sklearn.MLPClassifier` / `MLPRegressor` against scikit-learn's estimators "
        "of the same names, both constructed with the same arguments (defaults, plus the solver "
        "shown), on the same splits and standardised features. Test score (accuracy, or R^2 on "
        f"standardised targets), mean over seeds 0..{n_seeds - 1}; diff = scratchnet - "
        "scikit-learn, paired by seed, +- its standard error; wins/losses count seeds. Epochs "
        "(iterations for lbfgs) and the fit-time ratio are medians; one BLAS thread, runs "
        "interleaved. A seed gives both the same initial weights, shuffles and validation "
        "split: SGD runs agree to rounding, Adam to ~1e-6 and L-BFGS follows the same "
        "objective from the same start (tests/test_sklearn.py), so differences below come "
        "from rounding, amplified where training is chaotic.", "",
        f"Produced by `python benchmarks/sklearn_compare.py` on {platform.machine()}, "
        f"Python {platform.python_version()}, NumPy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}.", "",
        "| data | score | solver | scratchnet | scikit-learn | diff | wins/losses "
        "| epochs (sn / sk) | fit time sn/sk |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.4f} | {r[4]:.4f} "
                     f"| {r[5]:+.4f} +- {r[6]:.4f} | {r[7]}/{r[8]} | {r[9]:.0f} / {r[10]:.0f} "
                     f"| {r[11]:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    text = section(compare(args.seeds), args.seeds)
    print(text)
    if not args.no_write:
        write_section(TITLE[3:], text)
        print(f"wrote the {TITLE[3:]} section of {DOC}")


if __name__ == "__main__":
    main()

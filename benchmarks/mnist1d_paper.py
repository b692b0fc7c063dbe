"""MNIST-1D against the paper's table: scratchnet's two presets, the same networks and
recipes in PyTorch, scikit-learn's MLPClassifier and logistic regression.

Every run trains on the standard 4,000 training rows and is scored on the 1,000 test
rows (the recipes were chosen on a 3,200 / 800 split of the training rows only). One
BLAS thread and one PyTorch thread for everyone. Then the CNN's time per epoch, scratchnet
against eager PyTorch, interleaved rounds, medians.

    python benchmarks/mnist1d_paper.py              # 5 seeds; rewrites the "## MNIST-1D" section
                                              # of docs/benchmarks.md
    python benchmarks/mnist1d_paper.py --seeds 1 --epochs 3 --no-write    # a smoke test
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
from common import machine, race
from report import DOC, write_section
from threadpoolctl import threadpool_limits

from scratchnet import datasets, presets
from scratchnet.train import RandomShift

PAPER = {"logistic regression": 0.32, "MLP": 0.68, "GRU": 0.91, "CNN": 0.94, "human expert": 0.96}


class Timer:
    """Wall-clock and CPU seconds of a block: (wall, cpu). On a machine shared with other
    work the wall time grows with the load; this process's CPU time (one thread) does not."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.seconds = (time.perf_counter() - self.wall, time.process_time() - self.cpu)


def data():
    X, y = datasets.load("mnist1d")
    n = datasets.MNIST1D_TRAIN
    return X[:n], y[:n], X[n:], y[n:]


# -- scratchnet -----------------------------------------------------------------------
def scratchnet_run(name, seed, split, epochs=None):
    X_train, y_train, X_test, y_test = split
    settings = presets.get(name)
    if epochs is not None:
        settings["epochs"] = epochs
    model, fit = presets.build(settings, seed=seed)
    with Timer() as t:
        model.fit(X_train, y_train, **fit)
    return model.evaluate(X_test, y_test)["accuracy"], t.seconds


# -- PyTorch: the same networks and recipes -------------------------------------------
def torch_net(name, torch):
    nn = torch.nn
    if name == "mnist1d-mlp":
        s, layers, width = presets.get(name), [], 40
        for h in s["hidden"]:
            layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(s["dropout"])]
            width = h
        return nn.Sequential(*layers, nn.Linear(width, 10))
    layers, channels, length = [], 1, 40
    for cfg in presets.get(name)["layers"]:
        if cfg["type"] == "Conv1d":
            layers.append(nn.Conv1d(channels, cfg["channels"], cfg["kernel_size"],
                                    stride=cfg["stride"], padding=cfg["padding"]))
            channels = cfg["channels"]
            length = (length + 2 * cfg["padding"] - cfg["kernel_size"]) // cfg["stride"] + 1
        elif cfg["type"] == "ReLU":
            layers.append(nn.ReLU())
        elif cfg["type"] == "Flatten":
            layers.append(nn.Flatten())
        elif cfg["type"] == "Dense":
            layers.append(nn.Linear(channels * length, cfg["units"]))
    return nn.Sequential(*layers)


class TorchRecipe:
    """A preset's network in eager PyTorch (float32, its own init), trained with the
    preset's optimizer, learning rate, weight decay, batch size, cosine schedule and
    shifts; one epoch per ``epoch()``."""

    def __init__(self, name, seed, split, epochs=None):
        import torch

        self.torch, self.name = torch, "torch"
        s = presets.get(name)
        self.epochs = epochs or s["epochs"]
        torch.manual_seed(seed)
        self.net = torch_net(name, torch)
        opt = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[s["optimizer"]]
        self.opt = opt(self.net.parameters(), lr=s["lr"], weight_decay=s.get("weight_decay", 0.0))
        self.schedule = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=self.epochs)
        self.shift = RandomShift(s["augment"]["shift"])
        self.batch_size = s["batch_size"]
        self.conv = "layers" in s
        X_train, y_train, X_test, y_test = split
        self.X, self.y = X_train.astype(np.float32), torch.from_numpy(y_train)
        self.X_test, self.y_test = X_test.astype(np.float32), y_test
        self.rng = np.random.default_rng(seed)
        self.loss = torch.nn.CrossEntropyLoss()

    def _inputs(self, X):
        x = self.torch.from_numpy(np.ascontiguousarray(X))
        return x[:, None, :] if self.conv else x

    def epoch(self):
        self.net.train()
        order = self.rng.permutation(len(self.X))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            xb = self._inputs(self.shift(self.X[idx], self.rng))
            self.opt.zero_grad()
            self.loss(self.net(xb), self.y[idx]).backward()
            self.opt.step()
        self.schedule.step()

    def accuracy(self):
        self.net.eval()
        with self.torch.no_grad():
            pred = self.net(self._inputs(self.X_test)).argmax(1).numpy()
        return float(np.mean(pred == self.y_test))


def torch_run(name, seed, split, epochs=None):
    run = TorchRecipe(name, seed, split, epochs)
    with Timer() as t:
        for _ in range(run.epochs):
            run.epoch()
    return run.accuracy(), t.seconds


# -- scikit-learn ---------------------------------------------------------------------
def sklearn_mlp(seed, split, epochs=None):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X_train, y_train, X_test, y_test = split
    clf = MLPClassifier(hidden_layer_sizes=(256, 256), max_iter=epochs or 200, random_state=seed)
    with Timer() as t, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    return clf.score(X_test, y_test), t.seconds


def logistic_regression(seed, split, epochs=None):
    from sklearn.linear_model import LogisticRegression

    X_train, y_train, X_test, y_test = split
    clf = LogisticRegression(max_iter=1000, random_state=seed)
    with Timer() as t:
        clf.fit(X_train, y_train)
    return clf.score(X_test, y_test), t.seconds


# -- the CNN's epoch: scratchnet against eager PyTorch --------------------------------
class ScratchnetEpoch:
    def __init__(self, split):
        self.name = "scratchnet"
        self.model, fit = presets.build("mnist1d-cnn", seed=0)
        self.augment = fit["augment"]
        self.X, self.y = split[0], split[1]
        self.model.fit(self.X, self.y, epochs=1, batch_size=100, augment=self.augment)

    def epoch(self):
        self.model.fit(self.X, self.y, epochs=1, batch_size=100, augment=self.augment)


RUNS = {  # row -> (function, keyword for the preset)
    "logistic regression (scikit-learn)": (logistic_regression, None),
    "MLPClassifier (256, 256) (scikit-learn)": (sklearn_mlp, None),
    "scratchnet `mnist1d-mlp`": (scratchnet_run, "mnist1d-mlp"),
    "PyTorch, the same MLP and recipe": (torch_run, "mnist1d-mlp"),
    "scratchnet `mnist1d-cnn`": (scratchnet_run, "mnist1d-cnn"),
    "PyTorch, the same CNN and recipe": (torch_run, "mnist1d-cnn"),
}


def run(seeds, epochs, rounds):
    import torch

    torch.set_num_threads(1)
    split = data()
    results = {row: [] for row in RUNS}
    for seed in seeds:
        for row, (fn, preset) in RUNS.items():  # interleaved: each seed runs every row
            args = (preset, seed, split) if preset else (seed, split)
            acc, (wall, cpu) = fn(*args, epochs=epochs)
            results[row].append((acc, wall, cpu))
            print(f"seed {seed}  {row}: {acc:.4f} in {wall:.1f} s ({cpu:.1f} s CPU)",
                  file=sys.stderr, flush=True)
    torch_epoch = TorchRecipe("mnist1d-cnn", 0, split)
    torch_epoch.epoch()
    times = race([ScratchnetEpoch(split), torch_epoch], rounds, "CNN epoch")
    return results, times


def table(results) -> str:
    lines = ["| model | test accuracy (mean ± std) | seconds per run: wall (CPU), median | paper |",
             "|---|---|---|---|"]
    paper = {"logistic": PAPER["logistic regression"], "MLPClassifier": None,
             "scratchnet `mnist1d-mlp`": PAPER["MLP"], "scratchnet `mnist1d-cnn`": PAPER["CNN"]}
    for row, runs in results.items():
        acc = np.array([a for a, _, _ in runs])
        wall, cpu = np.median([w for _, w, _ in runs]), np.median([c for _, _, c in runs])
        ref = next((v for k, v in paper.items() if row.startswith(k)), None)
        lines.append(f"| {row} | {acc.mean():.4f} ± {acc.std():.4f} | {wall:.1f} ({cpu:.1f}) | "
                     f"{'' if ref is None else f'{ref:.2f}'} |")
    lines += [f"| paper: GRU | | | {PAPER['GRU']:.2f} |",
              f"| paper: human expert | | | {PAPER['human expert']:.2f} |"]
    return "\n".join(lines)


def per_seed(results) -> str:
    return "; ".join(f"{row.split(' (')[0]}: " + ", ".join(f"{a:.3f}" for a, _, _ in runs)
                     for row, runs in results.items())


def section(results, times, n_seeds) -> str:
    ours, theirs = np.median(times["scratchnet"]), np.median(times["torch"])
    info = machine()
    mlp, cnn = presets.get("mnist1d-mlp"), presets.get("mnist1d-cnn")
    return f"""## MNIST-1D

The paper's table (Greydanus & Kobak, "Scaling down deep learning": logistic regression
0.32, MLP 0.68, GRU 0.91, CNN 0.94, human 0.96) beside what runs here: test accuracy on the
standard 1,000 test rows after training on the 4,000 training rows, mean ± std over
{n_seeds} seeds (initialisation, shuffling, dropout and shifts), and seconds per training run.
The presets' recipes were chosen on a 3,200 / 800 split of the training rows, never on the
test rows.

{table(results)}

Per-seed accuracies: {per_seed(results)}.

- `mnist1d-mlp`: {len(mlp['hidden'])} × {mlp['hidden'][0]} ReLU with batch norm and dropout
  {mlp['dropout']}, AdamW (lr {mlp['lr']}, weight decay {mlp['weight_decay']}), batch
  {mlp['batch_size']}, {mlp['epochs']} epochs on a cosine schedule, each training row shifted
  circularly by up to ±{mlp['augment']['shift']} steps, float32.
- `mnist1d-cnn`: the paper's CNN (three Conv1d of 25 channels, kernels 5, 3, 3, stride 2,
  padding 1, ReLU, then a linear layer), Adam (lr {cnn['lr']}), batch {cnn['batch_size']},
  {cnn['epochs']} epochs on a cosine schedule, the same shifts, float32.
- PyTorch runs the same networks with the same recipes (its own initialisation); the
  MLPClassifier is scikit-learn's defaults (Adam, 200 epochs) with two layers of 256.

CNN time per epoch (4,000 rows, batch 100, shifts included), interleaved rounds, median:
scratchnet {ours * 1e3:.0f} ms, eager PyTorch {theirs * 1e3:.0f} ms: **{ours / theirs:.2f}×** PyTorch
(target ≤ 1.5×).

One BLAS thread, one PyTorch thread; CPU seconds are this process's (`time.process_time`),
which other work on a shared machine does not inflate as it does the wall time. Machine: {info['cpu']}, {info['cores']} cores; NumPy
{info['numpy']}, PyTorch {info['torch']}, scikit-learn {info['sklearn']}. Produced by
`python benchmarks/mnist1d_paper.py`.
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None,
                        help="override every run's epochs (smoke tests; implies --no-write)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of the epoch race")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    with threadpool_limits(1):
        results, times = run(range(args.seeds), args.epochs, args.rounds)
    text = section(results, times, args.seeds)
    print("\n" + text)
    if not args.no_write and args.epochs is None:
        write_section("MNIST-1D", text)
        print(f"wrote the MNIST-1D section of {DOC}")


if __name__ == "__main__":
    main()

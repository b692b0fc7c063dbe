"""Sweep speed: the tutorial's two many-model experiments, side by side with their peers.

1. ``test_class(3, 40, 3)``: hidden sizes 3..39, 3 runs each (111 networks), 100
   epochs at batch 10 on the tutorial's moons, seed preset (lr 1e-4, summed
   gradients, standard-normal init).
2. ``test(X_train, y_train, X_test, y_test, 10, 10, 100)``: 100 runs of hidden 64,
   10 epochs at batch 10.

scratchnet's sweep engine (model groups, all cores: one shard of each group trains
in this process, the others in worker processes) is timed in full: planning,
grouping, training and scoring every model on train and test, in float64 and in
float32 (asked for explicitly: never the default), median of ``--repeat`` runs
interleaved with each other; CPU seconds include the workers'. The peers, timed in
the same process right after, are estimated from a sample of their models, because
in full they take minutes: one ``MLP.fit`` after another, and the tutorial's own code
(``benchmarks/tutorial.py``). Writes the "## Sweeps" section of docs/benchmarks.md.

    python benchmarks/sweep.py            # about two minutes
    python benchmarks/sweep.py --no-write # print only
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

from report import write_section
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tutorial  # noqa: E402  (the tutorial's code, for its timing)

from scratchnet import MLP  # noqa: E402
from scratchnet.data import tutorial_moons  # noqa: E402
from scratchnet.parallel import default_threads  # noqa: E402
from scratchnet.sweep import grid, sweep, trials  # noqa: E402

SEED = dict(lr=1e-4, init="normal", reduction="sum")


def cpu_seconds():
    """CPU seconds of this process and of its finished children (the group engine's
    worker processes), user and system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn):
    wall, cpu = time.perf_counter(), cpu_seconds()
    out = fn()
    return out, time.perf_counter() - wall, cpu_seconds() - cpu


def sequential_per_model(data, hidden_sizes, epochs):
    """Seconds per model for one MLP.fit after another (the obvious NumPy)."""
    X_train, X_test, y_train, y_test = data
    start = time.perf_counter()
    for i, h in enumerate(hidden_sizes):
        MLP(hidden=h, seed=i, **SEED).fit(X_train, y_train, epochs=epochs, batch_size=10)
    return (time.perf_counter() - start) / len(hidden_sizes)


def tutorial_per_model(data, hidden_sizes, epochs, sample_epochs):
    """Seconds per model for the tutorial's code, from ``sample_epochs`` epochs each."""
    X_train, X_test, y_train, y_test = data
    start = time.perf_counter()
    for i, h in enumerate(hidden_sizes):
        rng = np.random.default_rng(i)
        model = tutorial.init_network(rng, n_hidden=h)
        tutorial.fit(model, X_train, y_train, 10, sample_epochs, rng)
    return (time.perf_counter() - start) / len(hidden_sizes) * epochs / sample_epochs


def run(quick=False, repeat=3):
    data = tutorial_moons()
    X_train, X_test, y_train, y_test = data
    epochs = 20 if quick else 100
    load_before = os.getloadavg()[0]
    n = default_threads()
    points = grid(hidden=range(3, 40))
    ours = {  # (experiment, name): the full run, as a user calls it
        ("sweep", f"scratchnet sweep, float64, {n} workers"): lambda: sweep(
            X_train, y_train, X_test, y_test, points, trials=3, seed=0, preset="seed",
            epochs=epochs, batch_size=10),
        ("sweep", f"scratchnet sweep, float32, {n} workers"): lambda: sweep(
            X_train, y_train, X_test, y_test, points, trials=3, seed=0, preset="seed",
            epochs=epochs, batch_size=10, dtype="float32"),
        ("sweep", "scratchnet sweep, float64, 1 worker"): lambda: sweep(
            X_train, y_train, X_test, y_test, points, trials=3, seed=0, preset="seed",
            epochs=epochs, batch_size=10, threads=1),
        ("test", f"scratchnet trials, float64, {n} workers"): lambda: trials(
            X_train, y_train, X_test, y_test, n=100, seed=0, hidden=64, epochs=10,
            batch_size=10, **SEED),
        ("test", f"scratchnet trials, float32, {n} workers"): lambda: trials(
            X_train, y_train, X_test, y_test, n=100, seed=0, hidden=64, epochs=10,
            batch_size=10, dtype="float32", **SEED),
        ("test", "scratchnet trials, float64, 1 worker"): lambda: trials(
            X_train, y_train, X_test, y_test, n=100, seed=0, hidden=64, epochs=10,
            batch_size=10, threads=1, **SEED)}
    times = {key: [] for key in ours}
    results = {}
    for _ in range(repeat):  # interleaved, so a busy spell hits every contender alike
        for key, fn in ours.items():
            results[key], wall, cpu = timed(fn)
            times[key].append((wall, cpu))
    rows = [(key[0], key[1], float(np.median([t[0] for t in ts])),
             float(np.median([t[1] for t in ts])), [t[0] for t in ts]) for key, ts in times.items()]
    acc = {dtype: results[("sweep", f"scratchnet sweep, {dtype}, {n} workers")]
           for dtype in ("float64", "float32")}
    acc["test float64"] = results[("test", f"scratchnet trials, float64, {n} workers")]

    sample = [3, 21, 39]
    per_model = sequential_per_model(data, sample, epochs)
    rows.append(("sweep", f"MLP.fit one after another (from {len(sample)} models)", per_model * 111,
                 None, None))
    per_model = tutorial_per_model(data, sample, epochs, sample_epochs=3)
    rows.append(("sweep", f"the tutorial's code (from {len(sample)} models x 3 epochs)",
                 per_model * 111, None, None))
    per_model = sequential_per_model(data, [64] * 5, 10)
    rows.append(("test", "MLP.fit one after another (from 5 models)", per_model * 100, None, None))
    per_model = tutorial_per_model(data, [64] * 2, 10, sample_epochs=3)
    rows.append(("test", "the tutorial's code (from 2 models x 3 epochs)", per_model * 100, None, None))
    return {"rows": rows, "acc": acc, "epochs": epochs, "repeat": repeat,
            "load": (load_before, os.getloadavg()[0])}


def by_hidden(result):
    table = {}
    for s in result.summary():
        table[s["units"]] = (s["mean"], s["std"])
    return table


def section(res) -> str:
    rows, acc = res["rows"], res["acc"]
    lines = ["## Sweeps", "",
             "Generated by `python benchmarks/sweep.py`. The tutorial's many-model experiments on its "
             "moons (3750 training rows), seed preset. scratchnet rows time the whole call "
             "(`sweep`: planning, grouping, training, scoring every model on train and test; "
             "`trials`: training and scoring), the median of "
             f"{res['repeat']} runs interleaved with each other (all runs' wall seconds in the last "
             "column); CPU seconds include the worker processes'. A group's models are split into "
             "shards, one per worker: the first trains in the calling process, the others in "
             "worker processes (`threads=` sets how many). The peers are estimated from a sample "
             "of their models, timed in the same process right after. Speed-ups are against the "
             "tutorial's code. \"CPU s / workers\" is the wall time the run would take with "
             "every worker on a free core of its own; compare it with the wall time when the "
             "machine was busy (load average below).", ""]
    for key, title in [("sweep", f"`test_class(3, 40, 3)`: 111 networks, hidden 3..39 x 3 runs, "
                                 f"{res['epochs']} epochs at batch 10 (target: <= 6 s)"),
                       ("test", "`test(..., 10, 10, 100)`: 100 networks of hidden 64, 10 epochs at "
                                "batch 10 (target: <= 1.5 s)")]:
        group = [r for r in rows if r[0] == key]
        tutorial_s = [r[2] for r in group if "tutorial" in r[1]][0]
        lines += [f"### {title}", "",
                  "| contender | wall s | CPU s | CPU s / workers | speed-up (wall) | all runs, wall s |",
                  "|---|---:|---:|---:|---:|---|"]
        for _, name, wall, cpu, walls in group:
            workers = default_threads() if "workers" in name else 1
            ideal = "" if cpu is None else f"{cpu / workers:.2f}"
            runs = "" if walls is None else ", ".join(f"{w:.2f}" for w in walls)
            lines.append(f"| {name} | {wall:.2f} | {'' if cpu is None else f'{cpu:.2f}'} | "
                         f"{ideal} | {tutorial_s / wall:.0f}x | {runs} |")
        lines.append("")
    table = by_hidden(acc["float64"])
    mean_30_39 = np.mean([table[h][0] for h in range(30, 40)])
    mean_30_39_f32 = np.mean([by_hidden(acc["float32"])[h][0] for h in range(30, 40)])
    shown = [3, 4, 5, 6, 8, 10, 15, 20, 25, 30, 35, 39]
    lines += ["### Accuracy by hidden size (float64 sweep, mean ± std of 3 runs)", "",
              "| hidden | " + " | ".join(map(str, shown)) + " |",
              "|---|" + "---:|" * len(shown),
              "| test accuracy | " + " | ".join(f"{table[h][0]:.3f} ± {table[h][1]:.3f}" for h in shown) + " |",
              "",
              f"Mean test accuracy for 30-39 hidden units: {mean_30_39:.4f} in float64, "
              f"{mean_30_39_f32:.4f} in float32 (the tutorial's figure: about 0.98). "
              f"The 100 runs of hidden 64: mean {acc['test float64']['mean']:.4f}, std "
              f"{acc['test float64']['std']:.4f} (the tutorial: 0.94541, 0.019558).", "",
              f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, NumPy "
              f"{np.__version__}, Python {platform.python_version()}; load average "
              f"{res['load'][0]:.2f} before, {res['load'][1]:.2f} after (other processes on the "
              f"machine slow the wall times; CPU seconds are less sensitive).", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 epochs instead of 100 for the sweep")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each scratchnet contender")
    args = parser.parse_args()
    text = section(run(args.quick, args.repeat))
    print(text)
    if not args.no_write:
        write_section("Sweeps", text)


if __name__ == "__main__":
    main()

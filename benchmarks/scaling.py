"""Data bigger than memory, measured (docs/scaling.md):

  predict-memory  ``scratchnet predict`` streaming a Parquet file of 100,000 and of
                  10,000,000 rows x 20 features: peak resident set of the process
                  (each in its own subprocess). Target: the two differ by < 50 MB.
  throughput      training rows per second on 200,000 x 20 rows (MLP 20-64-2, batch 64):
                  in memory (``fit``), streamed from Parquet (``fit_stream``, one epoch
                  after the first pass) and streamed on a local Dask cluster of two worker
                  processes (``client=``). Each contender in its own subprocess, rounds
                  interleaved, medians.
  csv             ``datasets.read_csv`` against ``pandas.read_csv`` on 1,000,000 x 21
                  numbers (benchmarks/matrix.py's cell: each in its own subprocess).
                  Targets: at most 1.5x the time and 2x the peak memory.
  accuracy        streamed against in-memory training on data that fits in memory
                  (noisy spirals, 20,000 rows, the same hash-held-out test rows), 5 seeds
                  each, 10 epochs.

    python benchmarks/scaling.py            # everything (about 10 minutes here)
    python benchmarks/scaling.py --quick    # smaller files, one round (about 2 minutes)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
FEATURES = 20


def write_parquet(path, rows, seed=0, block=1_000_000):
    """rows x 20 float64 features and a 0/1 label, written block by block (bounded memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    w = rng.standard_normal(FEATURES)
    writer = None
    for start in range(0, rows, block):
        X = rng.standard_normal((min(block, rows - start), FEATURES))
        y = (X @ w + 0.5 * rng.standard_normal(len(X)) > 0).astype(np.int64)
        table = pa.table({**{f"x{j}": X[:, j] for j in range(FEATURES)}, "label": y})
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=65_536)
    writer.close()


def status_mib(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024


# -- children: one measurement each, in a fresh process --------------------------------
def child(job):
    if job["cell"] == "predict":
        from scratchnet import cli
        import pyarrow.parquet  # noqa: F401 (imported before the baseline)

        base = status_mib("VmRSS")
        t0 = time.perf_counter()
        code = cli.main(["predict", "--model", job["model"], "--data", job["data"],
                         "--output", job["output"], "--quiet"])
        assert code == 0
        return {"seconds": time.perf_counter() - t0, "peak_mib": status_mib("VmHWM"),
                "base_mib": base}
    if job["cell"] == "train":
        import scratchnet as sn
        from scratchnet import datasets

        model = sn.MLP(hidden=(64,), lr=0.05, seed=0, scale=True)
        kind, path, rows = job["kind"], job["data"], job["rows"]
        if kind == "in memory":
            X, y, _ = datasets.read_table(path, target="label")
            model.fit(X[:1000], y[:1000], epochs=1, batch_size=64)  # builds it, scaler fitted
            t0 = time.perf_counter()
            model.fit(X, y, epochs=1, batch_size=64)
        else:
            client = None
            if kind == "Dask":
                from distributed import Client, LocalCluster

                cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
                client = Client(cluster)
            kw = dict(target="label", batch_size=64, chunk_rows=65_536, client=client)
            model.fit_stream(path, epochs=1, **kw)  # the first pass, and a first epoch
            t0 = time.perf_counter()
            model.fit_stream(path, epochs=1, **kw)  # one epoch
        seconds = time.perf_counter() - t0
        return {"seconds": seconds, "rows_per_s": rows / seconds}
    raise ValueError(job["cell"])


def in_child(job):
    res = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)],
                         capture_output=True, text=True, timeout=1800)
    if res.returncode != 0:
        raise RuntimeError(f"{job} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# -- the cells ------------------------------------------------------------------------------
def predict_memory(tmp, sizes):
    import scratchnet as sn
    from scratchnet import datasets

    small = os.path.join(tmp, "small.parquet")
    write_parquet(small, 5000)
    X, y, _ = datasets.read_table(small, target="label")
    model = os.path.join(tmp, "m.npz")
    sn.save(sn.MLP(hidden=(64,), seed=0, scale=True).fit(X, y, epochs=2), model,
            training={"data": {"features": [f"x{j}" for j in range(FEATURES)]}})
    out = {}
    for rows in sizes:
        data = os.path.join(tmp, f"predict-{rows}.parquet")
        write_parquet(data, rows, seed=1)
        run = in_child({"cell": "predict", "model": model, "data": data,
                        "output": os.path.join(tmp, "preds.parquet")})
        out[rows] = dict(run, file_mib=os.path.getsize(data) / 2**20)
        os.unlink(data)
        print(f"  predict {rows:,} rows: peak {run['peak_mib']:.0f} MiB "
              f"(after imports {run['base_mib']:.0f}), {run['seconds']:.1f} s", file=sys.stderr)
    return out


def throughput(tmp, rows, rounds):
    data = os.path.join(tmp, "train.parquet")
    write_parquet(data, rows, seed=2)
    kinds = ["in memory", "streamed", "Dask"]
    runs = {k: [] for k in kinds}
    for i in range(rounds):
        for kind in kinds[i % 3:] + kinds[:i % 3]:
            runs[kind].append(in_child({"cell": "train", "kind": kind, "data": data, "rows": rows}))
        print(f"  throughput round {i + 1}: " + ", ".join(
            f"{k} {v[-1]['rows_per_s']:,.0f} rows/s" for k, v in runs.items()), file=sys.stderr)
    return {k: statistics.median(r["rows_per_s"] for r in v) for k, v in runs.items()}


def accuracy(tmp, seeds=5, epochs=10):
    """Test accuracy on the same hash-held-out rows: in memory vs streamed, per seed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import scratchnet as sn
    from scratchnet import datasets, stream

    X, y = datasets.load("spirals", n_samples=20_000, noise=1.0, turns=1.5, seed=0)  # not separable
    path = os.path.join(tmp, "spirals.parquet")
    pq.write_table(pa.table({"x1": X[:, 0], "x2": X[:, 1], "label": y}), path)
    test = stream.held_out(np.arange(len(X)), 0.25, seed=42)
    out = {"in memory": [], "streamed": []}
    for seed in range(seeds):
        kw = dict(hidden=(64, 64), optimizer="adam", lr=3e-3, seed=seed, scale=True)
        net = sn.MLP(**kw).fit(X[~test], y[~test], epochs=epochs, batch_size=64)
        out["in memory"].append(net.evaluate(X[test], y[test])["accuracy"])
        net = sn.MLP(**kw).fit_stream(path, target="label", epochs=epochs, batch_size=64,
                                      chunk_rows=4096, shuffle_buffer=8192, validation=0.25,
                                      holdout_seed=42)
        out["streamed"].append(net.evaluate(X[test], y[test])["accuracy"])
        print(f"  accuracy seed {seed}: in memory {out['in memory'][-1]:.4f}, "
              f"streamed {out['streamed'][-1]:.4f}", file=sys.stderr)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child")
    parser.add_argument("--only", help="comma-separated cells: predict,throughput,csv,accuracy")
    parser.add_argument("--json", default=str(HERE / "results" / "scaling.json"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    only = set((args.only or "predict,throughput,csv,accuracy").split(","))
    results = {"quick": args.quick, "load_before": os.getloadavg()[0], "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(dir=os.environ.get("SCALING_TMP")) as tmp:
        if "predict" in only:
            sizes = (100_000, 1_000_000) if args.quick else (100_000, 10_000_000)
            results["predict"] = predict_memory(tmp, sizes)
        if "throughput" in only:
            results["throughput"] = throughput(tmp, 50_000 if args.quick else 200_000,
                                               1 if args.quick else 3)
        if "csv" in only:
            import matrix

            cell = matrix.csv_cell(200_000 if args.quick else 1_000_000, 1 if args.quick else 3, tmp)
            med = {k: {m: statistics.median(r[m] for r in v) for m in ("seconds", "peak_mib")}
                   for k, v in cell["runs"].items()}
            results["csv"] = {"rows": cell["rows"], "median": med,
                              "time_ratio": med["scratchnet"]["seconds"] / med["pandas"]["seconds"],
                              "memory_ratio": med["scratchnet"]["peak_mib"] / med["pandas"]["peak_mib"]}
        if "accuracy" in only:
            acc = accuracy(tmp, seeds=2 if args.quick else 5, epochs=3 if args.quick else 10)
            results["accuracy"] = {k: {"runs": v, "mean": float(np.mean(v)), "std": float(np.std(v, ddof=1))}
                                   for k, v in acc.items()}
    results["load_after"] = os.getloadavg()[0]
    Path(args.json).parent.mkdir(exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()

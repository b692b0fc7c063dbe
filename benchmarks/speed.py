"""Training speed of scratchnet against the tutorial's algorithm, scikit-learn and
PyTorch, measured side by side in one run, and written to docs/benchmarks.md.

    python benchmarks/speed.py            # full run (about 10 minutes on 2 cores)
    python benchmarks/speed.py --quick    # smoke run: few rounds, small workloads

Workloads (see issue 7):
  S  the tutorial's: moons 3750x2, 2-64-2, batch 10, one epoch (375 steps), plain SGD.
  L  make_classification 100_000x32, 10 classes, float32, 32-512-512-10, batch 256, SGD.
  scaling  scratchnet's time per epoch against samples and against hidden width.
  memory   peak resident memory (VmHWM) of one epoch of L, each contender in a fresh process.

Every round runs one epoch of each contender in turn (interleaved), so a slow
patch of a shared machine hits all of them; tables give medians over rounds,
the spread (min-max) and ratios of medians.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from common import Torch, machine, noisy, race  # noqa: F401 (Torch: the memory child's speed.Torch)
from report import DOC, write_section
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
PLOT = ROOT / "docs" / "scaling.png"
RESULTS = HERE / "speed-results.json"  # the raw numbers behind the docs' section
TARGETS_S = {"tutorial": 5, "scikit-learn": 8}  # torch: 15 (its time / scratchnet's, at least)


# -- workloads ----------------------------------------------------------------------
def workload_S():
    from scratchnet.data import tutorial_moons

    X_train, _, y_train, _ = tutorial_moons()
    return {"name": "S", "X": X_train, "y": y_train, "hidden": (64,), "batch_size": 10,
            "lr": 0.01, "dtype": "float64"}


def workload_L(n=100_000, hidden=(512, 512)):
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=n, n_features=32, n_informative=16, n_classes=10,
                               random_state=0)
    return {"name": "L", "X": X.astype(np.float32), "y": y, "hidden": hidden, "batch_size": 256,
            "lr": 0.01, "dtype": "float32"}


def steps(w) -> int:
    return -(-len(w["X"]) // w["batch_size"])


# -- contenders: each makes a model once, then ``epoch()`` trains one epoch ----------
class Scratchnet:
    def __init__(self, w, threads=None):
        import scratchnet as sn

        self.w, self.threads = w, threads
        self.name = "scratchnet" if threads is None else f"scratchnet, {threads} BLAS thread"
        self.model = sn.MLP(hidden=w["hidden"], optimizer="sgd", lr=w["lr"], dtype=w["dtype"],
                            seed=0)

    def epoch(self):
        w = self.w
        if self.threads is None:
            return self.model.fit(w["X"], w["y"], epochs=1, batch_size=w["batch_size"])
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.threads, user_api="blas"):
            self.model.fit(w["X"], w["y"], epochs=1, batch_size=w["batch_size"])


class Tutorial:
    """The tutorial's functions (benchmarks/tutorial.py): two classes only."""
    name = "tutorial"

    def __init__(self, w):
        import tutorial

        self.t, self.w, self.rng = tutorial, w, np.random.default_rng(0)
        self.model = tutorial.init_network(self.rng, w["X"].shape[1], 2, w["hidden"][0],
                                           w["X"].dtype)

    def epoch(self):
        w = self.w
        self.t.fit(self.model, w["X"], w["y"], w["batch_size"], 1, self.rng)


class Sklearn:
    name = "scikit-learn"

    def __init__(self, w):
        from sklearn.neural_network import MLPClassifier

        self.w, self.classes = w, np.unique(w["y"])
        self.model = MLPClassifier(hidden_layer_sizes=w["hidden"], solver="sgd", momentum=0,
                                   alpha=0.0, learning_rate_init=w["lr"],
                                   batch_size=w["batch_size"], random_state=0)

    def epoch(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.partial_fit(self.w["X"], self.w["y"], classes=self.classes)


def contenders(w, include_tutorial=True):
    """S compares everyone; L has no tutorial (two classes only) but a one-thread
    scratchnet, to set beside one-thread torch (S's products are too small for
    OpenBLAS to thread)."""
    out = [Scratchnet(w)]
    out.append(Tutorial(w) if include_tutorial else Scratchnet(w, threads=1))
    out.append(Sklearn(w))
    try:
        out += [Torch(w, threads=1), Torch(w)]
    except ImportError:
        print("torch is not installed: skipping it", file=sys.stderr)
    return out


# -- scaling ------------------------------------------------------------------------
def time_epochs(w, rounds) -> float:
    r = Scratchnet(w)
    r.epoch()
    return float(np.median([_timed(r.epoch) for _ in range(rounds)]))


def _timed(f) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def scaling(quick: bool) -> dict:
    from sklearn.datasets import make_moons

    samples = [1_000, 10_000, 100_000] + ([] if quick else [1_000_000])
    by_samples = []
    for n in samples:
        X, y = make_moons(n_samples=n, noise=0.1, random_state=0)
        w = {"X": X, "y": y, "hidden": (64,), "batch_size": 10, "lr": 0.01, "dtype": "float64"}
        by_samples.append(time_epochs(w, 1 if n >= 1_000_000 or quick else 3))
        print(f"  scaling: {n} samples {by_samples[-1]:.3g}s", file=sys.stderr)
    widths = [16, 64, 256] + ([] if quick else [1024, 2048])
    base = workload_L(n=2_000 if quick else 10_000)
    by_width = []
    for h in widths:
        by_width.append(time_epochs(dict(base, hidden=(h, h)), 1 if quick else 3))
        print(f"  scaling: width {h} {by_width[-1]:.3g}s", file=sys.stderr)
    return {"samples": samples, "by_samples": by_samples, "widths": widths, "by_width": by_width,
            "width_rows": len(base["X"])}


def loglog_slope(x, y) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def plot_scaling(sc, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    a.loglog(sc["samples"], sc["by_samples"], "o-", label="scratchnet")
    ref = np.array(sc["samples"], float)
    a.loglog(ref, sc["by_samples"][0] * ref / ref[0], ":", color="gray", label="linear")
    a.set(xlabel="training samples", ylabel="seconds per epoch",
          title="moons, 2-64-2, batch 10, float64")
    a.legend()
    b.loglog(sc["widths"], sc["by_width"], "o-", label="scratchnet")
    h = np.array(sc["widths"], float)
    b.loglog(h, sc["by_width"][-1] * (h / h[-1]) ** 2, ":", color="gray", label="∝ h²")
    b.set(xlabel="hidden width h", ylabel="seconds per epoch",
          title=f"32-h-h-10, {sc['width_rows']:,} rows, batch 256, float32")
    b.minorticks_off()
    b.set_xticks(sc["widths"], [str(w) for w in sc["widths"]])
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- memory -------------------------------------------------------------------------
CHILD = """
import sys, json, numpy as np
sys.path.insert(0, {here!r})
import speed
data = np.load({path!r})
w = dict(X=data["X"], y=data["y"], hidden={hidden!r}, batch_size=256, lr=0.01, dtype="float32")
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
kind = {kind!r}
r = {{"scratchnet": speed.Scratchnet, "scikit-learn": speed.Sklearn,
      "torch1": lambda w: speed.Torch(w, threads=1), "torch": speed.Torch}}[kind](w)
before = hwm()
r.epoch()
print(json.dumps({{"setup_mib": before, "peak_mib": hwm()}}))
"""


def memory(quick: bool) -> dict:
    w = workload_L(n=20_000 if quick else 100_000)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "L.npz")
        np.savez(path, X=w["X"], y=w["y"])
        for kind in ["scratchnet", "scikit-learn", "torch1", "torch"]:
            code = CHILD.format(here=str(HERE), path=path, hidden=w["hidden"], kind=kind)
            res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            if res.returncode != 0:
                print(f"memory run for {kind} failed:\n{res.stderr[-2000:]}", file=sys.stderr)
                continue
            out[kind] = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"  memory: {kind} {out[kind]}", file=sys.stderr)
    return {"rows": len(w["X"]), "runs": out}


# -- report -------------------------------------------------------------------------
def spread(t, scale):
    return f"{np.min(t) * scale:.3g}–{np.max(t) * scale:.3g}"


HOW = """\
Where the time goes: a 2-64-2 step with batch 10 is about twenty NumPy calls on arrays
of a few hundred numbers, so its cost is the calls' fixed overhead (0.2 to 1.5 µs each),
not arithmetic. A training step therefore (1) folds each Dense bias into its matrix
product, `[x, 1] @ [W; b]`, whose transposed product `[x, 1]^T g` is `[grad_W; grad_b]`
at once (W and b are adjacent in the flat parameter array); (2) writes into buffers
reused by every step of the same batch shape (`out=`); (3) takes dL/dlogits without the
loss value, keeping each batch's logits so that the epoch's loss and accuracy come from
one pass at its end; (4) gathers each batch with `ndarray.take` from a shuffled index,
never copying the data set (`np.take`'s Python wrapper alone costs 1 µs); (5) calls
`ndarray.dot` and ufunc methods (`np.add.reduce`) rather than `np.dot`, `np.sum` and
`np.max`, whose dispatch costs as much as the work. On L the matrix products dominate
and the same code runs at the speed of the BLAS."""


def report(res) -> str:
    info, S, L, sc, mem, load = (res["machine"], res["S"], res["L"], res["scaling"],
                                 res["memory"], res["load"])
    lines = ["## Speed", "",
             f"Measured by `python benchmarks/speed.py{' --quick' if res['quick'] else ''}` "
             f"on {res['date']} (raw numbers: `benchmarks/{RESULTS.name}`). Every round trains one epoch of each "
             "contender in turn (the order rotating; on L after 0.2 s of sleep, so that "
             "spinning BLAS/OpenMP threads of one contender do not slow the next), so the "
             "contenders share the machine's ups and downs; "
             "the tables give the median over rounds, the spread (min–max) and ratios of "
             f"medians. Load average before/after: {load[0]:.2f} / {load[1]:.2f} "
             "(the machine was shared with other work: read ratios, not absolute times).", "",
             f"- CPU: {info['cpu']}, {info['cores']} cores; Python {info['python']}",
             f"- NumPy {info['numpy']} (BLAS: {info['numpy_blas']}); scikit-learn {info['sklearn']}; "
             f"PyTorch {info['torch']}",
             "- thread pools (threadpoolctl): " + "; ".join(info["threadpools"]), "",
             HOW, ""]
    if S is not None:
        n_steps, ref = S["steps"], S["times"]["scratchnet"]
        lines += [f"### S: the tutorial's workload ({S['rounds']} rounds)", "",
                  "moons 3750×2, 2-64-2, batch 10, one epoch (375 steps), plain SGD "
                  "(lr 0.01; the tutorial's own code runs its 1e-4 on summed gradients), float64.", "",
                  "| contender | µs per step (median) | spread | its time / scratchnet's: medians "
                  "| fastest rounds | target | met |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for name, t in S["times"].items():
            target = TARGETS_S.get(name, 15 if name.startswith("torch") else None)
            ratio = np.median(t) / np.median(ref)
            lines.append(
                f"| {name} | {np.median(t) / n_steps * 1e6:.1f} | {spread(t, 1e6 / n_steps)} | "
                f"{ratio:.2f} | {np.min(t) / np.min(ref):.2f} | {f'≥ {target}' if target else ''} | "
                f"{('yes' if ratio >= target else 'no') if target else ''} |")
        disturbed = [name for name, t in S["times"].items() if noisy(t)]
        if disturbed:
            lines += ["", f"Disturbed by other work (slowest round over 1.5× the fastest): "
                      f"{', '.join(disturbed)}; for them the fastest rounds say more than the medians."]
        lines.append("")
    if L is not None:
        ref = L["times"]["scratchnet"]
        lines += [f"### L: a larger network ({L['rounds']} rounds)", "",
                  f"make_classification {L['rows']:,}×32, 10 classes, float32, 32-512-512-10, "
                  f"batch 256, one epoch ({L['steps']} steps), plain SGD. The tutorial's code "
                  "handles two classes only, so it sits this one out.", "",
                  "| contender | seconds per epoch (median) | spread | scratchnet's time / its: "
                  "medians | fastest rounds |",
                  "|---|---:|---:|---:|---:|"]
        for name, t in L["times"].items():
            lines.append(f"| {name} | {np.median(t):.3f} | {spread(t, 1)} | "
                         f"{np.median(ref) / np.median(t):.2f} | {np.min(ref) / np.min(t):.2f} |")
        torch_default = next((k for k in L["times"] if k.startswith("torch") and "1 thread" not in k), None)
        pairs = [(a, b) for a, b in [("scratchnet", torch_default),
                                     ("scratchnet, 1 BLAS thread", "torch, 1 thread")]
                 if a in L["times"] and b in L["times"]]
        def verdict(a, b):
            ta, tb = L["times"][a], L["times"][b]
            r = np.median(ta) / np.median(tb)
            note = f"{a} / {b}: {r:.2f} ({'met' if r <= 0.8 else 'not met'}"
            if noisy(ta) or noisy(tb):
                note += f"; disturbed rounds, fastest rounds give {np.min(ta) / np.min(tb):.2f}"
            return note + ")"

        if pairs:
            lines += ["", "Target: scratchnet at most 0.8× PyTorch eager's epoch time, like for like "
                      "(medians): " + "; ".join(verdict(a, b) for a, b in pairs) + "."]
        lines.append("")
    if mem is not None:
        names = {"torch1": "torch, 1 thread", "torch": "torch, default threads"}
        lines += ["### Memory: peak resident set of one epoch of L", "",
                  f"Each contender runs in a fresh Python process that loads the same {mem['rows']:,}×32 "
                  "float32 data from an .npz file, builds its model and trains one epoch. "
                  "`VmHWM` from `/proc/self/status` (the process's peak resident set, "
                  "imports included, nothing subtracted), read after setup and after the epoch.", "",
                  "| contender | after imports, data and model (MiB) | peak after one epoch (MiB) |",
                  "|---|---:|---:|"]
        for kind, m in mem["runs"].items():
            lines.append(f"| {names.get(kind, kind)} | {m['setup_mib']:.0f} | {m['peak_mib']:.0f} |")
        runs = mem["runs"]
        if "scratchnet" in runs and len(runs) > 1:
            lowest = min(runs, key=lambda k: runs[k]["peak_mib"]) == "scratchnet"
            lines += ["", f"Target: scratchnet's peak the lowest: {'met' if lowest else 'not met'}."]
        lines.append("")
    if sc is not None:
        s_slope = loglog_slope(sc["samples"], sc["by_samples"])
        lines += ["### Scaling", "",
                  "scratchnet's seconds per epoch. Left: moons of growing size, 2-64-2, batch 10 "
                  f"(log-log slope {s_slope:.2f}; 1 is linear). Right: 32-h-h-10 on "
                  f"{sc['width_rows']:,} rows of the L data, batch 256, float32.", "",
                  "![scaling](scaling.png)", "",
                  "| samples | " + " | ".join(f"{n:,}" for n in sc["samples"]) + " |",
                  "|---|" + "---:|" * len(sc["samples"]),
                  "| s/epoch | " + " | ".join(f"{t:.3g}" for t in sc["by_samples"]) + " |", "",
                  "| hidden width | " + " | ".join(str(h) for h in sc["widths"]) + " |",
                  "|---|" + "---:|" * len(sc["widths"]),
                  "| s/epoch | " + " | ".join(f"{t:.3g}" for t in sc["by_width"]) + " |", ""]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: few rounds, small workloads")
    p.add_argument("--rounds", type=int, help="rounds for S (L gets about a third as many)")
    p.add_argument("--only", nargs="+", choices=["S", "L", "scaling", "memory"],
                   default=["S", "L", "scaling", "memory"])
    p.add_argument("--no-docs", action="store_true", help="print only; leave docs/ alone")
    p.add_argument("--render", metavar="JSON", help="measure nothing: rewrite the docs from the "
                   f"raw results a run saved (e.g. {RESULTS.relative_to(ROOT)})")
    args = p.parse_args(argv)
    if args.render:
        res = json.loads(Path(args.render).read_text())
    else:
        res = measure(args)
    text = report(res)
    print(text)
    if not args.no_docs:
        DOC.parent.mkdir(exist_ok=True)
        if res["scaling"] is not None:
            plot_scaling(res["scaling"], PLOT)
        write_section("Speed", text)
        if not args.render:
            RESULTS.write_text(json.dumps(res, indent=1))
        print(f"wrote {DOC.relative_to(ROOT)}" + ("" if args.render else f" and {RESULTS.name}"),
              file=sys.stderr)


def measure(args) -> dict:
    """Run the workloads; returns the raw results (JSON-able), as ``report`` takes them."""
    rounds_S = args.rounds or (3 if args.quick else 21)
    rounds_L = max(1, rounds_S // 3) if args.rounds else (1 if args.quick else 7)
    load0 = os.getloadavg()[0]
    res = {"machine": machine(), "quick": args.quick, "date": time.strftime("%Y-%m-%d"),
           "S": None, "L": None, "scaling": None, "memory": None}
    if "S" in args.only:
        w = workload_S()
        res["S"] = {"times": race(contenders(w), rounds_S, "S"), "steps": steps(w),
                    "rounds": rounds_S}
    if "L" in args.only:
        w = workload_L(n=10_000 if args.quick else 100_000)
        res["L"] = {"times": race(contenders(w, include_tutorial=False), rounds_L, "L", pause=0.2),
                    "steps": steps(w), "rounds": rounds_L, "rows": len(w["X"])}
    if "scaling" in args.only:
        res["scaling"] = scaling(args.quick)
    if "memory" in args.only:
        res["memory"] = memory(args.quick)
    res["load"] = [load0, os.getloadavg()[0]]
    return res


if __name__ == "__main__":
    main()

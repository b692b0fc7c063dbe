"""Single small models before and after the one engine, in instructions per training step.

The benchmark matrix's S cells (2-64-2, batch 10, the tutorial's 1,000 moons rows,
``benchmarks/matrix.py``'s workloads) take 25-60 µs a step, and this shared 2-core
machine switches between two speeds within a run: their timings cannot settle a
question of a few percent. Callgrind (valgrind) counts the instructions executed,
the same from run to run whatever else the machine does; it does not see cache
misses or memory stalls, which the timed matrix keeps.

Each cell runs in a fresh process under callgrind with collection off: the model is
built and trained two epochs (buffers, optimizer state, lazy imports), the cyclic
garbage collector is stopped, and then collection is switched on for ``EPOCHS``
epochs of the matrix's own training path (``train_epoch``, as ``MLP.fit`` runs it)
and off again, by a two-line C function built here with gcc (callgrind's
``CALLGRIND_TOGGLE_COLLECT``) and called through ctypes. So the count is the steps'
own, with nothing of the imports or the first epoch in it. Each cell runs with
today's code and with the ``--before`` commit's src/ (git archive). One BLAS thread,
a fixed hash seed. Needs valgrind with its headers and gcc
(``apt-get install valgrind gcc``). Writes the "Single models: instructions per step
before and after" section of docs/benchmarks.md.

    python benchmarks/step_instructions.py                  # 68 runs, about 15 min here
    python benchmarks/step_instructions.py --only 'base|adam' --no-write
"""
from __future__ import annotations

import re
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import callgrind
import matrix

HERE, ROOT = callgrind.HERE, callgrind.ROOT
SECTION = "Single models: instructions per step before and after"
EPOCHS = 3  # 300 steps counted per cell
MOONS = ROOT / "src" / "scratchnet" / "resources" / "tutorial_moons.npz"  # the tutorial's data
DTYPES = ("float64", "float32")
TOGGLE_C = "#include <valgrind/callgrind.h>\nvoid toggle(void) { CALLGRIND_TOGGLE_COLLECT; }\n"
CHILD = """
import ctypes, gc, sys
sys.path.insert(0, {here!r})
import numpy as np
import matrix
dtype, factor, lib, epochs, moons = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
with np.load(moons) as f:  # matrix.size_data("S") without regenerating the moons (an old commit
    rows = matrix.SIZES["S"]["rows"]  # imports scikit-learn for that: minutes under callgrind)
    data = f["X_train"][:rows], f["y_train"][:rows]
ours = matrix.Scratchnet(matrix.workload("S", dtype, factor, data))
ours.epoch(); ours.epoch()
gc.collect(); gc.disable()
toggle = ctypes.CDLL(lib).toggle
toggle()
for _ in range(epochs):
    ours.epoch()
toggle()
assert np.isfinite(ours.model.params).all()
print(len(ours.X) // ours.batch_size)
"""


def per_step(src: Path, lib: Path, dtype: str, factor: str) -> float:
    """Instructions per training step of one S cell, in a fresh process."""
    count, stdout = callgrind.collected(
        src, ["-c", CHILD.format(here=str(HERE)), dtype, factor, str(lib), str(EPOCHS), str(MOONS)],
        options=("--collect-atstart=no",))
    return count / (int(stdout.split()[-1]) * EPOCHS)


def measure(args) -> dict:
    cells = [(dt, f) for dt in DTYPES for f in matrix.FACTORS if args.only is None or re.search(args.only, f)]
    with callgrind.sources(args.before, "gcc") as (code, tmp, labels):
        lib = tmp / "toggle.so"
        (tmp / "toggle.c").write_text(TOGGLE_C)
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(lib), str(tmp / "toggle.c")], check=True)
        runs = [(dt, f, which) for dt, f in cells for which in code]
        with ThreadPoolExecutor(args.jobs) as pool:
            counts = list(pool.map(lambda r: per_step(code[r[2]], lib, r[0], r[1]), runs))
    found = dict(zip(runs, counts))
    rows = [{"dtype": dt, "factor": f, "before": found[(dt, f, "before")], "now": found[(dt, f, "now")]}
            for dt, f in cells]
    return {"rows": rows, **labels, "python": sys.version.split()[0], "epochs": EPOCHS}


def section(res: dict) -> str:
    lines = [f"## {SECTION}", "", f"`python benchmarks/step_instructions.py --before {res['before']}` "
             f"(Python {res['python']}, callgrind, one BLAS thread): instructions per training step "
             "of the benchmark matrix's S cells (2-64-C, batch 10, 1,000 rows; the matrix's own "
             f"`train_epoch` path), counted over {res['epochs']} epochs after two warm-up epochs, "
             f"with the single-model code of commit {res['before']} and with the one engine at "
             f"{res['now']}. Counts do not move with the machine's load, as seconds do here; they "
             "do not see cache misses or memory stalls (the matrix's timings do).", "",
             "| cell | before (K / step) | now (K / step) | now / before |", "|---|---:|---:|---:|"]
    ratios = []
    for r in res["rows"]:
        ratio = r["now"] / r["before"]
        ratios.append(ratio)
        lines.append(f"| {r['dtype']} {r['factor']} | {r['before'] / 1e3:,.1f} | "
                     f"{r['now'] / 1e3:,.1f} | {ratio:.3f} |")
    worst = max(res["rows"], key=lambda r: r["now"] / r["before"])
    lines += ["", f"{len(ratios)} cells: median now / before {statistics.median(ratios):.3f}, "
              f"{sum(x <= 1 for x in ratios)} at or below 1, the most "
              f"{worst['now'] / worst['before']:.3f} ({worst['dtype']} {worst['factor']}).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    callgrind.main(__doc__, SECTION, "step_instructions.json", measure, section, lambda p: p.add_argument(
        "--only", help="a regular expression: the factors to run (base, adam, ...)"))

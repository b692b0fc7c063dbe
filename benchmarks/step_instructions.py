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

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from report import write_section

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
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


def factors() -> list[str]:
    sys.path.insert(0, str(HERE))
    import matrix

    return list(matrix.FACTORS)


def per_step(src: Path, lib: Path, dtype: str, factor: str) -> float:
    """Instructions per training step of one S cell, in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        env = dict(os.environ, PYTHONPATH=str(src), PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1",
                   OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
        run = subprocess.run(["valgrind", "--tool=callgrind", "--collect-atstart=no",
                              f"--callgrind-out-file={out}", sys.executable, "-c",
                              CHILD.format(here=str(HERE)), dtype, factor, str(lib), str(EPOCHS),
                              str(MOONS)],
                             env=env, check=True, capture_output=True, text=True)
        steps = int(run.stdout.split()[-1]) * EPOCHS
        summary = re.search(r"^summary: (\d+)", Path(out).read_text(), re.M)
        return int(summary.group(1)) / steps


def measure(before: str, only: str | None, jobs: int) -> dict:
    for tool in ("valgrind", "gcc"):
        if shutil.which(tool) is None:
            raise SystemExit(f"step_instructions.py needs {tool} (apt-get install valgrind gcc)")
    rev = subprocess.run(["git", "rev-parse", "--short", "--verify", before + "^{commit}"],
                         cwd=ROOT, capture_output=True, text=True)
    if rev.returncode != 0:
        raise SystemExit(f"--before {before!r} is not a commit of {ROOT}")
    now = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "src"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip())
    cells = [(dt, f) for dt in DTYPES for f in factors() if only is None or re.search(only, f)]
    with tempfile.TemporaryDirectory(prefix="step-instructions-") as tmp:
        lib = Path(tmp) / "toggle.so"
        (Path(tmp) / "toggle.c").write_text(TOGGLE_C)
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(lib), str(Path(tmp) / "toggle.c")],
                       check=True)
        archive = subprocess.run(["git", "archive", before, "src"], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        code = {"before": Path(tmp) / "src", "now": ROOT / "src"}
        runs = [(dt, f, which) for dt, f in cells for which in code]
        with ThreadPoolExecutor(jobs) as pool:
            counts = list(pool.map(lambda r: per_step(code[r[2]], lib, r[0], r[1]), runs))
    found = dict(zip(runs, counts))
    rows = [{"dtype": dt, "factor": f, "before": found[(dt, f, "before")], "now": found[(dt, f, "now")]}
            for dt, f in cells]
    return {"rows": rows, "before": rev.stdout.strip(), "now": now + (" with changes" if dirty else ""),
            "python": sys.version.split()[0], "epochs": EPOCHS}


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


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", default="01cf38b", help="the commit to compare with (default: "
                   "%(default)s, the last hand-fused engine)")
    p.add_argument("--only", help="a regular expression: the factors to run (base, adam, ...)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--render", action="store_true",
                   help="measure nothing: write the section again from results/step_instructions.json")
    args = p.parse_args()
    saved = HERE / "results" / "step_instructions.json"
    res = json.loads(saved.read_text()) if args.render else measure(args.before, args.only, args.jobs)
    text = section(res)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
        if not args.render:
            saved.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()

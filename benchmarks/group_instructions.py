"""Model groups before and after the one engine, in instructions rather than seconds.

On a shared 2-core machine, two timings of the same code differ by 10-25%, more than
the question "did the one engine cost the model groups any time?" needs. Callgrind
(valgrind) counts the instructions a run executes, the same from run to run and
whatever else the machine does; it leaves out what instruction counts cannot see
(cache misses, memory stalls), which the timed benchmarks (sweep.py, matrix.py) keep.

For the tutorial's two many-model workloads, ``fit_group`` on one worker (the
111-model sweep: hidden 3..39 x 3 seeds; the 100-run test: hidden 64 x 100 seeds;
seed preset, batch 10, the tutorial's moons), in float64 and float32, this runs
``fit_group`` for 1 and for 2 epochs under callgrind with today's code and with the
``--before`` commit's src/ (git archive), each a fresh process, and reports

    per epoch = I(2 epochs) - I(1 epoch)       setup = I(1 epoch) - per epoch

(setup: Python, NumPy and the package imported, the models built and grouped, the
results written back). One BLAS thread, a fixed hash seed. Runs the processes
``--jobs`` at a time (the counts do not depend on load). Needs valgrind
(``apt-get install valgrind``). Writes the "Model groups: instructions before and
after" section of docs/benchmarks.md.

    python benchmarks/group_instructions.py                   # 16 runs, about 10 min here
    python benchmarks/group_instructions.py --before 01cf38b --no-write
"""
from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import callgrind

SECTION = "Model groups: instructions before and after"
WORKLOADS = {
    "111-model sweep": "[MLP(hidden=(h,), seed=i, dtype=DT, **SEED) for h in range(3, 40) for i in range(3)]",
    "100-run test": "[MLP(hidden=(64,), seed=i, dtype=DT, **SEED) for i in range(100)]",
}
CHILD = """
import inspect, sys
from scratchnet import MLP
from scratchnet.data import tutorial_moons
from scratchnet.group import fit_group
DT, EPOCHS = sys.argv[1], int(sys.argv[2])
SEED = dict(lr=1e-4, init="normal", reduction="sum")
X, _, y, _ = tutorial_moons()
models = {models}
# history=False where fit_group has it: sweeps and trials score their models afterwards
kw = {{"history": False}} if "history" in inspect.signature(fit_group).parameters else {{}}
fit_group(models, X, y, epochs=EPOCHS, batch_size=10, threads=1, **kw)
"""


def instructions(src: Path, workload: str, dtype: str, epochs: int) -> int:
    """Instructions callgrind counts for one fresh process of the workload."""
    code = CHILD.format(models=WORKLOADS[workload])
    return callgrind.collected(src, ["-c", code, dtype, str(epochs)])[0]


def measure(args) -> dict:
    with callgrind.sources(args.before) as (code, _, labels):
        runs = [(w, dt, which, ep) for w in WORKLOADS for dt in ("float64", "float32")
                for which in code for ep in (1, 2)]
        with ThreadPoolExecutor(args.jobs) as pool:
            counts = list(pool.map(lambda r: instructions(code[r[2]], r[0], r[1], r[3]), runs))
    found = dict(zip(runs, counts))
    rows = []
    for w in WORKLOADS:
        for dt in ("float64", "float32"):
            row = {"workload": w, "dtype": dt}
            for which in code:
                one, two = found[(w, dt, which, 1)], found[(w, dt, which, 2)]
                row[which] = {"epoch": two - one, "setup": 2 * one - two}
            rows.append(row)
    return {"rows": rows, **labels, "python": sys.version.split()[0]}


def section(res: dict) -> str:
    lines = [f"## {SECTION}", "", f"`python benchmarks/group_instructions.py --before {res['before']}` (Python "
             f"{res['python']}, callgrind): instructions executed by `fit_group` on one worker, the "
             f"hand-fused group engine of commit {res['before']} against the one engine at "
             f"{res['now']}. Per epoch: a 2-epoch run minus a 1-epoch run; setup: the rest of a "
             "1-epoch run (interpreter, imports, building and grouping the models, writing back). "
             "Instruction counts do not move with the machine's load, as seconds do here; they "
             "do not see cache misses or memory stalls (the timed sections above do).", "",
             "| workload | dtype | per epoch, before (M) | per epoch, now (M) | now / before | "
             "setup, before (M) | setup, now (M) |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in res["rows"]:
        b, n = r["before"], r["now"]
        lines.append(f"| {r['workload']} | {r['dtype']} | {b['epoch'] / 1e6:,.1f} | "
                     f"{n['epoch'] / 1e6:,.1f} | {n['epoch'] / b['epoch']:.3f} | "
                     f"{b['setup'] / 1e6:,.1f} | {n['setup'] / 1e6:,.1f} |")
    worst = max(r["now"]["epoch"] / r["before"]["epoch"] for r in res["rows"])
    lines += ["", f"Per epoch the one engine executes at most {worst:.3f}× the hand-fused engine's "
              "instructions (the sweep runs 100 epochs, the test 10). Setup differs mostly by what "
              "each commit imports: 01cf38b generated the tutorial's moons with scikit-learn, "
              "imported for it; later commits ship a copy of that data.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    callgrind.main(__doc__, SECTION, "group_instructions.json", measure, section)

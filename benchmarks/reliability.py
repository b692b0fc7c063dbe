"""Write docs/reliability.md: every hardening case tried, and what the user saw.

Runs the table of tests/test_hardening.py (bad input, numerical trouble, files) and
the signal scenarios of tests/e2e/test_signals.py (SIGINT/SIGTERM during ``train``
and ``sweep``, then ``--resume``), recording each message as it came out.

    .venv/bin/python benchmarks/reliability.py   # about 30 s
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]

import numpy as np  # noqa: E402

import test_hardening as hardening  # noqa: E402
import test_signals as signals  # noqa: E402
from scratchnet import io  # noqa: E402

AREAS = {"input": "Bad input", "numerical": "Numerical trouble", "files": "Files"}


def cell(text: str) -> str:
    line = " ".join(str(text).split("\n")[0].split())  # scikit-learn's messages: first line
    return line.replace("|", "\\|")


def run_cases():
    rows = []
    with tempfile.TemporaryDirectory() as shared:
        for case in hardening.CASES:
            with tempfile.TemporaryDirectory() as tmp:
                os.chdir(tmp)
                outcome, message = hardening.observe(case, hardening.Env(tmp, shared))
                os.chdir(ROOT)
                message = message.replace(os.path.realpath(tmp), "TMP").replace(tmp, "TMP")
            ok = outcome in case.kinds and bool(__import__("re").search(case.expect, message))
            rows.append((case, outcome, message, ok))
    return rows


def signal_scenarios():
    """Interrupt train and sweep in subprocesses, resume, compare with uninterrupted runs."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        assert hardening.cli(*signals.TRAIN, "--out", tmp / "whole")[0] == 0
        assert hardening.cli(*signals.SWEEP, "--out", tmp / "sweep-whole")[0] == 0
        whole = io.load(tmp / "whole" / "model.npz")
        whole_rows = signals._rows(json.loads((tmp / "sweep-whole" / "results.json").read_text()))
        for sig in (signal.SIGINT, signal.SIGTERM):
            name = signal.Signals(sig).name
            run = tmp / f"cut-{name}"
            proc = signals.start([*signals.TRAIN, "--out", run.name], tmp)
            signals.wait_for(run, proc)
            time.sleep(0.3)
            code, _, err = signals.stop(proc, sig)
            epochs = len(io.load(run / "checkpoint.npz").history["loss"])
            subprocess.run([sys.executable, "-m", "scratchnet.cli", "train", "--resume", run.name,
                            "--no-plots", "--quiet"], cwd=tmp, check=True, capture_output=True)
            same = io.load(run / "model.npz").params.tobytes() == whole.params.tobytes()
            out.append(("scratchnet train", f"{name} mid-training (iris, float32, 3000 epochs)",
                        f"exit {code}", err.strip(),
                        f"checkpoint.npz after epoch {epochs} is the only file; `--resume` gives "
                        f"{'bit-identical' if same else 'DIFFERENT'} weights to an uninterrupted run"))
            sweep_dir = tmp / f"sweep-{name}"
            proc = signals.start([*signals.SWEEP, "--out", sweep_dir.name], tmp)
            signals.wait_for(sweep_dir / "results.json", proc)
            code, _, err = signals.stop(proc, sig)
            kept = len(json.loads((sweep_dir / "results.json").read_text())["groups"])
            tmp_files = signals.leftovers(sweep_dir)
            subprocess.run([sys.executable, "-m", "scratchnet.cli", *signals.SWEEP, "--out", sweep_dir.name,
                            "--resume"], cwd=tmp, check=True, capture_output=True)
            rows = signals._rows(json.loads((sweep_dir / "results.json").read_text()))
            out.append(("scratchnet sweep", f"{name} mid-sweep (16 models in 8 groups)",
                        f"exit {code}", err.strip(),
                        f"{kept} of 8 finished groups kept in results.json/.csv, "
                        f"{len(tmp_files)} temporary files; `--resume` trains the rest: all 16 rows "
                        f"{'equal' if rows == whole_rows else 'DIFFER FROM'} the uninterrupted sweep's"))
    return out


def write(rows, scenarios, path=ROOT / "docs" / "reliability.md"):
    lines = [
        "# Reliability: what scratchnet does with bad input, numerical trouble, damaged files and signals",
        "",
        "Every row below was run by `benchmarks/reliability.py` (it runs the case table of",
        "`tests/test_hardening.py` and the scenarios of `tests/e2e/test_signals.py`) and shows the",
        "outcome and message exactly as they came out. The same cases are asserted by the tests.",
        "The Python API raises `ValueError` or `TypeError` (or a subclass: `TrainingDiverged`,",
        "`io.ModelFileError`); the command line exits with code 2 and one line on stderr, and leaves",
        "no half-written output. Beyond this table, `tests/test_properties.py` throws generated",
        "shapes, dtypes, label sets and hyper-parameters (hostile ones included) at `MLP` and the",
        "scikit-learn estimators: every call either succeeds with finite outputs of the right shape",
        "or raises `ValueError`/`TypeError` with a message.",
        "",
        "Known limits, seen while testing: a regressor trained to the brink of divergence (weights",
        "finite but predictions around 1e150) can report `loss=inf`, `r2=-inf` from `evaluate`/`score`",
        "when the squared errors overflow (never NaN; scikit-learn's own MLPRegressor does the same).",
        "scikit-learn's `score` of a regressor on a single sample is NaN (its R^2 is undefined).",
        "Predicting before fitting raises `RuntimeError(\"... not fitted yet ...\")`.",
        "",
    ]
    failures = [r for r in rows if not r[3]]
    for area, title in AREAS.items():
        lines += [f"## {title}", "", "| # | entry point | case | outcome | what the user sees | also checked |",
                  "|---|---|---|---|---|---|"]
        for i, (case, outcome, message, ok) in enumerate((r for r in rows if r[0].area == area), 1):
            lines.append(f"| {i} | `{case.entry}` | {cell(case.what)} | {outcome} | {cell(message)} | "
                         f"{cell(case.note)}{'' if ok else ' **(not as expected)**'} |")
        lines.append("")
    lines += ["## Interrupted work", "", "| entry point | case | outcome | what the user sees | also checked |",
              "|---|---|---|---|---|"]
    for entry, what, outcome, message, note in scenarios:
        lines.append(f"| `{entry}` | {what} | {outcome} | {cell(message)} | {cell(note)} |")
    lines += ["", "## Determinism", "",
              "The same seed gives bit-identical weights across runs and processes, in float64 and",
              "float32, for `MLP.fit`, the group engine (`fit_group`) and sweeps",
              "(`tests/test_hardening.py::test_same_seed_*`, `test_group_engine_and_sweep_*`, and",
              "the property `test_same_seed_same_bits_and_the_file_round_trips`).", ""]
    path.write_text("\n".join(lines))
    return failures


if __name__ == "__main__":
    np.seterr(all="ignore")
    start = time.perf_counter()
    rows = run_cases()
    scenarios = signal_scenarios()
    failures = write(rows, scenarios)
    print(f"{len(rows)} cases and {len(scenarios)} signal scenarios in {time.perf_counter() - start:.1f} s; "
          f"wrote docs/reliability.md; {len(failures)} not as expected")
    for case, outcome, message, _ in failures:
        print("  ", case.entry, case.what, outcome, message[:200])
    sys.exit(1 if failures else 0)

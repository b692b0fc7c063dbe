"""What the instruction-count benchmarks share (group_instructions.py, step_instructions.py):
valgrind's callgrind runs a fresh Python process, with one BLAS thread, a fixed hash seed and
no bytecode written, against today's src/ or an older commit's (``git archive``), and the
command line that measures, prints and writes a section of docs/benchmarks.md.

Instruction counts do not move with the machine's load, as seconds do on this shared
machine; they do not see cache misses or memory stalls, which the timed benchmarks keep.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from report import write_section

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def collected(src: Path, args: list[str], *, options=()) -> tuple[int, str]:
    """(instructions counted, stdout) of ``python *args`` under callgrind with ``src``
    first on the path: every instruction, or with ``options=("--collect-atstart=no",)``
    those between the child's own switches of collection."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        env = dict(os.environ, PYTHONPATH=str(src), PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1",
                   OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
        run = subprocess.run(["valgrind", "--tool=callgrind", *options, f"--callgrind-out-file={out}",
                              sys.executable, *args], env=env, check=True, capture_output=True, text=True)
        return int(re.search(r"^summary: (\d+)", Path(out).read_text(), re.M).group(1)), run.stdout


@contextlib.contextmanager
def sources(before: str, *tools: str):
    """Yield {"before": the ``before`` commit's src/ (unpacked in a temporary folder),
    "now": today's src/}, the folder, and the labels {"before": its short hash, "now":
    HEAD's, "with changes" where src/ differs from it}. Stops with a message where
    valgrind (or one of ``tools``) is missing or ``before`` is no commit."""
    for tool in ("valgrind", *tools):
        if shutil.which(tool) is None:
            raise SystemExit(f"this benchmark needs {tool} (apt-get install valgrind {' '.join(tools)})")
    rev = subprocess.run(["git", "rev-parse", "--short", "--verify", before + "^{commit}"],
                         cwd=ROOT, capture_output=True, text=True)
    if rev.returncode != 0:
        raise SystemExit(f"--before {before!r} is not a commit of {ROOT}")
    now = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "src"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip())
    labels = {"before": rev.stdout.strip(), "now": now + (" with changes" if dirty else "")}
    with tempfile.TemporaryDirectory(prefix="instructions-") as tmp:
        archive = subprocess.run(["git", "archive", before, "src"], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield {"before": Path(tmp) / "src", "now": ROOT / "src"}, Path(tmp), labels


def main(doc: str, title: str, saved_name: str, measure, section, add_arguments=None) -> None:
    """The command line: ``--before`` (default 01cf38b, the last hand-fused engine),
    ``--jobs``, ``--no-write`` and ``--render``; ``measure(args) -> results`` (saved to
    results/``saved_name``), ``section(results) -> text`` (printed, and written as the
    section ``title`` of docs/benchmarks.md)."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--before", default="01cf38b", help="the commit to compare with (default: "
                   "%(default)s, the last hand-fused engine)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes at once "
                   "(the counts do not depend on load)")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--render", action="store_true",
                   help=f"measure nothing: write the section again from results/{saved_name}")
    if add_arguments is not None:
        add_arguments(p)
    args = p.parse_args()
    saved = HERE / "results" / saved_name
    res = json.loads(saved.read_text()) if args.render else measure(args)
    text = section(res)
    print(text)
    if not args.no_write:
        write_section(title, text)
        if not args.render:
            saved.write_text(json.dumps(res, indent=2) + "\n")

"""docs/benchmarks.md is shared: each benchmark owns one "## Title" section and
rewrites only that one (appending it the first time)."""
from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def write_section(title: str, text: str, path: Path = DOC) -> None:
    """Replace the section headed ``## {title}`` (up to the next ``## ``) by ``text``,
    which starts with that heading. The file is replaced atomically."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = text.rstrip("\n") + "\n"
    if pattern.search(old):
        new = pattern.sub(lambda _: text + "\n", old, count=1).rstrip("\n") + "\n"
    else:
        new = old.rstrip("\n") + "\n\n" + text
    tmp = path.with_name(path.name + f".{title}.tmp")
    tmp.write_text(new)
    tmp.replace(path)

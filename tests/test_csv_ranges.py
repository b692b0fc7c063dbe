"""datasets.read_csv with the file cut into many small byte ranges (_CsvSource._read_parts,
``_PART_BYTES`` made tiny): every hostile file must give the reference reader's arrays
(Python's csv and float) or its error message, line and column included, whatever the
range size and the thread count."""
import threading

import numpy as np
import pytest
from conftest import require
from test_reader import read_parts_used

from scratchnet import datasets

require("pyarrow")

PARTS = [(1, 3), (9, 1), (50, 2)]  # (bytes per range, threads): a line each, a few lines, more


def write(tmp_path, data, name="data.csv"):
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def outcome(path, **kwargs):
    """("ok", X, y, features) or ("error", the exception's type, its message)."""
    try:
        X, y, features = datasets.read_csv(path, **kwargs)
    except Exception as e:  # noqa: BLE001 (compared as they are)
        return "error", type(e).__name__, str(e)
    return "ok", X, y, features


def reference_outcome(monkeypatch, path, **kwargs):
    """The same call, every CSV read by the reference reader alone."""
    def read_all(self, spec):
        (chunk,) = self._reference(spec, None, 0)
        return chunk.X, chunk.y

    with monkeypatch.context() as m:
        m.setattr(datasets._CsvSource, "read_all", read_all)
        return outcome(path, **kwargs)


def assert_same(got, want):
    assert got[0] == want[0], (got, want)
    if got[0] == "error":
        assert got[1:] == want[1:]
        return
    for a, b in zip(got[1:3], want[1:3]):
        if b is None:
            assert a is None
            continue
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    assert got[3] == want[3]


@pytest.fixture
def in_ranges(monkeypatch):
    """read(path, part_bytes, cores, **kwargs): read_csv with ranges of part_bytes on
    that many threads; ``used`` records whether each _read_parts call read the file."""
    used = read_parts_used(monkeypatch)

    def read(path, part_bytes, cores=3, **kwargs):
        with monkeypatch.context() as m:
            m.setattr(datasets, "_PART_BYTES", part_bytes)
            m.setattr(datasets, "_cores", lambda: cores)
            return outcome(path, **kwargs)

    read.used = used
    return read


def compare(tmp_path, monkeypatch, in_ranges, data, parts=PARTS, **kwargs):
    path = write(tmp_path, data)
    want = reference_outcome(monkeypatch, path, **kwargs)
    for part, cores in parts:
        assert_same(in_ranges(path, part, cores, **kwargs), want)
    return want


ROWS = "".join(f"{i},{-i}.25,{i % 3}\n" for i in range(12))
HOSTILE = {
    "blank lines everywhere": ("x,y,label\n\n\n" + ROWS.replace("\n5,", "\n\n\n5,") + "\n\n\n", {}),
    "blank CRLF lines": ("x,y,label\r\n\r\n" + ROWS.replace("\n", "\r\n").replace("\n7,", "\n\r\n\r\n7,"), {}),
    "whitespace-only lines": ("x,y,label\n" + ROWS.replace("\n9,", "\n  \n\t\n , ,\n9,"), {}),
    "lone CR line ends": ("x,y,label\r" + ROWS.replace("\n", "\r"), {}),
    "CR and LF mixed": ("x,y,label\n" + ROWS.replace("1\n", "1\r"), {}),
    "CR CR LF": ("x,y,label\n" + ROWS.replace("\n", "\r\r\n"), {}),
    "CR at the very end": ("x,y,label\n" + ROWS + "41,0,1\r", {}),
    "lone CRs as blank lines": ("x,y,label\n" + ROWS.replace("\n2,", "\n\r\r\r2,"), {}),
    "no final line end": ("x,y,label\n" + ROWS + "41,0,1", {}),
    "a tiny last range": ("x,y,label\n" + ROWS + "9,9,9", {}),
    "trailing spaces without a line end": ("x,y,label\n" + ROWS + "   ", {}),
    "CRLF header, LF rows": ("x,y,label\r\n" + ROWS, {}),
    "a BOM at the start": ("\ufeffx,y,label\n" + ROWS, {}),
    "a BOM on the first data line": ("x,y,label\n\ufeff" + ROWS, {}),
    "a BOM on a later line": ("x,y,label\n" + ROWS.replace("\n3", "\n\ufeff3"), {}),
    "a BOM on a label": ("label,x,y\n" + "".join(f"\ufeffa{i % 2},{i},1\n" for i in range(8)), {}),
    "a BOM after a blank line": ("x,y,label\n\n\ufeff" + ROWS, {}),
    "semicolons": ("x;y;label\n" + ROWS.replace(",", ";"), {"delimiter": ";"}),
    "tabs": ("x\ty\tlabel\n" + ROWS.replace(",", "\t").replace("\n7\t", "\n 7 \t"), {"delimiter": "\t"}),
    "spaces": ("x y label\n" + ROWS.replace(",", " ").replace("\n1", "\n \n1"), {"delimiter": " "}),
    "a non-ASCII delimiter": ("x§y§label\n" + ROWS.replace(",", "§"), {"delimiter": "§"}),
    "text labels": ("x,y,label\n" + ROWS.replace(",0\n", ",cat\n").replace(",1\n", ", dog \n"), {}),
    "float labels": ("x,y,label\n" + ROWS.replace(",2\n", ",2.5\n"), {}),
    "a float label in the last range": ("x,y,label\n" + ROWS + "1,1,0.5\n", {}),
    "a word label in the last range": ("x,y,label\n" + ROWS + "1,1,yes\n", {}),
    "a label past int64 late": ("x,y,label\n" + ROWS + "1,1,99999999999999999999\n", {}),
    "labels as str": ("x,y,label\n" + ROWS.replace(",1\n", ", 01\n"), {"labels": str}),
    "labels as float": ("x,y,label\n" + ROWS, {"labels": float}),
    "labels as int, a float late": ("x,y,label\n" + ROWS + "1,1,2.0\n", {"labels": int}),
    "regression": ("x,y,label\n" + ROWS.replace(",2\n", ",-2e-3\n"), {"regression": True}),
    "regression, NaN late": ("x,y,label\n" + ROWS + "1,1,nan\n", {"regression": True}),
    "features only": ("x,y,label\n" + ROWS, {"target": None}),
    "one column": ("x\n" + "".join(f"{i}.5\n\n" for i in range(12)), {"target": None}),
    "one column, a space line": ("x\n" + "".join(f"{i}\n" for i in range(12)) + " \n1\n", {"target": None}),
    "a chosen feature": ("x,y,label\n" + ROWS, {"features": ["y"]}),
    "a quote late": ("x,y,label\n" + ROWS + '"1",2,0\n', {}),
    "a non-numeric value late": ("x,y,label\n" + ROWS + "1,oops,0\n", {}),
    "a missing value late": ("x,y,label\n" + ROWS + "1,,0\n", {}),
    "a missing label late": ("x,y,label\n" + ROWS + "1,2,\n", {}),
    "inf late": ("x,y,label\n" + ROWS + "1,-inf,0\n", {}),
    "nan early, text late": ("x,y,label\n" + ROWS.replace("\n3,", "\nnan,") + "1,oops,0\n", {}),
    "a ragged row late": ("x,y,label\n" + ROWS + "1,2\n", {}),
    "a ragged row at the start": ("x,y,label\n1,2,3,4\n" + ROWS, {}),
    "python-only numbers": ("x,y,label\n" + ROWS + "1_0,+.5,0\n", {}),
    "header and blank lines only": ("x,y,label\n\n\r\n\n", {}),
    "header only": ("x,y,label", {}),
    "bad UTF-8 in a label late": (("x,y,label\n" + ROWS).encode() + b"1,2,\xff\n", {}),
    "bad UTF-8 in a column not read": (("x,y,label\n" + ROWS).encode() + b"1,\xff,0\n",
                                       {"features": ["x"]}),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_files_in_ranges_are_the_reference_readers(tmp_path, monkeypatch, in_ranges, name):
    data, kwargs = HOSTILE[name]
    compare(tmp_path, monkeypatch, in_ranges, data, **{"target": "label", **kwargs})


# the files of HOSTILE that must be read in ranges (the others: the reference reader
# or the whole-file reader decide them)
READ_IN_RANGES = ["blank lines everywhere", "blank CRLF lines", "CR CR LF", "no final line end",
                  "a tiny last range", "CRLF header, LF rows", "a BOM at the start",
                  "semicolons", "tabs", "text labels",
                  "float labels", "a float label in the last range", "features only", "one column",
                  "a chosen feature"]


@pytest.mark.parametrize("name", READ_IN_RANGES)
def test_these_are_read_in_ranges(tmp_path, in_ranges, name):
    data, kwargs = HOSTILE[name]
    path = write(tmp_path, data)
    assert in_ranges(path, 7, **{"target": "label", **kwargs})[0] == "ok"
    assert in_ranges.used and in_ranges.used[-1]


def test_bad_utf8_far_into_a_column_not_read(tmp_path, monkeypatch, in_ranges):
    """Past the part of the file the header check decodes: only the reference reader
    decodes every byte, and it refuses the file."""
    data = ("x,y,label\n" + ROWS * 100).encode() + b"1,\xc3(,0\n" + ROWS.encode()
    want = compare(tmp_path, monkeypatch, in_ranges, data, parts=((64, 2), (4096, 3), (1 << 20, 1)),
                   target="label", features=["x"])
    assert want[0] == "error" and "is not a readable CSV file: 'utf-8' codec can't decode" in want[2]


def test_blank_lines_are_closed_up_across_overlapping_ranges(tmp_path, monkeypatch, in_ranges):
    """A few blank lines, then ranges of many rows: each range's rows move up by fewer
    rows than it holds (an overlapping copy); and ranges of a line each."""
    rows = [f"{i},{i * 0.5},{i % 4}" for i in range(150)]
    data = "a,b,label\n\n\n" + "\n".join(rows[:40]) + "\n\n" + "\n".join(rows[40:]) + "\n\n"
    want = compare(tmp_path, monkeypatch, in_ranges, data, parts=((3, 3), (200, 2), (1000, 3)),
                   target="label")
    assert want[0] == "ok" and want[1][:, 0].tolist() == list(range(150))
    assert in_ranges.used and all(in_ranges.used)


def test_an_error_in_one_range_stops_the_others(tmp_path, monkeypatch, in_ranges):
    """Errors in ranges read at once on other threads: the first line at fault is named,
    and no reader thread is left running."""
    lines = [f"{i},{i},{i % 2}" for i in range(3000)]
    lines[2500] = "1,x,0"
    lines[100] = "1,,0"
    path = write(tmp_path, "a,b,label\n" + "\n".join(lines) + "\n")
    want = reference_outcome(monkeypatch, path, target="label")
    assert want[0] == "error" and "line 102: column 'b' is empty" in want[2]
    before = set(threading.enumerate())
    for part in (64, 1000):
        assert_same(in_ranges(path, part, 4, target="label"), want)
    assert set(threading.enumerate()) == before


def test_random_hostile_files(tmp_path, monkeypatch, in_ranges):
    """Files of random lines (numbers, blank and space-only lines, \\r, \\r\\n, BOMs,
    words, missing and non-finite values, ragged rows) in random small ranges."""
    rng = np.random.default_rng(20261129)
    good = ["{a},{b},{c}\n", "{a},{b},{c}\r\n", "{a},{b},{c}\r", " {a} ,{b}, {c}\n"]
    odd = ["\n", "\r\n", "\r", "  \n", ",,\n", "\ufeff{a},{b},{c}\n", "{a},{b}\n", "{a},{b},{c},\n",
           "{a},nan,{c}\n", "{a},,{c}\n", "{a},{b},\n", "{a},{b},w\n", "{a},{b},{a}.5\n"]
    for case in range(20):
        n = int(rng.integers(1, 30))
        lines = []
        for _ in range(n):
            pool = odd if rng.random() < 0.15 else good
            line = pool[rng.integers(len(pool))]
            lines.append(line.format(a=int(rng.integers(-9, 99)), b=float(rng.normal()),
                                     c=int(rng.integers(0, 3))))
        end = "" if rng.random() < 0.2 else None
        text = "x,y,label\n" + "".join(lines)
        if end is not None:
            text = text.rstrip("\n")
        path = write(tmp_path, text, name=f"random{case}.csv")
        want = reference_outcome(monkeypatch, path, target="label")
        for part in (1, int(rng.integers(2, 60))):
            assert_same(in_ranges(path, part, int(rng.integers(1, 4)), target="label"), want)

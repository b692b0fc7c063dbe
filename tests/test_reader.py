"""datasets.read_table: CSV on pyarrow's C reader must give the reference reader's
arrays and errors (Python's csv and float, the reader the library had before), whole
or in chunks; Parquet gives the same arrays and errors of the same kind, rows counted
from 1."""
import numpy as np
import pytest
from conftest import require

from scratchnet import datasets

pa = require("pyarrow")
pq = require("pyarrow.parquet")


def write(tmp_path, text, name="data.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def reference(path, target=None, features=None, regression=False, delimiter=","):
    """The reference reader alone (what the fast path must equal)."""
    source = datasets._CsvSource(str(path), delimiter)
    names = source.columns
    features = [n for n in names if n != target] if features is None else features
    spec = datasets._Spec(str(path), features, target, regression, None)
    (chunk,) = source._reference(spec, None, 0)
    return chunk.X, chunk.y


def same(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
    np.testing.assert_array_equal(a, b)


GOOD = {
    "string labels": ("a,b,species\n1,2.5,cat\n3,-4,dog\n\n5,6e1,cat\n", "species", {}),
    "int labels": ("x,y,label\n1,2,0\n3,4,1\n5,6,2\n", "label", {}),
    "float labels": ("x,label\n1,0.5\n2,1\n3,1.5\n", "label", {}),
    "spaces and quotes": ('x, y ,label\n" 1.5", 2 , a \n3,"4",b\n', "label", {}),
    "CRLF and a BOM": ("\ufeffx,label\r\n1,a\r\n2,b\r\n", "label", {}),
    "a chosen feature": ("a,b,c\n1,2,x\n3,4,y\n", "c", {"features": ["b"]}),
    "regression": ("x,y\n1,0.5\n2,-1e3\n", "y", {"regression": True}),
    "python-only numbers": ("x,label\n1_000,a\n+2,b\n", "label", {}),  # float() reads them
    "blank-looking rows": ("x,y,label\n1,2,a\n,,\n  , ,\n3,4,b\n", "label", {}),
    # integer labels go to the C reader as int64 first: what it reads must be what
    # Python's int reads, and what it refuses is read again as text
    "integer-looking labels": ("x,label\n1,01\n2, 7\n3,-0\n4,+2\n", "label", {}),
    "ints then a float label": ("x,label\n1,1\n2,2\n3,2.5\n", "label", {}),
    "ints then a word": ("x,label\n1,1\n2,2\n3,true\n", "label", {}),
    "a label past int64": ("x,label\n1,1\n2,99999999999999999999\n", "label", {}),
}


@pytest.mark.parametrize("name", GOOD)
def test_the_fast_path_equals_the_reference_reader(tmp_path, name):
    text, target, kwargs = GOOD[name]
    path = write(tmp_path, text)
    X, y, features = datasets.read_table(path, target=target, **kwargs)
    X_ref, y_ref = reference(path, target, kwargs.get("features"), kwargs.get("regression", False))
    same(X, X_ref)
    same(y, y_ref)
    for chunk_rows in (1, 2, 100):  # in chunks: the same rows, labels parsed per chunk
        chunks = list(datasets.read_table(path, target=target, chunk_rows=chunk_rows, **kwargs))
        same(np.concatenate([c.X for c in chunks]), X)
        assert [c.start for c in chunks] == list(range(0, len(X), chunk_rows))


def test_read_csv_is_read_table(tmp_path):
    path = write(tmp_path, "a,label\n1,x\n2,y\n")
    X, y, names = datasets.read_csv(path, target="label")
    assert names == ["a"] and y.tolist() == ["x", "y"]


def test_random_numbers_read_exactly(tmp_path, rng):
    """Every float64 round-trips as Python's float() reads it (correctly rounded)."""
    X = rng.standard_normal((500, 4)) * 10.0 ** rng.integers(-300, 300, (500, 4))
    lines = ["a,b,c,d,label"] + [",".join(map(repr, row)) + f",{i % 3}" for i, row in enumerate(X.tolist())]
    path = write(tmp_path, "\n".join(lines) + "\n")
    X_read, y, _ = datasets.read_table(path, target="label")
    same(X_read, X)
    same(X_read, reference(path, "label")[0])
    assert y.dtype == np.int64


@pytest.mark.parametrize("text, kwargs, match", [
    ("a,b\n1,2\n", {"target": "label"}, r"has no column 'label'; its columns are: a, b"),
    ("a,b,y\n1,x,0\n", {"target": "y"}, r"line 2: column 'b' has the non-numeric value 'x'"),
    ("a,b,y\n1,2,0\n\n1,NA,0\n", {"target": "y"}, r"line 4: column 'b' has the non-numeric value 'NA'"),
    ("a,y\n1,0.5\n2,\n", {"target": "y", "regression": True}, r"line 3: the regression target 'y' is missing \(NaN\)"),
    ("a,y\n1,NaN\n", {"target": "y", "regression": True}, r"line 2: the regression target 'y' is missing"),
    ("a,y\n1,low\n", {"target": "y", "regression": True}, r"the regression target 'y' has the non-numeric value 'low'"),
    ("a,y\n,1\n", {"target": "y"}, r"line 2: column 'a' is empty \(a missing value\)"),
    ("a,y\n1,0\n2,\n", {"target": "y"}, r"line 3: the target column 'y' is missing"),
    ("a,y\n1,0\nnan,1\n", {"target": "y"}, r"line 3: column 'a' is not finite"),
    ("a,y\n1,0\n-inf,1\n", {"target": "y"}, r"line 3: column 'a' is not finite"),
    ("a,y\n1,2,3\n", {"target": "y"}, "line 2 has 3 fields, the header has 2"),
    ("a,y\n", {"target": "y"}, "has a header but no data rows"),
    ("a,y\n,\n", {"target": "y"}, "has a header but no data rows"),
    ("", {"target": "y"}, "is empty: expected a header row"),
    ("\n\n", {"target": "y"}, "is empty"),
    ("a,y\n1,0\n", {"target": "y", "features": ["z"]}, r"lacks the feature column\(s\) z"),
    ("y\n1\n", {"target": "y"}, r"has no feature columns besides the target 'y'"),
    (b"a,y\n1,\xff\n", {"target": "y"}, r"is not a readable CSV file: 'utf-8' codec can't decode"),
])
def test_errors_are_the_reference_readers(tmp_path, text, kwargs, match):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=match):
        datasets.read_table(path, **kwargs)
    with pytest.raises(ValueError, match=match):  # in chunks too, once the row is reached
        list(datasets.read_table(path, chunk_rows=1, **kwargs))


def test_a_bad_row_far_into_the_file_is_named_in_chunks(tmp_path):
    """Row 3,700 of 5,000 (chunk 37 of 100-row chunks): the chunks before it arrive,
    then the error names the line (3,700 data rows + the header + a blank line = 3,702)."""
    rows = [f"{i},{i % 2}" for i in range(5000)]
    rows[3699] = "oops,1"
    path = write(tmp_path, "x,label\n\n" + "\n".join(rows) + "\n")
    chunks = datasets.read_table(path, target="label", chunk_rows=100)
    seen = []
    with pytest.raises(ValueError, match=r"line 3702: column 'x' has the non-numeric value 'oops'"):
        for chunk in chunks:
            seen.append(chunk.start)
    assert seen == list(range(0, 3600, 100))  # chunks 0..35 whole; chunk 36 (the 37th) fails


def test_start_row(tmp_path):
    path = write(tmp_path, "x,label\n" + "".join(f"{i},{i % 2}\n" for i in range(50)))
    chunks = list(datasets.read_table(path, target="label", chunk_rows=8, start_row=21))
    assert chunks[0].start == 21 and chunks[0].X[0, 0] == 21 and chunks[-1].X[-1, 0] == 49
    with pytest.raises(ValueError, match="chunk_rows must be an integer >= 1, got 0"):
        datasets.read_table(path, target="label", chunk_rows=0)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        datasets.read_table(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match="no such file"):
        datasets.read_table(tmp_path / "nope.parquet")


# -- Parquet -------------------------------------------------------------------------
def parquet(tmp_path, columns, name="data.parquet", **kwargs):
    path = tmp_path / name
    pq.write_table(pa.table(columns), path, **kwargs)
    return path


def test_parquet_equals_csv(tmp_path, rng):
    X = rng.standard_normal((1000, 3))
    y = rng.choice(["cat", "dog", "emu"], 1000)
    csv_path = write(tmp_path, "a,b,c,label\n" + "".join(
        f"{a!r},{b!r},{c!r},{label}\n" for (a, b, c), label in zip(X.tolist(), y)))
    pq_path = parquet(tmp_path, {"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "label": y},
                      row_group_size=300)
    X1, y1, f1 = datasets.read_table(csv_path, target="label")
    X2, y2, f2 = datasets.read_table(pq_path, target="label")
    same(X1, X2)
    same(y1, y2)
    assert f1 == f2 == ["a", "b", "c"]
    for chunk_rows, start in ((64, 0), (333, 0), (100, 450)):
        chunks = list(datasets.read_table(pq_path, target="label", chunk_rows=chunk_rows, start_row=start))
        same(np.concatenate([c.X for c in chunks]), X[start:])
        assert [c.start for c in chunks] == list(range(start, 1000, chunk_rows))


def test_parquet_numbers_of_other_types(tmp_path):
    path = parquet(tmp_path, {"i": pa.array([1, 2], pa.int32()), "f": pa.array([0.5, 1.5], pa.float32()),
                              "b": [True, False], "s": ["1.5", " 2"], "label": [0, 1]})
    X, y, _ = datasets.read_table(path, target="label")
    same(X, np.array([[1, 0.5, 1, 1.5], [2, 1.5, 0, 2]]))
    same(y, np.array([0, 1]))


@pytest.mark.parametrize("columns, kwargs, match", [
    ({"a": [1.0, 2.0]}, {"target": "label"}, r"has no column 'label'; its columns are: a"),
    ({"a": [1.0], "y": [0]}, {"target": "y", "features": ["z"]}, r"lacks the feature column\(s\) z"),
    ({"a": [1.0, None, 3.0], "y": [0, 1, 0]}, {"target": "y"}, r"row 2: column 'a' is empty \(a missing value\)"),
    ({"a": [1.0, 2.0, float("nan")], "y": [0, 1, 0]}, {"target": "y"}, r"row 3: column 'a' is not finite"),
    ({"a": ["1", "2", "x"], "y": [0, 1, 0]}, {"target": "y"}, r"row 3: column 'a' has the non-numeric value 'x'"),
    ({"a": pa.array([1, 2], pa.timestamp("s")), "y": [0, 1]}, {"target": "y"}, r"column 'a' holds timestamp\[\w+\] values, not numbers"),
    ({"a": [1.0, 2.0], "y": ["p", None]}, {"target": "y"}, r"row 2: the target column 'y' is missing"),
    ({"a": [1.0, 2.0], "y": ["0.5", "high"]}, {"target": "y", "regression": True}, r"row 2: the regression target 'y' has the non-numeric value 'high'"),
    ({"a": pa.array([], pa.float64()), "y": pa.array([], pa.int64())}, {"target": "y"}, r"has columns but no data rows"),
])
def test_parquet_errors(tmp_path, columns, kwargs, match):
    path = parquet(tmp_path, columns)
    with pytest.raises(ValueError, match=match):
        datasets.read_table(path, **kwargs)
    with pytest.raises(ValueError, match=match):
        list(datasets.read_table(path, chunk_rows=1, **kwargs))


def test_parquet_rows_are_counted_across_chunks(tmp_path):
    a = np.arange(1000.0)
    a[737] = np.inf
    path = parquet(tmp_path, {"a": a, "y": np.arange(1000) % 2}, row_group_size=100)
    with pytest.raises(ValueError, match=r"row 738: column 'a' is not finite"):
        list(datasets.read_table(path, target="y", chunk_rows=64))


@pytest.mark.parametrize("damage", ["truncated", "not parquet"])
def test_damaged_parquet(tmp_path, damage):
    good = parquet(tmp_path, {"a": np.arange(5000.0), "y": np.arange(5000) % 2})
    data = good.read_bytes()
    path = write(tmp_path, data[: len(data) // 2] if damage == "truncated" else b"a,y\n1,2\n",
                 name="bad.parquet")
    with pytest.raises(ValueError, match=r"bad.parquet is not a readable Parquet file"):
        datasets.read_table(path, target="y")


# -- the whole file in byte ranges, one reader each (_CsvSource._read_parts) ----------
@pytest.fixture
def ranges(monkeypatch):
    """Small files cut into three byte ranges, whatever the machine's core count; the
    ranges read are recorded, so a test can tell whether the file was cut."""
    monkeypatch.setattr(datasets, "_PART_BYTES", 1)
    monkeypatch.setattr(datasets, "_cores", lambda: 3)
    return read_parts_used(monkeypatch)


def read_parts_used(monkeypatch) -> list[bool]:
    """Record, per call of _CsvSource._read_parts, whether it read the file in byte
    ranges (False: it left the file to the whole-file reader)."""
    used = []
    read_parts = datasets._CsvSource._read_parts

    def spy(self, spec, labels_as):
        out = read_parts(self, spec, labels_as)
        used.append(out is not None)
        return out

    monkeypatch.setattr(datasets._CsvSource, "_read_parts", spy)
    return used


MORE = {
    "blank lines at the cuts": ("x,y,label\n" + "\n".join(f"{i},{-i}.5,{i % 3}\n" for i in range(30)),
                                "label", {}),
    "no line end at the end": ("x,label\n1,0\n2,1\n3,2\n4,0", "label", {}),
    "CR line ends alone": ("x,label\r1,0\r2,1\r3,2\r4,0\r", "label", {}),
    "a quoted header": ('"x","y","label"\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n', "label", {}),
    "a header line end inside quotes": ('"x\ny",label\n1,0\n2,1\n3,0\n', "label", {}),
    "features only": ("x,y\n1,2\n3,4\n5,6\n", None, {}),
    "a chosen feature, text beside it": ("a,b,c\n1,2,x\n3,4,y\n5,6,z\n", "c", {"features": ["b"]}),
}


@pytest.mark.parametrize("name", list(GOOD) + list(MORE))
def test_the_file_in_ranges_equals_the_reference_reader(tmp_path, ranges, name):
    text, target, kwargs = {**GOOD, **MORE}[name]
    path = write(tmp_path, text)
    X, y, _ = datasets.read_table(path, target=target, **kwargs)
    X_ref, y_ref = reference(path, target, kwargs.get("features"), kwargs.get("regression", False))
    same(X, X_ref)
    assert X.flags.c_contiguous
    if target is None:
        assert y is None and y_ref is None
    else:
        same(y, y_ref)
    if name in IN_RANGES:
        assert ranges and ranges[0], "the file was not read in ranges"
        assert X.flags.owndata


# read in ranges (the others: quotes after the header, lone CR line ends, values only
# Python reads, or missing ones: read as before)
IN_RANGES = {"string labels", "int labels", "float labels", "CRLF and a BOM", "a chosen feature",
             "regression", "ints then a float label", "ints then a word", "a label past int64",
             "blank lines at the cuts", "no line end at the end", "a quoted header", "features only",
             "a chosen feature, text beside it"}


@pytest.mark.parametrize("part_bytes", [1, 777, 40_000])
def test_ranges_of_a_larger_file(tmp_path, ranges, rng, monkeypatch, part_bytes):
    """Blank lines spread through the file (the gaps they leave are closed), every
    float64 exactly as float() reads it, integer labels as int64; ranges of one line,
    of a few and of many."""
    monkeypatch.setattr(datasets, "_PART_BYTES", part_bytes)
    X = rng.standard_normal((3000, 5)) * 10.0 ** rng.integers(-20, 20, (3000, 5))
    lines = [",".join(map(repr, row)) + f",{i % 7}" for i, row in enumerate(X.tolist())]
    for i in (5, 999, 1000, 1001, 2998):
        lines[i] += "\n"
    path = write(tmp_path, "a,b,c,d,e,label\r\n" + "\n".join(lines))
    X_read, y, _ = datasets.read_table(path, target="label")
    same(X_read, X)
    same(y, np.arange(3000) % 7)
    assert ranges == [True]


@pytest.mark.parametrize("text, kwargs, match", [
    ("a,b,y\n1,2,0\n3,4,1\n5,x,0\n7,8,1\n", {"target": "y"}, r"line 4: column 'b' has the non-numeric value 'x'"),
    ("a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,,1\n", {"target": "y"}, r"line 5: column 'b' is empty \(a missing value\)"),
    ("a,y\n1,0\n2,1\n3,0\ninf,1\n", {"target": "y"}, r"line 5: column 'a' is not finite"),
    ("a,y\n1,0\n2,1\n3,0\n4,1,5\n", {"target": "y"}, "line 5 has 3 fields, the header has 2"),
    ("a,y\n1,0\n2,1\n3,0\n4,\n", {"target": "y"}, r"line 5: the target column 'y' is missing"),
    ("a,y\n1,0.5\n2,1\n3,1.5\n4,\n", {"target": "y", "regression": True}, r"line 5: the regression target 'y' is missing"),
    (b"a,y\n1,0\n2,1\n3,0\n4,\xff\n", {"target": "y"}, r"is not a readable CSV file: 'utf-8' codec can't decode"),
])
def test_errors_in_ranges_are_the_reference_readers(tmp_path, ranges, text, kwargs, match):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=match):
        datasets.read_table(path, **kwargs)

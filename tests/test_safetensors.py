"""Weights as safetensors: save/load by suffix, readable without scratchnet (safetensors,
PyTorch), and hostile files refused with one-line errors (exit 2 on the command line)."""
import json
import sys

import numpy as np
import pytest
from conftest import require
from test_export import KINDS, build

import scratchnet as sn
from scratchnet import export, io
from scratchnet.cli import main

st = require("safetensors.numpy")


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_predicts_the_same(kind, tmp_path):
    model, X = build(kind)
    path = io.save(model, tmp_path / "m.safetensors", training={"note": "kept"})
    loaded = io.load(path)
    assert type(loaded) is type(model) and loaded.dtype == model.dtype
    np.testing.assert_array_equal(loaded.params, model.params)
    for a, b in zip(loaded.layers, model.layers):
        for name, value in getattr(b, "buffers", {}).items():
            np.testing.assert_array_equal(a.buffers[name], value)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    if model.task == "classification":
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
        assert loaded.classes_.dtype == model.classes_.dtype
    assert loaded.training_config == {"note": "kept"}
    assert loaded.history == model.history
    assert loaded.get_config() == model.get_config()
    header = io.read_header(path)
    assert header["weights_only"] is True and header["class"] == type(model).__name__
    loaded.fit(X, model.predict(X) if model.task == "classification" else model.predict(X),
               epochs=1, batch_size=16)  # fitted, trainable further (with a fresh optimizer)


def test_readable_without_scratchnet(tmp_path):
    torch = require("torch")
    st_torch = require("safetensors.torch")
    model, X = build("multiclass_deep")  # standardiser, batch norm: every kind of tensor
    path = io.save(model, tmp_path / "m.safetensors")
    tensors = st.load_file(path)
    expected = export.state_dict(model)
    assert sorted(tensors) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(tensors[name], value)
    module = export.to_torch(model)
    module.load_state_dict(st_torch.load_file(path))  # strict: every key, no others
    with torch.no_grad():
        logits = module(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(logits, model.forward(model.scaled(X)), rtol=1e-10, atol=1e-12)
    with open(path, "rb") as f:  # the config rides in the metadata key "scratchnet"
        n = int.from_bytes(f.read(8), "little")
        meta = json.loads(f.read(n))["__metadata__"]
    assert json.loads(meta["scratchnet"])["layers"][0] == {"type": "Dense", "units": 8, "init": "he"}


def test_npz_stays_the_default(tmp_path):
    model, _ = build("binary_sigmoid")
    for name in ("m.npz", "model"):
        io.save(model, tmp_path / name)
        assert (tmp_path / name).read_bytes()[:4] == b"PK\x03\x04"


def test_a_failed_save_keeps_the_previous_file(tmp_path):
    model, _ = build("binary_sigmoid")
    path = io.save(model, tmp_path / "m.safetensors")
    before = path.read_bytes()
    model.params[0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        io.save(model, path)
    assert path.read_bytes() == before


# -- hostile files ------------------------------------------------------------------------
def _split(data: bytes):
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + n]), data[8 + n:]


def _join(meta: dict, body: bytes) -> bytes:
    head = json.dumps(meta).encode()
    return len(head).to_bytes(8, "little") + head + body


def _edit_header(data, edit):
    """Rewrite the scratchnet header in the metadata (the tensors stay)."""
    meta, body = _split(data)
    header = json.loads(meta["__metadata__"]["scratchnet"])
    edit(header)
    meta["__metadata__"]["scratchnet"] = json.dumps(header)
    return _join(meta, body)


def _tensors_edited(data, edit, keep_digest=True):
    """A file re-saved with edited tensors and the original metadata."""
    meta, _ = _split(data)
    tensors = st.load(data)
    edit(tensors)
    metadata = dict(meta["__metadata__"])
    if not keep_digest:
        del metadata["sha256"]
    return st.save(tensors, metadata=metadata)


def _set_dtype(data, name, dtype):
    meta, body = _split(data)
    meta[name]["dtype"] = dtype
    return _join(meta, body)


def _forge_length(data, n):
    return n.to_bytes(8, "little") + data[8:]


def _flip_body_byte(data):
    data = bytearray(data)
    data[-5] ^= 0x40
    return bytes(data)


def _npz_bytes(model, tmp_path):
    io.save(model, tmp_path / "real.npz")
    return (tmp_path / "real.npz").read_bytes()


HOSTILE = {
    "truncated": (lambda d: d[: len(d) // 2], "truncated"),
    "truncated body": (lambda d: d[:-12], "truncated or corrupted"),
    "empty": (lambda d: b"", "truncated"),
    "forged header length": (lambda d: _forge_length(d, 2**62), "header length says"),
    "header length too long": (lambda d: _forge_length(d, len(d) - 7), "header length says"),
    "header length too short": (lambda d: _forge_length(d, 20), "not JSON"),
    "corrupted weights": (_flip_body_byte, "corrupted: its tensors do not match the sha256"),
    "unknown dtype": (lambda d: _set_dtype(d, "1.weight", "F8_E4M3"), "dtype 'F8_E4M3'"),
    "integer weights": (lambda d: _set_dtype(d, "1.weight", "I64"), "tensor '1.weight' is int64"),
    "missing tensor": (lambda d: _tensors_edited(d, lambda t: t.pop("3.bias")), r"missing tensors \['3.bias'\]"),
    "extra tensor": (lambda d: _tensors_edited(d, lambda t: t.update(extra=np.zeros(2))),
                     r"tensors \['extra'\] that no layer holds"),
    "NaN weights": (lambda d: _tensors_edited(d, lambda t: t["3.weight"].__setitem__(0, np.nan), False),
                    "contains NaN or inf"),
    "layers that do not fit the tensors": (
        lambda d: _edit_header(d, lambda h: h["layers"][0].update(units=9)),
        r"do not fit its config: tensor '1.weight' is float64 \[5, 4\], but the layers need float64 \[9, 4\]"),
    "dtype that does not fit the tensors": (
        lambda d: _edit_header(d, lambda h: h["config"].update(dtype="float32")), "but the layers need float32"),
    "standardiser that does not fit the tensors": (
        lambda d: _edit_header(d, lambda h: h["objects"]["scaler"]["json_arrays"]["mean_"]["values"].__setitem__(0, 9.0)),
        "standardiser's tensors 0.weight, 0.bias do not match"),
    "object array in the header": (
        lambda d: _edit_header(d, lambda h: h["objects"]["encoder"]["json_arrays"]["classes_"].update(dtype="|O")),
        "damaged scratchnet model file"),
    "code in the header": (
        lambda d: _edit_header(d, lambda h: h["objects"]["scaler"].update(module="os")), "refusing to rebuild"),
    "future format": (lambda d: _edit_header(d, lambda h: h.update(format_version=99)), "upgrade scratchnet"),
    "foreign safetensors": (lambda d: st.save({"w": np.zeros(3)}), "not a scratchnet model"),
    "text": (lambda d: b"just some notes, not weights at all", "truncated or not safetensors"),
    "JSON with no tensors": (lambda d: _join({"a": 1}, b""), "not a scratchnet model"),
}


@pytest.fixture(scope="module")
def good_bytes(tmp_path_factory):
    model, _ = build("binary_softmax")  # standardiser and string labels
    path = io.save(model, tmp_path_factory.mktemp("good") / "m.safetensors")
    return path.read_bytes()


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_files_are_refused_in_one_line(case, good_bytes, tmp_path, capsys):
    forge, match = HOSTILE[case]
    path = tmp_path / "bad.safetensors"
    path.write_bytes(forge(good_bytes))
    with pytest.raises(io.ModelFileError, match=match) as info:
        io.load(path)
    assert "\n" not in str(info.value)
    for argv in (["evaluate", "--data", "moons"], ["summary"]):
        code = main([argv[0], "--model", str(path), *argv[1:]])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1 and "error" in err, err


def test_an_npz_named_safetensors_is_refused(tmp_path):
    model, _ = build("binary_sigmoid")
    path = tmp_path / "m.safetensors"
    path.write_bytes(_npz_bytes(model, tmp_path))
    with pytest.raises(io.ModelFileError, match="truncated or not safetensors"):
        io.load(path)


def test_a_file_without_a_checksum_still_loads(good_bytes, tmp_path):
    """A file PyTorch wrote with the same metadata, less our sha256."""
    path = tmp_path / "m.safetensors"
    path.write_bytes(_tensors_edited(good_bytes, lambda t: None, keep_digest=False))
    assert io.load(path).predict_proba(np.zeros((1, 4))).shape == (1, 2)


# -- the command line ---------------------------------------------------------------------
@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_reads_safetensors_models(in_tmp, capsys):
    assert main(["train", "--epochs", "2", "--no-plots", "--out", "run", "--quiet"]) == 0
    assert main(["export", "--model", "run/model.npz", "--safetensors", "m.safetensors"]) == 0
    capsys.readouterr()
    scores = []
    for model in ("run/model.npz", "m.safetensors"):
        assert main(["evaluate", "--model", model, "--json"]) == 0
        scores.append({k: v for k, v in json.loads(capsys.readouterr().out).items() if k != "model"})
    assert scores[0] == scores[1]
    (in_tmp / "rows.csv").write_text("x1,x2\n0.5,0.2\n-1,1\n")
    outputs = []
    for model in ("run/model.npz", "m.safetensors"):
        assert main(["predict", "--model", model, "--data", "rows.csv", "--proba", "--json"]) == 0
        outputs.append(json.loads(capsys.readouterr().out)["probabilities"])
    assert outputs[0] == outputs[1]
    assert main(["summary", "--model", "m.safetensors", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs_trained"] == 2


def test_cli_resume_refuses_safetensors(in_tmp, capsys):
    model, _ = build("binary_sigmoid")
    io.save(model, in_tmp / "m.safetensors")
    assert main(["train", "--resume", "m.safetensors"]) == 2
    err = capsys.readouterr().err
    assert "weights only" in err and len(err.strip().splitlines()) == 1


def test_missing_extra_is_named(in_tmp, monkeypatch, capsys):
    model, _ = build("binary_sigmoid")
    io.save(model, in_tmp / "m.npz")
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'scratchnet\[safetensors\]'"):
        io.save(model, in_tmp / "m.safetensors")
    assert not (in_tmp / "m.safetensors").exists()
    assert main(["export", "--model", "m.npz", "--safetensors", "m.safetensors"]) == 2
    assert "scratchnet[safetensors]" in capsys.readouterr().err

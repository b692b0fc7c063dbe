import json
import os
import zipfile

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import io


@pytest.fixture
def small(rng):
    X = rng.standard_normal((60, 3))
    y = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int)
    return X, y


def assert_same_model(a, b, X):
    assert type(a) is type(b)
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert a.history == b.history


@pytest.mark.parametrize("labels", [np.array([3, 7]), np.array(["cat", "dog"]), np.array([0.5, 2.0])])
def test_round_trip_keeps_labels_values_and_dtype(small, labels, tmp_path):
    X, y = small
    model = sn.MLP(hidden=(8, 4), seed=1).fit(X, labels[y], epochs=2, batch_size=8)
    io.save(model, tmp_path / "m.npz", training={"note": "kept"})
    loaded = io.load(tmp_path / "m.npz")
    assert_same_model(model, loaded, X)
    assert loaded.classes_.dtype == labels.dtype
    np.testing.assert_array_equal(loaded.classes_, labels)
    assert loaded.training_config == {"note": "kept"}
    assert loaded.get_config() == model.get_config()


def test_loaded_model_continues_training_exactly(small, tmp_path):
    """Optimizer state (Adam's m, v, t), dropout stream, BatchNorm running
    statistics and the shuffle stream all travel with the file."""
    X, y = small
    layers = [sn.Dense(8), sn.BatchNorm1d(), sn.ReLU(), sn.Dropout(0.3), sn.Dense(2)]
    model = sn.Sequential(layers, optimizer="adam", lr=0.01, seed=4).fit(X, y, epochs=2, batch_size=8)
    io.save(model, tmp_path / "m.npz")
    loaded = io.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.layers[1].buffers["running_var"],
                                  model.layers[1].buffers["running_var"])
    np.testing.assert_array_equal(loaded.optimizer.m, model.optimizer.m)
    model.fit(X, y, epochs=3, batch_size=8)
    loaded.fit(X, y, epochs=3, batch_size=8)
    assert_same_model(model, loaded, X)


def test_helper_objects_are_saved_without_pickle(small, tmp_path):
    X, y = small
    model = sn.MLP(hidden=(4,), seed=0).fit(X, y, epochs=1, batch_size=8)
    model.scaler = sn.Standardizer().fit(X)
    io.save(model, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as data:  # every array is plain
        arrays = {k: data[k] for k in data.files}
    assert "scaler.mean_" in arrays
    loaded = io.load(tmp_path / "m.npz")
    assert isinstance(loaded.scaler, sn.Standardizer)
    np.testing.assert_array_equal(loaded.scaler.transform(X), model.scaler.transform(X))


def test_object_labels_from_pandas_are_saved_as_strings(small, tmp_path):
    X, y = small
    model = sn.MLP(hidden=(4,), seed=0).fit(X, np.array(["a", "b"], dtype=object)[y], epochs=1)
    io.save(model, tmp_path / "m.npz")
    assert io.load(tmp_path / "m.npz").classes_.tolist() == ["a", "b"]


def test_unfitted_model_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        io.save(sn.MLP(), tmp_path / "m.npz")


@pytest.fixture
def saved(small, tmp_path):
    X, y = small
    path = tmp_path / "m.npz"
    io.save(sn.MLP(hidden=(16,), seed=0).fit(X, y, epochs=1, batch_size=8), path)
    return path


def _rewrite_header(path, **changes):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(arrays["header"].tobytes()) | changes
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


def test_future_format_version_is_refused_clearly(saved):
    _rewrite_header(saved, format_version=io.FORMAT_VERSION + 1)
    with pytest.raises(io.ModelFileError, match="format version 2.*upgrade scratchnet"):
        io.load(saved)


def test_truncated_file(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(io.ModelFileError, match="truncated or corrupted"):
        io.load(saved)


def test_corrupted_file(saved):
    data = bytearray(saved.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)  # zero a stretch inside the weights
    saved.write_bytes(bytes(data))
    with pytest.raises(io.ModelFileError, match="damaged|corrupted"):
        io.load(saved)


def test_files_that_are_not_models(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(io.ModelFileError, match="not a scratchnet model file"):
        io.load(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.arange(3))
    with pytest.raises(io.ModelFileError, match="not a scratchnet model file"):
        io.load(plain)
    other = tmp_path / "other.npz"
    np.savez(other, header=np.frombuffer(b'{"format": "something-else"}', dtype=np.uint8))
    with pytest.raises(io.ModelFileError, match="not a scratchnet model file"):
        io.load(other)
    with pytest.raises(FileNotFoundError, match="no model file"):
        io.load(tmp_path / "missing.npz")


def test_pickled_arrays_are_never_loaded(saved):
    """A crafted file with an object array must fail instead of unpickling it."""
    with np.load(saved, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["params"] = np.array([object()], dtype=object)
    np.savez(saved, **arrays)
    with pytest.raises(io.ModelFileError):
        io.load(saved)


def test_failed_save_leaves_the_previous_file_and_no_temp_file(saved, small, monkeypatch):
    before = saved.read_bytes()
    X, y = small
    other = sn.MLP(hidden=(16,), seed=9).fit(X, y, epochs=1, batch_size=8)

    def savez_then_fail(f, **arrays):  # a disk that fills up halfway
        f.write(b"PK\x03\x04 partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", savez_then_fail)
    with pytest.raises(OSError, match="No space left"):
        io.save(other, saved)
    assert saved.read_bytes() == before
    assert os.listdir(saved.parent) == [saved.name]
    assert zipfile.is_zipfile(saved)


def test_save_to_a_missing_folder_fails_clearly(saved, tmp_path):
    with pytest.raises(FileNotFoundError):
        io.save(io.load(saved), tmp_path / "no" / "such" / "m.npz")


def test_header_describes_the_model(saved):
    header = io.read_header(saved)
    assert header["format"] == io.FORMAT and header["format_version"] == io.FORMAT_VERSION
    assert header["library_version"] == sn.__version__
    assert header["class"] == "MLP" and header["config"]["hidden"] == [16]
    assert [layer["type"] for layer in header["layers"]] == ["Dense", "ReLU", "Dense"]


def test_regressor_with_scaler_round_trip(rng, tmp_path):
    X = rng.standard_normal((80, 2)) * [1, 100]
    y = X[:, 0] - 0.01 * X[:, 1]
    model = sn.MLP(hidden=(8,), loss="mse", scale=True, optimizer="adam", lr=0.01, seed=2)
    model.fit(X, y, epochs=3, batch_size=16)
    model.optimizer.lr = 0.005  # as a schedule would leave it
    io.save(model, tmp_path / "r.npz")
    loaded = io.load(tmp_path / "r.npz")
    assert loaded.optimizer.lr == 0.005
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.predict(X).shape == (80,)
    model.fit(X, y, epochs=2, batch_size=16)
    loaded.fit(X, y, epochs=2, batch_size=16)
    np.testing.assert_array_equal(loaded.params, model.params)

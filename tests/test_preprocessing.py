"""Preprocessing in one module, datasets in one module, input checks in validation:
the old import paths and model files that name them keep working."""
import json

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import data, datasets, io, preprocessing, validation


def test_old_import_paths_are_the_same_objects():
    assert data.LabelEncoder is preprocessing.LabelEncoder
    assert data.one_hot is preprocessing.one_hot
    assert datasets.Standardizer is preprocessing.Standardizer is sn.Standardizer
    assert data.tutorial_moons is datasets.tutorial_moons
    assert data.as_generator is datasets.as_generator
    assert data.check_X is validation.check_X
    from scratchnet.data import LabelEncoder, one_hot  # noqa: F401  (as users write it)
    from scratchnet.datasets import Standardizer  # noqa: F401


def test_model_files_naming_the_old_modules_still_load(tmp_path):
    X = np.random.default_rng(0).standard_normal((40, 3))
    y = np.array(["no", "yes"])[(X[:, 0] > 0).astype(int)]
    model = sn.MLP(hidden=(4,), scale=True, seed=0).fit(X, y, epochs=2, batch_size=8)
    path = io.save(model, tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    header = json.loads(arrays["header"].tobytes())
    assert header["objects"]["encoder"]["module"] == "scratchnet.preprocessing"
    assert header["objects"]["scaler"]["module"] == "scratchnet.preprocessing"
    # as files written before the move name them
    header["objects"]["encoder"]["module"] = "scratchnet.data"
    header["objects"]["scaler"]["module"] = "scratchnet.datasets"
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(tmp_path / "old.npz", **arrays)
    old = io.load(tmp_path / "old.npz")
    assert isinstance(old.encoder, preprocessing.LabelEncoder)
    assert isinstance(old.scaler, preprocessing.Standardizer)
    np.testing.assert_array_equal(old.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(old.predict(X), model.predict(X))


def test_standardizer_and_encoder_round_trip():
    X = np.array([[1.0, 5.0], [3.0, 5.0]])
    s = preprocessing.Standardizer().fit(X)
    np.testing.assert_array_equal(s.transform(X), [[-1.0, 0.0], [1.0, 0.0]])
    enc = preprocessing.LabelEncoder().fit(["b", "a", "b"])
    np.testing.assert_array_equal(enc.transform(["a", "b"]), [0, 1])
    np.testing.assert_array_equal(preprocessing.one_hot(enc.transform(["b"]), 2), [[0.0, 1.0]])


@pytest.mark.parametrize("value, kw, message", [
    (2.5, {"integer": True, "low": 0, "say_kind": True}, r"x must be an integer >= 0, got 2.5"),
    ("a", {"low": 0, "say_kind": True}, r"x must be a number >= 0, got 'a'"),
])
def test_check_number_type_error_false_raises_value_error(value, kw, message):
    with pytest.raises(ValueError, match=message):
        validation.check_number("x", value, type_error=False, **kw)


@pytest.mark.parametrize("value, allow_zero, message", [
    (0, False, r"n must be a positive integer, got 0"), (1.5, False, r"n must be a positive integer, got 1.5"),
    (True, False, r"n must be a positive integer, got True"), (-1, True, r"n must be an integer >= 0, got -1"),
])
def test_check_positive_type_error_false_has_one_message(value, allow_zero, message):
    with pytest.raises(ValueError, match=message):
        validation.check_positive("n", value, int, allow_zero=allow_zero, type_error=False)
    assert validation.check_positive("n", np.int64(3), int, type_error=False) == 3


@pytest.mark.parametrize("call, message", [
    (lambda: sn.Dense(1.5), r"Dense units must be a positive integer, got 1.5"),
    (lambda: sn.StepDecay(0), r"step_size must be a positive integer, got 0"),
    (lambda: sn.CosineDecay(2.5), r"T_max must be a positive integer, got 2.5"),
    (lambda: datasets.spirals(10, n_classes=1), r"n_classes must be >= 2, got 1"),
])
def test_constructors_keep_their_messages(call, message):
    with pytest.raises(ValueError, match=message):
        call()

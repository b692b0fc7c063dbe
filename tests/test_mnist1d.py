"""MNIST-1D: generated offline and cached (never in the real home cache here), the global
random states left alone, and the two presets built and trained (briefly)."""
import random
import re

import numpy as np
import pytest
from conftest import require

import scratchnet as sn
from scratchnet import datasets, presets

SMALL = {"n_samples": 200, "seed": 3}  # a few hundred rows generate in well under a second


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "scratchnet"


def test_generated_as_make_dataset_makes_it_and_cached(cache):
    data = require("mnist1d.data")
    np.random.seed(7)
    random.seed(7)
    np_before, py_before = np.random.get_state()[1].copy(), random.getstate()
    X, y = datasets.load("mnist1d", **SMALL)
    np.testing.assert_array_equal(np.random.get_state()[1], np_before)  # restored
    assert random.getstate() == py_before
    assert X.shape == (200, 40) and y.shape == (200,) and X.dtype == np.float64
    args = data.get_dataset_args()
    args.num_samples, args.seed = 200, 3
    reference = data.make_dataset(args)  # its train split first, then its test split
    np.testing.assert_array_equal(X[:160], reference["x"])
    np.testing.assert_array_equal(y[160:], reference["y_test"])
    files = list(cache.glob("mnist1d-*.npz"))
    assert len(files) == 1
    with np.load(files[0], allow_pickle=False) as saved:  # no pickle in the cache
        np.testing.assert_array_equal(saved["X"], X)


def test_the_cache_is_used_and_keyed_by_the_arguments(cache, monkeypatch):
    data = require("mnist1d.data")
    X, y = datasets.mnist1d(**SMALL)
    monkeypatch.setattr(data, "make_dataset", lambda args: pytest.fail("regenerated"))
    X2, y2 = datasets.mnist1d(**SMALL)  # from the cache
    np.testing.assert_array_equal(X2, X)
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache.parent))
    X3, _ = datasets.mnist1d(**SMALL, noise=0.0, length=30)
    assert X3.shape == (200, 30) and len(list(cache.glob("mnist1d-*.npz"))) == 2


def test_a_damaged_cache_file_is_generated_again(cache):
    require("mnist1d.data")
    X, _ = datasets.mnist1d(**SMALL)
    path, = cache.glob("mnist1d-*.npz")
    path.write_bytes(b"not an npz")
    X2, _ = datasets.mnist1d(**SMALL)
    np.testing.assert_array_equal(X2, X)


@pytest.mark.parametrize("kwargs, match", [({"seed": -1}, "seed must be an integer >= 0"), ({"length": 2.5}, "length must be an integer"),
                                           ({"noise": "a"}, "noise must be a number"), ({"n_samples": 5}, "n_samples")])
def test_bad_arguments_are_named(kwargs, match, cache):
    with pytest.raises(ValueError, match=match):
        datasets.mnist1d(**kwargs)


def test_a_missing_package_names_the_extra(cache, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mnist1d.data", None)  # import fails
    with pytest.raises(ImportError, match=r"pip install 'scratchnet\[mnist1d\]'"):
        datasets.load("mnist1d")


def test_presets_build_their_models_and_recipes():
    mlp, fit = presets.build("mnist1d-mlp", seed=0)
    assert isinstance(mlp, sn.MLP) and mlp.hidden == (256, 256, 256)
    assert set(fit) == {"epochs", "batch_size", "callbacks", "augment"}
    assert isinstance(fit["augment"], sn.RandomShift) and fit["augment"].max_shift == 3
    cnn, fit = presets.build("mnist1d-cnn", seed=0)
    assert [type(layer).__name__ for layer in cnn.layers] == [
        "Conv1d", "ReLU", "Conv1d", "ReLU", "Conv1d", "ReLU", "Flatten", "Dense"]
    assert presets.get("mnist1d-cnn")["data"] == "mnist1d"
    with pytest.raises(ValueError, match=r"\['hidden'\] do not apply to a preset built from a layer list"):
        presets.build(dict(presets.get("mnist1d-cnn"), hidden=(3,)))
    with pytest.raises(ValueError, match="unknown schedule"):
        presets.build(dict(presets.get("default"), schedule="linear"))


def test_both_presets_train_on_generated_sequences(cache):
    require("mnist1d.data")
    X, y = datasets.mnist1d(**SMALL)
    for name in ("mnist1d-mlp", "mnist1d-cnn"):
        model, fit = presets.build(dict(presets.get(name), epochs=2, batch_size=50), seed=0)
        model.fit(X[:160], y[:160], **fit)
        assert len(model.history["loss"]) == 2
        assert model.optimizer.lr == pytest.approx(0.0, abs=1e-12)  # the cosine ends at 0
        assert model.predict(X[160:]).shape == (40,)


@pytest.fixture
def fake_mnist1d(monkeypatch, tmp_path):
    """load("mnist1d") as random sequences of its shape: the CLI's plumbing, not the data."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((5000, 40)), np.arange(5000) % 10
    monkeypatch.setitem(datasets.LOADERS, "mnist1d", lambda: (X, y))
    monkeypatch.chdir(tmp_path)
    return X, y


def test_cli_preset_implies_its_data_and_split(fake_mnist1d, capsys):
    import json

    from scratchnet.cli import main

    assert main(["train", "--preset", "mnist1d-cnn", "--epochs", "1", "--out", "cnn",
                 "--no-plots", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    metrics = json.loads(open("cnn/metrics.json").read())
    assert metrics["data"]["source"] == "mnist1d"
    assert (metrics["data"]["n_train"], metrics["data"]["n_test"]) == (4000, 1000)
    assert out["epochs_trained"] == 1
    model = sn.load("cnn/model.npz")
    assert model.input_shape_ == (1, 40) and type(model.layers[0]).__name__ == "Conv1d"


@pytest.mark.parametrize("argv, match", [
    (["--preset", "mnist1d-cnn", "--hidden", "8", "--dropout", "0.1"],
     "--hidden, --dropout do not apply to --preset mnist1d-cnn"),
    (["--data", "mnist1d", "--test-size", "0.3"], "standard split.*drop --test-size"),
    (["--preset", "mnist1d-mlp", "--test-size", "0.3"], "drop --test-size"),
    (["--preset", "mnist1d-mlp", "--trials", "3"], "--trials trains MLP settings"),
])
def test_cli_refuses_flags_a_recipe_cannot_honour(argv, match, fake_mnist1d, capsys):
    from scratchnet.cli import main

    assert main(["train", *argv, "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert re.search(match, err), err

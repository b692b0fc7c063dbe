import numpy as np
import pytest

import scratchnet as sn
from scratchnet.data import one_hot
from scratchnet.gradcheck import numerical_grad, relative_error


@pytest.mark.parametrize("hidden", [(5,), (6, 4, 3)])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_whole_network_gradient(hidden, reduction, rng):
    X = rng.standard_normal((8, 3))
    y = rng.integers(0, 3, 8)
    model = sn.MLP(hidden=hidden, seed=1, reduction=reduction)
    model.finish_layers(3)
    model.build(3)
    model.params += 0.1 * rng.standard_normal(model.params.shape)  # move off zero biases
    Y = one_hot(y, 3)
    f = lambda: float(model.loss.forward(model.forward(X), Y))  # noqa: E731
    f()
    model.backward(model.loss.backward())
    assert relative_error(model.grads, numerical_grad(f, model.params)) < 1e-6


def test_defaults_learn_moons_fast(moons):
    X_train, X_test, y_train, y_test = moons
    model = sn.MLP(seed=0).fit(X_train, y_train, epochs=10, batch_size=10)
    assert model.evaluate(X_test, y_test)["accuracy"] >= 0.99
    assert len(model.history["loss"]) == 10
    assert model.history["loss"][-1] < model.history["loss"][0]


def test_deep_network_and_string_labels(moons):
    X_train, X_test, y_train, y_test = moons
    names = np.array(["left", "right"])
    model = sn.MLP(hidden=(32, 16, 8), seed=3).fit(X_train, names[y_train], epochs=5)
    pred = model.predict(X_test)
    assert set(pred) <= {"left", "right"}
    assert np.mean(pred == names[y_test]) > 0.97
    np.testing.assert_array_equal(model.classes_, names)


def test_sequential_any_stack_and_history_with_validation(moons):
    X_train, X_test, y_train, y_test = moons
    model = sn.Sequential([sn.Dense(16), sn.ReLU(), sn.Dense(16), sn.ReLU(), sn.Dense(2)],
                          lr=0.1, seed=0)
    model.fit(X_train, y_train, epochs=3, validation_data=(X_test, y_test))
    assert set(model.history) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(model.history["val_accuracy"]) == 3
    assert model.history["val_accuracy"][-1] == pytest.approx(model.evaluate(X_test, y_test)["accuracy"])


def test_same_seed_same_weights_and_fresh_seed_differs(moons):
    X_train, _, y_train, _ = moons
    a = sn.MLP(seed=7).fit(X_train[:500], y_train[:500], epochs=2)
    b = sn.MLP(seed=7).fit(X_train[:500], y_train[:500], epochs=2)
    c = sn.MLP(seed=8).fit(X_train[:500], y_train[:500], epochs=2)
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)


def test_float32_end_to_end(moons):
    X_train, X_test, y_train, y_test = moons
    model = sn.MLP(dtype="float32", seed=0).fit(X_train, y_train, epochs=3, batch_size=10)
    assert model.params.dtype == np.float32 and model.grads.dtype == np.float32
    assert model.predict_proba(X_test).dtype == np.float32
    assert model.evaluate(X_test, y_test)["accuracy"] > 0.97


def test_weights_live_in_one_flat_array_apart_from_activations(moons):
    X_train, _, y_train, _ = moons
    model = sn.MLP(hidden=(4,), seed=0).fit(X_train[:50], y_train[:50], epochs=1)
    dense = model.layers[0]
    assert set(dense.params) == {"W", "b"}
    assert np.shares_memory(dense.params["W"], model.params)
    assert model.params.size == 2 * 4 + 4 + 4 * 2 + 2


def test_summary_lists_layers_and_counts(moons):
    X_train, _, y_train, _ = moons
    text = sn.MLP(hidden=(64,), seed=0).fit(X_train[:20], y_train[:20], epochs=1, batch_size=10).summary()
    assert "Dense(units=64" in text and "192" in text and "130" in text and "322" in text


def test_one_forward_per_training_step(moons, monkeypatch):
    X_train, _, y_train, _ = moons
    model = sn.MLP(hidden=(4,), seed=0)
    calls = []
    original = sn.Sequential.forward
    monkeypatch.setattr(sn.Sequential, "forward", lambda self, x, train=False, **kw: calls.append(train) or original(self, x, train, **kw))
    model.fit(X_train[:100], y_train[:100], epochs=1, batch_size=10)
    assert calls.count(True) == 10


def test_divergence_stops_with_message_and_finite_weights(moons):
    X_train, _, y_train, _ = moons
    model = sn.MLP(hidden=(16,), lr=1e12, seed=0)
    with pytest.raises(sn.TrainingDiverged, match="epoch 1.*lower learning rate"):
        model.fit(X_train * 1e6, y_train, epochs=3)
    assert np.isfinite(model.params).all()


@pytest.mark.parametrize("X, y, match", [
    (np.zeros((10, 3)), np.zeros(10), "3 features.*trained with 2"),
    (np.full((10, 2), np.nan), np.zeros(10), "NaN"),
    (np.full((10, 2), np.inf), np.zeros(10), "inf"),
    (np.zeros((10, 2)), np.zeros(9), "10 rows but y has 9"),
    (np.zeros((0, 2)), np.zeros(0), "empty"),
    (np.zeros((10, 2, 1)), np.zeros(10), "2-D"),
])
def test_bad_input_after_fit(X, y, match, moons):
    X_train, _, y_train, _ = moons
    model = sn.MLP(hidden=(4,), seed=0).fit(X_train[:100], y_train[:100], epochs=1)
    with pytest.raises(ValueError, match=match):
        model.evaluate(X, y)


@pytest.mark.parametrize("X, y, kwargs, match", [
    (np.zeros((10, 2)), np.zeros(9), {}, "10 rows but y has 9"),
    (np.zeros((10, 2)), np.zeros(10), {"batch_size": 0}, "batch_size"),
    (np.zeros((10, 2)), np.zeros(10), {"batch_size": 11}, "batch_size=11 is larger"),
    (np.zeros((10, 2)), np.zeros(10), {"epochs": 0}, "epochs"),
    (np.zeros((10, 2, 2)), np.zeros(10), {}, "2-D"),
])
def test_bad_input_at_fit(X, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sn.MLP(hidden=(4,)).fit(X, y, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"lr": -1.0}, "lr"), ({"lr": float("nan")}, "lr"), ({"hidden": (0,)}, "hidden size"),
    ({"activation": "nope"}, "valid"), ({"optimizer": "nope"}, "valid"), ({"dtype": "int8"}, "dtype"),
])
def test_bad_hyper_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sn.MLP(**kwargs)


def test_predict_before_fit():
    with pytest.raises(RuntimeError, match="not fitted"):
        sn.MLP().predict(np.zeros((1, 2)))

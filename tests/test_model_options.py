"""The model's choices beyond the tutorial: losses and regression, activations per
layer, dropout, batch norm, weight decay, clipping, validation split."""
import numpy as np
import pytest

import scratchnet as sn
from scratchnet import layers as L
from scratchnet import datasets
from scratchnet.gradcheck import numerical_grad, relative_error


@pytest.fixture(scope="module")
def moons():
    X, y = datasets.moons(800, noise=0.15, seed=0)
    return X[:600], X[600:], y[:600], y[600:]


@pytest.mark.parametrize("loss, targets", [("binary_cross_entropy", "binary"), ("mse", "real"),
                                           ("softmax_cross_entropy", "classes")])
def test_whole_network_gradient_with_every_layer_kind(loss, targets, rng):
    X = rng.standard_normal((9, 3))
    n_out = {"binary": 1, "real": 2, "classes": 4}[targets]
    Y = {"binary": rng.integers(0, 2, (9, 1)).astype(float), "real": rng.standard_normal((9, 2)),
         "classes": np.eye(4)[rng.integers(0, 4, 9)]}[targets]
    model = sn.Sequential([L.Dense(5), L.BatchNorm1d(momentum=0.0), L.GELU(), L.Dense(4), L.Tanh(),
                           L.Dense(4), L.LeakyReLU(0.1), L.Dense(3), L.Sigmoid(), L.Dense(n_out)],
                          loss=loss, seed=0)
    model.build(3)
    model.params += 0.1 * rng.standard_normal(model.params.shape)
    f = lambda: float(model.loss.forward(model.forward(X, train=True), Y))  # noqa: E731
    f()
    model.backward(model.loss.backward())
    assert relative_error(model.grads, numerical_grad(f, model.params)) < 1e-6


def test_regression_learns_and_keeps_target_shape(rng):
    X = rng.uniform(-2, 2, (400, 2))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2
    model = sn.MLP(hidden=(32, 32), activation="tanh", optimizer="adam", lr=0.01, loss="mse",
                   init="glorot", seed=0).fit(X, y, epochs=60, batch_size=32)
    assert model.predict(X).shape == (400,)
    scores = model.evaluate(X, y)
    assert set(scores) == {"loss", "r2"} and scores["r2"] > 0.95
    assert "accuracy" not in model.history
    two = sn.MLP(hidden=(8,), loss="mse", seed=0).fit(X, np.column_stack([y, -y]), epochs=2)
    assert two.predict(X).shape == (400, 2)
    with pytest.raises(AttributeError, match="regressor"):
        model.predict_proba(X)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_regression_target_with_nan_is_refused_before_training(bad, rng):
    y = rng.standard_normal(50)
    y[7] = bad
    model = sn.MLP(hidden=(4,), loss="mse")
    with pytest.raises(ValueError, match="NaN or inf"):
        model.fit(rng.standard_normal((50, 2)), y)
    assert not model.built
    with pytest.raises(ValueError, match="must be numbers"):
        sn.MLP(hidden=(4,), loss="mse").fit(np.zeros((2, 2)), ["a", "b"])


def test_binary_cross_entropy_classifier(moons):
    X_train, X_test, y_train, y_test = moons
    names = np.array(["no", "yes"])
    model = sn.MLP(hidden=(32,), loss="binary_cross_entropy", optimizer="adam", lr=0.01, seed=0)
    model.fit(X_train, names[y_train], epochs=40, validation_data=(X_test, names[y_test]))
    assert model.layers[-1].units == 1
    probs = model.predict_proba(X_test)
    np.testing.assert_allclose(probs.sum(axis=1), 1)
    assert model.evaluate(X_test, names[y_test])["accuracy"] > 0.95
    assert model.history["accuracy"][-1] > 0.95  # the training accuracy reads the one logit
    assert set(model.predict(X_test)) == {"no", "yes"}
    with pytest.raises(ValueError, match="needs 2 classes, y has 3"):
        sn.MLP(hidden=(4,), loss="binary_cross_entropy").fit(np.zeros((3, 2)), [0, 1, 2])
    with pytest.raises(ValueError, match="last layer has 2 outputs but y has 1"):
        sn.Sequential([L.Dense(2)], loss="binary_cross_entropy").fit(X_train, y_train)


def test_activation_per_layer_dropout_and_batchnorm():
    model = sn.MLP(hidden=(8, 6), activation=["gelu", "leaky_relu"], dropout=0.2, batchnorm=True)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Dense", "BatchNorm1d", "GELU", "Dropout", "Dense", "BatchNorm1d", "LeakyReLU", "Dropout"]
    with pytest.raises(ValueError, match="2 names for 3 hidden layers"):
        sn.MLP(hidden=(4, 4, 4), activation=["relu", "tanh"])


def test_dropout_is_inactive_at_inference(moons):
    X_train, X_test, y_train, y_test = moons
    model = sn.MLP(hidden=(64,), dropout=0.5, optimizer="adam", lr=0.01, seed=0)
    model.fit(X_train, y_train, epochs=20)
    np.testing.assert_array_equal(model.predict_proba(X_test), model.predict_proba(X_test))
    assert model.evaluate(X_test, y_test)["accuracy"] > 0.95


def test_weight_decay_shrinks_weights(moons):
    X_train, _, y_train, _ = moons
    plain = sn.MLP(hidden=(32,), seed=0).fit(X_train, y_train, epochs=10)
    decayed = sn.MLP(hidden=(32,), seed=0, weight_decay=0.05).fit(X_train, y_train, epochs=10)
    assert np.linalg.norm(decayed.params) < 0.8 * np.linalg.norm(plain.params)


def test_clipnorm_and_optimizer_options_reach_the_optimizer():
    model = sn.MLP(optimizer="sgd", clipnorm=1.0, optimizer_options={"momentum": 0.9, "nesterov": True})
    assert model.optimizer.config() == {"type": "SGD", "lr": 0.1, "momentum": 0.9, "nesterov": True,
                                        "weight_decay": 0.0, "clipnorm": 1.0}
    with pytest.raises(ValueError, match="optimizer_options .* do not fit optimizer 'adam'"):
        sn.MLP(optimizer="adam", optimizer_options={"momentum": 0.9})


def test_validation_split(moons):
    X_train, _, y_train, _ = moons
    a = sn.MLP(hidden=(8,), seed=3).fit(X_train, y_train, epochs=3, validation_split=0.25)
    b = sn.MLP(hidden=(8,), seed=3).fit(X_train, y_train, epochs=3, validation_split=0.25)
    assert len(a.history["val_accuracy"]) == 3
    np.testing.assert_array_equal(a.params, b.params)
    with pytest.raises(ValueError, match="validation_split"):
        sn.MLP().fit(X_train, y_train, validation_split=1.5)
    with pytest.raises(ValueError, match="not both"):
        sn.MLP().fit(X_train, y_train, validation_split=0.2, validation_data=(X_train, y_train))


def test_label_smoothing_trains(moons):
    X_train, X_test, y_train, y_test = moons
    model = sn.MLP(hidden=(32,), label_smoothing=0.1, optimizer="adam", lr=0.01, seed=0)
    model.fit(X_train, y_train, epochs=30)
    assert model.evaluate(X_test, y_test)["accuracy"] > 0.95
    # smoothed targets (0.05 / 0.95 here) keep the probabilities off 0 and 1
    sharp = sn.MLP(hidden=(32,), optimizer="adam", lr=0.01, seed=0).fit(X_train, y_train, epochs=30)
    confidence = np.median(model.predict_proba(X_train).max(axis=1))
    assert 0.9 < confidence < 0.97 < np.median(sharp.predict_proba(X_train).max(axis=1))
    with pytest.raises(ValueError, match="label_smoothing applies to softmax"):
        sn.MLP(loss="mse", label_smoothing=0.1)


@pytest.mark.parametrize("kwargs, match", [
    ({"activation": "swish"}, "valid: gelu, identity, leaky_relu, relu, sigmoid, softmax, tanh"),
    ({"optimizer": "adagrad"}, "valid: adam, adamw, momentum, nesterov, rmsprop, sgd"),
    ({"loss": "hinge"}, "valid: binary_cross_entropy, mse, softmax_cross_entropy"),
    ({"init": "zeros"}, "valid: glorot, glorot_normal, he, he_uniform, normal"),
])
def test_unknown_names_list_the_valid_ones(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sn.MLP(**kwargs)


def test_config_round_trip_with_new_options():
    model = sn.MLP(hidden=(8, 4), activation=["tanh", "gelu"], optimizer="adamw", lr=1e-3,
                   loss="mse", dropout=0.1, batchnorm=True, weight_decay=0.01, clipnorm=2.0,
                   optimizer_options={"beta2": 0.99}, scale=True, seed=5)
    twin = sn.MLP.from_config(model.get_config())
    assert [layer.config() for layer in twin.layers] == [layer.config() for layer in model.layers]
    assert twin.optimizer.config() == model.optimizer.config()
    assert twin.loss.config() == model.loss.config() and twin.scale

"""Property-based tests (hypothesis): random shapes, dtypes, label sets and
hyper-parameters, hostile ones included, against the Python API and the
scikit-learn estimators. Every call either succeeds with finite outputs of the
right shape, or raises ValueError or TypeError with a message: never another
exception, a hang, or NaN.

Derandomized and database-less, so every run tries the same examples."""
import warnings
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import scratchnet as sn
from scratchnet import io
from scratchnet.sklearn import MLPClassifier, MLPRegressor

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ALLOWED = (ValueError, TypeError)

# -- strategies ----------------------------------------------------------------------------
# Each example is sane except, most of the time, for one hostile aspect: so the
# successful path is exercised as well as every way to refuse.
SPECIAL = [0.0, -0.0, 1e-300, 1e38, 1e39, -1e300, 1e308, np.nan, np.inf, -np.inf]
X_TWISTS = ["special", "scaled", "empty", "no features", "1d", "3d", "int", "bool", "float32",
            "float16", "object", "text", "numeric text", "complex", "list"]
Y_TWISTS = ["one class", "nan", "None label", "mixed", "wrong length", "2d"]


@st.composite
def matrices(draw, n, f, twist="none"):
    """X (n, f) of standard normals, with an optional hostile twist."""
    X = np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal((n, f))
    if twist == "special":
        X.flat[draw(st.integers(0, X.size - 1))] = draw(st.sampled_from(SPECIAL))
    elif twist == "scaled":
        X = X * draw(st.sampled_from([1e-8, 1e3, 1e6, 1e12, 1e300]))
    elif twist == "empty":
        X = X[:0]
    elif twist == "no features":
        X = X[:, :0]
    elif twist == "1d":
        X = X.ravel()
    elif twist == "3d":
        X = X[..., None]
    elif twist == "int":
        X = (X * 3).astype(np.int64)
    elif twist == "bool":
        X = X > 0
    elif twist in ("float32", "float16"):
        X = X.astype(twist)
    elif twist == "object":
        X = X.astype(object)
    elif twist == "text":
        X = np.where(X > 0, "a", "1").astype(object)
    elif twist == "numeric text":
        X = X.astype(str)
    elif twist == "complex":
        X = X + 1j
    elif twist == "list":
        X = X.tolist()
    return X


@st.composite
def labels(draw, n, twist="none"):
    """y for n >= 2 rows: 2 to 4 classes (all present) of ints, strings, floats or
    bools, or a hostile twist."""
    kind = draw(st.sampled_from(["int", "str", "float", "bool"]))
    k = 2 if kind == "bool" else draw(st.integers(2, min(4, n)))
    idx = np.random.default_rng(draw(st.integers(0, 2**16))).permutation(np.arange(n) % k)
    y = {"int": np.array([-7, 0, 3, 100]), "str": np.array(["cat", "dog", "ému", ""]),
         "float": np.array([0.5, -1.0, 1e9, 2.0]), "bool": np.array([True, False])}[kind][idx]
    if twist == "one class":
        return np.full(n, y[0])
    if twist == "nan":
        y = idx.astype(float)
        y[0] = np.nan
    elif twist == "None label":
        y = y.astype(object)
        y[0] = None
    elif twist == "mixed":
        y = np.array([1, "a"] * (n // 2) + [1] * (n % 2), dtype=object)
    elif twist == "wrong length":
        y = y[:-1]
    elif twist == "2d":
        y = np.stack([y, y], axis=1)
    return y


HOSTILE_NUMBERS = [0, -1, 0.0, -0.5, np.nan, np.inf, -np.inf, 1e300, True, "0.1", None, [0.1]]
HOSTILE_HIDDEN = [0, -1, (4, 0), (), 1.5, "4", None, (4.0,), [[4]]]


@st.composite
def problems(draw, hostile_params):
    """(X, y, what is hostile, hostile parameter name or None, its value)."""
    n, f = draw(st.integers(2, 24)), draw(st.integers(1, 4))
    aspect = draw(st.sampled_from(["none"] * 4 + ["X", "y", "param"]))
    twist = {"X": X_TWISTS, "y": Y_TWISTS}.get(aspect)
    twist = draw(st.sampled_from(twist)) if twist else "none"
    X = draw(matrices(n, f, twist if aspect == "X" else "none"))
    y = draw(labels(n, twist if aspect == "y" else "none"))
    name = value = None
    if aspect == "param":
        name = draw(st.sampled_from(sorted(hostile_params)))
        value = draw(st.sampled_from(hostile_params[name]))
        twist = f"{name}={value!r}"
    return X, y, twist, name, value


def check_finite(value, shape=None):
    value = np.asarray(value)
    if value.dtype.kind in "fc":
        assert np.isfinite(value).all(), value
    if shape is not None:
        assert value.shape == shape, (value.shape, shape)


def allowed(error: Exception):
    """What a refused call must look like: ValueError or TypeError with a message."""
    assert isinstance(error, ALLOWED), repr(error)
    assert str(error).strip(), repr(error)


# -- the Python API -------------------------------------------------------------------------
MLP_HOSTILE = {
    "hidden": HOSTILE_HIDDEN, "lr": HOSTILE_NUMBERS, "epochs": [0, -1, 1.5, None, "2"],
    "batch_size": [0, -1, 10**6, 2.0, None], "dtype": ["float16", "int32", None, "f8x"],
    "activation": ["swish", None, ["relu", "relu", "relu", "relu"]],
    "optimizer": ["lbfgs", None, 3], "seed": [-1, 2.5, "0"], "loss": ["hinge", None],
    "reduction": ["max", None], "weight_decay": HOSTILE_NUMBERS, "clipnorm": HOSTILE_NUMBERS,
    "dropout": [1.0, -0.1, np.nan, "0.5"], "label_smoothing": [1.0, -0.1, np.nan],
    "validation_split": [0.0, 1.0, np.nan, 0.99, "0.2"],
}
FIT_KEYS = ("epochs", "batch_size", "validation_split")


@settings(max_examples=500, **SETTINGS)
@given(data=st.data())
def test_mlp_fit_predict_evaluate(data):
    X, y, twist, name, value = data.draw(problems(MLP_HOSTILE))
    n = len(X)
    loss = data.draw(st.sampled_from(["softmax_cross_entropy"] * 3 + ["binary_cross_entropy", "mse"]))
    if loss == "binary_cross_entropy" or (loss == "mse" and np.asarray(y).dtype.kind not in "iufb"):
        y = np.arange(len(y)) % 2 if name is None else y  # what these losses take
    params = {"hidden": tuple(data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=3))),
              "lr": data.draw(st.floats(1e-3, 0.5)), "loss": loss,
              "activation": data.draw(st.sampled_from(["relu", "tanh", "gelu", "sigmoid", "leaky_relu"])),
              "optimizer": data.draw(st.sampled_from(["sgd", "adam", "momentum", "rmsprop"])),
              "dtype": data.draw(st.sampled_from(["float32", "float64"])),
              "seed": data.draw(st.integers(0, 2**32)), "scale": data.draw(st.booleans())}
    fit = {"epochs": data.draw(st.integers(1, 3)), "batch_size": data.draw(st.integers(1, max(1, n)))}
    if name is not None:
        (fit if name in FIT_KEYS else params)[name] = value
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = sn.MLP(**params).fit(X, y, **fit)
    except Exception as e:  # noqa: BLE001 - the property: nothing but ValueError/TypeError
        allowed(e)
        return
    event(f"fitted ({'sane' if twist == 'none' else 'despite a twist'})")
    assert np.isfinite(model.params).all() and model.params.dtype == model.dtype
    try:
        pred = model.predict(X)
        check_finite(pred, (n,) if np.ndim(y) == 1 else (n, np.shape(y)[1]))
        if model.task == "classification":
            probs = model.predict_proba(X)
            check_finite(probs, (n, len(model.classes_)))
            assert np.allclose(probs.sum(axis=1), 1, atol=1e-3)
            assert set(np.unique(pred).tolist()) <= set(model.classes_.tolist())
        scores = model.evaluate(X, y)
        # never NaN; a regressor trained to the brink of divergence (finite but huge
        # predictions) may score loss=inf, r2=-inf when the squared errors overflow
        assert not any(np.isnan(v) for v in scores.values()), scores
        if model.task == "classification":
            assert all(np.isfinite(v) for v in scores.values()), scores
    except Exception as e:  # noqa: BLE001
        allowed(e)  # only an overflow of the network's outputs may refuse here
        assert "overflowed" in str(e), e


@settings(max_examples=120, **SETTINGS)
@given(data=st.data())
def test_predict_on_hostile_input_after_a_good_fit(data):
    model = _fitted(data.draw(st.sampled_from(["float32", "float64"])))
    n = data.draw(st.integers(1, 12))
    twist = data.draw(st.sampled_from(["none"] * 3 + X_TWISTS))
    X = data.draw(matrices(n, data.draw(st.sampled_from([3, 3, 3, 2])), twist))
    m = len(X)
    for method, shape in (("predict", (m,)), ("predict_proba", (m, 2))):
        try:
            check_finite(getattr(model, method)(X), shape)
            event(f"{method} ok")
        except Exception as e:  # noqa: BLE001
            allowed(e)
    y = np.array(["no", "yes", "maybe"])[np.arange(n) % data.draw(st.sampled_from([2, 3]))]
    try:
        scores = model.evaluate(X, y)
        assert all(np.isfinite(v) for v in scores.values())
    except Exception as e:  # noqa: BLE001
        allowed(e)


@cache
def _fitted(dtype):
    X = np.random.default_rng(0).standard_normal((30, 3))
    return sn.MLP(hidden=(6,), seed=0, dtype=dtype).fit(X, np.where(X[:, 0] > 0, "yes", "no"),
                                                         epochs=2, batch_size=5)


@settings(max_examples=40, **SETTINGS)
@given(hidden=st.lists(st.integers(1, 6), min_size=1, max_size=3),
       dtype=st.sampled_from(["float32", "float64"]), seed=st.integers(0, 2**32),
       optimizer=st.sampled_from(["sgd", "adam", "nesterov"]), batch_size=st.integers(1, 12),
       dropout=st.sampled_from([0.0, 0.3]))
def test_same_seed_same_bits_and_the_file_round_trips(tmp_path_factory, hidden, dtype, seed,
                                                      optimizer, batch_size, dropout):
    X = np.random.default_rng(seed % 1000).standard_normal((20, 3))
    y = np.arange(20) % 3

    def run():
        return sn.MLP(hidden=hidden, dtype=dtype, seed=seed, optimizer=optimizer, lr=0.05,
                      dropout=dropout).fit(X, y, epochs=2, batch_size=batch_size)

    a, b = run(), run()
    assert a.params.tobytes() == b.params.tobytes()
    path = tmp_path_factory.mktemp("m") / "m.npz"
    io.save(a, path)
    loaded = io.load(path)
    assert loaded.params.tobytes() == a.params.tobytes()
    np.testing.assert_array_equal(loaded.predict_proba(X), a.predict_proba(X))


# -- the scikit-learn estimators -----------------------------------------------------------------
SKLEARN_HOSTILE = {
    "hidden_layer_sizes": HOSTILE_HIDDEN, "learning_rate_init": HOSTILE_NUMBERS,
    "alpha": HOSTILE_NUMBERS, "batch_size": [0, -1, 10**6, 2.0, None], "max_iter": [0, -1, 1.5],
    "activation": ["swish", None], "solver": ["lbfgs", None], "momentum": HOSTILE_NUMBERS,
    "beta_1": [1.0, np.nan], "epsilon": [0.0, np.nan], "tol": [np.nan, -1.0],
    "validation_fraction": [0.0, 1.0, np.nan], "n_iter_no_change": [0, 1.5],
}


@settings(max_examples=300, **SETTINGS)
@given(data=st.data())
def test_sklearn_estimators(data):
    X, y, twist, name, value = data.draw(problems(SKLEARN_HOSTILE))
    n = len(X)
    regressor = data.draw(st.booleans())
    if regressor and name is None and np.asarray(y).dtype.kind not in "iufb":
        y = np.random.default_rng(n).standard_normal(n) * data.draw(st.sampled_from([1.0, 1e6]))
    params = {"hidden_layer_sizes": tuple(data.draw(st.lists(st.integers(1, 6), max_size=2))),
              "max_iter": data.draw(st.integers(1, 3)), "random_state": data.draw(st.integers(0, 99)),
              "solver": data.draw(st.sampled_from(["adam", "sgd"])),
              "activation": data.draw(st.sampled_from(["relu", "tanh", "logistic", "identity"])),
              "early_stopping": n >= 10 and data.draw(st.booleans())}
    if name is not None:
        params[name] = value
    estimator = (MLPRegressor if regressor else MLPClassifier)(**params)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(X, y)
    except Exception as e:  # noqa: BLE001
        allowed(e)
        return
    event(f"fitted ({'sane' if twist == 'none' else 'despite a twist'})")
    try:
        pred = estimator.predict(X)
        check_finite(pred, (n,) if np.ndim(y) == 1 else None)
        if not regressor:
            check_finite(estimator.predict_proba(X), (n, len(estimator.classes_)))
        # R^2 of one sample is NaN in scikit-learn's own score; a regressor that is
        # diverging (finite but huge predictions) may score -inf, when the squares overflow
        if not (regressor and n < 2):
            assert not np.isnan(estimator.score(X, y))
    except Exception as e:  # noqa: BLE001
        allowed(e)
        assert "overflowed" in str(e), e


# -- regressions the properties found --------------------------------------------------------------
def test_regression_hidden_that_is_not_a_sequence_is_a_type_error():
    for hidden in (1.5, None, "4"):
        with pytest.raises(TypeError, match="hidden must be an integer or a sequence"):
            sn.MLP(hidden=hidden)


def test_regression_nan_learning_rate_in_the_estimators_is_refused():
    X = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(ValueError, match="learning_rate_init must be a finite number, got nan"):
        MLPClassifier(learning_rate_init=float("nan")).fit(X, np.arange(10) % 2)

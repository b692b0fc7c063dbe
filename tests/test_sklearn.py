"""scratchnet.sklearn: scikit-learn's own conformance suite, then behaviour in its ecosystem."""
import inspect
import pickle
import warnings

import numpy as np
import pytest
import sklearn.neural_network as sk_nn
from sklearn.base import clone
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from scratchnet.sklearn import MLPClassifier, MLPRegressor

# Short budgets keep these tests fast; hitting max_iter is expected, not news.
# (tests that are about the warning catch it with pytest.warns, which sees it anyway)
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """Small networks: BLAS threads only contend for the cores (several times
    slower on a busy machine), so each product runs on one."""
    with threadpool_limits(1):
        yield


# Every check scikit-learn runs on a third-party estimator, on both estimators and
# the three solvers: none is skipped or expected to fail.
@parametrize_with_checks([MLPClassifier(), MLPRegressor(), MLPClassifier(solver="sgd"),
                          MLPRegressor(solver="sgd"), MLPClassifier(solver="lbfgs"),
                          MLPRegressor(solver="lbfgs")])
def test_sklearn_estimator_checks(estimator, check, monkeypatch):
    # check_array_api_input(numpy) turns on scikit-learn's array-API dispatch, which
    # asks for this variable (and otherwise skips); NumPy inputs need nothing more.
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


# -- the same interface as scikit-learn's own estimators ------------------------------------
@pytest.mark.parametrize("ours, theirs", [(MLPClassifier, sk_nn.MLPClassifier),
                                          (MLPRegressor, sk_nn.MLPRegressor)])
def test_constructor_matches_sklearn(ours, theirs):
    sig_ours = inspect.signature(ours).parameters
    sig_theirs = dict(inspect.signature(theirs).parameters)
    assert list(sig_ours) == list(sig_theirs)
    for name, p in sig_theirs.items():
        assert sig_ours[name].default == p.default, name
        assert sig_ours[name].kind == p.kind, name


def _blobs(rng, n=120, n_classes=3, n_features=4):
    centers = rng.normal(scale=4.0, size=(n_classes, n_features))
    y = rng.integers(0, n_classes, size=n)
    return centers[y] + rng.normal(size=(n, n_features)), y


@pytest.mark.parametrize("labels", [np.array(["cat", "dog", "emu"]), np.array([-3, 10, 42]),
                                    np.array(["no", "yes"]), np.array([7, 9])])
def test_any_label_values(rng, labels):
    X, y_idx = _blobs(rng, n_classes=len(labels))
    y = labels[y_idx]
    clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=300,
                        random_state=0).fit(X, y)
    assert np.array_equal(clf.classes_, np.sort(labels))
    assert clf.n_outputs_ == (1 if len(labels) == 2 else len(labels))
    assert clf.out_activation_ == ("logistic" if len(labels) == 2 else "softmax")
    pred = clf.predict(X)
    assert pred.dtype == y.dtype and set(pred) <= set(labels)
    assert np.mean(pred == y) > 0.95
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), len(labels))
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], pred)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), atol=1e-12)


def test_predict_log_proba_stays_finite_where_proba_underflows():
    X = np.array([[0.0], [1.0]] * 10)
    y = np.array([0, 1] * 10)
    for n_classes in (2, 3):
        yy = y if n_classes == 2 else np.r_[y[:-1], 2]
        clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
        clf.fit(X, yy)
        log_proba = clf.predict_log_proba(np.array([[1e6], [-1e6]]))
        assert np.isfinite(log_proba).all() and (log_proba <= 0).all()


def test_multilabel_indicator_targets(rng):
    X = rng.normal(size=(200, 4))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] > 1]).astype(np.int64)
    clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=300,
                        random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 3
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    pred, proba = clf.predict(X), clf.predict_proba(X)
    assert pred.shape == proba.shape == (200, 3) and pred.dtype == Y.dtype
    np.testing.assert_array_equal(pred, proba > 0.5)
    assert clf.score(X, Y) > 0.9  # subset accuracy: every label right
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), atol=1e-12)
    with pytest.raises(ValueError, match="multiclass but the model was fitted on multilabel"):
        clf.partial_fit(X, Y.argmax(axis=1))


def test_decision_function_is_the_logits_and_agrees_with_predict(rng):
    for n_classes in (2, 3):
        X, y = _blobs(rng, n_classes=n_classes)
        clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(X, y)
        scores = clf.decision_function(X)
        if n_classes == 2:
            assert scores.shape == (len(X),)
            np.testing.assert_array_equal(clf.predict(X), clf.classes_[(scores > 0).astype(int)])
            np.testing.assert_allclose(clf.predict_proba(X)[:, 1], 1 / (1 + np.exp(-scores)))
        else:
            np.testing.assert_array_equal(clf.predict(X), clf.classes_[scores.argmax(axis=1)])


def test_sparse_input_trains_and_predicts_like_dense(rng):
    from scipy import sparse

    X, y = _blobs(rng, n=150)
    X[np.abs(X) < 1] = 0
    for Est, target in ((MLPClassifier, y), (MLPRegressor, y.astype(float))):
        dense = Est(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(X, target)
        for fmt in ("csr", "csc", "coo"):
            sp = Est(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(
                sparse.csr_array(X).asformat(fmt), target)
            np.testing.assert_array_equal(sp.predict(sparse.csr_matrix(X)), dense.predict(X))
            np.testing.assert_array_equal(sp.loss_curve_, dense.loss_curve_)


def test_coefs_have_sklearn_shapes_and_are_the_trained_weights(rng):
    X, y = _blobs(rng, n_features=5)
    clf = MLPClassifier(hidden_layer_sizes=(7, 6), max_iter=3, random_state=0)
    clf.fit(X, y)
    assert [W.shape for W in clf.coefs_] == [(5, 7), (7, 6), (6, 3)]
    assert [b.shape for b in clf.intercepts_] == [(7,), (6,), (3,)]
    assert clf.n_layers_ == 4
    h = np.maximum(X @ clf.coefs_[0] + clf.intercepts_[0], 0)
    h = np.maximum(h @ clf.coefs_[1] + clf.intercepts_[1], 0)
    logits = h @ clf.coefs_[2] + clf.intercepts_[2]
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(clf.predict_proba(X), probs / probs.sum(axis=1, keepdims=True))


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_every_activation_and_solver_learns(rng, activation, solver):
    X, y = _blobs(rng)
    clf = MLPClassifier(hidden_layer_sizes=(16,), activation=activation, solver=solver,
                        learning_rate_init=0.01, max_iter=200, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_multi_output_regression(rng):
    X, Y = make_regression(n_samples=200, n_features=5, n_targets=3, noise=1.0, random_state=0)
    Y = Y / Y.std(axis=0)
    reg = MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=500,
                       random_state=0).fit(X, Y)
    assert reg.predict(X).shape == (200, 3) and reg.n_outputs_ == 3
    assert reg.score(X, Y) > 0.95
    assert reg.predict(X).dtype == np.float64
    single = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    assert single.fit(X, Y[:, 0]).predict(X).shape == (200,)


def test_poisson_regression_predicts_positive_means(rng):
    X = rng.uniform(-1, 1, size=(300, 2))
    y = rng.poisson(np.exp(1 + X[:, 0] - X[:, 1]))
    reg = MLPRegressor(loss="poisson", hidden_layer_sizes=(16,), learning_rate_init=0.01,
                       max_iter=300, random_state=0).fit(X, y)
    assert reg.out_activation_ == "exp"
    assert (reg.predict(X) > 0).all() and reg.score(X, y) > 0.4
    with pytest.raises(ValueError, match="poisson.*y >= 0"):
        MLPRegressor(loss="poisson").fit(X, y - 5.0)


@pytest.mark.parametrize("solver, atol", [("sgd", 1e-12), ("adam", 1e-3)])
@pytest.mark.parametrize("task", ["binary", "multiclass", "multi-output regression"])
def test_training_math_matches_sklearn_from_the_same_weights(rng, solver, atol, task):
    """scikit-learn as the oracle: from the same weights, without shuffling, 20 epochs of
    minibatch steps (L2 penalty, momentum, batches) give the same weights. SGD agrees
    to rounding; Adam to ~1e-4, as scratchnet's Adam adds eps to the bias-corrected
    sqrt(v) (torch's convention) where scikit-learn adds it to sqrt(v)."""
    X = rng.normal(size=(90, 5))
    y = {"binary": (X[:, 0] > 0).astype(int),
         "multiclass": np.digitize(X[:, 0], [-0.5, 0.5]),
         "multi-output regression": np.c_[2 * X[:, 0], X[:, 1] ** 2]}[task]
    Ours, Theirs = ((MLPRegressor, sk_nn.MLPRegressor) if task.endswith("regression")
                    else (MLPClassifier, sk_nn.MLPClassifier))
    params = dict(hidden_layer_sizes=(8, 6), activation="tanh", solver=solver, alpha=0.01,
                  batch_size=32, shuffle=False, learning_rate_init=0.01, max_iter=1,
                  random_state=0)
    ours, theirs = Ours(**params).fit(X, y), Theirs(**params).fit(X, y)  # then overwrite:
    for ours_W, theirs_W in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        theirs_W[...] = ours_W
    # a warm-started fit restarts the optimizer on both sides: 20 epochs, no early stop
    for est in (ours, theirs):
        est.set_params(warm_start=True, max_iter=20, tol=0.0, n_iter_no_change=100).fit(X, y)
    for ours_W, theirs_W in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(ours_W, theirs_W, rtol=0, atol=atol)


# -- hyper-parameters are checked at fit, with the parameter named ----------------------------
@pytest.mark.parametrize("params, match", [
    ({"solver": "newton"}, r"solver must be one of 'lbfgs', 'sgd', 'adam', got 'newton'"),
    ({"max_fun": 0}, "max_fun"),
    ({"activation": "softplus"}, "activation"),
    ({"learning_rate": "cyclic"}, "learning_rate"),
    ({"hidden_layer_sizes": (10, 0)}, "hidden_layer_sizes"),
    ({"hidden_layer_sizes": "ten"}, "hidden_layer_sizes"),
    ({"alpha": -1.0}, "alpha"),
    ({"batch_size": 0}, "batch_size"),
    ({"learning_rate_init": 0.0}, "learning_rate_init"),
    ({"max_iter": 0}, "max_iter"),
    ({"momentum": 1.5}, "momentum"),
    ({"validation_fraction": 1.0}, "validation_fraction"),
    ({"beta_2": 1.0}, "beta_2"),
    ({"epsilon": 0.0}, "epsilon"),
    ({"n_iter_no_change": 0}, "n_iter_no_change"),
])
def test_bad_hyper_parameters_are_named_at_fit(rng, params, match):
    X, y = _blobs(rng, n=20)
    clf = MLPClassifier(**params)  # nothing is checked here: sklearn's convention
    with pytest.raises((ValueError, TypeError), match=match):
        clf.fit(X, y)
    with pytest.raises((ValueError, TypeError), match=match):
        clone(clf).partial_fit(X, y, classes=np.unique(y))


def test_regressor_rejects_unknown_loss(rng):
    X, y = _blobs(rng, n=20)
    with pytest.raises(ValueError, match="loss must be 'squared_error' or 'poisson', got 'huber'"):
        MLPRegressor(loss="huber").fit(X, y)


# -- training: stopping rules, warm start, partial_fit ---------------------------------------
def test_convergence_warning_when_max_iter_is_reached(rng):
    X, y = _blobs(rng)
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
        clf = MLPClassifier(max_iter=3, random_state=0).fit(X, y)
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 3 and clf.t_ == 3 * len(X)


def test_stops_after_n_iter_no_change_epochs_without_tol_improvement(rng):
    X, y = _blobs(rng)
    clf = MLPClassifier(tol=1e9, n_iter_no_change=4, max_iter=100, random_state=0).fit(X, y)
    # no epoch improves the loss by 1e9: stop once the count exceeds n_iter_no_change
    assert clf.n_iter_ == 4 + 2
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert clf.best_validation_score_ is None and clf.validation_scores_ is None


@pytest.mark.parametrize("learning_rate", ["adaptive", "invscaling", "constant"])
def test_sgd_learning_rate_schedules_match_sklearn(rng, learning_rate):
    """The schedules and the stopping rule are scikit-learn's: with a tol no epoch
    can meet, the epoch counts agree exactly."""
    X, y = _blobs(rng)
    params = dict(solver="sgd", learning_rate=learning_rate, tol=1e9, n_iter_no_change=2,
                  max_iter=100, random_state=0)
    ours = MLPClassifier(**params).fit(X, y)
    theirs = sk_nn.MLPClassifier(**params).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ and ours.t_ == theirs.t_
    assert ours._optimizer.learning_rate == pytest.approx(theirs._optimizer.learning_rate)


def test_early_stopping_records_validation_scores(rng):
    X, y = _blobs(rng, n=300)
    clf = MLPClassifier(early_stopping=True, validation_fraction=0.2, n_iter_no_change=3,
                        max_iter=300, random_state=0).fit(X, y)
    assert clf.best_loss_ is None
    assert len(clf.validation_scores_) == clf.n_iter_ == len(clf.loss_curve_) < 300
    assert clf.best_validation_score_ == max(clf.validation_scores_) > 0.9
    assert clf.score(X, y) > 0.9
    with pytest.raises(ValueError, match="The validation set is too small"):
        MLPRegressor(early_stopping=True, validation_fraction=0.01).fit(X[:60], y[:60])


def test_early_stopping_restores_the_best_epoch():
    X, y = make_regression(n_samples=100, n_features=20, noise=30.0, random_state=0)
    params = dict(hidden_layer_sizes=(64,), early_stopping=True, validation_fraction=0.3,
                  learning_rate_init=0.05, tol=0.0, random_state=0)
    reg = MLPRegressor(n_iter_no_change=5, max_iter=300, **params).fit(X, y / y.std())
    best = int(np.argmax(reg.validation_scores_))
    assert best < reg.n_iter_ - 1  # it overfits: the last epochs were worse
    # the same run cut short after the best epoch ends with that epoch's weights
    short = MLPRegressor(n_iter_no_change=300, max_iter=best + 1, **params).fit(X, y / y.std())
    assert short.validation_scores_ == reg.validation_scores_[:best + 1]
    np.testing.assert_array_equal(short.predict(X), reg.predict(X))


def test_warm_start_continues_and_cold_start_restarts(rng):
    X, y = _blobs(rng)
    warm = MLPClassifier(max_iter=5, warm_start=True, random_state=0).fit(X, y)
    first_coef = warm.coefs_[0].copy()
    warm.fit(X, y)
    assert len(warm.loss_curve_) == 10 and warm.t_ == 10 * len(X) and warm.n_iter_ == 5
    assert warm.loss_curve_[5] < warm.loss_curve_[0]
    cold = MLPClassifier(max_iter=5, random_state=0).fit(X, y)
    np.testing.assert_array_equal(cold.coefs_[0], first_coef)
    cold.fit(X, y)
    assert len(cold.loss_curve_) == 5
    np.testing.assert_array_equal(cold.coefs_[0], first_coef)
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same classes"):
        warm.fit(X[y != 2], y[y != 2])


def test_partial_fit(rng):
    X, y = _blobs(rng, n=200)
    clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    # the first batch holds two of the three classes
    clf.partial_fit(X[y != 2], y[y != 2], classes=[0, 1, 2])
    assert np.array_equal(clf.classes_, [0, 1, 2]) and clf.n_iter_ == 1
    for _ in range(30):
        clf.partial_fit(X, y)
    assert len(clf.loss_curve_) == 31 and clf.n_iter_ == 1
    assert clf.score(X, y) > 0.95
    with pytest.raises(ValueError, match="labels not in classes_"):
        clf.partial_fit(X[:3], [0, 1, 5])
    with pytest.raises(ValueError, match="differs from the classes"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])
    reg = MLPRegressor(random_state=0).partial_fit(X, y.astype(float))
    assert reg.n_iter_ == 1 and reg.t_ == len(X)


def test_verbose_prints_the_loss_of_each_epoch(rng, capsys):
    X, y = _blobs(rng)
    clf = MLPClassifier(max_iter=3, verbose=True, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"Iteration {i + 1}, loss = {loss:.8f}" for i, loss in enumerate(clf.loss_curve_)]


def test_fit_after_partial_fit_restarts(rng):
    X, y = _blobs(rng)
    clf = MLPClassifier(max_iter=4, random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    clf.fit(X, y)
    assert len(clf.loss_curve_) == 4


def test_divergence_is_handled_as_sklearn_does(rng):
    """Not scratchnet's TrainingDiverged (the native API's): without early stopping,
    scikit-learn's ValueError about non-finite weights, the weights from before the
    diverged epoch kept; with early stopping, the NaN validation score recorded, the
    fit stopped, the best epoch's weights kept and predictions finite."""
    X, y = _blobs(rng)
    params = dict(solver="sgd", learning_rate_init=10.0, momentum=0.0, max_iter=50,
                  random_state=0)
    clf = MLPRegressor(**params)
    with pytest.raises(ValueError, match="non-finite parameter weights.*diverged at epoch.*"
                                         "learning_rate_init=10.0"):
        clf.fit(X * 1e3, y * 1e3)
    assert all(np.isfinite(W).all() for W in clf.coefs_)
    early = MLPRegressor(early_stopping=True, **params)
    with pytest.warns(ConvergenceWarning, match="diverged"):
        early.fit(X * 1e3, y * 1e3)
    assert np.isnan(early.validation_scores_[-1]) and early.n_iter_ < 50
    assert np.isfinite(early.predict(X * 1e3)).all()


# -- sample weights ----------------------------------------------------------------------------
def test_integer_sample_weights_equal_repeated_rows_full_batch_sgd(rng):
    X, y = _blobs(rng, n=40)
    w = rng.integers(0, 4, size=40)
    params = dict(hidden_layer_sizes=(8,), solver="sgd", shuffle=False,
                  max_iter=50, tol=0.0, random_state=0)
    weighted = MLPClassifier(**params).fit(X, y, sample_weight=w)
    repeated = MLPClassifier(**params).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-10)
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-10)


def test_sample_weight_needs_a_nonzero_total_and_may_leave_one_class(rng):
    X, y = _blobs(rng, n=30)
    # weight on one class only: scikit-learn fits it, and so does scratchnet
    clf = MLPClassifier(learning_rate_init=0.05, max_iter=50, random_state=0)
    clf.fit(X, y, sample_weight=(y == 0).astype(float))
    assert np.all(clf.predict(X) == 0)
    with pytest.raises(ValueError, match="at least one non-zero weight"):
        MLPClassifier().fit(X, y, sample_weight=np.zeros(30))
    with pytest.raises(ValueError, match="sample_weight must be >= 0"):
        MLPClassifier().fit(X, y, sample_weight=-np.ones(30))


# -- the scikit-learn ecosystem ----------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X[:600], y[:600], test_size=0.25, random_state=0)


def test_grid_search_in_a_pipeline(digits):
    X_train, X_test, y_train, y_test = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=60, random_state=0))
    grid = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(16,), (32,)],
                               "mlpclassifier__learning_rate_init": [1e-3, 1e-2]}, cv=3)
    grid.fit(X_train, y_train)
    assert set(grid.best_params_) == {"mlpclassifier__hidden_layer_sizes",
                                      "mlpclassifier__learning_rate_init"}
    assert grid.score(X_test, y_test) > 0.9
    assert grid.best_estimator_[-1].n_features_in_ == 64


def test_cross_val_score_and_clone(digits):
    X_train, _, y_train, _ = digits
    clf = MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.01, random_state=0)
    scores = cross_val_score(make_pipeline(StandardScaler(), clf), X_train, y_train, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85
    twin = clone(clf)
    assert twin.get_params() == clf.get_params() and not hasattr(twin, "classes_")


def test_pickle_round_trip_predicts_the_same_and_keeps_training_alike(digits):
    X_train, X_test, y_train, _ = digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=20, random_state=0)
    clf.fit(X_train / 16, y_train)
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.predict_proba(X_test / 16), clf.predict_proba(X_test / 16))
    # the loaded layers are views into its flat parameters again: training moves them both
    clf.partial_fit(X_train / 16, y_train)
    loaded.partial_fit(X_train / 16, y_train)
    np.testing.assert_array_equal(loaded.predict_proba(X_test / 16), clf.predict_proba(X_test / 16))
    assert np.shares_memory(loaded.coefs_[0], loaded._net.params)


def test_dataframe_feature_names(digits):
    import pandas as pd

    X_train, X_test, y_train, _ = digits
    columns = [f"pixel_{i}" for i in range(64)]
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    clf.fit(pd.DataFrame(X_train, columns=columns), pd.Series(y_train))
    assert list(clf.feature_names_in_) == columns and clf.n_features_in_ == 64
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X_test)  # fitted with names, predicting without
    with pytest.raises(ValueError, match="64 features"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        clf.predict(X_test[:, :10])


# -- the same runs as scikit-learn's, and its L-BFGS solver ------------------------------------
def _data(task, rng, n=90):
    X = rng.normal(size=(n, 5))
    y = {"binary": (X[:, 0] + X[:, 1] > 0).astype(int),
         "multiclass": np.digitize(X[:, 0], [-0.5, 0.5]),
         "multilabel": np.c_[X[:, 0] > 0, X[:, 1] > 0.5, X[:, 2] + X[:, 3] > 0].astype(int),
         "regression": 2 * X[:, 0] + X[:, 1] ** 2,
         "multi-output": np.c_[2 * X[:, 0], X[:, 1] ** 2],
         "poisson": rng.poisson(np.exp(0.5 * X[:, 0] + 0.3 * X[:, 1]))}[task]
    classifier = task in ("binary", "multiclass", "multilabel")
    pair = (MLPClassifier, sk_nn.MLPClassifier) if classifier else (MLPRegressor, sk_nn.MLPRegressor)
    return X, y, pair, {"loss": "poisson"} if task == "poisson" else {}


def _max_diff(ours, theirs):
    return max(np.abs(a - b).max() for a, b in zip(ours.coefs_ + ours.intercepts_,
                                                  theirs.coefs_ + theirs.intercepts_))


@pytest.mark.parametrize("solver, atol", [("sgd", 1e-12), ("adam", 1e-5)])
def test_a_random_state_gives_sklearns_run(rng, solver, atol):
    """The same random_state draws scikit-learn's initial weights, shuffles and
    validation split from the same stream: the same run, to rounding (Adam to ~1e-6,
    see test_training_math_matches_sklearn_from_the_same_weights)."""
    X, y, (Ours, Theirs), extra = _data("multiclass", rng)
    params = dict(hidden_layer_sizes=(8,), solver=solver, batch_size=32, max_iter=15,
                  early_stopping=True, n_iter_no_change=100, random_state=3)
    ours, theirs = Ours(**params).fit(X, y), Theirs(**params).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 15
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)
    assert _max_diff(ours, theirs) < atol


@pytest.mark.parametrize("task", ["multiclass", "regression", "poisson"])
def test_lbfgs_follows_sklearns_lbfgs(rng, task):
    """The same objective (loss, L2 penalty) and gradient from the same initial
    weights: scipy's L-BFGS-B takes the same steps. (Multi-output squared error is
    left out: scikit-learn reports the loss averaged over outputs but follows the
    gradient of their sum, which scratchnet's objective is.)"""
    X, y, (Ours, Theirs), extra = _data(task, rng)
    params = dict(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=25, alpha=1e-3,
                  random_state=0, **extra)
    ours, theirs = Ours(**params).fit(X, y), Theirs(**params).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)
    assert _max_diff(ours, theirs) < 1e-8


@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel", "regression",
                                  "multi-output", "poisson"])
def test_lbfgs_fits_every_target_kind_dense_and_sparse(rng, task):
    from scipy import sparse

    X, y, (Ours, _), extra = _data(task, rng)
    params = dict(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=300, random_state=0, **extra)
    dense = Ours(**params).fit(X, y)
    assert not hasattr(dense, "loss_curve_") and 0 < dense.n_iter_ <= 300
    assert dense.score(X, y) > (0.9 if task != "poisson" else 0.3)
    sp = Ours(**params).fit(sparse.csr_matrix(X), y)
    assert sp.n_iter_ == dense.n_iter_
    np.testing.assert_allclose(sp.predict(sparse.csr_matrix(X)), dense.predict(X), atol=1e-8)


def test_lbfgs_budgets_max_iter_max_fun_and_tol(rng):
    X, y, _, _ = _data("multiclass", rng)
    with pytest.warns(ConvergenceWarning, match=r"lbfgs failed to converge after 3 iteration"):
        clf = MLPClassifier(solver="lbfgs", max_iter=3, random_state=0).fit(X, y)
    assert clf.n_iter_ == 3 and np.isfinite(clf.loss_)
    with pytest.warns(ConvergenceWarning, match="max_fun=5"):
        clf = MLPClassifier(solver="lbfgs", max_fun=5, random_state=0).fit(X, y)
    assert clf.n_iter_ <= 5
    loose = MLPClassifier(solver="lbfgs", tol=1e-1, random_state=0).fit(X, y)
    tight = MLPClassifier(solver="lbfgs", tol=1e-6, max_iter=1000, random_state=0).fit(X, y)
    assert loose.n_iter_ < tight.n_iter_ and tight.loss_ < loose.loss_


def test_lbfgs_has_no_partial_fit_as_in_sklearn():
    for Est in (MLPClassifier, MLPRegressor):
        assert not hasattr(Est(solver="lbfgs"), "partial_fit")
        assert hasattr(Est(solver="sgd"), "partial_fit")
        with pytest.raises(AttributeError, match="has no attribute 'partial_fit'"):
            Est(solver="lbfgs").partial_fit


def test_lbfgs_sample_weights_equal_repeated_rows(rng):
    X, y, _, _ = _data("multiclass", rng, n=40)
    w = rng.integers(0, 4, size=40)
    params = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=40, random_state=0)
    weighted = MLPClassifier(**params).fit(X, y, sample_weight=w)
    repeated = MLPClassifier(**params).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-6)


# -- scikit-learn's semantics that users rely on --------------------------------------------
def test_coefs_and_intercepts_are_the_live_parameters(rng):
    """Changed in place, or replaced by arrays (items or whole lists), coefs_ and
    intercepts_ are what predict and the next partial_fit use: the same as
    scikit-learn's estimator given the same changes (its SGD run being the same)."""
    X, y = _blobs(rng, n=60)
    params = dict(hidden_layer_sizes=(5,), solver="sgd", max_iter=3, random_state=0)
    ours, theirs = MLPClassifier(**params).fit(X, y), sk_nn.MLPClassifier(**params).fit(X, y)
    W0, W1 = rng.normal(size=(4, 5)), rng.normal(size=(5, 3))
    for est in (ours, theirs):
        est.coefs_[1][...] = 0  # in place: the output layer sees only its biases
        est.intercepts_[1][...] = [0.0, 1.0, 0.0]
    np.testing.assert_array_equal(ours.predict(X), np.full(len(X), 1))
    for est in (ours, theirs):
        est.coefs_[0] = W0.copy()
        est.coefs_ = [est.coefs_[0], W1.copy()]
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12)
    assert np.shares_memory(ours.coefs_[0], ours._net.params)  # views again
    for est in (ours, theirs):
        est.partial_fit(X, y)
    assert _max_diff(ours, theirs) < 1e-12
    # a differently shaped network assigned whole: the estimator takes its shapes
    ours.coefs_ = [rng.normal(size=(4, 7)), rng.normal(size=(7, 3))]
    ours.intercepts_ = [np.zeros(7), np.zeros(3)]
    assert ours.predict_proba(X).shape == (60, 3) and ours._net.params.size == 4 * 7 + 7 + 7 * 3 + 3


def test_parameters_follow_the_float_dtype_of_X(rng):
    X, y = _blobs(rng, n=60)
    for solver in ("adam", "lbfgs"):
        clf = MLPClassifier(hidden_layer_sizes=(5,), solver=solver, max_iter=20, random_state=0)
        clf.fit(X.astype(np.float32), y)
        assert all(W.dtype == np.float32 for W in clf.coefs_ + clf.intercepts_)
        assert clf.predict_proba(X).dtype == np.float32
        reg = MLPRegressor(hidden_layer_sizes=(5,), solver=solver, max_iter=20, random_state=0)
        assert reg.fit(X.astype(np.float32), y.astype(float)).predict(X).dtype == np.float32
        assert reg.fit(X, y).predict(X).dtype == np.float64


def test_a_single_class_fits_and_predicts_it(rng):
    X, _ = _blobs(rng, n=20)
    y = np.full(20, "only")
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0).fit(X, y)
    assert clf.classes_.tolist() == ["only"] and clf.n_outputs_ == 1
    assert clf.predict(X).tolist() == ["only"] * 20
    # one column, as classes_ (scikit-learn returns a second column for a class that is not there)
    np.testing.assert_array_equal(clf.predict_proba(X), np.ones((20, 1)))


def test_n_iter_no_change_inf_runs_max_iter_and_warm_start_warns(rng):
    X, y = _blobs(rng, n=40)
    clf = MLPClassifier(hidden_layer_sizes=(4,), tol=1e9, n_iter_no_change=np.inf, max_iter=30,
                        warm_start=True, random_state=0)
    for max_iter in (30, 40):
        with pytest.warns(ConvergenceWarning, match=rf"Maximum iterations \({max_iter}\)"):
            clf.set_params(max_iter=max_iter).fit(X, y)
        assert clf.n_iter_ == max_iter
    assert clf._no_improvement_count == 69  # never reset: no epoch improves the loss by 1e9
    with pytest.raises((ValueError, TypeError), match="n_iter_no_change"):
        MLPClassifier(n_iter_no_change=2.5).fit(X, y)


def test_adaptive_learning_rate_lives_where_sklearn_keeps_it(rng):
    X, y = _blobs(rng, n=40)
    clf = MLPClassifier(solver="sgd", learning_rate="adaptive", tol=10.0, n_iter_no_change=1,
                        max_iter=500, random_state=0).fit(X, y)
    # every stall divides it by 5 until it is below 1e-6: 1e-3 / 5^5
    assert clf._optimizer.learning_rate == pytest.approx(1e-3 / 5 ** 5)
    assert clf.n_iter_ < 500


def test_lbfgs_verbose_prints_each_iteration(rng, capsys):
    X, y, _, _ = _data("multiclass", rng)
    clf = MLPClassifier(solver="lbfgs", max_iter=4, verbose=True, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == [f"Iteration {i}" for i in range(1, 5)]
    assert float(lines[-1].split("= ")[1]) == pytest.approx(clf.loss_, rel=1e-7)

"""scikit-learn estimators on scratchnet's layers: ``MLPClassifier`` and ``MLPRegressor``.

Drop-in replacements for ``sklearn.neural_network``'s estimators of the same names:
the same constructor parameters with the same meaning, so switching is changing
one import. They pass scikit-learn's estimator checks (tests/test_sklearn.py) and
work in ``Pipeline``, ``GridSearchCV``, ``cross_val_score`` and ``clone``.

Differences from scikit-learn's: only the stochastic solvers ("adam", "sgd"), so
no "lbfgs" and no ``max_fun``; the classifier adds ``decision_function`` (the
logits). Sparse input is densified a batch at a time.

The network is a ``scratchnet.Sequential`` of ``Dense`` and activation layers, its
parameters one flat array updated by a ``scratchnet.optimizers`` optimizer. The
training loop lives here because it needs what the core loop does not do:
sample weights, scikit-learn's L2 penalty and its stopping rules.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np
from scipy import sparse
from scipy.special import xlogy
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_scalar
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import (check_array, check_is_fitted, check_random_state,
                                      column_or_1d, validate_data)

from . import layers as L
from . import optimizers
from .data import batches
from .model import Sequential
from .train import TrainingDiverged

# scikit-learn's activation names -> scratchnet's (None: no layer at all)
ACTIVATIONS = {"identity": None, "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
SOLVERS = ("adam", "sgd")
LEARNING_RATES = ("constant", "invscaling", "adaptive")


# -- output layers: per-row loss and its gradient with respect to the last layer's output z --
def _softmax_loss(z, Y):
    """Softmax cross-entropy. z, Y: (B, C) logits and one-hot targets -> (B,), (B, C)."""
    shifted = z - z.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(shifted).sum(axis=1))
    loss = log_sum - np.sum(shifted * Y, axis=1)
    return loss, np.exp(shifted - log_sum[:, None]) - Y


def _logistic_loss(z, Y):
    """Binary cross-entropy summed over independent sigmoid outputs. z, Y: (B, K)."""
    return np.sum(np.logaddexp(0, z) - Y * z, axis=1), L.sigmoid(z) - Y


def _squared_loss(z, Y):
    """Half squared error summed over outputs. z, Y: (B, K)."""
    diff = z - Y
    return 0.5 * np.sum(diff * diff, axis=1), diff


def _poisson_loss(z, Y):
    """Half Poisson deviance with a log link: the prediction is exp(z). z, Y: (B, K)."""
    mu = np.exp(z)
    return np.sum(xlogy(Y, Y / mu) - Y + mu, axis=1), mu - Y


OUTPUTS = {  # out_activation_ -> (loss and gradient, prediction from z)
    "softmax": (_softmax_loss, L.softmax),
    "logistic": (_logistic_loss, L.sigmoid),
    "identity": (_squared_loss, lambda z: z),
    "exp": (_poisson_loss, np.exp),
}


def _check_sample_weight(sample_weight, n_samples) -> np.ndarray:
    """sample_weight: None or array-like (n_samples,) of finite weights >= 0, not all 0."""
    if sample_weight is None:
        return np.ones(n_samples)
    sw = check_array(sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight")
    if sw.shape != (n_samples,):
        raise ValueError(f"sample_weight must have shape ({n_samples},), got {sw.shape}")
    if np.any(sw < 0):
        raise ValueError("sample_weight must be >= 0, got negative weights")
    if not np.any(sw > 0):
        raise ValueError("sample_weight must contain at least one non-zero weight")
    return sw


def _finite(out: np.ndarray) -> np.ndarray:
    """Never return NaN or inf: inputs far outside the training range overflow."""
    if not np.isfinite(out).all():
        raise ValueError("the network's outputs overflowed (not finite) for these inputs: "
                         "scale X like the training data")
    return out


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, network, training loop."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change

    # -- hyper-parameters, checked at fit ------------------------------------------------
    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else list(sizes)
        for h in sizes:
            if isinstance(h, bool) or not isinstance(h, numbers.Integral) or h < 1:
                raise ValueError(
                    f"hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes!r}")
        return [int(h) for h in sizes]

    def _check_params(self) -> None:
        for name, valid in (("activation", ACTIVATIONS), ("solver", SOLVERS),
                            ("learning_rate", LEARNING_RATES)):
            if getattr(self, name) not in valid:
                raise ValueError(f"{name} must be one of {', '.join(map(repr, valid))}, "
                                 f"got {getattr(self, name)!r}"
                                 + (" (scratchnet has no L-BFGS solver)" if name == "solver" else ""))
        real, integral = numbers.Real, numbers.Integral
        for name in ("alpha", "learning_rate_init", "power_t", "tol", "momentum",
                     "validation_fraction", "beta_1", "beta_2", "epsilon"):
            value = getattr(self, name)  # check_scalar lets NaN and inf through
            if isinstance(value, real) and not np.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        check_scalar(self.alpha, "alpha", real, min_val=0)
        check_scalar(self.learning_rate_init, "learning_rate_init", real, min_val=0,
                     include_boundaries="neither")
        check_scalar(self.power_t, "power_t", real)
        check_scalar(self.max_iter, "max_iter", integral, min_val=1)
        check_scalar(self.tol, "tol", real, min_val=0)
        check_scalar(self.momentum, "momentum", real, min_val=0, max_val=1)
        check_scalar(self.validation_fraction, "validation_fraction", real, min_val=0, max_val=1,
                     include_boundaries="neither")
        check_scalar(self.beta_1, "beta_1", real, min_val=0, max_val=1, include_boundaries="left")
        check_scalar(self.beta_2, "beta_2", real, min_val=0, max_val=1, include_boundaries="left")
        check_scalar(self.epsilon, "epsilon", real, min_val=0, include_boundaries="neither")
        check_scalar(self.n_iter_no_change, "n_iter_no_change", integral, min_val=1)
        if self.batch_size != "auto":
            check_scalar(self.batch_size, "batch_size", integral, min_val=1)

    # -- the network ---------------------------------------------------------------------
    def _build(self, units: list[int], activation: str, seed: int) -> None:
        """A fresh network with layer widths ``units`` = [n_features, *hidden, n_outputs]."""
        layers = []
        for width in units[1:-1]:
            layers.append(L.Dense(width, init="glorot"))
            if ACTIVATIONS[activation] is not None:
                layers.append(L.activation(ACTIVATIONS[activation]))
        layers.append(L.Dense(units[-1], init="glorot"))
        net = Sequential(layers, seed=seed).build(units[0])
        self._net, self._units, self._hidden_activation = net, units, activation
        dense = [layer for layer in net.layers if isinstance(layer, L.Dense)]
        # scikit-learn's initialisation: W and b ~ U(-a, a), a = sqrt(k / (fan_in + fan_out)),
        # k = 2 for logistic units, else 6. Random biases spread the units' boundaries
        # instead of starting them all through the origin.
        rng = np.random.default_rng(seed)
        k = 2.0 if activation == "logistic" else 6.0
        for layer in dense:
            W, b = layer.params["W"], layer.params["b"]
            limit = np.sqrt(k / (W.shape[0] + W.shape[1]))
            W[...] = rng.uniform(-limit, limit, W.shape)
            b[...] = rng.uniform(-limit, limit, b.shape)
        # views into the flat parameters: scikit-learn's attributes, always current
        self.coefs_ = [layer.params["W"] for layer in dense]
        self.intercepts_ = [layer.params["b"] for layer in dense]
        self._coef_grads = [layer.grads["W"] for layer in dense]

    def _initialize(self, n_features: int, n_outputs: int, out_activation: str, rs) -> None:
        """First fit: build the network and the optimizer, reset the training record."""
        self._build([n_features, *self._hidden_sizes(), n_outputs], self.activation,
                    seed=int(rs.randint(np.iinfo(np.int32).max)))
        self._shuffle_rng = self._net.shuffle_rng
        self.n_outputs_, self.n_layers_ = n_outputs, len(self._units)
        self.out_activation_ = out_activation
        self.n_iter_, self.t_, self.loss_curve_ = 0, 0, []
        self.validation_scores_ = self.best_validation_score_ = self.best_loss_ = None
        self._no_improvement_count = 0

    def _make_optimizer(self):
        if self.solver == "adam":
            return optimizers.get("adam", lr=self.learning_rate_init, beta1=self.beta_1,
                                  beta2=self.beta_2, eps=self.epsilon)
        return optimizers.get("sgd", lr=self.learning_rate_init, momentum=self.momentum,
                              nesterov=self.nesterovs_momentum and self.momentum > 0)

    def _logits(self, X) -> np.ndarray:
        """X: (N, F) validated, dense or CSR -> the last layer's outputs (N, n_outputs_).
        Sparse rows are densified a chunk at a time."""
        if not sparse.issparse(X):
            return _finite(self._net.forward(X))
        chunk = 1024
        return _finite(np.vstack([self._net.forward(X[i:i + chunk].toarray())
                                  for i in range(0, X.shape[0], chunk)]))

    def _forward(self, X) -> np.ndarray:
        """X: (N, F) validated -> predictions (N, n_outputs_) after the output activation."""
        with np.errstate(over="ignore"):  # exp of huge logits saturates, as it should
            return _finite(OUTPUTS[self.out_activation_][1](self._logits(X)))

    def __getstate__(self):
        # Layer parameters are views into one flat array, which pickle would copy apart:
        # keep the flat array and rebuild the views (and drop the layers' caches) on load.
        state = super().__getstate__()
        if "_net" in state:
            state = dict(state)
            state["_net"] = state["_net"].params
            for name in ("coefs_", "intercepts_", "_coef_grads"):
                del state[name]
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_net" in state:
            params = self._net
            self._build(self._units, self._hidden_activation, seed=0)
            self._net.params[...] = params

    # -- fitting -------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Train on X (n_samples, n_features) and y for up to ``max_iter`` epochs.

        With ``warm_start=True``, a second fit continues from the current weights."""
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        self._check_params()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        first = not hasattr(self, "_net") or not (self.warm_start or incremental)
        X, Y = self._validate_Xy(X, y, first, incremental, classes)
        sw = _check_sample_weight(sample_weight, X.shape[0])
        self._check_weighted_targets(Y, sw, incremental)
        rs = check_random_state(self.random_state)
        if first:
            self._initialize(X.shape[1], Y.shape[1], self._out_activation(Y), rs)
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} outputs, but the model was fitted with "
                             f"{self.n_outputs_}; refit with warm_start=False")
        if not incremental or not hasattr(self, "_optimizer"):  # fit restarts the optimizer
            self._optimizer = self._make_optimizer()
        self._train(X, Y, sw, incremental, rs)
        return self

    def __sklearn_is_fitted__(self):
        return hasattr(self, "_net")

    def _check_weighted_targets(self, Y, sw, incremental):
        """Hook: the classifier refuses weights that leave a single class."""

    def _train(self, X, Y, sw, incremental, rs):
        early = self.early_stopping and not incremental
        if early:
            X, X_val, Y, Y_val, sw, sw_val = train_test_split(
                X, Y, sw, test_size=self.validation_fraction, random_state=rs,
                stratify=self._stratify(Y))
            if X_val.shape[0] < 2:
                raise ValueError(f"validation_fraction={self.validation_fraction} leaves "
                                 f"{X_val.shape[0]} validation sample(s); at least 2 are needed. "
                                 "Increase validation_fraction or the size of the data.")
            self._best_params = self._net.params.copy()
            if self.validation_scores_ is None:
                self.validation_scores_, self.best_validation_score_ = [], -np.inf
        else:
            X_val = Y_val = sw_val = None
            if self.best_loss_ is None:
                self.best_loss_ = np.inf
        n = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn(f"batch_size={self.batch_size} is larger than the {n} training "
                              f"samples; using {n}")
            batch_size = min(self.batch_size, n)

        self.n_iter_ = 0
        for _ in range(1 if incremental else self.max_iter):
            self.loss_ = self._epoch(X, Y, sw, batch_size)
            self.n_iter_ += 1
            self.t_ += n
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
            self._update_no_improvement(early, X_val, Y_val, sw_val)
            if self.solver == "sgd" and self.learning_rate == "invscaling":
                self._optimizer.lr = self.learning_rate_init / (self.t_ + 1) ** self.power_t
            if self._no_improvement_count > self.n_iter_no_change:
                what = "Validation score" if early else "Training loss"
                msg = (f"{what} did not improve more than tol={self.tol} for "
                       f"{self.n_iter_no_change} consecutive epochs.")
                if self.solver == "sgd" and self.learning_rate == "adaptive" \
                        and self._optimizer.lr > 1e-6:
                    self._optimizer.lr /= 5
                    self._no_improvement_count = 0
                    if self.verbose:
                        print(msg, f"Setting learning rate to {self._optimizer.lr}")
                    continue
                if self.verbose:
                    print(msg, "Stopping.")
                break
        else:
            if not incremental:
                warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                              "and the optimization hasn't converged yet.", ConvergenceWarning)
        if early:
            self._net.params[...] = self._best_params

    def _epoch(self, X, Y, sw, batch_size) -> float:
        """One pass of minibatch steps; returns the weighted mean of the batch losses.

        Each batch's gradient is its weighted mean, and the L2 penalty
        0.5 * alpha * ||W||^2 is divided by the batch's total weight, as in
        scikit-learn: integer weights then act exactly like repeated rows."""
        net, params = self._net, self._net.params
        loss_and_grad = OUTPUTS[self.out_activation_][0]
        snapshot = params.copy()
        total = 0.0
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # checked below
            for idx in batches(X.shape[0], batch_size, self._shuffle_rng if self.shuffle else None):
                w = sw[idx]
                w_sum = w.sum()
                if w_sum == 0:  # a batch of zero weights carries no information
                    continue
                x = X[idx].toarray() if sparse.issparse(X) else X[idx]
                losses, grad_z = loss_and_grad(net.forward(x, train=True), Y[idx])
                net.backward(grad_z * (w / w_sum)[:, None])
                decay = self.alpha / w_sum
                penalty = 0.0
                for W, grad_W in zip(self.coefs_, self._coef_grads):
                    grad_W += decay * W
                    penalty += np.vdot(W, W)
                total += w @ losses + 0.5 * self.alpha * penalty
                self._optimizer.step(params, net.grads)
        loss = float(total / sw.sum())
        if not np.isfinite(loss) or not np.isfinite(params).all():
            params[...] = snapshot
            raise TrainingDiverged(
                f"training diverged at epoch {self.n_iter_ + 1}: the loss became {loss}; the model "
                f"keeps the weights from before that epoch. Scale the inputs (StandardScaler) or "
                f"lower learning_rate_init={self.learning_rate_init!r}.")
        return loss

    def _update_no_improvement(self, early, X_val, Y_val, sw_val) -> None:
        """scikit-learn's stopping rule: count the epochs in a row in which the
        validation score did not rise (or the training loss did not fall) by tol."""
        if early:
            score = self._score_val(X_val, Y_val, sw_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            stalled = score < self.best_validation_score_ + self.tol
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = self._net.params.copy()
        else:
            stalled = self.loss_ > self.best_loss_ - self.tol
            self.best_loss_ = min(self.best_loss_, self.loss_)
        self._no_improvement_count = self._no_improvement_count + 1 if stalled else 0

    def _stratify(self, Y):
        """Labels to stratify the validation split by, or None."""
        return None

    def _check_X(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=np.float64, accept_sparse="csr")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier, a drop-in for ``sklearn.neural_network.MLPClassifier``.

    Minimises the cross-entropy (softmax over the classes; a single sigmoid unit
    for two classes; one sigmoid unit per label for a multilabel indicator y) plus
    ``0.5 * alpha * ||W||^2 / batch weight`` with "adam" or "sgd". Parameters are
    scikit-learn's; see its documentation for each.

    Fitted attributes: classes_, n_features_in_, feature_names_in_ (DataFrames),
    coefs_, intercepts_ (views into the network's flat parameters), loss_,
    loss_curve_, best_loss_ (None with early stopping), validation_scores_ and
    best_validation_score_ (None without), n_iter_, t_, n_layers_, n_outputs_,
    out_activation_.
    """

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y). ``classes`` (all labels y will ever hold) is
        required on the first call and must not change afterwards."""
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _validate_Xy(self, X, y, first, incremental, classes):
        X, y = validate_data(self, X, y, reset=first, dtype=np.float64, accept_sparse="csr",
                             multi_output=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValueError(f"MLPClassifier supports binary, multiclass and multilabel-indicator "
                             f"targets, got {kind}")
        multilabel = kind == "multilabel-indicator"
        if incremental and classes is None and first:
            raise ValueError("classes must be passed on the first call to partial_fit")
        if not first and multilabel != self._multilabel:
            raise ValueError(f"y is {kind} but the model was fitted on "
                             f"{'multilabel' if self._multilabel else 'single-label'} targets")
        if multilabel:
            if first:
                self.classes_, self._multilabel, self._y_dtype = unique_labels(y), True, y.dtype
            return X, y.astype(np.float64)
        labels = unique_labels(y)
        if incremental and classes is not None:
            classes = unique_labels(classes)
            if not first and not np.array_equal(classes, self.classes_):
                raise ValueError(f"classes={classes.tolist()} differs from the classes of the "
                                 f"earlier calls, {self.classes_.tolist()}")
        if first:
            classes = labels if classes is None else classes
            if len(classes) < 2:
                raise ValueError(f"y has 1 class ({classes.tolist()[0]!r}); a classifier needs at least 2")
            self.classes_, self._multilabel = classes, False
        elif self.warm_start and not incremental and not np.array_equal(labels, self.classes_):
            raise ValueError(f"warm_start can only be used where y has the same classes as in the "
                             f"previous call to fit: previously {self.classes_.tolist()}, "
                             f"y has {labels.tolist()}")
        unknown = np.setdiff1d(labels, self.classes_)
        if len(unknown):
            raise ValueError(f"y has labels not in classes_ {self.classes_.tolist()}: "
                             f"{unknown.tolist()}")
        idx = np.searchsorted(self.classes_, y)
        if len(self.classes_) == 2:
            return X, (idx == 1).astype(np.float64)[:, None]
        return X, np.eye(len(self.classes_))[idx]

    def _out_activation(self, Y):
        return "logistic" if self._multilabel or Y.shape[1] == 1 else "softmax"

    def _stratify(self, Y):
        if self._multilabel:
            return None
        return Y[:, 0] if Y.shape[1] == 1 else Y.argmax(axis=1)

    def _check_weighted_targets(self, Y, sw, incremental):
        if incremental or self._multilabel:
            return
        has_weight = (Y if Y.shape[1] > 1 else np.hstack([1 - Y, Y])).T @ sw > 0
        if has_weight.sum() < 2:
            raise ValueError("sample_weight leaves 1 class with positive weight; "
                             "a classifier needs at least 2 classes")

    def _proba(self, Z: np.ndarray) -> np.ndarray:
        """Output activations (N, n_outputs_) -> probabilities (N, n_classes):
        per class, or per label (multilabel)."""
        return np.hstack([1 - Z, Z]) if Z.shape[1] == 1 else Z

    def _labels(self, proba: np.ndarray) -> np.ndarray:
        if self._multilabel:
            return (proba > 0.5).astype(self._y_dtype)
        return self.classes_[proba.argmax(axis=1)]

    def _score_val(self, X, Y, sw):
        y_true = Y if self._multilabel else self.classes_[self._stratify(Y).astype(int)]
        return accuracy_score(y_true, self._labels(self._proba(self._forward(X))), sample_weight=sw)

    def predict_proba(self, X) -> np.ndarray:
        """X: (n_samples, n_features) -> probabilities (n_samples, n_classes), in classes_ order."""
        return self._proba(self._forward(self._check_X(X)))

    def decision_function(self, X) -> np.ndarray:
        """The logits: (n_samples,) for two classes (> 0 means classes_[1]), else
        (n_samples, n_classes) or (n_samples, n_labels). scikit-learn's MLPClassifier
        has no such method; scorers such as ROC AUC use it when present."""
        z = self._logits(self._check_X(X))
        return z[:, 0] if z.shape[1] == 1 and not self._multilabel else z

    def predict_log_proba(self, X) -> np.ndarray:
        """log(predict_proba(X)), computed from the logits so it stays finite."""
        z = self._logits(self._check_X(X))
        if self._multilabel:  # log sigmoid(z)
            return -np.logaddexp(0, -z)
        if z.shape[1] == 1:  # log sigmoid(-z), log sigmoid(z)
            return -np.logaddexp(0, np.hstack([z, -z]))
        shifted = z - z.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

    def predict(self, X) -> np.ndarray:
        """X: (n_samples, n_features) -> predicted labels (n_samples,), or a 0/1
        indicator matrix (n_samples, n_labels) for multilabel targets."""
        return self._labels(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor, a drop-in for ``sklearn.neural_network.MLPRegressor``.

    ``loss="squared_error"`` (identity output) or ``"poisson"`` (exp output, y >= 0);
    one or several outputs. Other parameters and fitted attributes as ``MLPClassifier``
    (without classes_).

    With several outputs, ``loss_`` is the loss whose gradient is followed: the
    per-sample loss summed over outputs. scikit-learn follows the same gradient but
    reports the mean over outputs, so its ``loss_curve_`` (and what ``tol`` compares)
    is smaller by the number of outputs.
    """

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change)
        self.loss = loss

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights."""
        return self._fit(X, y, sample_weight, incremental=True)

    def _validate_Xy(self, X, y, first, incremental, classes):
        if self.loss not in ("squared_error", "poisson"):
            raise ValueError(f"loss must be 'squared_error' or 'poisson', got {self.loss!r}")
        X, y = validate_data(self, X, y, reset=first, dtype=np.float64, accept_sparse="csr",
                             multi_output=True, y_numeric=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not np.isfinite(y).all():  # object y (e.g. None) becomes NaN after the finite check
            raise ValueError("Input y contains NaN or infinity.")
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' needs y >= 0, got negative values")
        return X, y.reshape(len(y), -1).astype(np.float64)

    def _out_activation(self, Y):
        return "exp" if self.loss == "poisson" else "identity"

    def _score_val(self, X, Y, sw):
        return r2_score(Y, self._forward(X), sample_weight=sw)

    def predict(self, X) -> np.ndarray:
        """X: (n_samples, n_features) -> predictions (n_samples,) or (n_samples, n_outputs)."""
        pred = self._forward(self._check_X(X))
        return pred[:, 0] if pred.shape[1] == 1 else pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

"""scikit-learn estimators on scratchnet's layers: ``MLPClassifier`` and ``MLPRegressor``.

Drop-in replacements for ``sklearn.neural_network``'s estimators of the same names:
the same constructor parameters with the same meaning, so switching is changing
one import. They pass scikit-learn's estimator checks and its own test file for
these estimators (tests/test_sklearn.py, tests/test_sklearn_suite.py), and work in
``Pipeline``, ``GridSearchCV``, ``cross_val_score`` and ``clone``.

Solvers: "lbfgs" (``scipy.optimize.minimize(method="L-BFGS-B")`` on the network's
flat parameter vector, with loss and gradient from ``engine.loss_and_grad``),
"sgd" and "adam" (epochs of the one loop, ``train.train_epoch``, with the sample
weights and the L2 penalty as its options, stepping with ``scratchnet.optimizers``).
The classifier adds ``decision_function`` (the logits). Sparse input is densified a
chunk at a time.

The network is a ``scratchnet.Sequential`` of ``Dense`` and activation layers with
one of ``scratchnet.losses``' losses in scikit-learn's conventions (half squared
error and Poisson deviance summed over outputs, ``reduction="batchmean"``), its
parameters one flat array: ``coefs_``/``intercepts_`` are views into it. What
remains here is what scikit-learn defines: its initialisation and random stream,
the L2 penalty on the weights, its stopping rule, learning-rate schedules and
validation split.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np
import scipy.optimize
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_scalar
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import (check_array, check_is_fitted, check_random_state,
                                      column_or_1d, validate_data)

from . import engine, losses, optimizers
from . import layers as L
from .model import Sequential
from .train import run_epochs, train_epoch

# scikit-learn's activation names -> scratchnet's (None: no layer at all)
ACTIVATIONS = {"identity": None, "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
SOLVERS = ("lbfgs", "sgd", "adam")
STOCHASTIC_SOLVERS = ("sgd", "adam")
LEARNING_RATES = ("constant", "invscaling", "adaptive")
DTYPES = (np.float64, np.float32)  # the parameters follow X's float dtype

# out_activation_ -> (the loss on the last layer's output z, in scikit-learn's
# conventions; the prediction from z)
OUTPUTS = {
    "softmax": (lambda: losses.SoftmaxCrossEntropy(), L.softmax),
    "logistic": (lambda: losses.BinaryCrossEntropy(reduction="batchmean"), L.sigmoid),
    "identity": (lambda: losses.MeanSquaredError(reduction="batchmean", half=True), lambda z: z),
    "exp": (lambda: losses.PoissonDeviance(reduction="batchmean"), np.exp),
}

NONFINITE = ("Solver produced non-finite parameter weights. The input data may contain large "
             "values and need to be preprocessed.")  # scikit-learn's words


def _check_sample_weight(sample_weight, n_samples):
    """sample_weight: None or array-like (n_samples,) of finite weights >= 0, not all 0."""
    if sample_weight is None:
        return None
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


class _StochasticSolver:
    """What scikit-learn keeps as ``_optimizer``: the update rule (a scratchnet
    optimizer, which the network holds as its ``optimizer`` while it trains, so the
    one loop, ``train.train_epoch``, steps with it) and scikit-learn's learning-rate
    schedule, under scikit-learn's names. ``learning_rate`` is the current step
    size; ``iteration_ends(t)`` applies "invscaling" after each epoch (t: samples
    seen so far); ``trigger_stopping`` applies "adaptive" when training stalls."""

    def __init__(self, est):
        if est.solver == "adam":
            self.rule = optimizers.get("adam", lr=est.learning_rate_init, beta1=est.beta_1,
                                       beta2=est.beta_2, eps=est.epsilon)
            self.schedule = "constant"
        else:
            self.rule = optimizers.get("sgd", lr=est.learning_rate_init, momentum=est.momentum,
                                       nesterov=est.nesterovs_momentum and est.momentum > 0)
            self.schedule = est.learning_rate
        self.learning_rate_init, self.power_t = est.learning_rate_init, est.power_t

    @property
    def learning_rate(self):
        return self.rule.lr

    @learning_rate.setter
    def learning_rate(self, value):
        self.rule.lr = value

    def iteration_ends(self, t):
        if self.schedule == "invscaling":
            self.rule.lr = self.learning_rate_init / (t + 1) ** self.power_t

    def trigger_stopping(self, msg, verbose) -> bool:
        """True: stop training. "adaptive" divides the step size by 5 instead, until
        it falls to 1e-6."""
        if self.schedule != "adaptive" or self.rule.lr <= 1e-6:
            if verbose:
                print(msg + " Stopping.")
            return True
        self.rule.lr /= 5
        if verbose:
            print(msg + f" Setting learning rate to {self.rule.lr:f}")
        return False


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, network, solvers."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000):
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
        self.max_fun = max_fun

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
                                 f"got {getattr(self, name)!r}")
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
        check_scalar(self.max_fun, "max_fun", integral, min_val=1)
        check_scalar(self.tol, "tol", real, min_val=0)
        check_scalar(self.momentum, "momentum", real, min_val=0, max_val=1)
        check_scalar(self.validation_fraction, "validation_fraction", real, min_val=0, max_val=1,
                     include_boundaries="neither")
        check_scalar(self.beta_1, "beta_1", real, min_val=0, max_val=1, include_boundaries="left")
        check_scalar(self.beta_2, "beta_2", real, min_val=0, max_val=1, include_boundaries="left")
        check_scalar(self.epsilon, "epsilon", real, min_val=0, include_boundaries="neither")
        if not (isinstance(self.n_iter_no_change, numbers.Real) and self.n_iter_no_change == np.inf):
            check_scalar(self.n_iter_no_change, "n_iter_no_change", integral, min_val=1)
        if self.batch_size != "auto":
            check_scalar(self.batch_size, "batch_size", integral, min_val=1)

    # -- the network ---------------------------------------------------------------------
    def _build(self, units: list[int], dtype, activation: str) -> None:
        """A network with layer widths ``units`` = [n_features, *hidden, n_outputs] in
        ``dtype``; ``coefs_``/``intercepts_`` become views into its flat parameters."""
        layers = []
        for width in units[1:-1]:
            layers.append(L.Dense(width, init="glorot"))
            if ACTIVATIONS[activation] is not None:
                layers.append(L.activation(ACTIVATIONS[activation]))
        layers.append(L.Dense(units[-1], init="glorot"))
        net = Sequential(layers, dtype=np.dtype(dtype).name, seed=0).build(units[0])
        net.loss = OUTPUTS[self.out_activation_][0]()
        dense = [layer for layer in net.layers if isinstance(layer, L.Dense)]
        coefs = [layer.params["W"] for layer in dense]
        intercepts = [layer.params["b"] for layer in dense]
        # the L2 penalty 0.5 * alpha * ||W||^2 is on the weights, not the biases:
        # 1 where the flat vector holds a weight
        net.params[...] = 0
        for W in coefs:
            W[...] = 1
        self._decay = net.params.copy()
        self._net, self._units, self._hidden_activation = net, list(units), activation
        self.coefs_, self.intercepts_ = list(coefs), list(intercepts)
        self._views = (tuple(coefs), tuple(intercepts))  # what coefs_/intercepts_ were given

    def _sync_params(self) -> None:
        """scikit-learn's estimators compute with whatever ``coefs_``/``intercepts_``
        hold, so users (and scikit-learn's own tests) set them. Here they are views
        into the flat parameters: changes in place are live already; arrays assigned
        in their place are copied into the network (rebuilt if the shapes or the
        dtype changed) before it is used, and the attributes become views again."""
        if not hasattr(self, "coefs_"):
            return
        views = getattr(self, "_views", None)
        if (views is not None and len(self.coefs_) == len(views[0])
                and len(self.intercepts_) == len(views[1])
                and all(a is b for a, b in zip(self.coefs_, views[0]))
                and all(a is b for a, b in zip(self.intercepts_, views[1]))):
            return
        coefs = [np.asarray(W) for W in self.coefs_]
        intercepts = [np.asarray(b) for b in self.intercepts_]
        if not coefs or len(coefs) != len(intercepts) or any(W.ndim != 2 for W in coefs):
            raise ValueError("coefs_ and intercepts_ must be lists of equal length of 2-d weight "
                             "matrices and 1-d bias vectors")
        units = [coefs[0].shape[0]] + [W.shape[1] for W in coefs]
        for i, (W, b) in enumerate(zip(coefs, intercepts)):
            if W.shape != (units[i], units[i + 1]) or b.shape != (units[i + 1],):
                raise ValueError(f"coefs_[{i}] {W.shape} and intercepts_[{i}] {b.shape} do not "
                                 f"chain: layer widths {units}")
        dtype = np.float32 if coefs[0].dtype == np.float32 else np.float64
        if views is None or units != self._units or self._net.params.dtype != dtype:
            self._build(units, dtype, self.activation)
            self.n_layers_, self.n_outputs_ = len(units), units[-1]
        for view, value in zip(self._views[0] + self._views[1], coefs + intercepts):
            view[...] = value
        self.coefs_, self.intercepts_ = list(self._views[0]), list(self._views[1])

    def _initialize(self, n_features, n_outputs, out_activation, dtype, rs) -> None:
        """First fit: a fresh network, initialised as scikit-learn does from the same
        random stream (so a seed gives scikit-learn's initial weights), and a fresh record."""
        self.n_outputs_, self.out_activation_ = n_outputs, out_activation
        units = [n_features, *self._hidden_sizes(), n_outputs]
        self.n_layers_ = len(units)
        self._build(units, dtype, self.activation)
        # W and b ~ U(-a, a), a = sqrt(k / (fan_in + fan_out)), k = 2 for logistic units,
        # else 6 (Glorot). Random biases spread the units' boundaries instead of starting
        # them all through the origin.
        k = 2.0 if self.activation == "logistic" else 6.0
        for W, b in zip(self.coefs_, self.intercepts_):
            bound = np.sqrt(k / (W.shape[0] + W.shape[1]))
            W[...] = rs.uniform(-bound, bound, W.shape)
            b[...] = rs.uniform(-bound, bound, b.shape)
        self.n_iter_, self.t_ = 0, 0
        if self.solver in STOCHASTIC_SOLVERS:
            self.loss_curve_, self._no_improvement_count = [], 0
            if self.early_stopping:
                self.validation_scores_, self.best_validation_score_ = [], -np.inf
                self.best_loss_ = None
            else:
                self.validation_scores_ = self.best_validation_score_ = None
                self.best_loss_ = np.inf
        else:  # scikit-learn's L-BFGS keeps no per-epoch record
            for name in ("loss_curve_", "best_loss_", "validation_scores_",
                         "best_validation_score_", "_no_improvement_count"):
                self.__dict__.pop(name, None)

    def _logits(self, X) -> np.ndarray:
        """X: (N, F) validated, dense or CSR, in the network's dtype -> the last layer's
        outputs (N, n_outputs_), possibly not finite. Sparse rows are densified a chunk
        at a time."""
        with np.errstate(over="ignore", invalid="ignore"):
            if not sparse.issparse(X):
                return self._net.forward(X)
            chunk = 1024
            return np.vstack([self._net.forward(X[i:i + chunk].toarray())
                              for i in range(0, X.shape[0], chunk)])

    def _outputs(self, X) -> np.ndarray:
        """X: (N, F) validated -> predictions (N, n_outputs_) after the output
        activation, possibly not finite."""
        with np.errstate(over="ignore", invalid="ignore"):  # exp of huge logits saturates
            return OUTPUTS[self.out_activation_][1](self._logits(X))

    def __getstate__(self):
        # Layer parameters are views into one flat array, which pickle would copy apart:
        # keep the flat array and rebuild the views (and drop the layers' caches) on load.
        self._sync_params()  # arrays assigned to coefs_/intercepts_ are the parameters
        state = super().__getstate__()
        if "_net" in state:
            state = dict(state, _net=self._net.params)
            for name in ("coefs_", "intercepts_", "_views", "_decay"):
                del state[name]
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_net" in state:
            params = self._net
            self._build(self._units, params.dtype, self._hidden_activation)
            self._net.params[...] = params

    # -- fitting -------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Train on X (n_samples, n_features) and y, up to ``max_iter`` epochs (sgd,
        adam) or iterations (lbfgs). With ``warm_start=True``, a second fit continues
        from the current weights."""
        return self._fit(X, y, sample_weight, incremental=False)

    def _partial_fit_available(self):
        if self.solver == "lbfgs":
            raise AttributeError("partial_fit is only available for stochastic optimizers. "
                                 "lbfgs is not stochastic.")
        return True

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        self._check_params()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        self._sync_params()
        first = not hasattr(self, "coefs_") or not (self.warm_start or incremental)
        X, Y = self._validate_Xy(X, y, first, incremental, classes)
        sw = _check_sample_weight(sample_weight, X.shape[0])
        rs = check_random_state(self.random_state)
        if first:
            self._initialize(X.shape[1], Y.shape[1], self._out_activation(Y), X.dtype, rs)
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} outputs, but the model was fitted with "
                             f"{self.n_outputs_}; refit with warm_start=False")
        dtype = self._net.params.dtype
        X, Y = X.astype(dtype, copy=False), Y.astype(dtype, copy=False)
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, Y, sw)
        else:
            if not incremental or not hasattr(self, "_optimizer"):  # fit restarts the optimizer
                self._optimizer = _StochasticSolver(self)
            self._fit_stochastic(X, Y, sw, incremental, rs)
        return self

    def __sklearn_is_fitted__(self):
        return hasattr(self, "coefs_")

    # -- the full-batch solver -----------------------------------------------------------
    def _objective(self, theta, X, Y, sw):
        """scikit-learn's training objective at the flat parameters theta (P,):

            sum_i w_i loss_i / sum_i w_i  +  0.5 * alpha * ||W||^2 / sum_i w_i

        (w_i = 1 without sample weights; the penalty on the weights, not the biases)
        and its gradient (P,), from the engine's full-batch entry point."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # checked by the caller
            loss, grad = engine.loss_and_grad(self._net, theta, X, Y, sw)
            w_sum = X.shape[0] if sw is None else sw.sum()
            loss += self._l2_penalty(self._net.params, grad, w_sum) / w_sum
        return loss, grad.astype(np.float64, copy=False)  # what scipy's L-BFGS-B works in

    def _l2_penalty(self, params, grad, w_sum) -> float:
        """scikit-learn's penalty R = 0.5 * alpha * ||W||^2 on the weights, not the
        biases, at params (P,): adds dR/dtheta / w_sum = alpha W / w_sum to grad (P,)
        in place and returns R. The objective's, and the one loop's penalty hook
        (``train.train_epoch(penalty=)``), where w_sum is the batch's total weight."""
        weights = params * self._decay
        grad += (self.alpha / w_sum) * weights
        return 0.5 * self.alpha * float(np.vdot(weights, weights))

    def _fit_lbfgs(self, X, Y, sw):
        params = self._net.params

        def report(intermediate_result):
            print(f"Iteration {report.n}, loss = {intermediate_result.fun:.8f}")
            report.n += 1
        report.n = 1

        result = scipy.optimize.minimize(
            self._objective, params.astype(np.float64), args=(X, Y, sw), method="L-BFGS-B",
            jac=True, callback=report if self.verbose else None,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol})
        params[...] = result.x
        self.n_iter_ = min(result.nit, self.max_iter)
        self.loss_ = float(result.fun)
        if result.status != 0:
            warnings.warn(f"lbfgs failed to converge after {self.n_iter_} iteration(s) "
                          f"(status={result.status}): {result.message}. Increase max_iter="
                          f"{self.max_iter} or max_fun={self.max_fun}, or scale the data "
                          f"(StandardScaler).", ConvergenceWarning)
        if not np.isfinite(params).all():
            raise ValueError(f"{NONFINITE} (L-BFGS ended with non-finite weights: scale the "
                             f"inputs, e.g. with StandardScaler.)")

    def _loss_grad_lbfgs(self, packed_coef_inter, X, y, sample_weight, *buffers):
        """scikit-learn's private L-BFGS objective, by its signature (its buffers are
        not needed here), for code written against it: theta packed as scikit-learn
        packs it (every coefs_ raveled, then every intercepts_) -> (loss, gradient in
        that packing). scratchnet's own solver minimises ``_objective`` on the flat
        vector directly."""
        params = self._net.params
        offsets = [(v.ctypes.data - params.ctypes.data) // params.itemsize
                   for v in self._views[0] + self._views[1]]
        order = np.concatenate([np.arange(o, o + v.size)
                                for o, v in zip(offsets, self._views[0] + self._views[1])])
        theta = np.empty(params.size)
        theta[order] = packed_coef_inter
        Y = np.asarray(y, dtype=params.dtype).reshape(X.shape[0], -1)
        loss, grad = self._objective(theta, X, Y, sample_weight)
        return loss, grad[order]

    # -- the stochastic solvers ----------------------------------------------------------
    def _fit_stochastic(self, X, Y, sw, incremental, rs):
        early = self.early_stopping  # never with partial_fit: refused above
        self._ensure_record(early)
        X_val = Y_val = sw_val = None
        if early:
            split = train_test_split(X, Y, *([] if sw is None else [sw]), random_state=rs,
                                     test_size=self.validation_fraction,
                                     stratify=self._stratify(Y))
            X, X_val, Y, Y_val = split[:4]
            if sw is not None:
                sw, sw_val = split[4:]
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' or the size "
                    f"of your dataset (validation_fraction={self.validation_fraction} leaves "
                    f"{X_val.shape[0]} validation sample(s); at least 2 are needed).")
            self._best_params = self._net.params.copy()
        n = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn(f"batch_size={self.batch_size} is larger than the {n} training "
                              f"samples; using {n}")
            batch_size = min(self.batch_size, n)

        net, shuffled = self._net, [np.arange(n)]
        net.optimizer = self._optimizer.rule  # what the one loop steps with
        self.n_iter_ = 0

        def epoch_steps():
            if self.shuffle:  # a permutation of the last one, as sklearn.utils.shuffle draws it
                shuffled[0] = shuffled[0][rs.permutation(n)]
            # per batch: the gradient of scikit-learn's objective, the weighted mean loss
            # plus the L2 penalty over the batch's total weight; the epoch's loss is the
            # weighted mean of the batches' objectives
            loss, _ = train_epoch(net, X, Y, None, batch_size, None, order=shuffled[0],
                                  sample_weight=sw, penalty=self._l2_penalty)
            return loss, None

        def record(loss):
            """scikit-learn's record of an epoch, a diverged one included."""
            self.loss_ = loss
            self.n_iter_ += 1
            self.t_ += n
            self.loss_curve_.append(loss)
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {loss:.8f}")

        def stopping_rule(_net, _epoch, logs):
            """scikit-learn's: the schedule's step, and stop after n_iter_no_change
            epochs without improvement (unless the adaptive schedule lowers the rate)."""
            record(logs["loss"])
            self._update_no_improvement(early, X_val, Y_val, sw_val)
            self._optimizer.iteration_ends(self.t_)
            if self._no_improvement_count > self.n_iter_no_change:
                what = "Validation score" if early else "Training loss"
                msg = (f"{what} did not improve more than tol={self.tol:f} for "
                       f"{self.n_iter_no_change} consecutive epochs.")
                if self._optimizer.trigger_stopping(msg, self.verbose):
                    return True
                self._no_improvement_count = 0
            if self.n_iter_ == self.max_iter and not incremental:
                warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                              "and the optimization hasn't converged yet.", ConvergenceWarning)
            return False

        def diverged(_m, _epoch, loss):
            """The loop has put back the weights from before the epoch. Without early
            stopping, scikit-learn's error about non-finite weights; with it, the epoch
            scores NaN and the fit stops (the best epoch's weights are restored below)."""
            record(loss)
            if not early:
                raise ValueError(
                    f"{NONFINITE} Training diverged at epoch {self.n_iter_}: the loss became "
                    f"{loss}; the model keeps the weights from before that epoch. Scale "
                    f"the inputs (StandardScaler) or lower learning_rate_init="
                    f"{self.learning_rate_init!r}.")
            self._update_no_improvement(early, X_val, Y_val, sw_val, score=np.nan)
            warnings.warn(f"Training diverged at epoch {self.n_iter_} (the loss became "
                          f"{loss}): stopping with the weights of the best validation "
                          f"score. Scale the inputs or lower learning_rate_init="
                          f"{self.learning_rate_init!r}.", ConvergenceWarning)
            return True

        run_epochs(net, epoch_steps, epochs=1 if incremental else self.max_iter,
                   callbacks=[stopping_rule], on_diverged=diverged)
        if early:
            net.params[...] = self._best_params

    def _ensure_record(self, early) -> None:
        """The per-epoch record a stochastic fit appends to (kept across warm starts
        and partial_fit calls; filled in where a user-built estimator lacks it)."""
        for name, default in (("n_iter_", 0), ("t_", 0), ("_no_improvement_count", 0)):
            if not hasattr(self, name):
                setattr(self, name, default)
        if getattr(self, "loss_curve_", None) is None:
            self.loss_curve_ = []
        if early and getattr(self, "validation_scores_", None) is None:
            self.validation_scores_, self.best_validation_score_ = [], -np.inf
        if not early and getattr(self, "best_loss_", None) is None:
            self.best_loss_ = np.inf
        for name in ("validation_scores_", "best_validation_score_", "best_loss_"):
            if not hasattr(self, name):
                setattr(self, name, None)

    def _update_no_improvement(self, early, X_val, Y_val, sw_val, score=None) -> None:
        """scikit-learn's stopping rule: count the epochs in a row in which the
        validation score (``score``, else computed) did not rise (or the training loss
        did not fall) by tol."""
        if early:
            if score is None:
                score = self._score_val(X_val, Y_val, sw_val)  # NaN where predictions are not finite
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            stalled = score < self.best_validation_score_ + self.tol
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = self._net.params.copy()
        else:
            stalled = self.loss_ > self.best_loss_ - self.tol
            if self.loss_ < self.best_loss_:
                self.best_loss_ = self.loss_
        self._no_improvement_count = self._no_improvement_count + 1 if stalled else 0

    def _stratify(self, Y):
        """Labels to stratify the validation split by, or None."""
        return None

    def _check_X(self, X):
        check_is_fitted(self)
        self._sync_params()
        X = validate_data(self, X, reset=False, dtype=DTYPES, accept_sparse="csr")
        return X.astype(self._net.params.dtype, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier, a drop-in for ``sklearn.neural_network.MLPClassifier``.

    Minimises the cross-entropy (softmax over the classes; a single sigmoid unit
    for two classes, or for one; one sigmoid unit per label for a multilabel
    indicator y) plus ``0.5 * alpha * ||W||^2 / total sample weight`` (per batch for
    "adam" and "sgd") with "lbfgs", "adam" or "sgd". Parameters are scikit-learn's;
    see its documentation for each.

    Fitted attributes: classes_, n_features_in_, feature_names_in_ (DataFrames),
    coefs_, intercepts_ (views into the network's flat parameters: the live weights),
    loss_, n_iter_, t_, n_layers_, n_outputs_, out_activation_; with "adam"/"sgd"
    also loss_curve_, best_loss_ (None with early stopping), validation_scores_ and
    best_validation_score_ (None without).
    """

    @available_if(_BaseMLP._partial_fit_available)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y). ``classes`` (all labels y will ever hold) is
        required on the first call and must not change afterwards."""
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _validate_Xy(self, X, y, first, incremental, classes):
        X, y = validate_data(self, X, y, reset=first, dtype=DTYPES, accept_sparse="csr",
                             multi_output=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValueError(f"MLPClassifier supports binary, multiclass and multilabel-indicator "
                             f"targets, got {kind}")
        multilabel = kind == "multilabel-indicator"
        known = hasattr(self, "classes_") and not first
        if known and multilabel != self._multilabel:
            raise ValueError(f"y is {kind} but the model was fitted on "
                             f"{'multilabel' if self._multilabel else 'single-label'} targets")
        labels = unique_labels(y)
        if incremental:
            if classes is None and not hasattr(self, "classes_"):
                raise ValueError("classes must be passed on the first call to partial_fit")
            if classes is not None:
                classes = unique_labels(classes)
                if hasattr(self, "classes_") and not (multilabel or np.array_equal(classes, self.classes_)):
                    raise ValueError(f"classes={classes.tolist()} differs from the classes of the "
                                     f"earlier calls, {self.classes_.tolist()}")
                if not hasattr(self, "classes_"):
                    self._set_classes(labels if multilabel else classes, multilabel, y)
        elif not known or not self.warm_start:
            self._set_classes(labels, multilabel, y)
        elif set(labels.tolist()) != set(self.classes_.tolist()):
            raise ValueError("warm_start can only be used where `y` has the same classes as in "
                             f"the previous call to fit. Previously got {self.classes_}, `y` has "
                             f"{labels}")
        if multilabel:
            return X, y.astype(X.dtype)
        unknown = np.setdiff1d(labels, self.classes_)
        if len(unknown):
            raise ValueError(f"`y` has classes not in `self.classes_` (labels not in classes_ "
                             f"{self.classes_.tolist()}): {unknown.tolist()}")
        idx = np.searchsorted(self.classes_, y)
        if len(self.classes_) <= 2:  # one sigmoid unit; a single class is all zeros
            return X, (idx == 1).astype(X.dtype)[:, None]
        return X, np.eye(len(self.classes_), dtype=X.dtype)[idx]

    def _set_classes(self, classes, multilabel, y):
        self.classes_, self._multilabel = classes, multilabel
        if multilabel:
            self._y_dtype = y.dtype

    def _out_activation(self, Y):
        return "logistic" if self._multilabel or Y.shape[1] == 1 else "softmax"

    def _stratify(self, Y):
        # as scikit-learn: only a single output is stratified, by its 0/1 column
        return Y.astype(bool) if Y.shape[1] == 1 else None

    def _proba(self, z: np.ndarray) -> np.ndarray:
        """Logits (N, n_outputs_) -> probabilities (N, n_classes): per class, or per
        label (multilabel). One logit gives two columns, sigmoid(-z) and sigmoid(z)
        (not 1 - sigmoid(z), which rounds to 0 from z = 37 on); a single class has
        probability 1 (one column, as classes_). No probability is exactly 0 (the true one is
        positive; below the smallest normal float it is that float), so its log,
        predict_log_proba, is finite; nor is a label's exactly 1."""
        tiny = np.finfo(z.dtype).tiny
        if len(self.classes_) == 1 and not self._multilabel:
            return np.ones_like(z)
        with np.errstate(over="ignore", under="ignore"):
            if self.out_activation_ == "softmax":
                return np.maximum(L.softmax(z), tiny)
            if not self._multilabel:
                return np.maximum(np.hstack([L.sigmoid(-z), L.sigmoid(z)]), tiny)
            # a sigmoid rounds to exactly 1 from z = 37 on: a certainty no label should claim
            return np.clip(L.sigmoid(z), tiny, 1 - np.finfo(z.dtype).epsneg)

    def _labels(self, proba: np.ndarray) -> np.ndarray:
        if self._multilabel:
            return (proba > 0.5).astype(self._y_dtype)
        return self.classes_[proba.argmax(axis=1)]

    def _score_val(self, X, Y, sw):
        z = self._logits(X)
        if not np.isfinite(z).all():
            return np.nan
        if self._multilabel:
            y_true = Y
        else:
            idx = Y[:, 0] if Y.shape[1] == 1 else Y.argmax(axis=1)
            y_true = self.classes_[idx.astype(int)]
        return float(accuracy_score(y_true, self._labels(self._proba(z)), sample_weight=sw))

    def predict_proba(self, X) -> np.ndarray:
        """X: (n_samples, n_features) -> probabilities (n_samples, n_classes), in classes_ order."""
        return self._proba(_finite(self._logits(self._check_X(X))))

    def decision_function(self, X) -> np.ndarray:
        """The logits: (n_samples,) for two classes (> 0 means classes_[1]), else
        (n_samples, n_classes) or (n_samples, n_labels). scikit-learn's MLPClassifier
        has no such method; scorers such as ROC AUC use it when present."""
        z = _finite(self._logits(self._check_X(X)))
        return z[:, 0] if z.shape[1] == 1 and not self._multilabel else z

    def predict_log_proba(self, X) -> np.ndarray:
        """log(predict_proba(X)): the same ranking and ties, as scikit-learn's checks
        require, and finite (>= -708 in float64), as no probability is exactly 0."""
        return np.log(self.predict_proba(X))

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

    ``loss="squared_error"`` (identity output, half squared error) or ``"poisson"``
    (exp output, half Poisson deviance, y >= 0); one or several outputs. Other
    parameters and fitted attributes as ``MLPClassifier`` (without classes_).

    With several outputs, ``loss_`` is the loss whose gradient is followed: the
    per-sample loss summed over outputs. scikit-learn follows the same gradient but
    reports the mean over outputs for the squared error, so its ``loss_curve_`` (and
    what ``tol`` compares there) is smaller by the number of outputs.
    """

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun)
        self.loss = loss

    @available_if(_BaseMLP._partial_fit_available)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights."""
        return self._fit(X, y, sample_weight, incremental=True)

    def _validate_Xy(self, X, y, first, incremental, classes):
        if self.loss not in ("squared_error", "poisson"):
            raise ValueError(f"loss must be 'squared_error' or 'poisson', got {self.loss!r}")
        X, y = validate_data(self, X, y, reset=first, dtype=DTYPES, accept_sparse="csr",
                             multi_output=True, y_numeric=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not np.isfinite(y).all():  # object y (e.g. None) becomes NaN after the finite check
            raise ValueError("Input y contains NaN or infinity.")
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' needs y >= 0, got negative values")
        return X, y.reshape(len(y), -1).astype(X.dtype)

    def _out_activation(self, Y):
        return "exp" if self.loss == "poisson" else "identity"

    def _score_val(self, X, Y, sw):
        pred = self._outputs(X)
        if not np.isfinite(pred).all():
            return np.nan
        with np.errstate(over="ignore"):  # finite but huge errors: a score of -inf
            return float(r2_score(Y, pred, sample_weight=sw))

    def predict(self, X) -> np.ndarray:
        """X: (n_samples, n_features) -> predictions (n_samples,) or (n_samples, n_outputs)."""
        pred = _finite(self._outputs(self._check_X(X)))
        return pred[:, 0] if pred.shape[1] == 1 else pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

"""Sequential and MLP: own the layers, the flat parameters, the loss and the optimizer."""
from __future__ import annotations

import numpy as np

from . import layers as L
from . import losses, optimizers
from .callbacks import EarlyStopping
from .preprocessing import LabelEncoder, Standardizer, one_hot
from .validation import check_positive, check_X
from .train import TrainingDiverged, predicted_index, run_epochs, train_epoch

DTYPES = ("float32", "float64")


def check_dtype(dtype) -> np.dtype:
    name = np.dtype(dtype).name if _is_dtype_like(dtype) else repr(dtype)
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {name}")
    return np.dtype(name)


def _is_dtype_like(dtype) -> bool:
    try:
        np.dtype(dtype)
        return True
    except TypeError:
        return False


def check_seed(seed) -> np.random.SeedSequence:
    """A SeedSequence from an integer >= 0 or None, naming ``seed`` when it is neither."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or seed < 0):
        raise ValueError(f"seed must be an integer >= 0, a SeedSequence or None, got {seed!r}")
    return np.random.SeedSequence(seed)


CHUNK_ROWS = 65_536  # rows per forward pass at inference: ~64 MiB of float32 activations at width 256


def check_finite_outputs(out: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Refuse to return NaN or inf: the inputs drove the network out of floating-point range."""
    if not np.isfinite(out).all():
        raise ValueError(f"the network's outputs overflowed (not finite) for these inputs, whose "
                         f"largest magnitude is {np.abs(X).max():.3g}: scale X like the training data")
    return out


def check_samples(X, input_shape, dtype, name="X") -> np.ndarray:
    """Validate inputs (N, F), (N, L) or (N, C, L) as ``check_X`` does (numeric, finite,
    non-empty) and return them C-contiguous in ``dtype``, shaped (N, *input_shape);
    (N, L) is read as one channel where input_shape is (1, L). input_shape None: any."""
    flat = input_shape is not None and len(input_shape) == 1  # check_X: 2-D only
    if not flat and not hasattr(X, "to_numpy") and _ndim(X) == 3:
        X = np.asarray(X)
        if 0 in X.shape:
            raise ValueError(f"{name} is empty: shape {X.shape}")
        X = check_X(X.reshape(len(X), -1), None, dtype, name).reshape(X.shape)
    elif input_shape is None or flat:
        return check_X(X, None if input_shape is None else input_shape[0], dtype, name)
    else:
        X = check_X(X, None, dtype, name)
        if input_shape[0] == 1:
            X = X[:, None, :]
    if input_shape is not None and X.shape[1:] != tuple(input_shape):
        raise ValueError(f"{name} has samples of shape {X.shape[1:]}, but the model was "
                         f"trained with {tuple(input_shape)}")
    return X


def _ndim(X) -> int:
    try:
        return np.ndim(X)
    except ValueError:  # ragged: check_X names it
        return 2


def regression_targets(y, dtype) -> np.ndarray:
    """Regression targets (N,) or (N, K) -> (N, K) finite numbers in ``dtype``;
    NaN or inf is refused here, before any training."""
    try:
        Y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("y must be numbers for a regression model (loss='mse')") from None
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2 or Y.shape[0] == 0:
        raise ValueError(f"y must have shape (N,) or (N, K) with N > 0, got {np.shape(y)}")
    if not np.isfinite(Y).all():
        raise ValueError("y contains NaN or inf: regression targets must be finite numbers")
    return Y.astype(dtype, copy=False)


def _to_config(value, name="value"):
    """A constructor argument as JSON: layers and seed sequences become tagged dicts."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_to_config(v, name) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.dtype, type)) and _is_dtype_like(value):
        return np.dtype(value).name
    if isinstance(value, L.Layer):
        return {"layer": value.config()}
    if isinstance(value, np.random.SeedSequence):
        return {"seed_sequence": {"entropy": value.entropy, "spawn_key": list(value.spawn_key)}}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: _to_config(v, name) for k, v in value.items()}}
    raise TypeError(f"cannot describe {name}={value!r} as a config: pass names, numbers or layers")


def _from_config(value):
    if isinstance(value, list):
        return [_from_config(v) for v in value]
    if isinstance(value, dict):
        (tag, inner), = value.items()
        if tag == "layer":
            return L.from_config(inner)
        if tag == "seed_sequence":
            return np.random.SeedSequence(inner["entropy"], spawn_key=inner["spawn_key"])
        return {k: _from_config(v) for k, v in inner.items()}
    return value


class Sequential:
    """A stack of layers trained as a classifier (softmax or binary cross-entropy)
    or a regressor (mean squared error, linear output).

    Parameters live in one flat array ``params`` (and gradients in ``grads``);
    each layer's ``W``/``b`` are views into it. Built on the first ``fit``.

    Args:
        layers: list of ``Layer``; the last one's output width is the number of
            classes (1 for binary cross-entropy, the number of targets for "mse").
        optimizer, lr: optimizer name ("sgd", "momentum", "nesterov", "rmsprop",
            "adam", "adamw") and learning rate.
        reduction: "mean" (gradients averaged over the batch) or "sum" (the tutorial's).
        dtype: "float64" or "float32", used end to end.
        seed: int, SeedSequence or None. Derives the init and shuffle streams.
        loss: "softmax_cross_entropy", "binary_cross_entropy" (one sigmoid logit,
            two classes) or "mse" (regression).
        label_smoothing: for softmax cross-entropy only.
        weight_decay: L2 penalty, added to the gradient as ``wd * theta`` (AdamW: decoupled).
        l1: L1 penalty ``l1 * sum |theta|``, added to the gradient as ``l1 * sign(theta)``.
        clipnorm: clip the gradient to this global L2 norm before each step.
        optimizer_options: further optimizer hyper-parameters, e.g.
            ``{"momentum": 0.9, "nesterov": True}`` or ``{"beta2": 0.99}``.
        scale: standardise the features with a ``Standardizer`` fitted on the
            training rows at the first ``fit``; kept as ``self.scaler`` (else None).
    """

    def __init__(self, layers, *, optimizer="sgd", lr=0.01, reduction="mean",
                 dtype="float64", seed=None, loss="softmax_cross_entropy", label_smoothing=0.0,
                 weight_decay=0.0, clipnorm=None, optimizer_options=None, scale=False, l1=0.0):
        self.layers = list(layers)
        for layer in self.layers:
            if not isinstance(layer, L.Layer):
                raise TypeError(f"layers must be Layer instances, got {layer!r}")
        self.lr = check_positive("lr", lr)
        check_positive("l1", l1, allow_zero=True)
        options = dict(optimizer_options or {}, weight_decay=weight_decay, clipnorm=clipnorm, l1=l1)
        try:
            self.optimizer = optimizers.get(optimizer, lr=lr, **options)
        except TypeError as e:
            raise ValueError(f"optimizer_options {optimizer_options!r} do not fit "
                             f"optimizer {optimizer!r}: {e}") from None
        if label_smoothing and loss != "softmax_cross_entropy":
            raise ValueError(f"label_smoothing applies to softmax_cross_entropy, not loss={loss!r}")
        extra = {"label_smoothing": label_smoothing} if loss == "softmax_cross_entropy" else {}
        self.loss = losses.get(loss, reduction=reduction, **extra)
        self.task = "regression" if loss == "mse" else "classification"
        self.scale = bool(scale)
        self.scaler = None
        self.dtype = check_dtype(dtype)
        self.seed = seed
        seq = seed if isinstance(seed, np.random.SeedSequence) else check_seed(seed)
        self.seed_entropy = seq.entropy  # reproduces a seed=None run
        # the children seq.spawn(3) would give a fresh sequence, without advancing the
        # caller's: the same seed object always gives the same model
        self._init_seq, self._shuffle_seq, self._split_seq = (
            np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, i), pool_size=seq.pool_size)
            for i in range(3))
        self.shuffle_rng = np.random.default_rng(self._shuffle_seq)
        self.history: dict[str, list] = {}
        self.params = None
        self.encoder = None
        self.n_targets_, self._y_1d = None, True  # set by a regressor's first fit

    # -- configuration (for scratchnet.io) ------------------------------------------
    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        self._init_args = (args, kwargs)  # what get_config describes, for any subclass
        return self

    def get_config(self) -> dict:
        """The constructor's arguments, JSON-able: ``type(self).from_config(cfg)`` is
        an unfitted twin (same layers, settings and seed). Layers become their
        ``config()``; a seed of None becomes the entropy it drew."""
        import inspect

        bound = inspect.signature(type(self).__init__).bind(self, *self._init_args[0],
                                                              **self._init_args[1])
        bound.apply_defaults()
        args = dict(bound.arguments)
        del args["self"]
        if args.get("seed", 0) is None:
            args["seed"] = self.seed_entropy
        return {name: _to_config(value, name) for name, value in args.items()}

    @classmethod
    def from_config(cls, config: dict) -> "Sequential":
        return cls(**{name: _from_config(value) for name, value in config.items()})

    # -- building -----------------------------------------------------------------
    @property
    def built(self) -> bool:
        return self.params is not None

    def build(self, input_shape) -> "Sequential":
        """Allocate the flat parameters for samples of ``input_shape`` (``(F,)`` or
        an integer F, or ``(C, L)`` for convolutional layers) and initialise them."""
        input_shape = L.as_shape(input_shape)
        shapes, in_shape = [], input_shape
        for layer in self.layers:
            shapes.append(layer.param_shapes(in_shape))
            in_shape = layer.output_shape(in_shape)
        if len(in_shape) != 1:
            raise ValueError(f"the last layer's outputs have shape {in_shape} per sample; a model "
                             f"ends with flat outputs: add Flatten() or GlobalAvgPool1d() and Dense")
        sizes = [int(np.prod(s)) for layer_shapes in shapes for s in layer_shapes.values()]
        self.params = np.zeros(sum(sizes), dtype=self.dtype)
        self.grads = np.zeros_like(self.params)
        offset = 0
        rng = np.random.default_rng(self._init_seq)
        for layer, layer_shapes in zip(self.layers, shapes):
            views, grad_views = {}, {}
            for name, shape in layer_shapes.items():
                size = int(np.prod(shape))
                views[name] = self.params[offset:offset + size].reshape(shape)
                grad_views[name] = self.grads[offset:offset + size].reshape(shape)
                offset += size
            layer.bind(views, grad_views)
            layer.init_params(views, rng)
        for layer, layer_shapes in zip(self.layers, shapes):  # nothing upstream of the
            if layer_shapes:                                   # first parametrised layer
                layer.needs_input_grad = False
                break
        self.input_shape_ = input_shape  # one sample: (F,) or (C, L)
        self.n_features_ = int(np.prod(input_shape))
        self.n_outputs_ = in_shape[0]
        return self

    # -- the network --------------------------------------------------------------
    def forward(self, x: np.ndarray, train: bool = False, with_ones: bool = False) -> np.ndarray:
        """x: (..., B, F) -> logits (..., B, C). With ``train=True`` the result may be a
        buffer that the next training step of the same shape overwrites: copy it to keep it.
        ``with_ones``: x is [x, 1] (..., B, F + 1) from ``input_with_ones``, a training step's."""
        layers = self.layers
        if with_ones:
            x, layers = layers[0].forward_with_ones(x), layers[1:]
        for layer in layers:
            x = layer.forward(x, train)
        return x

    def input_with_ones(self, X, max_bytes: int) -> np.ndarray | None:
        """[X, 1] (N, F + 1) where the first layer is a Dense with its bias folded into
        its product ([x, 1] @ [W; b]) and [X, 1] takes at most ``max_bytes``, else None.
        Training steps gather their rows from it and pass them with
        ``forward(..., with_ones=True)``: the ones column comes with the rows, where the
        layer otherwise copies each batch into its own [x, 1] (for a model group's
        (M, B, 2) batches, 11 of 340 us a step: two numbers per inner loop)."""
        first = self.layers[0] if self.layers else None
        if (type(first) is not L.Dense or first.Wb is None or not isinstance(X, np.ndarray)
                or X.ndim != 2 or X.dtype != first.Wb.dtype
                or X.shape[1] + 1 != first.Wb.shape[-2]
                or (X.shape[1] + 1) * len(X) * X.itemsize > max_bytes):
            return None
        X1 = np.empty((len(X), X.shape[1] + 1), X.dtype)
        X1[:, :-1] = X
        X1[:, -1] = 1
        return X1

    def backward(self, grad_logits: np.ndarray) -> None:
        """Fill ``self.grads`` from dL/dlogits (..., B, C)."""
        grad = grad_logits
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
            if grad is None:
                break

    # -- training and inference -----------------------------------------------------
    def fit(self, X, y, epochs: int = 10, batch_size: int = 32, *, validation_data=None,
            validation_split: float = 0.0, early_stopping=None, callbacks=(),
            progress: bool = False, augment=None):
        """Train on X (N, F) and y: labels (N,) of any values for a classifier,
        numbers (N,) or (N, K) for a regressor. Returns ``self``. Sequences for
        convolutional layers: X (N, L) (one channel) or (N, C, L).

        validation_data: (X_val, y_val) scored after every epoch, or
        validation_split: the fraction of (X, y) held out for that, drawn at random.
        early_stopping: a patience (int) or an ``EarlyStopping``: stop when the
        validation loss stops improving and keep the best epoch's weights.
        callbacks: called as ``cb(model, epoch, logs)`` after each epoch (see
        ``scratchnet.callbacks``). Training continues from the current weights
        when called again. augment: ``augment(xb, rng)`` returns a changed copy of
        each training batch (e.g. ``RandomShift(3)``), drawn from the shuffle stream."""
        check_positive("epochs", epochs, int)
        if augment is not None and not callable(augment):
            raise TypeError(f"augment must be callable (xb, rng) -> xb, got {augment!r}")
        check_positive("batch_size", batch_size, int)
        fresh = None if self.built else len(self.layers)
        try:
            X, Y, y_idx, validation = self._fit_inputs(X, y, batch_size, validation_data,
                                                       validation_split, early_stopping)
        except (ValueError, TypeError):
            if fresh is not None:  # a refused first fit leaves the model unfitted
                self.params = self.encoder = self.scaler = self.n_targets_ = None
                del self.layers[fresh:]
            raise
        callbacks = list(callbacks)
        if early_stopping is not None:
            if not isinstance(early_stopping, EarlyStopping):
                early_stopping = EarlyStopping(patience=early_stopping)
            callbacks.append(early_stopping)
        try:
            def epoch_steps():
                loss, accuracy = train_epoch(self, X, Y, y_idx, batch_size, self.shuffle_rng,
                                             augment)
                return loss, None if y_idx is None else accuracy

            run_epochs(self, epoch_steps, epochs=epochs, callbacks=callbacks, progress=progress,
                       validate=None if validation is None else
                       lambda: self._loss_and_accuracy(*validation))
        except TrainingDiverged as e:
            largest = float(np.abs(X).max())
            if largest > 1e3:  # the usual cause: raw features in the thousands or more
                raise TrainingDiverged(f"{e} The features reach {largest:.3g} in magnitude: "
                                       f"standardise them (scale=True).") from None
            raise
        return self

    def _fit_inputs(self, X, y, batch_size, validation_data, validation_split, early_stopping):
        """Check fit's inputs, fit the label encoder and scaler, build the network.
        Returns (X, Y, y_idx, validation) ready for ``run_epochs``."""
        X = self.check_samples(X)
        Y, y_idx = self.encode_targets(y, len(X), fitting=True)
        if validation_split and validation_data is not None:
            raise ValueError("pass validation_data or validation_split, not both")
        if early_stopping is not None and not validation_split and validation_data is None:
            raise ValueError("early_stopping watches the validation loss: "
                             "pass validation_data or validation_split")
        train_rows, val_rows = self._split(len(X), validation_split) if validation_split else (
            slice(None), None)
        if self.scale and self.scaler is None:
            self.scaler = Standardizer().fit(X[train_rows].reshape(len(X[train_rows]), -1))
        if not self.built:
            self.finish_layers(Y.shape[-1])
            self.build(X.shape[1:])
        self.check_outputs(Y.shape[-1])
        if y_idx is not None and Y.shape[-1] < self.n_outputs_:  # a last layer wider than the classes
            Y = one_hot(y_idx, self.n_outputs_, self.dtype)
        validation = None
        if val_rows is not None:
            validation = (self.scaled(X[val_rows]), Y[val_rows],
                          None if y_idx is None else y_idx[val_rows])
            X, Y, y_idx = X[train_rows], Y[train_rows], None if y_idx is None else y_idx[train_rows]
        elif validation_data is not None:
            X_val, y_val = validation_data
            X_val = self.scaled(self.check_samples(X_val, name="X_val"))
            validation = (X_val, *self.encode_targets(y_val, len(X_val)))
        X = self.scaled(X)
        if batch_size > len(X):
            raise ValueError(f"batch_size={batch_size} is larger than the {len(X)} training rows")
        self.check_classes()
        return X, Y, y_idx, validation

    # -- the model's side of training and inference, also called by the modules that
    # train or read it (group, stream, sweep, export, the playground) ----------------
    def encode_targets(self, y, n_rows, fitting=False):
        """y as the loss wants it: (Y (N, outputs) in the model's dtype, class
        indices (N,) or None for regression). Fits the label encoder when fitting."""
        if self.task == "regression":
            Y = regression_targets(y, self.dtype)
            if fitting and self.n_targets_ is None:
                self.n_targets_ = Y.shape[1]
                self._y_1d = np.ndim(y) == 1
            y_idx = None
        else:
            if self.encoder is None:
                self.encoder = LabelEncoder().fit(y)
            y_idx = self.encoder.transform(y)
            n_classes = len(self.encoder.classes_)
            if isinstance(self.loss, losses.BinaryCrossEntropy):
                if n_classes > 2:
                    raise ValueError(f"binary_cross_entropy needs 2 classes, y has {n_classes}: "
                                     f"use softmax_cross_entropy")
                Y = y_idx[:, None].astype(self.dtype)
            else:
                Y = one_hot(y_idx, max(n_classes, self.n_outputs_ if self.built else 0), self.dtype)
        if len(Y) != n_rows:
            raise ValueError(f"X has {n_rows} rows but y has {len(Y)} "
                             f"{'targets' if y_idx is None else 'labels'}")
        return Y, y_idx

    def check_classes(self):
        """A classifier needs 2 classes."""
        if self.task == "classification" and len(self.encoder.classes_) < 2:
            only = self.encoder.classes_.tolist()[0]
            raise ValueError(f"y has 1 class ({only!r}); a classifier "
                             f"needs at least 2 (use loss='mse' for regression)")

    def check_outputs(self, n_out):
        # softmax may have spare outputs (classes never seen); the other losses need one per column
        exact = not isinstance(self.loss, losses.SoftmaxCrossEntropy)
        if self.n_outputs_ < n_out or (exact and self.n_outputs_ != n_out):
            what = "target columns" if exact else "classes"
            raise ValueError(f"the last layer has {self.n_outputs_} outputs but y has {n_out} {what}")

    def _split(self, n, fraction):
        """Row indices (train, validation) holding out a random ``fraction`` of n rows."""
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.integer, np.floating)) or not 0 < fraction < 1:
            raise ValueError(f"validation_split must be a fraction in (0, 1), got {fraction!r}")
        n_val = int(round(n * fraction))
        if not 0 < n_val < n:
            raise ValueError(f"validation_split={fraction} of {n} rows leaves "
                             f"{n_val} for validation and {n - n_val} for training")
        order = np.random.default_rng(self._split_seq).permutation(n)  # the same rows every fit
        return order[n_val:], order[:n_val]

    def scaled(self, X):
        """X standardised by the fitted scaler (scale=True), else X itself."""
        if self.scaler is None:
            return X
        # a (C, L) sample is scaled per channel and position, as C * L features
        return self.scaler.transform(X.reshape(len(X), -1), self.dtype).reshape(X.shape)

    def check_samples(self, X, name="X"):
        """X (N, F), or for convolutional layers (N, L) (one channel) or (N, C, L) ->
        a C-contiguous (N, *input_shape_) array in the model's dtype; an unbuilt model
        takes the sample shape from X and its first layers."""
        if self.built:
            return check_samples(X, self.input_shape_, self.dtype, name)
        takes = next((layer.sample_ndim for layer in self.layers if layer.sample_ndim), 1)
        if takes == 1:  # flat samples (F,)
            return check_X(X, None, self.dtype, name)
        X = check_samples(X, None, self.dtype, name)
        return X[:, None, :] if X.ndim == 2 else X  # (N, L): a sequence of one channel

    def finish_layers(self, n_outputs: int) -> None:
        """Hook for subclasses to finish their layers once the output width is known."""

    def check_fitted(self):
        """Raise RuntimeError unless fit has run."""
        fitted = self.n_targets_ is not None if self.task == "regression" else self.encoder is not None
        if not self.built or not fitted:
            raise RuntimeError("this model is not fitted yet: call fit(X, y) first")

    def prepared_inputs(self, X):
        """A fitted model's inputs as the network takes them: checked, then scaled."""
        self.check_fitted()
        return self.scaled(self.check_samples(X))

    def infer(self, x: np.ndarray) -> np.ndarray:
        """The same as ``forward(x)`` (train=False), but no layer keeps an activation
        for a backward pass, and each layer after the first that made a fresh array
        works in place on it. x: (..., B, F) -> logits (..., B, C)."""
        owned = False  # may a layer overwrite x? never the caller's array
        for layer in self.layers:
            out = layer.infer(x, inplace=owned)
            owned = owned or out is not x
            x = out
        return x

    def network_outputs(self, X, chunk_rows=None):
        """The network's outputs (N, C) for inputs ready for it, ``chunk_rows`` rows at a
        time (memory bounded by one chunk's activations, whatever N): refused, not
        warned about, when the inputs overflow it. The chunking changes no number:
        each row's outputs depend on that row alone."""
        chunk = CHUNK_ROWS if chunk_rows is None else check_positive("chunk_rows", chunk_rows, int)
        out = None
        with np.errstate(over="ignore", invalid="ignore"):
            for start in range(0, len(X), chunk):
                logits = self.infer(X[start:start + chunk])
                if out is None:
                    out = np.empty((len(X),) + logits.shape[1:], logits.dtype)
                out[start:start + len(logits)] = logits
        return check_finite_outputs(out, X)

    def _class_logits(self, X, chunk_rows):
        """Logits (N, C) of the real classes only: spare outputs are never a class."""
        logits = self.network_outputs(self.prepared_inputs(X), chunk_rows)
        return logits if logits.shape[-1] == 1 else logits[..., :len(self.encoder.classes_)]

    def predict_proba(self, X, *, chunk_rows=None) -> np.ndarray:
        """X: (N, F) -> class probabilities (N, C), columns in ``classes_`` order,
        computed ``chunk_rows`` rows at a time (default 65,536)."""
        if self.task == "regression":
            raise AttributeError("predict_proba is for classifiers; this model is a regressor")
        logits = self._class_logits(X, chunk_rows)
        if logits.shape[-1] == 1:  # one sigmoid logit: P(class 1)
            p = L.sigmoid(logits)
            return np.concatenate([1 - p, p], axis=-1)
        return L.softmax(logits)

    def predict(self, X, *, chunk_rows=None) -> np.ndarray:
        """X: (N, F) -> predicted labels (N,) in the original label values, or for a
        regressor the predicted values (N,) (or (N, K) when fitted on (N, K) targets).
        ``chunk_rows``: rows per forward pass (default 65,536)."""
        if self.task == "regression":
            out = self.network_outputs(self.prepared_inputs(X), chunk_rows)
            return out[:, 0] if self._y_1d else out
        # the largest logit is the most probable class: no softmax needed
        labels = predicted_index(self._class_logits(X, chunk_rows))
        return self.encoder.inverse_transform(labels)

    def evaluate(self, X, y, *, chunk_rows=None) -> dict:
        """The mean loss and, for a classifier, the accuracy on (X, y):
        {"loss": float, "accuracy": float}; a regressor reports {"loss", "r2"}, R^2 pooled
        over the outputs (1 - sum of squared errors / total sum of squares, every output's).
        ``chunk_rows``: rows per forward pass (default 65,536)."""
        X = self.prepared_inputs(X)
        Y, y_idx = self.encode_targets(y, len(X))
        outputs = self.network_outputs(X, chunk_rows)
        loss, acc = self._loss_and_accuracy(X, Y, y_idx, outputs)
        if self.task == "regression":
            ss_tot = np.sum((Y - Y.mean(axis=0)) ** 2)
            with np.errstate(over="ignore"):  # huge errors: r2 = -inf, as it should
                ss_res = np.sum((Y - outputs) ** 2)  # constant y: 1 or 0, scikit-learn's force_finite
            r2 = 1 - ss_res / ss_tot if ss_tot > 0 else float(ss_res == 0)
            return {"loss": loss, "r2": float(r2)}
        return {"loss": loss, "accuracy": acc}

    def _loss_and_accuracy(self, X, Y, y_idx, logits=None):
        """Mean loss and accuracy (None for regression) of inputs ready for the network
        (or of their ``logits``, when already computed)."""
        if logits is None:
            logits = self.network_outputs(X)
        mean_loss = losses.from_config({**self.loss.config(), "reduction": "mean"})
        with np.errstate(over="ignore"):  # finite but huge errors: loss = inf, as it should
            loss = float(mean_loss.forward(logits, Y))
        if y_idx is None:
            return loss, None
        return loss, float(np.mean(predicted_index(logits) == y_idx))

    @property
    def classes_(self) -> np.ndarray:
        self.check_fitted()
        return self.encoder.classes_

    # -- data bigger than memory (scratchnet.stream) ---------------------------------------
    def partial_fit(self, X, y, classes=None, batch_size: int = 32):
        """One pass of minibatch steps over (X, y), as scikit-learn's ``partial_fit``:
        call it once per chunk. The first call builds the model; a classifier needs
        ``classes=`` there (every label the data holds). With ``scale=True`` the scaler
        is fitted on the first call's X. Returns ``self``."""
        from .stream import partial_fit

        return partial_fit(self, X, y, classes=classes, batch_size=batch_size)

    def fit_stream(self, data, *, target=None, epochs: int = 10, batch_size: int = 32,
                   chunk_rows: int | None = None, shuffle_buffer: int | None = None,
                   validation=None, **options):
        """Train epoch by epoch on a CSV or Parquet file read in chunks (or on chunks of
        (X, y)), shuffling within a bounded buffer: see ``scratchnet.stream.fit_stream``
        for ``validation`` (a hash-held-out fraction, a file, or (X, y)) and ``options``
        (features, holdout_seed, callbacks, client, log, progress). Returns ``self``."""
        from . import stream

        return stream.fit_stream(self, data, target=target, epochs=epochs, batch_size=batch_size,
                                 chunk_rows=chunk_rows or stream.CHUNK_ROWS,
                                 shuffle_buffer=shuffle_buffer or stream.SHUFFLE_ROWS,
                                 validation=validation, **options)

    def __setstate__(self, state):
        """A copy (``copy.deepcopy``, or a pickle sent to a Dask worker) gets its
        layers' weights and gradients as views into its own ``params``/``grads`` again,
        as ``build`` made them, instead of loose copies that training would not update."""
        self.__dict__.update(state)
        if self.params is None:
            return
        offset = 0
        for layer in self.layers:
            views, grad_views = {}, {}
            for name, array in getattr(layer, "params", {}).items():
                views[name] = self.params[offset:offset + array.size].reshape(array.shape)
                grad_views[name] = self.grads[offset:offset + array.size].reshape(array.shape)
                offset += array.size
            if views:
                buffers = getattr(layer, "buffers", None)  # bind starts them afresh: keep them
                layer.bind(views, grad_views)
                if buffers is not None:
                    layer.buffers = buffers

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's arguments, as given: what ``sklearn.base.clone`` (and so
        dask-ml's ``Incremental``) needs to make an unfitted copy."""
        import inspect

        bound = inspect.signature(type(self).__init__).bind(self, *self._init_args[0],
                                                              **self._init_args[1])
        return {k: v for k, v in bound.arguments.items() if k != "self"}

    def score(self, X, y) -> float:
        """Accuracy of a classifier, R^2 of a regressor: scikit-learn's ``score`` for one
        output; several outputs are pooled (``evaluate``), where scikit-learn averages
        the outputs' R^2 (``scratchnet.sklearn.MLPRegressor.score`` does that)."""
        scores = self.evaluate(X, y)
        return scores["r2" if self.task == "regression" else "accuracy"]

    def to_torch(self):
        """This network as a ``torch.nn.Sequential`` returning the logits (see
        ``scratchnet.export.to_torch``)."""
        from .export import to_torch

        return to_torch(self)

    # -- description ----------------------------------------------------------------
    def summary(self) -> str:
        """A table of layers, output shapes and parameter counts."""
        if not self.built:
            return f"{type(self).__name__} (not built: call fit first)\n" + "\n".join(
                f"  {layer!r}" for layer in self.layers)
        rows = [("layer", "output shape", "params")]
        in_shape = self.input_shape_
        for layer in self.layers:
            count = sum(int(np.prod(s)) for s in layer.param_shapes(in_shape).values())
            in_shape = layer.output_shape(in_shape)
            rows.append((repr(layer), str((None, *in_shape)), f"{count:,}"))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}" for r in rows]
        rule = "-" * len(lines[0])
        return "\n".join([lines[0], rule, *lines[1:], rule,
                          f"total parameters: {self.params.size:,}  (dtype {self.dtype.name})"])


class MLP(Sequential):
    """A multilayer perceptron: per hidden layer Dense -> [BatchNorm1d] ->
    activation -> [Dropout], then a Dense output layer sized at the first ``fit``
    (to the number of classes, 1 for binary cross-entropy, or the number of
    regression targets for ``loss="mse"``, whose output stays linear).

    ``activation`` is one name for every hidden layer or a list with one per layer.
    Other keywords are ``Sequential``'s.

    >>> MLP(hidden=(64,), lr=0.1, seed=0).fit(X, y, epochs=10, batch_size=32).predict(X)
    >>> MLP(hidden=(64, 32), activation=["gelu", "tanh"], optimizer="adam", lr=1e-3,
    ...     loss="mse", scale=True).fit(X, y_real, validation_split=0.2, early_stopping=10)
    """

    def __init__(self, hidden=(64,), activation="relu", optimizer="sgd", lr=0.1,
                 init="he", dtype="float64", seed=None, reduction="mean", *,
                 loss="softmax_cross_entropy", label_smoothing=0.0, weight_decay=0.0,
                 clipnorm=None, optimizer_options=None, dropout=0.0, batchnorm=False,
                 scale=False, l1=0.0):
        if isinstance(hidden, (int, np.integer)):
            hidden = (hidden,)
        elif isinstance(hidden, (list, tuple, range)):
            hidden = tuple(hidden)
        else:
            raise TypeError(f"hidden must be an integer or a sequence of integers, got {hidden!r}")
        for h in hidden:
            check_positive("hidden size", h, int)
        acts = [activation] * len(hidden) if isinstance(activation, str) else list(activation)
        if len(acts) != len(hidden):
            raise ValueError(f"activation has {len(acts)} names for {len(hidden)} hidden layers")
        for name in acts:
            L.activation(name)  # validates the name
        self.hidden, self.activation, self.init = hidden, activation, init
        layers = []
        for h, name in zip(hidden, acts):
            layers.append(L.Dense(h, init=init))
            if batchnorm:
                layers.append(L.BatchNorm1d())
            layers.append(L.activation(name))
            if dropout:
                layers.append(L.Dropout(dropout))
        super().__init__(layers, optimizer=optimizer, lr=lr, reduction=reduction,
                         dtype=dtype, seed=seed, loss=loss, label_smoothing=label_smoothing,
                         weight_decay=weight_decay, clipnorm=clipnorm,
                         optimizer_options=optimizer_options, scale=scale, l1=l1)

    def finish_layers(self, n_outputs):
        self.layers.append(L.Dense(n_outputs, init=self.init))

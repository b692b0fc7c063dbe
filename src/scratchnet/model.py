"""Sequential and MLP: own the layers, the flat parameters, the loss and the optimizer."""
from __future__ import annotations

import numpy as np

from . import layers as L
from . import losses, optimizers
from .data import LabelEncoder, check_X, one_hot
from .train import run_epochs

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


def check_positive(name, value, kind=float, allow_zero=False):
    """Validate a hyper-parameter, naming it in the error."""
    ok_type = (int, np.integer) if kind is int else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, ok_type):
        raise TypeError(f"{name} must be a {'positive integer' if kind is int else 'number'}, got {value!r}")
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return value


class Sequential:
    """A stack of layers trained as a classifier with softmax cross-entropy.

    Parameters live in one flat array ``params`` (and gradients in ``grads``);
    each layer's ``W``/``b`` are views into it. Built on the first ``fit``.

    Args:
        layers: list of ``Layer``; the last one's output width is the number of classes.
        optimizer, lr: optimizer name and learning rate.
        reduction: "mean" (gradients averaged over the batch) or "sum" (the tutorial's).
        dtype: "float64" or "float32", used end to end.
        seed: int, SeedSequence or None. Derives the init and shuffle streams.
    """

    def __init__(self, layers, *, optimizer="sgd", lr=0.01, reduction="mean",
                 dtype="float64", seed=None):
        self.layers = list(layers)
        for layer in self.layers:
            if not isinstance(layer, L.Layer):
                raise TypeError(f"layers must be Layer instances, got {layer!r}")
        self.lr = check_positive("lr", lr)
        self.optimizer = optimizers.get(optimizer, lr=lr)
        self.loss = losses.get("softmax_cross_entropy", reduction=reduction)
        self.dtype = check_dtype(dtype)
        self.seed = seed
        seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        self.seed_entropy = seq.entropy  # reproduces a seed=None run
        self._init_seq, self._shuffle_seq = seq.spawn(2)
        self.shuffle_rng = np.random.default_rng(self._shuffle_seq)
        self.history: dict[str, list] = {}
        self.params = None
        self.encoder = None

    # -- building -----------------------------------------------------------------
    @property
    def built(self) -> bool:
        return self.params is not None

    def build(self, n_features: int) -> "Sequential":
        """Allocate the flat parameters for ``n_features`` inputs and initialise them."""
        shapes, n_in = [], n_features
        for layer in self.layers:
            shapes.append(layer.param_shapes(n_in))
            n_in = layer.output_dim(n_in)
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
        for layer in self.layers:  # nothing upstream of the first parametrised layer
            if layer.param_shapes(n_features):
                layer.needs_input_grad = False
                break
        self.n_features_ = n_features
        self.n_outputs_ = n_in
        return self

    # -- the network --------------------------------------------------------------
    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """x: (..., B, F) -> logits (..., B, C)."""
        for layer in self.layers:
            x = layer.forward(x, train)
        return x

    def backward(self, grad_logits: np.ndarray) -> None:
        """Fill ``self.grads`` from dL/dlogits (..., B, C)."""
        grad = grad_logits
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
            if grad is None:
                break

    # -- training and inference -----------------------------------------------------
    def fit(self, X, y, epochs: int = 10, batch_size: int = 32, *, validation_data=None,
            callbacks=(), progress: bool = False):
        """Train on X (N, F) and labels y (N,) of any values. Returns ``self``.

        Training continues from the current weights when called again."""
        check_positive("epochs", epochs, int)
        check_positive("batch_size", batch_size, int)
        X = check_X(X, self.n_features_ if self.built else None, self.dtype)
        if self.encoder is None:
            self.encoder = LabelEncoder().fit(y)
        y_idx = self.encoder.transform(y)
        if len(y_idx) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y_idx)} labels")
        n_classes = len(self.encoder.classes_)
        if not self.built:
            self._prepare(n_classes)
            self.build(X.shape[1])
        if self.n_outputs_ < n_classes:
            raise ValueError(
                f"the last layer has {self.n_outputs_} outputs but y has {n_classes} classes")
        if batch_size > len(X):
            raise ValueError(f"batch_size={batch_size} is larger than the {len(X)} training rows")
        validation = None
        if validation_data is not None:
            X_val, y_val = validation_data
            X_val = check_X(X_val, self.n_features_, self.dtype, name="X_val")
            validation = (X_val, self.encoder.transform(y_val))
        Y = one_hot(y_idx, self.n_outputs_, self.dtype)
        run_epochs(self, X, Y, y_idx, epochs=epochs, batch_size=batch_size,
                   rng=self.shuffle_rng, validation=validation, callbacks=callbacks,
                   progress=progress, start_epoch=len(self.history.get("loss", [])))
        return self

    def _prepare(self, n_classes: int) -> None:
        """Hook for subclasses to finish their layers once the classes are known."""

    def _check_fitted(self):
        if not self.built or self.encoder is None:
            raise RuntimeError("this model is not fitted yet: call fit(X, y) first")

    def predict_proba(self, X) -> np.ndarray:
        """X: (N, F) -> class probabilities (N, C), columns in ``classes_`` order."""
        self._check_fitted()
        X = check_X(X, self.n_features_, self.dtype)
        return L.softmax(self.forward(X))

    def predict(self, X) -> np.ndarray:
        """X: (N, F) -> predicted labels (N,), in the original label values."""
        self._check_fitted()
        return self.encoder.inverse_transform(self.predict_proba(X).argmax(axis=-1))

    def evaluate(self, X, y) -> dict:
        """Mean cross-entropy and accuracy on (X, y): {"loss": float, "accuracy": float}."""
        self._check_fitted()
        X = check_X(X, self.n_features_, self.dtype)
        y_idx = self.encoder.transform(y)
        if len(y_idx) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y_idx)} labels")
        loss, acc = self._loss_and_accuracy(X, y_idx)
        return {"loss": loss, "accuracy": acc}

    def _loss_and_accuracy(self, X, y_idx):
        logits = self.forward(X)
        mean_ce = losses.SoftmaxCrossEntropy("mean")
        loss = mean_ce.forward(logits, one_hot(y_idx, self.n_outputs_, self.dtype))
        return float(loss), float(np.mean(logits.argmax(axis=-1) == y_idx))

    @property
    def classes_(self) -> np.ndarray:
        self._check_fitted()
        return self.encoder.classes_

    # -- description ----------------------------------------------------------------
    def summary(self) -> str:
        """A table of layers, output shapes and parameter counts."""
        if not self.built:
            return f"{type(self).__name__} (not built: call fit first)\n" + "\n".join(
                f"  {layer!r}" for layer in self.layers)
        rows = [("layer", "output shape", "params")]
        n_in = self.n_features_
        for layer in self.layers:
            count = sum(int(np.prod(s)) for s in layer.param_shapes(n_in).values())
            n_in = layer.output_dim(n_in)
            rows.append((repr(layer), f"(None, {n_in})", f"{count:,}"))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}" for r in rows]
        rule = "-" * len(lines[0])
        return "\n".join([lines[0], rule, *lines[1:], rule,
                          f"total parameters: {self.params.size:,}  (dtype {self.dtype.name})"])


class MLP(Sequential):
    """A multilayer perceptron classifier: (Dense -> activation) per hidden layer,
    then a Dense output layer sized to the number of classes at the first ``fit``.

    >>> MLP(hidden=(64,), lr=0.1, seed=0).fit(X, y, epochs=10, batch_size=32).predict(X)
    """

    def __init__(self, hidden=(64,), activation="relu", optimizer="sgd", lr=0.1,
                 init="he", dtype="float64", seed=None, reduction="mean"):
        hidden = (hidden,) if isinstance(hidden, (int, np.integer)) else tuple(hidden)
        for h in hidden:
            check_positive("hidden size", h, int)
        L.activation(activation)  # validates the name
        self.hidden, self.activation, self.init = hidden, activation, init
        layers = []
        for h in hidden:
            layers += [L.Dense(h, init=init), L.activation(activation)]
        super().__init__(layers, optimizer=optimizer, lr=lr, reduction=reduction,
                         dtype=dtype, seed=seed)

    def _prepare(self, n_classes):
        self.layers.append(L.Dense(n_classes, init=self.init))

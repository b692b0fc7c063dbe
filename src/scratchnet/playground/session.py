"""One browser tab's playground: its data, its network and everything done to them.

Plain Python over the library, no web server: the page's every action is a method
here (tested directly), and training is scratchnet's own engine: ``Sequential.fit``
for epochs, ``train.train_step`` for one batch. A session also writes down each
change at the step it happened, so ``script()`` replays it bit for bit.
"""
from __future__ import annotations

import json
import math
import os
import struct
import tempfile

import numpy as np

from .. import io, losses, optimizers, presets
from .. import layers as L
from ..preprocessing import Standardizer
from ..model import Sequential
from ..train import TrainingDiverged, predicted_index, restore_training, snapshot_training, train_step
from . import data as D

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "gelu", "identity")
INITS = ("he", "glorot", "normal")
LOSSES = ("softmax_cross_entropy", "binary_cross_entropy", "mse")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")
FEATURES = tuple(L.FeatureMap.FEATURES)
MAX_LAYERS, MAX_UNITS = 6, 64
OUTPUT_SIZE, NEURON_SIZE = 100, 20  # heatmap resolutions (pixels a side)
_STRIDE = OUTPUT_SIZE // NEURON_SIZE
# the rows of the 100 x 100 grid that make the 20 x 20 grid (same cell centres)
SUBGRID = ((np.arange(NEURON_SIZE)[:, None] * _STRIDE + _STRIDE // 2) * OUTPUT_SIZE
           + np.arange(NEURON_SIZE) * _STRIDE + _STRIDE // 2).ravel()

DEFAULTS = {
    # data: changing any of these makes new data and a new network
    "dataset": "moons", "n": 5000, "noise": 0.1, "seed": 42, "train_fraction": 0.75, "classes": 2,
    # network: changing any of these makes a new network
    "features": ["x1", "x2"], "hidden": [64], "activation": ["relu"], "init": "he",
    "dropout": 0.0, "batchnorm": False, "loss": "softmax_cross_entropy", "reduction": "mean",
    "model_seed": 0,
    # training: these change without a reset
    "optimizer": "sgd", "lr": 0.2, "weight_decay": 0.0, "l1": 0.0, "batch_size": 10,
    "epochs_per_frame": 1, "early_stopping": 0,
}
DATA_KEYS = ("dataset", "n", "noise", "seed", "train_fraction", "classes")
NETWORK_KEYS = ("features", "hidden", "activation", "init", "dropout", "batchnorm", "loss",
                "reduction", "model_seed")
OPTIMIZER_KEYS = ("optimizer", "lr", "weight_decay", "l1")


def _from_library_preset(name: str) -> dict:
    """A playground preset from ``scratchnet.presets`` (one place for the tutorial's numbers)."""
    p = presets.get(name)
    return {"hidden": list(p["hidden"]), "activation": [p["activation"]] * len(p["hidden"]),
            "optimizer": p["optimizer"], "lr": p["lr"], "init": p["init"],
            "reduction": p["reduction"], "batch_size": p["batch_size"], "features": ["x1", "x2"],
            "loss": "softmax_cross_entropy", "dropout": 0.0, "batchnorm": False,
            "weight_decay": 0.0, "l1": 0.0}


PRESETS = {"tutorial": _from_library_preset("seed"), "defaults": _from_library_preset("default")}


def _number(name, value, low, high, integer=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if integer and value != int(value):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, got {value!r}")
    return int(value) if integer else float(value)


def _choice(name, value, valid):
    if value not in valid:
        raise ValueError(f"{name} must be one of {', '.join(valid)}, got {value!r}")
    return value


def check_settings(changes: dict, current: dict) -> dict:
    """Validate a partial update of the settings; returns the cleaned values.
    Every error names the setting and its valid range."""
    if not isinstance(changes, dict):
        raise ValueError("settings must be an object of name: value")
    unknown = [k for k in changes if k not in DEFAULTS]
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r}; valid: {', '.join(DEFAULTS)}")
    out = {}
    for key, value in changes.items():
        if key == "dataset":
            out[key] = _choice(key, value, D.DATASETS + ("upload",))
        elif key == "n":
            out[key] = _number("number of points", value, 10, 50_000, integer=True)
        elif key == "noise":
            out[key] = _number(key, value, 0, 1)
        elif key in ("seed", "model_seed"):
            out[key] = _number(key, value, 0, 2**31 - 1, integer=True)
        elif key == "train_fraction":
            out[key] = _number("train/test ratio", value, 0.1, 0.9)
        elif key == "classes":
            out[key] = _number("classes", value, 2, 6, integer=True)
        elif key == "features":
            if not isinstance(value, list) or not value or any(f not in FEATURES for f in value):
                raise ValueError(f"features must be a non-empty list of {', '.join(FEATURES)}")
            out[key] = [f for f in FEATURES if f in value]  # one order, whatever the page sent
        elif key == "hidden":
            if not isinstance(value, list) or len(value) > MAX_LAYERS:
                raise ValueError(f"hidden must be a list of 0 to {MAX_LAYERS} layer widths")
            out[key] = [_number("units per layer", v, 1, MAX_UNITS, integer=True) for v in value]
        elif key == "activation":
            acts = [value] if isinstance(value, str) else value
            if not isinstance(acts, list):
                raise ValueError("activation must be a name or a list of names, one per layer")
            out[key] = [_choice("activation", a, ACTIVATIONS) for a in acts]
        elif key == "init":
            out[key] = _choice(key, value, INITS)
        elif key == "dropout":
            out[key] = _number(key, value, 0, 0.9)
        elif key == "batchnorm":
            if not isinstance(value, bool):
                raise ValueError(f"batchnorm must be true or false, got {value!r}")
            out[key] = value
        elif key == "loss":
            out[key] = _choice(key, value, LOSSES)
        elif key == "reduction":
            out[key] = _choice(key, value, ("mean", "sum"))
        elif key == "optimizer":
            out[key] = _choice(key, value, OPTIMIZERS)
        elif key == "lr":
            out[key] = _number("learning rate", value, 1e-7, 10)
        elif key in ("weight_decay", "l1"):
            out[key] = _number("weight decay" if key == "weight_decay" else "L1", value, 0, 1)
        elif key == "batch_size":
            out[key] = _number("batch size", value, 1, 10_000, integer=True)
        elif key == "epochs_per_frame":
            out[key] = _number("epochs per frame", value, 1, 100, integer=True)
        elif key == "early_stopping":
            out[key] = _number("early stopping patience", value, 0, 1000, integer=True)
    return out


class Session:
    """A playground's state. ``settings`` is a dict like ``DEFAULTS``.

    Data: X_train (N, 2), y_train (N,), X_test, y_test as generated or uploaded;
    labels are class values (any) or numbers for regression. The network is a
    ``Sequential``: FeatureMap, then per hidden layer Dense, [BatchNorm1d],
    activation, [Dropout], then the output Dense."""

    def __init__(self, settings: dict | None = None):
        self.settings = dict(DEFAULTS)
        self.settings.update(check_settings(settings or {}, self.settings))
        self.upload = None  # (X, labels, task, filename) of an uploaded CSV
        self.message = ""
        self._new_data()

    # -- data --------------------------------------------------------------------
    def _new_data(self):
        s = self.settings
        if s["dataset"] == "upload":
            X, labels, task, _ = self.upload
            self.task = task
            self.X_train, self.y_train, self.X_test, self.y_test = D.split(
                X, labels, s["train_fraction"], s["seed"])
        else:
            self.task = "regression" if s["dataset"] == "regression" else "classification"
            self.X_train, self.y_train, self.X_test, self.y_test = D.make_dataset(
                s["dataset"], s["n"], s["noise"], s["seed"], s["train_fraction"], s["classes"])
        self.points_added = 0
        if self.task == "classification":
            self.classes = np.unique(np.concatenate([self.y_train, self.y_test]))
        else:
            self.classes = None
        self._fit_loss_to_task()
        self._domain()
        self.reset()

    def _fit_loss_to_task(self):
        s = self.settings
        if self.task == "regression":
            s["loss"] = "mse"
        elif s["loss"] == "mse" or (s["loss"] == "binary_cross_entropy" and len(self.classes) != 2):
            s["loss"] = "softmax_cross_entropy"

    def _domain(self):
        """A square around all the data (10% margin): the heatmaps' extent."""
        X = np.concatenate([self.X_train, self.X_test])
        low, high = X.min(axis=0), X.max(axis=0)
        center, half = (low + high) / 2, max((high - low).max() / 2 * 1.1, 1e-3)
        self.domain = [float(center[0] - half), float(center[0] + half),
                       float(center[1] - half), float(center[1] + half)]
        self.grids = {OUTPUT_SIZE: self._grid(OUTPUT_SIZE)}
        # every feature over the 20 x 20 grid, for the feature checkboxes' thumbnails
        grid = self.grids[OUTPUT_SIZE][SUBGRID]
        if self.settings["dataset"] == "upload":
            grid = Standardizer().fit(self.X_train).transform(grid)  # as the network sees it
        values = L.FeatureMap(list(FEATURES)).forward(grid)
        self.feature_maps = np.ascontiguousarray(
            _to_uint8(values / np.maximum(np.abs(values).max(axis=0), 1e-12), -1.0, 1.0).T)

    def _grid(self, size):
        """(size * size, 2) points, row-major from the top (x2 high) to the bottom."""
        x0, x1, y0, y1 = self.domain
        xs = x0 + (np.arange(size) + 0.5) * (x1 - x0) / size
        ys = y1 - (np.arange(size) + 0.5) * (y1 - y0) / size
        gx, gy = np.meshgrid(xs, ys)
        return np.column_stack([gx.ravel(), gy.ravel()])

    def regenerate(self):
        """New points from the next seed (a "regenerate" button)."""
        if self.settings["dataset"] == "upload":
            raise ValueError("uploaded data cannot be regenerated: pick a generated dataset")
        self.settings["seed"] = (self.settings["seed"] + 1) % 2**31
        self._new_data()

    def load_csv(self, text, x1=None, x2=None, label=None, filename="upload.csv"):
        X, labels, header, task = D.read_upload(text, x1, x2, label, filename)
        self.upload = (X, labels, task, filename)
        self.settings["dataset"] = "upload"
        self._new_data()
        return {"header": header, "rows": len(X), "task": task}

    def add_point(self, x1, x2, label, test=False):
        """Add one clicked point of class ``label`` (or value, for regression) to the
        training data (or to the test data). The network keeps training on it."""
        x1, x2 = (_number("point coordinate", v, -1e6, 1e6) for v in (x1, x2))
        if len(self.X_train) + len(self.X_test) >= D.MAX_POINTS:
            raise ValueError(f"the playground holds at most {D.MAX_POINTS:,} points")
        if self.task == "regression":
            label = _number("point value", label, -1e6, 1e6)
        else:
            label = _number("point class", label, 0, len(self.classes) - 1, integer=True)
            label = self.classes[label]
        which = "test" if test else "train"
        X, y = getattr(self, f"X_{which}"), getattr(self, f"y_{which}")
        setattr(self, f"X_{which}", np.vstack([X, [[x1, x2]]]))
        setattr(self, f"y_{which}", np.append(y, np.asarray([label], dtype=y.dtype)))
        self.points_added += 1
        self.metrics = None
        self.log.append(f"X_{which} = np.vstack([X_{which}, [[{x1!r}, {x2!r}]]])")
        self.log.append(f"y_{which} = np.append(y_{which}, np.asarray([{_literal(label)}], "
                        f"dtype=y_{which}.dtype))")

    # -- the network ---------------------------------------------------------------
    def reset(self):
        """A fresh network (same data): epoch 0, new weights from ``model_seed``."""
        s = self.settings
        acts = list(s["activation"])
        acts = (acts + [acts[-1] if acts else "relu"] * MAX_LAYERS)[:len(s["hidden"])]
        s["activation"] = acts
        self.layer_specs = []  # per hidden layer: (Dense index, activation-output index)
        layers = [L.FeatureMap(s["features"])]
        for units, act in zip(s["hidden"], acts):
            dense = len(layers)
            layers.append(L.Dense(units, init=s["init"]))
            if s["batchnorm"]:
                layers.append(L.BatchNorm1d())
            layers.append(L.activation(act))
            self.layer_specs.append((dense, len(layers) - 1))
            if s["dropout"]:
                layers.append(L.Dropout(s["dropout"]))
        n_out = 1 if self.task == "regression" or s["loss"] == "binary_cross_entropy" else len(self.classes)
        layers.append(L.Dense(n_out, init=s["init"]))
        self.dense_index = [i for i, layer in enumerate(layers) if isinstance(layer, L.Dense)]
        self.model = Sequential(layers, optimizer=s["optimizer"], lr=s["lr"],
                                reduction=s["reduction"], loss=s["loss"], seed=s["model_seed"],
                                weight_decay=s["weight_decay"], l1=s["l1"],
                                scale=s["dataset"] == "upload")
        D.prepare(self.model, self.X_train, None if self.classes is None else self.classes)
        self.made_with = {k: s[k] for k in OPTIMIZER_KEYS}  # later changes are in the log
        self.epoch = 0
        self.history = {"epoch": [], "loss": [], "val_loss": [], "accuracy": [], "val_accuracy": []}
        self.diverged = None
        self.stopped_early = None
        self.log = []  # replay lines since this network was made
        self.metrics = None  # evaluate() at the current weights, when known
        self.version = getattr(self, "version", 0) + 1  # tells the page to clear its chart

    def update(self, changes: dict) -> str:
        """Apply settings; returns what happened: "data" (new data and network),
        "network" (new network), "optimizer" (changed in place) or "none"."""
        clean = check_settings(changes, self.settings)
        changed = {k: v for k, v in clean.items() if self.settings.get(k) != v}
        if changed.get("dataset") == "upload" and self.upload is None:
            raise ValueError("upload a CSV file first")
        self.settings.update(changed)
        if any(k in changed for k in DATA_KEYS):
            self._new_data()
            return "data"
        if any(k in changed for k in NETWORK_KEYS):
            self._fit_loss_to_task()
            self.reset()
            return "network"
        if any(k in changed for k in OPTIMIZER_KEYS):
            self._set_optimizer(changed)
            return "optimizer"
        return "none"

    def _set_optimizer(self, changed):
        """Learning rate, weight decay, L1 or the optimizer itself, without a reset.
        The same optimizer keeps its state (momentum, Adam's moments)."""
        s, model = self.settings, self.model
        new = optimizers.get(s["optimizer"], lr=s["lr"], weight_decay=s["weight_decay"], l1=s["l1"])
        keep = "optimizer" not in changed
        if keep:
            new.load_state(model.optimizer.state())
        model.optimizer, model.lr = new, s["lr"]
        self.log.append(f"{'state = model.optimizer.state(); ' if keep else ''}"
                        f"model.optimizer = optimizers.get({s['optimizer']!r}, lr={s['lr']!r}, "
                        f"weight_decay={s['weight_decay']!r}, l1={s['l1']!r})"
                        f"{'; model.optimizer.load_state(state)' if keep else ''}")

    def apply_preset(self, name: str) -> str:
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
        changes = dict(PRESETS[name])
        if self.task == "regression":
            changes.pop("loss")
        self.settings.update(check_settings(changes, self.settings))
        self._fit_loss_to_task()
        self.reset()
        return "network"

    def set_weight(self, layer: int, i: int, j: int, value: float, name: str = "W"):
        """Edit one parameter: W[i, j] (or b[j]) of the ``layer``-th Dense layer (0-based)."""
        layer = _number("layer", layer, 0, len(self.dense_index) - 1, integer=True)
        dense = self.model.layers[self.dense_index[layer]]
        W = dense.params["W"]
        j = _number("unit", j, 0, W.shape[1] - 1, integer=True)
        value = _number("weight", value, -1e3, 1e3)
        if name == "b":
            dense.params["b"][j] = value
            self.log.append(f"model.layers[{self.dense_index[layer]}].params['b'][{j}] = {value!r}")
        elif name == "W":
            i = _number("input", i, 0, W.shape[0] - 1, integer=True)
            W[i, j] = value
            self.log.append(f"model.layers[{self.dense_index[layer]}].params['W'][{i}, {j}] = {value!r}")
        else:
            raise ValueError(f"name must be 'W' or 'b', got {name!r}")
        self.metrics = None

    # -- training ----------------------------------------------------------------
    def train(self, epochs: int | None = None) -> bool:
        """``epochs`` (default: epochs per frame) epochs of ``fit``, then the losses and
        accuracies at the new weights go into the history. Returns False when training
        stopped: it diverged, or early stopping ended it."""
        epochs = self.settings["epochs_per_frame"] if epochs is None else epochs
        bs = min(self.settings["batch_size"], len(self.X_train))
        start = len(self.model.history.get("loss", []))
        call = f"model.fit(X_train, y_train, epochs={epochs}, batch_size={bs})"
        try:
            self.model.fit(self.X_train, self.y_train, epochs=epochs, batch_size=bs)
        except TrainingDiverged as e:
            self.diverged = f"Training diverged at epoch {self.epoch + 1}: {_first_sentence(e)}. " \
                            f"Lower the learning rate and press reset."
            self.log.append(f"try:\n    {call}\nexcept TrainingDiverged:\n    pass"
                            f"  # diverged, as in the session: the weights from before that epoch")
            self.epoch += len(self.model.history.get("loss", [])) - start
            self.metrics = None
            return False
        self._merge_fit(epochs, bs, call)
        self.epoch += len(self.model.history.get("loss", [])) - start
        self._record()
        return not self._early_stop()

    def _merge_fit(self, epochs, bs, call):
        """Consecutive fits of one batch size are one call in the script."""
        last = self.log[-1] if self.log else ""
        prefix = "model.fit(X_train, y_train, epochs="
        if last.startswith(prefix) and last.endswith(f", batch_size={bs})"):
            done = int(last[len(prefix):last.index(",", len(prefix))])
            self.log[-1] = f"{prefix}{done + epochs}, batch_size={bs})"
        else:
            self.log.append(call)

    def _record(self):
        """Evaluate the current weights and add them to the history (one entry per
        training call, at its last epoch)."""
        self.metrics = m = self.evaluate()
        h = self.history
        if h["epoch"] and h["epoch"][-1] == self.epoch:  # e.g. a batch step: replace
            for key in h:
                h[key].pop()
        h["epoch"].append(self.epoch)
        for key, name in (("loss", "train_loss"), ("val_loss", "test_loss"),
                          ("accuracy", "train_accuracy"), ("val_accuracy", "test_accuracy")):
            h[key].append(m[name])
        if any(m[k] is None for k in ("train_loss", "test_loss")) and not self.diverged:
            self.diverged = ("The network's outputs overflowed (the loss is not finite): lower the "
                             "learning rate and press reset.")

    def _early_stop(self) -> bool:
        patience = self.settings["early_stopping"]
        losses = self.history["val_loss"]
        if not patience or not losses:
            return False
        best = int(np.argmin(losses))
        if len(losses) - 1 - best >= patience:
            self.stopped_early = (f"Early stopping: the test loss has not improved for {patience} "
                                  f"epochs (best {losses[best]:.4f} at epoch {self.history['epoch'][best]}).")
            return True
        return False

    def step_batch(self):
        """One minibatch step (``train.train_step``) on the next drawn batch."""
        bs = min(self.settings["batch_size"], len(self.X_train))
        xb, yb = D.batch(self.model, self.X_train, self.y_train, bs)
        with np.errstate(all="ignore"):
            train_step(self.model, xb, yb)
        self.log.append(f"train_step(model, *batch(model, X_train, y_train, {bs}))")
        if not np.isfinite(self.model.params).all():
            self.diverged = "Training diverged on this batch (weights became NaN or inf). Press reset."
        self.metrics = None

    # -- "explain step": the next batch step, equation by equation --------------------
    def explain(self, layer: int = 0, unit: int = 0, input: int | None = 0):
        """The numbers of the next "step one batch" for one parameter: W[input, unit]
        of the ``layer``-th Dense layer (0-based; input=None: the bias b[unit]).

        Runs that very step, ``train.train_step``, watching each layer's output and
        incoming gradient and the gradient the optimizer receives, then puts the model
        (weights, buffers, optimizer state, random streams) back as it was."""
        model = self.model
        layer = _number("layer", layer, 0, len(self.dense_index) - 1, integer=True)
        d = self.dense_index[layer]
        W = model.layers[d].params["W"]
        unit = _number("unit", unit, 0, W.shape[1] - 1, integer=True)
        if input is not None:
            input = _number("input", input, 0, W.shape[0] - 1, integer=True)
        lay = model.layers[d]
        param = "W" if input is not None else "b"
        where = (input, unit) if input is not None else (unit,)
        snapshot = snapshot_training(model)
        rng_states = [(g, g.bit_generator.state) for g in self._generators()]
        outs, grad_outs, seen = {}, {}, {}
        watched = _watch(model, outs, grad_outs, seen, lambda: float(lay.grads[param][where]))
        try:
            bs = min(self.settings["batch_size"], len(self.X_train))
            xb, yb = D.batch(model, self.X_train, self.y_train, bs)
            before = float(lay.params[param][where])
            with np.errstate(all="ignore"):
                train_step(model, xb, yb)
            after = float(lay.params[param][where])
        finally:
            for obj, names in watched:
                for name in names:
                    delattr(obj, name)
            restore_training(model, snapshot)
            for gen, state in rng_states:
                gen.bit_generator.state = state
        # plain SGD may fold lr into dL/dlogits (train.make_step): show true gradients
        fold = getattr(model.optimizer, "folded_lr", lambda: None)() or 1.0
        n = len(model.layers)
        grad_outs = [grad_outs[k] / fold if k in grad_outs else None for k in range(n)]
        outs = [outs[k] for k in range(n)]
        logits = outs[-1]
        mean_loss = type(model.loss)(**{k: v for k, v in model.loss.config().items() if k != "type"})
        with np.errstate(all="ignore"):
            loss_value = float(mean_loss.forward(logits, yb))
        probs = (L.softmax(logits) if isinstance(model.loss, losses.SoftmaxCrossEntropy)
                 else L.sigmoid(logits) if isinstance(model.loss, losses.BinaryCrossEntropy)
                 else None)  # the probabilities the loss sees (none for MSE)
        return self._explanation(layer, d, unit, input, xb, yb, outs, grad_outs, probs,
                                 grad_outs[-1], loss_value, before,
                                 seen["grad"] / fold, after)

    def _generators(self):
        gens = [self.model.shuffle_rng]
        gens += [lay.rng for lay in self.model.layers if getattr(lay, "rng", None) is not None]
        return gens

    def _explanation(self, layer, d, unit, inp, xb, yb, outs, grad_outs, probs, grad_logits,
                     loss_value, before, raw_grad, after):
        """The tutorial's equations for this parameter, with the step's numbers (row 0
        of the batch, and the batch sums), each linked to its section of docs/math.md."""
        model, s = self.model, self.settings
        B = len(xb)
        x_in = outs[d - 1]  # the Dense layer's input: the previous layer's output
        A = outs[d]
        last = d == len(model.layers) - 1
        name = f"W{layer + 1}[{inp}, {unit}]" if inp is not None else f"b{layer + 1}[{unit}]"
        fmt = lambda v: f"{v:.6g}"  # noqa: E731
        rows = min(B, 3)
        steps = []
        terms = [f"{fmt(x_in[0, i])}·{fmt(model.layers[d].params['W'][i, unit])}"
                 for i in range(min(x_in.shape[1], 4))]
        more = " + …" if x_in.shape[1] > 4 else ""
        steps.append({"title": f"Affine output of layer {layer + 1}, unit {unit}",
                      "equation": f"A{layer + 1} = X W{layer + 1} + b{layer + 1}",
                      "numbers": f"row 0: {' + '.join(terms)}{more} + {fmt(model.layers[d].params['b'][unit])}"
                                 f" = {fmt(A[0, unit])}",
                      "doc": "eq-5"})
        if not last:
            spec = next(sp for sp in self.layer_specs if sp[0] == d)
            act_layer = model.layers[spec[1]]
            act_name = s["activation"][layer]
            Z = outs[spec[1]]
            pre = outs[spec[1] - 1]
            deriv = act_layer_derivative(act_layer, pre, Z)
            steps.append({"title": f"Activation ({act_name})",
                          "equation": f"Z{layer + 1} = {ACT_FORMULA[act_name]},   "
                                      f"f'(A) = {ACT_DERIV[act_name]}",
                          "numbers": "; ".join(f"row {r}: f({fmt(pre[r, unit])}) = {fmt(Z[r, unit])}, "
                                               f"f' = {fmt(deriv[r, unit])}" for r in range(rows)),
                          "doc": "eq-3" if act_name == "relu" else "eq-5"})
        logits = outs[-1]
        loss_name = s["loss"]
        if loss_name == "softmax_cross_entropy":
            steps.append({"title": "Softmax of the logits",
                          "equation": "Z_out = softmax(A_out),  z_k = exp(a_k) / Σ_c exp(a_c)",
                          "numbers": f"row 0: logits {_vec(logits[0])} → probabilities {_vec(probs[0])}",
                          "doc": "eq-1"})
            red = "(Z_out − Y) / B" if s["reduction"] == "mean" else "(Z_out − Y)  (summed gradients)"
            doc_grad = "eq-13"
        elif loss_name == "binary_cross_entropy":
            steps.append({"title": "Sigmoid of the logit",
                          "equation": "p = 1 / (1 + exp(−a))",
                          "numbers": f"row 0: logit {fmt(logits[0, 0])} → p = {fmt(L.sigmoid(logits[:1, :1])[0, 0])}",
                          "doc": "eq-9"})
            red = "(p − y) / B" if s["reduction"] == "mean" else "(p − y)  (summed)"
            doc_grad = "eq-13"
        else:
            red = "2 (ŷ − y) / (B·K)" if s["reduction"] == "mean" else "2 (ŷ − y)  (summed)"
            doc_grad = "eq-13"
        steps.append({"title": f"Loss of this batch ({loss_name.replace('_', ' ')}, {s['reduction']})",
                      "equation": {"softmax_cross_entropy": "L = −Σ_k y_k log z_k",
                                   "binary_cross_entropy": "L = −[y log p + (1 − y) log(1 − p)]",
                                   "mse": "L = (ŷ − y)²"}[loss_name] + f"   (B = {B})",
                      "numbers": f"row 0 target {_vec(yb[0])}; batch loss {fmt(loss_value)}",
                      "doc": "eq-9"})
        steps.append({"title": "Gradient at the logits",
                      "equation": f"dL/dA_out = {red}",
                      "numbers": f"row 0: {_vec(grad_logits[0])}",
                      "doc": doc_grad})
        G = grad_outs[d]  # dL/dA of this Dense layer
        if not last:
            steps.append({"title": f"Back-propagated to layer {layer + 1}, unit {unit}",
                          "equation": f"G{layer + 1} = (G_next W_nextᵀ) ⊙ f'(A{layer + 1})",
                          "numbers": "; ".join(f"row {r}: {fmt(G[r, unit])}" for r in range(rows)),
                          "doc": "eq-15"})
        if inp is not None:
            eq = f"dL/d{name} = Σ_rows X[:, {inp}] · G[:, {unit}]"
            col = x_in[:, inp] * G[:, unit]
        else:
            eq = f"dL/d{name} = Σ_rows G[:, {unit}]"
            col = G[:, unit]
        reg = []
        if s["weight_decay"] and not (s["optimizer"] == "adamw"):
            reg.append(f"+ weight decay {s['weight_decay']:g}·θ")
        if s["l1"]:
            reg.append(f"+ L1 {s['l1']:g}·sign(θ)")
        steps.append({"title": f"Gradient of {name}",
                      "equation": eq + (" " + " ".join(reg) if reg else ""),
                      "numbers": f"{' + '.join(fmt(c) for c in col[:3])}{' + …' if B > 3 else ''} "
                                 f"= {fmt(raw_grad)}",
                      "doc": "eq-15"})
        lr = s["lr"]
        if s["optimizer"] == "sgd":
            g_total = raw_grad + s["weight_decay"] * before + s["l1"] * float(np.sign(before))
            update = (f"{fmt(before)} − {lr:g} × {fmt(g_total)} = {fmt(after)}")
            eq = "θ ← θ − lr · dL/dθ"
        else:
            update = f"{fmt(before)} → {fmt(after)}  (change {fmt(after - before)})"
            eq = f"θ ← {s['optimizer']} update with lr = {lr:g}"
        steps.append({"title": "The update", "equation": eq, "numbers": update, "doc": "eq-7"})
        return {"parameter": name, "layer": layer, "unit": unit, "input": inp, "batch_size": B,
                "steps": steps, "before": before, "gradient": raw_grad, "after": after}

    # -- what the page draws -------------------------------------------------------
    def evaluate(self):
        """Loss and accuracy (None for a regressor) on train and test at the current weights,
        and the test confusion matrix (rows: true class, columns: predicted)."""
        model = self.model
        out = {}
        for which in ("train", "test"):
            X, y = getattr(self, f"X_{which}"), getattr(self, f"y_{which}")
            Xs = model.scaled(np.ascontiguousarray(X, dtype=model.dtype))
            Y, y_idx = model.encode_targets(y, len(y))
            with np.errstate(all="ignore"):
                logits = model.forward(Xs)
                loss = float(np.mean(model.loss.forward(logits, Y))) / (
                    len(X) if model.loss.reduction == "sum" else 1)
            out[f"{which}_loss"] = loss if math.isfinite(loss) else None
            if y_idx is not None:
                pred = predicted_index(logits)
                out[f"{which}_accuracy"] = float(np.mean(pred == y_idx))
                if which == "test":
                    C = len(self.classes)
                    out["confusion"] = np.bincount(y_idx * C + np.minimum(pred, C - 1),
                                                   minlength=C * C).reshape(C, C).tolist()
            else:
                out[f"{which}_accuracy"] = None
        return out

    def heatmaps(self):
        """uint8 images: the output over the 100 x 100 grid (per class probability, or
        the regression value), and each feature's and hidden neuron's output over
        the 20 x 20 grid, each scaled by its largest magnitude (128 is 0).

        One forward pass over the 100 x 100 grid serves both: the 20 x 20 grid's
        points are its rows and columns 2, 7, 12, ... (cell centres coincide)."""
        model = self.model
        wanted = {0} | {sp[1] for sp in self.layer_specs}
        acts = []
        with np.errstate(all="ignore"):
            x = model.scaled(self.grids[OUTPUT_SIZE])
            for k, lay in enumerate(model.layers):
                x = lay.forward(x)
                if k in wanted:
                    acts.append(x[SUBGRID])
            logits = x
            if self.task == "regression":
                low, high = self.value_range()
                out = np.clip((logits[:, 0] - low) / (high - low), 0, 1)[:, None]
            elif logits.shape[1] == 1:
                p = L.sigmoid(logits)
                out = np.concatenate([1 - p, p], axis=1)
            else:
                out = L.softmax(logits)
            output = _to_uint8(out, 0.0, 1.0)
            maps = np.concatenate(acts, axis=1)
            scale = np.abs(np.nan_to_num(maps)).max(axis=0)
            scale[~(scale > 0)] = 1
            neurons = _to_uint8(maps / scale, -1.0, 1.0)
        return np.ascontiguousarray(output), np.ascontiguousarray(neurons.T)

    def value_range(self):
        y = np.concatenate([self.y_train, self.y_test]).astype(float)
        low, high = float(y.min()), float(y.max())
        return (low, high) if high > low else (low - 1, high + 1)

    def frame(self, history_from: int = 0) -> bytes:
        """One binary frame for the page: a little-endian uint32 header length, the
        JSON header, then the arrays the header lists (offset, length, dtype), each
        aligned to 4 bytes: output (H*W*C uint8), neurons (n * 20*20 uint8), and
        the Dense layers' weights and biases (float32)."""
        output, neurons = self.heatmaps()
        sections, blobs, offset = {}, [], 0

        def add(name, arr):
            nonlocal offset
            raw = arr.tobytes()
            sections[name] = [offset, arr.size, arr.dtype.name]
            pad = (-len(raw)) % 4
            blobs.append(raw + b"\0" * pad)
            offset += len(raw) + pad

        add("output", output)
        add("neurons", neurons)
        add("features", self.feature_maps)
        for k, i in enumerate(self.dense_index):
            dense = self.model.layers[i]
            W = np.nan_to_num(dense.params["W"]).astype(np.float32)
            add(f"W{k}", W)
            add(f"b{k}", np.nan_to_num(dense.params["b"]).astype(np.float32))
        if self.metrics is None:
            self.metrics = self.evaluate()
        head = {"type": "frame", "epoch": self.epoch, **self.metrics,
                "history_from": history_from, "version": self.version,
                "history": {k: v[history_from:] for k, v in self.history.items()},
                "sections": sections, "diverged": self.diverged, "stopped_early": self.stopped_early,
                "output_channels": int(output.size // OUTPUT_SIZE ** 2)}
        text = json.dumps(head, allow_nan=False, default=_json_default).encode()
        text += b" " * ((-len(text)) % 4)
        return struct.pack("<I", len(text)) + text + b"".join(blobs)

    def state(self) -> dict:
        """Everything but the arrays: settings, data summary and the network's shape."""
        s = self.settings
        widths = [len(s["features"])] + list(s["hidden"]) + [self.model.n_outputs_]
        return {"type": "state", "settings": s, "defaults": DEFAULTS, "task": self.task, "domain": self.domain,
                "classes": None if self.classes is None else [_literal_json(c) for c in self.classes],
                "value_range": self.value_range() if self.task == "regression" else None,
                "widths": widths, "version": self.version, "epoch": self.epoch,
                "points_added": self.points_added,
                "upload": None if self.upload is None else self.upload[3],
                "train": _points(self.X_train, self.y_train, self.classes),
                "test": _points(self.X_test, self.y_test, self.classes),
                "output_size": OUTPUT_SIZE, "neuron_size": NEURON_SIZE}

    # -- take it with you ----------------------------------------------------------
    def model_bytes(self) -> bytes:
        """The trained model as a ``scratchnet.load``-able .npz file."""
        fd, path = tempfile.mkstemp(suffix=".npz")
        os.close(fd)
        try:
            io.save(self.model, path, training={
                "data": {"source": None, "features": ["x1", "x2"], "target": "label",
                         "playground": {k: self.settings[k] for k in DATA_KEYS}},
                "epochs": self.epoch})
            with open(path, "rb") as f:
                return f.read()
        finally:
            os.unlink(path)

    def data_csv(self) -> str:
        lines = ["x1,x2,label,split"]
        for which in ("train", "test"):
            X, y = getattr(self, f"X_{which}"), getattr(self, f"y_{which}")
            lines += [f"{a!r},{b!r},{_literal_json(c)},{which}" for (a, b), c in zip(X.tolist(), y.tolist())]
        return "\n".join(lines) + "\n"

    def script(self) -> str:
        """A Python script that replays this network's life with the library; run, it
        ends with the same weights, bit for bit (it checks them against ``expected``
        when that file is beside it)."""
        s = self.settings
        if s["dataset"] == "upload":
            X, labels, task, filename = self.upload
            data = (f"# the uploaded {filename}, split as in the session\n"
                    f"X = np.array({X.tolist()!r})\nlabels = np.array({labels.tolist()!r})\n"
                    f"X_train, y_train, X_test, y_test = split(X, labels, {s['train_fraction']!r}, {s['seed']!r})")
        else:
            data = (f"X_train, y_train, X_test, y_test = make_dataset({s['dataset']!r}, n={s['n']}, "
                    f"noise={s['noise']!r}, seed={s['seed']}, train_fraction={s['train_fraction']!r}, "
                    f"classes={s['classes']})")
        layer_lines = ",\n    ".join(_layer_code(lay) for lay in self.model.layers)
        classes = "None" if self.classes is None else repr([_literal_json(c) for c in self.classes])
        lines = [
            '"""Replays a scratchnet playground session with the library: same data, seed and',
            'changes at the same steps, so the weights come out bit-identical."""',
            "import numpy as np",
            "",
            "import scratchnet as sn",
            "from scratchnet import layers as L, optimizers",
            "from scratchnet.playground.data import batch, make_dataset, prepare, split",
            "from scratchnet.train import TrainingDiverged, train_step",
            "",
            data,
            f"model = sn.Sequential([\n    {layer_lines},\n], optimizer={self.made_with['optimizer']!r}, "
            f"lr={self.made_with['lr']!r}, reduction={s['reduction']!r}, loss={s['loss']!r}, "
            f"seed={s['model_seed']}, weight_decay={self.made_with['weight_decay']!r}, "
            f"l1={self.made_with['l1']!r}, scale={s['dataset'] == 'upload'})",
            f"prepare(model, X_train, {classes})",
            "",
            *self.log,
            "",
            'sn.save(model, "replayed.npz")',
            'print("weights:", model.params.size, "parameters; sum", float(model.params.sum()))',
        ]
        return "\n".join(lines) + "\n"


ACT_FORMULA = {"relu": "max(0, A)", "leaky_relu": "A if A > 0 else 0.01 A", "tanh": "tanh(A)",
               "sigmoid": "1 / (1 + exp(−A))", "gelu": "0.5 A (1 + tanh(√(2/π)(A + 0.044715 A³)))",
               "identity": "A"}
ACT_DERIV = {"relu": "1[A > 0]", "leaky_relu": "1 if A > 0 else 0.01", "tanh": "1 − Z²",
             "sigmoid": "Z (1 − Z)", "gelu": "(by the chain rule, see GELU.backward)",
             "identity": "1"}


def _watch(model, outs, grad_outs, seen, read_grad):
    """Record, during one real step, each layer's output (outs[k]) and incoming gradient
    (grad_outs[k]), and ``read_grad()`` as the optimizer is handed the gradients.
    Instance attributes shadow the methods; returns what to delete afterwards."""
    watched = []
    for k, lay in enumerate(model.layers):
        def forward(x, train=False, _k=k, _f=lay.forward):
            out = _f(x, train)
            outs[_k] = np.array(out)
            return out

        def backward(g, _k=k, _b=lay.backward):
            grad_outs[_k] = np.array(g)
            return _b(g)

        lay.forward, lay.backward = forward, backward
        watched.append((lay, ("forward", "backward")))
    opt, names = model.optimizer, []
    for name in ("step", "step_folded"):
        if hasattr(opt, name):
            def update(params, grads, _u=getattr(opt, name)):
                seen["grad"] = read_grad()
                return _u(params, grads)

            setattr(opt, name, update)
            names.append(name)
    watched.append((opt, tuple(names)))
    return watched


def act_layer_derivative(layer, pre, out):
    """f'(A) elementwise, from the layer's own backward (a gradient of ones)."""
    fresh = type(layer)(**{k: v for k, v in layer.config().items() if k != "type"})
    fresh.forward(pre, train=True)
    return np.array(fresh.backward(np.ones_like(pre)))


def _to_uint8(values, low, high):
    """Values in [low, high] -> 0..255 (NaN -> the middle), for compact frames."""
    scaled = (np.nan_to_num(values, nan=(low + high) / 2) - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _vec(v):
    return "[" + ", ".join(f"{x:.4g}" for x in np.ravel(v)[:6]) + (", …]" if np.size(v) > 6 else "]")


def _first_sentence(e) -> str:
    return str(e).split(": ", 1)[-1].split(". ")[0].rstrip(".")


def _literal(value) -> str:
    return repr(_literal_json(value))


def _literal_json(value):
    return value.item() if isinstance(value, np.generic) else value


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {value!r}")


def _points(X, y, classes):
    """Points for the page: [x1, x2, class index (or value)] as flat lists."""
    idx = np.searchsorted(classes, y) if classes is not None else y
    return {"x": np.round(X, 5).ravel().tolist(), "label": np.asarray(idx).tolist()}


def _layer_code(layer) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in layer.config().items() if k != "type")
    return f"L.{type(layer).__name__}({args})"

"""Per-epoch callbacks. ``fit`` calls each as ``cb(model, epoch, logs)`` after every
epoch (``epoch`` counts from 1, ``logs`` holds that epoch's metrics, e.g. "loss",
"val_loss", "val_accuracy"); a callback returns True to stop training. A callback
may also define ``on_train_end(model)``, called once when training stops."""
from __future__ import annotations

import math

import numpy as np

from .validation import check_number


def _monitored(name, monitor, logs):
    if monitor not in logs:
        raise ValueError(f"{name} monitors {monitor!r}, but the epoch logs only have "
                         f"{sorted(logs)}; pass validation_data or validation_split, "
                         f"or monitor one of those")
    return float(logs[monitor])


def _mode(mode, monitor):
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
    return mode


def _named_buffers(model):
    """(key, array) for each layer's named state buffer; scratch space (keyed by shape) is skipped."""
    for i, layer in enumerate(model.layers):
        for name, value in getattr(layer, "buffers", {}).items():
            if isinstance(name, str):
                yield f"{i}.{name}", value


def model_state(model) -> dict[str, np.ndarray]:
    """Copies of everything training changes in a model: the flat parameters and
    each layer's named buffers (BatchNorm running statistics)."""
    return {"params": model.params.copy(), **{k: v.copy() for k, v in _named_buffers(model)}}


def restore_state(model, state) -> None:
    model.params[...] = state["params"]
    for key, value in _named_buffers(model):
        value[...] = state[key]


class EarlyStopping:
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` epochs; with ``restore_best_weights`` the model ends with the
    weights (and BatchNorm statistics) of its best epoch.

    ``best_epoch`` and ``stopped_epoch`` (0 when it never stopped) say what happened.
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="auto",
                 restore_best_weights=True):
        check_number("patience", patience, integer=True, low=0, say_kind=True)
        check_number("min_delta", min_delta, low=0)
        self.monitor, self.patience, self.min_delta = monitor, patience, float(min_delta)
        self.mode = _mode(mode, monitor)
        self.restore_best_weights = restore_best_weights
        self.on_train_begin(None)

    def _improved(self, value):
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def __call__(self, model, epoch, logs):
        value = _monitored("EarlyStopping", self.monitor, logs)
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_state = model_state(model)
            return False
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_begin(self, model):
        self.best, self.best_epoch, self.stopped_epoch, self.wait = None, 0, 0, 0
        self.best_state = None

    def on_train_end(self, model):
        if self.restore_best_weights and self.best_state is not None:
            restore_state(model, self.best_state)


class ReduceLROnPlateau:
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved
    for more than ``patience`` epochs, then wait ``cooldown`` epochs; never below
    ``min_lr``. The rules, including ``threshold`` ("rel": better than
    best * (1 -/+ threshold), "abs": best -/+ threshold) and ``eps`` (changes smaller
    than eps are skipped), are torch's ``ReduceLROnPlateau``."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8, mode="auto"):
        check_number("factor", factor, low=0, low_open=True, high=1)
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.monitor, self.factor, self.patience = monitor, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.min_lr, self.eps = cooldown, min_lr, eps
        self.mode = _mode(mode, monitor)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs, self.cooldown_counter = 0, 0

    def _is_better(self, value):
        sign = 1 if self.mode == "max" else -1
        if self.threshold_mode == "rel":
            return sign * value > sign * self.best * (1 + sign * self.threshold)
        return sign * value > sign * self.best + self.threshold

    def update(self, optimizer, value: float) -> None:
        """One epoch's observation of the monitored value."""
        if self._is_better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            new_lr = max(optimizer.lr * self.factor, self.min_lr)
            if optimizer.lr - new_lr > self.eps:
                optimizer.lr = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0

    def __call__(self, model, epoch, logs):
        self.update(model.optimizer, _monitored("ReduceLROnPlateau", self.monitor, logs))
        return False


class LearningRateScheduler:
    """Set the learning rate after each epoch from a schedule ``(base_lr, epoch) -> lr``
    (``optimizers.StepDecay``, ``optimizers.CosineDecay`` or any function); base_lr is
    the optimizer's learning rate when training starts."""

    def __init__(self, schedule):
        if not callable(schedule):
            raise TypeError(f"schedule must be callable (base_lr, epoch) -> lr, got {schedule!r}")
        self.schedule, self.base_lr = schedule, None

    def __call__(self, model, epoch, logs):
        if self.base_lr is None:
            self.base_lr = model.optimizer.lr
        model.optimizer.lr = self.schedule(self.base_lr, epoch)
        return False

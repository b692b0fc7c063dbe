"""The epoch loop: shuffling, batching, history, divergence stop."""
from __future__ import annotations

import numpy as np

from .data import batches


class TrainingDiverged(ValueError):
    """The loss became NaN or inf; the model keeps its last finite weights."""


def run_epochs(model, X, Y, y_idx, *, epochs, batch_size, rng, validation=None,
               callbacks=(), progress=False, start_epoch=0):
    """Train ``model`` in place for ``epochs`` epochs of minibatch steps.

    X: (N, F) in the model's dtype, Y: (N, C) one-hot targets, y_idx: (N,) class
    indices. ``validation`` is ``(X_val, y_val)`` in the same form (labels as
    indices) or None. Each callback is called as ``cb(model, epoch, logs)`` after
    every epoch and may return True to stop. Returns ``model.history``.
    """
    n = X.shape[0]
    history = model.history
    bar = _progress(epochs, start_epoch) if progress else None
    try:
        for epoch in range(start_epoch, start_epoch + epochs):
            snapshot = model.params.copy()  # last finite weights, restored on divergence
            train_loss, train_acc = train_epoch(model, X, Y, y_idx, batch_size, rng)
            if not np.isfinite(train_loss) or not np.isfinite(model.params).all():
                model.params[...] = snapshot
                raise TrainingDiverged(
                    f"training diverged at epoch {epoch + 1}: the loss became {train_loss}; "
                    f"the model keeps the weights from before that epoch. "
                    f"Try a lower learning rate (lr={model.optimizer.lr!r})."
                )
            logs = {"epoch": epoch + 1, "loss": train_loss, "accuracy": train_acc}
            if validation is not None:
                val_loss, val_acc = model._loss_and_accuracy(*validation)
                logs.update(val_loss=val_loss, val_accuracy=val_acc)
            for key, value in logs.items():
                history.setdefault(key, []).append(value)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{train_loss:.4f}", acc=f"{train_acc:.4f}")
            if any([cb(model, epoch + 1, logs) for cb in callbacks]):
                break
    finally:
        if bar is not None:
            bar.close()
    return history


def train_epoch(model, X, Y, y_idx, batch_size, rng) -> tuple[float, float]:
    """One pass of minibatch steps. Returns the mean training loss and accuracy
    over the epoch's batches (as the weights were when each batch was seen)."""
    loss_sum, correct = 0.0, 0
    per_row = model.loss.reduction == "mean"
    # overflow shows up in the finiteness check of the caller, so NumPy's warnings are noise
    with np.errstate(over="ignore", invalid="ignore"):
        for idx in batches(X.shape[0], batch_size, rng):
            logits = model.forward(X[idx], train=True)
            batch_loss = model.loss.forward(logits, Y[idx])
            loss_sum += batch_loss * len(idx) if per_row else batch_loss
            correct += np.count_nonzero(logits.argmax(axis=-1) == y_idx[idx])
            model.backward(model.loss.backward())
            model.optimizer.step(model.params, model.grads)
    return float(loss_sum) / X.shape[0], correct / X.shape[0]


def _progress(epochs, start_epoch):
    from tqdm.auto import tqdm

    return tqdm(total=start_epoch + epochs, initial=start_epoch, unit="epoch",
                desc="training", leave=False, delay=1.0)

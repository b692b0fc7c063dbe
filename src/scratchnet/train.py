"""The epoch loop: shuffling, batching, history, divergence stop."""
from __future__ import annotations

import numpy as np

from .callbacks import model_state, restore_state


class TrainingDiverged(ValueError):
    """The loss became NaN or inf; the model keeps its last finite weights."""


def run_epochs(model, X, Y, y_idx, *, epochs, batch_size, rng, validation=None,
               callbacks=(), progress=False, start_epoch=0, augment=None):
    """Train ``model`` in place for ``epochs`` epochs of minibatch steps.

    X: (N, F) in the model's dtype, Y: (N, C) targets as the loss takes them
    (one-hot, a 0/1 column, or regression values), y_idx: (N,) class indices, or
    None for regression (then no accuracy is logged). ``validation`` is what
    ``model._loss_and_accuracy`` takes, or None. Each callback is called as
    ``cb(model, epoch, logs)`` after every epoch and may return True to stop;
    callbacks with ``on_train_begin(model)``/``on_train_end(model)`` methods get those
    calls before the first and after the last epoch. ``augment(xb, rng)``, when
    given, returns a changed copy of each gathered batch xb (e.g. ``RandomShift``).
    Returns ``model.history``.
    """
    history = model.history
    for cb in callbacks:  # e.g. EarlyStopping forgetting an earlier fit's best epoch
        if hasattr(cb, "on_train_begin"):
            cb.on_train_begin(model)
    bar = _progress(epochs, start_epoch) if progress else None
    try:
        for epoch in range(start_epoch, start_epoch + epochs):
            snapshot = _snapshot(model)  # the last finite state, restored on divergence
            train_loss, train_acc = train_epoch(model, X, Y, y_idx, batch_size, rng, augment)
            if not np.isfinite(train_loss) or not np.isfinite(model.params).all():
                _restore(model, snapshot)
                raise TrainingDiverged(
                    f"training diverged at epoch {epoch + 1}: the loss became {train_loss}; "
                    f"the model keeps the weights from before that epoch. "
                    f"Try a lower learning rate (lr={model.optimizer.lr!r})."
                )
            logs = {"epoch": epoch + 1, "loss": train_loss}
            if y_idx is not None:  # None for regression: no accuracy
                logs["accuracy"] = train_acc
            if validation is not None:
                val_loss, val_acc = model._loss_and_accuracy(*validation)
                logs["val_loss"] = val_loss
                if val_acc is not None:
                    logs["val_accuracy"] = val_acc
            for key, value in logs.items():
                history.setdefault(key, []).append(value)
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items() if k != "epoch"})
            if any([cb(model, epoch + 1, logs) for cb in callbacks]):
                break
    finally:
        if bar is not None:
            bar.close()
    for cb in callbacks:  # e.g. EarlyStopping restoring its best weights
        if hasattr(cb, "on_train_end"):
            cb.on_train_end(model)
    return history


def _snapshot(model):
    """Copies of what an epoch changes: weights, layer buffers, optimizer state."""
    return model_state(model), {k: v.copy() for k, v in model.optimizer.state().items()}


def _restore(model, snapshot) -> None:
    state, optimizer_state = snapshot
    restore_state(model, state)
    for name in model.optimizer.state().keys() - optimizer_state.keys():
        delattr(model.optimizer, name)  # created lazily in the diverged epoch
    model.optimizer.load_state(optimizer_state)


EPOCH_LOSS_CHUNK = 4096  # rows


def train_step(model, xb, yb):
    """One minibatch step, the body of ``train_epoch``'s loop: forward, the loss's
    gradient, backward, the optimizer's update. xb: (B, F), yb: (B, C) targets as
    the loss takes them. Returns the batch's logits (B, C), from before the update
    (valid until the next step of this batch shape)."""
    logits = model.forward(xb, train=True)
    gradient = getattr(model.loss, "gradient", None)
    if gradient is None:
        model.loss.forward(logits, yb)
        model.backward(model.loss.backward())
    else:
        model.backward(gradient(logits, yb))
    model.optimizer.step(model.params, model.grads)
    return logits


def train_epoch(model, X, Y, y_idx, batch_size, rng, augment=None) -> tuple[float, float]:
    """One pass of minibatch steps. Returns the mean training loss and accuracy
    over the epoch's batches (as the weights were when each batch was seen).

    The data are never copied as a whole: each batch is gathered from a shuffled
    index into buffers reused by every step (the last batch may be smaller). A step
    only keeps its logits; the loss and accuracy of the epoch come from all of
    them at once at the end, which saves a dozen NumPy calls per step."""
    n = X.shape[0]
    order = rng.permutation(n) if rng is not None else np.arange(n)
    rows = min(batch_size, n)
    x_buf = np.empty((rows,) + X.shape[1:], X.dtype)
    y_buf = np.empty((rows,) + Y.shape[1:], Y.dtype)
    seen = None  # (n, C): each row's logits at its step, in `order`
    loss, forward, backward, step = model.loss, model.forward, model.backward, model.optimizer.step
    gradient = getattr(loss, "gradient", None)
    # overflow shows up in the finiteness check of the caller, so NumPy's warnings are noise
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            if len(idx) < rows:  # the last batch
                x_buf, y_buf = x_buf[:len(idx)], y_buf[:len(idx)]
            # the take method, not np.take's Python wrapper (1 µs); mode="clip" skips
            # the bounds-check buffering: a permutation is in range
            xb = X.take(idx, axis=0, out=x_buf, mode="clip")
            yb = Y.take(idx, axis=0, out=y_buf, mode="clip")
            if augment is not None:
                xb = augment(xb, rng)
            logits = forward(xb, train=True)
            if seen is None:
                seen = np.empty((n,) + logits.shape[1:], logits.dtype)
            seen[start:start + len(idx)] = logits
            if gradient is None:
                loss.forward(logits, yb)
                backward(loss.backward())
            else:
                backward(gradient(logits, yb))
            step(model.params, model.grads)
        # the epoch's loss from its logits, in chunks that bound the temporaries
        loss_sum = 0.0
        for start in range(0, n, EPOCH_LOSS_CHUNK):
            rows = order[start:start + EPOCH_LOSS_CHUNK]
            chunk_loss = loss.forward(seen[start:start + len(rows)], Y.take(rows, axis=0))
            loss_sum += chunk_loss * len(rows) if loss.reduction == "mean" else chunk_loss
        mean_loss = loss_sum / n
    correct = 0 if y_idx is None else np.count_nonzero(predicted_index(seen) == y_idx[order])
    return float(mean_loss), correct / n


class RandomShift:
    """Augmentation for sequences: each row moved by a random whole number of steps
    in [-max_shift, max_shift], circularly (what leaves one end comes back at the
    other, as MNIST-1D's own translation does). xb (B, L) or (B, C, L) -> a new array."""

    def __init__(self, max_shift: int):
        if isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer)) or max_shift < 0:
            raise ValueError(f"max_shift must be an integer >= 0, got {max_shift!r}")
        self.max_shift = int(max_shift)

    def __call__(self, xb, rng):
        L = xb.shape[-1]
        shift = rng.integers(-self.max_shift, self.max_shift + 1, size=len(xb))
        # out[b, ..., t] = xb[b, ..., (t - shift[b]) mod L]
        source = (np.arange(L) - shift[:, None]) % L  # (B, L)
        if xb.ndim == 3:
            source = source[:, None, :]
        return np.take_along_axis(xb, np.broadcast_to(source, xb.shape), axis=-1)

    def config(self):
        return {"type": "RandomShift", "max_shift": self.max_shift}

    def __repr__(self):
        return f"RandomShift({self.max_shift})"


def predicted_index(logits):
    """Class indices from logits (..., B, C), or from one sigmoid logit (..., B, 1)."""
    return (logits[..., 0] > 0).astype(np.intp) if logits.shape[-1] == 1 else logits.argmax(axis=-1)


def _progress(epochs, start_epoch):
    from tqdm.auto import tqdm

    return tqdm(total=start_epoch + epochs, initial=start_epoch, unit="epoch",
                desc="training", leave=False, delay=1.0)

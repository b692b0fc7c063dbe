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
            snapshot = snapshot_training(model)  # the last finite state, restored on divergence
            train_loss, train_acc = train_epoch(model, X, Y, y_idx, batch_size, rng, augment)
            if not np.isfinite(train_loss) or not np.isfinite(model.params).all():
                restore_training(model, snapshot)
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


def snapshot_training(model):
    """Copies of what an epoch changes: weights, layer buffers, optimizer state."""
    return model_state(model), {k: v.copy() for k, v in model.optimizer.state().items()}


def restore_training(model, snapshot) -> None:
    state, optimizer_state = snapshot
    restore_state(model, state)
    for name in model.optimizer.state().keys() - optimizer_state.keys():
        delattr(model.optimizer, name)  # created lazily in the diverged epoch
    model.optimizer.load_state(optimizer_state)


EPOCH_LOSS_CHUNK = 4096  # rows


def make_step(model):
    """The minibatch step for ``model``, its lookups done once (per epoch, or per call
    of ``train_step``): ``step(xb, yb) -> logits``.

    One step is: forward, dL/dlogits from the loss, backward, the optimizer's update.
    xb: (B, F) (or (B, C, L)), yb: (B, C) targets as the loss takes them; a model
    group has a leading model axis (M, B, ...). The logits (from before the update)
    are valid until the next step of that batch shape."""
    forward, backward, loss, optimizer = model.forward, model.backward, model.loss, model.optimizer
    params, grads = model.params, model.grads
    gradient = getattr(loss, "gradient", None)  # dL/dlogits without the loss value
    lr = optimizer.folded_lr()
    update = optimizer.step if lr is None else optimizer.step_folded

    def step(xb, yb):
        logits = forward(xb, train=True)
        if gradient is None:
            loss.forward(logits, yb)
            grad_logits = loss.backward()
        else:
            grad_logits = gradient(logits, yb)
        if lr is not None:  # the learning rate folded into dL/dlogits: backward yields lr * grads
            grad_logits *= lr
        backward(grad_logits)
        update(params, grads)
        return logits

    return step


def train_step(model, xb, yb):
    """One minibatch step (see ``make_step``): the body of ``train_epoch``'s loop.
    Returns the batch's logits, from before the update."""
    return make_step(model)(xb, yb)


GATHER_BYTES = 1 << 20  # the most an epoch's shuffled copy of the data takes at once (whole batches)


def train_epoch(model, X, Y, y_idx, batch_size, rng, augment=None, *, order=None):
    """One pass of minibatch steps. Returns the mean training loss and accuracy
    over the epoch's batches (as the weights were when each batch was seen).

    rng: the shuffle stream (``rng.permutation``; None: the rows in their order), or
    ``order``: the rows' order given, (N,) for one model, or (M, N) for a model
    group, each model its own order of the shared X (N, ...) and Y (N, C); then the
    loss and accuracy are (M,) arrays.

    The shuffled rows are gathered in chunks of whole batches (at most GATHER_BYTES
    at once, the whole epoch for small data), and each batch is a view of its chunk.
    A step only keeps its logits; the loss and accuracy of the epoch come from all of
    them at once at the end, which saves a dozen NumPy calls per step."""
    n = X.shape[0]
    if order is None:
        order = rng.permutation(n) if rng is not None else np.arange(n)
    lead = order.shape[:-1]  # () for one model, (M,) for a group
    M = int(np.prod(lead))
    row_bytes = M * (X[:1].nbytes + Y[:1].nbytes)
    rows = max(1, GATHER_BYTES // row_bytes // batch_size) * batch_size
    step = make_step(model)
    seen = None  # (..., n, C): each row's logits at its step, in `order`
    # overflow shows up in the finiteness check of the caller, so NumPy's warnings are noise
    with np.errstate(over="ignore", invalid="ignore"):
        for chunk_start in range(0, n, rows):
            idx = order[..., chunk_start:chunk_start + rows]
            # the take method, not np.take's Python wrapper; mode="clip" skips the
            # bounds-check buffering: a permutation is in range
            xs, ys = X.take(idx, axis=0, mode="clip"), Y.take(idx, axis=0, mode="clip")
            for s in range(0, idx.shape[-1], batch_size):
                e = s + batch_size  # the batch axis follows a group's model axis
                xb, yb = (xs[:, s:e], ys[:, s:e]) if lead else (xs[s:e], ys[s:e])
                if augment is not None:
                    xb = augment(xb, rng)
                logits = step(xb, yb)
                if seen is None:
                    seen = np.empty(lead + (n,) + logits.shape[-1:], logits.dtype)
                start = chunk_start + s
                seen[..., start:start + yb.shape[-2], :] = logits
        # the epoch's loss from its logits, in chunks that bound the temporaries
        loss, loss_sum = model.loss, 0.0
        for start in range(0, n, EPOCH_LOSS_CHUNK):
            idx = order[..., start:start + EPOCH_LOSS_CHUNK]
            chunk_loss = loss.forward(seen[..., start:start + idx.shape[-1], :],
                                      Y.take(idx, axis=0))
            loss_sum = loss_sum + (chunk_loss * idx.shape[-1] if loss.reduction == "mean" else chunk_loss)
        mean_loss = loss_sum / n
    if y_idx is None:
        correct = np.zeros(lead)
    else:
        correct = np.count_nonzero(predicted_index(seen) == y_idx[order], axis=-1)
    if not lead:
        return float(mean_loss), float(correct) / n
    return np.asarray(mean_loss, float), correct / n


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

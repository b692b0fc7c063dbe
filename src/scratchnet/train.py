"""The epoch loop: shuffling, batching, history, divergence stop; sample weights and
a penalty as its options (scikit-learn's objective, ``scratchnet.sklearn``)."""
from __future__ import annotations

import math

import numpy as np

from .callbacks import model_state, restore_state


class TrainingDiverged(ValueError):
    """The loss became NaN or inf; the model keeps its last finite weights."""


def run_epochs(model, epoch_steps, *, epochs, rollback=None, validate=None, callbacks=(),
               progress=False, on_diverged=None):
    """The one loop over epochs: ``fit``, model groups (``group.Shard``), streamed
    training and scikit-learn's stochastic solvers all train through it.

    Each epoch: copy what the epoch changes (``rollback.snapshot()``), run its steps
    (``epoch_steps() -> (loss, accuracy)``: scalars for one model, (M,) arrays for a
    group; accuracy None for regression; both None where the steps computed no
    metrics, and then only the epoch number is logged), then per model: if its loss
    or weights are not finite, put back its state from before the epoch and report it once
    (``on_diverged(m, epoch, loss)``, by default ``rollback.diverged``: one model
    raises TrainingDiverged, a group notes it and trains on); else log the epoch,
    with ``validate() -> (val_loss, val_accuracy or None)`` when given, into the
    model's history. Then each callback is called as ``cb(model, epoch, logs)`` and
    may return True to stop (for a group, logs is the list of the models' logs,
    None for a diverged one); callbacks with ``on_train_begin(model)`` /
    ``on_train_end(model)`` get those calls before the first and after the last
    epoch. ``on_diverged`` returning True also stops.

    rollback: the per-model bookkeeping, ``OneModel(model)`` by default, or a
    ``group.Shard``. Returns, per model, the epoch at which it diverged, or None.
    """
    rollback = OneModel(model) if rollback is None else rollback
    on_diverged = rollback.diverged if on_diverged is None else on_diverged
    M = len(rollback.histories)
    diverged = [None] * M
    for cb in callbacks:  # e.g. EarlyStopping forgetting an earlier fit's best epoch
        if hasattr(cb, "on_train_begin"):
            cb.on_train_begin(model)
    bar = _progress(epochs, rollback.epoch(0) - 1) if progress else None
    try:
        for _ in range(epochs):
            snapshot = rollback.snapshot()  # the last finite state, restored on divergence
            loss, accuracy = epoch_steps()
            loss = None if loss is None else np.reshape(loss, M)
            accuracy = None if accuracy is None else np.reshape(accuracy, M)  # None: regression
            finite = rollback.finite(loss)
            stop, all_logs = False, []
            for m in range(M):
                if diverged[m] is None and finite[m]:
                    logs = {"epoch": rollback.epoch(m)}
                    if loss is not None:
                        logs["loss"] = float(loss[m])
                    if accuracy is not None:
                        logs["accuracy"] = float(accuracy[m])
                    all_logs.append(logs)
                    continue
                rollback.restore(snapshot, m)  # back to the state from before this epoch
                if diverged[m] is None:
                    diverged[m] = rollback.epoch(m)
                    stop |= bool(on_diverged(m, diverged[m], None if loss is None else float(loss[m])))
                all_logs.append(None)
            if validate is not None and all_logs[0] is not None:
                val_loss, val_accuracy = validate()
                all_logs[0]["val_loss"] = val_loss
                if val_accuracy is not None:
                    all_logs[0]["val_accuracy"] = val_accuracy
            for history, logs in zip(rollback.histories, all_logs):
                for key, value in (logs or {}).items():
                    history.setdefault(key, []).append(value)
            logs = all_logs if rollback.group else all_logs[0]
            if bar is not None:
                bar.update(1)
                if logs and not rollback.group:
                    bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items() if k != "epoch"})
            epoch = rollback.epoch(0) - 1
            if stop or any([cb(model, epoch, logs) for cb in callbacks]):
                break
    finally:
        if bar is not None:
            bar.close()
    for cb in callbacks:  # e.g. EarlyStopping restoring its best weights
        if hasattr(cb, "on_train_end"):
            cb.on_train_end(model)
    return diverged


class OneModel:
    """The epoch loop's bookkeeping for one model: its history, a snapshot of what
    an epoch changes, and what divergence does (``TrainingDiverged``). A model
    group's is ``group.Shard``: the same methods, per model of the group."""

    group = False

    def __init__(self, model):
        self.model = model
        self.histories = [model.history]

    def epoch(self, m) -> int:
        """The number of model m's next epoch to log (1 for a fresh model)."""
        return len(self.histories[m].get("loss", [])) + 1

    def snapshot(self):
        return snapshot_training(self.model)

    def finite(self, loss) -> list[bool]:
        return [bool(np.isfinite(loss[0]) and np.isfinite(self.model.params).all())]

    def restore(self, snapshot, m) -> None:
        restore_training(self.model, snapshot)

    def diverged(self, m, epoch, loss):
        raise TrainingDiverged(
            f"training diverged at epoch {epoch}: the loss became {loss}; the model keeps "
            f"the weights from before that epoch. "
            f"Try a lower learning rate (lr={self.model.optimizer.lr!r}).")


def snapshot_training(model):
    """Copies of what an epoch changes: weights, layer buffers, optimizer state."""
    return model_state(model), {k: v.copy() for k, v in model.optimizer.state().items()}


def restore_training(model, snapshot) -> None:
    state, optimizer_state = snapshot
    restore_state(model, state)
    for name in model.optimizer.state().keys() - optimizer_state.keys():
        delattr(model.optimizer, name)  # created lazily in the diverged epoch
    model.optimizer.load_state(optimizer_state)


def make_step(model, with_ones=False):
    """The minibatch step for ``model``, its lookups done once (per epoch, or per call
    of ``train_step``): ``step(xb, yb) -> logits``; ``with_ones``: xb is [x, 1]
    (``Sequential.input_with_ones``).

    One step is: forward, dL/dlogits from the loss, backward, the optimizer's update.
    xb: (B, F) (or (B, C, L)), yb: (B, C) targets as the loss takes them; a model
    group has a leading model axis (M, B, ...). The logits (from before the update)
    are valid until the next step of that batch shape. With row weights or a
    penalty, the step is ``make_weighted_step``'s."""
    forward, backward, loss, optimizer = model.forward, model.backward, model.loss, model.optimizer
    params, grads = model.params, model.grads
    gradient = getattr(loss, "gradient", None)  # dL/dlogits without the loss value
    lr = optimizer.folded_lr()
    update = optimizer.step if lr is None else optimizer.step_folded

    def step(xb, yb):
        logits = forward(xb, train=True, with_ones=with_ones)
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


def make_weighted_step(model, penalty=None, with_ones=False):
    """The minibatch step of a weighted mean loss plus a penalty (scikit-learn's
    objective): ``step(xb, yb, wb) -> (logits, sum_i w_i l_i + R)``, the batch's
    objective L_b times its weight, or None for a batch whose weights sum to 0 (it
    carries no information: skipped, the model untouched).

    wb: (B,) row weights w_i >= 0, or None for 1 each. The step follows the gradient of

        L_b(theta) = (sum_i w_i l_i(theta) + R(theta)) / sum_i w_i

    over the batch's rows, l_i row i's loss as ``model.loss.rows`` defines it (so
    integer weights act as repeated rows): dL/dlogits row i is dl_i/dlogits times
    w_i / sum_i w_i, then ``penalty(params, grads, w_sum)``, when given, adds
    dR/dtheta / w_sum to the gradient (P,) in place and returns R(theta) at the
    weights the batch saw (R = 0 without). The update is never folded into dL/dlogits
    as in ``make_step``: the penalty's gradient joins after backward. The logits are
    valid as ``make_step``'s are."""
    forward, backward, rows, update = model.forward, model.backward, model.loss.rows, model.optimizer.step
    params, grads = model.params, model.grads

    def step(xb, yb, wb):
        w_sum = len(xb) if wb is None else wb.sum()
        if w_sum == 0:
            return None
        logits = forward(xb, train=True, with_ones=with_ones)
        row_loss, grad_logits = rows(logits, yb)
        # w_i * (1 / sum w), rounded as engine.loss_and_grad rounds it
        grad_logits *= 1.0 / w_sum if wb is None else (wb * (1.0 / w_sum))[:, None]
        backward(grad_logits)
        R = 0.0 if penalty is None else penalty(params, grads, w_sum)
        update(params, grads)
        return logits, float(row_loss.sum() if wb is None else wb @ row_loss) + R

    return step


def train_step(model, xb, yb):
    """One minibatch step (see ``make_step``): the body of ``train_epoch``'s loop.
    Returns the batch's logits, from before the update."""
    return make_step(model)(xb, yb)


GATHER_BYTES = 1 << 20  # the most an epoch's shuffled copy of the data takes at once (whole batches)


def train_epoch(model, X, Y, y_idx, batch_size, rng, augment=None, *, order=None,
                sample_weight=None, penalty=None, metrics=True):
    """One pass of minibatch steps. Returns the mean training loss and accuracy
    over the epoch's batches (as the weights were when each batch was seen), or
    (None, None) with ``metrics=False``, which computes neither (for models that are
    scored afterwards: a two-class log-sum-exp over every row of every model is about
    8% of a small model group's epoch).

    rng: the shuffle stream (``rng.permutation``; None: the rows in their order), or
    ``order``: the rows' order given, (N,) for one model, or (M, N) for a model
    group, each model its own order of the shared X (N, ...) and Y (N, C); then the
    loss and accuracy are (M,) arrays. A sparse X (CSR, one model) is densified a
    gathered chunk at a time.

    ``sample_weight`` (N,) row weights w_i >= 0 and a ``penalty(params, grads, w_sum)
    -> R`` hook make each step one of a weighted mean loss plus a penalty R,
    scikit-learn's objective (see ``make_weighted_step``; one model, a loss of mean
    reduction); a batch whose weights sum to 0 is skipped. The epoch's loss is then
    the weighted mean of the batches' objectives,

        (sum_i w_i l_i + sum_batches R) / sum_i w_i,

    each l_i and R at the weights its batch saw, and the accuracy the weighted share
    of rows right.

    The shuffled rows are gathered in chunks of whole batches (at most GATHER_BYTES
    at once, the whole epoch for small data), and each batch is a view of its chunk.
    A step only keeps its logits; the loss and accuracy come from a chunk's logits at
    once, after its steps, which saves a dozen NumPy calls per step."""
    n = X.shape[0]
    if order is None:
        order = rng.permutation(n) if rng is not None else np.arange(n)
    lead = order.shape[:-1]  # () for one model, (M,) for a group
    M = int(np.prod(lead))
    # small data: the rows gathered with a ones column for a first Dense layer (no copy
    # a step); a copy of X, so only where it is no larger than a gathered chunk
    X1 = None if augment is not None else model.input_with_ones(X, GATHER_BYTES)
    if X1 is not None:
        X = X1
    row_bytes = M * (X.dtype.itemsize * math.prod(X.shape[1:]) + Y[:1].nbytes)
    rows = max(1, GATHER_BYTES // row_bytes // batch_size) * batch_size
    # a sparse X (scipy's CSR; NumPy alone is needed here): each gathered chunk made dense
    densify = not isinstance(X, np.ndarray) and hasattr(X, "toarray")
    weighted = sample_weight is not None or penalty is not None
    if weighted:
        sample_weight = None if sample_weight is None else np.asarray(sample_weight)
        _check_weighted(model, lead, sample_weight, n)
        step = make_weighted_step(model, penalty, with_ones=X1 is not None)
    else:
        step = make_step(model, with_ones=X1 is not None)
    total_weight = n if sample_weight is None else sample_weight.sum()
    objective_sum = 0.0  # weighted: sum over the batches of sum_i w_i l_i + R
    loss, loss_sum, correct = model.loss, 0.0, 0
    seen = None  # (..., rows, C): each row of the chunk's logits at its step
    metrics = metrics or weighted  # a weighted step returns its objective anyway
    # overflow shows up in the finiteness check of the caller, so NumPy's warnings are noise
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for chunk_start in range(0, n, rows):
            idx = order[..., chunk_start:chunk_start + rows]
            # the take method, not np.take's Python wrapper; mode="clip" skips the
            # bounds-check buffering: a permutation is in range
            xs = X[idx].toarray() if densify else X.take(idx, axis=0, mode="clip")
            ys = Y.take(idx, axis=0, mode="clip")
            ws = None if sample_weight is None else sample_weight.take(idx)
            for s in range(0, idx.shape[-1], batch_size):
                e = s + batch_size  # the batch axis follows a group's model axis
                xb, yb = (xs[:, s:e], ys[:, s:e]) if lead else (xs[s:e], ys[s:e])
                if augment is not None:
                    xb = augment(xb, rng)
                if weighted:
                    stepped = step(xb, yb, None if ws is None else ws[s:e])
                    if stepped is None:  # the batch's weights sum to 0
                        continue
                    logits, objective = stepped
                    objective_sum += objective
                else:
                    logits = step(xb, yb)
                    if not metrics:
                        continue
                if seen is None:
                    seen = np.empty(lead + (min(rows, n),) + logits.shape[-1:], logits.dtype)
                if lead:  # (a plain slice costs half of an index with ...)
                    seen[:, s:s + yb.shape[-2]] = logits
                else:
                    seen[s:s + len(yb)] = logits
            if seen is None:  # every batch so far skipped: weight 0, nothing to count
                continue
            # the chunk's loss and accuracy from its logits and the targets at hand
            chunk = seen[..., :idx.shape[-1], :]
            if not weighted:
                chunk_loss = loss.forward(chunk, ys)  # "mean" and "batchmean": over the chunk's rows
                loss_sum = loss_sum + (chunk_loss if loss.reduction == "sum" else chunk_loss * idx.shape[-1])
            if y_idx is not None:
                right = predicted_index(chunk) == y_idx.take(idx)  # rows of skipped batches: weight 0
                correct = correct + (np.count_nonzero(right, axis=-1) if ws is None else ws @ right)
    if not metrics:
        return None, None
    mean_loss = objective_sum / total_weight if weighted else loss_sum / n
    if not lead:
        return float(mean_loss), float(correct) / total_weight
    return np.asarray(mean_loss, float), np.broadcast_to(correct, lead) / n


def _check_weighted(model, lead, sample_weight, n) -> None:
    if lead:
        raise ValueError("sample_weight and penalty train one model, not a model group")
    if model.loss.reduction == "sum":
        raise ValueError("sample_weight and penalty need a loss averaged over rows "
                         "(reduction 'mean' or 'batchmean'), not reduction='sum'")
    if sample_weight is None:
        return
    if sample_weight.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), got {sample_weight.shape}")
    if not (sample_weight >= 0).all() or not sample_weight.sum() > 0:
        raise ValueError("sample_weight must be >= 0 and sum to more than 0")


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
    """Class indices (..., B) from logits (..., B, C): the argmax (the first largest);
    from one sigmoid logit (..., B, 1): 1 where it is > 0. For two classes, 1 where
    z_1 > z_0: the argmax without NumPy's row-by-row reduction, ten times faster
    (NaN logits, which the argmax would count as largest, give 0)."""
    C = logits.shape[-1]
    if C == 1:
        return (logits[..., 0] > 0).astype(np.intp)
    if C == 2:
        return (logits[..., 1] > logits[..., 0]).astype(np.intp)
    return logits.argmax(axis=-1)


def _progress(epochs, start_epoch):
    from tqdm.auto import tqdm

    return tqdm(total=start_epoch + epochs, initial=start_epoch, unit="epoch",
                desc="training", leave=False, delay=1.0)

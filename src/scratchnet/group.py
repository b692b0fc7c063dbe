"""Model groups: many independent MLPs trained as one, on a leading model axis.

Each Dense layer of M models is one stacked weight array ``(M, n_in, n_out)``, so a
training step is one batched ``np.matmul`` per layer for all of them. Models of
different widths share a group: every layer is zero-padded to the group's widest.
A padded unit has zero incoming weights and bias, so its pre-activation is 0, its
activation f(0) = 0 (we only pad activations with f(0) = 0), its outgoing weights
get the gradient z * g = 0 and its incoming ones (0 * W_next) * f'(0) = 0: padded
parameters stay exactly zero and never touch the real ones.

Each model keeps its own everything: its initial weights come from its own
``MLP.build`` (its init stream, true shapes), its minibatches from its own shuffle
stream (``rng.permutation`` per epoch, as ``data.batches`` draws), its own learning
rate and weight decay. The contract: a model trained in a group ends with the same
weights (to ~1e-12 in float64) as the same model trained alone with ``MLP.fit``.

Within a group the models are split into shards, one per core: the first trains in
the calling thread, each other one in a forked worker process of its own (or all in
the calling thread where forking is unsafe, see ``_process_context``). (Not in threads:
a step is some twenty NumPy calls of a few microseconds each, too short for NumPy's
GIL release to pay; two threads ran slower than one, measured.) All shards pad to
the same widths, so the result for a model does not depend on the number of shards.
"""
from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import layers as L
from .data import check_X
from .losses import SoftmaxCrossEntropy
from .optimizers import SGD
from .model import check_positive

_PER_MODEL = ("lr", "weight_decay")  # optimizer settings that may differ inside a group
GATHER_BYTES = 64 << 20  # the most a group's shuffled copy of the data takes at once


def default_threads() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def architecture(model) -> tuple[tuple[int, ...], L.Layer | None]:
    """(widths of the Dense layers, the activation layer) of a built model made of
    Dense layers with one shared kind of activation between them, as ``MLP`` builds.
    Raises ValueError for anything else (dropout, batch norm, mixed activations)."""
    dense, acts = model.layers[0::2], model.layers[1::2]
    if (len(model.layers) % 2 != 1 or not all(type(d) is L.Dense for d in dense)
            or any(type(a) is L.Dense or a.param_shapes(1) for a in acts)
            or len({repr(a) for a in acts}) > 1):
        raise ValueError(
            "group training needs Dense layers with one kind of parameter-free activation "
            f"between them (as MLP builds), got {[repr(layer) for layer in model.layers]}")
    return tuple(d.units for d in dense), (acts[0] if acts else None)


def group_key(model) -> tuple:
    """Models with equal keys can train in one group (their widths may differ)."""
    widths, act = architecture(model)
    opt = model.optimizer
    if getattr(opt, "clipnorm", None) is not None:
        raise ValueError("group training does not support clipnorm (a per-model global norm)")
    if not isinstance(model.loss, SoftmaxCrossEntropy):
        raise ValueError(f"group training supports softmax cross-entropy only, not {model.loss!r}")
    hyper = tuple(sorted((k, repr(v)) for k, v in opt.config().items() if k not in _PER_MODEL))
    pads = act is None or _zero_at_zero(act)
    return (len(widths), repr(act), hyper, repr(model.loss.config()), model.dtype.name,
            None if pads else widths[:-1])


def _zero_at_zero(act) -> bool:
    return bool(np.all(type(act)(**{k: v for k, v in act.config().items() if k != "type"})
                       .forward(np.zeros((1, 1)), train=True) == 0))


def fit_group(models, X, y, *, epochs: int, batch_size: int, threads: int | None = None,
              on_epoch=None) -> list[int | None]:
    """Train ``models`` (MLPs or Sequentials of Dense + activation layers) in place,
    together, for ``epochs`` epochs of minibatches of ``batch_size``: the same as
    ``m.fit(X, y, epochs, batch_size)`` for each ``m``, at a fraction of the cost.

    X: (N, F), y: (N,) labels. Models must share ``group_key`` (depth, activation,
    optimizer type and settings other than lr and weight decay, loss, dtype).
    ``threads``: shards trained in parallel, all but the first in worker processes
    (default: the usable cores); results do not depend on it.
    ``on_epoch(n)`` is called after every epoch of a shard of ``n`` models.

    Returns, per model, the epoch at which it diverged (its weights are then those
    from before that epoch, as ``fit`` leaves them) or None. Models get no
    per-epoch history; evaluate them afterwards.
    """
    models = list(models)
    if not models:
        raise ValueError("fit_group needs at least one model")
    check_positive("epochs", epochs, int)
    check_positive("batch_size", batch_size, int)
    threads = default_threads() if threads is None else check_positive("threads", threads, int)
    m0 = models[0]
    X = check_X(X, m0.n_features_ if m0.built else None, m0.dtype)
    Y = None
    for m in models:
        if getattr(m, "scale", False):
            raise ValueError("group training does not support scale=True: standardise X first")
        Y_m, _ = m._targets(y, len(X), fitting=True)  # fits each model's label encoder
        m._check_classes()
        if Y is not None and not np.array_equal(Y_m, Y):
            raise ValueError("the models were fitted on different classes")
        Y = Y_m
        if not m.built:
            m._prepare(Y.shape[-1])
            m.build(X.shape[1])
        m._check_outputs(Y.shape[-1])
        if m.n_features_ != X.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features, but a model was built for {m.n_features_}")
    if batch_size > len(X):
        raise ValueError(f"batch_size={batch_size} is larger than the {len(X)} training rows")
    if len({group_key(m) for m in models}) > 1:
        raise ValueError("these models cannot share a group: they differ in depth, activation, "
                         "optimizer settings other than lr and weight decay, loss or dtype")
    widths = np.max([architecture(m)[0] for m in models], axis=0)
    if widths[-1] != Y.shape[-1]:
        raise ValueError("the models' output layers differ in width")
    Xaug = np.concatenate([X, np.ones((len(X), 1), X.dtype)], axis=1)  # bias column for layer 0
    if getattr(m0.loss, "label_smoothing", 0):  # smoothed targets, as the loss makes them
        Y = m0.loss.soft_targets(Y, Y.shape[-1], Y.dtype)

    if on_epoch is not None:  # shards report from their threads, one at a time
        lock, report = threading.Lock(), on_epoch

        def on_epoch(n):
            with lock:
                report(n)

    parts = np.array_split(np.arange(len(models)), min(threads, len(models)))
    shards = [_Shard([models[i] for i in part], widths) for part in parts]
    context = _process_context() if len(shards) > 1 else None
    if context is None:
        diverged = [shard.train(Xaug, Y, epochs, batch_size, on_epoch) for shard in shards]
    else:
        diverged = _train_in_processes(context, shards, Xaug, Y, epochs, batch_size, on_epoch)
    for shard in shards:
        shard.write_back()
    return [d for part in diverged for d in part]


def _process_context():
    """The fork context for worker processes, or None to train every shard in this
    thread: where fork is missing (Windows), in a daemonic process (Dask's workers,
    which may not have children), or beside other threads (a fork could copy a lock
    one of them holds). Not spawn or forkserver: they re-run a script's main module."""
    if ("fork" not in multiprocessing.get_all_start_methods()
            or multiprocessing.current_process().daemon or threading.active_count() > 1):
        return None
    return multiprocessing.get_context("fork")


def _train_in_processes(context, shards, Xaug, Y, epochs, batch_size, on_epoch):
    """Train shards[0] here and every other shard in a worker process, at the same time."""
    workers, pool = [], None
    try:
        for shard in shards[1:]:  # all forks before any thread starts
            here, there = context.Pipe(duplex=False)
            proc = context.Process(target=_worker, args=(shard, Xaug, Y, epochs, batch_size, there),
                                   daemon=True)
            proc.start()
            there.close()
            workers.append((proc, here))
        pool = ThreadPoolExecutor(len(workers))  # they wait on the pipes, GIL released
        received = [pool.submit(shard.receive, conn, on_epoch)
                    for shard, (_, conn) in zip(shards[1:], workers)]
        diverged = [shards[0].train(Xaug, Y, epochs, batch_size, on_epoch)]
        return diverged + [future.result() for future in received]
    except BaseException:
        for proc, _ in workers:  # stops them, and so the threads waiting on them
            proc.kill()
        raise
    finally:
        if pool is not None:
            pool.shutdown()
        for proc, conn in workers:
            proc.join()
            conn.close()


def _worker(shard, Xaug, Y, epochs, batch_size, conn):
    """A worker process: train ``shard``, send its progress and its trained state."""
    try:
        diverged = shard.train(Xaug, Y, epochs, batch_size, lambda n: conn.send(("epoch", n)))
        conn.send(("done", (diverged, shard.params, shard.optimizer.state(),
                            [rng.bit_generator.state for rng in shard.rngs])))
    except BaseException as error:
        conn.send(("error", f"{type(error).__name__}: {error}"))
    finally:
        conn.close()


class _Shard:
    """M models stacked: layer 0 as (M, F + 1, H0) with its bias as the last row
    (the input carries a column of ones), later layers as W (M, H_in, H_out) and
    b (M, H_out), all views into one flat ``params`` array (and ``grads``)."""

    def __init__(self, models, widths):
        self.models = models
        m0 = models[0]
        M, F, dtype = len(models), m0.n_features_, m0.dtype
        self.dtype, self.widths = dtype, [int(w) for w in widths]
        self.true_widths = [architecture(m)[0] for m in models]
        act = architecture(m0)[1]
        self.relu = type(act) is L.ReLU
        self.acts = [] if act is None else [
            type(act)(**{k: v for k, v in act.config().items() if k != "type"})
            for _ in widths[:-1]]
        shapes = [(M, F + 1, self.widths[0])]
        for n_in, n_out in zip(self.widths[:-1], self.widths[1:]):
            shapes += [(M, n_in, n_out), (M, n_out)]
        self.layout, offset = [], 0  # (offset, shape) of each block in the flat arrays
        for shape in shapes:
            self.layout.append((offset, shape))
            offset += int(np.prod(shape))
        self.params, self.grads = np.zeros(offset, dtype), np.zeros(offset, dtype)
        blocks, gblocks = self._blocks(self.params), self._blocks(self.grads)
        self.W, self.gW = [blocks[0]] + blocks[1::2], [gblocks[0]] + gblocks[1::2]
        self.b, self.gb = [None] + blocks[2::2], [None] + gblocks[2::2]
        self.pack(self.params, [m.params for m in models])
        self.rngs = [m.shuffle_rng for m in models]
        # one optimizer for the shard: per-model lr and weight decay as per-parameter arrays
        opt = m0.optimizer
        cfg = {k: v for k, v in opt.config().items() if k not in ("type", "lr")}
        self.lr = self._per_model(lambda m: m.optimizer.lr)
        self.wd = self.decay = None
        if any(getattr(m.optimizer, "weight_decay", 0) for m in models):
            cfg["weight_decay"] = 0.0  # applied per model in ``step``
            if getattr(opt, "decoupled", False):  # AdamW
                self.decay = self._per_model(lambda m: 1 - m.optimizer.lr * m.optimizer.weight_decay)
            else:
                self.wd = self._per_model(lambda m: m.optimizer.weight_decay)
        self.optimizer = type(opt)(lr=self.lr, **cfg)
        self.plain_sgd = type(opt) is SGD and not cfg.get("momentum") and cfg.get("clipnorm") is None
        if self.plain_sgd:  # lr folds into dL/dlogits: every gradient comes out times lr
            self.lr_model = np.array([m.optimizer.lr for m in models], dtype)[:, None, None]
            self.lr_wd = None if self.wd is None else self.lr * self.wd
        state = [m.optimizer.state() for m in models]
        if any(s.keys() != state[0].keys() for s in state):
            raise ValueError("some models have optimizer state from earlier training and "
                             "others not: train them apart")
        if state[0]:
            self.optimizer.load_state({k: self._packed_state(k, [s[k] for s in state])
                                       for k in state[0]})
        self.reduction_mean = m0.loss.reduction == "mean"
        self._buffers = {}

    # -- layout ---------------------------------------------------------------------
    def _blocks(self, flat):
        """The stacked blocks of a group-layout flat array: W0, W1, b1, W2, b2, ..."""
        return [flat[o:o + int(np.prod(s))].reshape(s) for o, s in self.layout]

    def _views(self, flat, m):
        """Model ``m``'s W0, b0, W1, b1, ... (its ``params`` order) inside group-layout ``flat``."""
        widths, F = self.true_widths[m], self.layout[0][1][1] - 1
        blocks = self._blocks(flat)
        views = [blocks[0][m, :F, :widths[0]], blocks[0][m, F, :widths[0]]]
        for l in range(1, len(widths)):
            views += [blocks[2 * l - 1][m, :widths[l - 1], :widths[l]], blocks[2 * l][m, :widths[l]]]
        return views

    def pack(self, flat, model_arrays):
        """Copy each model's flat array (its ``params`` layout) into group layout ``flat``."""
        for m, arr in enumerate(model_arrays):
            offset = 0
            for view in self._views(flat, m):
                view[...] = arr[offset:offset + view.size].reshape(view.shape)
                offset += view.size

    def unpack(self, flat, m, out):
        """Copy model ``m``'s part of group-layout ``flat`` into its flat array ``out``."""
        offset = 0
        for view in self._views(flat, m):
            out[offset:offset + view.size] = view.reshape(-1)
            offset += view.size

    def _per_model(self, value):
        flat = np.zeros_like(self.params)
        self.pack(flat, [np.full(m.params.size, value(m), self.dtype) for m in self.models])
        return flat

    def _packed_state(self, key, arrays):
        """One optimizer state entry for the shard: per-parameter arrays packed, the
        rest (Adam's step count) shared, so it must be equal across the models."""
        first = np.asarray(arrays[0])
        if all(np.shape(a) == m.params.shape for a, m in zip(arrays, self.models)):
            flat = np.zeros_like(self.params)
            self.pack(flat, arrays)
            return flat
        if any(not np.array_equal(a, first) for a in arrays):
            raise ValueError(f"the models' optimizer states differ in {key!r}: train them apart")
        return first

    # -- training -------------------------------------------------------------------
    def fit(self, Xaug, Y, epochs, batch_size, on_epoch):
        """Train here and write the results back into the models."""
        diverged = self.train(Xaug, Y, epochs, batch_size, on_epoch)
        self.write_back()
        return diverged

    def train(self, Xaug, Y, epochs, batch_size, on_epoch):
        """Train the stacked parameters; returns, per model, the epoch it diverged or None."""
        n, M, F1 = len(Xaug), len(self.rngs), Xaug.shape[1]
        XY = np.concatenate([Xaug, Y], axis=1)
        diverged = [None] * M
        rngs = self.rngs
        # gather the shuffled rows of many steps at once, in chunks of whole batches
        # that bound the copy (M models each see all N rows in their own order)
        rows = max(1, GATHER_BYTES // (M * XY.shape[1] * XY.itemsize) // batch_size) * batch_size
        with np.errstate(over="ignore", invalid="ignore"):
            for epoch in range(1, epochs + 1):
                snapshot = self.params.copy(), {k: v.copy() for k, v in self._param_state().items()}
                perms = np.stack([rng.permutation(n) for rng in rngs])  # (M, N), as data.batches
                for c in range(0, n, rows):
                    chunk = np.take(XY, perms[:, c:c + rows], axis=0)  # (M, rows, F+1+C)
                    xs, ys = chunk[..., :F1], chunk[..., F1:]
                    for s in range(0, chunk.shape[1], batch_size):
                        self.step(xs[:, s:s + batch_size], ys[:, s:s + batch_size])
                self._keep_finite(snapshot, epoch, diverged)
                if on_epoch is not None:
                    on_epoch(M)
        return diverged

    def receive(self, conn, on_epoch):
        """Take the trained state that ``_worker`` sends (passing on its progress)."""
        while True:
            try:
                kind, value = conn.recv()
            except EOFError:
                raise RuntimeError("a worker process training part of the group died") from None
            if kind == "error":
                raise RuntimeError(f"a worker process training part of the group failed: {value}")
            if kind == "done":
                break
            if on_epoch is not None:
                on_epoch(value)
        diverged, params, state, rng_states = value
        self.params[...] = params
        if state:
            self.optimizer.load_state(state)
        for rng, rng_state in zip(self.rngs, rng_states):
            rng.bit_generator.state = rng_state
        return diverged

    def write_back(self):
        """Copy each model's trained parameters and optimizer state into it."""
        state = self.optimizer.state()
        for m, model in enumerate(self.models):
            self.unpack(self.params, m, model.params)
            if state:
                model.optimizer.load_state({k: self._model_state(v, m) for k, v in state.items()})

    def _model_state(self, value, m):
        if value.shape != self.params.shape:
            return value.copy()
        out = np.empty_like(self.models[m].params)
        self.unpack(value, m, out)
        return out

    def _param_state(self) -> dict[str, np.ndarray]:
        """The optimizer's per-parameter arrays (momentum, Adam's m and v)."""
        return {k: v for k, v in self.optimizer.state().items() if np.shape(v) == self.params.shape}

    def _keep_finite(self, snapshot, epoch, diverged):
        """Put back the weights and optimizer state from before this epoch for each model
        that diverged in it (as ``fit`` does), and for those that diverged before (they
        train no further). State the epoch created is zeroed: as fresh."""
        params, state = snapshot
        M = len(self.rngs)
        bad = np.zeros(M, bool)
        for block in self._blocks(self.params):
            bad |= ~np.isfinite(block.reshape(M, -1)).all(axis=1)
        pairs = [(self.params, params)] + [(now, state.get(k, np.zeros_like(now)))
                                           for k, now in self._param_state().items()]
        for m in range(M):
            if bad[m] and diverged[m] is None:
                diverged[m] = epoch
            if diverged[m] is not None:
                for now, before in pairs:
                    for view, saved in zip(self._views(now, m), self._views(before, m)):
                        view[...] = saved

    def _buffers_for(self, B):
        if B not in self._buffers:
            M, dt, w = len(self.rngs), self.dtype, self.widths
            self._buffers[B] = {
                "pre": [np.empty((M, B, n), dt) for n in w],  # pre-activations; [-1]: logits
                "grad": [np.empty((M, B, n), dt) for n in w[:-1]],
                "gate": [np.empty((M, B, n), bool) for n in w[:-1]],
                "WT": [None] + [np.empty((M, n_out, n_in), dt) for n_in, n_out in zip(w, w[1:])],
                "ones": np.ones((M, 1, B), dt),
                "zeros": [np.zeros((M, B, n), dt) for n in w[:-1]],  # faster than a scalar 0
                "row": np.empty((M, B, 1), dt),
                "lr": (self.lr_model / B if self.reduction_mean else self.lr_model)
                if self.plain_sgd else None}
        return self._buffers[B]

    def step(self, x, Y):
        """One training step for all M models. x: (M, B, F+1) ending in a ones column,
        Y: (M, B, C) targets. Each NumPy call here serves all M models."""
        buf = self._buffers_for(x.shape[1])
        pre, row, ones = buf["pre"], buf["row"], buf["ones"]
        W, b, gW, gb, acts, relu = self.W, self.b, self.gW, self.gb, self.acts, self.relu
        last = len(W) - 1
        hs = [x]  # the input of each layer
        for l in range(last):
            a = np.matmul(hs[l], W[l], out=pre[l])
            if l:
                a += b[l][:, None, :]
            hs.append(np.maximum(a, buf["zeros"][l], out=a) if relu else acts[l].forward(a, train=True))
        logits = np.matmul(hs[last], W[last], out=pre[last])
        if last:
            logits += b[last][:, None, :]
        # dL/dlogits = softmax(logits) - Y (/ B), as SoftmaxCrossEntropy computes it
        C = logits.shape[-1]
        if C < 8:  # column by column: the same values as max / sum over the axis, faster
            np.maximum(logits[..., 0:1], logits[..., 1:2], out=row) if C > 1 else np.copyto(row, logits)
            for c in range(2, C):
                np.maximum(row, logits[..., c:c + 1], out=row)
            logits -= row
            np.exp(logits, out=logits)
            np.add(logits[..., 0:1], logits[..., 1:2], out=row) if C > 1 else np.copyto(row, logits)
            for c in range(2, C):
                row += logits[..., c:c + 1]
        else:
            np.max(logits, axis=-1, keepdims=True, out=row)
            logits -= row
            np.exp(logits, out=logits)
            np.sum(logits, axis=-1, keepdims=True, out=row)
        logits /= row
        logits -= Y
        if self.plain_sgd:  # * lr (/ B for a mean loss)
            logits *= buf["lr"]
        elif self.reduction_mean:
            logits /= logits.shape[-2]
        g = logits
        for l in range(last, 0, -1):
            np.matmul(hs[l].swapaxes(-1, -2), g, out=gW[l])
            np.matmul(ones, g, out=gb[l][:, None, :])  # sum over the batch
            WT = np.copyto(buf["WT"][l], W[l].swapaxes(-1, -2)) or buf["WT"][l]
            g_h = np.matmul(g, WT, out=buf["grad"][l - 1])
            if relu:
                g_h *= np.greater(hs[l], 0, out=buf["gate"][l - 1])
                g = g_h
            else:
                g = acts[l - 1].backward(g_h)
        np.matmul(x.swapaxes(-1, -2), g, out=gW[0])  # layer 0's W and b at once
        if self.plain_sgd:  # grads hold lr * grad: theta <- theta - lr (grad + wd theta)
            if self.lr_wd is not None:
                self.grads += self.lr_wd * self.params
            self.params -= self.grads
            return
        if self.wd is not None:  # L2: grad <- grad + wd * theta
            self.grads += self.wd * self.params
        if self.decay is not None:  # AdamW: theta <- theta (1 - lr wd) before its step
            self.params *= self.decay
        self.optimizer.step(self.params, self.grads)

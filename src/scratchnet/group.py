"""Model groups: many independent networks trained as one, on a leading model axis.

A group is an ordinary ``Sequential`` whose layers hold the parameters of M models
stacked, ``W`` of shape (M, F_in, H): the same layers, the same training step and
epoch loop as ``fit`` (``train.train_epoch``), with one batched NumPy call per
layer serving all M models. Every layer, loss and optimizer trains in a group.

Widths: a Dense layer is zero-padded to the group's widest where that is exact,
i.e. where every other layer is an element-wise activation with f(0) = 0 (ReLU,
LeakyReLU, tanh, GELU, identity). A padded unit has zero incoming weights and bias,
so its pre-activation is 0, its activation f(0) = 0, its outgoing weights get the
gradient f(0) * g = 0 and its incoming ones (0 * W_next) * f'(0) = 0: padded
parameters stay exactly zero and never touch the real ones. Elsewhere (sigmoid,
dropout, batch norm, convolutions) models group by equal shapes only.

Each model keeps its own everything: its initial weights come from its own build,
its minibatches from its own shuffle stream (``rng.permutation`` per epoch, as
``fit``), its dropout masks from its own stream, its own learning rate and weight
decay, its own global norm for clipping, its own batch statistics, its own history.
The contract: a model trained in a group ends with the same weights (to ~1e-12 in
float64) as the same model trained alone with ``fit``.

A group is split into shards, one per core (``parallel.train_shards``); all shards
pad to the same widths, so a model's result does not depend on the number of shards.
"""
from __future__ import annotations

import json
import threading

import numpy as np

from . import layers as L
from .model import Sequential
from .parallel import default_threads, train_shards
from .train import run_epochs, train_epoch
from .validation import check_positive

PER_MODEL = ("lr", "weight_decay")  # optimizer settings that may differ inside a group
PADDABLE = (L.ReLU, L.LeakyReLU, L.Tanh, L.GELU, L.Identity)  # element-wise, f(0) = 0

__all__ = ["fit_group", "group_key", "can_pad", "Shard"]


def widths(model) -> tuple[int, ...]:
    """The units of each Dense layer."""
    return tuple(layer.units for layer in model.layers if type(layer) is L.Dense)


def can_pad(model) -> bool:
    """Whether models like this one may differ in Dense widths inside a group."""
    return all(type(layer) is L.Dense or type(layer) in PADDABLE for layer in model.layers)


def group_key(model) -> tuple:
    """Models with equal keys train in one group: the same layers (Dense widths may
    differ where ``can_pad``), loss, dtype and optimizer settings but lr and weight
    decay. Raises ValueError for what cannot train in a group."""
    if getattr(model, "scale", False):
        raise ValueError("group training does not support scale=True: standardise X first")
    layers = tuple(json.dumps({"type": "Dense"} if type(layer) is L.Dense else layer.config(),
                              sort_keys=True) for layer in model.layers)
    opt = model.optimizer.config()
    hyper = tuple(sorted((k, repr(v)) for k, v in opt.items() if k not in PER_MODEL))
    return (layers, hyper, repr(model.loss.config()), model.dtype.name,
            None if can_pad(model) else widths(model))


def fit_group(models, X, y, *, epochs: int, batch_size: int, threads: int | None = None,
              on_epoch=None, history: bool = True) -> list[int | None]:
    """Train ``models`` (Sequentials, MLPs) in place, together, for ``epochs`` epochs
    of minibatches of ``batch_size``: the same as ``m.fit(X, y, epochs, batch_size)``
    for each ``m``, at a fraction of the cost. Each model's ``history`` is filled
    as ``fit`` fills it (loss, and accuracy for a classifier).

    X: (N, F), y: (N,) labels, or regression targets. Models must share ``group_key``.
    ``threads``: shards trained in parallel, all but the first in worker processes
    (default: the usable cores); results do not depend on it.
    ``on_epoch(n)`` is called after every epoch of a shard of ``n`` models.
    ``history=False``: the models' histories are left as they were and no epoch loss
    or accuracy is computed (a sweep scores its models afterwards; this saves about
    8% of a group of small models); a model then diverges where its weights stop
    being finite, as the loss alone can't be checked.

    Returns, per model, the epoch at which it diverged (its weights, optimizer state
    and statistics are then those from before that epoch, as ``fit`` leaves them) or None.
    """
    models = list(models)
    if not models:
        raise ValueError("fit_group needs at least one model")
    check_positive("epochs", epochs, int)
    check_positive("batch_size", batch_size, int)
    threads = default_threads() if threads is None else check_positive("threads", threads, int)
    X = models[0].check_samples(X)  # (N, F), or (N, C, L) for convolutional models
    Y = y_idx = None
    for m in models:
        group_key(m)  # scale=True and the like: refused before anything is fitted
        Y_m, y_idx = m.encode_targets(y, len(X), fitting=True)  # fits each model's label encoder
        m.check_classes()
        if Y is not None and not np.array_equal(Y_m, Y):
            raise ValueError("the models were fitted on different classes")
        Y = Y_m
        if not m.built:
            m.finish_layers(Y.shape[-1])
            m.build(X.shape[1:])
        m.check_outputs(Y.shape[-1])
        if m.input_shape_ != X.shape[1:]:
            raise ValueError(f"X has samples of shape {X.shape[1:]}, but a model was built for "
                             f"{m.input_shape_}")
    if batch_size > len(X):
        raise ValueError(f"batch_size={batch_size} is larger than the {len(X)} training rows")
    if len({group_key(m) for m in models}) > 1:
        raise ValueError("these models cannot share a group: they differ in their layers, "
                         "optimizer settings other than lr and weight decay, loss or dtype")
    padded = np.max([widths(m) for m in models], axis=0)
    if padded[-1] != Y.shape[-1]:
        raise ValueError("the models' output layers differ in width")

    parts = np.array_split(np.arange(len(models)), min(threads, len(models)))
    shards = [Shard([models[i] for i in part], padded, history) for part in parts]
    diverged = train_shards(shards, (X, Y, y_idx, epochs, batch_size), _serialized(on_epoch))
    for shard in shards:
        shard.write_back()
    return [d for part in diverged for d in part]


def _serialized(on_epoch):
    """Shards report from their threads: one report at a time."""
    if on_epoch is None:
        return None
    lock = threading.Lock()

    def report(n):
        with lock:
            on_epoch(n)

    return report


class Shard:
    """M models stacked into one ``Sequential`` (``net``): a Dense layer's parameters
    as one (M, F_in + 1, H) block, W its first F_in rows and b the last (so
    [x, 1] @ [W; b] serves the whole group, as it serves one model), every other
    parameter as (M, ...), all views into one flat ``net.params`` array."""

    def __init__(self, models, padded_widths, history=True):
        self.models, self.history = models, history
        m0, M = models[0], len(models)
        units = iter(int(w) for w in padded_widths)
        layers = []
        for layer in m0.layers:
            cfg = layer.config()
            if type(layer) is L.Dense:
                cfg["units"] = next(units)
            layers.append(L.from_config(cfg))
        # the layout: per layer, its blocks as (name, offset, shape); "Wb" is a Dense block
        self.layout, offset, in_shape = [], 0, m0.input_shape_
        for layer in layers:
            shapes = layer.param_shapes(in_shape)
            if type(layer) is L.Dense:
                F_in, H = shapes["W"]
                shapes = {"Wb": (F_in + 1, H)}
            entries = []
            for name, shape in shapes.items():
                entries.append((name, offset, (M,) + tuple(shape)))
                offset += M * int(np.prod(shape))
            self.layout.append(entries)
            in_shape = layer.output_shape(in_shape)
        net = Sequential(layers, dtype=m0.dtype)
        net.params, net.grads = np.zeros(offset, m0.dtype), np.zeros(offset, m0.dtype)
        first = True
        for layer, params, grads in zip(layers, self.views(net.params), self.views(net.grads)):
            layer.bind(params, grads)
            if params and first:  # nothing upstream of the first parametrised layer
                layer.needs_input_grad, first = False, False
        net.loss, net.n_features_, net.input_shape_ = m0.loss, m0.n_features_, m0.input_shape_
        self.net, self.layers = net, layers
        for m, model in enumerate(models):  # each model's own weights and statistics
            self.pack(net.params, m, model.params)
            for group_buffer, own in self._buffers(model):
                group_buffer[(m,) + tuple(slice(0, n) for n in own.shape)] = own
        # randomness: each model's shuffle stream, and its own dropout streams
        self.shuffles = [model.shuffle_rng for model in models]
        self.generators = list(self.shuffles)
        for i, layer in enumerate(layers):
            if type(layer) is L.Dropout:
                layer.rng = [model.layers[i].rng for model in models]
                self.generators += layer.rng
        self.histories = [{} for _ in models]
        net.optimizer = self._optimizer()

    # -- layout ---------------------------------------------------------------------
    def views(self, flat) -> list[dict[str, np.ndarray]]:
        """Per layer, its parameters' (M, ...) views into the group-layout ``flat``."""
        out = []
        for entries in self.layout:
            views = {}
            for name, offset, shape in entries:
                part = flat[offset:offset + int(np.prod(shape))].reshape(shape)
                if name == "Wb":  # W: the first F_in rows, b: the last
                    views["W"], views["b"] = part[:, :-1, :], part[:, -1, :]
                else:
                    views[name] = part
            out.append(views)
        return out

    def rows(self, flat) -> list[np.ndarray]:
        """``flat`` (group layout) as (M, -1) views, one per block: row m is model m's."""
        return [flat[offset:offset + int(np.prod(shape))].reshape(shape[0], -1)
                for entries in self.layout for _, offset, shape in entries]

    def _pairs(self, flat, m, arr):
        """(model m's corner of a group view, the same parameter's view in ``arr``, an
        array laid out like that model's ``params``) for every parameter."""
        model = self.models[m]
        for group_layer, own_layer in zip(self.views(flat), model.layers):
            for name, group_view in group_layer.items():
                own = own_layer.params[name]
                start = (own.ctypes.data - model.params.ctypes.data) // own.itemsize
                corner = (m,) + tuple(slice(0, n) for n in own.shape)
                yield group_view[corner], arr[start:start + own.size].reshape(own.shape)

    def pack(self, flat, m, arr) -> None:
        """Model m's ``arr`` (its ``params`` layout) into the group-layout ``flat``."""
        for group_view, own in self._pairs(flat, m, arr):
            group_view[...] = own

    def unpack(self, flat, m, arr) -> None:
        """Model m's part of the group-layout ``flat`` into ``arr`` (its ``params`` layout)."""
        for group_view, own in self._pairs(flat, m, arr):
            own[...] = group_view

    def _buffers(self, model):
        """(group buffer (M, ...), the model's own) for every layer buffer (batch norm's
        running statistics)."""
        for layer, own in zip(self.layers, model.layers):
            for name, value in getattr(layer, "buffers", {}).items():
                yield value, own.buffers[name]

    def group_buffers(self) -> list[np.ndarray]:
        """Every layer buffer of the group (batch norm's running statistics), (M, ...)."""
        return [v for layer in self.layers for v in getattr(layer, "buffers", {}).values()]

    def _per_model(self, value):
        """A group-layout array holding ``value(model)`` over each model's parameters."""
        flat = np.zeros_like(self.net.params)
        for m, model in enumerate(self.models):
            self.pack(flat, m, np.full(model.params.size, value(model), flat.dtype))
        return flat

    def _optimizer(self):
        """One optimizer for the shard: per-model lr and weight decay as per-parameter
        arrays, per-model clipping, the models' state packed into group layout."""
        models, m0 = self.models, self.models[0]
        cfg = {k: v for k, v in m0.optimizer.config().items() if k not in ("type", "lr")}
        opt = type(m0.optimizer)(lr=m0.optimizer.lr, **cfg)
        lr = self._per_model(lambda m: m.optimizer.lr)
        decays = any(m.optimizer.weight_decay for m in models)
        weight_decay = self._per_model(lambda m: m.optimizer.weight_decay) if decays else 0.0
        lr_rows = np.array([m.optimizer.lr for m in models], m0.dtype)[:, None, None]
        opt.for_group(lr, weight_decay, self.rows(self.net.grads), lr_rows)
        state = [m.optimizer.state() for m in models]
        if any(s.keys() != state[0].keys() for s in state):
            raise ValueError("some models have optimizer state from earlier training and "
                             "others not: train them apart")
        if state[0]:
            opt.load_state({k: self._packed_state(k, [s[k] for s in state]) for k in state[0]})
        return opt

    def _packed_state(self, key, arrays):
        """One optimizer state entry for the shard: per-parameter arrays packed, the
        rest (Adam's step count) shared, so it must be equal across the models."""
        if all(np.shape(a) == m.params.shape for a, m in zip(arrays, self.models)):
            flat = np.zeros_like(self.net.params)
            for m, arr in enumerate(arrays):
                self.pack(flat, m, np.asarray(arr))
            return flat
        if any(not np.array_equal(a, arrays[0]) for a in arrays):
            raise ValueError(f"the models' optimizer states differ in {key!r}: train them apart")
        return np.asarray(arrays[0])

    def _param_state(self) -> dict[str, np.ndarray]:
        """The optimizer's per-parameter arrays (momentum, Adam's m and v)."""
        size = self.net.params.shape
        return {k: v for k, v in self.net.optimizer.state().items() if np.shape(v) == size}

    # -- training: the one epoch loop, with this shard's per-model bookkeeping ----------
    group = True  # for ``train.run_epochs``: per-model logs, and divergence is noted, not raised

    def train(self, X, Y, y_idx, epochs, batch_size, on_epoch=None):
        """Train the stacked models with the one epoch loop (``train.run_epochs``);
        returns, per model, the epoch it diverged or None. Each model's history gets
        every epoch's loss (and accuracy) until it diverges; with ``history=False`` (see
        ``fit_group``) none is computed, and a model diverges where its weights stop
        being finite."""
        n, M = len(X), len(self.models)

        def epoch_steps():
            order = np.stack([rng.permutation(n) for rng in self.shuffles])  # (M, N), as fit
            loss, accuracy = train_epoch(self.net, X, Y, y_idx, batch_size, None, order=order,
                                         metrics=self.history)
            return loss, None if y_idx is None else accuracy

        report = [] if on_epoch is None else [lambda net, epoch, logs: on_epoch(M)]
        return run_epochs(self.net, epoch_steps, epochs=epochs, rollback=self, callbacks=report)

    def epoch(self, m) -> int:
        """The number of model m's next epoch (after those it had before the group)."""
        done = self.models[m].history.get("loss", [])
        return len(done) + len(self.histories[m].get("epoch", [])) + 1

    def snapshot(self):
        """Copies of what an epoch changes: weights, optimizer state, layer buffers."""
        return (self.net.params.copy(), {k: v.copy() for k, v in self._param_state().items()},
                [v.copy() for v in self.group_buffers()])

    def finite(self, loss) -> np.ndarray:
        """(M,): whether each model's epoch loss (where computed) and weights are finite."""
        finite = np.isfinite(loss) if loss is not None else np.ones(len(self.models), bool)
        for block in self.rows(self.net.params):
            finite &= np.isfinite(block).all(axis=1)
        return finite

    def restore(self, snapshot, m) -> None:
        """Model m's weights, optimizer state and buffers from ``snapshot``; state the
        epoch created is zeroed: as fresh."""
        params, state, buffers = snapshot
        pairs = [(self.net.params, params)] + [(now, state.get(k, np.zeros_like(now)))
                                                for k, now in self._param_state().items()]
        for now, before in pairs:
            for row, saved in zip(self.rows(now), self.rows(before)):
                row[m] = saved[m]
        for now, before in zip(self.group_buffers(), buffers):
            now[m] = before[m]

    def diverged(self, m, epoch, loss) -> None:
        """A group notes it (``run_epochs`` returns it) and trains the others on."""

    # -- results --------------------------------------------------------------------
    def result(self):
        """What a worker process sends back: the trained state (see ``receive``)."""
        return (self.net.params, self.net.optimizer.state(), self.group_buffers(),
                [rng.bit_generator.state for rng in self.generators], self.histories)

    def receive(self, result) -> None:
        params, state, buffers, rng_states, histories = result
        self.net.params[...] = params
        if state:
            self.net.optimizer.load_state(state)
        for now, sent in zip(self.group_buffers(), buffers):
            now[...] = sent
        for rng, rng_state in zip(self.generators, rng_states):
            rng.bit_generator.state = rng_state
        self.histories = histories

    def write_back(self) -> None:
        """Each model's trained parameters, optimizer state, buffers and history into it."""
        state = self.net.optimizer.state()
        for m, model in enumerate(self.models):
            self.unpack(self.net.params, m, model.params)
            for group_buffer, own in self._buffers(model):
                own[...] = group_buffer[(m,) + tuple(slice(0, n) for n in own.shape)]
            if state:
                model.optimizer.load_state({k: self._model_state(v, m) for k, v in state.items()})
            for key, values in self.histories[m].items() if self.history else ():
                model.history.setdefault(key, []).extend(values)

    def _model_state(self, value, m):
        if value.shape != self.net.params.shape:
            return value.copy()
        out = np.empty_like(self.models[m].params)
        self.unpack(value, m, out)
        return out

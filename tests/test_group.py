"""Model groups: a model trained in a group equals the same model trained alone."""
import gc
import os
import threading

import numpy as np
import pytest

from conftest import uncollected_garbage
from scratchnet import MLP
from scratchnet import train
from scratchnet.group import Shard, fit_group
from scratchnet import parallel
from scratchnet.parallel import process_context

SEED_PRESET = dict(lr=1e-4, init="normal", reduction="sum")  # the tutorial's training
DEFAULT_PRESET = dict(lr=0.2, init="he", reduction="mean")


@pytest.fixture(scope="module")
def data(moons):
    X_train, _, y_train, _ = moons
    return X_train[:600], y_train[:600]


def alone(X, y, epochs, batch_size, **kw):
    return MLP(**kw).fit(X, y, epochs=epochs, batch_size=batch_size)


def assert_same_as_alone(models, kwargs, X, y, epochs, batch_size, atol=1e-12):
    for model, kw in zip(models, kwargs):
        single = alone(X, y, epochs, batch_size, **kw)
        np.testing.assert_allclose(model.params, single.params, rtol=0, atol=atol)
        np.testing.assert_array_equal(model.predict(X), single.predict(X))


@pytest.mark.parametrize("preset", [SEED_PRESET, DEFAULT_PRESET], ids=["seed", "default"])
def test_group_equals_alone_for_the_presets(data, preset):
    """Mixed widths, each model its own seed: the contract, to 1e-12 in float64."""
    X, y = data
    kwargs = [dict(preset, hidden=h, seed=s) for h, s in [(3, 0), (17, 1), (39, 2), (8, 3), (39, 4)]]
    models = [MLP(**kw) for kw in kwargs]
    diverged = fit_group(models, X, y, epochs=3, batch_size=10, threads=2)
    assert diverged == [None] * len(models)
    assert_same_as_alone(models, kwargs, X, y, 3, 10)


def test_partial_last_batch_deep_nets_and_per_model_lr_and_weight_decay(data):
    X, y = data  # 600 rows in batches of 7: the last batch has 5
    kwargs = [dict(hidden=(5, 3), lr=0.05, weight_decay=0.0, seed=0),
              dict(hidden=(9, 4), lr=0.2, weight_decay=1e-3, seed=1),
              dict(hidden=(2, 6), lr=0.1, weight_decay=1e-2, seed=2)]
    models = [MLP(**kw) for kw in kwargs]
    fit_group(models, X, y, epochs=2, batch_size=7, threads=1)
    assert_same_as_alone(models, kwargs, X, y, 2, 7)


def test_data_gathered_in_small_chunks_gives_the_same_models(data, monkeypatch):
    """The shuffled copy of the data is bounded (train.GATHER_BYTES); chunks of whole
    batches change nothing, the last partial batch included."""
    monkeypatch.setattr(train, "GATHER_BYTES", 3 * 7 * (2 + 2) * 8 * 4)  # 4 batches a chunk
    X, y = data
    kwargs = [dict(hidden=h, lr=0.1, seed=s) for h, s in [(5, 0), (9, 1), (3, 2)]]
    models = [MLP(**kw) for kw in kwargs]
    fit_group(models, X, y, epochs=2, batch_size=7, threads=1)
    assert_same_as_alone(models, kwargs, X, y, 2, 7)


@pytest.mark.parametrize("options", [dict(activation="tanh"), dict(activation="leaky_relu"),
                                     dict(optimizer="adam", lr=0.01),
                                     dict(optimizer="adamw", lr=0.01, weight_decay=0.05),
                                     dict(optimizer="momentum", lr=0.05),
                                     dict(label_smoothing=0.1)])
def test_other_activations_and_optimizers(data, options):
    X, y = data
    kwargs = [dict(options, hidden=h, seed=s) for h, s in [(4, 0), (12, 1)]]
    models = [MLP(**kw) for kw in kwargs]
    fit_group(models, X, y, epochs=2, batch_size=16, threads=2)
    assert_same_as_alone(models, kwargs, X, y, 2, 16)


def test_sigmoid_groups_only_equal_widths(data):
    """sigmoid(0) = 0.5, so a padded unit would not stay silent: equal widths only."""
    X, y = data
    kwargs = [dict(activation="sigmoid", hidden=6, seed=s) for s in (0, 1)]
    models = [MLP(**kw) for kw in kwargs]
    fit_group(models, X, y, epochs=2, batch_size=10)
    assert_same_as_alone(models, kwargs, X, y, 2, 10)
    with pytest.raises(ValueError, match="cannot share a group"):
        fit_group([MLP(activation="sigmoid", hidden=h) for h in (3, 6)], X, y,
                  epochs=1, batch_size=10)


def test_padded_units_stay_exactly_zero_after_training(data):
    X, y = data
    models = [MLP(hidden=h, seed=i, **SEED_PRESET) for i, h in enumerate((3, 11, 20))]
    for m in models:
        m.encode_targets(y, len(X), fitting=True)
        m.finish_layers(2)
        m.build(X.shape[1])
    shard = Shard(models, np.array([20, 2]))
    shard.train(X, np.eye(2)[y], y, epochs=3, batch_size=10)
    dense0, _, dense1 = shard.views(shard.net.params)  # (M, 2, 20) and (M, 20), (M, 20, 2) and (M, 2)
    W0, b0, W1, b1 = dense0["W"], dense0["b"], dense1["W"], dense1["b"]
    assert np.any(W0[2] != 0)
    for m, h in enumerate((3, 11, 20)):
        assert not np.any(W0[m, :, h:]) and not np.any(b0[m, h:]), \
            "padded input weights and biases must stay 0"
        assert not np.any(W1[m, h:, :]), "padded output weights must stay 0"
        assert np.all(W1[m, :h, :] != 0) and np.all(b1[m] != 0)


def test_threads_do_not_change_a_single_bit(data):
    X, y = data
    runs = []
    for threads in (1, 2, 3):
        models = [MLP(hidden=h, seed=h, **DEFAULT_PRESET) for h in (3, 5, 8, 13, 21)]
        fit_group(models, X, y, epochs=2, batch_size=10, threads=threads)
        runs.append([m.params for m in models])
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)


def test_a_worker_never_destroys_the_callers_garbage(data, tmp_path, monkeypatch):
    """A forked worker inherits this process's uncollected garbage; its collector must
    not run their destructors there (onnxruntime's sessions hung a worker doing so:
    their destructor waits on a thread that only this process has)."""
    X, y = data
    log = tmp_path / "destroyed"
    worker = parallel._worker

    def collecting_worker(*args):  # what a worker's collector may do at any allocation
        gc.collect()
        return worker(*args)

    monkeypatch.setattr(parallel, "_worker", collecting_worker)
    models = [MLP(hidden=h, seed=h, **DEFAULT_PRESET) for h in (3, 5)]
    with uncollected_garbage(log):
        fit_group(models, X, y, epochs=2, batch_size=10, threads=2)
    assert log.read_text().split() == [str(os.getpid())]


def test_beside_other_threads_shards_train_here_with_the_same_bits(data):
    """A fork beside other threads could copy a lock one of them holds: then every
    shard trains in the calling thread, to the same bits."""
    X, y = data

    def train(threads):
        models = [MLP(hidden=h, seed=h, optimizer="adam", lr=0.01) for h in (3, 7, 12)]
        fit_group(models, X, y, epochs=2, batch_size=10, threads=threads)
        models[0].fit(X, y, epochs=1, batch_size=10)  # Adam's state came back too
        return [m.params for m in models]

    assert process_context() is not None, "no fork here, or a thread left running"
    in_processes = train(2)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert process_context() is None
        here = train(2)
    finally:
        stop.set()
        other.join()
    for a, b, c in zip(train(1), in_processes, here):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_progress_from_worker_processes_arrives_in_full(data):
    X, y = data
    seen = []
    models = [MLP(hidden=h, seed=h) for h in (3, 5, 8, 13, 21)]
    fit_group(models, X, y, epochs=3, batch_size=50, threads=2, on_epoch=seen.append)
    assert sum(seen) == 5 * 3 and sorted(set(seen)) == [2, 3]  # shards of 3 and 2 models


@pytest.mark.skipif(process_context() is None, reason="worker processes need fork")
def test_a_failing_worker_process_is_reported(data, monkeypatch):
    X, y = data
    parent, shard_train = os.getpid(), Shard.train

    def train_failing_in_workers(self, *args):
        if os.getpid() != parent:
            raise MemoryError("no room")
        return shard_train(self, *args)

    monkeypatch.setattr(Shard, "train", train_failing_in_workers)  # forked workers inherit it
    models = [MLP(hidden=h, seed=h) for h in (3, 5, 8)]
    with pytest.raises(RuntimeError, match="worker process .* failed: MemoryError: no room"):
        fit_group(models, X, y, epochs=1, batch_size=10, threads=2)


def test_float32_group_matches_float32_alone(data):
    X, y = data
    kwargs = [dict(SEED_PRESET, hidden=h, seed=h, dtype="float32") for h in (4, 9)]
    models = [MLP(**kw) for kw in kwargs]
    fit_group(models, X, y, epochs=2, batch_size=10)
    assert models[0].params.dtype == np.float32
    assert_same_as_alone(models, kwargs, X, y, 2, 10, atol=1e-5)


def test_a_diverging_model_keeps_its_last_finite_weights_and_spares_the_others(data):
    X, y = data
    X = X * 1e3  # with lr=1e3 the first model overflows in its first epoch
    models = [MLP(hidden=8, lr=1e3, seed=0), MLP(hidden=8, lr=0.01, seed=1)]
    initial = models[0]
    diverged = fit_group(models, X, y, epochs=3, batch_size=10)
    assert diverged[0] == 1 and diverged[1] is None
    assert np.isfinite(initial.params).all()
    fresh = MLP(hidden=8, lr=1e3, seed=0)
    fresh.encode_targets(y, len(X), fitting=True)
    fresh.finish_layers(2)
    fresh.build(2)
    np.testing.assert_array_equal(initial.params, fresh.params)  # as before epoch 1
    assert_same_as_alone(models[1:], [dict(hidden=8, lr=0.01, seed=1)], X, y, 3, 10)


def test_a_diverging_model_gets_finite_optimizer_state_back(data):
    X, y = data
    models = [MLP(hidden=8, optimizer="momentum", lr=1e3, seed=0),
              MLP(hidden=8, optimizer="momentum", lr=0.01, seed=1)]
    fit_group(models, X * 1e3, y, epochs=1, batch_size=10, threads=1)
    fit_group(models, X * 1e3, y, epochs=2, batch_size=10, threads=1)  # now with state
    for model in models:
        assert all(np.isfinite(v).all() for v in model.optimizer.state().values())


def test_group_trained_models_continue_like_alone_ones(data):
    """Optimizer state comes back to each model: fit after fit_group = fit twice."""
    X, y = data
    kw = dict(hidden=6, optimizer="adam", lr=0.01, seed=3)
    grouped = MLP(**kw)
    fit_group([grouped], X, y, epochs=1, batch_size=20)
    grouped.fit(X, y, epochs=1, batch_size=20)
    single = MLP(**kw).fit(X, y, epochs=1, batch_size=20).fit(X, y, epochs=1, batch_size=20)
    np.testing.assert_allclose(grouped.params, single.params, rtol=0, atol=1e-12)


@pytest.mark.parametrize("bad, match", [
    (dict(epochs=0), "epochs"), (dict(batch_size=0), "batch_size"),
    (dict(batch_size=10_000), "larger than"), (dict(threads=0), "threads")])
def test_bad_arguments_name_the_problem(data, bad, match):
    X, y = data
    kwargs = dict(epochs=1, batch_size=10) | bad
    with pytest.raises(ValueError, match=match):
        fit_group([MLP(hidden=4)], X, y, **kwargs)


def test_incompatible_models_are_refused(data):
    X, y = data
    with pytest.raises(ValueError, match="cannot share a group"):
        fit_group([MLP(hidden=4), MLP(hidden=(4, 4))], X, y, epochs=1, batch_size=10)
    with pytest.raises(ValueError, match="scale=True"):
        fit_group([MLP(hidden=4, scale=True)], X, y, epochs=1, batch_size=10)
    with pytest.raises(ValueError, match="at least one"):
        fit_group([], X, y, epochs=1, batch_size=10)


@pytest.mark.parametrize("n_classes", [3, 10])
def test_many_classes_and_string_labels(n_classes):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    y = np.array([f"c{i}" for i in rng.integers(n_classes, size=300)])
    kwargs = [dict(hidden=h, seed=h, lr=0.1) for h in (5, 16)]
    models = [MLP(**kw) for kw in kwargs]
    fit_group(models, X, y, epochs=2, batch_size=32)
    assert list(models[0].classes_) == sorted(set(y))
    assert_same_as_alone(models, kwargs, X, y, 2, 32)


@pytest.mark.parametrize("options", [
    dict(dropout=0.3), dict(batchnorm=True), dict(clipnorm=0.5), dict(clipnorm=0.5, optimizer="adam", lr=0.01),
    dict(loss="binary_cross_entropy"), dict(label_smoothing=0.2), dict(activation="gelu"),
    dict(activation="identity"), dict(activation=["relu", "tanh"], hidden=(6, 5)),
    dict(optimizer="rmsprop", lr=0.01), dict(optimizer="nesterov", lr=0.05, weight_decay=1e-3),
    dict(l1=1e-3), dict(dropout=0.2, batchnorm=True, optimizer="adamw", lr=0.01)],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_every_layer_loss_and_optimizer_trains_in_a_group(data, options):
    """Each option trains in a group and equals training alone (1e-12, float64);
    options whose padding would not be exact group models of equal widths."""
    X, y = data
    hidden = options.pop("hidden", 7)
    kwargs = [dict(options, hidden=hidden, seed=s, lr=options.get("lr", 0.1) * (1 + s / 10))
              for s in range(3)]
    models = [MLP(**kw) for kw in kwargs]
    assert fit_group(models, X, y, epochs=2, batch_size=16, threads=2) == [None] * 3
    assert_same_as_alone(models, kwargs, X, y, 2, 16)


def test_regression_trains_in_a_group(data):
    X, _ = data
    target = np.sin(X[:, 0]) + X[:, 1] ** 2
    kwargs = [dict(hidden=h, loss="mse", lr=0.05, seed=h) for h in (4, 9)]
    models = [MLP(**kw) for kw in kwargs]
    fit_group(models, X, target, epochs=2, batch_size=20)
    for model, kw in zip(models, kwargs):
        single = MLP(**kw).fit(X, target, epochs=2, batch_size=20)
        np.testing.assert_allclose(model.params, single.params, rtol=0, atol=1e-12)


@pytest.mark.parametrize("options", [
    {}, dict(optimizer="adam", lr=0.01, dropout=0.2),
    *(dict(optimizer=opt, lr=0.01, dtype="float32", weight_decay=1e-3)
      for opt in ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"))],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
def test_a_group_of_one_is_bit_identical_to_fit(data, options):
    """float32 included: a group holds lr and weight decay per parameter in the
    parameters' dtype, and the model alone rounds its step the same way."""
    X, y = data
    grouped, single = MLP(hidden=9, seed=5, **options), MLP(hidden=9, seed=5, **options)
    fit_group([grouped], X, y, epochs=2, batch_size=10, threads=1)
    single.fit(X, y, epochs=2, batch_size=10)
    np.testing.assert_array_equal(grouped.params, single.params)
    assert grouped.history == single.history


def test_fit_group_fills_each_models_history_as_fit_does(data):
    X, y = data
    kwargs = [dict(hidden=h, seed=h, lr=0.1) for h in (3, 8)]
    models = [MLP(**kw) for kw in kwargs]
    fit_group(models, X, y, epochs=3, batch_size=10)
    for model, kw in zip(models, kwargs):
        single = alone(X, y, 3, 10, **kw)
        assert model.history.keys() == single.history.keys() == {"epoch", "loss", "accuracy"}
        assert model.history["epoch"] == [1, 2, 3]
        np.testing.assert_allclose(model.history["loss"], single.history["loss"], rtol=1e-12)
        assert model.history["accuracy"] == single.history["accuracy"]


def test_without_history_the_same_weights_no_metrics_and_divergence_still_caught(data, monkeypatch):
    X, y = data
    kwargs = [dict(hidden=h, seed=h, lr=0.1) for h in (3, 8)]
    with_history, without = [MLP(**kw) for kw in kwargs], [MLP(**kw) for kw in kwargs]
    fit_group(with_history, X, y, epochs=3, batch_size=10)
    losses = []  # every chunk loss the epochs compute
    forward = type(without[0].loss).forward
    monkeypatch.setattr(type(without[0].loss), "forward",
                        lambda self, *a, **k: losses.append(1) or forward(self, *a, **k))
    fit_group(without, X, y, epochs=3, batch_size=10, history=False)
    assert losses == []
    for a, b in zip(with_history, without):
        np.testing.assert_array_equal(a.params, b.params)
        assert b.history == {}
    monkeypatch.undo()
    # a model whose weights overflow is still rolled back, at the epoch fit would name
    X_big = X * 1e3
    models = [MLP(hidden=8, lr=1e3, seed=0), MLP(hidden=8, lr=0.01, seed=1)]
    diverged = fit_group(models, X_big, y, epochs=3, batch_size=10, history=False)
    assert diverged[0] == 1 and diverged[1] is None
    assert np.isfinite(models[0].params).all()
    assert_same_as_alone(models[1:], [dict(hidden=8, lr=0.01, seed=1)], X_big, y, 3, 10)


def test_padding_only_where_exact(data):
    """sigmoid, dropout and batch norm models of different widths cannot share a group."""
    X, y = data
    for options in (dict(dropout=0.2), dict(batchnorm=True), dict(activation="sigmoid")):
        with pytest.raises(ValueError, match="cannot share a group"):
            fit_group([MLP(hidden=h, **options) for h in (3, 6)], X, y, epochs=1, batch_size=10)

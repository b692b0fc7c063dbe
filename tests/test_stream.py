"""scratchnet.stream: training, prediction and evaluation from data read in chunks."""
import json

import numpy as np
import pytest
from conftest import require

import scratchnet as sn
from scratchnet import datasets, io, runs, stream
from scratchnet.cli import main

pa = require("pyarrow")
pq = require("pyarrow.parquet")


@pytest.fixture(scope="module")
def blobs():
    X, y = datasets.load("blobs", n_samples=1200, centers=3, n_features=4, cluster_std=2.0, seed=3)
    return X, np.array(["ant", "bee", "cow"])[y]


def write_parquet(path, X, y=None, row_group_size=None):
    columns = {f"x{i}": X[:, i] for i in range(X.shape[1])}
    if y is not None:
        columns["label"] = y
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
    return path


def write_csv(path, X, y=None):
    head = ",".join(f"x{i}" for i in range(X.shape[1])) + (",label" if y is not None else "")
    rows = [",".join(map(repr, row)) + (f",{label}" if y is not None else "")
            for row, label in zip(X.tolist(), y if y is not None else [None] * len(X))]
    path.write_text(head + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def files(blobs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream")
    X, y = blobs
    return (write_parquet(folder / "blobs.parquet", X, y, row_group_size=250),
            write_csv(folder / "blobs.csv", X, y))


FEATURES = ["x0", "x1", "x2", "x3"]


def model(**kw):
    return sn.MLP(hidden=(16,), lr=0.1, seed=7, scale=True, **kw)


# -- the pieces --------------------------------------------------------------------------
def test_shuffle_buffer_is_bounded_and_loses_no_row(rng):
    buffer = stream.ShuffleBuffer(64, 8, rng)
    rows = np.arange(1000)
    seen = []
    for start in range(0, 1000, 37):
        for (block,) in buffer.add(rows[start:start + 37]):
            assert len(block) == 32  # half the buffer, whole batches
            seen.append(block)
    seen += [block for (block,) in buffer.drain()]
    out = np.concatenate(seen)
    assert sorted(out.tolist()) == rows.tolist()  # every row exactly once
    assert buffer.arrays[0].shape[0] == 64  # never more than the buffer's rows
    assert np.abs(out - rows).max() < 1000  # shuffled...
    assert not np.array_equal(out, rows)
    displacement = np.abs(np.argsort(out) - rows)
    assert np.median(displacement) < 64  # ...but locally: a window, not the whole file


def test_held_out_rows_are_a_hash_of_the_index():
    rows = np.arange(200_000)
    mask = stream.held_out(rows, 0.25, seed=3)
    assert abs(mask.mean() - 0.25) < 0.005
    np.testing.assert_array_equal(mask[1000:2000], stream.held_out(rows[1000:2000], 0.25, seed=3))
    assert not np.array_equal(mask, stream.held_out(rows, 0.25, seed=4))


def test_the_first_pass_learns_the_scaler_and_classes(files, blobs):
    X, y = blobs
    found = stream.scan(datasets.read_table(files[1], "label", chunk_rows=97, labels=str),
                        stream.Rows(), regression=False)
    assert found.n_rows == found.n_train == len(X)
    scaler = found.scaler()
    exact = datasets.Standardizer().fit(X)
    np.testing.assert_allclose(scaler.mean_, exact.mean_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(scaler.scale_, exact.scale_, rtol=1e-12)
    assert found.classes()[0].tolist() == ["ant", "bee", "cow"]


# -- training ------------------------------------------------------------------------------
def test_fit_stream_reproduces_itself_whatever_the_chunks(files):
    parquet, csv = files
    a = model().fit_stream(parquet, target="label", epochs=2, batch_size=16, chunk_rows=100,
                           shuffle_buffer=256, validation=0.2)
    b = model().fit_stream(csv, target="label", epochs=2, batch_size=16, chunk_rows=37,
                           shuffle_buffer=256, validation=0.2)
    np.testing.assert_array_equal(a.params, b.params)  # same seed: the same weights, bit for bit
    assert a.history == b.history and a.history["val_accuracy"][-1] > 0.8
    c = model().fit_stream(parquet, target="label", epochs=2, batch_size=16, chunk_rows=100,
                           shuffle_buffer=512, validation=0.2)
    assert not np.array_equal(a.params, c.params)  # the buffer size is part of the order


def test_fit_stream_on_chunks_in_memory(blobs):
    X, y = blobs
    chunks = [(X[i:i + 100], y[i:i + 100]) for i in range(0, len(X), 100)]
    net = model().fit_stream(chunks, epochs=3, batch_size=16, shuffle_buffer=256,
                             validation=(X[:200], y[:200]))
    assert net.history["val_accuracy"][-1] > 0.8
    assert net.evaluate(X, y)["accuracy"] > 0.8


def test_fit_stream_accuracy_is_that_of_fit(blobs):
    """On data that fits in memory, streamed training scores as in-memory training does."""
    X, y = blobs
    train, test = slice(0, 900), slice(900, None)
    chunks = [(X[i:i + 150], y[i:i + 150]) for i in range(0, 900, 150)]
    streamed, in_memory = [], []
    for seed in range(3):
        kw = dict(hidden=(16,), lr=0.05, seed=seed, scale=True)
        streamed.append(sn.MLP(**kw).fit_stream(chunks, epochs=5, batch_size=16, shuffle_buffer=300)
                        .evaluate(X[test], y[test])["accuracy"])
        in_memory.append(sn.MLP(**kw).fit(X[train], y[train], epochs=5, batch_size=16)
                         .evaluate(X[test], y[test])["accuracy"])
    assert abs(np.mean(streamed) - np.mean(in_memory)) < 0.03, (streamed, in_memory)


def test_fit_stream_refuses_bad_settings(files):
    with pytest.raises(ValueError, match="needs target="):
        model().fit_stream(files[0])
    with pytest.raises(ValueError, match=r"shuffle_buffer=10 must hold at least two batches"):
        model().fit_stream(files[0], target="label", batch_size=8, shuffle_buffer=10)
    with pytest.raises(ValueError, match=r"validation as a fraction must be in \(0, 1\)"):
        model().fit_stream(files[0], target="label", validation=1.5)
    net = model()
    with pytest.raises(ValueError, match="has no column 'nope'"):
        net.fit_stream(files[0], target="nope")
    assert not net.built


def test_partial_fit(blobs):
    X, y = blobs
    net = sn.MLP(hidden=(16,), lr=0.1, seed=0)
    with pytest.raises(ValueError, match="needs classes="):
        net.partial_fit(X[:100], y[:100])
    assert not net.built
    for epoch in range(3):
        for i in range(0, len(X), 200):
            net.partial_fit(X[i:i + 200], y[i:i + 200], classes=["ant", "bee", "cow"])
    assert net.score(X, y) > 0.8 and net.classes_.tolist() == ["ant", "bee", "cow"]
    with pytest.raises(ValueError, match="differ from those of the first call"):
        net.partial_fit(X[:10], y[:10], classes=["ant", "bee"])
    # one partial_fit is one epoch of fit's minibatch loop
    a = sn.MLP(hidden=(8,), seed=1).partial_fit(X, y, classes=np.unique(y))
    b = sn.MLP(hidden=(8,), seed=1).fit(X, y, epochs=1, batch_size=32)
    np.testing.assert_array_equal(a.params, b.params)


# -- inference --------------------------------------------------------------------------
def test_chunked_prediction_equals_whole_file_prediction(files, blobs):
    X, _ = blobs
    net = model().fit(X, blobs[1], epochs=2)
    features = [f"x{i}" for i in range(4)]
    whole_labels, whole_probs = net.predict(X), net.predict_proba(X)
    for chunk_rows in (1, 7, 500, 5000):
        chunks = datasets.read_table(files[0], features=features, chunk_rows=chunk_rows)
        labels, probs = zip(*stream.predict(net, chunks, proba=True))
        np.testing.assert_array_equal(np.concatenate(labels), whole_labels)
        assert np.concatenate(probs).tobytes() == whole_probs.tobytes()  # bit for bit
    # the model's own blocks stay fixed whatever the reader's chunks
    chunks = datasets.read_table(files[1], features=features, chunk_rows=33)
    probs = np.concatenate([p for _, p in stream.predict(net, chunks, proba=True, block_rows=100)])
    assert probs.tobytes() == net.predict_proba(X, chunk_rows=100).tobytes()


def test_streamed_evaluate_equals_runs_evaluate(files, blobs):
    X, y = blobs
    net = model().fit(X, y, epochs=2)
    scores = stream.evaluate(net, datasets.read_table(files[1], "label", chunk_rows=71))
    expected = runs.evaluate(net, X, y)
    assert scores["confusion_matrix"] == expected["confusion_matrix"]
    assert scores["accuracy"] == expected["accuracy"] and scores["n"] == len(X)
    assert scores["loss"] == pytest.approx(expected["loss"], rel=1e-12)


def test_streamed_evaluate_of_a_regressor(rng):
    X = rng.standard_normal((300, 3))
    y = X @ [1.0, -2.0, 0.5] + 0.1 * rng.standard_normal(300)
    net = sn.MLP(hidden=(8,), loss="mse", lr=0.05, seed=0).fit(X, y, epochs=5)
    scores = stream.evaluate(net, stream.chunks_of([(X[:100], y[:100]), (X[100:], y[100:])]))
    expected = runs.evaluate(net, X, y)
    for key in ("loss", "r2", "mae", "rmse"):
        assert scores[key] == pytest.approx(expected[key], rel=1e-10), key


# -- the command line ------------------------------------------------------------------------
def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_stream_resumes_bit_for_bit(capsys, files, tmp_path):
    common = ["train", "--data", files[0], "--target", "label", "--stream", "--chunk-rows", 100,
              "--shuffle-buffer", 256, "--batch-size", 16, "--hidden", 8, "--seed", 3,
              "--no-plots", "--json"]
    code, out, err = cli(capsys, *common, "--epochs", 4, "--out", tmp_path / "straight")
    assert code == 0, err
    report = json.loads(out)
    assert report["epochs_trained"] == 4 and report["test_accuracy"] > 0.8
    code, _, err = cli(capsys, *common, "--epochs", 2, "--out", tmp_path / "halves")
    assert code == 0, err
    code, out, err = cli(capsys, "train", "--resume", tmp_path / "halves", "--epochs", 4, "--json",
                         "--no-plots")
    assert code == 0, err
    straight = io.load(tmp_path / "straight" / "model.npz")
    resumed = io.load(tmp_path / "halves" / "model.npz")
    np.testing.assert_array_equal(straight.params, resumed.params)
    assert straight.history == resumed.history
    metrics = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    assert metrics["data"]["n_train"] + metrics["data"]["n_test"] == 1200
    code, out, err = cli(capsys, "evaluate", "--model", tmp_path / "straight" / "model.npz", "--json")
    assert code == 0, err
    assert json.loads(out)["accuracy"] == metrics["test"]["accuracy"]


def test_train_with_a_test_file(capsys, files, blobs, tmp_path):
    X, y = blobs
    test = write_parquet(tmp_path / "test.parquet", X[:300], y[:300])
    for mode in ([], ["--stream"]):
        code, out, err = cli(capsys, "train", "--data", files[1], "--target", "label", "--test-data",
                             test, *mode, "--epochs", 2, "--no-plots", "--json", "--out",
                             tmp_path / f"r{len(mode)}")
        assert code == 0, err
        metrics = json.loads((tmp_path / f"r{len(mode)}" / "metrics.json").read_text())
        assert metrics["data"]["n_test"] == 300 and metrics["data"]["n_train"] == 1200


def test_predict_streams_and_equals_the_python_api(capsys, files, blobs, tmp_path):
    X, y = blobs
    net = model().fit(X, y, epochs=2)
    sn.save(net, tmp_path / "m.npz", training={"data": {"features": FEATURES}})
    data = write_parquet(tmp_path / "new.parquet", X)
    code, out, err = cli(capsys, "predict", "--model", tmp_path / "m.npz", "--data", data,
                         "--proba", "--chunk-rows", 50)
    assert code == 0, err
    assert out == runs.predictions_csv(net.predict(X), net.predict_proba(X), net.classes_)
    code, _, err = cli(capsys, "predict", "--model", tmp_path / "m.npz", "--data", data, "--proba",
                       "--output", tmp_path / "p.parquet")
    assert code == 0, err
    table = pq.read_table(tmp_path / "p.parquet")
    assert table.column("prediction").to_pylist() == net.predict(X).tolist()
    assert np.asarray(table.column("proba_bee")).tobytes() == net.predict_proba(X)[:, 1].tobytes()


def test_a_bad_row_in_chunk_37_leaves_the_earlier_output(capsys, blobs, tmp_path):
    X, y = blobs
    net = model().fit(X, y, epochs=1)
    sn.save(net, tmp_path / "m.npz", training={"data": {"features": FEATURES}})
    lines = ["x0,x1,x2,x3"] + [",".join(map(repr, row)) for row in X.tolist()]
    (tmp_path / "good.csv").write_text("\n".join(lines) + "\n")
    lines[1 + 36 * 30 + 5] = "1,2,oops,4"  # data row 1,086: chunk 37 of 30-row chunks
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    code, _, err = cli(capsys, "predict", "--model", tmp_path / "m.npz", "--data", tmp_path / "good.csv",
                       "--output", tmp_path / "p.csv")
    assert code == 0, err
    before = (tmp_path / "p.csv").read_bytes()
    code, out, err = cli(capsys, "predict", "--model", tmp_path / "m.npz", "--data", tmp_path / "bad.csv",
                         "--output", tmp_path / "p.csv", "--chunk-rows", 30)
    assert code == 2 and out == ""
    assert "line 1087: column 'x2' has the non-numeric value 'oops'" in err
    assert len(err.strip().splitlines()) == 1
    assert (tmp_path / "p.csv").read_bytes() == before  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "good.csv", "m.npz", "p.csv"]


@pytest.mark.parametrize("columns, message", [
    ({"x0": [1.0], "x1": [2.0]}, "lacks the feature column(s) x2, x3"),
    ({"x0": [1.0], "x1": ["a"], "x2": [1.0], "x3": [1.0]}, "row 1: column 'x1' has the non-numeric value 'a'"),
    ({"x0": [1.0], "x1": [[1.0]], "x2": [1.0], "x3": [1.0]}, "column 'x1' holds list<element: double> values, not numbers"),
    ("truncated", "is not a readable Parquet file"),
])
def test_parquet_errors_are_one_line_exit_2(capsys, blobs, tmp_path, columns, message):
    X, y = blobs
    net = model().fit(X, y, epochs=1)
    sn.save(net, tmp_path / "m.npz", training={"data": {"features": FEATURES}})
    path = tmp_path / "d.parquet"
    if columns == "truncated":
        write_parquet(path, X, blobs[1])
        path.write_bytes(path.read_bytes()[:1000])
    else:
        pq.write_table(pa.table({**columns, "label": ["ant"]}), path)
    for command in (["predict", "--output", tmp_path / "p.csv"], ["evaluate", "--target", "label"]):
        code, out, err = cli(capsys, command[0], "--model", tmp_path / "m.npz", "--data", path, *command[1:])
        assert code == 2 and out == "", err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "p.csv").exists()
    code, _, err = cli(capsys, "train", "--data", path, "--target", "x0", "--stream", "--out", tmp_path / "r")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_stream_flags_are_refused_where_they_do_not_apply(capsys, files):
    code, _, err = cli(capsys, "train", "--data", files[0], "--target", "label", "--chunk-rows", 10)
    assert code == 2 and "--chunk-rows apply to streamed training: add --stream" in err
    code, _, err = cli(capsys, "train", "--data", "iris", "--stream")
    assert code == 2 and "--stream reads a .csv or .parquet file" in err
    code, _, err = cli(capsys, "train", "--data", files[0], "--target", "label", "--stream",
                       "--trials", 3)
    assert code == 2 and "--trials do not apply to streamed training" in err


# -- Dask ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client():
    distributed = require("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def test_fit_stream_on_a_cluster_equals_a_local_run(client, files):
    kw = dict(target="label", epochs=2, batch_size=16, chunk_rows=150, shuffle_buffer=256,
              validation=0.2)
    local = model().fit_stream(files[0], **kw)
    remote = model().fit_stream(files[0], client=client, **kw)
    np.testing.assert_array_equal(local.params, remote.params)
    assert local.history == remote.history


def test_dask_ml_incremental_trains_the_estimators_and_mlp(client, blobs):
    da = require("dask.array")
    wrappers = require("dask_ml.wrappers")
    from scratchnet.sklearn import MLPClassifier

    X, y = blobs
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    dX, dy = da.from_array(X, chunks=200), da.from_array(y, chunks=200)
    classes = np.unique(y)
    for estimator in (MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0),
                      sn.MLP(hidden=(16,), lr=0.1, seed=0)):
        inc = wrappers.Incremental(estimator, shuffle_blocks=False)
        for _ in range(3):
            inc.partial_fit(dX, dy, classes=classes)
        assert inc.score(X, y) > 0.8, type(estimator).__name__
        assert inc.predict(dX).compute().shape == (len(X),)


def test_early_stopping_in_fit_stream_keeps_the_best_epochs_weights():
    """fit_stream runs the one epoch loop, so callbacks get on_train_begin/on_train_end
    as in fit: EarlyStopping ends the model at its best epoch, not its last."""
    from scratchnet.callbacks import EarlyStopping
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 5))
    y = (X[:, 0] + 0.8 * rng.standard_normal(400) > 0).astype(int)
    X_val = rng.standard_normal((200, 5))
    y_val = (X_val[:, 0] + 0.8 * rng.standard_normal(200) > 0).astype(int)
    net = sn.MLP(hidden=(32,), seed=0, lr=1.0, optimizer="sgd")
    stop = EarlyStopping(patience=3)
    stream.fit_stream(net, [(X[:200], y[:200]), (X[200:], y[200:])], epochs=30, batch_size=8,
                      validation=(X_val, y_val), callbacks=[stop])
    val_loss = net.history["val_loss"]
    assert stop.best_epoch < len(val_loss) < 30  # it stopped, after a worse epoch
    assert net.evaluate(X_val, y_val)["loss"] == pytest.approx(val_loss[stop.best_epoch - 1], rel=1e-12)
    assert net.evaluate(X_val, y_val)["loss"] < val_loss[-1]

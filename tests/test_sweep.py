"""Sweeps: grids, random search, planning into groups, saving, resuming, Dask."""
import json

import numpy as np
import pytest
from conftest import require

from scratchnet import MLP
from scratchnet import sweep as sw
from scratchnet.cli import main


@pytest.fixture(scope="module")
def small(moons):
    X_train, X_test, y_train, y_test = moons
    return X_train[:400], y_train[:400], X_test[:200], y_test[:200]


def test_grid_is_the_cartesian_product():
    points = sw.grid(hidden=range(3, 6), lr=[0.1, 0.01], activation="relu")
    assert len(points) == 6
    assert points[0] == {"hidden": 3, "lr": 0.1, "activation": "relu"}
    assert {p["hidden"] for p in points} == {3, 4, 5}
    with pytest.raises(ValueError, match="unknown sweep axis 'color'"):
        sw.grid(color=[1])
    with pytest.raises(ValueError, match="no values"):
        sw.grid(hidden=[])


def test_random_search_draws_log_uniform_and_choices():
    points = sw.random_search(200, seed=0, lr=sw.LogUniform(1e-4, 1e-1), hidden=range(8, 65),
                              activation=["relu", "tanh"], epochs=5)
    lrs = np.array([p["lr"] for p in points])
    assert lrs.min() >= 1e-4 and lrs.max() <= 1e-1
    # log-uniform: about a third of the draws in each decade
    assert 40 < np.sum(lrs < 1e-3) < 95 and 40 < np.sum(lrs > 1e-2) < 95
    assert {p["activation"] for p in points} == {"relu", "tanh"}
    assert all(8 <= p["hidden"] < 65 and p["epochs"] == 5 for p in points)
    assert sw.random_search(5, seed=1, lr=sw.LogUniform(1e-3, 1)) == \
        sw.random_search(5, seed=1, lr=sw.LogUniform(1e-3, 1))
    with pytest.raises(ValueError, match="0 < low < high"):
        sw.LogUniform(0, 1)


def test_parse_axis_follows_python_ranges():
    assert sw.parse_axis("hidden", ["3:40"]) == list(range(3, 40))
    assert sw.parse_axis("hidden", ["3:10:3", "64,32"]) == [3, 6, 9, (64, 32)]
    assert sw.parse_axis("lr", ["0.1", "1e-2"]) == [0.1, 0.01]
    assert sw.parse_axis("lr", ["1e-4:1e-1"], random=True) == sw.LogUniform(1e-4, 1e-1)
    assert sw.parse_axis("activation", ["relu", "tanh"]) == ["relu", "tanh"]
    with pytest.raises(ValueError, match="--random"):
        sw.parse_axis("lr", ["1e-4:1e-1"])
    with pytest.raises(ValueError, match="--hidden: cannot read 'x'"):
        sw.parse_axis("hidden", ["x"])
    with pytest.raises(ValueError, match="no values"):
        sw.parse_axis("hidden", ["5:3"])


def test_plan_gives_each_model_its_own_reproducible_seed():
    specs = sw.plan(sw.grid(hidden=[4, 8], depth=[1, 2]), trials=3, seed=7, settings={"epochs": 1})
    assert len(specs) == 12
    assert len({s["seed"] for s in specs}) == 12
    assert specs[0]["hidden"] == (4,) and specs[3]["hidden"] == (4, 4)
    assert specs == sw.plan(sw.grid(hidden=[4, 8], depth=[1, 2]), 3, 7, {"epochs": 1})
    assert sw.model_seed(7, 1, 2) != sw.model_seed(8, 1, 2)
    with pytest.raises(ValueError, match="unknown settings"):
        sw.plan([{}], 1, 0, {"colour": 1})
    with pytest.raises(ValueError, match="depth=2 but hidden"):
        sw.plan([{"hidden": (3, 4, 5), "depth": 2}], 1, 0, {})


def test_incompatible_points_form_separate_groups():
    settings = {"epochs": 1, "batch_size": 10}
    points = sw.grid(hidden=range(3, 9), batch_size=[10, 20], depth=[1, 2])
    groups = sw.make_groups(sw.plan(points, 2, 0, settings), group_size=100)
    assert len(groups) == 4  # (batch size, depth) pairs; widths share by padding
    for g in groups:
        assert len({(s["batch_size"], len(s["hidden"])) for s in g["specs"]}) == 1
    small = sw.make_groups(sw.plan(points, 2, 0, settings), group_size=5)
    assert sum(len(g["specs"]) for g in small) == 48 and max(len(g["specs"]) for g in small) <= 5
    assert [g["id"] for g in small] == [g["id"] for g in sw.make_groups(
        sw.plan(points, 2, 0, settings), group_size=5)]
    sigmoid = sw.make_groups(sw.plan(sw.grid(hidden=[3, 4], activation="sigmoid"), 2, 0, settings))
    assert len(sigmoid) == 2  # sigmoid(0) != 0: no padding, one group per width


def test_sweep_rows_match_models_trained_alone(small, tmp_path):
    X_train, y_train, X_test, y_test = small
    result = sw.sweep(X_train, y_train, X_test, y_test, sw.grid(hidden=[3, 9], lr=[1e-4, 3e-4]),
                      trials=2, seed=5, preset="seed", epochs=3, out=tmp_path / "s")
    assert len(result.rows) == 8
    assert [(r["point"], r["trial"]) for r in result.rows] == [(p, t) for p in range(4) for t in range(2)]
    for row in result.rows[::3]:
        model = MLP(seed=row["seed"], hidden=row["hidden"], lr=row["lr"], init="normal",
                    reduction="sum").fit(X_train, y_train, epochs=3, batch_size=10)
        assert model.evaluate(X_test, y_test)["accuracy"] == row["test_accuracy"]
        assert model.evaluate(X_train, y_train)["loss"] == pytest.approx(row["train_loss"], abs=1e-12)
    saved = json.loads((tmp_path / "s" / "results.json").read_text())
    assert saved["config"]["seed"] == 5
    csv_lines = (tmp_path / "s" / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 9 and "test_accuracy" in csv_lines[0]
    best = result.best(2)
    assert best[0]["mean"] >= best[1]["mean"]
    assert {s["point"] for s in result.summary()} == {0, 1, 2, 3}


def test_resume_skips_finished_groups_and_refuses_another_sweep(small, tmp_path, monkeypatch):
    X_train, y_train, X_test, y_test = small
    points = sw.grid(hidden=range(3, 9))
    kwargs = dict(trials=2, seed=1, epochs=1, batch_size=20, out=tmp_path, group_size=4)
    calls = []
    real = sw.train_group

    def failing_after_two(specs, *args, **kw):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(len(specs))
        return real(specs, *args, **kw)

    monkeypatch.setattr(sw, "train_group", failing_after_two)
    with pytest.raises(KeyboardInterrupt):
        sw.sweep(X_train, y_train, X_test, y_test, points, **kwargs)
    kept = json.loads((tmp_path / "results.json").read_text())
    assert sum(len(rows) for rows in kept["groups"].values()) == 8  # two groups of 4 saved
    monkeypatch.setattr(sw, "train_group", real)
    with pytest.raises(ValueError, match="already holds sweep results"):
        sw.sweep(X_train, y_train, X_test, y_test, points, **kwargs)
    resumed = sw.sweep(X_train, y_train, X_test, y_test, points, resume=True, **kwargs)
    assert resumed.skipped_groups == 2 and len(resumed.rows) == 12
    fresh = sw.sweep(X_train, y_train, X_test, y_test, points, **dict(kwargs, out=None))
    assert [r["test_accuracy"] for r in resumed.rows] == [r["test_accuracy"] for r in fresh.rows]
    with pytest.raises(ValueError, match="different sweep"):
        sw.sweep(X_train, y_train, X_test, y_test, points, resume=True, **dict(kwargs, trials=3))


def test_models_that_cannot_share_a_group_train_alone(small):
    X_train, y_train, X_test, y_test = small
    result = sw.sweep(X_train, y_train, X_test, y_test, [{"hidden": 4}], trials=2, seed=0,
                      epochs=1, batch_size=20, dropout=0.1)
    assert len(result.rows) == 2
    row = result.rows[1]
    model = MLP(seed=row["seed"], hidden=4, dropout=0.1).fit(X_train, y_train, epochs=1, batch_size=20)
    assert model.evaluate(X_test, y_test)["accuracy"] == row["test_accuracy"]


def test_trials_uses_the_group_engine_and_matches_alone(small):
    X_train, y_train, X_test, y_test = small
    result = sw.trials(X_train, y_train, X_test, y_test, n=4, seed=3, hidden=5, lr=1e-4,
                       init="normal", reduction="sum", epochs=2, batch_size=10)
    assert set(result) == {"accuracies", "mean", "std", "trials", "seconds"}
    for child, acc in zip(sw.trial_seeds(3, 4), result["accuracies"]):
        model = MLP(hidden=5, lr=1e-4, init="normal", reduction="sum", seed=child)
        model.fit(X_train, y_train, epochs=2, batch_size=10)
        assert model.evaluate(X_test, y_test)["accuracy"] == acc
    with pytest.raises(ValueError, match="trials must be a positive integer"):
        sw.trials(X_train, y_train, X_test, y_test, n=0)


def test_local_dask_cluster_gives_the_same_rows(small):
    distributed = require("distributed")
    X_train, y_train, X_test, y_test = small
    points = sw.grid(hidden=[3, 6, 12], lr=[1e-3, 1e-2])
    kwargs = dict(trials=2, seed=4, epochs=2, batch_size=20, group_size=3)
    local = sw.sweep(X_train, y_train, X_test, y_test, points, **kwargs)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp", host="127.0.0.1", scheduler_port=0,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = sw.sweep(X_train, y_train, X_test, y_test, points, client=client, **kwargs)
    assert len(remote.rows) == len(local.rows) == 12
    strip = lambda r: {k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
    assert [strip(r) for r in remote.rows] == [strip(r) for r in local.rows]


def test_cli_sweep_writes_results_plot_and_json(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["sweep", "--hidden", "3:6", "--trials", "2", "--epochs", "1", "--batch-size", "50",
            "--preset", "seed", "--seed", "0", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "6 models" in text and "hidden=" in text
    assert {p.name for p in out.iterdir()} >= {"results.csv", "results.json", "sweep.png"}
    assert main(argv + ["--resume", "--json", "--no-plot"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["models"] == 6 and report["skipped_groups"] == 1 and len(report["points"]) == 3
    assert main(argv) == 2
    assert "already holds sweep results" in capsys.readouterr().err
    assert main(["sweep", "--lr", "1e-4:1e-1", "--out", str(tmp_path / "x")]) == 2
    assert "--random" in capsys.readouterr().err


def test_cli_random_search(tmp_path, capsys):
    argv = ["sweep", "--random", "4", "--lr", "1e-3:1e-1", "--hidden", "4:9", "--epochs", "1",
            "--batch-size", "100", "--seed", "2", "--out", str(tmp_path), "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["models"] == 4
    lrs = [p["lr"] for p in report["points"]]
    assert all(1e-3 <= lr <= 1e-1 for lr in lrs) and len(set(lrs)) == 4


def test_regularisation_and_loss_axes_train_in_groups(moons, tmp_path):
    """dropout, batch norm, loss, clipnorm and label smoothing are sweep axes whose
    models train in groups (group_size > 1), each equal to the same model alone."""
    from scratchnet import MLP
    from scratchnet.sweep import grid, sweep

    X_train, X_test, y_train, y_test = moons
    X_train, y_train = X_train[:200], y_train[:200]
    points = grid(hidden=[6], dropout=[0.0, 0.2], batchnorm=[False, True],
                  loss=["softmax_cross_entropy", "binary_cross_entropy"], clipnorm=[1.0],
                  label_smoothing=[0.0])
    result = sweep(X_train, y_train, X_test, y_test, points, trials=3, seed=0, epochs=2,
                   batch_size=20, threads=1)
    assert len(result.rows) == 8 * 3
    assert {row["group_size"] for row in result.rows} == {3}
    row = next(r for r in result.rows if r["dropout"] == 0.2 and r["batchnorm"])
    settings = {k: row[k] for k in ("dropout", "batchnorm", "loss", "clipnorm", "label_smoothing")}
    single = MLP(hidden=(6,), seed=row["seed"], **settings).fit(X_train, y_train, epochs=2,
                                                                 batch_size=20)
    assert row["test_accuracy"] == single.evaluate(X_test, y_test)["accuracy"]


def test_sweep_cli_takes_the_new_axes(tmp_path):
    from scratchnet.cli import main

    out = tmp_path / "s"
    code = main(["sweep", "--hidden", "4", "--dropout", "0", "0.1", "--batchnorm", "off", "on",
                 "--clipnorm", "1", "--label-smoothing", "0.1", "--epochs", "1", "--trials", "2",
                 "--seed", "0", "--out", str(out), "--no-plot", "--json"])
    assert code in (0, None)
    from scratchnet.sweep import load_results

    rows = load_results(out).rows
    assert len(rows) == 8 and all(r["group_size"] == 2 for r in rows)

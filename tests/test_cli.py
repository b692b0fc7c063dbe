"""The CLI in-process (fast); tests/e2e runs it as a subprocess."""
import json

import numpy as np
import pytest

from scratchnet import io
from scratchnet.cli import main
from scratchnet.plots import png_size


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_train_json_keys_and_run_folder(capsys, in_tmp):
    out = run_json(capsys, "train", "--epochs", "2", "--no-plots")
    assert {"test_accuracy_mean", "test_accuracy_std", "trials", "seconds"} <= set(out)
    assert out["trials"] == 1 and out["test_accuracy_mean"] > 0.9
    run_dir = in_tmp / out["run_dir"]
    assert run_dir.parent == in_tmp / "runs"
    assert {p.name for p in run_dir.iterdir()} == {"model.npz", "history.csv", "metrics.json"}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] == out["test_accuracy"]
    assert np.sum(metrics["test"]["confusion_matrix"]) == 1250
    assert metrics["config"]["settings"]["epochs"] == 2 and metrics["library_version"]
    assert (run_dir / "history.csv").read_text().splitlines()[0] == \
        "epoch,loss,accuracy,val_loss,val_accuracy"


def test_train_trials_reports_statistics(capsys):
    out = run_json(capsys, "train", "--trials", "3", "--epochs", "1", "--hidden", "8", "--seed", "0")
    assert out["trials"] == 3 and len(out["test_accuracies"]) == 3
    assert out["test_accuracy_std"] == pytest.approx(np.std(out["test_accuracies"]))


@pytest.mark.parametrize("options", [
    (),
    ("--data", "iris", "--scale", "--dropout", "0.2", "--batchnorm", "--optimizer", "adam",
     "--lr", "0.01", "--validation-split", "0.2", "--batch-size", "16"),
])
def test_resume_to_more_epochs_equals_one_longer_run(capsys, in_tmp, options):
    """3 epochs, then resumed to 6, ends where 6 epochs straight end: optimizer state,
    dropout and shuffle streams, BatchNorm statistics and the scaler all come back."""
    common = ("--seed", "5", "--hidden", "16", "--no-plots", "--quiet", *options)
    assert run(capsys, "train", "--epochs", "3", "--out", "a", *common)[0] == 0
    assert run(capsys, "train", "--resume", "a", "--epochs", "6", "--no-plots", "--quiet")[0] == 0
    assert run(capsys, "train", "--epochs", "6", "--out", "b", *common)[0] == 0
    a, b = io.load(in_tmp / "a" / "model.npz"), io.load(in_tmp / "b" / "model.npz")
    np.testing.assert_array_equal(a.params, b.params)
    assert a.history == b.history
    code, _, err = run(capsys, "train", "--resume", "a")
    assert code == 2 and "already trained 6 of 6 epochs" in err
    code, _, err = run(capsys, "train", "--resume", "a", "--epochs", "9", "--lr", "0.5")
    assert code == 2 and "drop --lr" in err


def test_config_file_with_command_line_overrides(capsys, in_tmp):
    (in_tmp / "run.toml").write_text(
        'epochs = 1\nhidden = [8, 4]\nno-plots = true\n[train]\nlr = 0.05\nbatch_size = 50\n')
    out = run_json(capsys, "train", "--config", "run.toml", "--lr", "0.1", "--out", "r")
    assert out["settings"]["hidden"] == [8, 4] and out["settings"]["batch_size"] == 50
    assert out["settings"]["lr"] == 0.1  # the command line wins
    assert out["epochs_trained"] == 1


@pytest.mark.parametrize("toml, message", [
    ("epochz = 3\n", "unknown setting 'epochz'"),
    ("epochs = 0.5\n", "epochs has an invalid value"),
    ("no_plots = 1\n", "must be true or false"),
    ("preset = 'fast'\n", "preset must be one of"),
    ("epochs = [\n", "not valid TOML"),
    ("[trian]\nepochs = 1\n", "[trian] is not a command"),
])
def test_bad_config_files(capsys, in_tmp, toml, message):
    (in_tmp / "bad.toml").write_text(toml)
    code, out, err = run(capsys, "train", "--config", "bad.toml")
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["train", "--epochs", "x"], "invalid int value"),
    (["train", "--trials", "0"], "--trials must be an integer >= 1"),
    (["train", "--data", "mnist"], "--data must be one of"),
    (["train", "--data", "d.csv"], "needs --target"),
    (["train", "--lr", "-1", "--out", "neg"], "lr must be > 0"),
    (["predict", "--data", "x.csv"], "--model is required"),
    (["summary", "--model", "nothing.npz"], "no model file"),
    (["plot", "nowhere"], "not a finished run folder"),
    (["frobnicate"], "invalid choice"),
    (["train", "--data", "iris", "--early-stopping", "3"], "--early-stopping needs --validation-split"),
    (["train", "--trials", "3", "--checkpoint-every", "1"], "--checkpoint-every apply to a single run"),
    (["train", "--data", "iris", "--target", "species"], "--target applies to a CSV file"),
])
def test_errors_are_one_line_with_exit_code_2(capsys, in_tmp, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (in_tmp / "runs").exists() and not (in_tmp / "neg").exists()


def test_out_folder_must_be_new(capsys, in_tmp):
    (in_tmp / "full").mkdir()
    (in_tmp / "full" / "keep.txt").write_text("mine")
    code, _, err = run(capsys, "train", "--out", "full")
    assert code == 2 and "not empty" in err
    assert [p.name for p in (in_tmp / "full").iterdir()] == ["keep.txt"]


def test_evaluate_summary_predict_and_plot(capsys, in_tmp):
    run_json(capsys, "train", "--epochs", "2", "--hidden", "8", "--out", "r", "--seed", "1")
    model = io.load(in_tmp / "r" / "model.npz")
    ev = run_json(capsys, "evaluate", "--model", "r/model.npz")
    assert ev["data"] == "the test split of moons" and ev["n"] == 1250
    assert ev["accuracy"] == json.loads((in_tmp / "r" / "metrics.json").read_text())["test"]["accuracy"]
    summary = run_json(capsys, "summary", "--model", "r/model.npz")
    assert summary["n_parameters"] == model.params.size == 8 * 3 + 2 * 9
    assert summary["training"]["settings"]["hidden"] == [8]
    code, text, _ = run(capsys, "summary", "--model", "r/model.npz")
    assert "total parameters: 42" in text
    X = np.array([[0.0, 1.0], [1.5, -0.5], [0.3, 0.2]])
    (in_tmp / "new.csv").write_text("x2,x1\n" + "".join(f"{b},{a}\n" for a, b in X))
    pred = run_json(capsys, "predict", "--model", "r/model.npz", "--data", "new.csv", "--proba")
    assert pred["predictions"] == model.predict(X).tolist()
    np.testing.assert_array_equal(pred["probabilities"], model.predict_proba(X))
    for png in (in_tmp / "r").glob("*.png"):
        png.unlink()
    files = run_json(capsys, "plot", "r")["files"]
    assert sorted(p.rsplit("/", 1)[1] for p in files if p.endswith(".png")) == \
        ["confusion_matrix.png", "curves.png", "decision_boundary.png"]
    for path in files:
        if path.endswith(".png"):
            assert png_size(in_tmp / path) == (640, 480)
        else:
            assert (in_tmp / path).read_text().startswith("<?xml")


def test_reproduce_quick(capsys, in_tmp):
    out = run_json(capsys, "reproduce", "--quick", "--out", "rep")
    report = (in_tmp / "rep" / "report.md").read_text()
    for figure in ("0.94541 ± 0.019558", "0.9496", "0.98"):
        assert figure in report
    assert out["seed_preset"]["trials"] == 5 and 0.5 < out["default"]["mean"] <= 1
    assert len(out["sweep"]["mean"]) == len(out["sizes"]["sweep_hidden"])
    assert {"sweep.png", "boundary_tutorial.png", "boundary_default.png"} <= set(out["plots"])
    assert "![sweep](sweep.png)" in report


def test_regression_on_a_csv(capsys, in_tmp):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 2)) * [1, 30]
    y = X[:, 0] ** 2 + 0.05 * X[:, 1]
    (in_tmp / "reg.csv").write_text("a,b,y\n" + "".join(f"{a},{b},{t}\n" for (a, b), t in zip(X, y)))
    out = run_json(capsys, "train", "--data", "reg.csv", "--target", "y", "--loss", "mse", "--scale",
                   "--optimizer", "adam", "--lr", "0.01", "--hidden", "32", "--epochs", "30",
                   "--seed", "0", "--out", "r")
    assert out["test_accuracy"] is None and out["test_r2"] > 0.8
    assert {p.name for p in (in_tmp / "r").glob("*.png")} == {"curves.png"}
    model = io.load(in_tmp / "r" / "model.npz")
    pred = run_json(capsys, "predict", "--model", "r/model.npz", "--data", "reg.csv")
    np.testing.assert_array_equal(pred["predictions"], model.predict(X))
    ev = run_json(capsys, "evaluate", "--model", "r/model.npz", "--data", "reg.csv")
    assert ev["n"] == 200 and ev["r2"] > 0.8 and ev["rmse"] == pytest.approx(ev["loss"] ** 0.5)
    code, _, err = run(capsys, "predict", "--model", "r/model.npz", "--data", "reg.csv", "--proba")
    assert code == 2 and "--proba is for classifiers" in err
    (in_tmp / "text.csv").write_text("a,y\n1,low\n2,high\n3,low\n4,high\n")
    code, _, err = run(capsys, "train", "--data", "text.csv", "--target", "y", "--loss", "mse")
    assert code == 2 and "needs a numeric target" in err


def test_one_config_file_for_several_commands(capsys, in_tmp):
    (in_tmp / "run.toml").write_text('epochs = 1\nhidden = [8]\nno_plots = true\nout = "r"\n'
                                     '[summary]\nmodel = "r/model.npz"\n')
    assert run_json(capsys, "train", "--config", "run.toml")["epochs_trained"] == 1
    assert run_json(capsys, "summary", "--config", "run.toml")["config"]["hidden"] == [8]


def test_early_stopping_on_a_validation_split(capsys, in_tmp):
    out = run_json(capsys, "train", "--data", "iris", "--epochs", "300", "--early-stopping", "2",
                   "--validation-split", "0.3", "--seed", "0", "--no-plots", "--out", "r")
    assert out["epochs_trained"] < 300
    metrics = json.loads((in_tmp / "r" / "metrics.json").read_text())
    assert metrics["data"]["validation"] == "34 training rows held out"
    assert len(io.load(in_tmp / "r" / "model.npz").history["val_loss"]) == out["epochs_trained"]


def test_trials_report_the_seed_that_repeats_them(capsys):
    first = run_json(capsys, "train", "--trials", "2", "--epochs", "1")
    again = run_json(capsys, "train", "--trials", "2", "--epochs", "1", "--seed", str(first["seed"]))
    assert again["test_accuracies"] == first["test_accuracies"]


def test_written_files_follow_the_umask(capsys, in_tmp):
    import os

    old = os.umask(0o022)
    try:
        run_json(capsys, "train", "--epochs", "1", "--out", "r", "--no-plots")
    finally:
        os.umask(old)
    assert (in_tmp / "r" / "model.npz").stat().st_mode & 0o777 == 0o644
    (in_tmp / "rows.csv").write_text("x1,x2\n0.5,0.5\n")
    code, _, err = run(capsys, "predict", "--model", "r/model.npz", "--data", "rows.csv",
                       "--output", "nodir/p.csv")
    assert code == 2 and "No such folder: nodir" in err and ".tmp" not in err


def test_a_failed_run_keeps_the_empty_folder_the_user_made(capsys, in_tmp):
    (in_tmp / "mine").mkdir()
    code, _, err = run(capsys, "train", "--out", "mine", "--lr", "1e6", "--epochs", "3")
    assert code == 2 and "diverged" in err
    assert (in_tmp / "mine").is_dir() and not any((in_tmp / "mine").iterdir())
    code, _, _ = run(capsys, "train", "--out", "made/here", "--lr", "1e6", "--epochs", "3")
    assert code == 2 and not (in_tmp / "made").exists()


@pytest.mark.parametrize("extra, flag", [(["--data", "iris"], "--data"), (["--test-size", "0.5"], "--test-size"),
                                         (["--trials", "3"], "--trials"),
                                         (["--checkpoint-every", "1"], "--checkpoint-every")])
def test_resume_refuses_settings_it_would_ignore(capsys, in_tmp, extra, flag):
    run_json(capsys, "train", "--epochs", "1", "--out", "r", "--no-plots")
    code, _, err = run(capsys, "train", "--resume", "r", "--epochs", "2", *extra)
    assert code == 2 and f"drop {flag}" in err

"""The ``scratchnet`` command run as a user runs it: a subprocess, on small data."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from scratchnet import io
from scratchnet.plots import png_size


def scratchnet(*args, cwd, check=True):
    proc = subprocess.run([sys.executable, "-m", "scratchnet.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def write_csv(path, X, y=None, names=None, target="label"):
    names = names or [f"f{i}" for i in range(X.shape[1])]
    header = names + ([target] if y is not None else [])
    rows = [[repr(float(v)) for v in row] + ([str(y[i])] if y is not None else [])
            for i, row in enumerate(X)]
    path.write_text("\n".join(",".join(r) for r in [header] + rows) + "\n")


@pytest.fixture(scope="module")
def csv_data(tmp_path_factory):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((240, 3))
    y = np.where(X[:, 0] * X[:, 1] > 0, "same", "diff")
    folder = tmp_path_factory.mktemp("data")
    write_csv(folder / "train.csv", X, y)
    X_new = rng.standard_normal((25, 3))
    write_csv(folder / "new.csv", X_new[:, ::-1], names=["f2", "f1", "f0"])  # columns by name
    return folder, X_new


@pytest.fixture(scope="module")
def trained(csv_data):
    folder, _ = csv_data
    scratchnet("train", "--data", folder / "train.csv", "--target", "label", "--hidden", "16",
               "--epochs", "15", "--batch-size", "16", "--seed", "3", "--out", folder / "run",
               cwd=folder)
    return folder / "run"


def test_train_writes_a_complete_run_folder(trained):
    names = {p.name for p in trained.iterdir()}
    assert {"model.npz", "history.csv", "metrics.json", "curves.png", "curves.svg",
            "confusion_matrix.png", "confusion_matrix.svg"} <= names
    assert "decision_boundary.png" not in names  # 3 features: no 2-D boundary
    assert not [n for n in names if n.endswith(".tmp") or n == "checkpoint.npz"]
    for png in trained.glob("*.png"):
        assert png_size(png) == (640, 480)
    model = io.load(trained / "model.npz")
    assert model.classes_.tolist() == ["diff", "same"] and len(model.history["loss"]) == 15


def test_predict_matches_the_python_api(trained, csv_data):
    folder, X_new = csv_data
    model = io.load(trained / "model.npz")
    scratchnet("predict", "--model", trained / "model.npz", "--data", folder / "new.csv", "--proba",
               "--output", folder / "preds.csv", cwd=folder)
    lines = (folder / "preds.csv").read_text().splitlines()
    assert lines[0] == "prediction,proba_diff,proba_same"
    rows = [line.split(",") for line in lines[1:]]
    assert [r[0] for r in rows] == model.predict(X_new).tolist()  # original labels, row order
    np.testing.assert_array_equal(np.array([r[1:] for r in rows], dtype=float),
                                  model.predict_proba(X_new))
    stdout = scratchnet("predict", "--model", trained / "model.npz", "--data", folder / "new.csv",
                        cwd=folder).stdout
    assert stdout.splitlines()[1:] == [r[0] for r in rows]


SIGNAL_RUN = ["--seed", "11", "--hidden", "16", "--epochs", "60", "--batch-size", "50",
              "--no-plots", "--quiet"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference run, in-process: the command line's own code, without a restart."""
    from scratchnet.cli import main

    out = tmp_path_factory.mktemp("whole") / "run"
    assert main(["train", *SIGNAL_RUN, "--out", str(out)]) == 0
    return io.load(out / "model.npz")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_a_checkpoint_and_resume_gives_identical_weights(tmp_path, sig, uninterrupted):
    cmd = [sys.executable, "-m", "scratchnet.cli", "train", *SIGNAL_RUN, "--checkpoint-every", "1",
           "--out", "cut"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoint = tmp_path / "cut" / "checkpoint.npz"
    deadline = time.monotonic() + 60
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert "checkpoint saved" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    stopped_at = len(io.load(checkpoint).history["loss"])
    assert 1 <= stopped_at < 60
    assert not (tmp_path / "cut" / "model.npz").exists()
    scratchnet("train", "--resume", "cut", "--no-plots", "--quiet", cwd=tmp_path)
    resumed = io.load(tmp_path / "cut" / "model.npz")
    np.testing.assert_array_equal(resumed.params, uninterrupted.params)
    assert resumed.history == uninterrupted.history
    assert not checkpoint.exists()  # the finished model.npz supersedes it


@pytest.mark.parametrize("damage", ["corrupted", "truncated"])
def test_damaged_model_file(trained, csv_data, tmp_path, damage):
    folder, _ = csv_data
    data = bytearray((trained / "model.npz").read_bytes())
    if damage == "truncated":
        data = data[: len(data) * 2 // 3]
    else:
        data[len(data) // 3: len(data) // 3 + 100] = os.urandom(100)
    bad = tmp_path / "model.npz"
    bad.write_bytes(bytes(data))
    for command in (["predict", "--data", folder / "new.csv", "--output", tmp_path / "p.csv"],
                    ["evaluate", "--data", folder / "train.csv"], ["summary"]):
        proc = scratchnet(command[0], "--model", bad, *command[1:], cwd=tmp_path, check=False)
        assert proc.returncode == 2 and proc.stdout == ""
        assert len(proc.stderr.strip().splitlines()) == 1
        assert "truncated or corrupted" in proc.stderr or "damaged" in proc.stderr, proc.stderr
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("content, message", [
    ("f0,f1,target\n1,2,a\n3,4,b\n", "has no column 'label'"),
    ("f0,f1,label\n1,2,a\n3,oops,b\n", "non-numeric value 'oops'"),
    ("", "is empty"),
])
def test_bad_csv_is_one_clear_line_and_leaves_nothing(tmp_path, content, message):
    (tmp_path / "bad.csv").write_text(content)
    for out in (["--out", "r"], []):
        proc = scratchnet("train", "--data", "bad.csv", "--target", "label", *out, cwd=tmp_path,
                          check=False)
        assert proc.returncode == 2 and proc.stdout == ""
        assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_predict_on_a_bad_csv_writes_no_output(trained, tmp_path):
    (tmp_path / "bad.csv").write_text("f0,f1\n1,2\n")
    proc = scratchnet("predict", "--model", trained / "model.npz", "--data", "bad.csv",
                      "--output", "p.csv", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "lacks the feature column(s) f2" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_help_has_examples(tmp_path):
    for command in ([], ["train"], ["predict"]):
        text = scratchnet(*command, "--help", cwd=tmp_path).stdout
        assert "examples:" in text and "scratchnet train --resume" in text


CONSOLE = """
import atexit, sys, threading, time
from scratchnet import cli
atexit.register(print, "exit handler ran")
if "thread" in sys.argv:  # a thread that is not a daemon: the exit waits for it
    threading.Thread(target=lambda: (time.sleep(0.3), print("thread finished"))).start()
sys.argv = ["scratchnet", *sys.argv[1:2]]
cli.console()
"""


@pytest.mark.parametrize("args, code", [(["--version"], 0), (["--bogus"], 2),
                                        (["--version", "thread"], 0)])
def test_the_fast_exit_runs_exit_handlers_flushes_and_keeps_the_exit_code(args, code):
    # console() ends the process with os._exit after main(): what was printed, exit
    # handlers and the exit code must all survive that, and a running thread is waited for.
    # Output to a pipe is block-buffered unless PYTHONUNBUFFERED says otherwise: not here
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.run([sys.executable, "-c", CONSOLE, *args], capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == code, proc.stderr
    out = proc.stdout.splitlines()
    assert out[-1] == "exit handler ran"
    if code == 0:
        assert out[0].startswith("scratchnet ")
    else:
        assert proc.stderr.startswith("scratchnet: error:")
    assert ("thread finished" in out) == ("thread" in args)

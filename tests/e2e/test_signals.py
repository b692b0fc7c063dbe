"""SIGINT and SIGTERM sent to a running ``scratchnet train`` and ``scratchnet sweep``
(subprocesses, as a user or a job scheduler sends them), then ``--resume``: the
interrupted work must leave a checkpoint or the finished sweep groups on disk, and
the resumed result must equal an uninterrupted run's, bit for bit.

(tests/e2e/test_cli_subprocess.py covers train with --checkpoint-every 1; here the
signal must save the checkpoint on its own.)"""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from scratchnet import io
from scratchnet.cli import main

TRAIN = ["train", "--data", "iris", "--hidden", "8", "--epochs", "3000", "--batch-size", "16",
         "--dtype", "float32", "--seed", "4", "--no-plots", "--quiet"]
SWEEP = ["sweep", "--hidden", "4:12", "--trials", "2", "--epochs", "20", "--batch-size", "10",
         "--group-size", "2", "--threads", "1", "--seed", "0", "--no-plot", "--quiet"]
N_GROUPS = 8  # 16 models, 2 per group


def start(argv, cwd):
    return subprocess.Popen([sys.executable, "-m", "scratchnet.cli", *argv], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, proc, seconds=60):
    deadline = time.monotonic() + seconds
    while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert path.exists(), f"{path} never appeared: {proc.poll()}"


def stop(proc, sig):
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted runs, in-process (the command line's own code)."""
    root = tmp_path_factory.mktemp("reference")
    assert main([*TRAIN, "--out", str(root / "train")]) == 0
    assert main([*SWEEP, "--out", str(root / "sweep")]) == 0
    return io.load(root / "train" / "model.npz"), json.loads((root / "sweep" / "results.json").read_text())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_train_signal_saves_a_checkpoint_and_resume_is_identical(tmp_path, sig, reference):
    proc = start([*TRAIN, "--out", "cut"], tmp_path)
    wait_for(tmp_path / "cut", proc)  # made just before training starts
    time.sleep(0.3)
    code, out, err = stop(proc, sig)
    assert code == 128 + sig, err
    assert f"stopped on {signal.Signals(sig).name}" in err and "--resume cut" in err
    assert len(err.strip().splitlines()) == 1 and out == ""
    checkpoint = io.load(tmp_path / "cut" / "checkpoint.npz")
    assert 1 <= len(checkpoint.history["loss"]) < 3000 and checkpoint.params.dtype == np.float32
    assert sorted(p.name for p in (tmp_path / "cut").iterdir()) == ["checkpoint.npz"]

    resumed = subprocess.run([sys.executable, "-m", "scratchnet.cli", "train", "--resume", "cut",
                              "--no-plots", "--quiet"], cwd=tmp_path, capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    model = io.load(tmp_path / "cut" / "model.npz")
    whole = reference[0]
    assert model.params.tobytes() == whole.params.tobytes()
    assert model.history == whole.history
    assert not (tmp_path / "cut" / "checkpoint.npz").exists()


def _rows(doc):
    return sorted(({k: v for k, v in r.items() if k != "seconds"} for rs in doc["groups"].values()
                   for r in rs), key=lambda r: (r["point"], r["trial"]))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sweep_signal_keeps_finished_groups_and_resume_completes_it(tmp_path, sig, reference):
    proc = start([*SWEEP, "--out", "s"], tmp_path)
    results = tmp_path / "s" / "results.json"
    wait_for(results, proc)  # the first group has finished
    code, out, err = stop(proc, sig)
    assert code == 128 + sig, err
    assert "the finished groups are saved in s" in err and "--resume" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    kept = json.loads(results.read_text())  # whole JSON: writes are atomic
    assert 1 <= len(kept["groups"]) < N_GROUPS and not leftovers(tmp_path / "s")
    csv_rows = (tmp_path / "s" / "results.csv").read_text().splitlines()  # written first
    assert len(csv_rows) - 1 >= sum(len(rs) for rs in kept["groups"].values())

    resumed = subprocess.run([sys.executable, "-m", "scratchnet.cli", *SWEEP, "--out", "s", "--resume",
                              "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["skipped_groups"] == len(kept["groups"])
    done = json.loads(results.read_text())
    assert len(done["groups"]) == N_GROUPS
    for group, rows in kept["groups"].items():  # finished groups are kept as they were
        assert done["groups"][group] == rows
    assert _rows(done) == _rows(reference[1])  # every model as in the uninterrupted sweep

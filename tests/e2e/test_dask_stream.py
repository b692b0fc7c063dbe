"""``scratchnet train --scheduler``: streamed training on a real ``dask scheduler`` with
two ``dask worker`` processes on 127.0.0.1. One worker is killed mid-training; the run
restarts that epoch from its last checkpoint, says so, and ends with the same model as
a local ``--stream`` run."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from test_dask_cli import cluster, wait_for  # noqa: F401 (the fixture, shared)

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

TRAIN = ["--target", "label", "--chunk-rows", "100", "--shuffle-buffer", "256", "--batch-size", "16",
         "--hidden", "8", "--seed", "5", "--epochs", "8", "--json", "--no-plots"]


def test_streamed_training_survives_a_worker_killed_mid_training(cluster, tmp_path):  # noqa: F811
    from scratchnet import io

    address, workers = cluster
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 4))
    y = np.where(X[:, 0] + X[:, 1] ** 2 > 1, "yes", "no")
    data = tmp_path / "big.parquet"
    pq.write_table(pa.table({**{f"x{i}": X[:, i] for i in range(4)}, "label": y}), data,
                   row_group_size=500)
    out = tmp_path / "remote"
    cli = subprocess.Popen([sys.executable, "-m", "scratchnet.cli", "train", "--data", str(data), *TRAIN,
                            "--scheduler", address, "--out", str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (out / "checkpoint.npz").exists() or cli.poll() is not None, 180,
                 "the first epoch's checkpoint")
        epochs_done = len(io.load(out / "checkpoint.npz").history["loss"]) if cli.poll() is None else 8
        os.kill(workers[0].pid, signal.SIGKILL)
        stdout, stderr = cli.communicate(timeout=300)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait(timeout=10)
    assert cli.returncode == 0, stderr
    assert epochs_done < 8, "the worker should die while epochs are still running"
    assert workers[0].wait(timeout=10) == -signal.SIGKILL
    # killed mid-epoch: that epoch restarts; killed just as an epoch ended: the next one
    # starts on the other worker. Either way from the last checkpoint, and said.
    assert ("was lost during epoch" in stderr or "left the cluster" in stderr) and \
        "from the checkpoint of epoch" in stderr, stderr
    assert '"epochs_trained": 8' in stdout

    local = tmp_path / "local"
    subprocess.run([sys.executable, "-m", "scratchnet.cli", "train", "--data", str(data), *TRAIN,
                    "--stream", "--out", str(local)], check=True, capture_output=True, timeout=300)
    remote_model, local_model = io.load(out / "model.npz"), io.load(local / "model.npz")
    np.testing.assert_array_equal(remote_model.params, local_model.params)  # bit for bit
    assert remote_model.history == local_model.history

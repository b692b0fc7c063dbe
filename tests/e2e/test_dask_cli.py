"""``scratchnet sweep --scheduler``: a real ``dask scheduler`` and two ``dask worker``
processes on 127.0.0.1; one worker is killed mid-sweep and every result still
arrives exactly once, equal to a local run's."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")
DASK = Path(sys.executable).with_name("dask")
pytestmark = pytest.mark.skipif(not DASK.exists(), reason="the dask command is not installed")

SWEEP = ["--hidden", "3:15", "--trials", "2", "--epochs", "15", "--batch-size", "10",
         "--preset", "seed", "--seed", "11", "--group-size", "2"]  # 24 models, 12 groups


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def groups_done(out: Path) -> int:
    try:
        return len(json.loads((out / "results.json").read_text())["groups"])
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two single-threaded workers without nannies (so a killed worker
    stays dead), all on 127.0.0.1 with ports the OS picks. Yields (address, workers)."""
    procs = []
    log = open(tmp_path / "dask.log", "w")

    def start(*args):
        procs.append(subprocess.Popen([str(DASK), *args], stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True))
        return procs[-1]

    try:
        info = tmp_path / "scheduler.json"
        start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
              "--scheduler-file", str(info))
        wait_for(info.exists, 60, "the scheduler")
        wait_for(lambda: "address" in info.read_text(), 10, "the scheduler file")
        address = json.loads(info.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        workers = [start("worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                         "--no-nanny", "--no-dashboard", "--death-timeout", "60")
                   for _ in range(2)]
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        log.close()


def test_sweep_survives_a_worker_killed_mid_sweep(cluster, tmp_path):
    address, workers = cluster
    out = tmp_path / "remote"
    cli = subprocess.Popen([sys.executable, "-m", "scratchnet.cli", "sweep", *SWEEP,
                            "--scheduler", address, "--out", str(out), "--json", "--no-plot"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: groups_done(out) >= 1 or cli.poll() is not None, 120, "a first group")
        done_at_kill = groups_done(out)
        os.kill(workers[0].pid, signal.SIGKILL)
        stdout, stderr = cli.communicate(timeout=180)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait(timeout=10)
    assert cli.returncode == 0, stderr
    assert 1 <= done_at_kill < 12, "the worker should die while groups are still running"
    assert workers[0].wait(timeout=10) == -signal.SIGKILL
    report = json.loads(stdout)
    assert report["models"] == 24
    saved = json.loads((out / "results.json").read_text())
    assert len(saved["groups"]) == 12
    rows = [r for group in saved["groups"].values() for r in group]
    keys = [(r["point"], r["trial"]) for r in rows]
    assert sorted(keys) == [(p, t) for p in range(12) for t in range(2)]  # each exactly once
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 24

    local = tmp_path / "local"
    subprocess.run([sys.executable, "-m", "scratchnet.cli", "sweep", *SWEEP, "--out", str(local),
                    "--json", "--no-plot"], check=True, capture_output=True, timeout=180)
    local_rows = json.loads((local / "results.json").read_text())["groups"]
    for group_id, group_rows in saved["groups"].items():
        for remote_row, local_row in zip(group_rows, local_rows[group_id]):
            for key in ("seed", "hidden", "train_accuracy", "test_accuracy", "train_loss", "test_loss"):
                assert remote_row[key] == local_row[key], (group_id, key)

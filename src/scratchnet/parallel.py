"""Shards of a model group across the CPU cores: the first trains in the calling
thread, each other one in a forked worker process of its own, at the same time.

Not threads: a training step is some twenty NumPy calls of a few microseconds each,
too short for NumPy's GIL release to pay; two threads ran slower than one, measured.
A shard is any object with ``train(X, Y, y_idx, epochs, batch_size, on_epoch)``,
``result()`` (what a worker sends back: picklable) and ``receive(result)``.
"""
from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import threading
from concurrent.futures import ThreadPoolExecutor


def default_threads() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def process_context():
    """The fork context for worker processes, or None to train every shard in this
    thread: where fork is missing (Windows), in a daemonic process (Dask's workers,
    which may not have children), or beside other threads (a fork could copy a lock
    one of them holds). Not spawn or forkserver: they re-run a script's main module."""
    if ("fork" not in multiprocessing.get_all_start_methods()
            or multiprocessing.current_process().daemon or threading.active_count() > 1):
        return None
    return multiprocessing.get_context("fork")


@contextlib.contextmanager
def garbage_kept_from_forks():
    """Fork inside this: the collector's objects are frozen meanwhile (``gc.freeze``), so
    a forked child never collects what this process had not collected yet, and no
    destructor of this process's objects runs there. Such a destructor can hang the
    child: onnxruntime's inference session, left as garbage by an earlier export check,
    waited forever in a worker on a thread only the parent has. Where objects were
    frozen before (someone else's ``gc.freeze``), all stay frozen: unfreezing would
    release theirs too."""
    frozen_before = gc.get_freeze_count()
    gc.freeze()
    try:
        yield
    finally:  # in this process only: a forked child leaves with os._exit, not through here
        if not frozen_before:
            gc.unfreeze()


def train_shards(shards, args, on_epoch=None) -> list:
    """Train every shard on ``args`` (what ``shard.train`` takes besides ``on_epoch``),
    in worker processes where ``process_context`` allows, else one after another.
    Returns what each ``shard.train`` returned."""
    context = process_context() if len(shards) > 1 else None
    if context is None:
        return [shard.train(*args, on_epoch) for shard in shards]
    workers, pool = [], None
    try:
        with garbage_kept_from_forks():
            for shard in shards[1:]:  # all forks before any thread starts
                here, there = context.Pipe(duplex=False)
                proc = context.Process(target=_worker, args=(shard, args, there), daemon=True)
                proc.start()
                there.close()
                workers.append((proc, here))
        pool = ThreadPoolExecutor(len(workers))  # they wait on the pipes, GIL released
        received = [pool.submit(_receive, shard, conn, on_epoch)
                    for shard, (_, conn) in zip(shards[1:], workers)]
        first = [shards[0].train(*args, on_epoch)]
        return first + [future.result() for future in received]
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


def _worker(shard, args, conn):
    """A worker process: train ``shard``, send its progress and its trained state."""
    try:
        value = shard.train(*args, lambda n: conn.send(("epoch", n)))
        conn.send(("done", (value, shard.result())))
    except BaseException as error:
        conn.send(("error", f"{type(error).__name__}: {error}"))
    finally:
        conn.close()


def _receive(shard, conn, on_epoch):
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
    returned, result = value
    shard.receive(result)
    return returned

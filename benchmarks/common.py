"""Pieces every speed benchmark shares: the machine's description, the interleaved
race, the eager PyTorch training loop, and peak-memory readings.

speed.py (the S and L workloads) and matrix.py (issue 12's matrix) both use them.
"""
from __future__ import annotations

import os
import platform
import sys
import time

import numpy as np


# -- the machine --------------------------------------------------------------------
def machine() -> dict:
    """CPU model, cores, library versions and every thread pool (threadpoolctl's view
    of NumPy's BLAS and OpenMP, PyTorch's intra-op threads)."""
    import sklearn

    cpu = platform.processor() or "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "sklearn": sklearn.__version__}
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [f"{p['internal_api']} {p.get('version') or ''} "
                               f"({p['num_threads']} threads, {os.path.basename(p['filepath'])})"
                               for p in threadpool_info()]
    except ImportError:
        info["threadpools"] = []
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["numpy_blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # show_config's layout is not a stable API
        info["numpy_blas"] = "unknown"
    try:
        import torch

        info["torch"] = f"{torch.__version__} (default {torch.get_num_threads()} threads)"
    except ImportError:
        info["torch"] = None
    return info


# -- the race -----------------------------------------------------------------------
def race(runners, rounds: int, label: str, pause: float = 0.0, log: bool = True,
         budget: float | None = None, min_rounds: int = 3) -> dict[str, list[float]]:
    """One warm-up epoch each, then ``rounds`` rounds of one epoch each, interleaved,
    the order rotating every round. With ``pause``, each epoch starts after that many
    seconds of sleep: multithreaded BLAS and OpenMP workers spin for a while after
    their work, which would slow down whichever contender comes next (S's products
    are too small to be threaded, so it runs without). With ``budget`` (seconds), no
    new round starts once that much time has passed and ``min_rounds`` are done (on
    a busy machine a round can take many times longer). Returns seconds per epoch."""
    start = time.perf_counter()
    for r in runners:
        r.epoch()
    times = {r.name: [] for r in runners}
    for i in range(rounds):
        if budget is not None and i >= min_rounds and time.perf_counter() - start > budget:
            break
        for r in runners[i % len(runners):] + runners[:i % len(runners)]:
            time.sleep(pause)
            t = time.perf_counter()
            r.epoch()
            times[r.name].append(time.perf_counter() - t)
        if log:
            print(f"  {label} round {i + 1}/{rounds}: " + ", ".join(
                f"{k} {v[-1]:.3g}s" for k, v in times.items()), file=sys.stderr)
    return times


class OneThread:
    """Another contender's ``epoch()`` with NumPy's BLAS limited to one thread."""

    def __init__(self, runner, name: str):
        from threadpoolctl import ThreadpoolController

        self.runner, self.name = runner, name
        self.controller = ThreadpoolController()

    def epoch(self):
        with self.controller.limit(limits=1, user_api="blas"):
            return self.runner.epoch()


def noisy(t) -> bool:
    """Some round took over 1.5× the fastest: other work disturbed it, so its median is
    unreliable and the fastest rounds say more."""
    return np.max(t) > 1.5 * np.min(t)


# -- eager PyTorch ------------------------------------------------------------------
class Torch:
    """Eager PyTorch on the CPU, minibatches by indexing a shuffled index, one epoch
    per ``epoch()`` call: zero_grad, forward, loss, backward, [clip], step.

    ``w`` describes the workload as scratchnet's ``MLP`` takes it: X, y, hidden,
    batch_size, lr, dtype, and optionally activation, optimizer, loss, dropout,
    batchnorm, weight_decay, clipnorm, label_smoothing (defaults: ReLU, SGD, softmax
    cross-entropy, nothing else). y is what ``MLP.fit`` takes: class labels, 0/1
    labels for "binary_cross_entropy", (N, K) numbers for "mse".
    ``weights``: [(W (F_in, F_out), b (F_out,)), ...] to start from (scratchnet's
    layout), so both sides train the same function; else torch's own init."""

    ACTIVATIONS = {"relu": lambda nn: nn.ReLU(), "leaky_relu": lambda nn: nn.LeakyReLU(0.01),
                   "sigmoid": lambda nn: nn.Sigmoid(), "tanh": lambda nn: nn.Tanh(),
                   "gelu": lambda nn: nn.GELU(approximate="tanh")}

    def __init__(self, w, threads=None, weights=None):
        import torch

        self.torch, self.w, self.threads = torch, w, threads
        self.default_threads = torch.get_num_threads()
        self.name = f"torch, {threads or self.default_threads} thread{'s' if threads != 1 else ''}"
        dtype = torch.float32 if w["dtype"] == "float32" else torch.float64
        nn = torch.nn
        loss = w.get("loss", "softmax_cross_entropy")
        y = np.asarray(w["y"])
        if loss == "mse":
            n_out = 1 if y.ndim == 1 else y.shape[1]
            self.y = torch.from_numpy(np.ascontiguousarray(y.reshape(len(y), n_out), w["dtype"]))
            self.loss = nn.MSELoss()
        elif loss == "binary_cross_entropy":
            n_out = 1
            self.y = torch.from_numpy(np.ascontiguousarray(y.reshape(-1, 1), w["dtype"]))
            self.loss = nn.BCEWithLogitsLoss()
        else:
            n_out = len(np.unique(y))
            self.y = torch.from_numpy(np.asarray(y, dtype=np.int64))
            self.loss = nn.CrossEntropyLoss(label_smoothing=w.get("label_smoothing", 0.0))
        torch.manual_seed(0)
        sizes = (w["X"].shape[1], *w["hidden"], n_out)
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b, dtype=dtype))
            if i < len(sizes) - 2:
                if w.get("batchnorm"):
                    layers.append(nn.BatchNorm1d(b, dtype=dtype))
                layers.append(self.ACTIVATIONS[w.get("activation", "relu")](nn))
                if w.get("dropout"):
                    layers.append(nn.Dropout(w["dropout"]))
        self.net = nn.Sequential(*layers)
        if weights is not None:
            linears = [m for m in self.net if isinstance(m, nn.Linear)]
            with torch.no_grad():
                for m, (W, b) in zip(linears, weights, strict=True):
                    m.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
                    m.bias.copy_(torch.from_numpy(np.asarray(b)))
        self.opt = self.optimizer(self.net.parameters(), w)
        self.clipnorm = w.get("clipnorm")
        self.X = torch.from_numpy(np.ascontiguousarray(w["X"], w["dtype"]))
        self.gen = torch.Generator().manual_seed(0)

    def optimizer(self, params, w):
        """scratchnet's optimizer names as torch.optim (scratchnet's momentum 0.9,
        torch's defaults otherwise, as tests/test_torch_oracle.py pairs them)."""
        optim, name = self.torch.optim, w.get("optimizer", "sgd")
        lr, wd = w["lr"], w.get("weight_decay", 0.0)
        if name == "sgd":
            return optim.SGD(params, lr=lr, weight_decay=wd)
        if name in ("momentum", "nesterov"):
            return optim.SGD(params, lr=lr, momentum=0.9, nesterov=name == "nesterov",
                             weight_decay=wd)
        return {"rmsprop": optim.RMSprop, "adam": optim.Adam,
                "adamw": optim.AdamW}[name](params, lr=lr, weight_decay=wd)

    def epoch(self):
        torch = self.torch
        torch.set_num_threads(self.threads or self.default_threads)
        n, B = len(self.X), self.w["batch_size"]
        order = torch.randperm(n, generator=self.gen)
        net, opt, loss, X, y, clipnorm = self.net, self.opt, self.loss, self.X, self.y, self.clipnorm
        net.train()
        for start in range(0, n, B):
            idx = order[start:start + B]
            opt.zero_grad()
            loss(net(X[idx]), y[idx]).backward()
            if clipnorm is not None:
                torch.nn.utils.clip_grad_norm_(net.parameters(), clipnorm)
            opt.step()
        torch.set_num_threads(self.default_threads)


# -- peak memory --------------------------------------------------------------------
def _status_mib(key: str) -> float:
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise OSError(f"/proc/self/status has no {key}")


def reset_peak() -> float:
    """Start a fresh peak: reset this process's high-water mark (VmHWM) to its present
    resident set (Linux: write 5 to /proc/self/clear_refs) and return that resident
    set in MiB, the baseline a later ``peak_since`` subtracts."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_mib("VmRSS")


def peak_mib() -> float:
    """The process's peak resident set (VmHWM) in MiB since the last ``reset_peak``."""
    return _status_mib("VmHWM")

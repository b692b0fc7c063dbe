"""Figures (matplotlib). Each ``plot_*`` writes ``stem.png`` and ``stem.svg`` for the
``path`` it is given (any suffix is replaced) and returns the paths written.

Every figure is ``FIGSIZE`` inches at ``DPI``, so a PNG is always 640 x 480 pixels.

Figures are ``matplotlib.figure.Figure`` objects drawn straight to files, as matplotlib
advises for code that only writes files (its "embedding in a web application server"
example), not through ``matplotlib.pyplot``: pyplot's figure manager, backend selection
and module are nothing a file needs, pyplot's global state is not thread-safe, and its
import is about 0.09 G of the 2.5 G instructions a first sweep figure costs here (the
rest is matplotlib's own import, most of it building its artists' ``set()`` signatures
and docstrings, then drawing). ``savefig`` picks the Agg canvas for PNG and the SVG one
for SVG, so no backend is chosen: a user's ``MPLBACKEND`` or pyplot session is left alone.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

import numpy as np

from .parallel import garbage_kept_from_forks

FIGSIZE = (6.4, 4.8)
DPI = 100
FORMATS = ("png", "svg")


class Painter:
    """Draws this module's figures in a child process started before the work whose
    results they show, so that matplotlib's import (about a second of a first figure
    here: docs/benchmarks.md, "Command-line overhead") runs meanwhile. The child runs
    at the lowest CPU priority (nice 19): it takes only CPU the work leaves idle, a
    core the work does not use or the gaps between its parts, and does not slow it.

    ``draw("plot_sweep", ...)`` returns what ``plot_sweep(...)`` returns. Where the
    child cannot start (no ``fork``) or fails, the figure is drawn in this process, so
    a figure and its errors are the same with a painter as without. Use it as a
    context manager (or call ``close``): the child ends with it."""

    def __init__(self):
        self._conn = self._child = None
        if "fork" not in multiprocessing.get_all_start_methods():
            return
        ctx = multiprocessing.get_context("fork")
        here, there = ctx.Pipe()
        self._child = ctx.Process(target=_paint, args=(there, here), daemon=True,
                                  name="scratchnet-painter")
        with garbage_kept_from_forks():
            self._child.start()
        there.close()
        self._conn = here

    def draw(self, name: str, *args, **kwargs):
        if not name.startswith("plot_") or not callable(globals().get(name)):
            raise ValueError(f"no figure named {name!r}")
        if self._conn is not None:
            try:
                self._conn.send((name, args, kwargs))
                drawn, value = self._conn.recv()
                if drawn:
                    return value
            except Exception:  # the child is gone, or an argument cannot be sent
                pass
            self.close()  # and the figure again here: its error, if any, is raised here
        return globals()[name](*args, **kwargs)

    def close(self) -> None:
        conn, child, self._conn, self._child = self._conn, self._child, None, None
        if conn is not None:
            conn.close()  # the child reads the end of the pipe and returns
        if child is not None:
            child.join(0.1)  # an idle child returns at once; one still importing (the
            if child.is_alive():  # work failed early, say) holds nothing to wait for
                child.kill()
                child.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _paint(conn, parent_end) -> None:
    """The painter's child: imports matplotlib, then draws what it is sent until the
    pipe closes. Ctrl-C is the parent's to handle (it closes the painter)."""
    global _IN_PAINTER
    parent_end.close()
    _IN_PAINTER = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(19)
    try:
        import matplotlib.backends.backend_agg  # noqa: F401  (PNG: what savefig will use)
        import matplotlib.backends.backend_svg  # noqa: F401
        import matplotlib.figure  # noqa: F401
    except Exception:  # the figure fails below, and the parent draws it for its error
        pass
    while True:
        try:
            name, args, kwargs = conn.recv()
        except (EOFError, OSError):
            return
        try:
            result = (True, globals()[name](*args, **kwargs))
        except Exception:
            result = (False, None)
        conn.send(result)


def _figure(ncols: int | None = None):
    """A new figure of FIGSIZE at DPI, and its axes: one, or a row of ``ncols`` (a (1, ncols) array).

    Titles sit at the top of their axes (``axes.titley`` 1): no figure here puts tick
    labels above its axes, and matplotlib's automatic placement measures every axis's
    extent at each draw to find that out (the same pixels, 4% of a figure's time here)."""
    import matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    with matplotlib.rc_context({"axes.titley": 1.0}):
        return fig, fig.subplots() if ncols is None else fig.subplots(1, ncols, squeeze=False)


def _cmap(name: str):
    import matplotlib

    return matplotlib.colormaps[name]


def _save(fig, path) -> list[Path]:
    """Write the figure as PNG and SVG next to ``path``, each atomically. In the
    painter's child the two are drawn at once, the SVG by a forked copy of the child
    (``_draw_aside``): each format lays out and draws the whole figure again, and
    the work they stood for is done by then, its cores free."""
    from .io import atomic_write

    targets = [Path(path).with_suffix("." + fmt) for fmt in FORMATS]

    def write(target):
        fmt = target.suffix[1:]
        # PNG: zlib's fastest level; its default spends a sixth of the figure's time
        # to make the file a tenth smaller
        extra = {"pil_kwargs": {"compress_level": 1}} if fmt == "png" else {}
        atomic_write(target, lambda f: fig.savefig(f, format=fmt, dpi=DPI, **extra))

    aside = [(_draw_aside(write, target) if _IN_PAINTER else None, target) for target in targets[1:]]
    try:
        write(targets[0])
    finally:
        left = [target for pid, target in aside if pid is None or os.waitpid(pid, 0)[1] != 0]
    for target in left:  # not drawn aside, or failed there: drawn here (its error raised here)
        write(target)
    return targets


_IN_PAINTER = False  # True in the painter's child (``_paint``)


def _draw_aside(write, target) -> int | None:
    """``write(target)`` in a forked copy of this process; its pid, or None where
    no fork could be made. It exits 0 when written, 1 on any failure."""
    with garbage_kept_from_forks():  # the copy leaves from inside it, with os._exit
        try:
            pid = os.fork()
        except OSError:
            return None
        if pid == 0:  # the copy: write, and leave without running the parent's cleanup
            code = 1
            try:
                write(target)
                code = 0
            finally:
                os._exit(code)
    return pid


def plot_decision_boundary(model, X, y, path, *, title="decision boundary", resolution=300):
    """A 2-D classifier's regions and boundary over its data. X: (N, 2), y: (N,) labels."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"a decision boundary needs 2 features, X has shape {X.shape}")
    pad = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-9
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([g0.ravel(), g1.ravel()])
    probs = model.predict_proba(grid)
    classes = np.asarray(model.classes_)
    y_idx = np.searchsorted(classes, np.asarray(y))
    fig, ax = _figure()
    cmap = _cmap("coolwarm" if len(classes) == 2 else "tab10")
    if len(classes) == 2:  # shade by P(second class); the boundary is where it crosses 1/2
        p1 = probs[:, 1].reshape(g0.shape)
        ax.contourf(g0, g1, p1, levels=np.linspace(0, 1, 11), cmap=cmap, alpha=0.35)
        ax.contour(g0, g1, p1, levels=[0.5], colors="k", linewidths=1.5)
        colors = cmap(y_idx.astype(float))
    else:
        region = probs.argmax(axis=1).reshape(g0.shape)
        ax.contourf(g0, g1, region, levels=np.arange(len(classes) + 1) - 0.5, cmap=cmap,
                    vmin=0, vmax=9, alpha=0.3)
        colors = cmap(y_idx % 10)
    ax.scatter(X[:, 0], X[:, 1], c=colors, s=6, edgecolors="none")
    for i, label in enumerate(classes):  # legend entries, one per class
        ax.scatter([], [], color=cmap(float(i) if len(classes) == 2 else i % 10), label=str(label))
    ax.legend(loc="best", fontsize="small", markerscale=2)
    ax.set(title=title, xlabel="x1", ylabel="x2", xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]))
    return _save(fig, path)


def plot_curves(history: dict, path, *, title="training curves"):
    """Loss and accuracy per epoch, training and (when present) validation."""
    from matplotlib.ticker import MaxNLocator

    epochs = np.asarray(history.get("epoch") or np.arange(1, len(history["loss"]) + 1))
    metrics = [m for m in ("loss", "accuracy") if history.get(m)]
    if not metrics:
        raise ValueError("history has no loss or accuracy to plot")
    fig, axes = _figure(len(metrics))
    for ax, metric in zip(axes[0], metrics):
        ax.plot(epochs, history[metric], label="train", marker="." if len(epochs) < 30 else None)
        if history.get("val_" + metric):
            ax.plot(epochs, history["val_" + metric], label="validation",
                    marker="." if len(epochs) < 30 else None)
        ax.set(xlabel="epoch", ylabel=metric, title=metric)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_sweep(hidden, mean, std, path, *, reference=None, title="accuracy against hidden units"):
    """Mean test accuracy against hidden units with a mean +- std band.

    hidden, mean, std: (K,) each. ``reference`` is an optional (hidden, accuracy)
    pair drawn as a second line (e.g. the tutorial's figure)."""
    hidden, mean, std = (np.asarray(a, dtype=np.float64) for a in (hidden, mean, std))
    if not (hidden.shape == mean.shape == std.shape) or hidden.ndim != 1:
        raise ValueError(f"hidden, mean and std must be 1-D of one length, got "
                         f"{hidden.shape}, {mean.shape}, {std.shape}")
    fig, ax = _figure()
    ax.fill_between(hidden, mean - std, mean + std, alpha=0.25, label="mean ± std")
    ax.plot(hidden, mean, marker="o", markersize=3, label="mean test accuracy")
    if reference is not None:
        ax.plot(*reference, linestyle="--", color="gray", label="tutorial")
    ax.set(xlabel="hidden units", ylabel="test accuracy", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_confusion_matrix(cm, labels, path, *, title="confusion matrix"):
    """cm: (C, C) counts, rows the true class, columns the predicted one."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(labels):
        raise ValueError(f"cm must be (C, C) with C = {len(labels)} labels, got {cm.shape}")
    fig, ax = _figure()
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax)
    ticks = np.arange(len(labels))
    names = [str(label) for label in labels]
    ax.set(xticks=ticks, yticks=ticks, xticklabels=names, yticklabels=names,
           xlabel="predicted", ylabel="true", title=title)
    if len(labels) <= 20:  # numbers stay readable up to about this many classes
        threshold = cm.max() / 2 if cm.size else 0
        for (i, j), count in np.ndenumerate(cm):
            ax.text(j, i, f"{count}", ha="center", va="center", fontsize="small",
                    color="white" if count > threshold else "black")
    fig.tight_layout()
    return _save(fig, path)


def png_size(path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; ValueError if it is not a PNG."""
    with open(os.fspath(path), "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG file")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")

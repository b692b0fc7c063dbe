import subprocess
import sys

import numpy as np
import pytest
from conftest import uncollected_garbage

import scratchnet as sn
from scratchnet import plots

SIZE = (640, 480)  # FIGSIZE * DPI


def assert_png_and_svg(written, stem):
    assert sorted(p.name for p in written) == [f"{stem}.png", f"{stem}.svg"]
    for path in written:
        if path.suffix == ".png":
            assert plots.png_size(path) == SIZE
            import matplotlib.image

            assert matplotlib.image.imread(path).shape[:2] == SIZE[::-1]
        else:
            text = path.read_text()
            assert text.startswith("<?xml") and "<svg" in text and text.rstrip().endswith("</svg>")
    assert not [p for p in written[0].parent.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((90, 2)) + np.repeat([[0, 0], [3, 0], [0, 3]], 30, axis=0)
    return X, np.repeat(np.array(["a", "b", "c"]), 30)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_decision_boundary(blobs, n_classes, tmp_path):
    X, y = blobs
    keep = np.isin(y, ["a", "b", "c"][:n_classes])
    model = sn.MLP(hidden=(8,), seed=0).fit(X[keep], y[keep], epochs=3, batch_size=10)
    written = plots.plot_decision_boundary(model, X[keep], y[keep], tmp_path / "boundary.png",
                                           resolution=50)
    assert_png_and_svg(written, "boundary")


def test_decision_boundary_needs_two_features(tmp_path):
    with pytest.raises(ValueError, match="2 features"):
        plots.plot_decision_boundary(None, np.zeros((4, 3)), np.zeros(4), tmp_path / "b")


def test_curves_with_and_without_validation(tmp_path):
    history = {"epoch": [1, 2, 3], "loss": [0.9, 0.5, 0.3], "accuracy": [0.6, 0.8, 0.9]}
    assert_png_and_svg(plots.plot_curves(history, tmp_path / "train"), "train")
    history |= {"val_loss": [1.0, 0.6, 0.4], "val_accuracy": [0.5, 0.7, 0.85]}
    assert_png_and_svg(plots.plot_curves(history, tmp_path / "curves"), "curves")
    with pytest.raises(ValueError, match="no loss or accuracy"):
        plots.plot_curves({"epoch": [1]}, tmp_path / "empty")


def test_sweep_plot(tmp_path):
    hidden = np.arange(3, 10)
    written = plots.plot_sweep(hidden, np.linspace(0.8, 0.95, 7), np.full(7, 0.01), tmp_path / "sweep")
    assert_png_and_svg(written, "sweep")
    with pytest.raises(ValueError, match="one length"):
        plots.plot_sweep(hidden, np.zeros(3), np.zeros(3), tmp_path / "bad")


def test_confusion_matrix(tmp_path):
    written = plots.plot_confusion_matrix([[5, 1], [2, 7]], ["no", "yes"], tmp_path / "cm")
    assert_png_and_svg(written, "cm")
    with pytest.raises(ValueError, match="2 labels"):
        plots.plot_confusion_matrix(np.zeros((3, 3)), ["no", "yes"], tmp_path / "bad")


def test_png_size_refuses_other_files(tmp_path):
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(ValueError, match="not a PNG"):
        plots.png_size(tmp_path / "x.png")


SWEEP_ARGS = (np.arange(3, 10), np.linspace(0.8, 0.95, 7), np.full(7, 0.01))


def test_a_painter_draws_the_same_figure_in_its_child(tmp_path):
    """The figure from the painter's child is the same PNG as one drawn here; the child
    ends with the painter."""
    here = plots.plot_sweep(*SWEEP_ARGS, tmp_path / "here")
    with plots.Painter() as painter:
        child = painter._child
        assert child is not None and child.is_alive()
        there = painter.draw("plot_sweep", *SWEEP_ARGS, tmp_path / "there")
        assert child.is_alive()  # drawn there: the child did not fail
    assert not child.is_alive()
    assert_png_and_svg(there, "there")
    assert there[0].read_bytes() == here[0].read_bytes()


def test_a_painter_leaves_matplotlib_out_of_this_process(tmp_path):
    code = ("import sys; from scratchnet import plots\n"
            "with plots.Painter() as p:\n"
            f"    p.draw('plot_sweep', [3, 4], [0.8, 0.9], [0.01, 0.02], {str(tmp_path / 's')!r})\n"
            "print(sorted(m for m in sys.modules if m.startswith('matplotlib')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr
    assert plots.png_size(tmp_path / "s.png") == SIZE


def test_a_painter_raises_the_figures_own_error(tmp_path):
    with plots.Painter() as painter:
        with pytest.raises(ValueError, match="one length"):
            painter.draw("plot_sweep", np.arange(3), np.zeros(2), np.zeros(2), tmp_path / "bad")
        assert painter._child is None  # closed, and the figure was drawn here for its error
        assert_png_and_svg(painter.draw("plot_sweep", *SWEEP_ARGS, tmp_path / "after"), "after")
        with pytest.raises(ValueError, match="no figure named 'png_size'"):
            painter.draw("png_size", tmp_path / "after.png")
    assert not list(tmp_path.glob("bad*"))


def test_a_painter_draws_here_what_it_cannot_send(tmp_path):
    with plots.Painter() as painter:
        title = type("Title", (str,), {"__reduce__": lambda self: 1 / 0})("unsendable")
        assert_png_and_svg(painter.draw("plot_sweep", *SWEEP_ARGS, tmp_path / "s", title=title), "s")


def test_without_fork_a_painter_draws_here(tmp_path, monkeypatch):
    monkeypatch.setattr(plots.multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    with plots.Painter() as painter:
        assert painter._child is None
        assert_png_and_svg(painter.draw("plot_sweep", *SWEEP_ARGS, tmp_path / "s"), "s")


def test_in_the_painter_the_svg_is_drawn_aside(tmp_path, monkeypatch):
    """In the painter's child, the SVG is written by a forked copy while the PNG is
    drawn; where the fork fails, or the copy does, it is written here instead."""
    monkeypatch.setattr(plots, "_IN_PAINTER", True)
    forked, draw_aside = [], plots._draw_aside
    monkeypatch.setattr(plots, "_draw_aside", lambda *a: forked.append(draw_aside(*a)) or forked[-1])
    assert_png_and_svg(plots.plot_sweep(*SWEEP_ARGS, tmp_path / "aside"), "aside")
    assert len(forked) == 1 and isinstance(forked[0], int)
    assert plots.png_size(tmp_path / "aside.png") == SIZE

    def no_fork():
        raise OSError("no fork here")

    monkeypatch.setattr(plots.os, "fork", no_fork)
    assert_png_and_svg(plots.plot_sweep(*SWEEP_ARGS, tmp_path / "nofork"), "nofork")
    assert forked[-1] is None
    monkeypatch.undo()

    import os

    from matplotlib.figure import Figure

    monkeypatch.setattr(plots, "_IN_PAINTER", True)
    here, savefig = os.getpid(), Figure.savefig

    def fails_in_a_fork(fig, *args, **kwargs):
        if os.getpid() != here:
            raise OSError("disk full")
        return savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", fails_in_a_fork)
    assert_png_and_svg(plots.plot_sweep(*SWEEP_ARGS, tmp_path / "failed"), "failed")


def test_the_copy_drawing_aside_never_destroys_the_painters_garbage(tmp_path):
    """The forked copy inherits uncollected garbage; no destructor of it may run
    there (see ``parallel.garbage_kept_from_forks``)."""
    import gc
    import os

    log = tmp_path / "destroyed"

    def write(target):  # what the copy's collector may do at any allocation
        gc.collect()
        target.write_text("drawn")

    with uncollected_garbage(log):
        pid = plots._draw_aside(write, tmp_path / "aside.svg")
        assert os.waitpid(pid, 0)[1] == 0
    assert (tmp_path / "aside.svg").read_text() == "drawn"
    assert log.read_text().split() == [str(os.getpid())]

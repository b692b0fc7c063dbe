"""benchmarks/matrix.py measures what it says: its PyTorch loop does the same work as
scratchnet's (same layers, loss and optimizer: two steps from the same weights give
the same weights), its BLAS floor has the network's shapes, its memory reading sees
an allocation, and its verdicts read the ratios the right way round."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import require

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
torch = require("torch")
import matrix  # noqa: E402
from common import Torch, peak_mib, reset_peak  # noqa: E402


def tiny_workload(factor, rng, rows=16):
    """A small float64 cell: 3 features, one hidden layer of 8, 3 classes, one batch
    of all rows (so an epoch is one step, whatever each side's shuffle)."""
    X = rng.standard_normal((rows, 3))
    y = np.arange(rows) % 3
    w = matrix.workload("S", "float64", factor, (X, y))
    return dict(w, hidden=(8,), batch_size=rows)


def dense_weights_after_two_steps(w):
    """Two full-batch steps (the second tells momentum and Adam's moments apart)."""
    ours = matrix.Scratchnet(w)
    theirs = Torch(w, weights=ours.weights())
    for _ in range(2):
        ours.epoch()
        theirs.epoch()
    linears = [m for m in theirs.net if isinstance(m, torch.nn.Linear)]
    return ours.weights(), [(m.weight.detach().numpy().T, m.bias.detach().numpy()) for m in linears]


@pytest.mark.parametrize("factor", [f for f in matrix.FACTORS if f != "dropout"])
def test_torch_loop_takes_the_same_steps(factor, rng):
    ours, theirs = dense_weights_after_two_steps(tiny_workload(factor, rng))
    assert len(ours) == len(theirs) == 2
    for (W, b), (W_t, b_t) in zip(ours, theirs):
        np.testing.assert_allclose(W, W_t, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(b, b_t, rtol=1e-9, atol=1e-12)


def layer_kinds_scratchnet(model):
    names = {"Dense": "linear", "BatchNorm1d": "batchnorm", "Dropout": "dropout"}
    return [names.get(type(layer).__name__, type(layer).__name__.lower()) for layer in model.layers]


def layer_kinds_torch(net):
    names = {"Linear": "linear", "BatchNorm1d": "batchnorm", "Dropout": "dropout",
             "LeakyReLU": "leakyrelu"}
    return [names.get(type(m).__name__, type(m).__name__.lower()) for m in net]


@pytest.mark.parametrize("factor", matrix.FACTORS)
def test_both_sides_stack_the_same_layers(factor, rng):
    w = tiny_workload(factor, rng)
    ours = matrix.Scratchnet(w)
    theirs = Torch(w, weights=ours.weights())
    assert layer_kinds_scratchnet(ours.model) == layer_kinds_torch(theirs.net)
    if factor == "dropout":
        rates = [m.p for m in theirs.net if isinstance(m, torch.nn.Dropout)]
        assert rates == [ours.model.layers[2].rate] == [0.2]
    if factor == "gelu":
        assert theirs.net[1].approximate == "tanh"


def test_blas_floor_has_the_network_products():
    sizes, B = (32, 64, 64, 10), 16
    floor = matrix.BlasFloor(sizes, B, "float32", steps=2)
    assert [p[2].shape for p in floor.products] == [
        (B, 64), (32, 64),  # layer 1: forward, grad_W (no input gradient)
        (B, 64), (64, 64), (B, 64),  # layer 2: forward, grad_W, grad_x
        (B, 10), (64, 10), (B, 64)]  # layer 3
    assert all(out.dtype == np.float32 for _, _, out in floor.products)
    floor.epoch()
    x, W, out = floor.products[0]
    np.testing.assert_allclose(out, x @ W, rtol=1e-6)


def test_peak_memory_sees_an_allocation():
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux's /proc/self/clear_refs")
    base = reset_peak()
    block = np.ones(100 * 2**20 // 8)  # 100 MiB, touched
    assert peak_mib() - base >= 95
    del block
    base = reset_peak()  # a fresh peak forgets the block
    assert peak_mib() - base < 20


def test_cells_and_selection():
    names = matrix.cell_names()
    assert len(names) == len(set(names))
    assert set(matrix.QUICK) <= set(names)
    assert len([n for n in names if n.startswith("train-M-")]) == 2 * len(matrix.FACTORS)
    assert matrix.select("train-M-float32-(gelu|adam)$", quick=False) == [
        "train-M-float32-gelu", "train-M-float32-adam"]
    assert matrix.select("csv", quick=True) == ["csv-read"]
    with pytest.raises(ValueError, match="matches no cell"):
        matrix.select("train-L-float64", quick=False)
    with pytest.raises(ValueError, match="not a regular expression"):
        matrix.select("(", quick=False)


def test_verdicts_read_ratios_of_medians():
    # 10 steps; scratchnet 2 ms/step vs torch 4 ms/step: ratio 0.5, met; one thread:
    # 6 vs 3 ms/step: 2.0, not met; floor 1 ms/step: 2.0× the floor, not met; the
    # floor at one thread (4 ms) is slower than torch at one thread (3 ms): dagger
    times = {"scratchnet": [0.02, 0.021, 0.019], "torch": [0.04] * 3, "torch1": [0.03] * 3,
             "scratchnet1": [0.06] * 3, "floor": [0.01] * 3, "floor1": [0.04] * 3}
    cell = {"kind": "train", "size": "L", "dtype": "float32", "factor": "base", "steps": 10,
            "rounds": 3, "times": times}
    r = matrix.train_ratios(cell)
    assert r["vs_torch"] == pytest.approx(0.5) and r["vs_torch1"] == pytest.approx(2.0)
    assert r["vs_floor"] == pytest.approx(2.0) and r["vs_floor1"] == pytest.approx(1.5)
    row = next(line for line in matrix.training_table("L", "ms", {"x": cell}, "2")
               if line.startswith("| float32 base"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:6] == ["2", "4", "0.50", "met"]
    assert cells[6:10] == ["6", "3", "2.00", "not met †"]
    assert cells[10:] == ["1", "2.00", "not met", "4", "1.50", "not met"]

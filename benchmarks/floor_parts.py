"""Where an L training step's time above its BLAS floor goes (issue 12's floor target:
each L cell within 1.15x of its matrix products alone).

For each L cell of the matrix (32-512-512-10, batch 256, float32): the step in place
(``train_epoch``, as matrix.py times it), its floor (matrix.BlasFloor: the step's
matrix products alone) and each part of the step besides the Dense layers, timed alone
in a loop on the arrays of a real step of that cell:

- every other layer (activation, dropout, batch norm): forward then backward;
- the loss: dL/dlogits (times lr where plain SGD folds it in, as ``make_step`` does);
- the optimizer's update of the flat parameter array (a fresh copy of the step's
  gradient each call, the copy's own time subtracted: the rules use it as work space).

Alone, a part has its arrays hot in the cache and nothing between its calls: its best
case. floor + the parts alone is a lower bound of this code's step (the Dense layers'
own work besides their products, such as copying x into [x, 1], left out), so wherever
the parts alone take over 0.15 x floor, this code cannot meet the target.

A second table times the NumPy calls those parts are made of, once each on one hidden
layer's (256, 512) float32 array.

    python benchmarks/floor_parts.py [--rounds 5] [--only gelu] [--no-write]

Writes the "## L: the time above the BLAS floor" section of docs/benchmarks.md and
benchmarks/results/floor_parts.json.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from common import machine, race  # noqa: E402
from matrix import L_FACTORS, BlasFloor, Scratchnet, code_state, size_data, workload  # noqa: E402
from report import write_section  # noqa: E402

TITLE = "L: the time above the BLAS floor"
SLACK = 0.15  # the target: step <= (1 + SLACK) x floor


class Part:
    """One part of a step as a race runner: ``steps`` calls of ``call`` per epoch()."""

    def __init__(self, name, call, steps):
        self.name, self.call, self.steps = name, call, steps

    def epoch(self):
        call = self.call
        for _ in range(self.steps):
            call()


def captured_step(w):
    """A fresh model of workload ``w`` after one epoch, and the arrays its last step
    gave each part: {layer index: (x, grad_out)}, (logits, targets), (params, grads)."""
    from scratchnet.layers import Dense

    run = Scratchnet(w)
    model, seen = run.model, {}

    def spy(obj, name, key):
        real = getattr(obj, name)

        def call(*args, **kwargs):
            seen[key] = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            return real(*args, **kwargs)
        setattr(obj, name, call)

    for i, layer in enumerate(model.layers):
        if not isinstance(layer, Dense):
            spy(layer, "forward", ("forward", i))
            spy(layer, "backward", ("backward", i))
    spy(model.loss, "gradient", "loss")
    update = "step" if model.optimizer.folded_lr() is None else "step_folded"
    spy(model.optimizer, update, "update")
    run.epoch()
    for i, layer in enumerate(model.layers):  # the spies are instance attributes
        for name in ("forward", "backward"):
            layer.__dict__.pop(name, None)
    model.loss.__dict__.pop("gradient", None)
    model.optimizer.__dict__.pop(update, None)
    return run, seen, update


def parts_of(w, steps):
    """[Part] for the cell of workload ``w``, each on its own model's arrays (the
    in-place contender's model is never touched by them)."""
    run, seen, update_name = captured_step(w)
    model, parts = run.model, []
    for i, layer in enumerate(model.layers):
        if ("forward", i) not in seen:
            continue
        x, g = seen["forward", i][0], seen["backward", i][0]

        def layer_call(layer=layer, x=x, g=g):
            layer.forward(x, True)
            layer.backward(g)
        parts.append(Part(f"{i}:{type(layer).__name__}", layer_call, steps))
    logits, targets = seen["loss"]
    lr = model.optimizer.folded_lr()

    def loss_call(gradient=model.loss.gradient):
        grad = gradient(logits, targets)
        if lr is not None:
            grad *= lr
    parts.append(Part("loss", loss_call, steps))
    params, grads0 = (a.copy() for a in seen["update"])
    grads, update = np.empty_like(grads0), getattr(model.optimizer, update_name)

    def update_call():
        np.copyto(grads, grads0)
        update(params, grads)
    parts.append(Part("update+copy", update_call, steps))
    parts.append(Part("copy", lambda: np.copyto(grads, grads0), steps))
    return parts


def cell(factor, data, rounds):
    w = workload("L", "float32", factor, data)
    ours = Scratchnet(w)
    steps = -(-len(w["X"]) // w["batch_size"])
    floor = BlasFloor((w["X"].shape[1], *w["hidden"], ours.model.n_outputs_),
                      w["batch_size"], "float32", steps)
    parts = parts_of(w, steps)
    times = race([ours, floor] + parts, rounds, f"L-{factor}", pause=0.2, log=False)
    ms = {k: float(np.median(v)) / steps * 1e3 for k, v in times.items()}
    ms["update"] = ms.pop("update+copy") - ms.pop("copy")
    if not np.isfinite(ours.model.params).all():
        raise RuntimeError(f"L-{factor}: the weights became non-finite")
    return {"factor": factor, "rounds": len(times["scratchnet"]), "ms": ms}


def primitives(rounds=200):
    """Median microseconds of single NumPy calls on one hidden layer's (256, 512)
    float32 array, interleaved."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 512)).astype(np.float32)
    y, zeros, rand = np.empty_like(x), np.zeros_like(x), np.random.default_rng(1)
    calls = {
        "np.multiply(x, x)": lambda: np.multiply(x, x, out=y),
        "np.greater(x, zeros)": lambda: np.greater(x, zeros, out=y),
        "np.maximum(x, zeros)": lambda: np.maximum(x, zeros, out=y),
        "np.exp(x)": lambda: np.exp(x, out=y),
        "np.tanh(x)": lambda: np.tanh(x, out=y),
        "Generator.random(float32)": lambda: rand.random(out=y, dtype=np.float32),
    }
    times = {k: [] for k in calls}
    for _ in range(rounds):
        for k, f in calls.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) * 1e6 for k, v in times.items()}


def section(res) -> str:
    m, lines = res["machine"], []
    lines += [f"## {TITLE}", "",
              f"Measured by `python benchmarks/floor_parts.py` on {res['date']}, scratchnet at commit "
              f"{res['commit']} (raw numbers: `benchmarks/results/floor_parts.json`). {m['cpu']}, "
              f"{m['cores']} cores; NumPy {m['numpy']} ({m['numpy_blas']}, its BLAS at 2 threads). "
              f"Load average at the end: {res['load']:.2f}.", "",
              "What an L step of the matrix spends besides its matrix products, and whether this code "
              "could meet the floor target (step within 1.15x of the products alone). Each part of a step besides the Dense layers was timed alone, in a "
              "loop on the arrays of a real step of the cell: with its arrays hot in the cache and "
              "nothing between its calls, its best case. floor + those parts is a lower bound of this "
              "code's step (the Dense layers' own work besides their products left out), so where the "
              "parts alone exceed 0.15x the floor, the target is out of this code's reach. ms per step, "
              "medians of interleaved rounds (each epoch after 0.2 s of sleep, as in the matrix).", "",
              "| cell | rounds | floor | step | step / floor | other layers alone | loss alone | "
              "update alone | parts alone / floor | target out of this code's reach |",
              "|---|---:|---:|---:|---:|---|---:|---:|---:|---|"]
    for c in res["cells"]:
        ms = c["ms"]
        layers = {k: v for k, v in ms.items() if ":" in k}
        parts = sum(layers.values()) + ms["loss"] + ms["update"]
        layer_text = ", ".join(f"{k.split(':')[1]} {v:.3f}" for k, v in layers.items()) or "none"
        lines.append(f"| float32 {c['factor']} | {c['rounds']} | {ms['floor']:.2f} | {ms['scratchnet']:.2f} | "
                     f"{ms['scratchnet'] / ms['floor']:.2f} | {layer_text} | {ms['loss']:.3f} | "
                     f"{ms['update']:.3f} | {parts / ms['floor']:.2f} | "
                     f"{'yes' if parts > SLACK * ms['floor'] else 'no'} |")
    lines += ["", "One NumPy call on a (256, 512) float32 array (a hidden layer's activations), "
              "alone, median of 200 interleaved calls:", "",
              "| call | µs | ns per number |", "|---|---:|---:|"]
    for k, us in res["primitives"].items():
        lines.append(f"| `{k}` | {us:.0f} | {us * 1e3 / (256 * 512):.2f} |")
    lines.append("")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--only", default=None, help="only the L factors matching this regular expression")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--render", action="store_true", help="measure nothing: the section from the saved numbers")
    args = p.parse_args()
    saved = Path(__file__).with_name("results").joinpath("floor_parts.json")
    if args.render:
        res = json.loads(saved.read_text())
    else:
        data = size_data("L")
        cells = []
        for factor in L_FACTORS:
            if args.only is None or re.search(args.only, factor):
                cells.append(cell(factor, data, args.rounds))
                print(f"L-{factor}: " + ", ".join(f"{k} {v:.3f}" for k, v in cells[-1]["ms"].items()),
                      file=sys.stderr)
        res = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "commit": code_state()["commit"] or "unknown",
               "machine": machine(), "cells": cells, "primitives": primitives(),
               "load": os.getloadavg()[0]}
    text = section(res)
    print(text)
    if not args.no_write and not args.render:
        saved.write_text(json.dumps(res, indent=2) + "\n")
    if not args.no_write:
        write_section(TITLE, text)


if __name__ == "__main__":
    main()

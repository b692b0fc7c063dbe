"""``scratchnet reproduce``: every experiment of the tutorial on its moons, side by side
with the tutorial's figures, written to ``report.md`` with plots.

1. ``test(X_train, y_train, X_test, y_test, 10, 10, 100)``: the ``seed`` preset, 100 runs
   (tutorial: mean 0.94541, std 0.019558); and our defaults the same way.
2. The class-based single run ``NeuralNet(99).test(..., 20, 10)`` (tutorial: 0.9496),
   plus 100 runs of that setting, since one run says little.
3. ``test_class(3, 40, 3)``: hidden sizes 3..39, 3 runs each, 100 epochs, batch 10
   (tutorial: "accuracy hovering around 98 percent" for 30 to 40 neurons).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from . import io, plots, presets, sweep
from .datasets import tutorial_moons
from .model import MLP

TUTORIAL = {"seed_preset": (0.94541, 0.019558), "class_run": 0.9496, "sweep_30_39": 0.98}


def settings(quick: bool) -> dict:
    """How much to run: the tutorial's sizes, or a small version for tests."""
    if quick:
        return {"trials": 5, "class_epochs": 10, "sweep_hidden": list(range(3, 40, 9)),
                "sweep_trials": 1, "sweep_epochs": 5}
    return {"trials": 100, "class_epochs": 10, "sweep_hidden": list(range(3, 40)),
            "sweep_trials": 3, "sweep_epochs": 100}


def run(out_dir, *, quick=False, seed=0, progress=False) -> dict:
    """Run all experiments, write ``report.md``, ``results.json`` and plots into
    ``out_dir``. Returns the results (JSON-able), with ``report`` the report's path."""
    start = time.perf_counter()
    out_dir = Path(out_dir)
    size = settings(quick)
    X_train, X_test, y_train, y_test = tutorial_moons()
    data = (X_train, y_train, X_test, y_test)
    seeds = np.random.SeedSequence(seed).spawn(5)
    seed_preset, default = presets.get("seed"), presets.get("default")
    class_setting = dict(seed_preset, hidden=(99,), batch_size=20, epochs=size["class_epochs"])
    results = {"quick": quick, "seed": seed, "sizes": size}

    def trials_of(name, setting, child):
        res = sweep.trials(*data, n=size["trials"], seed=child, progress=progress, **setting)
        results[name] = {"mean": res["mean"], "std": res["std"], "trials": res["trials"],
                         "seconds": res["seconds"], "settings": _jsonable(setting)}

    trials_of("seed_preset", seed_preset, seeds[0])
    trials_of("default", default, seeds[1])
    trials_of("class_setting", class_setting, seeds[2])

    model_kw, fit_kw = presets.split(class_setting)
    class_model = MLP(seed=seeds[3], **model_kw).fit(X_train, y_train, **fit_kw)
    results["class_run"] = {"accuracy": class_model.evaluate(X_test, y_test)["accuracy"]}
    model_kw, fit_kw = presets.split(default)
    default_model = MLP(seed=seeds[3], **model_kw).fit(X_train, y_train, **fit_kw)

    t = time.perf_counter()
    sweep_setting = dict(seed_preset, epochs=size["sweep_epochs"])
    hidden, accs = hidden_sweep(data, size["sweep_hidden"], size["sweep_trials"], sweep_setting,
                                seeds[4], progress)
    top = (hidden >= 30) & (hidden <= 39)
    results["sweep"] = {"hidden": hidden.tolist(), "accuracies": accs.tolist(),
                        "mean": accs.mean(axis=1).tolist(), "std": accs.std(axis=1).tolist(),
                        "mean_30_39": float(accs[top].mean()) if top.any() else None,
                        "seconds": time.perf_counter() - t, "settings": _jsonable(sweep_setting)}

    files = plots.plot_sweep(hidden, accs.mean(axis=1), accs.std(axis=1), out_dir / "sweep",
                             title=f"hidden-size sweep ({_runs(size['sweep_trials'])} each, "
                                   f"{size['sweep_epochs']} epochs, seed preset)")
    files += plots.plot_decision_boundary(class_model, X_test, y_test, out_dir / "boundary_tutorial",
                                          title="tutorial's NeuralNet(99) setting, test split")
    files += plots.plot_decision_boundary(default_model, X_test, y_test, out_dir / "boundary_default",
                                          title="scratchnet defaults, test split")
    results["seconds"] = time.perf_counter() - start
    results["plots"] = [p.name for p in files]
    report = out_dir / "report.md"
    io.atomic_write(report, lambda f: f.write(render(results)), "w")
    io.atomic_write(out_dir / "results.json", lambda f: f.write(json.dumps(results, indent=2)), "w")
    results["report"] = str(report)
    return results


def hidden_sweep(data, hidden_sizes, n_trials, setting, seed: np.random.SeedSequence,
                 progress=False):
    """Test accuracy of ``n_trials`` models per hidden size: (hidden (K,), accuracies (K, n))."""
    result = sweep.sweep(*data, sweep.grid(hidden=list(hidden_sizes)), trials=n_trials,
                         seed=int(seed.generate_state(1)[0]), progress=progress, **setting)
    accs = np.array([row["test_accuracy"] for row in result.rows])  # sorted by (point, trial)
    return np.asarray(hidden_sizes), accs.reshape(len(hidden_sizes), n_trials)


def _jsonable(setting: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in setting.items()}


def render(r: dict) -> str:
    """The report as Markdown."""
    tut_mean, tut_std = TUTORIAL["seed_preset"]
    s = r["sizes"]
    sw = r["sweep"]
    ours_top = "n/a (no sizes in 30..39)" if sw["mean_30_39"] is None else f"{sw['mean_30_39']:.4f}"
    n = s["trials"]
    rows = [
        ("`test(..., 10, 10, 100)`: seed preset (hidden 64, batch 10, 10 epochs), "
         f"{n} runs", f"{tut_mean} ± {tut_std}", _pm(r["seed_preset"])),
        (f"the same with scratchnet's defaults, {n} runs", "not in the tutorial", _pm(r["default"])),
        ("`NeuralNet(99).test(..., 20, 10)`: one run", f"{TUTORIAL['class_run']}",
         f"{r['class_run']['accuracy']:.4f}"),
        (f"that setting, {n} runs", "not in the tutorial", _pm(r["class_setting"])),
        (f"`test_class(3, 40, 3)`: mean over 30..39 hidden units ({_runs(s['sweep_trials'])} each, "
         f"{s['sweep_epochs']} epochs)", f"about {TUTORIAL['sweep_30_39']}", ours_top),
    ]
    lines = ["# The tutorial's experiments, reproduced", ""]
    if r["quick"]:
        lines += ["**Quick version** (`--quick`): fewer runs and epochs than the tutorial; "
                  "the numbers are not comparable to its figures.", ""]
    lines += ["All on the tutorial's data: `make_moons(5000, noise=0.1, random_state=42)`, "
              "`train_test_split(random_state=42)` (3750 train, 1250 test rows). "
              f"Root seed {r['seed']}; total time {r['seconds']:.1f} s.", "",
              "| experiment | tutorial | scratchnet |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines += ["", "Seed preset: standard-normal init of weights and biases, summed minibatch "
              "gradients, learning rate 1e-4 (the tutorial's training). Defaults: "
              + ", ".join(f"{k}={v}" for k, v in r["default"]["settings"].items()) + ".", "",
              "## Hidden-size sweep", "", "![sweep](sweep.png)", "",
              "| hidden units | mean test accuracy | std |", "|---|---|---|"]
    lines += [f"| {h} | {m:.4f} | {v:.4f} |" for h, m, v in zip(sw["hidden"], sw["mean"], sw["std"])]
    lines += ["",
              "## Decision boundaries", "",
              "![tutorial setting](boundary_tutorial.png) ![defaults](boundary_default.png)", "",
              "## Timings", "",
              "| part | seconds |", "|---|---|"]
    lines += [f"| {name} | {r[name]['seconds']:.1f} |"
              for name in ("seed_preset", "default", "class_setting", "sweep")]
    return "\n".join(lines) + "\n"


def _runs(n: int) -> str:
    return f"{n} run" + ("s" if n != 1 else "")


def _pm(res: dict) -> str:
    return f"{res['mean']:.5f} ± {res['std']:.5f}"

"""Many models: repeated trials (and, later, grids and groups)."""
from __future__ import annotations

import time

import numpy as np

from . import presets
from .model import MLP


def trial_seeds(seed, n: int) -> list[np.random.SeedSequence]:
    """n independent child seeds of ``seed`` (an int, SeedSequence or None)."""
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return root.spawn(n)


def trials(X_train, y_train, X_test, y_test, n: int = 10, seed=None, progress=False, **settings):
    """The tutorial's ``test``: train ``n`` independently seeded MLPs, report test accuracy.

    ``settings`` are MLP keywords plus ``epochs`` and ``batch_size``.
    Returns {"accuracies": (n,), "mean", "std", "trials", "seconds"}.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"trials must be a positive integer, got {n!r}")
    model_kw, fit_kw = presets.split(settings)
    unknown = set(settings) - set(model_kw) - set(fit_kw)
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}")
    start = time.perf_counter()
    accs = []
    seeds = trial_seeds(seed, n)
    bar = _bar(n) if progress else None
    for child in seeds:
        model = MLP(seed=child, **model_kw).fit(X_train, y_train, **fit_kw)
        accs.append(model.evaluate(X_test, y_test)["accuracy"])
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    accs = np.array(accs)
    return {"accuracies": accs, "mean": float(accs.mean()), "std": float(accs.std()),
            "trials": n, "seconds": time.perf_counter() - start}


def _bar(total):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="model", desc="trials", leave=False, delay=1.0)

"""Sweeps: many MLPs over a grid or a random search of settings, N seeded trials
per point, trained in model groups (``scratchnet.group``), here or on a Dask cluster.

>>> points = grid(hidden=range(3, 40))                      # the tutorial's test_class
>>> result = sweep(X_train, y_train, X_test, y_test, points, trials=3, seed=0,
...                preset="seed", epochs=100, batch_size=10, out="runs/sweep")
>>> result.summary()[:3]                                   # mean and std per point

Every model has its own integer seed (in its row), derived from the sweep's seed,
its point and its trial: ``MLP(seed=row["seed"], ...).fit(X, y, ...)`` trains the
same model alone. Results are written (CSV and JSON) as each group finishes, so an
interrupted sweep keeps what it finished, and ``resume=True`` skips it.

A row holds the model's settings, ``point``, ``trial``, ``seed``, ``depth``, ``units``
(hidden units in all), its final ``train_accuracy``, ``test_accuracy``, ``train_loss``,
``test_loss`` (mean cross-entropy), ``diverged`` (the epoch, or None), ``seconds`` (its
share of its group's wall time, training and scoring) and ``group`` (the id of the
group it trained in).
"""
from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from . import presets
from .group import can_pad, fit_group, group_key
from .parallel import default_threads
from .model import MLP
from .validation import check_positive
from .presets import FIT_KEYS, MODEL_KEYS
from .train import TrainingDiverged

AXES = ("hidden", "depth", "lr", "batch_size", "epochs", "activation", "optimizer",
        "weight_decay", "init", "reduction", "dtype", "dropout", "batchnorm", "loss",
        "clipnorm", "label_smoothing")
PER_MODEL = ("hidden", "lr", "weight_decay", "init")  # may differ inside one group
RESULT_KEYS = ("train_accuracy", "test_accuracy", "train_loss", "test_loss", "diverged",
               "seconds", "group", "group_size")
DEFAULT_GROUP_SIZE = 128


# -- the search space ---------------------------------------------------------------
@dataclass(frozen=True)
class LogUniform:
    """A float drawn uniformly in log space between ``low`` and ``high`` (random search)."""
    low: float
    high: float

    def __post_init__(self):
        if not (0 < self.low < self.high and math.isfinite(self.high)):
            raise ValueError(f"LogUniform needs 0 < low < high, got {self.low!r}, {self.high!r}")

    def sample(self, rng):
        return float(np.exp(rng.uniform(np.log(self.low), np.log(self.high))))


@dataclass(frozen=True)
class Uniform:
    """A float drawn uniformly between ``low`` and ``high`` (random search)."""
    low: float
    high: float

    def __post_init__(self):
        if not self.low < self.high:
            raise ValueError(f"Uniform needs low < high, got {self.low!r}, {self.high!r}")

    def sample(self, rng):
        return float(rng.uniform(self.low, self.high))


def _values(name, value) -> list:
    if name not in AXES:
        raise ValueError(f"unknown sweep axis {name!r}; valid: {', '.join(AXES)}")
    if isinstance(value, (LogUniform, Uniform)):
        raise ValueError(f"{name}={value!r} is a distribution: use random_search, or give a list")
    if isinstance(value, (list, tuple, range, np.ndarray)):
        values = [v.item() if isinstance(v, np.generic) else v for v in value]
        if not values:
            raise ValueError(f"sweep axis {name!r} has no values")
        return values
    return [value]


def grid(**axes) -> list[dict]:
    """Every combination of the axes' values: ``grid(hidden=range(3, 40), lr=[0.1, 0.01])``.

    An axis is a list (or range) of values, or one value. A network with several
    hidden layers is one tuple: ``hidden=[(64, 32), (32, 32)]``."""
    names = list(axes)
    lists = [_values(n, axes[n]) for n in names]
    return [dict(zip(names, combo)) for combo in itertools.product(*lists)]


def random_search(n: int, seed=None, **axes) -> list[dict]:
    """``n`` points drawn at random: ``LogUniform``/``Uniform`` axes are sampled, lists
    and ranges give a value chosen uniformly, single values stay fixed.

    >>> random_search(20, seed=0, lr=LogUniform(1e-4, 1e-1), hidden=range(8, 65))"""
    check_positive("the number of random points", n, int)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        point = {}
        for name, value in axes.items():
            if isinstance(value, (LogUniform, Uniform)):
                if name not in AXES:
                    raise ValueError(f"unknown sweep axis {name!r}; valid: {', '.join(AXES)}")
                point[name] = value.sample(rng)
            else:
                values = _values(name, value)
                point[name] = values[int(rng.integers(len(values)))]
        out.append(point)
    return out


def parse_axis(name: str, tokens: list[str], random: bool = False):
    """Command-line values of one axis: ``3:40`` is ``range(3, 40)`` (``3:40:2`` with a
    step), ``64,32`` one network with two hidden layers, ``1e-4:1e-1`` a log-uniform
    float range (random search only). Returns a list, or a distribution."""
    flag = f"--{name.replace('_', '-')}"
    ints = name in ("hidden", "depth", "batch_size", "epochs")
    floats = name in ("lr", "weight_decay", "dropout", "clipnorm", "label_smoothing")
    if name == "batchnorm":  # on/off
        words = {"true": True, "on": True, "1": True, "false": False, "off": False, "0": False}
        try:
            return [words[t.lower()] for t in tokens]
        except KeyError as e:
            raise ValueError(f"{flag}: cannot read {e.args[0]!r} (on or off)") from None
    if floats and any(":" in t for t in tokens):
        if not random or len(tokens) > 1:
            raise ValueError(f"{flag} {' '.join(tokens)}: a float range LOW:HIGH is a log-uniform "
                             "distribution for --random; give values for a grid")
        try:
            low, high = (float(p) for p in tokens[0].split(":"))
        except ValueError:
            raise ValueError(f"{flag}: cannot read {tokens[0]!r} as LOW:HIGH") from None
        return LogUniform(low, high)
    out = []
    for token in tokens:
        try:
            if ":" in token and ints:
                out.extend(range(*(int(p) for p in token.split(":"))))
            elif "," in token and name == "hidden":
                out.append(tuple(int(p) for p in token.split(",")))
            else:
                out.append(int(token) if ints else float(token) if floats else token)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{flag}: cannot read {token!r} ({e})") from None
    if not out:
        raise ValueError(f"{flag} {' '.join(tokens)} has no values")
    return out


# -- planning: points x trials -> model specs -> groups ---------------------------------
def fresh_seed() -> int:
    """A new root seed from the OS's entropy (saved with the results, so reusable)."""
    return int(np.random.SeedSequence().generate_state(1, np.uint64)[0])


def model_seed(root: int, point: int, trial: int) -> int:
    """The integer seed of one model of a sweep: independent for every (point, trial)."""
    return int(np.random.SeedSequence([root, point, trial]).generate_state(1, np.uint64)[0])


def plan(points, trials: int, seed: int, settings: dict) -> list[dict]:
    """One spec per model: the base ``settings`` overridden by its point, plus
    ``point``, ``trial`` and ``seed``. ``depth`` repeats an integer ``hidden``."""
    specs = []
    for p, point in enumerate(points):
        s = {**settings, **point}
        depth = s.pop("depth", None)
        hidden = s.get("hidden", (64,))
        if isinstance(hidden, (int, np.integer)):
            hidden = (int(hidden),) * (1 if depth is None else check_positive("depth", depth, int))
        elif depth is not None and len(hidden) != depth:
            raise ValueError(f"depth={depth} but hidden={hidden!r} has {len(hidden)} layers")
        s["hidden"] = tuple(int(h) for h in hidden)
        unknown = set(s) - set(MODEL_KEYS) - set(FIT_KEYS)
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}; valid: "
                             f"{', '.join(MODEL_KEYS + FIT_KEYS)}")
        for t in range(trials):
            specs.append({**s, "point": p, "trial": t, "seed": model_seed(seed, p, t)})
    return specs


def _model(spec) -> MLP:
    return MLP(seed=spec["seed"], **{k: v for k, v in spec.items() if k in MODEL_KEYS})


def _probe(model_kw) -> MLP:
    """An unbuilt MLP with its output layer, enough for ``group_key``."""
    model = MLP(**model_kw)
    model.finish_layers(2)
    return model


def _can_group(probe) -> bool:
    """Whether models like ``probe`` can train in a group (else each trains alone with ``fit``)."""
    try:
        group_key(probe)
    except ValueError:
        return False
    return True


def _groupable_key(spec, known: dict):
    """What must be equal for two specs to share a group, or None if it trains alone.
    ``known``: the probes' answers so far (can the models group, may their widths
    differ), filled here, by the spec's settings with ``hidden`` cut to its depth: the
    answers depend on the layers' kinds, not on their widths, nor on point, trial and seed. A
    probe model costs half a millisecond: two per spec were 56 ms of the tutorial's
    111-model sweep here; it needs one."""
    settings = {k: v for k, v in spec.items() if k not in ("point", "trial", "seed")}
    kinds = json.dumps(_jsonable(dict(settings, hidden=len(spec["hidden"]))), sort_keys=True)
    answers = known.get(kinds)
    if answers is None:
        probe = _probe({k: v for k, v in settings.items() if k in MODEL_KEYS})
        answers = known[kinds] = (_can_group(probe), can_pad(probe))
    groupable, paddable = answers
    if not groupable:
        return None
    shared = {k: v for k, v in settings.items() if k not in PER_MODEL}
    shared["depth"] = len(spec["hidden"])
    if not paddable:  # equal widths only
        shared["hidden"] = spec["hidden"]
    return json.dumps(_jsonable(shared), sort_keys=True)


def make_groups(specs, group_size: int = DEFAULT_GROUP_SIZE) -> list[dict]:
    """Split specs into groups that train together: same group key, epochs and batch
    size; within a key, sorted by width and cut into groups of at most ``group_size``
    (neighbours in width waste little padding). Each group gets a stable id."""
    check_positive("group_size", group_size, int)
    by_key: dict = {}
    known: dict = {}
    for spec in specs:
        key = _groupable_key(spec, known)
        by_key.setdefault(key if key is not None else f"alone {spec['point']} {spec['trial']}",
                          []).append(spec)
    groups = []
    for members in by_key.values():
        members.sort(key=lambda s: (s["hidden"], s["point"], s["trial"]))
        for i in range(0, len(members), group_size):
            chunk = members[i:i + group_size]
            ident = json.dumps([[s["point"], s["trial"], s["seed"]] for s in chunk])
            groups.append({"id": hashlib.sha1(ident.encode()).hexdigest()[:12], "specs": chunk})
    return groups


# -- training one group (what a Dask worker runs) --------------------------------------
def train_group(specs, X_train, y_train, X_test, y_test, threads=None, on_epoch=None) -> list[dict]:
    """Train the models of ``specs`` together (or one by one if they cannot share a
    group) and return one result row per model."""
    start = time.perf_counter()
    models = [_model(s) for s in specs]
    epochs, batch_size = specs[0]["epochs"], specs[0]["batch_size"]
    if _groupable_key(specs[0], {}) is not None:
        # scored below: the epochs' training loss would be computed for no one
        diverged = fit_group(models, X_train, y_train, epochs=epochs, batch_size=batch_size,
                             threads=threads, on_epoch=on_epoch, history=False)
        group_size = len(models)
    else:
        diverged = [_fit_alone(m, X_train, y_train, epochs, batch_size, on_epoch) for m in models]
        group_size = 1
    scores = lambda m: (m.evaluate(X_train, y_train), m.evaluate(X_test, y_test))  # noqa: E731
    with ThreadPoolExecutor(threads or default_threads()) as pool:  # NumPy releases the GIL
        evaluated = list(pool.map(scores, models))
    seconds = (time.perf_counter() - start) / len(specs)
    rows = []
    for spec, (train, test), div in zip(specs, evaluated, diverged):
        row = {k: (list(v) if isinstance(v, tuple) else v) for k, v in spec.items()}
        row.update(depth=len(spec["hidden"]), units=sum(spec["hidden"]),
                   train_accuracy=train["accuracy"], test_accuracy=test["accuracy"],
                   train_loss=train["loss"], test_loss=test["loss"], diverged=div,
                   seconds=seconds, group_size=group_size)
        rows.append(row)
    return rows


def _fit_alone(model, X, y, epochs, batch_size, on_epoch):
    try:
        model.fit(X, y, epochs=epochs, batch_size=batch_size)
    except TrainingDiverged:
        return len(model.history.get("loss", [])) + 1
    finally:
        if on_epoch is not None:
            on_epoch(epochs)
    return None


# -- the sweep ----------------------------------------------------------------------
@dataclass
class SweepResult:
    """One row per model (``rows``), the sweep's ``config`` and where it was saved."""
    rows: list[dict]
    config: dict
    out: Path | None = None
    seconds: float = 0.0
    skipped_groups: int = 0
    files: list[Path] = field(default_factory=list)

    def summary(self, metric: str = "test_accuracy") -> list[dict]:
        """Per point: its settings and the mean, std, min and max of ``metric`` over trials."""
        by_point: dict[int, list[dict]] = {}
        for row in self.rows:
            by_point.setdefault(row["point"], []).append(row)
        out = []
        for p, rows in sorted(by_point.items()):
            values = np.array([r[metric] for r in rows], dtype=np.float64)
            settings = {k: v for k, v in rows[0].items()
                        if k not in RESULT_KEYS and k not in ("trial", "seed")}
            out.append({**settings, "trials": len(rows), "mean": float(values.mean()),
                        "std": float(values.std()), "min": float(values.min()),
                        "max": float(values.max())})
        return out

    def best(self, k: int = 5, metric: str = "test_accuracy") -> list[dict]:
        """The ``k`` points with the highest mean ``metric`` (ties: lower std first)."""
        return sorted(self.summary(metric), key=lambda s: (-s["mean"], s["std"], s["point"]))[:k]


def sweep(X_train, y_train, X_test, y_test, points=None, *, trials: int = 1, seed=None,
          preset: str | None = None, out=None, resume: bool = False, client=None,
          threads: int | None = None, group_size: int | None = None,
          progress: bool = False, **settings) -> SweepResult:
    """Train ``trials`` seeded MLPs per point and score each on the train and test sets.

    points: dicts of settings (from ``grid`` or ``random_search``; default one point).
    preset: base settings (``presets.PRESETS``), overridden by ``settings`` (MLP
        keywords, ``epochs``, ``batch_size``), overridden by each point.
    seed: the sweep's root seed (an int); None draws one (it is saved in the results).
    out: a directory for results.csv and results.json, rewritten after every group.
    resume: keep the groups already in ``out`` and train only the rest.
    client: a ``dask.distributed.Client``: groups run on its workers, one task each.
    threads: workers per group here (default: the usable cores): the group's first
        shard trains in this process, the others in forked worker processes; on Dask, 1.
    group_size: the most models in one group (default ``DEFAULT_GROUP_SIZE``). Results
        are identical for any ``threads`` and on Dask, for the same ``group_size``.
    """
    check_positive("trials", trials, int)
    group_size = DEFAULT_GROUP_SIZE if group_size is None else group_size
    base = presets.get(preset) if preset is not None else {}
    base.update(settings)
    base.setdefault("epochs", 10)
    base.setdefault("batch_size", 32)
    points = [{}] if points is None else [dict(p) for p in points]
    if not points:
        raise ValueError("the sweep has no points")
    out = Path(out) if out is not None else None
    saved = _load(out) if (out is not None and resume) else None
    if saved is not None and seed is None:
        seed = saved["config"]["seed"]
    if seed is None:
        seed = fresh_seed()
    seed = int(check_positive("seed", seed, int, allow_zero=True))
    config = _jsonable({"points": points, "trials": trials, "seed": seed, "settings": base,
                        "group_size": group_size})
    rows: dict[str, list[dict]] = {}
    if saved is not None:
        if saved["config"] != config:
            raise ValueError(f"{out} holds a different sweep (other points, trials, seed or "
                             "settings): choose another out directory or drop resume")
        rows = saved["groups"]
    elif out is not None and (out / "results.json").exists():
        raise ValueError(f"{out} already holds sweep results: pass resume=True (--resume) "
                         "to continue it, or choose another out directory")
    specs = plan(points, trials, seed, base)
    groups = make_groups(specs, group_size)
    todo = [g for g in groups if g["id"] not in rows]
    start = time.perf_counter()
    bar = _bar(sum(len(g["specs"]) * g["specs"][0]["epochs"] for g in todo)) if progress else None
    data = (X_train, y_train, X_test, y_test)

    def finished(group_id, group_rows):
        rows[group_id] = [dict(r, group=group_id) for r in group_rows]
        if out is not None:
            _save(out, config, rows)

    try:
        if client is None:
            on_epoch = bar.update if bar is not None else None
            for g in todo:
                finished(g["id"], train_group(g["specs"], *data, threads=threads, on_epoch=on_epoch))
        else:
            _run_dask(client, todo, data, threads, finished, bar)
    finally:
        if bar is not None:
            bar.close()
    all_rows = sorted((r for rs in rows.values() for r in rs), key=lambda r: (r["point"], r["trial"]))
    files = [out / "results.csv", out / "results.json"] if out is not None else []
    return SweepResult(all_rows, config, out, time.perf_counter() - start,
                       len(groups) - len(todo), files)


def _run_dask(client, groups, data, threads, finished, bar):
    """One task per group; results come back as they finish. A worker lost mid-task is
    the scheduler's business: it reruns the task elsewhere, and each group's
    future resolves once, so every row arrives exactly once."""
    from distributed import as_completed

    futures = {client.submit(train_group, g["specs"], *data, threads=threads or 1,
                             key=f"scratchnet-group-{g['id']}", pure=False): g for g in groups}
    for future in as_completed(futures):
        group = futures[future]
        finished(group["id"], future.result())
        if bar is not None:
            bar.update(len(group["specs"]) * group["specs"][0]["epochs"])


def _jsonable(value):
    return json.loads(json.dumps(value, default=_default))


def _default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, range, np.ndarray)):
        return list(value)
    raise TypeError(f"cannot save {value!r} in sweep results")


def _save(out: Path, config: dict, groups: dict) -> None:
    from .io import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    rows = sorted((r for rs in groups.values() for r in rs), key=lambda r: (r["point"], r["trial"]))
    doc = {"format": "scratchnet-sweep", "version": 1, "config": config,
           "groups": {g: rs for g, rs in sorted(groups.items())}}
    text = json.dumps(_jsonable(doc), indent=1)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in r.items()})
    atomic_write(out / "results.csv", lambda f: f.write(buf.getvalue()), mode="w")
    # results.json last: what --resume trusts is never ahead of results.csv
    atomic_write(out / "results.json", lambda f: f.write(text), mode="w")


def _load(out: Path) -> dict | None:
    path = out / "results.json"
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
        if doc.get("format") != "scratchnet-sweep":
            raise ValueError("not a scratchnet sweep file")
        return {"config": doc["config"], "groups": doc["groups"]}
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"cannot resume from {path}: {e}") from None


def load_results(out) -> SweepResult:
    """The rows and config of a saved sweep directory."""
    saved = _load(Path(out))
    if saved is None:
        raise ValueError(f"{out} has no results.json")
    rows = sorted((r for rs in saved["groups"].values() for r in rs),
                  key=lambda r: (r["point"], r["trial"]))
    return SweepResult(rows, saved["config"], Path(out))


def varying_axes(result: SweepResult) -> list[str]:
    """The settings that differ between the sweep's points (``hidden`` over ``units``)."""
    summary = result.summary()
    skip = ("point", "trials", "mean", "std", "min", "max", "units")
    return [k for k in summary[0] if k not in skip
            and len({json.dumps(s.get(k)) for s in summary}) > 1]


def format_value(value) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def plot(result: SweepResult, path, metric: str = "test_accuracy", painter=None) -> list[Path]:
    """The tutorial's figure: mean ``metric`` against hidden units with a mean +- std band.
    With other axes varying too, one figure per combination of them (``path`` gets
    their values as a suffix). Returns the files written; none if hidden never varies.
    ``painter``: a ``plots.Painter`` started before the sweep, to draw with."""
    from . import plots

    plot_sweep = plots.plot_sweep if painter is None else partial(painter.draw, "plot_sweep")

    summary = result.summary(metric)
    varying = [k for k in summary[0] if k not in ("point", "trials", "mean", "std", "min", "max")
               and len({json.dumps(s[k]) for s in summary}) > 1]
    if "units" not in varying:
        return []
    others = [k for k in varying if k not in ("units", "hidden")]
    series: dict[tuple, list[dict]] = {}
    for s in summary:
        series.setdefault(tuple(json.dumps(s[k]) for k in others), []).append(s)
    written, path = [], Path(path)
    for combo, points in series.items():
        points.sort(key=lambda s: s["units"])
        label = ", ".join(f"{k}={json.loads(v)}" for k, v in zip(others, combo))
        target = path if not combo else path.with_name(
            f"{path.stem}_{label.replace(', ', '_').replace('=', '-')}{path.suffix}")
        written += plot_sweep([s["units"] for s in points], [s["mean"] for s in points],
                              [s["std"] for s in points], target,
                              title=f"{metric.replace('_', ' ')} against hidden units"
                                    + (f" ({label})" if label else ""))
    return written


# -- repeated trials (the tutorial's ``test``) ---------------------------------------
def trial_seeds(seed, n: int) -> list[np.random.SeedSequence]:
    """n independent child seeds of ``seed`` (an int, SeedSequence or None)."""
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return root.spawn(n)


def trials(X_train, y_train, X_test, y_test, n: int = 10, seed=None, progress=False,
           threads=None, **settings):
    """The tutorial's ``test``: train ``n`` independently seeded MLPs (as one model
    group), report their test accuracy.

    ``settings`` are MLP keywords plus ``epochs`` and ``batch_size``.
    Returns {"accuracies": (n,), "mean", "std", "trials", "seconds"}.
    """
    check_positive("trials", n, int, type_error=False)
    unknown = set(settings) - set(MODEL_KEYS) - set(FIT_KEYS)
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}")
    model_kw = {k: v for k, v in settings.items() if k in MODEL_KEYS}
    fit_kw = {"epochs": 10, "batch_size": 32} | {k: v for k, v in settings.items() if k in FIT_KEYS}
    start = time.perf_counter()
    models = [MLP(seed=child, **model_kw) for child in trial_seeds(seed, n)]
    bar = _bar(n * fit_kw["epochs"]) if progress else None
    on_epoch = bar.update if bar is not None else None
    try:
        if _can_group(_probe(model_kw)):
            diverged = fit_group(models, X_train, y_train, threads=threads, on_epoch=on_epoch,
                                 history=False, **fit_kw)
        else:
            diverged = [_fit_alone(m, X_train, y_train, on_epoch=on_epoch, **fit_kw)
                        for m in models]
    finally:
        if bar is not None:
            bar.close()
    bad = [i for i, d in enumerate(diverged) if d is not None]
    if bad:
        raise TrainingDiverged(f"{len(bad)} of {n} trials diverged (first: trial {bad[0]} at "
                               f"epoch {diverged[bad[0]]}); try a lower learning rate")
    accs = np.array([m.evaluate(X_test, y_test)["accuracy"] for m in models])
    return {"accuracies": accs, "mean": float(accs.mean()), "std": float(accs.std()),
            "trials": n, "seconds": time.perf_counter() - start}


def _bar(total):
    from tqdm.auto import tqdm

    class Bar(tqdm):
        monitor_interval = 0  # no monitor thread: the group engine forks only when alone

    return Bar(total=total, unit="model-epoch", unit_scale=True, desc="sweep", leave=False,
               delay=1.0)

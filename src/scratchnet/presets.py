"""Named settings. ``seed`` is the tutorial's training exactly; ``default`` is what we
recommend for it; ``mnist1d-mlp`` and ``mnist1d-cnn`` are recipes for MNIST-1D.

A preset is flat settings: ``MLP`` keywords (or ``layers``, a list of layer configs,
for a ``Sequential``), ``fit`` keywords (epochs, batch_size), and optionally

* ``schedule``: "cosine" (the learning rate follows ``CosineDecay(T_max=epochs)``),
* ``augment``: ``{"shift": k}``, random circular shifts of each training row by up to k steps,
* ``data``: the dataset the recipe was chosen for (``datasets.load(data)``).

``build(settings, seed)`` turns any of them into a model and its ``fit`` keywords
(``model(settings, seed)`` and ``fit_options(settings)``).
"""
from __future__ import annotations

import inspect

from .model import MLP, Sequential

_CNN_LAYERS = [  # the paper's CNN: three strided convolutions of 25 channels, then a linear layer
    {"type": "Conv1d", "channels": 25, "kernel_size": 5, "stride": 2, "padding": 1},
    {"type": "ReLU"},
    {"type": "Conv1d", "channels": 25, "kernel_size": 3, "stride": 2, "padding": 1},
    {"type": "ReLU"},
    {"type": "Conv1d", "channels": 25, "kernel_size": 3, "stride": 2, "padding": 1},
    {"type": "ReLU"},
    {"type": "Flatten"},
    {"type": "Dense", "units": 10},
]

PRESETS: dict[str, dict] = {
    # The tutorial: standard-normal init of W and b, summed (not averaged) minibatch
    # gradients, learning rate 1e-4, one hidden layer of 64, batch 10, 10 epochs.
    "seed": {"hidden": (64,), "activation": "relu", "optimizer": "sgd", "lr": 1e-4,
             "init": "normal", "reduction": "sum", "epochs": 10, "batch_size": 10},
    # He init, averaged gradients and a learning rate that suits them (lr and batch
    # chosen on the tutorial split: 0.997 mean test accuracy over 40 seeds).
    "default": {"hidden": (64,), "activation": "relu", "optimizer": "sgd", "lr": 0.2,
                "init": "he", "reduction": "mean", "epochs": 10, "batch_size": 10},
    # MNIST-1D, chosen on a validation split of the 4,000 training rows (3,200 / 800):
    # 3 x 256 with batch norm and dropout, AdamW, a cosine schedule and +-3-step shifts
    # (0.85 validation accuracy; the paper's MLP: 0.68 test). Batch 200: half the steps
    # of batch 100 for the same accuracy, so it trains within a minute on a busy machine.
    "mnist1d-mlp": {"hidden": (256, 256, 256), "activation": "relu", "batchnorm": True,
                    "dropout": 0.1, "optimizer": "adamw", "lr": 3e-3, "weight_decay": 0.01,
                    "dtype": "float32", "epochs": 120, "batch_size": 200, "schedule": "cosine",
                    "augment": {"shift": 3}, "data": "mnist1d"},
    # The paper's CNN with Adam at lr 1e-2 and batch 100 as the paper trains it, plus a
    # cosine schedule and +-3-step shifts (0.96 validation accuracy; paper: 0.94 test).
    "mnist1d-cnn": {"layers": _CNN_LAYERS, "optimizer": "adam", "lr": 1e-2, "dtype": "float32",
                    "epochs": 150, "batch_size": 100, "schedule": "cosine",
                    "augment": {"shift": 3}, "data": "mnist1d"},
}

MODEL_KEYS = tuple(p for p in inspect.signature(MLP).parameters if p != "seed")  # MLP(**...)
SEQUENTIAL_KEYS = tuple(p for p in inspect.signature(Sequential.__init__).parameters
                        if p not in ("self", "layers", "seed"))  # Sequential(layers, **...)
FIT_KEYS = ("epochs", "batch_size")  # fit(**...)
RECIPE_KEYS = ("layers", "schedule", "augment", "data")  # what build() turns into objects
SCHEDULES = ("cosine",)
# presets that are plain MLP settings (what sweeps and trials take)
MLP_PRESETS = tuple(name for name, s in PRESETS.items() if not set(s) & set(RECIPE_KEYS))


def get(name: str) -> dict:
    """A copy of the named preset's settings."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    return dict(PRESETS[name])


def split(settings: dict) -> tuple[dict, dict]:
    """Split flat settings into ``MLP(**model_kwargs)`` and ``fit(**fit_kwargs)``."""
    model = {k: v for k, v in settings.items() if k in MODEL_KEYS}
    fit = {k: v for k, v in settings.items() if k in FIT_KEYS}
    return model, fit


def build(settings, seed=None) -> tuple[Sequential, dict]:
    """A preset's name or flat settings -> (an unfitted model, its ``fit`` keywords:
    epochs, batch_size and, where the settings ask, ``callbacks`` and ``augment``).

    >>> model, fit = build("mnist1d-cnn", seed=0)
    >>> model.fit(X_train, y_train, **fit)
    """
    settings = get(settings) if isinstance(settings, str) else dict(settings)
    return model(settings, seed), fit_options(settings)


def model(settings: dict, seed=None) -> Sequential:
    """The unfitted model of flat settings: ``Sequential(layers)`` when they hold a layer
    list, else an ``MLP``. Settings that do not apply to it are refused, by name."""
    from . import layers as L

    allowed = set(MODEL_KEYS) | set(FIT_KEYS) | set(RECIPE_KEYS)
    if "layers" in settings:  # a Sequential: MLP's own keys do not apply
        allowed = set(SEQUENTIAL_KEYS) | set(FIT_KEYS) | set(RECIPE_KEYS)
    unknown = sorted(set(settings) - allowed)
    if unknown:
        kind = "a preset built from a layer list" if "layers" in settings else "an MLP preset"
        raise ValueError(f"settings {unknown} do not apply to {kind}; valid: {', '.join(sorted(allowed))}")
    if "layers" in settings:
        layers = [L.from_config(cfg) for cfg in settings["layers"]]
        return Sequential(layers, seed=seed,
                          **{k: v for k, v in settings.items() if k in SEQUENTIAL_KEYS})
    return MLP(seed=seed, **{k: v for k, v in settings.items() if k in MODEL_KEYS})


def fit_options(settings: dict) -> dict:
    """``fit`` keywords of flat settings: epochs, batch_size, and ``callbacks`` (the
    learning-rate schedule) and ``augment`` where the settings have them."""
    from .callbacks import LearningRateScheduler
    from .optimizers import CosineDecay
    from .train import RandomShift

    fit = {"epochs": settings.get("epochs", 10), "batch_size": settings.get("batch_size", 32)}
    schedule = settings.get("schedule")
    if schedule is not None:
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
        scheduler = LearningRateScheduler(CosineDecay(fit["epochs"]))
        # the settings' lr is the schedule's base, also for a resumed run whose lr has decayed
        scheduler.base_lr = settings.get("lr")
        fit["callbacks"] = [scheduler]
    augment = settings.get("augment")
    if augment is not None:
        if not isinstance(augment, dict) or set(augment) != {"shift"}:
            raise ValueError(f"augment must be {{'shift': k}}, got {augment!r}")
        fit["augment"] = RandomShift(augment["shift"])
    return fit

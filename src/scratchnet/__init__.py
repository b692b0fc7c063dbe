"""scratchnet: neural networks from scratch on NumPy.

The public names below are imported on first use (PEP 562), so that ``import
scratchnet`` and the ``scratchnet`` command start without loading every module."""
import importlib

__version__ = "0.1.0"

_HOMES = {  # public name -> the module that defines it
    "datasets": None,
    "EarlyStopping": "callbacks", "LearningRateScheduler": "callbacks", "ReduceLROnPlateau": "callbacks",
    "Standardizer": "preprocessing",
    "Conv1d": "conv", "Flatten": "conv", "GlobalAvgPool1d": "conv", "MaxPool1d": "conv",
    "from_sklearn": "export", "from_torch": "export",
    "load": "io", "save": "io",
    "GELU": "layers", "BatchNorm1d": "layers", "Dense": "layers", "Dropout": "layers",
    "LeakyReLU": "layers", "ReLU": "layers", "Sigmoid": "layers", "Softmax": "layers", "Tanh": "layers",
    "BinaryCrossEntropy": "losses", "MeanSquaredError": "losses", "SoftmaxCrossEntropy": "losses",
    "MLP": "model", "Sequential": "model",
    "SGD": "optimizers", "Adam": "optimizers", "AdamW": "optimizers", "CosineDecay": "optimizers",
    "RMSprop": "optimizers", "StepDecay": "optimizers",
    "RandomShift": "train", "TrainingDiverged": "train",
}

__all__ = ["__version__", *_HOMES]


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module 'scratchnet' has no attribute {name!r}")
    home = _HOMES[name]
    module = importlib.import_module(f".{home or name}", __name__)
    value = module if home is None else getattr(module, name)
    globals()[name] = value  # looked up once
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOMES))

"""scratchnet: neural networks from scratch on NumPy."""
__version__ = "0.1.0"

from . import datasets
from .callbacks import EarlyStopping, LearningRateScheduler, ReduceLROnPlateau
from .preprocessing import Standardizer
from .conv import Conv1d, Flatten, GlobalAvgPool1d, MaxPool1d
from .export import from_sklearn, from_torch
from .io import load, save
from .layers import GELU, BatchNorm1d, Dense, Dropout, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .losses import BinaryCrossEntropy, MeanSquaredError, SoftmaxCrossEntropy
from .model import MLP, Sequential
from .optimizers import SGD, Adam, AdamW, CosineDecay, RMSprop, StepDecay
from .train import RandomShift, TrainingDiverged

__all__ = ["MLP", "Sequential", "Dense", "ReLU", "Softmax", "SoftmaxCrossEntropy", "SGD",
           "TrainingDiverged", "__version__",
           "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Dropout", "BatchNorm1d",
           "BinaryCrossEntropy", "MeanSquaredError", "Adam", "AdamW", "RMSprop",
           "StepDecay", "CosineDecay", "EarlyStopping", "ReduceLROnPlateau",
           "LearningRateScheduler", "Standardizer", "datasets", "save", "load",
           "from_torch", "from_sklearn",
           "Conv1d", "MaxPool1d", "GlobalAvgPool1d", "Flatten", "RandomShift"]

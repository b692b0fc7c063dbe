"""scratchnet: neural networks from scratch on NumPy."""
__version__ = "0.1.0"

from .layers import Dense, ReLU, Softmax
from .losses import SoftmaxCrossEntropy
from .model import MLP, Sequential
from .optimizers import SGD
from .train import TrainingDiverged

__all__ = ["MLP", "Sequential", "Dense", "ReLU", "Softmax", "SoftmaxCrossEntropy", "SGD",
           "TrainingDiverged", "__version__"]

"""Minibatches (``batches``), and the old import paths of what moved out of here:
``LabelEncoder`` and ``one_hot`` (now ``scratchnet.preprocessing``), ``tutorial_moons``
and ``as_generator`` (``scratchnet.datasets``), ``check_X`` (``scratchnet.validation``).
They are the same objects, so code and model files that name ``scratchnet.data`` work."""
from __future__ import annotations

from typing import Iterator

import numpy as np

from .datasets import as_generator, tutorial_moons  # noqa: F401  (old import paths)
from .preprocessing import LabelEncoder, one_hot  # noqa: F401
from .validation import check_X  # noqa: F401


def batches(n: int, batch_size: int, rng: np.random.Generator | None) -> Iterator[np.ndarray]:
    """Row indices of each minibatch of one epoch: a fresh permutation when
    ``rng`` is given, else in order. The last batch may be smaller."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def moons():
    from scratchnet.data import tutorial_moons

    return tutorial_moons()

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def moons():
    from scratchnet.data import tutorial_moons

    return tutorial_moons()


def require(module: str):
    """Import an optional dependency for a test module: skipped where it is missing,
    except in CI (env CI set), where a missing extra is a failure, not a skip."""
    import importlib
    import os

    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)

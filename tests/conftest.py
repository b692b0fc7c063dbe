import contextlib
import gc
import os

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


@contextlib.contextmanager
def uncollected_garbage(log):
    """Garbage this process has not collected while the block runs: an object in a
    reference cycle whose destructor appends the id of the process it runs in to
    ``log``. After the block it is collected here, so ``log`` then names every process
    that destroyed it (a forked child that collects inherited garbage adds its own)."""
    class Garbage:
        def __init__(self):
            self.cycle = self

        def __del__(self):
            with open(log, "a") as f:
                f.write(f"{os.getpid()}\n")

    gc.collect()
    gc.disable()  # the garbage stays uncollected here until the block ends
    try:
        Garbage()
        yield
    finally:
        gc.enable()
    gc.collect()

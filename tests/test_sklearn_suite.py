"""scikit-learn's own test suite for its MLP estimators, run against scratchnet's.

"Drop-in" means changing one import. This module takes that literally: it reads
``sklearn/neural_network/tests/test_mlp.py`` from the installed scikit-learn (the
file is read at test time, never copied into this repository), swaps its import
of ``MLPClassifier, MLPRegressor`` for ``scratchnet.sklearn``'s, executes it as a
module and exposes each of its tests here, so pytest reports every one of them
(with its own parametrisation) as a test of this module.

The suite's ``global_random_seed`` fixture comes from scikit-learn's conftest,
which is not loaded here: it is supplied below, the same way (environment variable
SKLEARN_TESTS_GLOBAL_RANDOM_SEED: a seed, "a-b", or "all"; 42 by default).

The counts in the scratchnet documentation refer to scikit-learn 1.9 (the test
extra pins ``scikit-learn==1.9.*``): another version ships another file.
"""
import importlib.util
import os
import pathlib
import types

import pytest
from threadpoolctl import threadpool_limits

SKLEARN_IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
SCRATCHNET_IMPORT = "from scratchnet.sklearn import MLPClassifier, MLPRegressor"

# Tests that check a private detail of scikit-learn's implementation, which scratchnet
# does differently on purpose: name -> reason. Each is reported as xfail, not hidden.
PRIVATE_DETAILS: dict[str, str] = {}


def _suite_path() -> pathlib.Path:
    spec = importlib.util.find_spec("sklearn")
    for folder in spec.submodule_search_locations:
        path = pathlib.Path(folder) / "neural_network" / "tests" / "test_mlp.py"
        if path.is_file():
            return path
    raise FileNotFoundError("scikit-learn's neural_network/tests/test_mlp.py is not installed")


def _load_suite() -> types.ModuleType:
    path = _suite_path()
    source = path.read_text()
    if source.count(SKLEARN_IMPORT) != 1:
        raise RuntimeError(f"{path} does not import the estimators as expected "
                           f"({SKLEARN_IMPORT!r}): another scikit-learn version?")
    module = types.ModuleType("sklearn_test_mlp_on_scratchnet")
    module.__file__ = str(path)
    code = compile(source.replace(SKLEARN_IMPORT, SCRATCHNET_IMPORT), str(path), "exec")
    exec(code, module.__dict__)
    return module


def _random_seeds() -> list[int]:
    """scikit-learn's conftest rule for SKLEARN_TESTS_GLOBAL_RANDOM_SEED."""
    value = os.environ.get("SKLEARN_TESTS_GLOBAL_RANDOM_SEED")
    if value is None:
        return [42]
    if value == "all":
        return list(range(100))
    if "-" in value:
        start, stop = value.split("-")
        seeds = list(range(int(start), int(stop) + 1))
    else:
        seeds = [int(value)]
    if min(seeds) < 0 or max(seeds) > 99:
        raise ValueError("SKLEARN_TESTS_GLOBAL_RANDOM_SEED must be in the range [0, 99] "
                         f"(or 'all'), got: {value}")
    return seeds


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """The suite's networks are small: BLAS threads only contend for the cores
    (several times slower on a busy machine), so each product runs on one."""
    with threadpool_limits(1):
        yield


@pytest.fixture(params=_random_seeds())
def global_random_seed(request):
    return request.param


_suite = _load_suite()
SUITE_TESTS = sorted(name for name in vars(_suite) if name.startswith("test_")
                     and callable(getattr(_suite, name)))

for _name in SUITE_TESTS:
    _test = getattr(_suite, _name)
    if _name in PRIVATE_DETAILS:
        _test = pytest.mark.xfail(reason=PRIVATE_DETAILS[_name], strict=True)(_test)
    globals()[_name] = _test


def test_the_whole_suite_is_collected_against_scratchnet():
    """The import swap took (the suite's names are scratchnet's estimators), and no
    test function of the file is left out."""
    from scratchnet.sklearn import MLPClassifier, MLPRegressor

    assert _suite.MLPClassifier is MLPClassifier and _suite.MLPRegressor is MLPRegressor
    assert len(SUITE_TESTS) >= 40
    assert len(PRIVATE_DETAILS) <= 4 and set(PRIVATE_DETAILS) <= set(SUITE_TESTS)

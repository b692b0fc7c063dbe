"""A refused fit, a divergence and a reused callback leave the model in a clean state."""
import numpy as np
import pytest

import scratchnet as sn
from scratchnet.callbacks import EarlyStopping
from scratchnet.group import fit_group


@pytest.fixture
def data(rng):
    X = rng.standard_normal((300, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)


def test_a_refused_first_fit_leaves_the_model_unfitted(data):
    X, y = data
    model = sn.MLP(hidden=(8,), seed=0)
    with pytest.raises(ValueError, match="batch_size=1000"):
        model.fit(X, y, batch_size=1000)
    assert not model.built
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict(X)
    with pytest.raises(ValueError, match="rows"):
        model.fit(X, y[:-1])
    model.fit(X, y, epochs=1)  # the rejected calls fitted no label encoder
    np.testing.assert_array_equal(model.classes_, [0, 1, 2])
    assert len(model.layers) == 3


@pytest.mark.parametrize("kwargs", [{"optimizer": "momentum"},
                                    {"optimizer": "momentum", "batchnorm": True}])
def test_divergence_restores_optimizer_state_and_buffers(data, kwargs):
    X, y = data
    model = sn.MLP(hidden=(8,), seed=0, lr=0.05, **kwargs).fit(X, y, epochs=2)
    before = {k: v.copy() for k, v in model.optimizer.state().items()}
    bn = [layer for layer in model.layers if hasattr(layer, "buffers") and layer.buffers]
    stats = [{k: v.copy() for k, v in layer.buffers.items()} for layer in bn]
    model.optimizer.lr = 1e300
    with pytest.raises(sn.TrainingDiverged):
        model.fit(X * 1e6, y, epochs=1)
    for k, v in model.optimizer.state().items():
        np.testing.assert_array_equal(v, before[k])
    for layer, saved in zip(bn, stats):
        for k, v in layer.buffers.items():
            np.testing.assert_array_equal(v, saved[k])
    model.optimizer.lr = 0.05
    model.fit(X, y, epochs=1)  # training goes on from the restored state
    assert np.isfinite(model.params).all() and np.isfinite(model.predict_proba(X)).all()


def test_a_reused_early_stopping_starts_afresh(data):
    X, y = data
    stop = EarlyStopping(patience=2)
    first = sn.MLP(hidden=(8,), seed=0).fit(X, y, epochs=30, validation_split=0.2, early_stopping=stop)
    second = sn.MLP(hidden=(8,), seed=1).fit(X, y, epochs=3, validation_split=0.2, early_stopping=stop)
    assert len(second.history["loss"]) == 3
    assert not np.array_equal(second.params, first.params)


def test_spare_outputs_are_never_predicted(data):
    X, y = data
    model = sn.Sequential([sn.Dense(16), sn.ReLU(), sn.Dense(10)], lr=0.1, seed=0).fit(X, y, epochs=2)
    assert model.predict_proba(X).shape == (300, 3)
    assert set(model.predict(X)) <= {0, 1, 2}


def test_a_seed_sequence_gives_the_same_model_twice(data):
    X, y = data
    seq = np.random.SeedSequence(42)
    a = sn.MLP(hidden=(8,), seed=seq).fit(X, y, epochs=1)
    b = sn.MLP(hidden=(8,), seed=seq).fit(X, y, epochs=1)
    np.testing.assert_array_equal(a.params, b.params)
    c = sn.MLP(hidden=(8,), seed=42).fit(X, y, epochs=1)  # and the same as the int seed
    np.testing.assert_array_equal(a.params, c.params)


def test_validation_split_holds_out_the_same_rows_every_fit(data):
    X, y = data
    model = sn.MLP(hidden=(8,), seed=0)
    assert np.array_equal(model._split(300, 0.2)[1], model._split(300, 0.2)[1])


def test_group_refuses_models_with_and_without_optimizer_state(data):
    X, y = data
    trained = sn.MLP(hidden=(8,), optimizer="adam", lr=1e-2, seed=0).fit(X, y, epochs=1)
    fresh = sn.MLP(hidden=(8,), optimizer="adam", lr=1e-2, seed=1)
    with pytest.raises(ValueError, match="train them apart"):
        fit_group([fresh, trained], X, y, epochs=1, batch_size=32, threads=1)


def test_numerical_grad_refuses_a_view_it_cannot_perturb():
    from scratchnet.gradcheck import numerical_grad

    x = np.ones((3, 4))[:, :2]
    with pytest.raises(ValueError, match="C-contiguous"):
        numerical_grad(lambda: float(np.sum(x)), x)


def test_numpy_scalars_are_numbers_too():
    from scratchnet.optimizers import CosineDecay, StepDecay

    assert EarlyStopping(patience=np.int64(3)).patience == 3
    StepDecay(step_size=np.int64(3))
    CosineDecay(np.int32(10))
    assert sn.Dropout(np.float32(0.25)).rate == 0.25
    assert len(sn.MLP(hidden=(4,))._split(40, np.float64(0.25))[1]) == 10

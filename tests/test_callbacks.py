from types import SimpleNamespace

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import datasets, optimizers
from scratchnet.callbacks import EarlyStopping, LearningRateScheduler, ReduceLROnPlateau


@pytest.fixture(scope="module")
def spirals():
    X, y = datasets.spirals(600, seed=0)
    return X[:450], X[450:], y[:450], y[450:]


class Recorder:
    """A callback that records what it saw, and the weights at each epoch."""

    def __init__(self):
        self.epochs, self.params = [], []

    def __call__(self, model, epoch, logs):
        self.epochs.append(dict(logs))
        self.params.append(model.params.copy())
        return False


def test_early_stopping_restores_the_best_weights(spirals):
    X_train, X_val, y_train, y_val = spirals
    rec = Recorder()
    stop = EarlyStopping(patience=3)
    # a large learning rate makes the validation loss bounce, so it stops early
    model = sn.MLP(hidden=(32,), optimizer="adam", lr=0.05, seed=0)
    model.fit(X_train, y_train, epochs=200, batch_size=16, validation_data=(X_val, y_val),
              callbacks=[rec, stop])
    val_losses = model.history["val_loss"]
    assert stop.stopped_epoch == len(val_losses) < 200
    best = int(np.argmin(val_losses))
    assert stop.best_epoch == best + 1 and len(val_losses) == best + 1 + 4  # patience 3, stop on the 4th
    np.testing.assert_array_equal(model.params, rec.params[best])
    assert model.evaluate(X_val, y_val)["loss"] == pytest.approx(val_losses[best], rel=1e-12)


def test_early_stopping_restores_batchnorm_statistics(spirals):
    X_train, X_val, y_train, y_val = spirals
    model = sn.MLP(hidden=(16,), batchnorm=True, optimizer="adam", lr=0.05, seed=1)
    model.fit(X_train, y_train, epochs=60, validation_data=(X_val, y_val), early_stopping=2)
    best = int(np.argmin(model.history["val_loss"]))
    assert model.evaluate(X_val, y_val)["loss"] == pytest.approx(model.history["val_loss"][best], rel=1e-12)


def test_early_stopping_needs_validation(spirals):
    X_train, _, y_train, _ = spirals
    with pytest.raises(ValueError, match="validation_data or validation_split"):
        sn.MLP(hidden=(4,)).fit(X_train, y_train, early_stopping=3)
    with pytest.raises(ValueError, match="monitors 'val_loss'.*logs only have"):
        sn.MLP(hidden=(4,)).fit(X_train, y_train, epochs=2, callbacks=[EarlyStopping()])


def test_early_stopping_mode_and_min_delta():
    stop = EarlyStopping(monitor="val_accuracy", patience=1, min_delta=0.01)
    model = SimpleNamespace(params=np.zeros(1), layers=[])
    seen = [stop(model, e, {"val_accuracy": a}) for e, a in enumerate([0.5, 0.6, 0.605, 0.609], 1)]
    assert seen == [False, False, False, True] and stop.best == 0.6


def test_reduce_lr_on_plateau_in_fit(spirals):
    X_train, X_val, y_train, y_val = spirals
    plateau = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, threshold=0.5)
    model = sn.MLP(hidden=(8,), lr=0.2, seed=0).fit(X_train, y_train, epochs=4, callbacks=[plateau])
    # threshold 0.5 (relative): no epoch after the first counts as better, so every one halves lr
    assert model.optimizer.lr == pytest.approx(0.2 * 0.5**3)


def test_learning_rate_scheduler_in_fit(spirals):
    X_train, _, y_train, _ = spirals
    lrs = []
    model = sn.MLP(hidden=(8,), lr=0.4, seed=0)
    model.fit(X_train, y_train, epochs=5, callbacks=[
        LearningRateScheduler(optimizers.StepDecay(2, gamma=0.5)),
        lambda m, epoch, logs: lrs.append(m.optimizer.lr)])
    assert lrs == [0.4, 0.2, 0.2, 0.1, 0.1]


def test_callback_returning_true_stops(spirals):
    X_train, _, y_train, _ = spirals
    model = sn.MLP(hidden=(4,), seed=0).fit(X_train, y_train, epochs=10,
                                             callbacks=[lambda m, e, logs: e == 3])
    assert model.history["epoch"] == [1, 2, 3]


def test_bad_callback_arguments():
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="up")
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(factor=2)
    with pytest.raises(TypeError, match="callable"):
        LearningRateScheduler(0.1)

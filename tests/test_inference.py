"""Inference: chunked equals unchunked, and no layer keeps an activation."""
import numpy as np
import pytest

import scratchnet as sn
from scratchnet import layers as L


def _model(rng, dtype, layers=None, loss="softmax_cross_entropy", n_classes=3):
    X = rng.standard_normal((300, 5))
    y = rng.integers(0, n_classes, 300) if loss != "mse" else rng.standard_normal(300)
    layers = layers or [L.Dense(16), L.BatchNorm1d(), L.GELU(), L.Dropout(0.2), L.Dense(8),
                        L.LeakyReLU(), L.Dense(8), L.Sigmoid(), L.Dense(8), L.Tanh(),
                        L.Dense(8), L.ReLU(), L.Dense(n_classes if loss == "softmax_cross_entropy" else 1)]
    model = sn.Sequential(layers, optimizer="adam", lr=1e-2, dtype=dtype, loss=loss, seed=0, scale=True)
    return model.fit(X, y, epochs=2, batch_size=32), X, y


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_chunked_inference_equals_unchunked(rng, dtype):
    model, X, y = _model(rng, dtype)
    X_new = rng.standard_normal((1000, 5))
    whole = model.predict_proba(X_new, chunk_rows=10**6)
    for chunk in (1, 7, 64, 999):
        rtol = 1e-12 if dtype == "float64" else 1e-6
        np.testing.assert_allclose(model.predict_proba(X_new, chunk_rows=chunk), whole, rtol=rtol, atol=0)
        np.testing.assert_array_equal(model.predict(X_new, chunk_rows=chunk), model.predict(X_new))
        assert model.evaluate(X, y, chunk_rows=chunk) == pytest.approx(model.evaluate(X, y), rel=1e-12)


@pytest.mark.parametrize("loss", ["mse", "binary_cross_entropy"])
def test_chunked_inference_for_regression_and_one_logit(rng, loss):
    model, X, _ = _model(rng, "float64", loss=loss, n_classes=2)
    np.testing.assert_allclose(model.predict(X, chunk_rows=13), model.predict(X), rtol=1e-12, atol=0)


def test_infer_equals_forward_without_training(rng):
    model, X, _ = _model(rng, "float64")
    x = model.scaled(X[:50].copy())
    before = x.copy()
    np.testing.assert_allclose(model.infer(x), model.forward(x, train=False), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(x, before)  # the caller's array is never written


def test_inference_keeps_no_activations(rng):
    model, X, y = _model(rng, "float64")
    for layer in model.layers:  # drop what training left behind
        for name in ("x", "x1", "out", "t", "mask", "slope", "x_hat", "inv_std"):
            layer.__dict__.pop(name, None)
    model.predict_proba(X)
    model.predict(X)
    model.evaluate(X, y)
    for layer in model.layers:
        cached = [k for k, v in vars(layer).items()
                  if isinstance(v, np.ndarray) and v.ndim >= 2 and v.shape[-2] == len(X)]
        assert not cached, f"{type(layer).__name__} kept {cached} after inference"


def test_chunk_rows_is_checked(rng):
    model, X, _ = _model(rng, "float64")
    with pytest.raises(ValueError, match="chunk_rows"):
        model.predict(X, chunk_rows=0)
    with pytest.raises(TypeError, match="chunk_rows"):
        model.predict_proba(X, chunk_rows=1.5)

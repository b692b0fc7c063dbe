"""engine.loss_and_grad: the loss of a model on given data and its gradient with
respect to the flat parameter vector (what L-BFGS minimises), and the per-row
losses (``Loss.rows``) it is built on."""
import numpy as np
import pytest
from scipy import sparse

from scratchnet import layers as L
from scratchnet import losses
from scratchnet.engine import loss_and_grad
from scratchnet.gradcheck import numerical_grad, relative_error
from scratchnet.model import Sequential

LOSSES = {
    "softmax": (lambda: losses.SoftmaxCrossEntropy(), 3),
    "softmax, smoothed, sum": (lambda: losses.SoftmaxCrossEntropy("sum", label_smoothing=0.1), 3),
    "multilabel (batchmean)": (lambda: losses.BinaryCrossEntropy("batchmean"), 3),
    "binary": (lambda: losses.BinaryCrossEntropy(), 1),
    "mse": (lambda: losses.MeanSquaredError(), 2),
    "half squared error (batchmean)": (lambda: losses.MeanSquaredError("batchmean", half=True), 2),
    "poisson (batchmean)": (lambda: losses.PoissonDeviance("batchmean"), 2),
    "poisson": (lambda: losses.PoissonDeviance(), 2),
}


def _problem(rng, name, n=23):
    make_loss, k = LOSSES[name]
    model = Sequential([L.Dense(6), L.Tanh(), L.Dense(5), L.Sigmoid(), L.Dense(k)],
                       seed=0).build(4)
    model.loss = make_loss()
    model.params[...] = rng.normal(scale=0.5, size=model.params.shape)
    X = rng.normal(size=(n, 4))
    if name.startswith("softmax"):
        Y = np.eye(k)[rng.integers(0, k, n)]
    elif name.startswith(("multilabel", "binary")):
        Y = rng.integers(0, 2, (n, k)).astype(float)
    elif name.startswith("poisson"):
        Y = rng.poisson(1.5, (n, k)).astype(float)
    else:
        Y = rng.normal(size=(n, k))
    return model, X, Y


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", list(LOSSES))
def test_gradient_matches_finite_differences(rng, name, weighted):
    model, X, Y = _problem(rng, name)
    w = rng.uniform(0, 2, len(X)) if weighted else None
    loss, grad = loss_and_grad(model, model.params, X, Y, w, chunk_rows=5)
    numeric = numerical_grad(lambda: loss_and_grad(model, model.params, X, Y, w)[0], model.params)
    assert relative_error(grad, numeric) < 1e-7
    assert np.isfinite(loss) and grad.shape == model.params.shape
    assert not np.shares_memory(grad, model.grads)


@pytest.mark.parametrize("name", list(LOSSES))
def test_chunked_equals_unchunked_and_sparse_equals_dense(rng, name):
    model, X, Y = _problem(rng, name)
    w = rng.uniform(0, 2, len(X))
    theta = model.params.copy()
    whole = loss_and_grad(model, theta, X, Y, w, chunk_rows=len(X))
    for chunk_rows in (1, 4, 7):
        loss, grad = loss_and_grad(model, theta, X, Y, w, chunk_rows=chunk_rows)
        assert loss == pytest.approx(whole[0], rel=1e-12)
        np.testing.assert_allclose(grad, whole[1], rtol=1e-12, atol=1e-15)
    X[np.abs(X) < 0.7] = 0
    dense = loss_and_grad(model, theta, X, Y, w)
    loss, grad = loss_and_grad(model, theta, sparse.csr_matrix(X), Y, w, chunk_rows=6)
    assert loss == pytest.approx(dense[0], rel=1e-12)
    np.testing.assert_allclose(grad, dense[1], rtol=1e-12, atol=1e-15)


def test_flat_params_are_copied_in_and_weights_act_as_repeated_rows(rng):
    model, X, Y = _problem(rng, "softmax")
    theta = rng.normal(size=model.params.shape)
    loss, grad = loss_and_grad(model, theta, X, Y)
    np.testing.assert_array_equal(model.params, theta)  # the layers' views see theta
    counts = rng.integers(0, 4, len(X))
    weighted = loss_and_grad(model, theta, X, Y, counts)
    repeated = loss_and_grad(model, theta, np.repeat(X, counts, axis=0), np.repeat(Y, counts, axis=0))
    assert weighted[0] == pytest.approx(repeated[0], rel=1e-12)
    np.testing.assert_allclose(weighted[1], repeated[1], rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match="chunk_rows"):
        loss_and_grad(model, theta, X, Y, chunk_rows=0)


def test_evaluates_the_network_as_it_predicts_unless_train(rng):
    model = Sequential([L.Dense(8), L.ReLU(), L.Dropout(0.5), L.Dense(3)], seed=0).build(4)
    X, Y = rng.normal(size=(30, 4)), np.eye(3)[rng.integers(0, 3, 30)]
    first = loss_and_grad(model, model.params, X, Y)
    second = loss_and_grad(model, model.params, X, Y, chunk_rows=7)
    assert first[0] == pytest.approx(second[0], rel=1e-12)  # no dropout masks drawn
    assert first[0] == pytest.approx(model.loss.forward(model.forward(X), Y), rel=1e-12)
    trained = loss_and_grad(model, model.params, X, Y, train=True)
    assert trained[0] != pytest.approx(first[0])  # dropout on


@pytest.mark.parametrize("name", list(LOSSES))
def test_rows_are_what_forward_and_backward_reduce(rng, name):
    """forward = the mean (or sum) over rows of rows()'s losses; backward = rows()'s
    gradient / B (or as is for "sum")."""
    model, X, Y = _problem(rng, name)
    loss = model.loss
    logits = rng.normal(size=Y.shape)
    row_loss, row_grad = loss.rows(logits, Y)
    value = loss.forward(logits, Y)
    B = len(Y)
    per_row = 1 if loss.reduction == "sum" else B
    assert value == pytest.approx(row_loss.sum() / per_row, rel=1e-12)
    np.testing.assert_allclose(loss.backward(), row_grad / per_row, rtol=1e-12, atol=1e-15)


def test_sklearn_conventions_of_the_shared_losses(rng):
    z, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    half = losses.MeanSquaredError("batchmean", half=True)
    assert half.forward(z, y) == pytest.approx(0.5 * np.sum((z - y) ** 2) / 6, rel=1e-12)
    np.testing.assert_allclose(half.backward(), (z - y) / 6, rtol=1e-12)
    assert losses.MeanSquaredError().config() == {"type": "MeanSquaredError", "reduction": "mean"}
    assert losses.from_config(half.config()).half
    counts = rng.poisson(2.0, size=(6, 3)).astype(float)
    mu = np.exp(z)
    with np.errstate(divide="ignore", invalid="ignore"):
        deviance = np.where(counts > 0, counts * np.log(counts / mu), 0) - counts + mu
    poisson = losses.PoissonDeviance("batchmean")
    assert poisson.forward(z, counts) == pytest.approx(deviance.sum() / 6, rel=1e-12)
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum', got 'batchmean'"):
        losses.SoftmaxCrossEntropy("batchmean")


def test_a_sparse_matrix_is_densified_one_chunk_at_a_time(rng, monkeypatch):
    model, X, Y = _problem(rng, "softmax", n=40)
    X[np.abs(X) < 0.7] = 0
    X_csr = sparse.csr_matrix(X)
    densified = []
    toarray = sparse.csr_matrix.toarray

    def recording_toarray(self, *args, **kwargs):
        densified.append(self.shape[0])
        return toarray(self, *args, **kwargs)

    monkeypatch.setattr(sparse.csr_matrix, "toarray", recording_toarray)
    loss, _ = loss_and_grad(model, model.params, X_csr, Y, chunk_rows=16)
    assert densified == [16, 16, 8]
    assert loss == pytest.approx(loss_and_grad(model, model.params, X, Y)[0], rel=1e-12)

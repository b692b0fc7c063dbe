"""train_epoch's sample weights and penalty hook (scikit-learn's objective in the
one loop): each checked against what it must equal, rows repeated by their integer
weights, or the epoch computed batch by batch from engine.loss_and_grad."""
import numpy as np
import pytest
from scipy import sparse

from scratchnet import layers as L
from scratchnet import losses
from scratchnet.engine import loss_and_grad
from scratchnet.model import Sequential
from scratchnet.train import train_epoch

LOSSES = {  # name: (loss, outputs); the batchmean ones are scikit-learn's conventions
    "softmax": (lambda: losses.SoftmaxCrossEntropy(), 3),
    "binary": (lambda: losses.BinaryCrossEntropy(), 1),
    "multilabel (batchmean)": (lambda: losses.BinaryCrossEntropy("batchmean"), 3),
    "half squared error (batchmean)": (lambda: losses.MeanSquaredError("batchmean", half=True), 2),
    "poisson (batchmean)": (lambda: losses.PoissonDeviance("batchmean"), 2),
}


def _problem(rng, name, n=24, optimizer="momentum", seed=0):
    make_loss, k = LOSSES[name]
    model = Sequential([L.Dense(6), L.Tanh(), L.Dense(k)], optimizer=optimizer, lr=0.05,
                       seed=seed).build(4)
    model.loss = make_loss()
    X = rng.normal(size=(n, 4))
    if name == "softmax":
        y = rng.integers(0, k, n)
        return model, X, np.eye(k)[y], y
    if name == "binary":
        y = rng.integers(0, 2, n)
        return model, X, y[:, None].astype(float), y
    if name.startswith("multilabel"):
        return model, X, rng.integers(0, 2, (n, k)).astype(float), None
    if name.startswith("poisson"):
        return model, X, rng.poisson(1.5, (n, k)).astype(float), None
    return model, X, rng.normal(size=(n, k)), None


def _l2(alpha, mask):
    """R = 0.5 * alpha * ||mask * theta||^2, scikit-learn's penalty, as a hook."""
    def penalty(params, grads, w_sum):
        W = params * mask
        grads += (alpha / w_sum) * W
        return 0.5 * alpha * float(W @ W)
    return penalty


@pytest.mark.parametrize("name", list(LOSSES))
def test_integer_weights_act_as_repeated_rows(rng, name):
    """Batches of 4 rows whose weights sum to 4 (or to 0: skipped) are, repeated by
    their weights, batches of 4 rows: the same steps, loss and accuracy."""
    model, X, Y, y = _problem(rng, name)
    repeated, *_ = _problem(np.random.default_rng(0), name)
    repeated.params[...] = model.params
    w = np.array([2, 0, 1, 1] * 2 + [0, 0, 0, 0] + [1, 3, 0, 0] * 3, dtype=float)
    order = rng.permutation(len(X))
    w_rows = np.empty_like(w)
    w_rows[order] = w  # the j-th row seen has weight w[j]: each batch sums to 4 or to 0
    rows = np.repeat(order, w.astype(int))  # the rows seen, each as often as its weight
    for _ in range(3):
        got = train_epoch(model, X, Y, y, 4, None, order=order, sample_weight=w_rows)
        want = train_epoch(repeated, X[rows], Y[rows], None if y is None else y[rows], 4, None)
        assert got[0] == pytest.approx(want[0], rel=1e-12)
        assert got[1] == pytest.approx(want[1], rel=1e-12)
        np.testing.assert_allclose(model.params, repeated.params, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", list(LOSSES))
def test_penalty_and_weights_equal_the_epoch_from_loss_and_grad(rng, name, weighted):
    """The reference: per batch, the full-batch gradient of that batch (engine) plus
    the penalty's, the optimizer's step; the epoch's loss the weighted mean of the
    batches' objectives, each penalty at the weights its batch saw."""
    model, X, Y, _ = _problem(rng, name, n=23)
    reference, *_ = _problem(np.random.default_rng(0), name, n=23)
    reference.params[...] = model.params
    mask = rng.integers(0, 2, model.params.shape).astype(float)
    alpha, batch_size = 0.3, 5
    w = rng.uniform(0, 2, len(X)) if weighted else None
    if weighted:
        w[5:10] = 0  # a batch of no weight: skipped
    penalty = _l2(alpha, mask)
    for epoch in range(3):
        order = np.random.default_rng(epoch).permutation(len(X))
        loss, _ = train_epoch(model, X, Y, None, batch_size, None, order=order,
                              sample_weight=w, penalty=penalty)
        total = 0.0
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            wb = None if w is None else w[idx]
            w_sum = len(idx) if wb is None else wb.sum()
            if w_sum == 0:
                continue
            theta = reference.params
            batch_loss, grad = loss_and_grad(reference, theta, X[idx], Y[idx], wb, train=True)
            R = 0.5 * alpha * float(np.sum((mask * theta) ** 2))
            grad += alpha / w_sum * mask * theta
            total += batch_loss * w_sum + R
            reference.optimizer.step(theta, grad)
        assert loss == pytest.approx(total / (len(X) if w is None else w.sum()), rel=1e-12)
        np.testing.assert_allclose(model.params, reference.params, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", list(LOSSES))
def test_unit_weights_are_the_default_epoch(rng, name):
    """No weights, no penalty: the fast path (its loss gradient, the learning rate
    folded in), the same epoch, and for "batchmean" losses the same mean loss."""
    model, X, Y, y = _problem(rng, name, optimizer="sgd")
    weighted, *_ = _problem(np.random.default_rng(0), name, optimizer="sgd")
    weighted.params[...] = model.params
    for epoch in range(2):
        got = train_epoch(model, X, Y, y, 5, np.random.default_rng(epoch))
        want = train_epoch(weighted, X, Y, y, 5, np.random.default_rng(epoch),
                           sample_weight=np.ones(len(X)))
        assert got[0] == pytest.approx(want[0], rel=1e-12)
        assert got[1] == want[1]
        np.testing.assert_allclose(model.params, weighted.params, rtol=1e-12, atol=1e-14)


def test_a_sparse_x_trains_as_the_dense_one(rng):
    model, X, Y, y = _problem(rng, "softmax")
    dense, *_ = _problem(np.random.default_rng(0), "softmax")
    dense.params[...] = model.params
    X[np.abs(X) < 0.7] = 0
    w = rng.uniform(0, 2, len(X))
    for epoch in range(2):
        got = train_epoch(model, sparse.csr_matrix(X), Y, y, 5, np.random.default_rng(epoch),
                          sample_weight=w)
        want = train_epoch(dense, X, Y, y, 5, np.random.default_rng(epoch), sample_weight=w)
        assert got == want
        np.testing.assert_array_equal(model.params, dense.params)


def test_a_leading_batch_of_no_weight_leaves_the_model_and_the_loss_finite(rng):
    model, X, Y, y = _problem(rng, "softmax", n=12)
    w = np.r_[np.zeros(4), np.ones(8)]
    before = model.params.copy()
    model.optimizer.lr = 0.0  # steps change nothing: the loss is that of the first weights
    freed = [np.full(Y.shape, np.nan) for _ in range(8)]  # NumPy reuses such small blocks:
    del freed  # whatever the rows never stepped on hold, they count for nothing
    loss, accuracy = train_epoch(model, X, Y, y, 4, None, sample_weight=w)
    np.testing.assert_array_equal(model.params, before)
    logits = model.forward(X[4:])
    assert loss == pytest.approx(model.loss.forward(logits, Y[4:]), rel=1e-12)
    assert accuracy == np.mean(logits.argmax(axis=1) == y[4:])


def test_weights_are_refused_where_they_have_no_meaning(rng):
    model, X, Y, y = _problem(rng, "softmax")
    with pytest.raises(ValueError, match=r"shape \(24,\)"):
        train_epoch(model, X, Y, y, 5, None, sample_weight=np.ones(23))
    with pytest.raises(ValueError, match="sum to more than 0"):
        train_epoch(model, X, Y, y, 5, None, sample_weight=np.zeros(24))
    with pytest.raises(ValueError, match=">= 0"):
        train_epoch(model, X, Y, y, 5, None, sample_weight=np.r_[-1.0, np.ones(23)])
    with pytest.raises(ValueError, match="one model"):
        train_epoch(model, X, Y, y, 5, None, order=np.tile(np.arange(24), (2, 1)),
                    sample_weight=np.ones(24))
    model.loss = losses.SoftmaxCrossEntropy("sum")
    with pytest.raises(ValueError, match="reduction='sum'"):
        train_epoch(model, X, Y, y, 5, None, penalty=_l2(0.1, 1.0))

import numpy as np
import pytest

from scratchnet.data import one_hot
from scratchnet.gradcheck import numerical_grad, relative_error
from scratchnet.losses import SoftmaxCrossEntropy


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 2)])
def test_gradient_matches_finite_differences(reduction, shape, rng):
    loss = SoftmaxCrossEntropy(reduction)
    logits = rng.standard_normal(shape)
    targets = one_hot(rng.integers(0, shape[-1], shape[:-1]), shape[-1])
    loss.forward(logits, targets)
    analytic = loss.backward()
    numeric = numerical_grad(lambda: float(np.sum(loss.forward(logits, targets))), logits)
    assert relative_error(analytic, numeric) < 1e-6


def test_gradient_is_probs_minus_onehot_over_batch(rng):
    logits = rng.standard_normal((4, 3))
    targets = one_hot(np.array([0, 2, 1, 1]), 3)
    loss = SoftmaxCrossEntropy("mean")
    loss.forward(logits, targets)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(loss.backward(), (probs - targets) / 4, rtol=1e-12)


def test_value_is_mean_negative_log_likelihood(rng):
    logits = rng.standard_normal((6, 4))
    y = rng.integers(0, 4, 6)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(probs[np.arange(6), y]))
    assert SoftmaxCrossEntropy().forward(logits, one_hot(y, 4)) == pytest.approx(expected, rel=1e-12)


def test_extreme_logits_give_finite_loss_and_gradient():
    logits = np.array([[1e4, -1e4], [-1e4, 1e4]])
    loss = SoftmaxCrossEntropy()
    value = loss.forward(logits, one_hot(np.array([1, 1]), 2))  # first row: p(target) = 0
    assert np.isfinite(value) and value == pytest.approx(1e4)
    assert np.isfinite(loss.backward()).all()


def test_unknown_reduction():
    with pytest.raises(ValueError, match="reduction"):
        SoftmaxCrossEntropy("median")


@pytest.mark.parametrize("reduction", ["mean", "sum", "batchmean"])
@pytest.mark.parametrize("half", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_and_mse_gradient_is_backward_bit_for_bit(reduction, half, dtype, rng):
    """The training step's ``gradient`` (no loss value) is forward-then-backward's
    dL/dlogits exactly, and leaves its arguments alone."""
    from scratchnet.losses import BinaryCrossEntropy, MeanSquaredError

    z = (rng.standard_normal((7, 3)) * 5).astype(dtype)
    y = rng.integers(0, 2, z.shape).astype(dtype)
    cases = [(MeanSquaredError(reduction, half=half), z, rng.standard_normal(z.shape).astype(dtype))]
    if not half:
        cases.append((BinaryCrossEntropy(reduction), z, y))
    for loss, out, target in cases:
        kept = out.copy(), target.copy()
        fast = loss.gradient(out, target)
        loss.forward(out, target)
        np.testing.assert_array_equal(fast, loss.backward())
        assert fast.dtype == dtype
        np.testing.assert_array_equal(out, kept[0])
        np.testing.assert_array_equal(target, kept[1])

import numpy as np
import pytest

from scratchnet import layers as L
from scratchnet.gradcheck import bind_random, check_layer, numerical_grad, relative_error


def test_numerical_grad_of_a_known_function(rng):
    x = rng.standard_normal((3, 2))
    np.testing.assert_allclose(numerical_grad(lambda: float(np.sum(x ** 3)), x), 3 * x ** 2, rtol=1e-7)


def test_relative_error_is_scale_free():
    assert relative_error(np.array([1e-9]), np.array([1.01e-9])) == pytest.approx(0.01 / 1.01)
    assert relative_error(np.zeros(3), np.zeros(3)) == 0


class WrongGate(L.ReLU):
    """ReLU with the tutorial's eq. 17 typo: gate 1 only where x >= 1."""

    def forward(self, x, train=False):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, grad_out):
        return grad_out * (self.x >= 1)


def test_check_layer_catches_a_wrong_backward(rng):
    x = rng.uniform(0.1, 0.9, (4, 3))  # 0 < x < 1: the typo's gate is 0, the true one 1
    with pytest.raises(AssertionError, match="input gradient"):
        check_layer(WrongGate(), x, rng)
    check_layer(L.ReLU(), x, rng)
    check_layer(bind_random(L.Dense(2), 3, rng), x, rng)

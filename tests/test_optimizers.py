"""Optimizer behaviour that needs no oracle; tests/test_torch_oracle.py checks the
update rules against torch.optim."""
import numpy as np
import pytest

from scratchnet import optimizers as O


@pytest.mark.parametrize("name", sorted(O.OPTIMIZERS))
def test_every_optimizer_minimises_a_quadratic(name):
    """f(theta) = |theta - target|^2 / 2 has gradient theta - target."""
    rng = np.random.default_rng(0)
    target = rng.standard_normal(10)
    params = np.zeros(10)
    opt = O.get(name, lr=0.05)
    for _ in range(500):
        opt.step(params, params - target)
    np.testing.assert_allclose(params, target, atol=2e-2)


def test_plain_sgd_is_the_tutorial_update():
    params, grads = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    O.SGD(lr=0.1).step(params, grads)
    np.testing.assert_array_equal(params, [0.95, -2.025])


@pytest.mark.parametrize("make", [lambda: O.SGD(0.1, momentum=0.9, nesterov=True), lambda: O.RMSprop(0.01, momentum=0.5, centered=True),
                                  lambda: O.Adam(0.01), lambda: O.AdamW(0.01, weight_decay=0.1)])
def test_config_and_state_resume_exactly(make):
    """A copy rebuilt from config() and state() continues exactly like the original."""
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(6) for _ in range(20)]
    a, pa = make(), rng.standard_normal(6)
    for g in grads[:10]:
        a.step(pa, g.copy())
    b, pb = O.from_config(a.config()), pa.copy()
    b.load_state({k: v.copy() for k, v in a.state().items()})
    assert a.state() and set(b.state()) == set(a.state())
    for g in grads[10:]:
        a.step(pa, g.copy())
        b.step(pb, g.copy())
    np.testing.assert_array_equal(pa, pb)


def test_clip_by_global_norm():
    g = np.array([3.0, 4.0])
    assert O.clip_by_global_norm(g, 1.0) == 5.0
    assert np.linalg.norm(g) == pytest.approx(1.0, rel=1e-6)
    small = np.array([0.3, 0.4])
    O.clip_by_global_norm(small, 1.0)
    np.testing.assert_array_equal(small, [0.3, 0.4])


def test_float32_state_stays_float32():
    params = np.ones(4, np.float32)
    for opt in (O.Adam(0.01), O.RMSprop(0.01), O.SGD(0.1, momentum=0.9)):
        opt.step(params, np.ones(4, np.float32))
        assert params.dtype == np.float32
        assert all(v.dtype == np.float32 for k, v in opt.state().items() if k != "t")


def test_schedules():
    step = O.StepDecay(3, gamma=0.5)
    assert [step(1.0, e) for e in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    cos = O.CosineDecay(10, eta_min=0.1)
    assert cos(1.0, 0) == 1.0 and cos(1.0, 10) == pytest.approx(0.1) and cos(1.0, 5) == pytest.approx(0.55)


@pytest.mark.parametrize("call, match", [
    (lambda: O.get("adagrad", lr=0.1), "valid: adam, adamw, momentum, nesterov, rmsprop, sgd"),
    (lambda: O.SGD(0.1, nesterov=True), "nesterov"),
    (lambda: O.SGD(0.1, momentum=-0.5), "momentum"),
    (lambda: O.Adam(0.1, beta1=1.0), "beta1"),
    (lambda: O.Adam(0.1, weight_decay=float("nan")), "weight_decay"),
    (lambda: O.RMSprop(0.1, eps=0), "eps"),
    (lambda: O.SGD(0.1, clipnorm=0), "clipnorm"),
    (lambda: O.StepDecay(0), "step_size"),
    (lambda: O.CosineDecay(2.5), "T_max"),
])
def test_bad_hyper_parameters_name_themselves(call, match):
    with pytest.raises(ValueError, match=match):
        call()

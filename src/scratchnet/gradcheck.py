"""Finite-difference gradients, to check every analytic ``backward`` against."""
from __future__ import annotations

import numpy as np


def numerical_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to ``x``, perturbed in place."""
    if not x.flags.c_contiguous:
        raise ValueError("numerical_grad perturbs x in place: x must be C-contiguous")
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        f_plus = f()
        flat[i] = old - eps
        f_minus = f()
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|a|, |b|, tiny): scale-free, 0 when both are 0."""
    scale = max(np.abs(a).max(initial=0), np.abs(b).max(initial=0), 1e-12)
    return float(np.abs(a - b).max(initial=0) / scale)


def bind_random(layer, n_in: int, rng: np.random.Generator, lead: tuple = ()):
    """Give ``layer`` freshly allocated standard-normal parameters for ``n_in``
    inputs (with leading axes ``lead``, e.g. ``(M,)`` for a model group)."""
    params = {k: rng.standard_normal(lead + s) for k, s in layer.param_shapes(n_in).items()}
    layer.bind(params, {k: np.zeros_like(v) for k, v in params.items()})
    return layer


def check_layer(layer, x: np.ndarray, rng: np.random.Generator, train: bool = True,
                tol: float = 1e-6) -> None:
    """Assert that ``layer.backward`` gives the input and parameter gradients of
    the scalar ``sum(forward(x) * G)`` (G random) to relative error ``tol``."""
    G = rng.standard_normal(layer.forward(x, train).shape)
    f = lambda: float(np.sum(layer.forward(x, train) * G))  # noqa: E731
    layer.forward(x, train)
    grad_x = layer.backward(G)
    analytic = {k: v.copy() for k, v in layer.grads.items()}
    err = relative_error(grad_x, numerical_grad(f, x))
    assert err < tol, f"input gradient: relative error {err:.2e}"
    for name, p in layer.params.items():
        err = relative_error(analytic[name], numerical_grad(f, p))
        assert err < tol, f"gradient of {name}: relative error {err:.2e}"


def check_model_axis(group, x: np.ndarray, grad_out: np.ndarray, train: bool = True,
                     tol: float = 1e-12) -> None:
    """Assert that ``group``, a layer bound to parameters with a leading model axis
    (M, ...), computes for each model m what the same layer bound to model m's
    parameters computes on x[m]: outputs, input gradients, parameter gradients and
    buffers (batch norm's running statistics), to ``tol``."""
    from .layers import from_config

    out = group.forward(x, train)
    grad_x = group.backward(grad_out)
    for m in range(len(x)):
        single = from_config(group.config())
        single.bind({k: v[m].copy() for k, v in group.params.items()},
                    {k: np.zeros_like(v[m]) for k, v in group.params.items()})
        pairs = [(single.forward(x[m], train), out[m]), (single.backward(grad_out[m]), grad_x[m])]
        pairs += [(single.grads[k], group.grads[k][m]) for k in group.grads]
        pairs += [(single.buffers[k], group.buffers[k][m]) for k in getattr(group, "buffers", {})]
        for single_value, group_value in pairs:
            np.testing.assert_allclose(single_value, group_value, rtol=tol, atol=tol)

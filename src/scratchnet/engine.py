"""The engine: what trains a network, written once.

The full-batch entry point, ``loss_and_grad``, gives the loss of a model on given
data and its gradient with respect to the model's one flat parameter vector, from
the model's own layers and loss. It is what a full-batch optimizer needs
(``scipy.optimize.minimize`` with ``jac=True``: scikit-learn's L-BFGS solver in
``scratchnet.sklearn``) and what a gradient check differentiates numerically. Its
weighted minibatch counterpart is ``train.make_weighted_step``, in the one loop.
"""
from __future__ import annotations

import numpy as np

from .validation import check_number


# -- the full-batch entry point ------------------------------------------------------------
CHUNK_ROWS = 4096  # rows per forward/backward: bounds the activations held at once


def loss_and_grad(model, flat_params, X, Y, sample_weight=None, *, chunk_rows=CHUNK_ROWS,
                  train=False):
    """The loss L(theta) of ``model`` on (X, Y) and its gradient dL/dtheta.

    theta is the model's flat parameter vector (``model.params``, whose views are
    the layers' W and b): ``flat_params`` (P,) is copied into it first, unless it is
    that very array. With row weights w_i (1 without ``sample_weight``) and row i's
    loss l_i as ``model.loss.rows`` defines it,

        L = sum_i w_i l_i / sum_i w_i      (the loss's reduction "mean" or "batchmean")
        L = sum_i w_i l_i                  (reduction "sum"),

    so integer weights act as repeated rows. Rows go through the network
    ``chunk_rows`` at a time, the gradient summed over chunks: memory stays bounded
    and the result does not depend on the chunking (up to rounding). A sparse X
    (CSR) is densified one chunk at a time.

    ``train=False`` evaluates the network as it predicts (dropout off, batch norm on
    its running statistics), a deterministic function of theta; ``train=True``
    runs the layers in training mode, as a minibatch step does.

    X: (N, F) array or CSR matrix, Y: (N, K) targets as the loss takes them,
    sample_weight: (N,) or None. Returns (loss: float, grad: (P,) new array in the
    model's dtype). ``model.grads`` holds the last chunk's part afterwards.
    """
    params, loss = model.params, model.loss
    if flat_params is not params:
        params[...] = flat_params
    n = X.shape[0]
    chunk_rows = check_number("chunk_rows", chunk_rows, integer=True, low=1)
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=params.dtype)
    if loss.reduction == "sum":
        scale = 1.0
    else:  # the mean over rows: each row's share of the total weight
        scale = 1.0 / (n if weights is None else float(weights.sum()))
    total, grad = 0.0, None
    for start in range(0, n, chunk_rows):
        rows = slice(start, start + chunk_rows)
        x = X[rows]
        if not isinstance(x, np.ndarray) and hasattr(x, "toarray"):  # scipy's CSR, made dense
            x = x.toarray()
        row_loss, grad_logits = loss.rows(model.forward(x, train=train), Y[rows])
        if weights is None:
            total += scale * float(row_loss.sum())
            grad_logits *= scale
        else:
            w = weights[rows] * scale
            total += float(w @ row_loss)
            grad_logits *= w[:, None]
        model.backward(grad_logits)
        if grad is None:
            grad = model.grads.copy()
        else:
            grad += model.grads
    if grad is None:
        raise ValueError("loss_and_grad needs at least one row of data")
    return total, grad

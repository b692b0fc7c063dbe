"""The tutorial's network as its text writes it: the historical speed baseline.

Re-implemented from the tutorial's description (never imported by scratchnet):
a per-row softmax loop, a Python-loop ``one_hot_encode`` (two classes), summed
minibatch gradients, the dataset copied by a permutation every epoch, and one
forward pass inside ``backward`` per step. One thing differs, not
affecting speed: randomness comes from an explicit ``numpy.random.Generator``
instead of the global RNG.
"""
from __future__ import annotations

import numpy as np


def softmax(x):
    result = []
    for instance in x:
        exp = np.exp(instance - np.max(instance))
        result.append(exp / exp.sum())
    return np.array(result)


def relu(x):
    x[x < 0] = 0
    return x


def one_hot_encode(labels):
    result = []
    for label in labels:
        if label:
            result.append([0, 1])
        else:
            result.append([1, 0])
    return np.array(result)


def init_network(rng, n_features=2, n_class=2, n_hidden=64, dtype=np.float64):
    return {
        "W1": rng.standard_normal((n_features, n_hidden)).astype(dtype),
        "b1": rng.standard_normal(n_hidden).astype(dtype),
        "W2": rng.standard_normal((n_hidden, n_class)).astype(dtype),
        "b2": rng.standard_normal(n_class).astype(dtype),
    }


def forward(model, input_data):
    a1 = input_data @ model["W1"] + model["b1"]
    z1 = relu(a1)
    a2 = z1 @ model["W2"] + model["b2"]
    z2 = softmax(a2)
    return z1, z2


def backward(model, data, label):
    z1, z2 = forward(model, data)
    label = one_hot_encode(label)
    db2_temp = label - z2
    db2 = np.sum(db2_temp, axis=0)
    dW2 = z1.T @ db2_temp
    db1_temp = db2_temp @ model["W2"].T
    db1_temp[z1 <= 0] = 0
    db1 = np.sum(db1_temp, axis=0)
    dW1 = data.T @ db1_temp
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def sgd(model, data, label, alpha=1e-4):
    grad = backward(model, data, label)
    for layer in grad.keys():
        model[layer] += alpha * grad[layer]  # grad holds label - z2 terms: += descends
    return model


def fit(model, input_data, label, batch_size, iter_num, rng, alpha=1e-4):
    for epoch in range(iter_num):
        p = rng.permutation(len(label))
        input_data, label = input_data[p], label[p]
        for i in range(0, len(label), batch_size):
            batch_data, batch_label = input_data[i:i + batch_size], label[i:i + batch_size]
            model = sgd(model, batch_data, batch_label, alpha)
    return model


def accuracy(model, X, y) -> float:
    _, probs = forward(model, X)
    pred = np.array([np.argmax(p) for p in probs])
    return float((pred == y).sum() / y.size)

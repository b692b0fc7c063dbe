"""Take a model anywhere: ONNX (to serve it), PyTorch (to compare it weight for weight),
scikit-learn (to bring an ``MLPClassifier`` in, or hand one back), and the named tensors
a ``.safetensors`` file holds (``scratchnet.io`` writes those).

Every layer type has one ``LayerExport`` in ``EXPORTS``: its tensors under PyTorch's
names, the way back, its ``torch.nn`` module and its ONNX nodes. A new layer type is
one more entry; a layer without one (or without the form asked for) is refused with
an error that names it.

The torch module of a model is ``nn.Sequential([standardiser,] *layers)``: a stored
``Standardizer`` becomes a first, diagonal ``Linear``,
``x_hat = x @ diag(1 / scale) - mean / scale`` (for samples (C, L), between a Flatten
and an Unflatten), so the tensor names are ``"{position}.{name}"`` (``"0.weight"``,
``"1.running_mean"``, ...), exactly the keys of ``to_torch(model).state_dict()``.
``state_dict(model)`` computes them without torch.

torch, onnx and onnxruntime are optional extras (``scratchnet[torch]``,
``scratchnet[onnx]``); nothing here imports them until asked to.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import __version__
from . import conv, losses
from . import layers as L
from .preprocessing import LabelEncoder, Standardizer
from .extras import need
from .io import atomic_write
from .model import Sequential

ONNX_OPSET = 20  # the first opset with Gelu (and its approximate="tanh")
ONNX_IR_VERSION = 9  # what opset 20 needs; older runtimes read it too


# -- one entry per layer type -----------------------------------------------------------
@dataclass(frozen=True)
class LayerExport:
    """How one scratchnet layer type leaves (and comes back).

    tensors(layer) -> {name: array}: its state under torch's ``state_dict`` names.
    assign(layer, tensors): the way back (``tensors`` as ``tensors`` gives them).
    torch(nn, layer) -> module: the ``torch.nn`` module, weights filled in later.
    onnx(graph, layer, x) -> y: adds the layer's ONNX nodes on input name ``x``.
    ``torch`` or ``onnx`` is None where that format has no form for the layer.
    """

    torch: Callable | None
    onnx: Callable | None
    tensors: Callable = lambda layer: {}
    assign: Callable = lambda layer, tensors: None


def _dense_tensors(layer):
    # torch's Linear keeps weight as (out, in): out = x @ weight.T + bias
    return {"weight": layer.params["W"].T, "bias": layer.params["b"]}


def _dense_assign(layer, t):
    layer.params["W"][...] = t["weight"].T
    layer.params["b"][...] = t["bias"] if "bias" in t else 0  # Linear(bias=False)


def _dense_onnx(g, layer, x):
    W, b = g.const("W", layer.params["W"]), g.const("b", layer.params["b"])
    return g.op("Gemm", [x, W, b])  # x @ W + b, W (F_in, units)


def _batchnorm_tensors(layer):
    return {"weight": layer.params["gamma"], "bias": layer.params["beta"],
            "running_mean": layer.buffers["running_mean"],
            "running_var": layer.buffers["running_var"],
            # torch counts training steps here; scratchnet does not (its momentum is fixed)
            "num_batches_tracked": np.array(0, dtype=np.int64)}


def _batchnorm_assign(layer, t):
    layer.params["gamma"][...] = t["weight"] if "weight" in t else 1  # affine=False
    layer.params["beta"][...] = t["bias"] if "bias" in t else 0
    layer.buffers["running_mean"][...] = t["running_mean"]
    layer.buffers["running_var"][...] = t["running_var"]


def _batchnorm_torch(nn, layer):
    return nn.BatchNorm1d(layer.params["gamma"].shape[-1], eps=layer.eps, momentum=layer.momentum)


def _batchnorm_onnx(g, layer, x):
    # inference form: (x - running_mean) / sqrt(running_var + eps) * gamma + beta
    inputs = [x, g.const("gamma", layer.params["gamma"]), g.const("beta", layer.params["beta"]),
              g.const("running_mean", layer.buffers["running_mean"]),
              g.const("running_var", layer.buffers["running_var"])]
    return g.op("BatchNormalization", inputs, epsilon=layer.eps)


def _conv_torch(nn, layer):
    channels, c_in, k = layer.params["W"].shape
    return nn.Conv1d(c_in, channels, k, stride=layer.stride, padding=layer.padding)


def _conv_tensors(layer):
    return {"weight": layer.params["W"], "bias": layer.params["b"]}  # (C_out, C_in, K) as torch's


def _conv_assign(layer, t):
    layer.params["W"][...] = t["weight"]
    layer.params["b"][...] = t["bias"] if "bias" in t else 0


def _conv_onnx(g, layer, x):
    W, b = g.const("W", layer.params["W"]), g.const("b", layer.params["b"])
    return g.op("Conv", [x, W, b], kernel_shape=[layer.kernel_size], strides=[layer.stride],
                pads=[layer.padding, layer.padding])


def _feature_map_onnx(g, layer, x):
    # the columns x1, x2 as (N, 1) each, then one column per feature, side by side
    cols = {name: g.op("Slice", [x, g.const(f"{name}.start", np.array([i], np.int64)),
                                 g.const(f"{name}.end", np.array([i + 1], np.int64)),
                                 g.const(f"{name}.axes", np.array([1], np.int64))])
            for i, name in enumerate(("x1", "x2"))}
    make = {"x1": lambda: cols["x1"], "x2": lambda: cols["x2"],
            "x1^2": lambda: g.op("Mul", [cols["x1"], cols["x1"]]),
            "x2^2": lambda: g.op("Mul", [cols["x2"], cols["x2"]]),
            "x1*x2": lambda: g.op("Mul", [cols["x1"], cols["x2"]]),
            "sin x1": lambda: g.op("Sin", [cols["x1"]]), "sin x2": lambda: g.op("Sin", [cols["x2"]])}
    return g.op("Concat", [make[name]() for name in layer.features], axis=1)


def _unary(op, **attrs):
    """An ONNX form that is one operator with fixed attributes."""
    return lambda g, layer, x: g.op(op, [x], **attrs)


EXPORTS: dict[str, LayerExport] = {
    "Dense": LayerExport(torch=lambda nn, layer: nn.Linear(*layer.params["W"].shape),
                         onnx=_dense_onnx, tensors=_dense_tensors, assign=_dense_assign),
    "ReLU": LayerExport(torch=lambda nn, layer: nn.ReLU(), onnx=_unary("Relu")),
    "LeakyReLU": LayerExport(
        torch=lambda nn, layer: nn.LeakyReLU(layer.negative_slope),
        onnx=lambda g, layer, x: g.op("LeakyRelu", [x], alpha=layer.negative_slope)),
    "Sigmoid": LayerExport(torch=lambda nn, layer: nn.Sigmoid(), onnx=_unary("Sigmoid")),
    "Tanh": LayerExport(torch=lambda nn, layer: nn.Tanh(), onnx=_unary("Tanh")),
    "GELU": LayerExport(torch=lambda nn, layer: nn.GELU(approximate="tanh"),
                        onnx=_unary("Gelu", approximate="tanh")),
    "Softmax": LayerExport(torch=lambda nn, layer: nn.Softmax(dim=-1), onnx=_unary("Softmax", axis=-1)),
    # inverted dropout is the identity at inference, which is all an export serves
    "Dropout": LayerExport(torch=lambda nn, layer: nn.Dropout(layer.rate), onnx=_unary("Identity")),
    "BatchNorm1d": LayerExport(torch=_batchnorm_torch, onnx=_batchnorm_onnx,
                               tensors=_batchnorm_tensors, assign=_batchnorm_assign),
    "Identity": LayerExport(torch=lambda nn, layer: nn.Identity(), onnx=_unary("Identity")),
    # fixed features of (x1, x2): torch has no such module
    "FeatureMap": LayerExport(torch=None, onnx=_feature_map_onnx),
    "Conv1d": LayerExport(torch=_conv_torch, onnx=_conv_onnx, tensors=_conv_tensors,
                          assign=_conv_assign),
    "MaxPool1d": LayerExport(
        torch=lambda nn, layer: nn.MaxPool1d(layer.kernel_size, layer.stride),
        onnx=lambda g, layer, x: g.op("MaxPool", [x], kernel_shape=[layer.kernel_size],
                                      strides=[layer.stride])),
    # (N, C, L) -> (N, C): the mean over the length axis
    "GlobalAvgPool1d": LayerExport(
        torch=lambda nn, layer: nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten()),
        onnx=lambda g, layer, x: g.op("ReduceMean", [x, g.const("axes", np.array([-1], np.int64))],
                                      keepdims=0)),
    "Flatten": LayerExport(torch=lambda nn, layer: nn.Flatten(), onnx=_unary("Flatten", axis=1)),
}


def _entry(layer, i: int, form: str) -> LayerExport:
    """The layer's export entry, or an error naming the layer and what does export."""
    kind = type(layer).__name__
    entry = EXPORTS.get(kind)
    if entry is None or getattr(entry, form) is None:
        able = sorted(k for k, e in EXPORTS.items() if getattr(e, form) is not None)
        what = "export form" if form == "tensors" else f"{form} form"
        raise ValueError(f"layer {i} ({kind}) has no {what}; layers that have one: {', '.join(able)}")
    return entry


def _check_built(model):
    if not isinstance(model, Sequential):
        raise TypeError(f"expected a scratchnet Sequential or MLP, got {type(model).__name__}")
    model.check_fitted()


# -- the tensors, under torch's names (no torch needed) ------------------------------------
def _scaler_prefix(model) -> str:
    """Where the standardiser's Linear sits: module 0, or for samples (C, L) module 0.1,
    between a Flatten and an Unflatten."""
    return "0." if len(model.input_shape_) == 1 else "0.1."


def _scaler_tensors(model) -> dict[str, np.ndarray]:
    """The standardiser as a diagonal Linear: weight diag(1 / scale), bias -mean / scale."""
    inv_scale = 1 / model.scaler.scale_
    return {"weight": np.diag(inv_scale).astype(model.dtype),
            "bias": (-model.scaler.mean_ * inv_scale).astype(model.dtype)}


def state_dict(model) -> dict[str, np.ndarray]:
    """The model's tensors named as the keys of ``to_torch(model).state_dict()``:
    ``{"0.weight": (out, in) array, "0.bias": (out,), ...}``, contiguous copies."""
    offset = model.scaler is not None
    parts = [_scaler_tensors(model)] if offset else []
    parts += [_entry(layer, i, "tensors").tensors(layer) for i, layer in enumerate(model.layers)]
    prefixes = [_scaler_prefix(model)] * offset + [f"{i}." for i in range(offset, len(parts))]
    return {f"{prefix}{name}": np.ascontiguousarray(value)
            for prefix, tensors in zip(prefixes, parts) for name, value in tensors.items()}


def load_state_dict(model, tensors: dict) -> None:
    """Set a built model's weights from tensors named as ``state_dict`` gives them.

    Raises ValueError naming missing or unknown tensors, a shape or dtype that does
    not fit the layers, non-finite weights, or standardiser tensors that differ from
    the model's scaler."""
    expected = state_dict(model)
    missing = sorted(set(expected) - set(tensors))
    unknown = sorted(set(tensors) - set(expected))
    if missing:
        raise ValueError(f"missing tensors {missing} that the layers need")
    if unknown:
        raise ValueError(f"tensors {unknown} that no layer holds")
    for name, want in expected.items():
        got = np.asarray(tensors[name])
        if got.shape != want.shape or got.dtype != want.dtype:
            raise ValueError(f"tensor {name!r} is {got.dtype.name} {list(got.shape)}, but the "
                             f"layers need {want.dtype.name} {list(want.shape)}")
        if got.dtype.kind == "f" and not np.isfinite(got).all():
            raise ValueError(f"tensor {name!r} contains NaN or inf: it would only predict garbage")
    offset = model.scaler is not None
    prefix = _scaler_prefix(model)
    if offset and not all(np.array_equal(tensors[prefix + n], expected[prefix + n]) for n in ("weight", "bias")):
        raise ValueError(f"the standardiser's tensors {prefix}weight, {prefix}bias do not match "
                         f"the scaler kept with the model")
    for i, layer in enumerate(model.layers):
        prefix = f"{i + offset}."
        own = {k[len(prefix):]: np.asarray(v) for k, v in tensors.items() if k.startswith(prefix)}
        EXPORTS[type(layer).__name__].assign(layer, own)


# -- PyTorch ----------------------------------------------------------------------------
def to_torch(model):
    """A ``torch.nn.Sequential`` (in eval mode, the model's dtype) holding the same
    weights and returning the logits: ``to_torch(model)(torch.from_numpy(X))`` equals
    ``model.forward(model.scaled(X))``. A stored standardiser is its first ``Linear``."""
    torch = need("torch", "torch")
    _check_built(model)
    nn = torch.nn
    modules = []
    if model.scaler is not None:
        F, shape = model.n_features_, model.input_shape_
        scaler = nn.Linear(F, F)
        modules.append(scaler if len(shape) == 1 else
                       nn.Sequential(nn.Flatten(), scaler, nn.Unflatten(1, shape)))
    modules += [_entry(layer, i, "torch").torch(nn, layer) for i, layer in enumerate(model.layers)]
    module = nn.Sequential(*modules).to(getattr(torch, model.dtype.name))
    module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state_dict(model).items()})
    return module.eval()


def _from_linear(m):
    return L.Dense(m.out_features)


def _from_batchnorm(m):
    if m.momentum is None:
        raise ValueError("BatchNorm1d(momentum=None) (a cumulative average) has no scratchnet form")
    if not m.track_running_stats:
        raise ValueError("BatchNorm1d(track_running_stats=False) normalises with batch statistics "
                         "at inference too; scratchnet's uses running statistics")
    return L.BatchNorm1d(momentum=m.momentum, eps=m.eps)


def _from_gelu(m):
    if m.approximate != "tanh":
        raise ValueError(f"GELU(approximate={m.approximate!r}) has no scratchnet form: "
                         f"scratchnet's GELU is the tanh approximation, GELU(approximate='tanh')")
    return L.GELU()


def _from_softmax(m):
    if m.dim not in (-1, 1):
        raise ValueError(f"Softmax(dim={m.dim}) has no scratchnet form: it works over the features (dim=-1)")
    return L.Softmax()


def _from_conv(m):
    if m.groups != 1 or m.dilation != (1,) or m.padding_mode != "zeros" or isinstance(m.padding, str):
        raise ValueError(f"{m} has no scratchnet form: Conv1d with groups=1, dilation=1 and "
                         f"integer zero padding only")
    return conv.Conv1d(m.out_channels, m.kernel_size[0], m.stride[0], m.padding[0])


def _from_maxpool(m):
    if m.padding != 0 or m.dilation != 1 or m.ceil_mode or m.return_indices:
        raise ValueError(f"{m} has no scratchnet form: MaxPool1d without padding, dilation or ceil_mode only")
    return conv.MaxPool1d(m.kernel_size, m.stride)


def _from_flatten(m):
    if (m.start_dim, m.end_dim) != (1, -1):
        raise ValueError(f"{m} has no scratchnet form: Flatten(start_dim=1, end_dim=-1) only")
    return conv.Flatten()


# torch module class name -> scratchnet layer (None: nothing to add, e.g. Identity)
FROM_TORCH: dict[str, Callable] = {
    "Linear": _from_linear,
    "ReLU": lambda m: L.ReLU(),
    "LeakyReLU": lambda m: L.LeakyReLU(m.negative_slope),
    "Sigmoid": lambda m: L.Sigmoid(),
    "Tanh": lambda m: L.Tanh(),
    "GELU": _from_gelu,
    "Softmax": _from_softmax,
    "Dropout": lambda m: L.Dropout(m.p),
    "BatchNorm1d": _from_batchnorm,
    "Identity": lambda m: None,
    "Conv1d": _from_conv,
    "MaxPool1d": _from_maxpool,
    "Flatten": _from_flatten,
}


def from_torch(module, *, loss: str = "softmax_cross_entropy", classes=None,
               input_shape=None) -> Sequential:
    """A fitted scratchnet ``Sequential`` with the weights of ``module``, a
    ``torch.nn.Sequential`` of the layers scratchnet has (Linear, ReLU, LeakyReLU,
    Sigmoid, Tanh, GELU(approximate="tanh"), Softmax, Dropout, BatchNorm1d, Identity,
    Conv1d, MaxPool1d, Flatten, AdaptiveAvgPool1d(1) + Flatten), whose outputs are the
    logits for ``loss``. What ``to_torch`` gives comes back with the same predictions
    (a standardiser on flat inputs as a first Dense layer).

    classes: the labels of the outputs, output j is ``classes[j]`` (sorted, as
    scratchnet keeps them); default 0..C-1 (0, 1 for "binary_cross_entropy").
    input_shape: one sample's shape, (F,) or (C, L); needed where the module starts
    with a Conv1d (its length is not in the module). The model's dtype is the module's
    (float32 or float64)."""
    torch = need("torch", "torch")
    if not isinstance(module, torch.nn.Sequential):
        raise TypeError(f"from_torch takes a torch.nn.Sequential, got {type(module).__name__}")
    children = _leaves(module)
    scaler = None
    if [type(m).__name__ for _, m in children[:3]] == ["Flatten", "Linear", "Unflatten"]:
        # to_torch's standardiser for samples (C, L): back to a Standardizer
        scaler, input_shape = _standardiser(children[1][1]), tuple(children[2][1].unflattened_size)
        children = children[3:]
    layers, sources = [], []
    while children:
        (name, child), *children = children
        kind = type(child).__name__
        if kind == "AdaptiveAvgPool1d" and child.output_size in (1, (1,)) and children \
                and type(children[0][1]).__name__ == "Flatten":  # to_torch's GlobalAvgPool1d
            children = children[1:]
            layers.append(conv.GlobalAvgPool1d())
            sources.append({})
            continue
        if kind not in FROM_TORCH:
            raise ValueError(f"module {name} ({kind}) has no scratchnet layer; supported: "
                             f"{', '.join(sorted(FROM_TORCH))}, AdaptiveAvgPool1d(1) + Flatten")
        layer = FROM_TORCH[kind](child)
        if layer is not None:
            layers.append(layer)
            sources.append({k: v.detach().cpu().numpy() for k, v in child.state_dict().items()})
    if input_shape is None:
        sized = [m for m in module.children() if type(m).__name__ in ("Linear", "BatchNorm1d", "Conv1d")]
        if not sized or type(sized[0]).__name__ == "Conv1d":
            raise ValueError("the module does not say its input's shape: pass input_shape=(F,) "
                             "or (channels, length)")
        input_shape = (getattr(sized[0], "in_features", None) or sized[0].num_features,)
    dtypes = {str(p.dtype).removeprefix("torch.") for p in module.parameters()}
    if len(dtypes) != 1 or not dtypes <= {"float32", "float64"}:
        raise ValueError(f"the module's parameters must all be float32 or all float64, got {sorted(dtypes)}")
    dtype = dtypes.pop()
    model = Sequential(layers, loss=loss, dtype=dtype).build(input_shape)
    for layer, tensors in zip(model.layers, sources):
        EXPORTS[type(layer).__name__].assign(layer, tensors)
    model.scaler = scaler
    _set_targets(model, classes)
    return model


def _leaves(module, prefix=""):
    """[(dotted name, module)] of a Sequential, nested Sequentials opened."""
    out = []
    for name, child in module.named_children():
        if type(child).__name__ == "Sequential":
            out += _leaves(child, f"{prefix}{name}.")
        else:
            out.append((f"{prefix}{name}", child))
    return out


def _standardiser(linear) -> Standardizer:
    """x @ diag(1 / scale) - mean / scale as the Standardizer (mean, scale) it is."""
    W = linear.weight.detach().cpu().numpy().astype(np.float64)
    b = linear.bias.detach().cpu().numpy().astype(np.float64)
    w = np.diag(W)
    if not np.array_equal(W, np.diag(w)) or np.any(w <= 0):
        raise ValueError("a leading Flatten, Linear, Unflatten is read as a standardiser, but "
                         "its Linear is not diagonal with positive weights")
    return Standardizer.from_state({"mean_": -b / w, "scale_": 1 / w})


def _set_targets(model, classes) -> None:
    """Make a built model fitted: its classes (output j is classes[j]) or, for a
    regressor, its number of targets."""
    n_out = model.n_outputs_
    if model.task == "regression":
        if classes is not None:
            raise ValueError("classes are for classifiers; loss='mse' makes a regressor")
        model.n_targets_, model._y_1d = n_out, n_out == 1
        return
    binary = isinstance(model.loss, losses.BinaryCrossEntropy)
    if binary and n_out != 1:
        raise ValueError(f"binary_cross_entropy needs one output logit, the network has {n_out}")
    if classes is None:
        classes = np.arange(2 if binary else n_out)
    classes = np.asarray(classes)
    if classes.ndim != 1 or not 2 <= len(classes) <= (2 if binary else n_out):
        raise ValueError(f"classes must list 2 to {2 if binary else n_out} labels for this network's "
                         f"{n_out} output{'s' * (n_out > 1)}, got {classes.tolist()}")
    if not np.array_equal(np.unique(classes), classes):
        raise ValueError(f"classes must be sorted and distinct (output j is classes[j]), got "
                         f"{classes.tolist()}: reorder the last Linear's rows to match")
    model.encoder = LabelEncoder()
    model.encoder.classes_ = classes


# -- scikit-learn ---------------------------------------------------------------------------
SKLEARN_ACTIVATIONS = {"identity": None, "logistic": L.Sigmoid, "tanh": L.Tanh, "relu": L.ReLU}


def from_sklearn(estimator) -> Sequential:
    """A fitted scratchnet model with the weights of a fitted
    ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor`` (or of
    ``scratchnet.sklearn``'s), predicting the same labels, probabilities or values.

    Multilabel classifiers and the Poisson regressor have no scratchnet loss and are refused."""
    from sklearn import neural_network

    from . import sklearn as ours

    kinds = (neural_network.MLPClassifier, neural_network.MLPRegressor, ours.MLPClassifier,
             ours.MLPRegressor)
    if not isinstance(estimator, kinds):
        raise TypeError(f"from_sklearn takes an MLPClassifier or MLPRegressor, got {type(estimator).__name__}")
    if not hasattr(estimator, "coefs_"):
        raise ValueError(f"this {type(estimator).__name__} is not fitted: call fit(X, y) first")
    out, n_out = estimator.out_activation_, estimator.n_outputs_
    if out == "logistic" and n_out > 1:
        raise ValueError("a multilabel MLPClassifier (one sigmoid per label) has no scratchnet "
                         "counterpart: scratchnet's classifiers predict one label per row")
    loss = {"softmax": "softmax_cross_entropy", "logistic": "binary_cross_entropy",
            "identity": "mse"}.get(out)
    if loss is None:
        raise ValueError(f"out_activation_={out!r} (the Poisson loss) has no scratchnet counterpart")
    activation = SKLEARN_ACTIVATIONS[estimator.activation]
    layers = []
    for W in estimator.coefs_[:-1]:
        layers.append(L.Dense(W.shape[1]))
        if activation is not None:
            layers.append(activation())
    layers.append(L.Dense(n_out))
    dtype = estimator.coefs_[0].dtype.name
    model = Sequential(layers, loss=loss, dtype=dtype).build(estimator.coefs_[0].shape[0])
    dense = [layer for layer in model.layers if isinstance(layer, L.Dense)]
    for layer, W, b in zip(dense, estimator.coefs_, estimator.intercepts_):
        layer.params["W"][...] = W
        layer.params["b"][...] = b
    _set_targets(model, None if loss == "mse" else estimator.classes_)
    return model


def to_sklearn(model):
    """A fitted ``scratchnet.sklearn.MLPClassifier`` / ``MLPRegressor`` with the same
    predictions. The network must be scikit-learn's shape: Dense layers, each hidden
    one followed by the same activation (ReLU, Sigmoid, Tanh, or none), Dropout
    allowed (the identity at inference). A stored standardiser is folded into the
    first Dense; a two-class softmax becomes scikit-learn's one logistic output."""
    from . import sklearn as ours

    _check_built(model)
    names = {L.Identity: "identity", L.Sigmoid: "logistic", L.Tanh: "tanh", L.ReLU: "relu"}
    weights, activations = [], []  # (W, b) per Dense; the activation after each hidden one
    for i, layer in enumerate(model.layers):
        kind = type(layer)
        if kind is L.Dense:
            if weights and len(activations) < len(weights):
                activations.append("identity")  # two Dense in a row
            weights.append((layer.params["W"].astype(np.float64), layer.params["b"].astype(np.float64)))
        elif kind in names and weights and len(activations) < len(weights):
            activations.append(names[kind])
        elif kind is not L.Dropout:
            raise ValueError(f"layer {i} ({kind.__name__}) has no counterpart in scikit-learn's MLP, "
                             f"which has Dense layers with one activation (identity, logistic, "
                             f"tanh or relu) after every hidden layer")
    if not weights or not isinstance(
            next(layer for layer in reversed(model.layers) if not isinstance(layer, L.Dropout)), L.Dense):
        raise ValueError("scikit-learn's MLP ends with a Dense layer: this network does not")
    if len(set(activations)) > 1:
        raise ValueError(f"scikit-learn's MLP has one activation for every hidden layer; this "
                         f"network has {activations}")
    if model.scaler is not None:  # (x - mean) / scale @ W + b = x @ (W / scale) + (b - mean / scale @ W)
        W, b = weights[0]
        mean, scale = model.scaler.mean_, model.scaler.scale_
        weights[0] = (W / scale[:, None], b - (mean / scale) @ W)
    activation = activations[0] if activations else "relu"
    if model.task == "regression":
        est, out = ours.MLPRegressor(), "identity"
    else:
        est, classes = ours.MLPClassifier(), model.classes_
        W, b = weights[-1]
        if isinstance(model.loss, losses.BinaryCrossEntropy):
            out = "logistic"
        elif len(classes) == 2:  # softmax of (z0, z1) = sigmoid(z1 - z0)
            out = "logistic"
            weights[-1] = (W[:, 1:2] - W[:, 0:1], b[1:2] - b[0:1])
        else:  # spare outputs are never a class
            out = "softmax"
            weights[-1] = (W[:, :len(classes)], b[:len(classes)])
        est.classes_, est._multilabel = classes, False
    units = [weights[0][0].shape[0]] + [W.shape[1] for W, _ in weights]
    est.set_params(hidden_layer_sizes=tuple(units[1:-1]), activation=activation)
    losses_seen = [float(v) for v in model.history.get("loss", [])]
    fitted = {"n_features_in_": units[0], "n_outputs_": units[-1], "n_layers_": len(units),
              "out_activation_": out, "n_iter_": len(losses_seen), "t_": 0,
              "loss_curve_": losses_seen, "loss_": losses_seen[-1] if losses_seen else None,
              "best_loss_": min(losses_seen) if losses_seen else np.inf,
              "validation_scores_": None, "best_validation_score_": None,
              "_no_improvement_count": 0}
    # what unpickling an estimator does: its network rebuilt from the flat parameters,
    # [W_1, b_1, W_2, b_2, ...] in layer order, as Sequential.build lays them out
    flat = np.concatenate([a.ravel() for W, b in weights for a in (W, b)])
    est.__setstate__({**vars(est), **fitted, "_net": flat, "_units": units,
                      "_hidden_activation": activation})
    return est


# -- ONNX ---------------------------------------------------------------------------------
class _OnnxGraph:
    """Collects nodes and float32 constants: ``const`` and ``op`` return value names."""

    def __init__(self, onnx):
        self.onnx, self.nodes, self.initializers = onnx, [], []
        self.prefix = ""

    def const(self, name: str, value, exact: bool = False) -> str:
        """A constant; floats become float32 (float64 models run in float32) unless ``exact``."""
        value = np.asarray(value)
        if value.dtype.kind == "f" and not exact:
            value = value.astype(np.float32)
        name = f"{self.prefix}{name}"
        if value.dtype.kind == "U":
            tensor = self.onnx.helper.make_tensor(name, self.onnx.TensorProto.STRING, value.shape,
                                                  [s.encode("utf-8") for s in value.ravel()])
        else:
            tensor = self.onnx.numpy_helper.from_array(value, name)
        self.initializers.append(tensor)
        return name

    def op(self, op_type: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        output = output or f"{self.prefix}{op_type.lower()}_{len(self.nodes)}"
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, [output], **attrs))
        return output


def _plain_classes(classes: np.ndarray) -> np.ndarray:
    """Labels as an ONNX tensor can hold them: numbers, bools or strings (object
    arrays of strings, as pandas gives, become a string array)."""
    if classes.dtype == object and all(isinstance(c, str) for c in classes):
        classes = classes.astype(str)
    if classes.dtype.kind not in "biufU":
        raise ValueError(f"labels of dtype {classes.dtype} cannot go into ONNX: use numbers or strings")
    return classes


def to_onnx(model, path=None, *, opset: int = ONNX_OPSET):
    """The model's inference graph as an ONNX ``ModelProto``, written to ``path``
    (atomically) when given.

    Input ``X``: float32 [N, F] (or [N, C, L] for convolution models), N dynamic. A classifier outputs ``probabilities``
    float32 [N, C] (columns in ``classes_`` order) and ``label`` [N] (the class
    values: int64, double, bool or string); the classes are in the metadata as JSON
    (``metadata_props["classes"]``). A regressor outputs ``predictions`` float32,
    [N] or [N, K] as ``predict`` returns them. Everything runs in float32."""
    onnx = need("onnx", "onnx")
    _check_built(model)
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < ONNX_OPSET:
        raise ValueError(f"opset must be an integer >= {ONNX_OPSET} (Gelu needs it), got {opset!r}")
    for i, layer in enumerate(model.layers):  # refuse before building anything
        _entry(layer, i, "onnx")
    g = _OnnxGraph(onnx)
    x = "X"
    if model.scaler is not None:
        shape = model.input_shape_  # the scaler's (F,) statistics, one per input value
        x = g.op("Sub", [x, g.const("scaler.mean", model.scaler.mean_.reshape(shape))])
        x = g.op("Div", [x, g.const("scaler.scale", model.scaler.scale_.reshape(shape))])
    for i, layer in enumerate(model.layers):
        g.prefix = f"layer{i}."
        x = EXPORTS[type(layer).__name__].onnx(g, layer, x)
    g.prefix = ""
    T, make = onnx.TensorProto, onnx.helper.make_tensor_value_info
    metadata = {"producer": f"scratchnet {__version__}", "task": model.task,
                "input_shape": json.dumps(list(model.input_shape_))}
    if model.task == "regression":
        if model._y_1d:
            x = g.op("Squeeze", [x, g.const("axis1", np.array([1], np.int64))])
        g.op("Identity", [x], "predictions")
        outputs = [make("predictions", T.FLOAT, ["N"] if model._y_1d else ["N", model.n_outputs_])]
    else:
        classes = _plain_classes(model.classes_)
        if model.n_outputs_ == 1:  # one sigmoid logit: P(class 1), and 1 - P for class 0
            p1 = g.op("Sigmoid", [x])
            p0 = g.op("Sub", [g.const("one", np.ones(1)), p1])
            g.op("Concat", [p0, p1], "probabilities", axis=1)
        else:
            if model.n_outputs_ > len(classes):  # spare outputs are never a class
                x = g.op("Slice", [x, g.const("starts", np.array([0], np.int64)),
                                   g.const("ends", np.array([len(classes)], np.int64)),
                                   g.const("axes", np.array([1], np.int64))])
            g.op("Softmax", [x], "probabilities", axis=-1)
        index = g.op("ArgMax", ["probabilities"], axis=1, keepdims=0)
        g.op("Gather", [g.const("classes", classes, exact=True), index], "label", axis=0)
        label_type = T.STRING if classes.dtype.kind == "U" else \
            onnx.helper.np_dtype_to_tensor_dtype(classes.dtype)
        outputs = [make("probabilities", T.FLOAT, ["N", len(classes)]), make("label", label_type, ["N"])]
        metadata["classes"] = json.dumps(classes.tolist())
    graph = onnx.helper.make_graph(g.nodes, "scratchnet", [make("X", T.FLOAT, ["N", *model.input_shape_])],
                                   outputs, g.initializers)
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)],
                                   ir_version=ONNX_IR_VERSION, producer_name="scratchnet",
                                   producer_version=__version__)
    onnx.helper.set_model_props(proto, metadata)
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        data = proto.SerializeToString()
        atomic_write(path, lambda f: f.write(data))
    return proto

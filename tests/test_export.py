"""scratchnet.export: ONNX (checked with onnxruntime), PyTorch both ways, scikit-learn both
ways, and the `scratchnet export` command. Every layer kind, classifiers (one sigmoid
logit, two-class softmax, multiclass) and regressors, several depths."""
import json
import warnings

import numpy as np
import pytest
from conftest import require

import scratchnet as sn
from scratchnet import datasets, export, io
from scratchnet import layers as L
from scratchnet.cli import main


def _X(rng, n=60):
    # features on different scales, so that a stored standardiser matters
    return rng.standard_normal((n, 4)) * [1.0, 5.0, 0.1, 2.0] + [0.0, 3.0, 0.0, -1.0]


def _fit(model, X, y, epochs=3):
    return model.fit(X, y, epochs=epochs, batch_size=16)


def build(name, seed=0):
    """A small fitted model of each kind, and inputs for it."""
    rng = np.random.default_rng(seed)
    X = _X(rng)
    z = X[:, 0] + 0.2 * X[:, 1] - X[:, 3]
    two = (z > np.median(z)).astype(int)
    three = np.digitize(z, np.quantile(z, [1 / 3, 2 / 3]))
    if name == "binary_sigmoid":  # one logit, binary cross-entropy, integer labels
        model = sn.Sequential([sn.Dense(6), sn.ReLU(), sn.Dense(1)], loss="binary_cross_entropy",
                              lr=0.1, seed=seed)
        return _fit(model, X, np.array([3, 7])[two]), X
    if name == "binary_softmax":  # two softmax outputs, string labels, standardiser
        model = sn.MLP(hidden=(5,), activation="tanh", scale=True, seed=seed)
        return _fit(model, X, np.array(["no", "yes"])[two]), X
    if name == "multiclass_deep":  # every activation, batch norm, dropout, a spare output
        layers = [sn.Dense(8), sn.BatchNorm1d(), sn.GELU(), sn.Dropout(0.2), sn.Dense(7),
                  sn.LeakyReLU(0.1), sn.Dense(6), sn.Sigmoid(), sn.Dense(5), sn.Tanh(), sn.Dense(4)]
        model = sn.Sequential(layers, optimizer="adam", lr=0.01, scale=True, seed=seed)
        return _fit(model, X, np.array([0.5, 1.5, 2.5])[three]), X
    if name == "multiclass_float32":  # float32 end to end, a Softmax layer in the stack
        model = sn.Sequential([sn.Dense(6), sn.ReLU(), sn.Dense(3), sn.Softmax()], dtype="float32",
                              lr=0.1, seed=seed)
        return _fit(model, X, three), X
    if name == "regressor":  # 1-D targets, standardiser, batch norm, dropout, GELU
        model = sn.MLP(hidden=(6, 4), activation="gelu", loss="mse", scale=True, batchnorm=True,
                       dropout=0.1, lr=0.01, seed=seed)
        return _fit(model, X, z), X
    if name == "regressor_2d":  # (N, 2) targets
        model = sn.MLP(hidden=(5,), activation="sigmoid", loss="mse", lr=0.05, seed=seed)
        return _fit(model, X, np.stack([z, X[:, 1]], axis=1)), X
    raise KeyError(name)


KINDS = ["binary_sigmoid", "binary_softmax", "multiclass_deep", "multiclass_float32",
         "regressor", "regressor_2d"]


def assert_same_labels(labels, expected, probs):
    """Labels equal wherever the two best probabilities are not a float32 tie."""
    top2 = np.sort(probs, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-4
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(labels[clear], expected[clear])


# -- ONNX ---------------------------------------------------------------------------------
def _session(proto):
    ort = require("onnxruntime")
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def _check_onnx(model, X, proto):
    outputs = dict(zip([o.name for o in proto.graph.output],
                       _session(proto).run(None, {"X": X.astype(np.float32)})))
    if model.task == "regression":
        assert set(outputs) == {"predictions"}
        expected = model.predict(X)
        assert outputs["predictions"].shape == expected.shape
        np.testing.assert_allclose(outputs["predictions"], expected, rtol=1e-5, atol=1e-5)
        return
    assert set(outputs) == {"probabilities", "label"}
    probs = model.predict_proba(X)
    np.testing.assert_allclose(outputs["probabilities"], probs, rtol=1e-5, atol=1e-6)
    label = outputs["label"]
    if model.classes_.dtype.kind == "U":
        label = label.astype(str)
    assert_same_labels(label, model.predict(X), probs)


@pytest.mark.parametrize("kind", KINDS)
def test_onnx_matches_predict_on_random_inputs(kind, tmp_path):
    onnx = require("onnx")
    model, X = build(kind)
    proto = export.to_onnx(model, tmp_path / "m.onnx")
    assert onnx.load(tmp_path / "m.onnx") == proto
    assert proto.opset_import[0].version >= 20
    (x_info,) = proto.graph.input
    assert x_info.name == "X" and x_info.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    dims = x_info.type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and dims[1].dim_value == 4
    # float64 models run in float32: every float constant is float32
    assert {t.data_type for t in proto.graph.initializer if t.name.startswith("layer")} == {
        onnx.TensorProto.FLOAT}
    rng = np.random.default_rng(1)
    _check_onnx(model, X, proto)              # the training inputs
    _check_onnx(model, _X(rng, 200), proto)   # fresh random inputs, 200 rows (N is dynamic)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["task"] == model.task
    if model.task == "classification":
        assert json.loads(meta["classes"]) == model.classes_.tolist()


def test_onnx_on_real_data_with_string_labels():
    require("onnx")
    X, y = datasets.load("iris")
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = sn.MLP(hidden=(16, 8), activation="relu", optimizer="adam", lr=0.01, scale=True,
                   seed=0).fit(X, names, epochs=20, batch_size=16)
    proto = export.to_onnx(model)
    _check_onnx(model, X, proto)
    probs, label = _session(proto).run(None, {"X": X.astype(np.float32)})
    assert set(label.tolist()) <= set(names)


def test_onnx_depths(rng):
    require("onnx")
    X = _X(rng)
    y = (X[:, 0] > 0).astype(int)
    for hidden in [(), (4,), (6, 5, 4, 3)]:
        model = sn.MLP(hidden=hidden, activation="gelu", scale=True, seed=2).fit(X, y, epochs=2)
        _check_onnx(model, X, export.to_onnx(model))


class Square(L.Layer):
    """A layer with no export form."""

    def forward(self, x, train=False):
        self.x = x
        return x * x

    def backward(self, grad_out):
        return 2 * self.x * grad_out


def _square_model(rng):
    X = _X(rng)
    return sn.Sequential([sn.Dense(3), Square(), sn.Dense(2)], seed=0).fit(
        X, (X[:, 0] > 0).astype(int), epochs=1)


def test_layer_without_export_form_is_named_and_nothing_is_written(rng, tmp_path):
    require("onnx")
    model = _square_model(rng)
    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous")
    with pytest.raises(ValueError, match=r"layer 1 \(Square\) has no onnx form"):
        export.to_onnx(model, target)
    assert target.read_bytes() == b"previous"
    with pytest.raises(ValueError, match=r"layer 1 \(Square\) has no export form"):
        export.state_dict(model)
    with pytest.raises(ValueError, match=r"layer 1 \(Square\) has no torch form"):
        export.to_torch(model)


def test_onnx_refuses_old_opsets_and_unfitted_models():
    require("onnx")
    model, _ = build("binary_sigmoid")
    with pytest.raises(ValueError, match="opset must be an integer >= 20"):
        export.to_onnx(model, opset=13)
    with pytest.raises(RuntimeError, match="not fitted"):
        export.to_onnx(sn.MLP())


# -- PyTorch ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_to_torch_returns_the_same_logits(kind):
    torch = require("torch")
    model, X = build(kind)
    module = model.to_torch()
    assert isinstance(module, torch.nn.Sequential) and not module.training
    assert list(module.state_dict()) == list(export.state_dict(model))
    with torch.no_grad():
        logits = module(torch.from_numpy(X.astype(model.dtype))).numpy()
    expected = model.forward(model.scaled(X.astype(model.dtype)))
    tol = 1e-10 if model.dtype == np.float64 else 1e-5
    np.testing.assert_allclose(logits, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("kind", KINDS)
def test_torch_round_trip(kind):
    require("torch")
    model, X = build(kind)
    classes = None if model.task == "regression" else model.classes_
    loss = {"SoftmaxCrossEntropy": "softmax_cross_entropy", "BinaryCrossEntropy": "binary_cross_entropy",
            "MeanSquaredError": "mse"}[type(model.loss).__name__]
    back = sn.from_torch(model.to_torch(), loss=loss, classes=classes)
    assert back.dtype == model.dtype
    tol = 1e-10 if model.dtype == np.float64 else 1e-5
    if model.task == "regression":
        np.testing.assert_allclose(back.predict(X), model.predict(X), rtol=tol, atol=tol)
    else:
        np.testing.assert_allclose(back.predict_proba(X), model.predict_proba(X), rtol=tol, atol=tol)
        np.testing.assert_array_equal(back.predict(X), model.predict(X))


def test_from_torch_module_built_in_torch(rng):
    torch = require("torch")
    nn = torch.nn
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.GELU(approximate="tanh"),
                           nn.Identity(), nn.Dropout(0.3), nn.Linear(8, 6), nn.LeakyReLU(0.2),
                           nn.Linear(6, 5, bias=False), nn.Sigmoid(), nn.Linear(5, 3)).double()
    bn = module[1]
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.uniform_(0.5, 1.5)
    module.eval()
    X = rng.standard_normal((30, 4))
    with torch.no_grad():
        logits = module(torch.from_numpy(X)).numpy()
    model = sn.from_torch(module, classes=["a", "b", "c"])
    assert [type(layer).__name__ for layer in model.layers] == [
        "Dense", "BatchNorm1d", "GELU", "Dropout", "Dense", "LeakyReLU", "Dense", "Sigmoid", "Dense"]
    np.testing.assert_allclose(model.forward(X), logits, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(model.predict(X), np.array(["a", "b", "c"])[logits.argmax(1)])
    # and it trains on from there
    model.fit(X, model.predict(X), epochs=1, batch_size=10)


def test_from_torch_regressor_and_float32():
    torch = require("torch")
    nn = torch.nn
    torch.manual_seed(1)
    module = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1))
    model = sn.from_torch(module, loss="mse")
    assert model.dtype == np.float32 and model.task == "regression"
    X = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(X)).numpy()[:, 0]
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-6, atol=1e-6)


def test_from_torch_refuses_what_it_cannot_convert():
    torch = require("torch")
    nn = torch.nn
    with pytest.raises(ValueError, match=r"module 1 \(Conv2d\) has no scratchnet layer"):
        sn.from_torch(nn.Sequential(nn.Linear(3, 4), nn.Conv2d(1, 1, 1)))
    with pytest.raises(ValueError, match="tanh approximation"):
        sn.from_torch(nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 2)))
    with pytest.raises(TypeError, match="torch.nn.Sequential"):
        sn.from_torch(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="sorted and distinct"):
        sn.from_torch(nn.Sequential(nn.Linear(3, 2)), classes=["dog", "cat"])
    with pytest.raises(ValueError, match="one output logit"):
        sn.from_torch(nn.Sequential(nn.Linear(3, 2)), loss="binary_cross_entropy")
    with pytest.raises(ValueError, match="classes must list 2 to 2"):
        sn.from_torch(nn.Sequential(nn.Linear(3, 2)), classes=[0, 1, 2])


# -- scikit-learn --------------------------------------------------------------------------
@pytest.fixture
def iris():
    return datasets.load("iris")


def _sk_fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: a few iterations are enough here
        return estimator.fit(X, y)


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_from_sklearn_classifier_multiclass(iris, activation):
    from sklearn.neural_network import MLPClassifier

    X, y = iris
    est = _sk_fit(MLPClassifier(hidden_layer_sizes=(6, 5), activation=activation, max_iter=30,
                                random_state=0), X, y)
    model = sn.from_sklearn(est)
    np.testing.assert_allclose(model.predict_proba(X), est.predict_proba(X), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(model.predict(X), est.predict(X))


def test_from_sklearn_binary_and_regressor(iris):
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    X, y = iris
    labels = np.array(["small", "big"])[(y == 2).astype(int)]
    est = _sk_fit(MLPClassifier(hidden_layer_sizes=(4,), max_iter=30, random_state=0), X, labels)
    model = sn.from_sklearn(est)
    assert est.out_activation_ == "logistic" and type(model.loss).__name__ == "BinaryCrossEntropy"
    np.testing.assert_allclose(model.predict_proba(X), est.predict_proba(X), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(model.predict(X), est.predict(X))
    for targets in (X[:, 0], X[:, :2]):  # one and two outputs
        reg = _sk_fit(MLPRegressor(hidden_layer_sizes=(5, 3), max_iter=30, random_state=0), X[:, 1:], targets)
        model = sn.from_sklearn(reg)
        np.testing.assert_allclose(model.predict(X[:, 1:]), reg.predict(X[:, 1:]), rtol=1e-12, atol=1e-12)


def test_from_sklearn_refuses_what_has_no_counterpart(iris):
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    X, y = iris
    multilabel = np.stack([y == 0, y == 1], axis=1).astype(int)
    est = _sk_fit(MLPClassifier(hidden_layer_sizes=(3,), max_iter=5, random_state=0), X, multilabel)
    with pytest.raises(ValueError, match="multilabel"):
        sn.from_sklearn(est)
    poisson = _sk_fit(MLPRegressor(loss="poisson", hidden_layer_sizes=(3,), max_iter=5, random_state=0),
                      X, X[:, 0])
    with pytest.raises(ValueError, match="Poisson"):
        sn.from_sklearn(poisson)
    with pytest.raises(ValueError, match="not fitted"):
        sn.from_sklearn(MLPClassifier())
    with pytest.raises(TypeError, match="MLPClassifier or MLPRegressor"):
        sn.from_sklearn(sn.MLP())


@pytest.mark.parametrize("kind", ["binary_sigmoid", "binary_softmax", "regressor_2d"])
def test_to_sklearn_gives_a_fitted_estimator_with_the_same_predictions(kind):
    from scratchnet.sklearn import MLPClassifier, MLPRegressor

    model, X = build(kind)
    est = export.to_sklearn(model)
    assert isinstance(est, MLPRegressor if model.task == "regression" else MLPClassifier)
    if model.task == "regression":
        np.testing.assert_allclose(est.predict(X), model.predict(X), rtol=1e-10, atol=1e-12)
    else:
        np.testing.assert_allclose(est.predict_proba(X), model.predict_proba(X), rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(est.predict(X), model.predict(X))
        assert est.out_activation_ == "logistic" and est.n_outputs_ == 1  # scikit-learn's binary form
    # and back again
    back = sn.from_sklearn(est)
    if model.task == "regression":
        np.testing.assert_allclose(back.predict(X), model.predict(X), rtol=1e-10, atol=1e-12)
    else:
        np.testing.assert_allclose(back.predict_proba(X), model.predict_proba(X), rtol=1e-10, atol=1e-12)


def test_to_sklearn_multiclass_with_scaler_and_dropout(iris):
    X, y = iris
    model = sn.MLP(hidden=(8, 6), activation="tanh", dropout=0.1, scale=True, seed=0).fit(
        X, y, epochs=5, batch_size=16)
    est = export.to_sklearn(model)
    assert est.out_activation_ == "softmax" and est.hidden_layer_sizes == (8, 6)
    np.testing.assert_allclose(est.predict_proba(X), model.predict_proba(X), rtol=1e-10, atol=1e-12)
    assert est.score(X, y) == model.evaluate(X, y)["accuracy"]
    # a fitted estimator like any other: it pickles, and trains on from these weights
    import pickle

    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).predict_proba(X), est.predict_proba(X))
    _sk_fit(est.set_params(warm_start=True, max_iter=3, learning_rate_init=1e-3), X, y)
    est.partial_fit(X, y)
    assert est.score(X, y) > 0.8


def test_to_sklearn_refuses_layers_it_has_no_counterpart_for():
    for kind, match in [("multiclass_deep", r"layer 1 \(BatchNorm1d\) has no counterpart"),
                        ("multiclass_float32", r"layer 3 \(Softmax\) has no counterpart")]:
        model, _ = build(kind)
        with pytest.raises(ValueError, match=match):
            export.to_sklearn(model)
    X = _X(np.random.default_rng(0))
    mixed = sn.MLP(hidden=(3, 3), activation=["relu", "tanh"], seed=0).fit(X, X[:, 0] > 0, epochs=1)
    with pytest.raises(ValueError, match="one activation for every hidden layer"):
        export.to_sklearn(mixed)


# -- the command --------------------------------------------------------------------------
def test_cli_export_writes_both_formats(tmp_path, capsys):
    require("onnx")
    require("safetensors")
    model, X = build("binary_softmax")
    io.save(model, tmp_path / "m.npz")
    code = main(["export", "--model", str(tmp_path / "m.npz"), "--onnx", str(tmp_path / "m.onnx"),
                 "--safetensors", str(tmp_path / "m.safetensors"), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert set(json.loads(out)) == {"model", "onnx", "safetensors"}
    probs, _ = _session(require("onnx").load(tmp_path / "m.onnx")).run(None, {"X": X.astype(np.float32)})
    np.testing.assert_allclose(probs, model.predict_proba(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(io.load(tmp_path / "m.safetensors").predict_proba(X),
                                  model.predict_proba(X))


@pytest.mark.parametrize("argv, match", [
    (["--onnx", "x.onnx"], "--model is required"),
    (["--model", "M"], "give --onnx"),
    (["--model", "M", "--safetensors", "w.bin"], "ending in .safetensors"),
])
def test_cli_export_usage_errors(argv, match, capsys):
    assert main(["export", *argv]) == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1


def test_cli_export_refuses_unexportable_layer_in_one_line(rng, tmp_path, capsys):
    require("onnx")
    model = _square_model(rng)
    L.LAYERS["Square"] = Square  # so that the saved file loads
    try:
        io.save(model, tmp_path / "m.npz")
        code = main(["export", "--model", str(tmp_path / "m.npz"), "--onnx", str(tmp_path / "m.onnx")])
    finally:
        L.LAYERS.pop("Square")
    err = capsys.readouterr().err
    assert code == 2 and "Square" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.onnx").exists()


def test_deploy_example_serves_what_scratchnet_predicts(tmp_path, capsys):
    require("onnxruntime")
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "examples" / "deploy_onnx.py"
    spec = importlib.util.spec_from_file_location("deploy_onnx", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    reply, same = example.main(["--check", "--onnx", str(tmp_path / "m.onnx")])
    assert same and len(reply["label"]) == 20 and len(reply["probabilities"][0]) == 2
    assert "equal to scratchnet's predict: True" in capsys.readouterr().out


# -- the layers added since: convolution, Identity, FeatureMap -----------------------------
def build_conv(scale, seed=0):
    """A 1-D convolution classifier on samples (2, 12)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, 2, 12)) * [[1.0], [3.0]] + [[0.0], [1.0]]
    y = (X[:, 0, :6].sum(axis=1) > 0).astype(int) + (X[:, 1].mean(axis=1) > 1)
    if scale:  # a standardiser on (C, L) samples, flattened at the end
        layers = [sn.Conv1d(3, 3, padding=1), sn.ReLU(), sn.MaxPool1d(2), sn.Conv1d(4, 3, stride=2),
                  L.Identity(), sn.Flatten(), sn.Dense(3)]
    else:
        layers = [sn.Conv1d(4, 5, padding=2), sn.GELU(), sn.Conv1d(3, 3), sn.Tanh(),
                  sn.GlobalAvgPool1d(), sn.Dense(5), sn.ReLU(), sn.Dense(3)]
    model = sn.Sequential(layers, optimizer="adam", lr=0.01, scale=scale, seed=seed)
    return model.fit(X, y, epochs=2, batch_size=8), X


@pytest.mark.parametrize("scale", [False, True])
def test_convolution_models_export(scale, tmp_path):
    torch = require("torch")
    require("onnx")
    model, X = build_conv(scale)
    proto = export.to_onnx(model)
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim][1:] == [2, 12]
    _check_onnx(model, X, proto)
    module = model.to_torch()
    with torch.no_grad():
        logits = module(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(logits, model.forward(model.scaled(X)), rtol=1e-10, atol=1e-12)
    assert list(module.state_dict()) == list(export.state_dict(model))
    back = sn.from_torch(module, classes=model.classes_, input_shape=(2, 12))
    assert [type(layer) for layer in back.layers] == [type(layer) for layer in model.layers
                                                      if not isinstance(layer, L.Identity)]
    assert (back.scaler is None) == (model.scaler is None)
    np.testing.assert_allclose(back.predict_proba(X), model.predict_proba(X), rtol=1e-10, atol=1e-12)
    path = io.save(model, tmp_path / "conv.safetensors")
    np.testing.assert_array_equal(io.load(path).predict_proba(X), model.predict_proba(X))


def test_from_torch_convolution_needs_input_shape():
    torch = require("torch")
    nn = torch.nn
    module = nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 8, 2)).double()
    with pytest.raises(ValueError, match="pass input_shape"):
        sn.from_torch(module)
    model = sn.from_torch(module, input_shape=(1, 10))
    X = np.random.default_rng(0).standard_normal((5, 1, 10))
    with torch.no_grad():
        np.testing.assert_allclose(model.forward(X), module(torch.from_numpy(X)).numpy(), rtol=1e-10)
    with pytest.raises(ValueError, match="dilation"):
        sn.from_torch(nn.Sequential(nn.Conv1d(1, 2, 3, dilation=2)), input_shape=(1, 10))


def test_feature_map_models_go_to_onnx_and_safetensors(tmp_path):
    require("onnx")
    from scratchnet.layers import FeatureMap

    X = np.random.default_rng(0).uniform(-2, 2, (50, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    features = ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin x1", "sin x2"]
    model = sn.Sequential([FeatureMap(features), sn.Dense(4), L.Identity(), sn.Tanh(), sn.Dense(2)],
                          lr=0.1, seed=0).fit(X, y, epochs=3, batch_size=10)
    _check_onnx(model, X, export.to_onnx(model))
    path = io.save(model, tmp_path / "fm.safetensors")
    np.testing.assert_array_equal(io.load(path).predict_proba(X), model.predict_proba(X))
    with pytest.raises(ValueError, match=r"layer 0 \(FeatureMap\) has no torch form"):
        export.to_torch(model)

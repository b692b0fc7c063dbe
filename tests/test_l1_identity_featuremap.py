"""L1 regularisation in the optimizers, the Identity activation and the FeatureMap
layer (added for the playground): finite differences, PyTorch, save/load, CLI."""
import json

import numpy as np
import pytest
from conftest import require

import scratchnet as sn
from scratchnet import io, optimizers
from scratchnet import layers as L
from scratchnet.gradcheck import check_layer, numerical_grad, relative_error


# -- L1 ---------------------------------------------------------------------------
def test_l1_gradient_is_the_penalty_derivative(rng):
    """What the optimizer adds to the gradient is d/dtheta of l1 * sum |theta|
    (away from 0, where |.| is differentiable)."""
    theta = rng.standard_normal(12)
    theta[np.abs(theta) < 0.05] = 0.3  # keep finite differences off the kink
    l1 = 0.07
    opt = optimizers.SGD(lr=1.0, l1=l1)
    added = opt._gradient(theta, np.zeros_like(theta))
    penalty = lambda: l1 * np.abs(theta).sum()  # noqa: E731
    assert relative_error(added, numerical_grad(penalty, theta)) < 1e-8


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"])
def test_l1_steps_match_torch_on_the_penalised_loss(name, rng):
    """50 steps on fixed gradients g with l1 > 0 equal torch's optimizer minimising
    <g, theta> + l1 * sum |theta| (autograd's d|x|/dx = sign(x))."""
    torch = require("torch")
    theta0 = rng.standard_normal(20)
    grads = [rng.standard_normal(20) for _ in range(50)]
    ours = optimizers.get(name, lr=0.01, l1=0.05, weight_decay=0.01)
    theta = theta0.copy()
    for g in grads:
        ours.step(theta, g.copy())
    p = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
    kinds = {"sgd": (torch.optim.SGD, {}), "momentum": (torch.optim.SGD, {"momentum": 0.9}),
             "nesterov": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
             "rmsprop": (torch.optim.RMSprop, {}), "adam": (torch.optim.Adam, {}),
             "adamw": (torch.optim.AdamW, {})}
    cls, kw = kinds[name]
    opt = cls([p], lr=0.01, weight_decay=0.01, **kw)
    for g in grads:
        opt.zero_grad()
        loss = (p * torch.tensor(g)).sum() + 0.05 * p.abs().sum()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(theta, p.detach().numpy(), rtol=1e-10, atol=1e-10)


def test_l1_is_validated_recorded_and_reloaded(tmp_path, moons):
    with pytest.raises(ValueError, match="l1"):
        optimizers.SGD(lr=0.1, l1=-1.0)
    with pytest.raises(TypeError, match="l1"):
        sn.MLP(l1="a lot")
    assert "l1" not in optimizers.SGD(lr=0.1).config()  # off: configs as before
    X, _, y, _ = moons
    model = sn.MLP(hidden=(8,), lr=0.1, l1=1e-3, seed=0).fit(X[:200], y[:200], epochs=2)
    assert model.optimizer.config()["l1"] == 1e-3
    sn.save(model, tmp_path / "m.npz")
    back = sn.load(tmp_path / "m.npz")
    assert back.optimizer.l1 == 1e-3
    # continuing the loaded model equals continuing the original
    model.fit(X[:200], y[:200], epochs=1)
    back.fit(X[:200], y[:200], epochs=1)
    np.testing.assert_array_equal(model.params, back.params)


def test_l1_shrinks_the_weights(moons):
    X, _, y, _ = moons
    plain = sn.MLP(hidden=(16,), lr=0.1, seed=0).fit(X[:500], y[:500], epochs=5)
    sparse = sn.MLP(hidden=(16,), lr=0.1, l1=0.01, seed=0).fit(X[:500], y[:500], epochs=5)
    assert np.abs(sparse.params).sum() < 0.9 * np.abs(plain.params).sum()


# -- Identity ----------------------------------------------------------------------
def test_identity_activation(rng, moons):
    x = rng.standard_normal((5, 3))
    check_layer(L.Identity(), x, rng)
    assert L.activation("identity").forward(x) is x
    assert "identity" in L.ACTIVATIONS
    X, _, y, _ = moons
    model = sn.MLP(hidden=(4,), activation="identity", lr=0.1, seed=0).fit(X[:100], y[:100], epochs=1)
    assert isinstance(model.layers[1], L.Identity)


def test_cli_lists_and_trains_identity(tmp_path, capsys):
    from scratchnet.cli import build_parser, main

    train_help = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert "identity" in train_help
    code = main(["train", "--activation", "identity", "--epochs", "1", "--out",
                 str(tmp_path / "run"), "--no-plots", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])


# -- FeatureMap --------------------------------------------------------------------
def test_feature_map_values_and_gradient(rng):
    layer = L.FeatureMap(["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin x1", "sin x2"])
    x = rng.standard_normal((6, 2))
    out = layer.forward(x)
    a, b = x[:, 0], x[:, 1]
    np.testing.assert_array_equal(out, np.stack([a, b, a * a, b * b, a * b, np.sin(a), np.sin(b)], 1))
    check_layer(layer, x, rng)
    assert layer.output_dim(2) == 7
    with pytest.raises(ValueError, match="2 inputs"):
        layer.output_dim(3)
    for bad in ([], ["x3"], ["x1", "x1"]):
        with pytest.raises(ValueError, match="FeatureMap features"):
            L.FeatureMap(bad)


def test_feature_map_model_saves_and_predicts_from_two_columns(tmp_path, moons, capsys):
    """A model whose first layer is a FeatureMap takes raw (x1, x2) after save/load,
    from Python and from `scratchnet predict` on a two-column CSV."""
    from scratchnet.cli import main

    X, X_test, y, _ = moons
    model = sn.Sequential([L.FeatureMap(["x1", "x2", "x1*x2", "sin x1"]), L.Dense(8), L.Tanh(),
                           L.Dense(2)], lr=0.1, seed=0).fit(X[:300], y[:300], epochs=3)
    path = sn.save(model, tmp_path / "model.npz")
    back = io.load(path)
    np.testing.assert_array_equal(back.predict_proba(X_test), model.predict_proba(X_test))
    csv = tmp_path / "points.csv"
    csv.write_text("x1,x2\n" + "\n".join(f"{a!r},{b!r}" for a, b in X_test[:20].tolist()) + "\n")
    assert main(["predict", "--model", str(path), "--data", str(csv), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["predictions"] == model.predict(X_test[:20]).tolist()

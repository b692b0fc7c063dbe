"""Every layer, loss, optimizer and schedule against PyTorch (torch==2.13.0, CPU,
float64): forward values and gradients within 1e-10, and parameters after 50
optimizer steps on the same gradients within 1e-10.

Outside CI a missing torch skips this file; in CI (env CI set) it fails."""
import os
from types import SimpleNamespace

import numpy as np
import pytest

if os.environ.get("CI"):
    import torch  # noqa: F401  -- CI must have the oracle: no silent skip
else:
    torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from scratchnet import layers as L  # noqa: E402
from scratchnet import losses, optimizers  # noqa: E402
from scratchnet.callbacks import LearningRateScheduler, ReduceLROnPlateau  # noqa: E402

TOL = 1e-10


@pytest.mark.skipif(not os.environ.get("CI"), reason="the exact pin is CI's business")
def test_ci_uses_the_pinned_torch():
    assert torch.__version__.split("+")[0] == "2.13.0"


def t(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def close(ours, theirs):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    np.testing.assert_allclose(ours, theirs, rtol=TOL, atol=TOL)


# -- layers and activations ---------------------------------------------------------
ACTIVATIONS = [
    (L.ReLU(), torch.relu),
    (L.LeakyReLU(0.1), lambda x: F.leaky_relu(x, 0.1)),
    (L.Sigmoid(), torch.sigmoid),
    (L.Tanh(), torch.tanh),
    (L.GELU(), lambda x: F.gelu(x, approximate="tanh")),
    (L.Softmax(), lambda x: torch.softmax(x, dim=-1)),
]


@pytest.mark.parametrize("layer, reference", ACTIVATIONS, ids=lambda v: type(v).__name__)
def test_activation_matches_torch(layer, reference, rng):
    x = rng.standard_normal((16, 5)) * 3
    x[-1] = [-40.0, -1e-3, 0.7, 30.0, 500.0]  # tails and near the kink
    G = rng.standard_normal(x.shape)
    xt = t(x, grad=True)
    out_t = reference(xt)
    (out_t * t(G)).sum().backward()
    close(layer.forward(x, train=True), out_t)
    close(layer.backward(G), xt.grad)


def test_dense_matches_torch_linear(rng):
    x, G = rng.standard_normal((9, 4)), rng.standard_normal((9, 3))
    dense = L.Dense(3)
    W, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    dense.bind({"W": W, "b": b}, {"W": np.zeros_like(W), "b": np.zeros_like(b)})
    xt, Wt, bt = t(x, True), t(W.T.copy(), True), t(b, True)
    out_t = F.linear(xt, Wt, bt)
    (out_t * t(G)).sum().backward()
    close(dense.forward(x, train=True), out_t)
    close(dense.backward(G), xt.grad)
    close(dense.grads["W"], Wt.grad.T)
    close(dense.grads["b"], bt.grad)


@pytest.mark.parametrize("train", [True, False])
def test_batchnorm_matches_torch(train, rng):
    n_features, momentum, eps = 4, 0.3, 1e-3
    bn = L.BatchNorm1d(momentum=momentum, eps=eps)
    gamma, beta = rng.standard_normal(n_features), rng.standard_normal(n_features)
    bn.bind({"gamma": gamma, "beta": beta}, {"gamma": np.zeros(4), "beta": np.zeros(4)})
    ref = torch.nn.BatchNorm1d(n_features, eps=eps, momentum=momentum, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(t(gamma))
        ref.bias.copy_(t(beta))
    for _ in range(3):  # move the running statistics off their initial values
        warm = rng.standard_normal((7, n_features)) * 2 + 1
        bn.forward(warm, train=True)
        ref(t(warm))
    close(bn.buffers["running_mean"], ref.running_mean)
    close(bn.buffers["running_var"], ref.running_var)
    ref.train(train)
    x, G = rng.standard_normal((10, n_features)) * 3 - 1, rng.standard_normal((10, n_features))
    xt = t(x, True)
    out_t = ref(xt)
    (out_t * t(G)).sum().backward()
    close(bn.forward(x, train=train), out_t)
    close(bn.backward(G), xt.grad)
    close(bn.grads["gamma"], ref.weight.grad)
    close(bn.grads["beta"], ref.bias.grad)
    close(bn.buffers["running_mean"], ref.running_mean)
    close(bn.buffers["running_var"], ref.running_var)


def test_dropout_follows_torch_convention(rng):
    """Masks come from different generators, so compare the convention: kept units
    are scaled by 1 / (1 - p) in training, and evaluation is the identity."""
    p, x = 0.3, rng.uniform(1, 2, (200, 50))
    drop = L.Dropout(p)
    drop.rng = np.random.default_rng(0)
    ours = drop.forward(x, train=True)
    torch.manual_seed(0)  # torch's dropout draws from its global generator
    theirs = F.dropout(t(x), p, training=True).numpy()
    for out in (ours, theirs):
        kept = out != 0
        close(out[kept] / x[kept], np.full(kept.sum(), 1 / (1 - p)))
        assert abs(kept.mean() - (1 - p)) < 0.01
    close(drop.forward(x, train=False), F.dropout(t(x), p, training=False))


# -- losses ---------------------------------------------------------------------------
def check_loss(loss, inputs, targets, torch_loss):
    """Our loss value and dL/dinputs against ``torch_loss(inputs_tensor)`` and autograd."""
    it = t(inputs, True)
    ref = torch_loss(it)
    ref.backward()
    close(loss.forward(inputs, targets), ref)
    close(loss.backward(), it.grad)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_cross_entropy_matches_torch(reduction, smoothing, one_hot, rng):
    logits = rng.standard_normal((12, 5)) * 4
    logits[0, 0] = 1e4  # extreme logits stay finite
    y = rng.integers(0, 5, 12)
    targets = np.eye(5)[y] if one_hot else y
    torch_targets = t(targets) if one_hot else torch.tensor(y)
    check_loss(losses.SoftmaxCrossEntropy(reduction, label_smoothing=smoothing), logits, targets,
               lambda z: F.cross_entropy(z, torch_targets, reduction=reduction,
                                         label_smoothing=smoothing))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_binary_cross_entropy_matches_torch(reduction, rng):
    z = rng.standard_normal((11, 1)) * 5
    z[:3, 0] = [800.0, -800.0, 0.0]  # exp would overflow without the stable form
    y = rng.integers(0, 2, (11, 1)).astype(float)
    y[1] = 1.0  # a confident wrong answer: loss 800, not inf
    check_loss(losses.BinaryCrossEntropy(reduction), z, y,
               lambda zt: F.binary_cross_entropy_with_logits(zt, t(y), reduction=reduction))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_matches_torch(reduction, rng):
    out, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 3))
    check_loss(losses.MeanSquaredError(reduction), out, y,
               lambda ot: F.mse_loss(ot, t(y), reduction=reduction))


# -- optimizers and schedules ------------------------------------------------------------
N_PARAMS, STEPS = 23, 50

OPTIMIZERS = [
    ("sgd", {"lr": 0.1}, torch.optim.SGD, {"lr": 0.1}),
    ("sgd", {"lr": 0.05, "momentum": 0.9}, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
    ("sgd", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01},
     torch.optim.SGD, {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01}),
    ("sgd", {"lr": 0.1, "weight_decay": 0.05}, torch.optim.SGD, {"lr": 0.1, "weight_decay": 0.05}),
    ("rmsprop", {"lr": 0.01}, torch.optim.RMSprop, {"lr": 0.01}),
    ("rmsprop", {"lr": 0.005, "alpha": 0.9, "eps": 1e-3, "momentum": 0.5, "centered": True,
                 "weight_decay": 0.02},
     torch.optim.RMSprop, {"lr": 0.005, "alpha": 0.9, "eps": 1e-3, "momentum": 0.5,
                           "centered": True, "weight_decay": 0.02}),
    ("adam", {"lr": 0.01}, torch.optim.Adam, {"lr": 0.01}),
    ("adam", {"lr": 0.02, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "weight_decay": 0.05},
     torch.optim.Adam, {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05}),
    ("adamw", {"lr": 0.01}, torch.optim.AdamW, {"lr": 0.01}),
    ("adamw", {"lr": 0.03, "weight_decay": 0.2, "beta2": 0.95},
     torch.optim.AdamW, {"lr": 0.03, "weight_decay": 0.2, "betas": (0.9, 0.95)}),
]


def gradient_sequence(rng, scale=1.0):
    return [scale * rng.standard_normal(N_PARAMS) * rng.uniform(0.1, 3) for _ in range(STEPS)]


def run_both(ours, theirs_cls, theirs_kw, grads, p0, clipnorm=None, schedules=None):
    """Apply the same gradients to both. ``schedules(theirs)``, called once the torch
    optimizer exists, returns ``after_step(k, ours, theirs)``, run after step k."""
    params = p0.copy()
    pt = torch.nn.Parameter(t(p0))
    theirs = theirs_cls([pt], **theirs_kw)
    after_step = schedules(theirs) if schedules is not None else None
    for k, g in enumerate(grads, start=1):
        ours.step(params, g.copy())
        pt.grad = t(g)
        if clipnorm is not None:
            torch.nn.utils.clip_grad_norm_([pt], clipnorm)
        theirs.step()
        if after_step is not None:
            after_step(k, ours, theirs)
    return params, pt


@pytest.mark.parametrize("name, kw, theirs_cls, theirs_kw", OPTIMIZERS,
                         ids=[f"{o[0]}-{i}" for i, o in enumerate(OPTIMIZERS)])
def test_optimizer_matches_torch_after_50_steps(name, kw, theirs_cls, theirs_kw, rng):
    p0 = rng.standard_normal(N_PARAMS)
    ours = optimizers.get(name, **kw)
    params, pt = run_both(ours, theirs_cls, theirs_kw, gradient_sequence(rng), p0)
    assert np.abs(params - p0).max() > 0.05  # the steps went somewhere
    close(params, pt)


@pytest.mark.parametrize("name, kw, theirs_cls, theirs_kw", [OPTIMIZERS[2], OPTIMIZERS[7]],
                         ids=["sgd-nesterov", "adam"])
def test_global_norm_clipping_matches_torch(name, kw, theirs_cls, theirs_kw, rng):
    p0 = rng.standard_normal(N_PARAMS)
    ours = optimizers.get(name, **kw, clipnorm=1.5)
    grads = gradient_sequence(rng, scale=2.0)  # norms around 5-15: most steps clip
    params, pt = run_both(ours, theirs_cls, theirs_kw, grads, p0, clipnorm=1.5)
    close(params, pt)


def as_callback(schedule):
    cb = LearningRateScheduler(schedule)
    return lambda k, ours, theirs: cb(SimpleNamespace(optimizer=ours), k, {})


@pytest.mark.parametrize("ours_schedule, theirs_schedule", [
    (optimizers.StepDecay(7, gamma=0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 7, gamma=0.5)),
    (optimizers.CosineDecay(20, eta_min=1e-3),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20, eta_min=1e-3)),
], ids=["step", "cosine"])
@pytest.mark.parametrize("opt", [OPTIMIZERS[1], OPTIMIZERS[7]], ids=["momentum", "adam"])
def test_schedule_matches_torch(ours_schedule, theirs_schedule, opt, rng):
    name, kw, theirs_cls, theirs_kw = opt
    p0 = rng.standard_normal(N_PARAMS)
    ours = optimizers.get(name, **kw)
    ours_cb = as_callback(ours_schedule)

    def schedules(theirs_opt):
        scheduler = theirs_schedule(theirs_opt)

        def after_step(k, ours_opt, theirs_opt):
            scheduler.step()
            ours_cb(k, ours_opt, theirs_opt)
            assert ours_opt.lr == pytest.approx(theirs_opt.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
        return after_step

    params, pt = run_both(ours, theirs_cls, theirs_kw, gradient_sequence(rng), p0, schedules=schedules)
    close(params, pt)


@pytest.mark.parametrize("threshold_mode, mode, cooldown", [("rel", "min", 0), ("abs", "min", 2),
                                                            ("rel", "max", 1)])
def test_reduce_on_plateau_matches_torch(threshold_mode, mode, cooldown, rng):
    name, kw, theirs_cls, theirs_kw = OPTIMIZERS[1]
    p0 = rng.standard_normal(N_PARAMS)
    ours = optimizers.get(name, **kw)
    plateau = ReduceLROnPlateau(factor=0.5, patience=2, threshold=0.05, mode=mode,
                                threshold_mode=threshold_mode, cooldown=cooldown, min_lr=0.004)
    # a metric that improves, then wanders on a plateau, with small "improvements"
    metric = np.concatenate([np.linspace(2, 1, 10), 1 + 0.03 * rng.standard_normal(STEPS - 10)])
    lrs = []

    def schedules(theirs_opt):
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            theirs_opt, mode=mode, factor=0.5, patience=2, threshold=0.05,
            threshold_mode=threshold_mode, cooldown=cooldown, min_lr=0.004)

        def after_step(k, ours_opt, theirs_opt):
            sched.step(metric[k - 1])
            plateau.update(ours_opt, metric[k - 1])
            lrs.append(ours_opt.lr)
            assert ours_opt.lr == theirs_opt.param_groups[0]["lr"]
        return after_step

    params, pt = run_both(ours, theirs_cls, theirs_kw, gradient_sequence(rng), p0, schedules=schedules)
    assert len(set(lrs)) > 1  # the learning rate did change
    close(params, pt)

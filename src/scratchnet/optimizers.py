"""Optimizers. Each updates a model's one flat parameter array in place from the
flat gradient array of the same shape, so a step costs a few NumPy calls
whatever the depth. ``lr`` may be a float or an array broadcastable to the
parameters (per-model learning rates in a model group).

The update rules are torch.optim's (checked against it in tests/test_torch_oracle.py):
``weight_decay`` adds ``wd * theta`` to the gradient (L2), except in AdamW, which
shrinks the weights directly (decoupled). ``clipnorm`` first rescales the whole
gradient so its global L2 norm is at most ``clipnorm``, as
``torch.nn.utils.clip_grad_norm_`` does. ``l1`` adds ``l1 * sign(theta)`` to the
gradient (the L1 penalty ``l1 * sum |theta|``; coupled in every optimizer, AdamW too).
All apply to every parameter, biases included.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from .kernels import typed
from .validation import check_number, check_positive


class Optimizer:
    hyper = ("weight_decay", "clipnorm")  # what config() records besides type and lr

    def __init__(self, lr=0.01, weight_decay=0.0, clipnorm=None, l1=0.0):
        self.lr = lr
        self.weight_decay = _check("weight_decay", weight_decay)
        self.l1 = _check("l1", l1)
        self.clipnorm = None if clipnorm is None else _check("clipnorm", clipnorm, positive=True)
        self._model_blocks = None  # a model group's (M, -1) views, for per-model clipping
        self._lr_rows = None  # a model group's lr per model, shaped (M, 1, 1) like dL/dlogits

    # lr and weight_decay may also be arrays shaped like the parameters: a model
    # group's per-model values, each repeated over that model's parameters
    @property
    def weight_decay(self):
        return self._weight_decay

    @weight_decay.setter
    def weight_decay(self, value):
        self._weight_decay = value
        self._decays = bool(np.any(value))

    def for_group(self, lr, weight_decay, model_blocks, lr_rows) -> "Optimizer":
        """Set per-parameter ``lr`` and ``weight_decay`` arrays (or scalars) for a
        model group whose gradient splits into ``model_blocks``: arrays (M, -1)
        covering every parameter, so each model clips by its own global norm.
        ``lr_rows``: the learning rates again, shaped (M, 1, 1) (see ``folded_lr``)."""
        self.lr, self.weight_decay = lr, weight_decay
        self._model_blocks, self._lr_rows = model_blocks, lr_rows
        return self

    def folded_lr(self):
        """The learning rate to fold into dL/dlogits, or None where the rule is not
        linear in the gradient (see ``SGD.folded_lr``)."""
        return None

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        raise NotImplementedError

    def _gradient(self, params, grads, weight_decay=True):
        """The gradient the rule sees: clipped, plus L2 weight decay and the L1
        penalty's subgradient ``l1 * sign(theta)`` (0 at theta = 0), all in place:
        it returns ``grads`` itself. ``grads`` belongs to the step (the next backward
        overwrites it anyway), so an update rule may also use it as work space once it
        has read it; after a step it holds no gradient."""
        if self.clipnorm is not None:
            if self._model_blocks is None:
                clip_by_global_norm(grads, self.clipnorm)
            else:
                clip_each_model(self._model_blocks, self.clipnorm)
        if self.l1:
            work = np.sign(params, out=self._scratch(params, 0))
            grads += np.multiply(work, self.l1, out=work)
        if weight_decay and self._decays:
            grads += np.multiply(params, self.weight_decay, out=self._scratch(params, 0))
        return grads

    def _constants(self, dtype):
        """The rule's hyper-parameters as 0-d arrays of the parameters' dtype
        (``_typed_constants``), made once for these hyper-parameters: the values NumPy
        would convert the Python numbers to at every call (the same bits), without the
        conversions, a third of a small array's call. lr stays an array where a model
        group holds it per parameter.

        Made again whenever one of the hyper-parameters (``_hyper_objects``, an
        ``operator.attrgetter``) is another object than they were made from (a schedule
        setting ``lr``, say): an identity check, as lr and weight_decay may be arrays,
        and cheaper than comparing values. The cache holds those objects, so none of
        their ids can be reused while it does."""
        made_from = self._hyper_objects(self)
        cached = self.__dict__.get("_constants_of")
        if cached is None or cached[0] is not dtype or not all(map(operator.is_, cached[1], made_from)):
            cached = self._constants_of = (dtype, made_from, self._typed_constants(dtype))
        return cached[2]

    def _typed_lr(self, dtype):
        """lr as a 0-d array of ``dtype``, or as the model group's array it is. In the
        dtype even where the rule multiplies a float32 array by it: a float32 group of
        one then rounds its step as the model alone does."""
        return self.lr if isinstance(self.lr, np.ndarray) else np.asarray(self.lr, dtype)

    def _scratch(self, params, i):
        """The i-th work array shaped like ``params``, kept between steps: an update
        rule's temporaries cost no allocation (and no page faults) after the first step."""
        if self.__dict__.get("_work_of") is not params:  # made for that very array: an
            self._work_of, self._work = params, {}  # identity check, not shape and dtype
        buf = self._work.get(i)
        if buf is None:
            buf = self._work[i] = np.empty_like(params)
        return buf

    def state(self) -> dict[str, np.ndarray]:
        """Arrays to save with a checkpoint (empty for stateless optimizers)."""
        return {k: v for k, v in vars(self).items()
                if isinstance(v, np.ndarray) and k != "lr" and not k.startswith("_")}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        for k, v in state.items():
            setattr(self, k, np.array(v))

    def config(self) -> dict:
        lr = self.lr
        cfg = {"type": type(self).__name__, "lr": lr if np.isscalar(lr) else None}
        l1 = {"l1": self.l1} if self.l1 else {}  # absent when off: older configs stay as they were
        return cfg | {k: getattr(self, k) for k in self.hyper} | l1


class SGD(Optimizer):
    """theta <- theta - lr * grad  (tutorial eq. 7).

    With ``momentum`` mu: v <- mu v + grad; theta <- theta - lr * v, or with
    ``nesterov``: theta <- theta - lr * (grad + mu v)."""

    hyper = ("momentum", "nesterov", "weight_decay", "clipnorm")

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0, clipnorm=None,
                 l1=0.0):
        super().__init__(lr, weight_decay, clipnorm, l1)
        self.momentum = _check("momentum", momentum)
        if nesterov and not self.momentum:
            raise ValueError("nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)

    def step(self, params, grads):
        if self.momentum or self._decays or self.l1 or self.clipnorm is not None:
            return self._step_full(params, grads)
        params -= self.lr * grads

    def folded_lr(self):
        """Plain SGD is linear in the gradient: scaling dL/dlogits by lr makes backward
        yield lr * grad, and the update is then a subtraction (``step_folded``): one
        pass over the parameters fewer, and per-model rates in a group cost nothing."""
        if self.momentum or self.l1 or self.clipnorm is not None:
            return None
        return self.lr if self._lr_rows is None else self._lr_rows

    def step_folded(self, params, lr_grads):
        """The same as ``step`` for gradients already multiplied by lr:
        theta <- theta - (lr grad + lr wd theta)."""
        if self._decays:
            lr_grads += np.multiply(params, self.lr * self.weight_decay, out=self._scratch(params, 0))
        params -= lr_grads

    def _step_full(self, params, grads):
        # lr and momentum as Python numbers: through ``_constants``' cache, callgrind
        # counted 0.5-2% more instructions per step of a 2-64-2 network with momentum
        # (1-3% fewer with Nesterov's third use), within its run-to-run spread of 3%
        g = self._gradient(params, grads)  # grads itself: the step's to overwrite
        direction = g
        if self.momentum:
            if not hasattr(self, "velocity"):
                self.velocity = np.zeros_like(params)
            v = self.velocity
            v *= self.momentum
            v += g
            if self.nesterov:  # g + mu * v
                g += np.multiply(v, self.momentum, out=self._scratch(params, 1))
            else:
                direction = v
        params -= np.multiply(direction, self.lr, out=g)


class RMSprop(Optimizer):
    """s <- alpha s + (1 - alpha) g^2; theta <- theta - lr * g / (sqrt(s) + eps).

    eps is added outside the square root, as torch does. ``centered`` divides by
    the estimated standard deviation sqrt(s - mean(g)^2) instead; ``momentum``
    accumulates the scaled step in a buffer."""

    hyper = ("alpha", "eps", "momentum", "centered", "weight_decay", "clipnorm")

    def __init__(self, lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0, centered=False,
                 weight_decay=0.0, clipnorm=None, l1=0.0):
        super().__init__(lr, weight_decay, clipnorm, l1)
        self.alpha = _check("alpha", alpha, upper=1)
        self.eps = _check("eps", eps, positive=True)
        self.momentum = _check("momentum", momentum)
        self.centered = bool(centered)

    def step(self, params, grads):
        g = self._gradient(params, grads)  # grads itself: the step's to overwrite
        if not hasattr(self, "square_avg"):
            self.square_avg = np.zeros_like(params)
            if self.centered:
                self.grad_avg = np.zeros_like(params)
            if self.momentum:
                self.velocity = np.zeros_like(params)
        lr, alpha, alpha_, eps, momentum = self._constants(params.dtype)
        work = self._scratch(params, 1)
        self.square_avg *= alpha
        np.multiply(g, alpha_, out=work)
        work *= g
        self.square_avg += work  # (1 - alpha) g^2
        if self.centered:
            self.grad_avg *= alpha
            self.grad_avg += np.multiply(g, alpha_, out=work)
            np.multiply(self.grad_avg, self.grad_avg, out=work)
            denom = np.subtract(self.square_avg, work, out=work)
            np.sqrt(denom, out=denom)
        else:
            denom = np.sqrt(self.square_avg, out=work)
        denom += eps
        if self.momentum:
            self.velocity *= momentum
            self.velocity += np.divide(g, denom, out=g)
            params -= np.multiply(self.velocity, lr, out=g)
        else:
            g *= lr
            params -= np.divide(g, denom, out=g)

    _hyper_objects = operator.attrgetter("lr", "alpha", "eps", "momentum")

    def _typed_constants(self, dtype):
        """(lr, alpha, 1 - alpha, eps, momentum)."""
        alpha = self.alpha
        return (self._typed_lr(dtype),) + typed((alpha, 1 - alpha, self.eps, self.momentum), dtype)


class Adam(Optimizer):
    """m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    theta <- theta - lr * m_hat / (sqrt(v_hat) + eps), with the bias corrections
    m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)."""

    hyper = ("beta1", "beta2", "eps", "weight_decay", "clipnorm")
    decoupled = False

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                 clipnorm=None, l1=0.0):
        super().__init__(lr, weight_decay, clipnorm, l1)
        self.beta1 = _check("beta1", beta1, upper=1)
        self.beta2 = _check("beta2", beta2, upper=1)
        self.eps = _check("eps", eps, positive=True)

    def step(self, params, grads):
        g = self._gradient(params, grads, weight_decay=not self.decoupled)
        if not hasattr(self, "m"):
            self.m, self.v, self.t = np.zeros_like(params), np.zeros_like(params), np.zeros(())
        lr, b1, b1_, b2, b2_, eps, decay = self._constants(params.dtype)
        if decay is not None:  # AdamW: theta <- theta (1 - lr wd)
            params *= decay
        self.t += 1
        t = float(self.t)
        work = self._scratch(params, 1)
        self.m *= b1
        self.m += np.multiply(g, b1_, out=work)  # (1 - b1) g
        self.v *= b2
        np.multiply(g, b2_, out=work)
        work *= g
        self.v += work  # (1 - b2) g^2
        denom = np.sqrt(self.v, out=g)  # g (grads itself) is not needed any more
        denom /= math.sqrt(1 - self.beta2**t)
        denom += eps
        np.multiply(self.m, lr / (1 - self.beta1**t), out=work)
        params -= np.divide(work, denom, out=work)

    _hyper_objects = operator.attrgetter("lr", "_weight_decay", "beta1", "beta2", "eps")

    def _typed_constants(self, dtype):
        """(lr, b1, 1 - b1, b2, 1 - b2, eps, decay); decay: AdamW's factor 1 - lr wd, or None."""
        lr = self._typed_lr(dtype)
        decay = 1 - lr * self._weight_decay if self.decoupled and self._decays else None
        b1, b2 = self.beta1, self.beta2
        return (lr,) + typed((b1, 1 - b1, b2, 1 - b2, self.eps), dtype) + (decay,)


class AdamW(Adam):
    """Adam with decoupled weight decay: theta <- theta (1 - lr wd) before the
    Adam step, instead of adding wd * theta to the gradient."""

    decoupled = True

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01,
                 clipnorm=None, l1=0.0):
        super().__init__(lr, beta1, beta2, eps, weight_decay, clipnorm, l1)


def clip_each_model(blocks, max_norm: float) -> np.ndarray:
    """``clip_by_global_norm`` for each model of a group on its own: ``blocks`` are
    (M, -1) views that together hold every gradient entry once (zero padding adds
    nothing to a norm). Returns the M norms before clipping."""
    norms = np.sqrt(sum(np.einsum("mi,mi->m", b, b) for b in blocks))
    factor = max_norm / (norms + 1e-6)
    factor[factor >= 1] = 1
    for b in blocks:
        b *= factor[:, None]
    return norms


def clip_by_global_norm(grads: np.ndarray, max_norm: float) -> float:
    """Scale ``grads`` in place so its L2 norm is at most ``max_norm``; returns the
    norm before clipping. Uses torch's factor max_norm / (norm + 1e-6)."""
    norm = float(np.sqrt(np.vdot(grads, grads)))
    factor = max_norm / (norm + 1e-6)
    if factor < 1:
        grads *= factor
    return norm


# -- learning-rate schedules: lr for the epoch after ``epoch`` epochs have run --------
class StepDecay:
    """lr = base_lr * gamma ** (epoch // step_size)  (torch's StepLR)."""

    def __init__(self, step_size: int, gamma: float = 0.1):
        self.step_size = check_positive("step_size", step_size, int, type_error=False)
        self.gamma = _check("gamma", gamma, positive=True)

    def __call__(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)

    def config(self):
        return {"type": "StepDecay", "step_size": self.step_size, "gamma": self.gamma}


class CosineDecay:
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2
    (torch's CosineAnnealingLR; past T_max it rises again, as torch's does)."""

    def __init__(self, T_max: int, eta_min: float = 0.0):
        self.T_max = check_positive("T_max", T_max, int, type_error=False)
        self.eta_min = _check("eta_min", eta_min)

    def __call__(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2

    def config(self):
        return {"type": "CosineDecay", "T_max": self.T_max, "eta_min": self.eta_min}


def _check(name, value, positive=False, upper=None):
    return check_number(name, value, low=0, low_open=positive, high=upper)


OPTIMIZERS = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW,
              "momentum": lambda lr, **kw: SGD(lr, **({"momentum": 0.9} | kw)),
              "nesterov": lambda lr, **kw: SGD(lr, **({"momentum": 0.9, "nesterov": True} | kw))}


def get(name: str, lr, **kwargs) -> Optimizer:
    """An optimizer by name; ``kwargs`` are its hyper-parameters (momentum=, weight_decay=, ...)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(sorted(OPTIMIZERS))}")
    return OPTIMIZERS[name](lr=lr, **kwargs)


def from_config(cfg: dict) -> Optimizer:
    """Rebuild an optimizer from its ``config()`` (state comes back via ``load_state``)."""
    cfg = dict(cfg)
    by_type = {cls.__name__: cls for cls in (SGD, RMSprop, Adam, AdamW)}
    kind = cfg.pop("type", None)
    if kind not in by_type:
        raise ValueError(f"unknown optimizer type {kind!r}; valid: {', '.join(sorted(by_type))}")
    return by_type[kind](**cfg)

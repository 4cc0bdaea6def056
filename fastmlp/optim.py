"""Optimisers: the update each path applies once per batch, and the state it keeps between batches.

With ``g`` the batch's mean gradient of a parameter ``w`` (plus ``(weight_decay + l2 / B) * w`` for weights, never
for biases: L2 on the weights only; ``B`` the batch's weight, its row count without sample weights), the rules are
PyTorch's ``torch.optim.SGD`` (no dampening) and ``torch.optim.Adam`` (not AdamW), written as PyTorch computes them:

=============  =====================================================================================
``sgd``        ``w <- w - lr * g``                                          (the worked example's update)
``momentum``   ``b <- mu * b + g``;  ``w <- w - lr * b``                   (``b`` starts at 0)
``nesterov``   ``b <- mu * b + g``;  ``w <- w - lr * (g + mu * b)``
``adam``       ``t <- t + 1``; ``m <- m + (1 - beta1) * (g - m)``; ``v <- beta2 * v + (1 - beta2) * g * g``;
               ``w <- w - (lr / (1 - beta1**t)) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)``
=============  =====================================================================================

``SGD(momentum=0)`` is ``sgd``, ``SGD(momentum=mu)`` is ``momentum``, ``SGD(momentum=mu, nesterov=True)`` is
``nesterov``, ``Adam(...)`` is ``adam``; ``fit(optimizer=...)`` takes these objects or the names, which stand for
``SHORTHANDS`` (momentum 0.9, PyTorch's Adam defaults).

The state (``b`` or ``m``, ``v`` and the step count ``t``, per update not per epoch) lives in one
:class:`OptimizerState`, flat arrays in the parameters' layout, kept by the model from one ``fit`` to the
next (a warm start) and handed to the compiled loop, which updates it in place.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._memory import aligned_copy, aligned_zeros
from ._params import InvalidParameterError, Options, check, short

RULES = ("sgd", "momentum", "nesterov", "adam")     # the update rules; compiled kernels receive their positions


@dataclass(frozen=True)
class SGD:
    """Stochastic gradient descent, as ``torch.optim.SGD`` (no dampening).

    Parameters
    ----------
    momentum : float in [0, 1)
        0 (the default) is the worked example's plain update; above 0, heavy-ball momentum.
    nesterov : bool
        Nesterov momentum (needs ``momentum > 0``).
    weight_decay : float >= 0
        L2 on the weights only (not the biases): ``g_W <- g_W + weight_decay * W`` before the rule.
    l2 : float >= 0
        L2 on the weights as scikit-learn's ``alpha``: ``g_W <- g_W + (l2 / B) * W`` before the rule, ``B`` the
        batch's sum of sample weights (its row count without weights), the gradient of ``l2/2 * |W|^2`` added to
        the batch's summed, not mean, loss.
    """

    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    l2: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "momentum", check("momentum", self.momentum))
        object.__setattr__(self, "nesterov", check("nesterov", self.nesterov))
        object.__setattr__(self, "weight_decay", check("weight_decay", self.weight_decay))
        object.__setattr__(self, "l2", check("l2", self.l2))
        if self.nesterov and self.momentum == 0:
            raise InvalidParameterError("SGD(nesterov=True) needs momentum > 0, got momentum=0.0")

    @property
    def rule(self) -> str:
        """The update rule: ``"sgd"``, ``"momentum"`` or ``"nesterov"``."""
        return "sgd" if self.momentum == 0 else ("nesterov" if self.nesterov else "momentum")

    def hyper(self) -> tuple:
        return (self.momentum, 0.9, 0.999, 1e-8, self.weight_decay, self.l2)


@dataclass(frozen=True)
class Adam:
    """Adam, as ``torch.optim.Adam`` (not AdamW).

    Parameters
    ----------
    betas : pair of floats in [0, 1)
        Decay rates of the first and second moment estimates.
    eps : float > 0
        Added to the denominator.
    weight_decay : float >= 0
        L2 on the weights only (not the biases), added to the gradient before the rule.
    l2 : float >= 0
        scikit-learn's ``alpha``: ``(l2 / B) * W`` added to the weights' gradient, ``B`` the batch's weight (see
        :class:`SGD`).
    """

    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    l2: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "betas", check("betas", self.betas))
        object.__setattr__(self, "eps", check("eps", self.eps))
        object.__setattr__(self, "weight_decay", check("weight_decay", self.weight_decay))
        object.__setattr__(self, "l2", check("l2", self.l2))

    rule = "adam"

    def hyper(self) -> tuple:
        return (0.9, self.betas[0], self.betas[1], self.eps, self.weight_decay, self.l2)


# What the names ``fit(optimizer=...)`` takes stand for.
SHORTHANDS = {"sgd": SGD(), "momentum": SGD(momentum=0.9), "nesterov": SGD(momentum=0.9, nesterov=True),
              "adam": Adam()}


def from_rule(rule, hyper) -> SGD | Adam:
    """The optimiser object of the rule ``rule`` with the hyperparameters ``hyper`` (``[momentum, beta1, beta2,
    eps, weight_decay, l2]``, as ``OptimizerState.hyper`` and saved models hold them; without ``l2``, as models saved
    before it existed, 0)."""
    momentum, beta1, beta2, eps, weight_decay, l2 = (*(float(h) for h in hyper), 0.0)[:6]
    check("optimizer", rule, [Options(RULES)])
    if rule == "adam":
        return Adam(betas=(beta1, beta2), eps=eps, weight_decay=weight_decay, l2=l2)
    return SGD(momentum=0.0 if rule == "sgd" else momentum, nesterov=rule == "nesterov", weight_decay=weight_decay,
               l2=l2)


def as_optimizer(optimizer) -> SGD | Adam:
    """``optimizer`` as an object: a name from ``SHORTHANDS``, or an ``SGD``/``Adam`` itself."""
    if isinstance(optimizer, (SGD, Adam)):
        return optimizer
    if isinstance(optimizer, str):
        return SHORTHANDS[check("optimizer", optimizer, [Options(tuple(SHORTHANDS))])]
    raise InvalidParameterError(f"optimizer must be one of {', '.join(map(repr, SHORTHANDS))} or an optimiser "
                                f"object (fastmlp.optim.SGD(...) or fastmlp.optim.Adam(...)), got {short(optimizer)}")


class OptimizerState:
    """One optimiser and its state, for a model of ``n_params`` parameters.

    ``optimizer`` is an :class:`SGD` or :class:`Adam` (or a name for one). ``hyper`` is
    ``[momentum, beta1, beta2, eps, weight_decay, l2]`` in the parameters' dtype (what kernels get), ``l2`` in the
    units of the sample weights the paths are given (:meth:`weigh`); ``m`` and ``v`` are the state arrays (empty
    when the rule needs none: a typed dummy), ``t`` a one-element int64 array, the number of updates made.
    """

    def __init__(self, optimizer, n_params, dtype):
        self.optimizer = as_optimizer(optimizer)
        self.name = self.optimizer.rule
        self.weight_decay = self.optimizer.weight_decay
        self.l2 = self.optimizer.l2
        dtype = np.dtype(dtype)
        self.hyper = np.array(self.optimizer.hyper(), dtype=dtype)
        n_m = n_params if self.name != "sgd" else 0
        n_v = n_params if self.name == "adam" else 0
        self.m = aligned_zeros(n_m, dtype)
        self.v = aligned_zeros(n_v, dtype)
        self.t = np.zeros(1, np.int64)

    def __setstate__(self, state):
        # Unpickled arrays are numpy's own allocations: put the state back on 64-byte boundaries.
        self.__dict__.update(state)
        self.m, self.v = aligned_copy(self.m), aligned_copy(self.v)
        if self.hyper.shape[0] == 5:              # pickled before l2 existed
            self.hyper = np.append(self.hyper, self.hyper.dtype.type(0.0))
            self.l2 = 0.0
            self.optimizer = from_rule(self.name, self.hyper)

    def weigh(self, weight_scale: float) -> None:
        """Put ``l2`` in the units of the sample weights a fit hands the paths: ``weight_scale`` times the user's
        (``_validation.check_sample_weight`` scales them by a power of two; 1 without weights)."""
        self.hyper[5] = self.l2 * weight_scale

    @property
    def key(self) -> tuple:
        """What a compiled kernel is specialised on: the rule, and whether weight decay (either kind) is on."""
        return self.name, self.weight_decay > 0 or self.l2 > 0


def sgd_state(n_params, dtype):
    return OptimizerState("sgd", n_params, dtype)

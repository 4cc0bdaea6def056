"""Optimisers: the update each path applies once per batch, and the state it keeps between batches.

With ``g`` the batch's mean gradient of a parameter ``w`` (plus ``weight_decay * w`` for weights, never for
biases: L2 on the weights only), the rules are PyTorch's ``torch.optim.SGD`` (no dampening) and
``torch.optim.Adam`` (not AdamW), written as PyTorch computes them:

=============  =====================================================================================
``sgd``        ``w <- w - lr * g``                                          (the seed's update)
``momentum``   ``b <- mu * b + g``;  ``w <- w - lr * b``                   (``b`` starts at 0)
``nesterov``   ``b <- mu * b + g``;  ``w <- w - lr * (g + mu * b)``
``adam``       ``t <- t + 1``; ``m <- m + (1 - beta1) * (g - m)``; ``v <- beta2 * v + (1 - beta2) * g * g``;
               ``w <- w - (lr / (1 - beta1**t)) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)``
=============  =====================================================================================

The state (``b`` or ``m``, ``v`` and the step count ``t``, per update not per epoch) lives in one
:class:`OptimizerState`, flat arrays in the parameters' layout, kept by the model from one ``fit`` to the
next (a warm start) and handed to the compiled loop, which updates it in place.
"""
from __future__ import annotations

import numpy as np

from ._memory import aligned_copy, aligned_zeros
from ._validation import check_choice, check_positive_float, check_real

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")


class OptimizerState:
    """Hyperparameters and state of one optimiser for a model of ``n_params`` parameters.

    ``hyper`` is ``[momentum, beta1, beta2, eps, weight_decay]`` in the parameters' dtype (what kernels get);
    ``m`` and ``v`` are the state arrays (empty when the rule needs none: a typed dummy), ``t`` a one-element
    int64 array, the number of updates made.
    """

    def __init__(self, name, n_params, dtype, momentum=0.9, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.name = check_choice("optimizer", name, OPTIMIZERS)
        if name in ("momentum", "nesterov"):
            momentum = check_real("momentum", momentum, low=0.0, high=1.0, low_open=True, high_open=True)
        if not (isinstance(betas, (tuple, list, np.ndarray)) and len(betas) == 2):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        betas = tuple(check_real(f"betas[{k}]", beta, low=0.0, high=1.0, high_open=True)
                      for k, beta in enumerate(betas))
        eps = check_positive_float("eps", eps)
        weight_decay = check_real("weight_decay", weight_decay, low=0.0)
        dtype = np.dtype(dtype)
        self.momentum, self.betas, self.eps, self.weight_decay = float(momentum), tuple(map(float, betas)), eps, \
            float(weight_decay)
        self.hyper = np.array([momentum, betas[0], betas[1], eps, weight_decay], dtype=dtype)
        n_m = n_params if name != "sgd" else 0
        n_v = n_params if name == "adam" else 0
        self.m = aligned_zeros(n_m, dtype)
        self.v = aligned_zeros(n_v, dtype)
        self.t = np.zeros(1, np.int64)

    def __setstate__(self, state):
        # Unpickled arrays are numpy's own allocations: put the state back on 64-byte boundaries.
        self.__dict__.update(state)
        self.m, self.v = aligned_copy(self.m), aligned_copy(self.v)

    @property
    def key(self) -> tuple:
        """What a compiled kernel is specialised on: the rule, and whether weight decay is on."""
        return self.name, self.weight_decay > 0

    def same_settings(self, other) -> bool:
        return (self.name, self.momentum, self.betas, self.eps, self.weight_decay) == \
               (other.name, other.momentum, other.betas, other.eps, other.weight_decay)


def sgd_state(n_params, dtype):
    return OptimizerState("sgd", n_params, dtype)

"""The numpy path's whole-array maths: every row of ``X`` through the network at once.

``forward``, ``per_sample_loss`` and ``gradients`` serve the model's ``predict``, ``loss`` and ``gradients``
(whole arrays, no training); they compute ``reference.forward``, ``reference.sample_loss`` and
``reference.gradients`` for many rows at a time. The tables below are the numpy execution model's one copy of
the activation and loss maths (``docs/contract.md``); the training loop's fused passes (``_fused``) are the
compiled one.
"""
from __future__ import annotations

import numpy as np

# --- activations, in place on a (B, n) block ---------------------------------------------------------------

def _identity(Z):
    return Z


def _relu(Z):
    return np.maximum(Z, 0.0, out=Z)


def _sigmoid(Z):
    # 1 / (1 + exp(-z)) for z >= 0 and exp(z) / (1 + exp(z)) for z < 0: one exp(-|z|), never overflows
    E = np.exp(-np.abs(Z))
    pos = Z >= 0
    np.divide(np.where(pos, 1.0, E), 1.0 + E, out=Z)
    return Z


def _tanh(Z):
    return np.tanh(Z, out=Z)


def _exp(Z):
    with np.errstate(over="ignore"):              # beyond the dtype's range: inf, a divergence
        return np.exp(Z, out=Z)


def _softmax(Z):
    Z -= Z.max(axis=1, keepdims=True)
    np.exp(Z, out=Z)
    Z /= Z.sum(axis=1, keepdims=True)
    return Z


# f'(z) written with a = f(z) into S (same shape); relu'(z) = [z > 0] = [a > 0]
def _d_identity(A, S):
    S.fill(1.0)
    return S


def _d_relu(A, S):
    return np.greater(A, 0.0, out=S)


def _d_sigmoid(A, S):
    np.subtract(1.0, A, out=S)
    S *= A
    return S


def _d_tanh(A, S):
    np.multiply(A, A, out=S)
    np.subtract(1.0, S, out=S)
    return S


def _d_exp(A, S):
    np.copyto(S, A)                               # exp'(z) = exp(z) = a
    return S


ACTIVATION_MATHS = {
    "identity": (_identity, _d_identity),
    "relu": (_relu, _d_relu),
    "sigmoid": (_sigmoid, _d_sigmoid),
    "tanh": (_tanh, _d_tanh),
    "softmax": (_softmax, None),
    "exp": (_exp, _d_exp),
}


# --- losses per row, from the output layer's z and a --------------------------------------------------------

def _mse(Y, Z, A):
    return np.square(Y - A).mean(axis=1)


def _log_loss(Y, Z, A):
    # softplus(z) - y z = max(z, 0) + log1p(exp(-|z|)) - y z
    return (np.maximum(Z, 0.0) + np.log1p(np.exp(-np.abs(Z))) - Y * Z).mean(axis=1)


def _poisson(Y, Z, A):
    # exp(z) - y z + y log y - y (half the Poisson deviance), averaged over the outputs
    with np.errstate(divide="ignore", invalid="ignore"):
        ylogy = np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1)), 0.0)
    return (A - Y * Z + ylogy - Y).mean(axis=1)


def _cross_entropy(Y, Z, A):
    m = Z.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(Z - m).sum(axis=1, keepdims=True))
    return (Y * (lse - Z)).sum(axis=1)


def _d_mse(Y, A, D, S, d_out):
    # dL/dz_L = -(2/K)(y - yhat) f'(z_L)
    np.subtract(A, Y, out=D)
    D *= 2.0 / Y.shape[1]
    if d_out is not _d_identity:
        D *= d_out(A, S)
    return D


def _d_log_loss(Y, A, D, S, d_out):
    np.subtract(A, Y, out=D)
    D /= Y.shape[1]
    return D


def _d_cross_entropy(Y, A, D, S, d_out):
    return np.subtract(A, Y, out=D)


LOSS_MATHS = {
    "mse": (_mse, _d_mse),
    "log_loss": (_log_loss, _d_log_loss),
    "poisson": (_poisson, _d_log_loss),          # (a - y) / K as well
    "cross_entropy": (_cross_entropy, _d_cross_entropy),
}


# --- whole-array helpers for the model ---------------------------------------------------------------------

def forward(spec, params, X) -> tuple:
    """``(Z_L, A)``: the output layer's pre-activation and every layer's activation, for all rows of ``X``."""
    W, b = spec.split(params)
    A = [X]
    Z = None
    for l in range(spec.n_layers):
        Z = A[-1] @ W[l] + b[l]
        f, _ = ACTIVATION_MATHS[spec.layer_activation(l)]
        A.append(f(Z.copy()))
    return Z, A


def per_sample_loss(spec, params, X, Y) -> np.ndarray:
    Z, A = forward(spec, params, X)
    loss_fn, _ = LOSS_MATHS[spec.loss]
    return loss_fn(Y, Z, A[-1])


def gradients(spec, params, X, Y, sample_weight=None) -> tuple:
    """``(dW, db, mean_loss)`` of the mean loss over the rows of ``X`` (weighted by ``sample_weight``: the sum of
    ``w_i L_i`` over the sum of ``w_i``); matches ``reference.gradients``."""
    W, _ = spec.split(params)
    Z, A = forward(spec, params, X)
    loss_fn, delta_fn = LOSS_MATHS[spec.loss]
    losses = loss_fn(Y, Z, A[-1])
    D = delta_fn(Y, A[-1], np.empty_like(A[-1]), np.empty_like(A[-1]),
                 ACTIVATION_MATHS[spec.output_activation][1])
    if sample_weight is None:
        n = X.shape[0]
        loss = float(losses.mean())
    else:
        n = float(sample_weight.sum(dtype=np.float64))     # a Python float: float32 stays float32
        loss = float(sample_weight.astype(np.float64) @ losses / n)
        D *= sample_weight[:, None]
    dW, db = [None] * spec.n_layers, [None] * spec.n_layers
    for l in range(spec.n_layers - 1, -1, -1):
        dW[l] = A[l].T @ D / n
        db[l] = D.sum(axis=0) / n
        if l > 0:
            D_prev = D @ W[l].T
            D_prev *= ACTIVATION_MATHS[spec.layer_activation(l - 1)][1](A[l], np.empty_like(A[l]))
            D = D_prev
    return dW, db, loss

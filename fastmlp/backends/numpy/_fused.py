"""The numpy path's elementwise work, fused: everything its training loop does between two matrix products.

BLAS does the products; these kernels do the rest, one pass over a block each where numpy needs two to
ten calls (each a pass over memory and a microsecond of dispatch): the bias add with the activation; the
output layer's activation, per-row loss, divergence check and ``delta[L]`` in one go; each hidden layer's
``f'`` with the bias gradient (the column sums of ``delta``); and the momentum, Nesterov and Adam updates.
On W4 in float32 numpy's calls for the first three cost about 10 % of an epoch, these about 4.5 % (see
``docs/performance.md``).

Kernels take only arrays and scalars (the codes of ``fastmlp._spec`` and ``fastmlp.optim``) and work in the
arrays' dtype: float32 blocks compute in float32; per-row losses are float64. The maths is the contract's,
written as in ``reference`` (the same stable sigmoid, softmax and losses, the same update rules).
"""
from __future__ import annotations

import math

from ..._spec import ACTIVATIONS, LOSSES
from ...optim import RULES
from .._activation import f, fprime, poisson_term
from .._finite import is_finite
from .._numba_config import jit
from .._vmath import vexp, vsigmoid, vtanh

SOFTMAX = ACTIVATIONS.index("softmax")
RELU, SIGMOID, TANH = (ACTIVATIONS.index(a) for a in ("relu", "sigmoid", "tanh"))
MSE, LOG_LOSS, CROSS_ENTROPY, POISSON = (LOSSES.index(name) for name in ("mse", "log_loss", "cross_entropy",
                                                                          "poisson"))
NESTEROV, ADAM = RULES.index("nesterov"), RULES.index("adam")
# every compiled pass here, by name (what `backends.numpy._warm` loads before a fit, `fastmlp compile` ahead of one)
KERNELS = ("bias_act", "act_backward", "output_layer", "axpy", "opt_step")


@jit
def bias_act(Z, b, act):
    """``Z <- f(Z + b)`` in place, row by row; ``act`` a hidden activation's code. One loop per activation, the
    branch outside it: with ``f``'s branch inside the loop LLVM vectorised none of them (a 1024 x 64 block, float64:
    relu 1.93 ns an element, tanh 8.5; written so 0.15 and 1.18; float32 tanh 5.4 and 0.39)."""
    zero = Z.dtype.type(0.0)
    m, n = Z.shape
    if act == RELU:
        for i in range(m):
            for j in range(n):
                z = Z[i, j] + b[j]
                Z[i, j] = z if z > zero else zero
    elif act == TANH:
        for i in range(m):
            for j in range(n):
                Z[i, j] = vtanh(Z[i, j] + b[j])
    elif act == SIGMOID:
        for i in range(m):
            for j in range(n):
                Z[i, j] = vsigmoid(Z[i, j] + b[j])
    else:                                                   # identity (exp is an output activation only)
        for i in range(m):
            for j in range(n):
                Z[i, j] += b[j]


@jit
def act_backward(D, A, act, gb):
    """``D <- D * f'(z)`` in place, with ``f'`` written from ``a = f(z)`` (``A``); ``gb <- column sums of D``."""
    zero, one = D.dtype.type(0.0), D.dtype.type(1.0)
    m, n = D.shape
    gb[:] = zero
    for i in range(m):
        for j in range(n):
            d = D[i, j] * fprime(A[i, j], act, zero, one)
            D[i, j] = d
            gb[j] += d


@jit
def output_layer(Z, b, Y, A, D, gb, losses, sw, act, loss):
    """The output layer of a batch, row by row: ``Z <- Z + b`` (kept: ``z_L``), ``A <- f(Z)``, ``losses[i]``
    (float64), and ``D <- dL/dz_L`` (times ``sw[i]`` when ``sw`` is not empty), ``gb <-`` its column sums.

    Returns the first row whose loss is not finite, having stopped there, or -1."""
    zero, one = Z.dtype.type(0.0), Z.dtype.type(1.0)
    m, K = Z.shape
    two_over_k, one_over_k = Z.dtype.type(2.0 / K), Z.dtype.type(1.0 / K)
    weighted = sw.shape[0] > 0
    gb[:] = zero
    for i in range(m):
        for k in range(K):
            Z[i, k] += b[k]
        # a = f(z)
        mx, s = zero, one
        if act == SOFTMAX:
            mx = Z[i, 0]
            for k in range(1, K):
                mx = Z[i, k] if Z[i, k] > mx else mx
            s = zero
            for k in range(K):
                e = vexp(Z[i, k] - mx)
                A[i, k] = e
                s += e
            for k in range(K):
                A[i, k] = A[i, k] / s
        else:
            for k in range(K):
                A[i, k] = f(Z[i, k], act, zero, one)
        # the row's loss, in float64
        row = 0.0
        if loss == CROSS_ENTROPY:                 # sum_k y_k (logsumexp(z) - z_k)
            lse = mx + math.log(s)
            for k in range(K):
                row += float(Y[i, k] * (lse - Z[i, k]))
        elif loss == LOG_LOSS:                    # mean_k softplus(z) - y z
            for k in range(K):
                z = Z[i, k]
                row += float((z if z > zero else zero) + math.log1p(vexp(-abs(z))) - Y[i, k] * z)
            row /= K
        elif loss == POISSON:                     # mean_k exp(z) - y z + y log y - y
            for k in range(K):
                row += poisson_term(A[i, k], Z[i, k], Y[i, k])
            row /= K
        else:                                     # mean_k (y - a)^2
            for k in range(K):
                r = Y[i, k] - A[i, k]
                row += float(r * r)
            row /= K
        losses[i] = row
        if not is_finite(row):                    # on the bits: fast-math cannot remove it
            return i
        # delta[L] = dL/dz_L
        w = sw[i] if weighted else one
        for k in range(K):
            d = A[i, k] - Y[i, k]
            if loss == MSE:                       # (2/K)(a - y) f'(z)
                d *= two_over_k
                d *= fprime(A[i, k], act, zero, one)
            elif loss == LOG_LOSS or loss == POISSON:   # (a - y) / K
                d *= one_over_k
            d *= w
            D[i, k] = d
            gb[k] += d
    return -1


@jit
def axpy(y, alpha, x):
    """``y <- y + alpha x`` in place (1-d)."""
    for j in range(y.shape[0]):
        y[j] += alpha * x[j]


@jit
def opt_step(P, G, gscale, M, V, rule, lr, hyper, step_size, bc2_sqrt, decay):
    """One update of ``P`` (a flat block of a layer's weights or biases) from its mean gradient ``gscale * G``
    by ``rule`` (momentum, nesterov or adam, the codes of ``fastmlp.optim.RULES``), in one pass over
    ``P`` and its state ``M``, ``V``. ``hyper`` is the optimiser's ``[momentum, beta1, beta2, eps, ...]``;
    ``decay * P`` is added to the gradient (the batch's weight decay for weights, 0 for biases). Adam's
    ``step_size = lr / (1 - beta1^t)`` and ``bc2_sqrt = sqrt(1 - beta2^t)`` come from the caller."""
    one = P.dtype.type(1.0)
    mu, beta1, beta2, eps = hyper[0], hyper[1], hyper[2], hyper[3]
    add_decay = decay != P.dtype.type(0.0)
    for q in range(P.shape[0]):
        g = gscale * G[q]
        if add_decay:
            g += decay * P[q]
        if rule == ADAM:
            M[q] = M[q] + (one - beta1) * (g - M[q])
            V[q] = beta2 * V[q] + (one - beta2) * g * g
            P[q] = P[q] - step_size * (M[q] / (math.sqrt(V[q]) / bc2_sqrt + eps))
        else:                                     # b <- mu b + g; w <- w - lr (g + mu b) or w - lr b
            M[q] = mu * M[q] + g
            P[q] = P[q] - lr * ((g + mu * M[q]) if rule == NESTEROV else M[q])

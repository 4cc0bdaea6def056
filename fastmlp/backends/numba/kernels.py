"""The Numba path's kernels for networks of any shape: ordinary source, compiled once per install.

The network's shape reaches the kernels as arrays (a :class:`Layout`), so one compiled kernel serves every shape
and a new shape starts training at once. What must be known when compiling for the inner loops to vectorise, the
optimiser's rule, selects the kernel pair (:func:`kernels_for`); each pair is compiled on first use and kept on
disk (``_numba_config.jit``), so an install compiles it once per dtype. Activations, losses and weight decay are
read at run time, branched on outside the inner loops.

The kernels compute ``reference.train_epoch``, stage by stage in its order:

* ``epoch_per_sample(p, X, Y, order, lr, layout..., a, d, m, v, t, hyper, nesterov)``: ``batch_size == 1``; each
  sample's backward pass is fused with its update (row ``i`` of ``W[l]`` is read for ``delta[l]`` just before it
  is updated, which is what the reference's order gives); with plain SGD (no weight decay, no l2) the first
  layer's update is fused with the next sample's pass through that layer (:func:`_update_add_rows`), but for a
  call's last sample, a one-layer network and a first hidden layer of one unit;
* ``epoch_batch(..., batch_size, ..., g, ..., nesterov, sw)``: the gradient summed over a batch into ``g``, one
  update each;
* ``epoch_per_sample_threaded(tid, n_threads, sync, cuts, ...)``: ``epoch_per_sample`` with each sample's layers
  split across threads (``fit(threads=...)``), each thread a fixed share of every layer's units and so of the rows
  of W (``cuts``), called by every thread at once; they meet at barriers (``_sync``), 2L - 3 per sample (2L - 1
  when the first layer cannot split by columns), never fewer than 2.
  ``backends.numba.Team`` runs them.

All return ``(loss_sum, n_seen, bad_position, weight_sum)`` like ``reference.train_epoch``. The batch kernel's
``sw`` holds one weight per row of ``X`` or is empty (no weights); weighted epochs of any batch size go there. Work
buffers: ``a`` holds every layer's units (``a[0]`` is the sample's ``x``) and, last, the output layer's ``z``; ``d``
the deltas, in the same places; ``g`` one gradient per parameter (batch kernel only).

Why the loops look the way they do (measured on this machine, W2 = ``[16, 64, 64, 1]`` and W3 =
``[784, 256, 128, 10]``, against kernels generated per shape; ``docs/performance.md``):

* Indices are unsigned (``uint64``): with signed offsets Numba's negative-index wraparound kept LLVM from
  vectorising the inner loops.
* The forward pass is row-wise axpy ``z += a_i * W[i, :]``, four rows at a time, so each pass over ``z`` does four
  rows' work; the backward pass takes four rows of ``W`` at a time too, sharing the loads of ``delta``.
* A layer with one output unit (regression heads) is a dot product down ``W``'s single column instead: a loop of
  trip count 1 per input unit is all overhead.
* Per-sample plain SGD updates the first layer's rows and adds them into the next sample's z[1] in the same loop,
  so those weights (W3's 784 x 256: 85 % of them) pass through the core once per sample instead of twice (forward,
  then backward; docs/performance.md, "One pass over the first layer"). The sums are the unfused ones in the
  source (the same rows, in the same blocks of four, in the same order), and compile to the same bits: a call's
  first sample takes the unfused way, and ``tests/test_threads.py`` checks that where calls start changes nothing.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..._spec import ACTIVATIONS, LOSSES
from ...optim import RULES
from .._activation import fprime, poisson_term
from .._finite import is_finite
from .._numba_config import jit
from .._vmath import vexp, vsigmoid, vtanh
from . import _sync

IDENTITY, RELU, SIGMOID, TANH, SOFTMAX, EXP = (ACTIVATIONS.index(a) for a in ACTIVATIONS)
MSE, LOG_LOSS, CROSS_ENTROPY, POISSON = (LOSSES.index(name) for name in LOSSES)
SGD, MOMENTUM, NESTEROV, ADAM = (RULES.index(name) for name in RULES)
U = np.uint64
BLOCK = 4           # rows of W taken together in the forward and backward passes
WIDE = 128          # ... except in a first layer wider than this (W3's 784 x 256: 8 % slower in blocks of four)


class Layout(NamedTuple):
    """A network's shape as the kernels read it (built once per fit, ``layout(spec)``)."""

    sizes: np.ndarray      # uint64 (L + 1,): n_0 .. n_L
    w_at: np.ndarray       # uint64 (L,): where W[l] (row-major (n_l, n_{l+1})) starts in p
    b_at: np.ndarray       # uint64 (L,): where b[l] starts in p
    units: np.ndarray      # uint64 (L + 2,): where layer l's units start in a and d; last, z_L's place in a
    acts: np.ndarray       # int64 (L,): the activation code of layer l + 1 (the output activation last)
    loss: int              # the loss code


def layout(spec) -> Layout:
    units = np.cumsum([0, *spec.layer_sizes])
    return Layout(np.array(spec.layer_sizes, U), np.array([w0 for w0, _, _ in spec.offsets], U),
                  np.array([b0 for _, b0, _ in spec.offsets], U), units.astype(U),
                  np.array([ACTIVATIONS.index(spec.layer_activation(l)) for l in range(spec.n_layers)], np.int64),
                  LOSSES.index(spec.loss))


def buffer_sizes(spec) -> tuple:
    """Sizes of the work buffers ``(a, d, g)``."""
    n_units = sum(spec.layer_sizes)
    return n_units + spec.n_outputs, n_units, spec.n_params


# --- the activations (reference.ACTIVATION_MATHS), on a run of units --------------------------------------------

@jit(inline=True)
def _activate(a, u, n, act):
    """``a[u:u+n] <- f(a[u:u+n])`` for an elementwise activation."""
    zero = a.dtype.type(0.0)
    if act == RELU:
        for j in range(n):
            z = a[u + j]
            a[u + j] = z if z > zero else zero
    elif act == TANH:
        for j in range(n):
            a[u + j] = vtanh(a[u + j])
    elif act == SIGMOID:
        for j in range(n):
            a[u + j] = vsigmoid(a[u + j])
    elif act == EXP:
        for j in range(n):
            a[u + j] = vexp(a[u + j])


@jit(inline=True)
def _softmax(a, u, n):
    """``a[u:u+n] <- exp(z - max z) / sum`` in place; returns ``(max z, sum)`` for the log-sum-exp."""
    mx = a[u]
    for j in range(U(1), n):
        mx = a[u + j] if a[u + j] > mx else mx
    s = a.dtype.type(0.0)
    for j in range(n):
        e = vexp(a[u + j] - mx)
        a[u + j] = e
        s += e
    for j in range(n):
        a[u + j] = a[u + j] / s
    return mx, s


# --- forward: reference.forward -----------------------------------------------------------------------------------

@jit(inline=True)
def _add_rows(p, a, u_in, i0, i1, j0, j1, n_out, w0, z, u_z, blocked):
    """``z[u_z + j] += sum_{i0 <= i < i1} a[u_in + i] W[i, j]`` for ``j0 <= j < j1``: row-wise axpy
    ``z += a_i * W[i, j0:j1]``, four rows a pass over z when ``blocked``."""
    i = i0
    while blocked and i + U(BLOCK) <= i1:
        a0, a1, a2, a3 = a[u_in + i], a[u_in + i + U(1)], a[u_in + i + U(2)], a[u_in + i + U(3)]
        r0 = w0 + i * n_out
        r1 = r0 + n_out
        r2 = r1 + n_out
        r3 = r2 + n_out
        for j in range(j0, j1):
            z[u_z + j] += a0 * p[r0 + j] + a1 * p[r1 + j] + a2 * p[r2 + j] + a3 * p[r3 + j]
        i += U(BLOCK)
    while i < i1:
        ai = a[u_in + i]
        r0 = w0 + i * n_out
        for j in range(j0, j1):
            z[u_z + j] += ai * p[r0 + j]
        i += U(1)


@jit(inline=True)
def _update_add_rows(w, w0, n_in, n_out, a, u_x, d, u_d, lr, X, s_next, z, u_z, blocked):
    """The first layer's plain SGD update for one sample fused with the next sample's pass through that layer: row
    by row, ``W[i, :] -= lr a[u_x + i] d[u_d:u_d + n_out]``, then ``z[u_z:u_z + n_out] += X[s_next, i] W[i, :]``
    with the row just written (four rows a pass over ``z`` when ``blocked``, as :func:`_add_rows`). ``W`` is
    ``w[w0:w0 + n_in * n_out]``, row-major. The arithmetic of :func:`_backward_layer`'s update followed by
    :func:`_add_rows`, in one pass over the weights instead of two."""
    i = U(0)
    while blocked and i + U(BLOCK) <= n_in:
        l0, l1 = lr * a[u_x + i], lr * a[u_x + i + U(1)]
        l2, l3 = lr * a[u_x + i + U(2)], lr * a[u_x + i + U(3)]
        x0, x1, x2, x3 = X[s_next, i], X[s_next, i + U(1)], X[s_next, i + U(2)], X[s_next, i + U(3)]
        r0 = w0 + i * n_out
        r1 = r0 + n_out
        r2 = r1 + n_out
        r3 = r2 + n_out
        for j in range(n_out):
            dj = d[u_d + j]
            w_0 = w[r0 + j] - l0 * dj
            w_1 = w[r1 + j] - l1 * dj
            w_2 = w[r2 + j] - l2 * dj
            w_3 = w[r3 + j] - l3 * dj
            w[r0 + j], w[r1 + j], w[r2 + j], w[r3 + j] = w_0, w_1, w_2, w_3
            z[u_z + j] += x0 * w_0 + x1 * w_1 + x2 * w_2 + x3 * w_3
        i += U(BLOCK)
    while i < n_in:
        lai, xi = lr * a[u_x + i], X[s_next, i]
        r0 = w0 + i * n_out
        for j in range(n_out):
            w_0 = w[r0 + j] - lai * d[u_d + j]
            w[r0 + j] = w_0
            z[u_z + j] += xi * w_0
        i += U(1)


@jit(inline=True)
def _forward(p, X, s, sizes, w_at, b_at, units, acts, a, carried):
    """Every layer's units for sample ``s`` into ``a``, z_L kept; returns the softmax's ``(max, sum)`` (or 0, 1).
    ``carried``: z[1] is in ``a`` already, summed by the previous sample's update (:func:`_update_add_rows`)."""
    L = U(sizes.shape[0] - 1)
    n0 = sizes[0]
    for i in range(n0):
        a[i] = X[s, i]                                  # a[0] = x
    mx, total = a.dtype.type(0.0), a.dtype.type(1.0)
    for l in range(L):
        n_in, n_out = sizes[l], sizes[l + U(1)]
        w0, b0 = w_at[l], b_at[l]
        u_in, u_out = units[l], units[l + U(1)]
        # z[l+1] = b[l] + sum_i a[l][i] * W[l][i, :]
        if l == U(0) and carried:                       # summed by the sample before's update
            pass
        elif n_out == U(1):                             # one output unit: a dot product down W's column
            z = p[b0]
            for i in range(n_in):
                z += a[u_in + i] * p[w0 + i]
            a[u_out] = z
        else:
            for j in range(n_out):
                a[u_out + j] = p[b0 + j]
            _add_rows(p, a, u_in, U(0), n_in, U(0), n_out, n_out, w0, a, u_out, l > U(0) or n_out <= U(WIDE))
        if l == L - U(1):
            for j in range(n_out):
                a[units[L + U(1)] + j] = a[u_out + j]   # z_L, for the losses written with z
        # a[l+1] = f_l(z[l+1])
        if acts[l] == SOFTMAX:
            mx, total = _softmax(a, u_out, n_out)
        else:
            _activate(a, u_out, n_out, acts[l])
    return mx, total


# --- the loss and delta[L]: reference.sample_loss and backward's first step --------------------------------------

@jit(inline=True)
def _loss_and_delta(Y, s, sizes, units, acts, loss_code, a, d, mx, total, weight):
    """The sample's loss (float64), and ``delta[L] = dL/dz_L`` (times ``weight``) into ``d``."""
    L = U(sizes.shape[0] - 1)
    K = sizes[L]
    u, uz = units[L], units[L + U(1)]
    act_out = acts[L - U(1)]
    zero = a.dtype.type(0.0)
    loss = 0.0
    if loss_code == CROSS_ENTROPY:                      # sum_k y_k (logsumexp(z) - z_k)
        lse = mx + math.log(total)
        for k in range(K):
            loss += float(Y[s, k] * (lse - a[uz + k]))
    elif loss_code == LOG_LOSS:                         # mean_k softplus(z) - y z
        for k in range(K):
            z = a[uz + k]
            loss += float(max(z, zero) + math.log1p(vexp(-abs(z))) - Y[s, k] * z)
        loss /= K
    elif loss_code == POISSON:                          # mean_k exp(z) - y z + y log y - y
        for k in range(K):
            loss += poisson_term(a[u + k], a[uz + k], Y[s, k])
        loss /= K
    else:                                               # mean_k (y - a)^2
        for k in range(K):
            r = Y[s, k] - a[u + k]
            loss += float(r * r)
        loss /= K
    one = a.dtype.type(1.0)
    two_over_k, one_over_k = a.dtype.type(2.0 / K), a.dtype.type(1.0 / K)
    for k in range(K):
        dk = a[u + k] - Y[s, k]
        if loss_code == MSE:                            # (2/K)(a - y) f'(z)
            dk = dk * two_over_k * fprime(a[u + k], act_out, zero, one)
        elif loss_code == LOG_LOSS or loss_code == POISSON:   # (a - y) / K
            dk = dk * one_over_k
        d[u + k] = dk * weight
    return loss


# --- the optimiser's step (fastmlp.optim; reference.step), the rule fixed when compiling -----------------------------
# On the arrays, inlined: with the maths in a function on scalars that returns a tuple, LLVM no longer vectorised
# Adam's loop (W2 with Adam 5x slower, measured).

@jit(inline=True)
def _step(p, m, v, q, g, lr, mu, beta1, beta2, eps, step_size, bc2_sqrt, rule, nesterov, one):
    """``p[q]`` updated from its gradient ``g`` by ``rule`` (``MOMENTUM`` stands for both momentum rules, ``nesterov``
    telling which); ``m``, ``v`` its state (``one`` in their dtype)."""
    if rule == SGD:
        p[q] -= lr * g                                  # w <- w - lr * dL/dw, the worked example's update
    elif rule == ADAM:
        m[q] = m[q] + (one - beta1) * (g - m[q])
        v[q] = beta2 * v[q] + (one - beta2) * g * g
        p[q] -= step_size * (m[q] / (math.sqrt(v[q]) / bc2_sqrt + eps))
    else:                                               # b <- mu b + g; w <- w - lr b (or lr (g + mu b))
        m[q] = mu * m[q] + g
        p[q] -= lr * ((g + mu * m[q]) if nesterov else m[q])


# --- one sample's backward pass and update, layer by layer (``rule``: the kernel's compile-time constant) --------

@jit(inline=True)
def _backward_layer(p, m, v, a, d, i0, i1, j0, j1, n_out, w0, u_in, u_out, act, has_delta, lr, hyper, wd,
                    step_size, bc2_sqrt, rule, nesterov):
    """``W[l][i0:i1, j0:j1]`` of one sample: delta[l][i] from W[l] as it is (when ``has_delta``: all the columns),
    then those weights updated (weight decay ``wd``; a batch of one row has ``weight_decay + l2 / 1``). The bias
    apart (:func:`_update_bias`). A layer of one output unit is always taken whole (``j0, j1 = 0, 1``)."""
    mu, beta1, beta2, eps = hyper[0], hyper[1], hyper[2], hyper[3]
    zero, one = hyper.dtype.type(0.0), hyper.dtype.type(1.0)
    decay = wd != zero
    plain = rule == SGD and not decay
    if n_out == U(1):                               # one output unit: loops down W's single column
        d0 = d[u_out]
        if has_delta:
            for i in range(i0, i1):
                d[u_in + i] = p[w0 + i] * d0 * fprime(a[u_in + i], act, zero, one)
        if plain:
            ld = lr * d0
            for i in range(i0, i1):
                p[w0 + i] -= ld * a[u_in + i]
    i = i0
    while i + U(BLOCK) <= i1 and n_out > U(1) and (has_delta or n_out <= U(WIDE)):   # four rows of W a pass
        r0 = w0 + i * n_out
        r1 = r0 + n_out
        r2 = r1 + n_out
        r3 = r2 + n_out
        if has_delta:
            c0 = c1 = c2 = c3 = zero
            for j in range(j0, j1):
                dj = d[u_out + j]
                c0 += p[r0 + j] * dj
                c1 += p[r1 + j] * dj
                c2 += p[r2 + j] * dj
                c3 += p[r3 + j] * dj
            d[u_in + i] = c0 * fprime(a[u_in + i], act, zero, one)
            d[u_in + i + U(1)] = c1 * fprime(a[u_in + i + U(1)], act, zero, one)
            d[u_in + i + U(2)] = c2 * fprime(a[u_in + i + U(2)], act, zero, one)
            d[u_in + i + U(3)] = c3 * fprime(a[u_in + i + U(3)], act, zero, one)
        if plain:
            l0, l1 = lr * a[u_in + i], lr * a[u_in + i + U(1)]
            l2, l3 = lr * a[u_in + i + U(2)], lr * a[u_in + i + U(3)]
            for j in range(j0, j1):
                dj = d[u_out + j]
                p[r0 + j] -= l0 * dj
                p[r1 + j] -= l1 * dj
                p[r2 + j] -= l2 * dj
                p[r3 + j] -= l3 * dj
        i += U(BLOCK)
    while i < i1 and n_out > U(1):                  # the rows left over
        r0 = w0 + i * n_out
        if has_delta:
            c0 = zero
            for j in range(j0, j1):
                c0 += p[r0 + j] * d[u_out + j]
            d[u_in + i] = c0 * fprime(a[u_in + i], act, zero, one)
        if plain:
            lai = lr * a[u_in + i]
            for j in range(j0, j1):
                p[r0 + j] -= lai * d[u_out + j]
        i += U(1)
    if not plain:                                   # the other rules, after delta[l] has read W[l]
        for i in range(i0, i1):
            ai = a[u_in + i]
            row = w0 + i * n_out
            for j in range(j0, j1):
                q = row + j
                g = ai * d[u_out + j]
                if decay:
                    g += wd * p[q]
                _step(p, m, v, q, g, lr, mu, beta1, beta2, eps, step_size, bc2_sqrt, rule, nesterov, one)


@jit(inline=True)
def _update_bias(p, m, v, d, u, b0, j0, j1, lr, hyper, step_size, bc2_sqrt, rule, nesterov):
    """``b[l][j]`` for ``j0 <= j < j1`` updated from dL/db[l] = delta[l+1] (``d[u + j]``)."""
    one = hyper.dtype.type(1.0)
    for j in range(j0, j1):
        _step(p, m, v, b0 + j, d[u + j], lr, hyper[0], hyper[1], hyper[2], hyper[3], step_size, bc2_sqrt, rule,
              nesterov, one)

@jit(inline=True)
def _accumulate_layer(p, a, d, g, n_in, n_out, w0, b0, u_in, u_out, act, has_delta):
    """Layer l of one sample in a batch: delta[l] (when ``has_delta``), and dL/dW[l] = a[l] delta[l+1]^T and
    dL/db[l] = delta[l+1] added to ``g``."""
    zero, one = a.dtype.type(0.0), a.dtype.type(1.0)
    if n_out == U(1):                               # one output unit: loops down W's single column
        d0 = d[u_out]
        if has_delta:
            for i in range(n_in):
                d[u_in + i] = p[w0 + i] * d0 * fprime(a[u_in + i], act, zero, one)
        for i in range(n_in):
            g[w0 + i] += a[u_in + i] * d0
    i = U(0)
    while i + U(BLOCK) <= n_in and n_out > U(1):    # four rows of W a pass
        r0 = w0 + i * n_out
        r1 = r0 + n_out
        r2 = r1 + n_out
        r3 = r2 + n_out
        if has_delta:
            c0 = c1 = c2 = c3 = zero
            for j in range(n_out):
                dj = d[u_out + j]
                c0 += p[r0 + j] * dj
                c1 += p[r1 + j] * dj
                c2 += p[r2 + j] * dj
                c3 += p[r3 + j] * dj
            d[u_in + i] = c0 * fprime(a[u_in + i], act, zero, one)
            d[u_in + i + U(1)] = c1 * fprime(a[u_in + i + U(1)], act, zero, one)
            d[u_in + i + U(2)] = c2 * fprime(a[u_in + i + U(2)], act, zero, one)
            d[u_in + i + U(3)] = c3 * fprime(a[u_in + i + U(3)], act, zero, one)
        a0, a1, a2, a3 = a[u_in + i], a[u_in + i + U(1)], a[u_in + i + U(2)], a[u_in + i + U(3)]
        for j in range(n_out):
            dj = d[u_out + j]
            g[r0 + j] += a0 * dj
            g[r1 + j] += a1 * dj
            g[r2 + j] += a2 * dj
            g[r3 + j] += a3 * dj
        i += U(BLOCK)
    while i < n_in and n_out > U(1):                # the rows left over
        r0 = w0 + i * n_out
        if has_delta:
            c0 = zero
            for j in range(n_out):
                c0 += p[r0 + j] * d[u_out + j]
            d[u_in + i] = c0 * fprime(a[u_in + i], act, zero, one)
        ai = a[u_in + i]
        for j in range(n_out):
            g[r0 + j] += ai * d[u_out + j]
        i += U(1)
    for j in range(n_out):
        g[b0 + j] += d[u_out + j]

@jit(inline=True)
def _update_layer(p, m, v, g_sum, w0, b0, b1, scale, lr, hyper, step_size, bc2_sqrt, rule, nesterov):
    """``W[l]`` and ``b[l]`` (``p[w0:b0]``, ``p[b0:b1]``) updated from the mean gradient ``scale * g_sum``, which is
    then zeroed (batch kernel); weight decay on ``W[l]`` only, ``weight_decay + l2 * scale`` (``scale``: one over the
    batch's weight)."""
    mu, beta1, beta2, eps, wd = hyper[0], hyper[1], hyper[2], hyper[3], hyper[4] + hyper[5] * scale
    zero, one = hyper.dtype.type(0.0), hyper.dtype.type(1.0)
    decay = wd != zero
    for q in range(w0, b1):
        g = g_sum[q] * scale
        if decay and q < b0:
            g += wd * p[q]
        _step(p, m, v, q, g, lr, mu, beta1, beta2, eps, step_size, bc2_sqrt, rule, nesterov, one)
        g_sum[q] = zero

@jit(inline=True)
def _adam_scales(t, lr, hyper, rule):
    """Adam's ``lr / (1 - beta1^t)`` and ``sqrt(1 - beta2^t)`` for step ``t`` (unused by the other rules)."""
    one = hyper.dtype.type(1.0)
    if rule != ADAM:
        return one, one
    return lr / (one - hyper[1] ** t), math.sqrt(one - hyper[2] ** t)


@jit(inline=True)
def _copy_block(full, own, w0, n_in, n_out, c0, n_c, into):
    """Columns ``c0:c0 + n_c`` of ``full[w0:w0 + n_in * n_out]`` as (n_in, n_out) into the contiguous (n_in, n_c)
    ``own`` (``into``), or back."""
    for i in range(n_in):
        src, dst = w0 + i * n_out + c0, i * n_c
        for j in range(n_c):
            if into:
                own[dst + j] = full[src + j]
            else:
                full[src + j] = own[dst + j]


@jit
def _copy_columns(p, m, v, wt, mt, vt, w0, n_in, n_out, c0, n_c, into):
    """A thread's columns of W[0] and of its optimiser state (``m``, ``v`` when the rule keeps them) into its own
    ``wt``, ``mt``, ``vt`` (``into``), or back (:func:`_copy_block`)."""
    _copy_block(p, wt, w0, n_in, n_out, c0, n_c, into)
    if m.shape[0] > 0:
        _copy_block(m, mt, w0, n_in, n_out, c0, n_c, into)
    if v.shape[0] > 0:
        _copy_block(v, vt, w0, n_in, n_out, c0, n_c, into)


# --- the kernels ------------------------------------------------------------------------------------------------

class Kernels(NamedTuple):
    """One update rule's kernels."""

    per_sample: object          # epoch_per_sample
    batch: object               # epoch_batch
    per_sample_threaded: object  # epoch_per_sample_threaded


def _build(rule):
    """The kernel pair for one update rule, a compile-time constant here: the kernels' only closure value, an int
    (Numba keys its disk cache on the pickled closure values, so a dispatcher there, whose pickle changes from
    process to process, would never be found again). Inlined into the kernels, the helpers above see ``rule`` as a
    constant, so the update inside the inner loops is straight-line code for that rule only. Weight decay is read
    from ``hyper`` at run time: its branch sits outside the inner loops, and a second kernel per rule would double
    the compiling for nothing measurable."""

    @jit
    def epoch_per_sample(p, X, Y, order, lr, sizes, w_at, b_at, units, acts, loss_code, a, d, m, v, t, hyper,
                         nesterov):
        L = U(sizes.shape[0] - 1)
        zero, one = hyper.dtype.type(0.0), hyper.dtype.type(1.0)
        wd = hyper[4] + hyper[5]                        # weight decay, and l2 over a batch of one
        n = order.shape[0]
        # plain SGD updates the first layer in the pass that takes the next sample through it (_update_add_rows);
        # not where the first layer is the output (z_L kept apart) or one unit wide (a dot product, _forward)
        fuse = rule == SGD and wd == zero and L > U(1) and sizes[1] > U(1)
        carried = False
        loss_sum, weight_sum, n_seen = 0.0, 0.0, 0
        for k in range(n):
            s = order[k]
            # 1) forward; 2) the loss, then delta[L]
            mx, total = _forward(p, X, s, sizes, w_at, b_at, units, acts, a, carried)
            carried = False
            loss = _loss_and_delta(Y, s, sizes, units, acts, loss_code, a, d, mx, total, one)
            if not is_finite(loss):                     # on the bits: fast-math cannot remove it (_finite)
                return loss_sum, n_seen, k, weight_sum
            t[0] += 1
            step_size, bc2_sqrt = _adam_scales(a.dtype.type(t[0]), lr, hyper, rule)
            # 3) backward, down the layers: delta[l] from the W[l] of before the update, then W[l] and b[l] updated
            l = L
            while l > U(0):
                l -= U(1)
                n_in, n_out = sizes[l], sizes[l + U(1)]
                w0, b0 = w_at[l], b_at[l]
                u_in, u_out = units[l], units[l + U(1)]
                act = acts[l - U(1)] if l > U(0) else acts[0]
                if l == U(0) and fuse and k + 1 < n:    # b[0] first: the next sample's z[1] starts from it
                    _update_bias(p, m, v, d, u_out, b0, U(0), n_out, lr, hyper, step_size, bc2_sqrt, rule, nesterov)
                    for j in range(n_out):
                        a[u_out + j] = p[b0 + j]
                    _update_add_rows(p, w0, n_in, n_out, a, u_in, d, u_out, lr, X, order[k + 1], a, u_out,
                                     n_out <= U(WIDE))
                    carried = True
                    continue
                _backward_layer(p, m, v, a, d, U(0), n_in, U(0), n_out, n_out, w0, u_in, u_out, act, l > U(0), lr,
                                hyper, wd, step_size, bc2_sqrt, rule, nesterov)
                _update_bias(p, m, v, d, u_out, b0, U(0), n_out, lr, hyper, step_size, bc2_sqrt, rule, nesterov)
            loss_sum += loss
            weight_sum += 1.0
            n_seen += 1
        return loss_sum, n_seen, -1, weight_sum

    @jit
    def epoch_batch(p, X, Y, order, lr, batch_size, sizes, w_at, b_at, units, acts, loss_code, a, d, g, m, v, t,
                    hyper, nesterov, sw):
        L = U(sizes.shape[0] - 1)
        weighted = sw.shape[0] > 0
        zero, one = hyper.dtype.type(0.0), hyper.dtype.type(1.0)
        loss_sum, weight_sum, n_seen = 0.0, 0.0, 0
        n = order.shape[0]
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            batch_loss, batch_weight = 0.0, 0.0
            for k in range(start, stop):
                s = order[k]
                mx, total = _forward(p, X, s, sizes, w_at, b_at, units, acts, a, False)
                weight = sw[s] if weighted else one
                loss = _loss_and_delta(Y, s, sizes, units, acts, loss_code, a, d, mx, total, weight)
                if not is_finite(loss):
                    return loss_sum, n_seen, k, weight_sum
                # backward, summing dL/dW[l] = a[l] delta[l+1]^T and dL/db[l] = delta[l+1] into g
                l = L
                while l > U(0):
                    l -= U(1)
                    n_in, n_out = sizes[l], sizes[l + U(1)]
                    w0, b0 = w_at[l], b_at[l]
                    u_in, u_out = units[l], units[l + U(1)]
                    act = acts[l - U(1)] if l > U(0) else acts[0]
                    _accumulate_layer(p, a, d, g, n_in, n_out, w0, b0, u_in, u_out, act, l > U(0))
                batch_loss += float(weight) * loss if weighted else loss
                batch_weight += float(weight) if weighted else 1.0
            loss_sum += batch_loss
            weight_sum += batch_weight
            n_seen += stop - start
            if batch_weight == 0.0:                     # a batch of weight 0 makes no update
                for q in range(g.shape[0]):
                    g[q] = zero
                continue
            # 4) one update per batch, from the mean gradient sum / B
            t[0] += 1
            step_size, bc2_sqrt = _adam_scales(a.dtype.type(t[0]), lr, hyper, rule)
            scale = one / a.dtype.type(batch_weight)
            for l in range(L):
                w0, b0 = w_at[l], b_at[l]
                b1 = b0 + sizes[l + U(1)]
                _update_layer(p, m, v, g, w0, b0, b1, scale, lr, hyper, step_size, bc2_sqrt, rule, nesterov)
        return loss_sum, n_seen, -1, weight_sum

    @jit
    def epoch_per_sample_threaded(tid, n_threads, sync, cuts, first_by_columns, p, X, Y, order, lr, sizes, w_at, b_at,
                                  units, acts, loss_code, a, d, zpart, own_units, m, v, t, hyper, nesterov, sw,
                                  w_own, m_own, v_own):
        """Thread ``tid`` of ``n_threads``'s share of ``epoch_per_sample`` (all of them call it at once, with the same
        arguments but ``tid``; ``sync``: their barrier). Thread t owns units ``cuts[l, t]:cuts[l, t + 1]`` of every
        layer l: their entries of a, z and delta, and the rows of W[l] they multiply, so each layer splits by rows:

        * forward: each thread its rows' partial sums of z[l+1] into ``zpart[tid]``, a barrier, then its own units
          of z[l+1] from the sums (in thread order, so the bits do not depend on timing) and their activation. The
          output layer's z is summed whole by every thread (the same arithmetic in each: the same bits, the same
          verdict on divergence), with its bias in thread 0's part; the loss and delta[L] go to the thread's own
          part of ``a`` and ``d`` (``own_units[tid]``: a[L] and delta[L] at ``[L]``, z_L at ``[L + 1]``).
        * backward: each thread delta[l] for its rows and their update; a barrier before the layer below, which
          reads every unit of delta[l]. Thread 0 updates the output layer's bias, which only it reads.

        With ``first_by_columns``, the first layer splits by columns instead: each thread computes its own units of
        z[1] whole, from its own copy of x at ``own_units[tid, 0]``, and updates its columns of W[0] from its own
        units of delta[1], so the two barriers of that layer go; with plain SGD that update also sums the next
        sample's units of z[1] (:func:`_update_add_rows`; no barrier either). Its columns (and their optimiser
        state) are copied into ``w_own[tid]`` (``m_own``, ``v_own``) for the call and back before it returns: in
        place, two threads would write every row of W[0] side by side, and the CPU's prefetchers pull each other's
        lines across (2-5x slower, measured). A weighted sample (``sw``) is a batch of one row: its weight scales
        its loss, and l2 by one over it; a weight of 0 makes no update."""
        L = U(sizes.shape[0] - 1)
        K = sizes[L]
        n0 = sizes[0]
        own = own_units[tid]
        u_x, u_o, u_z = own[0], own[L], own[L + U(1)]
        zp = zpart[tid]
        weighted = sw.shape[0] > 0
        zero, one = hyper.dtype.type(0.0), hyper.dtype.type(1.0)
        # Some barrier must come between the last reads of zpart (or of the output's z) in one sample and the first
        # writes of the next; with no barrier in the backward pass, one at the end.
        end_barrier = L == U(1) or (L == U(2) and first_by_columns)
        c0, c1 = cuts[1, tid], cuts[1, tid + 1]
        n_c = c1 - c0                                   # this thread's columns of W[0], when split by columns
        wt, mt, vt = w_own[tid], m_own[tid], v_own[tid]
        first_by_columns = first_by_columns and order.shape[0] > 0     # (nothing to copy for an empty order)
        # the copy's direction as run-time bools: a literal True and False would compile the helper once each
        into, back = first_by_columns, not first_by_columns
        if first_by_columns:
            _copy_columns(p, m, v, wt, mt, vt, w_at[0], n0, sizes[1], c0, n_c, into)
        n = order.shape[0]
        # plain SGD updates the first layer's columns in the pass that takes the next sample through them
        # (_update_add_rows); a weighted sample's decay is known per sample
        fuse = rule == SGD and first_by_columns and L > U(1)
        carried = False
        t0 = t[0]
        updates, bad = 0, -1
        loss_sum, weight_sum, n_seen = 0.0, 0.0, 0
        for k in range(n):
            s = order[k]
            if first_by_columns:
                for i in range(n0):
                    a[u_x + i] = X[s, i]                # all of x, this thread's own copy
            else:
                for i in range(cuts[0, tid], cuts[0, tid + 1]):
                    a[i] = X[s, i]                      # this thread's rows of a[0] = x
            # 1) forward
            for l in range(L):
                n_out, u_out = sizes[l + U(1)], units[l + U(1)]
                j0, j1 = cuts[l + U(1), tid], cuts[l + U(1), tid + 1]
                last = l == L - U(1)
                if l == U(0) and first_by_columns:      # this thread's units of z[1], whole
                    if not carried:
                        for j in range(j0, j1):
                            a[u_out + j] = p[b_at[0] + j]
                        _add_rows(wt, a, u_x, U(0), n0, U(0), n_c, n_c, U(0), a, u_out + j0, n_c <= U(WIDE))
                    if last:                            # one layer: every thread takes all of z_L
                        _sync.barrier(sync, n_threads)
                        for j in range(n_out):
                            a[u_o + j] = a[u_z + j] = a[u_out + j]
                else:
                    for j in range(n_out):              # this thread's rows' partial sums of z[l+1]
                        zp[u_out + j] = p[b_at[l] + j] if last and tid == 0 else zero
                    _add_rows(p, a, units[l], cuts[l, tid], cuts[l, tid + 1], U(0), n_out, n_out, w_at[l], zp,
                              u_out, True)
                    _sync.barrier(sync, n_threads)      # every thread's partial sums are in
                    if last:
                        for j in range(n_out):
                            z = zpart[0, u_out + j]
                            for q in range(1, n_threads):
                                z += zpart[q, u_out + j]
                            a[u_o + j] = a[u_z + j] = z
                    else:
                        for j in range(j0, j1):
                            z = p[b_at[l] + j]
                            for q in range(n_threads):
                                z += zpart[q, u_out + j]
                            a[u_out + j] = z
                # a[l+1] = f_l(z[l+1]): this thread's units, or the output layer's whole in its own part of a
                u_f, n_f = (u_out + j0, j1 - j0) if not last else (u_o, K)
                if acts[l] != SOFTMAX:
                    _activate(a, u_f, n_f, acts[l])
            carried = False
            # 2) the loss and delta[L], whole, in this thread's own part of a and d
            mx, total = zero, one
            if acts[L - U(1)] == SOFTMAX:
                mx, total = _softmax(a, u_o, K)
            loss = _loss_and_delta(Y, s, sizes, own, acts, loss_code, a, d, mx, total, one)
            if not is_finite(loss):                     # every thread stops here: the same loss in each
                bad = k
                break
            weight = sw[s] if weighted else one
            loss_sum += float(weight) * loss if weighted else loss
            weight_sum += float(weight) if weighted else 1.0
            n_seen += 1
            if weight == zero:                          # no update
                if end_barrier:
                    _sync.barrier(sync, n_threads)
                continue
            updates += 1
            step_size, bc2_sqrt = _adam_scales(a.dtype.type(t0 + updates), lr, hyper, rule)
            wd = hyper[4] + hyper[5] / weight
            # 3) backward, down the layers
            l = L
            while l > U(0):
                l -= U(1)
                by_columns = l == U(0) and first_by_columns
                u_d = u_o if l == L - U(1) else units[l + U(1)]
                if by_columns and fuse and wd == zero and k + 1 < n:   # b[0] first: the next z[1] starts from it
                    _update_bias(p, m, v, d, u_d, b_at[0], c0, c1, lr, hyper, step_size, bc2_sqrt, rule, nesterov)
                    for j in range(c0, c1):
                        a[u_d + j] = p[b_at[0] + j]
                    _update_add_rows(wt, U(0), n0, n_c, a, u_x, d, u_d + c0, lr, X, order[k + 1], a, u_d + c0,
                                     n_c <= U(WIDE))
                    carried = True
                    continue
                if by_columns:                          # this thread's columns of W[0], in its own copy
                    _backward_layer(wt, mt, vt, a, d, U(0), n0, U(0), n_c, n_c, U(0), u_x, u_d + c0, acts[0], False,
                                    lr, hyper, wd, step_size, bc2_sqrt, rule, nesterov)
                else:
                    if l < L - U(1):
                        _sync.barrier(sync, n_threads)  # every unit of delta[l+1] is in
                    act = acts[l - U(1)] if l > U(0) else acts[0]
                    _backward_layer(p, m, v, a, d, cuts[l, tid], cuts[l, tid + 1], U(0), sizes[l + U(1)],
                                    sizes[l + U(1)], w_at[l], units[l], u_d, act, l > U(0), lr, hyper, wd, step_size,
                                    bc2_sqrt, rule, nesterov)
                j0, j1 = cuts[l + U(1), tid], cuts[l + U(1), tid + 1]     # this thread's units' biases, but
                if l == L - U(1) and not by_columns:    # the output layer's: read by thread 0 alone, its own
                    j0, j1 = U(0), (K if tid == 0 else U(0))
                _update_bias(p, m, v, d, u_d, b_at[l], j0, j1, lr, hyper, step_size, bc2_sqrt, rule, nesterov)
            if end_barrier:
                _sync.barrier(sync, n_threads)
        if first_by_columns:
            _copy_columns(p, m, v, wt, mt, vt, w_at[0], n0, sizes[1], c0, n_c, back)
        if tid == 0 and updates > 0:
            t[0] = t0 + updates
        return loss_sum, n_seen, bad, weight_sum

    return Kernels(epoch_per_sample, epoch_batch, epoch_per_sample_threaded)


# Every pair's dispatchers, made once at import (compiling waits for the first call, per dtype).
# momentum and Nesterov's momentum share a pair, told apart by the kernels' ``nesterov`` argument
_KERNELS = {"sgd": _build(SGD), "momentum": _build(MOMENTUM), "adam": _build(ADAM)}
_KERNELS["nesterov"] = _KERNELS["momentum"]


def kernels_for(rule: str) -> Kernels:
    """The kernels for the update rule ``rule`` (``optim.RULES``): compiled on the first call per dtype, and cached
    on disk. Call them with ``nesterov=(rule == "nesterov")``."""
    return _KERNELS[rule]

"""The batched numpy path: mini-batches through matrix products.

It computes what ``reference.train_epoch`` computes, a batch at a time: the rows of a batch go through each
layer as one ``(B, n_l) @ (n_l, n_{l+1})`` product, and the backward pass is the same chain rule with the
sum over the batch done by ``A[l].T @ delta``. BLAS does the products (plain SGD's update is one GEMM that
accumulates into ``W``, see ``_blas``); the elementwise work between them is fused into a few compiled
passes (``_fused``). All work buffers live in a :class:`Workspace`, made once per ``fit`` and reused for
every batch (``out=`` arguments, in-place updates). float32 models compute in float32.

It also serves the model's ``predict``, ``loss`` and ``gradients`` (whole arrays, no training).
"""
from __future__ import annotations

import math

import numpy as np

from ... import _spec
from ...optim import RULES, sgd_state
from .. import EpochResult
from . import _fused
from ._blas import gemm_tn

# --- training ------------------------------------------------------------------------------------------------

class Workspace:
    """Buffers for one fit: activations, deltas and gradients for a batch of up to ``batch_size`` rows."""

    def __init__(self, spec, dtype, batch_size):
        B = batch_size
        dt = np.dtype(dtype)
        self.batch_size = B
        self.A = [np.empty((B, n), dt) for n in spec.layer_sizes]         # a[l], (B, n_l)
        self.Y = np.empty((B, spec.n_outputs), dt)                         # targets of the batch
        self.Z_out = np.empty((B, spec.n_outputs), dt)                     # z_L, kept for the stable losses
        self.D = [None] + [np.empty((B, n), dt) for n in spec.layer_sizes[1:]]  # delta[l], (B, n_l)
        self.losses = np.empty(B, np.float64)                              # each row's loss
        self.gW = [np.empty((n_in, n_out), dt)
                   for n_in, n_out in zip(spec.layer_sizes[:-1], spec.layer_sizes[1:])]
        self.gb = [np.empty(n, dt) for n in spec.layer_sizes[1:]]
        self.no_weights = np.empty(0, dt)
        self._blocks = {}

    def block(self, m):
        """``(A, D, Y, Z_out, losses)``: the buffers' first ``m`` rows (views made once per ``m``)."""
        if m not in self._blocks:
            self._blocks[m] = ([a[:m] for a in self.A], [None] + [d[:m] for d in self.D[1:]], self.Y[:m],
                               self.Z_out[:m], self.losses[:m])
        return self._blocks[m]


def _warm(spec, dt):
    """Each fused kernel called once on empty blocks, with the argument types training passes, so that loading
    (or compiling) happens before the first batch, not inside one (see ``fastmlp._guard``: Ctrl-C is deferred
    while it happens, and acted on at once after it)."""
    F = dt.type
    act = [_spec.ACTIVATIONS.index(spec.layer_activation(l)) for l in range(spec.n_layers)]
    empty2, empty1, rows = np.empty((0, 1), dt), np.empty(0, dt), np.empty(0, np.float64)
    _fused.bias_act(empty2, empty1, act[0])
    _fused.act_backward(empty2, empty2, act[0], empty1)
    _fused.output_layer(empty2, empty1, empty2, empty2, empty2, empty1, rows, empty1, act[-1],
                        _spec.LOSSES.index(spec.loss))
    _fused.axpy(empty1, F(0.0), empty1)
    _fused.opt_step(empty1, empty1, F(1.0), empty1, empty1, 1, F(0.0), np.zeros(5, dt), F(0.0), F(1.0), F(0.0))


def prepare(spec, dtype, batch_size, threads=1):
    return Workspace(spec, dtype, batch_size)


def train_epoch(spec, params, X, Y, order, lr, batch_size, workspace=None, opt=None,
                sample_weight=None, interrupt=None) -> EpochResult:
    """One epoch of mini-batch SGD (or ``opt``'s rule) in place on ``params``; equals ``reference.train_epoch``.

    ``interrupt.check()`` runs after each batch (Ctrl-C lands between batches); only a non-finite loss is
    reported, a non-finite update is left to ``fastmlp._guard``."""
    opt = opt if opt is not None else sgd_state(params.size, params.dtype)
    # overflow on the way to a non-finite loss is expected; it is reported as divergence, not as a warning
    with np.errstate(over="ignore", invalid="ignore"):
        return _train_epoch(spec, params, X, Y, order, lr, batch_size, workspace, opt, sample_weight, interrupt)


# Below this many weights in a layer the ctypes call into BLAS (~5 us of argument conversion) costs more than
# the pass over the weights it saves; numpy's matmul is called more cheaply. Measured: (16x64, batch 64)
# 1.8x slower through ctypes, (64x64, batch 1024) 1.02x, (128x128, batch 128) 0.90x, (784x256, batch 128) 0.84x.
GEMM_MIN_WEIGHTS = 128 * 128


def _gemm_tn(C, alpha, A, D, beta, scratch):
    """``C <- beta C + alpha A.T @ D``: one BLAS call for a large ``C`` where it can (``_blas``), else matmul
    into ``scratch`` and the scaling by hand."""
    if C.size >= GEMM_MIN_WEIGHTS and gemm_tn(C, alpha, A, D, beta):
        return
    if beta == 0.0:
        np.matmul(A.T, D, out=C)
        C *= alpha
        return
    np.matmul(A.T, D, out=scratch)
    scratch *= alpha
    if beta != 1.0:
        C *= beta
    C += scratch


def _train_epoch(spec, params, X, Y, order, lr, batch_size, workspace, opt, sample_weight, interrupt):
    ws = workspace if workspace is not None else Workspace(spec, params.dtype, batch_size)
    W, b = spec.split(params)
    L = spec.n_layers
    act = [_spec.ACTIVATIONS.index(spec.layer_activation(l)) for l in range(L)]   # the kernels' codes
    loss_code = _spec.LOSSES.index(spec.loss)
    F = params.dtype.type
    lr = F(lr)
    plain = opt.name == "sgd"         # W <- (1 - lr wd) W - (lr/B) A.T @ delta: one GEMM, no gradient buffer
    rule = RULES.index(opt.name)
    wd, l2 = float(opt.weight_decay), float(opt.hyper[5])   # the batch's decay: wd + l2 / its weight
    n = order.shape[0]
    if n == 0:                                  # nothing to train: the guard's warm-up call (fastmlp._guard)
        _warm(spec, params.dtype)
        return EpochResult(0.0, 0, -1, 0.0)
    # when order is a run of consecutive rows (no shuffle), a batch is a slice of X: a view, no gather
    first = int(order[0])
    in_order = int(order[-1]) - first == n - 1 and bool(np.all(order[1:] > order[:-1]))
    loss_sum, n_seen, weight_sum = 0.0, 0, 0.0
    WT = [Wl.T for Wl in W]
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        m = idx.shape[0]
        A, Ds, Yb, Z_out, losses = ws.block(m)
        if in_order:
            A = [X[first + start:first + start + m], *A[1:]]
            Yb = Y[first + start:first + start + m]
        else:
            np.take(X, idx, axis=0, out=A[0])
            np.take(Y, idx, axis=0, out=Yb)
        # forward: z[l+1] = a[l] @ W[l] (BLAS), then a[l+1] = f_l(z[l+1] + b[l]) in one pass
        for l in range(L - 1):
            np.matmul(A[l], W[l], out=A[l + 1])
            _fused.bias_act(A[l + 1], b[l], act[l])
        # the output layer: z_L, a_L, each row's loss (before this batch's update) and delta[L] in one pass
        D = Ds[L]
        np.matmul(A[L - 1], W[L - 1], out=Z_out)
        wb = ws.no_weights if sample_weight is None else sample_weight[idx]
        bad = _fused.output_layer(Z_out, b[L - 1], Yb, A[L], D, ws.gb[L - 1], losses, wb, act[L - 1], loss_code)
        batch_loss = float(losses.sum()) if bad < 0 else math.nan
        if not math.isfinite(batch_loss):
            return EpochResult(loss_sum, n_seen, start + max(bad, 0), weight_sum)
        if sample_weight is None:
            batch_weight = float(m)
        else:                                   # weighted means: each row's delta was multiplied by its weight
            batch_loss, batch_weight = float(np.dot(wb, losses)), float(wb.sum(dtype=np.float64))
        loss_sum += batch_loss
        weight_sum += batch_weight
        n_seen += m
        if batch_weight == 0.0:
            continue                            # no weight, no update
        opt.t[0] += 1
        step_size = bc2_sqrt = F(0.0)
        if opt.name == "adam":
            t = int(opt.t[0])
            beta1, beta2 = opt.optimizer.betas
            step_size, bc2_sqrt = F(lr / (1.0 - beta1 ** t)), F(math.sqrt(1.0 - beta2 ** t))
        # backward, down the layers; the bias gradient (column sums of delta) comes with each delta
        scale = F(1.0) / F(batch_weight)
        step = -lr * scale
        decay = F(wd + l2 / batch_weight)
        shrink = F(1.0) - lr * decay            # plain SGD: W <- shrink W - ..., the weight decay
        for l in range(L - 1, -1, -1):
            if l > 0:                                       # delta[l], with the W[l] of before the update
                D_prev = Ds[l]
                np.matmul(D, WT[l], out=D_prev)
                _fused.act_backward(D_prev, A[l], act[l - 1], ws.gb[l - 1])
            if plain:
                _gemm_tn(W[l], step, A[l], D, shrink, ws.gW[l])
                _fused.axpy(b[l], step, ws.gb[l])
            else:                                           # the mean gradient, then the rule's update
                w0, b0, b1 = spec.offsets[l]
                _gemm_tn(ws.gW[l], scale, A[l], D, F(0.0), None)
                for lo, hi, G, gscale, is_weight in ((w0, b0, ws.gW[l].reshape(-1), F(1.0), True),
                                                     (b0, b1, ws.gb[l], scale, False)):
                    _fused.opt_step(params[lo:hi], G, gscale, opt.m[lo:hi], opt.v[lo:hi], rule, lr, opt.hyper,
                                    step_size, bc2_sqrt, decay if is_weight else F(0.0))
            if l > 0:
                D = D_prev
        if interrupt is not None:
            interrupt.check()                   # Ctrl-C: after a complete batch
    return EpochResult(loss_sum, n_seen, -1, weight_sum)

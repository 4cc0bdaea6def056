"""The reference path: the training contract written out one derivative at a time.

This module *is* the specification (``docs/contract.md`` says the same in prose). It is pure Python:
floats, lists and ``math``; the numpy array it is handed is turned into nested lists before the loop and
written back after it. Every other path names the function here that it must equal.

Where the contract is silent, this module decides:

* Epoch loss: the sum of the per-sample losses, each computed in the forward pass before the update of the
  batch that holds the sample (the caller divides by the number of samples).
* Divergence: the epoch stops at the first batch that holds a sample whose loss is not finite, or whose
  update would leave any parameter or optimiser-state value non-finite. That batch's update is not applied:
  the parameters and the optimiser state are those after the last complete batch. ``bad_position`` is the
  position of that sample, or of the batch's first sample when its update was the cause (``bad_update``).
* float32 models: this path computes in Python floats (float64) and rounds the parameters to the model's
  dtype when it writes them back. "Finite" then means "finite in float32": a loss, parameter or state value
  that float32 would round to infinity (``abs(x) >= FLOAT32_OVERFLOW``) counts as non-finite, so this path
  never writes a value the model's dtype cannot hold.
* Interrupts: ``interrupt.check()`` (``fastmlp._interrupt``) is called between samples and between batches,
  where a ``KeyboardInterrupt`` leaves the parameters as after the last complete batch.

Notation, per layer ``l = 0 .. L-1`` (the worked example's derivation, generalised):

    a[0] = x
    z[l+1][j] = b[l][j] + sum_i a[l][i] * W[l][i][j]
    a[l+1][j] = f_l(z[l+1])[j]
    delta[L]  = dL/dz[L]                                     (from the loss table)
    dL/dW[l][i][j] = a[l][i] * delta[l+1][j]
    dL/db[l][j]    = delta[l+1][j]
    delta[l][i]    = (sum_j W[l][i][j] * delta[l+1][j]) * f'(z[l][i])   for l >= 1
"""
from __future__ import annotations

import math

from ...optim import sgd_state
from .. import EpochResult

# float32 rounds every float64 of at least this magnitude to infinity: (2 - 2**-24) * 2**127, halfway
# between float32's largest value and 2**128 (ties go to the even neighbour, 2**128, i.e. infinity).
FLOAT32_OVERFLOW = 2.0 ** 128 - 2.0 ** 103


def finite_limit(dtype) -> float:
    """Magnitudes below this are finite in ``dtype`` (float64: every finite float)."""
    return FLOAT32_OVERFLOW if str(dtype) == "float32" else math.inf


# --- activations: f(z) and f'(z), one sample, lists of floats --------------------------------------------

def _sigmoid(z: float) -> float:
    # Two branches so that exp never overflows: exp(-z) for z >= 0, exp(z) otherwise.
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _exp(z: float) -> float:
    # math.exp raises OverflowError past 709.78; the contract's value there is infinity (a divergence)
    try:
        return math.exp(z)
    except OverflowError:
        return math.inf


def _softmax(z: list) -> list:
    m = max(z)                              # shift by the max: exp never overflows
    e = [math.exp(z_k - m) for z_k in z]
    total = sum(e)
    return [e_k / total for e_k in e]


# name -> (f applied to the layer's z, f'(z) given z and a = f(z)); softmax has no elementwise derivative:
# it is only an output activation, and its loss (cross_entropy) gives dL/dz directly.
ACTIVATION_MATHS = {
    "identity": (lambda z: list(z), lambda z, a: 1.0),
    "relu": (lambda z: [z_j if z_j > 0.0 else 0.0 for z_j in z], lambda z, a: 1.0 if z > 0.0 else 0.0),
    "sigmoid": (lambda z: [_sigmoid(z_j) for z_j in z], lambda z, a: a * (1.0 - a)),
    "tanh": (lambda z: [math.tanh(z_j) for z_j in z], lambda z, a: 1.0 - a * a),
    "softmax": (_softmax, None),
    "exp": (lambda z: [_exp(z_j) for z_j in z], lambda z, a: a),       # the Poisson loss's log link: a = exp(z)
}


# --- losses: L(y, yhat) per sample, and dL/dz_L -------------------------------------------------------------

def _softplus(z: float) -> float:
    # log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|))
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


def _mse_loss(y, z, a):
    K = len(y)
    # r * r, not r ** 2: a float power raises OverflowError where the product gives inf (divergence)
    return sum((y_k - a_k) * (y_k - a_k) for y_k, a_k in zip(y, a)) / K


def _log_loss(y, z, a):
    # -[y log s(z) + (1-y) log(1-s(z))] = softplus(z) - y z, never log(0)
    K = len(y)
    return sum(_softplus(z_k) - y_k * z_k for y_k, z_k in zip(y, z)) / K


def _cross_entropy(y, z, a):
    # -sum y_k log softmax(z)_k = sum y_k (logsumexp(z) - z_k)
    m = max(z)
    lse = m + math.log(sum(math.exp(z_k - m) for z_k in z))
    return sum(y_k * (lse - z_k) for y_k, z_k in zip(y, z))


def _xlogy(y: float) -> float:
    return y * math.log(y) if y > 0.0 else 0.0


def _poisson_loss(y, z, a):
    # half the Poisson deviance, y log(y / yhat) - y + yhat with yhat = exp(z) (scikit-learn's poisson_loss),
    # per output, averaged over the outputs: exp(z) - y z + y log y - y
    K = len(y)
    return sum(a_k - y_k * z_k + _xlogy(y_k) - y_k for y_k, z_k, a_k in zip(y, z, a)) / K


def _mse_delta(y, z, a, fprime):
    K = len(y)
    return [-(2.0 / K) * (y_k - a_k) * fprime(z_k, a_k) for y_k, z_k, a_k in zip(y, z, a)]


def _log_loss_delta(y, z, a, fprime):
    K = len(y)
    return [(a_k - y_k) / K for y_k, a_k in zip(y, a)]


def _poisson_delta(y, z, a, fprime):
    # d/dz (exp(z) - y z) / K = (exp(z) - y) / K
    K = len(y)
    return [(a_k - y_k) / K for y_k, a_k in zip(y, a)]


def _cross_entropy_delta(y, z, a, fprime):
    return [a_k - y_k for y_k, a_k in zip(y, a)]


# name -> (L(y, z_L, a_L), dL/dz_L(y, z_L, a_L, f'_out))
LOSS_MATHS = {
    "mse": (_mse_loss, _mse_delta),
    "log_loss": (_log_loss, _log_loss_delta),
    "cross_entropy": (_cross_entropy, _cross_entropy_delta),
    "poisson": (_poisson_loss, _poisson_delta),
}


# --- parameters: flat array <-> nested lists ----------------------------------------------------------------

def unpack(spec, params) -> tuple:
    """Nested lists ``W[l][i][j]`` and ``b[l][j]`` (Python floats) from the flat ``params``
    (``NetSpec.split``, as lists)."""
    W, b = spec.split(params)
    return [W_l.tolist() for W_l in W], [b_l.tolist() for b_l in b]


# --- one sample: forward, loss, backward ------------------------------------------------------------------------

def forward(spec, W, b, x) -> tuple:
    """``(z, a)``: pre-activations ``z[l]`` and activations ``a[l]`` for ``l = 0..L`` (``z[0]`` is unused)."""
    a = [list(x)]                                           # a[0] = x, shape (n0,)
    z = [None]
    for l in range(spec.n_layers):
        n_in, n_out = spec.layer_sizes[l], spec.layer_sizes[l + 1]
        z_next = []                                         # z[l+1], shape (n_{l+1},)
        for j in range(n_out):
            z_j = b[l][j]                                   # b[l][j] ...
            for i in range(n_in):
                z_j += a[l][i] * W[l][i][j]                 # ... + sum_i a[l][i] * W[l][i][j]
            z_next.append(z_j)
        f, _ = ACTIVATION_MATHS[spec.layer_activation(l)]
        z.append(z_next)
        a.append(f(z_next))                                 # a[l+1] = f_l(z[l+1])
    return z, a


def sample_loss(spec, z, a, y) -> float:
    """L(y, yhat) for one sample, from the output layer's ``z`` and ``a`` (stable forms)."""
    loss_fn, _ = LOSS_MATHS[spec.loss]
    return loss_fn(y, z[-1], a[-1])


def backward(spec, W, z, a, y) -> tuple:
    """``(dW, db)`` of one sample's loss, nested like ``W`` and ``b``: the chain rule, layer by layer."""
    L = spec.n_layers
    _, delta_fn = LOSS_MATHS[spec.loss]
    _, fprime_out = ACTIVATION_MATHS[spec.output_activation]
    delta = delta_fn(y, z[L], a[L], fprime_out)              # delta[L] = dL/dz[L], shape (nL,)
    dW, db = [None] * L, [None] * L
    for l in range(L - 1, -1, -1):
        n_in, n_out = spec.layer_sizes[l], spec.layer_sizes[l + 1]
        # dL/dW[l][i][j] = dL/dz[l+1][j] * dz[l+1][j]/dW[l][i][j] = delta[l+1][j] * a[l][i]
        dW[l] = [[a[l][i] * delta[j] for j in range(n_out)] for i in range(n_in)]
        # dL/db[l][j] = delta[l+1][j] * dz[l+1][j]/db[l][j] = delta[l+1][j] * 1
        db[l] = list(delta)
        if l > 0:
            _, fprime = ACTIVATION_MATHS[spec.layer_activation(l - 1)]
            delta_prev = []                                   # delta[l], shape (n_l,)
            for i in range(n_in):
                s = 0.0
                for j in range(n_out):
                    s += W[l][i][j] * delta[j]                # dL/da[l][i] = sum_j delta[l+1][j] * W[l][i][j]
                delta_prev.append(s * fprime(z[l][i], a[l][i]))  # dL/dz[l][i] = dL/da[l][i] * f'(z[l][i])
            delta = delta_prev
    return dW, db


# --- the entry points -------------------------------------------------------------------------------------------

def _zeros_like(W, b):
    return [[[0.0] * len(row) for row in W_l] for W_l in W], [[0.0] * len(b_l) for b_l in b]


def _accumulate(gW, gb, dW, db, weight=1.0):
    for gW_l, dW_l, gb_l, db_l in zip(gW, dW, gb, db):
        for g_row, d_row in zip(gW_l, dW_l):
            for j, d in enumerate(d_row):
                g_row[j] += weight * d
        for j, d in enumerate(db_l):
            gb_l[j] += weight * d


def gradients(spec, params, X, Y) -> tuple:
    """``(dW, db, mean_loss)``: the gradient of the mean loss over the rows of ``X``, at ``params``.

    ``dW[l]`` and ``db[l]`` are nested lists shaped like ``W[l]`` and ``b[l]``.
    """
    W, b = unpack(spec, params)
    gW, gb = _zeros_like(W, b)
    loss_sum = 0.0
    rows = X.tolist()
    targets = Y.tolist()
    for x, y in zip(rows, targets):
        z, a = forward(spec, W, b, x)
        loss_sum += sample_loss(spec, z, a, y)
        dW, db = backward(spec, W, z, a, y)
        _accumulate(gW, gb, dW, db)
    n = len(rows)
    gW = [[[g / n for g in row] for row in gW_l] for gW_l in gW]
    gb = [[g / n for g in gb_l] for gb_l in gb]
    return gW, gb, loss_sum / n


def prepare(spec, dtype, batch_size, threads=1):
    """The reference path keeps no buffers between epochs (and runs on one thread)."""
    return None


def step(w, g, q, lr, opt, m, v, adam_scale):
    """One parameter's update by the optimiser's rule (``fastmlp.optim``); ``q`` indexes its state."""
    if opt.name == "sgd":
        return w - lr * g                                    # w <- w - lr * dL/dw, the worked example's update
    if opt.name in ("momentum", "nesterov"):
        mu = opt.optimizer.momentum
        m[q] = mu * m[q] + g                                 # b <- mu b + g
        return w - lr * (m[q] if opt.name == "momentum" else g + mu * m[q])
    beta1, beta2 = opt.optimizer.betas
    step_size, bc2_sqrt = adam_scale
    m[q] = m[q] + (1.0 - beta1) * (g - m[q])                 # m <- m + (1 - beta1)(g - m)
    v[q] = beta2 * v[q] + (1.0 - beta2) * g * g              # v <- beta2 v + (1 - beta2) g^2
    return w - step_size * (m[q] / (math.sqrt(v[q]) / bc2_sqrt + opt.optimizer.eps))


def train_epoch(spec, params, X, Y, order, lr, batch_size, workspace=None, opt=None,
                sample_weight=None, interrupt=None) -> EpochResult:
    """One epoch of SGD (or another optimiser's rule), in place on ``params``: the contract's step and epoch.

    Batches are consecutive slices of ``order``. For each batch: for each of its samples, forward and loss
    (at the parameters the batch started from) and backward; then one update from the batch's mean gradient
    ``g``, ``params <- params - lr * g`` with plain SGD. With ``batch_size=1`` this is the worked example's per-sample
    loop. ``opt`` (an ``optim.OptimizerState``, plain SGD when None) is updated in place.

    With ``sample_weight`` (one weight >= 0 per row of ``X``) a batch's loss and gradient are weighted means,
    ``sum_s w_s L_s / sum_s w_s``; a batch whose weights sum to 0 makes no update.

    Divergence and interrupts: see the module's notes.
    """
    opt = opt if opt is not None else sgd_state(params.size, params.dtype)
    m, v, t = opt.m.tolist(), opt.v.tolist(), int(opt.t[0])
    wd, l2 = opt.weight_decay, float(opt.hyper[5])   # l2 in the units of sample_weight (OptimizerState.weigh)
    limit = finite_limit(params.dtype)                       # |x| < limit: finite in the model's dtype
    W, b = unpack(spec, params)
    weights = None if sample_weight is None else [float(w) for w in sample_weight]
    order = [int(s) for s in order]
    loss_sum, n_seen, bad, weight_sum, bad_update = 0.0, 0, -1, 0.0, False
    try:
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            gW, gb = _zeros_like(W, b)
            batch_loss, batch_weight = 0.0, 0.0
            for k, s in enumerate(batch):
                if interrupt is not None:
                    interrupt.check()                        # Ctrl-C: nothing of this batch is applied yet
                w_s = 1.0 if weights is None else weights[s]
                x, y = X[s].tolist(), Y[s].tolist()          # one row as floats (not all rows up front)
                z, a = forward(spec, W, b, x)                # 1) forward pass
                loss = sample_loss(spec, z, a, y)            # 2) loss, before this batch's update
                if not abs(loss) < limit:
                    bad = start + k                          # stop: this batch's update is not applied
                    break
                batch_loss += w_s * loss
                batch_weight += w_s
                dW, db = backward(spec, W, z, a, y)          # 3) backward pass
                _accumulate(gW, gb, dW, db, w_s)
            if bad >= 0:
                break
            B = batch_weight                                 # len(batch) without weights
            if B > 0.0:                                      # no weight, no update
                before = _copy_state(W, b, m, v)
                t += 1                                       # updates made, Adam's bias correction
                _update(spec, W, b, gW, gb, B, lr, opt, m, v, t, wd + l2 / B)   # 4) the update
                if not _all_below(limit, W, b, m, v):        # it would leave a non-finite value: undo it
                    W, b, m, v = before
                    t -= 1
                    bad, bad_update = start, True
                    break
            loss_sum += batch_loss
            weight_sum += batch_weight
            n_seen += len(batch)
            if interrupt is not None:
                interrupt.check()                            # Ctrl-C: after a complete batch
    finally:                                                 # the state after the last complete batch
        params[:] = spec.join(W, b)
        opt.m[:] = m
        opt.v[:] = v
        opt.t[0] = t
    return EpochResult(loss_sum, n_seen, bad, weight_sum, bad_update)


def _update(spec, W, b, gW, gb, B, lr, opt, m, v, t, wd):
    """Every parameter's step from the batch mean gradient ``g / B``, in the contract's layout; ``wd`` the batch's
    weight decay, ``weight_decay + l2 / B``."""
    adam_scale = None
    if opt.name == "adam":
        beta1, beta2 = opt.optimizer.betas
        adam_scale = (lr / (1.0 - beta1 ** t), math.sqrt(1.0 - beta2 ** t))
    q = 0                                                    # position in params: the contract's layout
    for l in range(spec.n_layers):
        for i, row in enumerate(W[l]):
            for j in range(len(row)):
                g = gW[l][i][j] / B                          # dL/dw, batch mean
                if wd:
                    g = g + wd * row[j]                      # L2 on weights only
                row[j] = step(row[j], g, q, lr, opt, m, v, adam_scale)
                q += 1
        for j in range(len(b[l])):
            b[l][j] = step(b[l][j], gb[l][j] / B, q, lr, opt, m, v, adam_scale)
            q += 1


def _copy_state(W, b, m, v) -> tuple:
    return [[list(row) for row in W_l] for W_l in W], [list(b_l) for b_l in b], list(m), list(v)


def _all_below(limit, W, b, m, v) -> bool:
    """Whether every value is finite in the model's dtype (``abs(x) < limit``; NaN fails every comparison)."""
    values = [x for W_l in W for row in W_l for x in row] + [x for b_l in b for x in b_l] + m + v
    return all(abs(x) < limit for x in values)

"""Source generation for the Numba path's scalar style: one kernel module per tiny network and dtype, plain SGD.

Why generate source for tiny networks: there a kernel that loops over layers and units spends most of its time on
loop overhead (``kernels.py`` serves every larger network, and every other optimiser). Generated for the exact
shape, every parameter, activation and delta is a local variable and the whole network is straight-line code inside
the sample loop, like a hand-written kernel (``SCALAR_MAX_PARAMS`` in ``backends/numba`` says where this pays). The
kernels compute ``reference.train_epoch`` with one emitter per stage, named and ordered as the reference's:
``_emit_forward``, ``_emit_sample_loss`` (with delta[L]), ``_emit_backward``, ``_emit_step``; the maths of each
(activations, their derivatives, losses, deltas) is written once, as source expressions.

Each generated module defines two kernels with the same arguments as the Python layer hands them:

* ``epoch_per_sample(p, X, Y, order, lr, a, d, m, v, t, hyper)``: ``batch_size == 1``, the worked example's
  per-sample loop;
* ``epoch_batch(p, X, Y, order, lr, batch_size, a, d, g, m, v, t, hyper)``: gradients summed over a batch,
  one update each.

``m``, ``v`` and ``hyper`` (the optimiser's state and hyperparameters, ``fastmlp.optim``) are unused by plain SGD;
``t`` counts the updates. The arguments are those of ``kernels.py``'s kernels but for the layout, so the Python
layer calls both styles alike.

Both return ``(loss_sum, n_seen, bad_position, weight_sum)`` like ``reference.train_epoch``. With sample weights
(a module generated with ``weighted=True``) ``epoch_batch`` takes one more argument, ``sw``, and makes each batch's
loss and gradient weighted means; the Python layer sends weighted epochs of any batch size there. ``a``, ``d``
and ``g`` are not used: everything is in locals. Constants are written as ``F(...)`` with ``F`` the dtype's scalar
type, so float32 kernels compute in float32 throughout; the loss is summed in float64.
"""
from __future__ import annotations


class _Writer:
    def __init__(self):
        self.lines = []
        self.depth = 0

    def __call__(self, line=""):
        self.lines.append("    " * self.depth + line if line else "")

    def indent(self):
        w = self

        class _Block:
            def __enter__(self_inner):
                w.depth += 1

            def __exit__(self_inner, *exc):
                w.depth -= 1
        return _Block()

    def text(self):
        return "\n".join(self.lines) + "\n"


# --- the maths, as source expressions ---------------------------------------------------------------------------

def _act(name, z):
    """Expression for f(z) of an elementwise activation; ``z`` is a simple name."""
    return {
        "identity": z,
        "relu": f"({z} if {z} > F(0.0) else F(0.0))",
        "tanh": f"vtanh({z})",
        "sigmoid": f"vsigmoid({z})",
        "exp": f"vexp({z})",
    }[name]


def _emit_act(w, name, z, a):
    """The statement setting ``a = f(z)`` (tanh and sigmoid: ``_vmath``'s vectorisable forms)."""
    w(f"{a} = {_act(name, z)}")


def _fprime(name, a):
    """Expression for f'(z) written with a = f(z), or None when it is 1."""
    return {
        "identity": None,
        "relu": f"(F(1.0) if {a} > F(0.0) else F(0.0))",
        "sigmoid": f"({a} * (F(1.0) - {a}))",
        "tanh": f"(F(1.0) - {a} * {a})",
        "exp": a,
    }[name]


def _times(expr, factor):
    return expr if factor is None else f"{expr} * {factor}"


def _loss_term(loss, z, o, y):
    """Expression for one output's share of the sample loss (``reference.sample_loss``), summed over the
    outputs; ``_lse`` is the softmax's log-sum-exp (cross-entropy only)."""
    return {
        "mse": f"({y} - {o}) * ({y} - {o})",
        # softplus(z) - y z = max(z, 0) + log1p(exp(-|z|)) - y z
        "log_loss": f"(max({z}, F(0.0)) + math.log1p(vexp(-abs({z}))) - {y} * {z})",
        # sum_k y_k (logsumexp(z) - z_k)
        "cross_entropy": f"{y} * (_lse - {z})",
        # exp(z) - y z + y log y - y, in float64
        "poisson": f"(float({o}) - float({y}) * float({z}) + (float({y}) * math.log({y}) if {y} > 0.0 else 0.0) "
                   f"- float({y}))",
    }[loss]


def _loss_divisor(spec):
    """The sum of the terms is divided by this (the mean over outputs), or None (cross-entropy: a sum)."""
    return None if spec.loss == "cross_entropy" else spec.n_outputs


def _delta_out(spec, o, y):
    """Expression for delta[L] = dL/dz[L] of one output (``reference``'s delta table)."""
    K = spec.n_outputs
    if spec.loss == "mse":
        return _times(f"F({-2.0 / K!r}) * ({y} - {o})", _fprime(spec.output_activation, o))
    if spec.loss in ("log_loss", "poisson"):
        return f"({o} - {y}) / F({float(K)!r})"
    return f"{o} - {y}"


def _emit_softmax(w, zs, outs):
    """``outs[k] = exp(z_k - max z) / sum`` unrolled (``zs`` and ``outs`` lists of lvalues); leaves the max in
    ``_m`` and the sum in ``_s``."""
    w(f"_m = {zs[0]}")
    for z in zs[1:]:
        w(f"_m = {z} if {z} > _m else _m")
    w("_s = F(0.0)")
    for z, o in zip(zs, outs):
        w(f"{o} = vexp({z} - _m)")
        w(f"_s += {o}")
    for o in outs:
        w(f"{o} = {o} / _s")


def _emit_divergence_check(w, spec):
    w("if not is_finite(loss):   # on the bits: fast-math cannot remove it (_finite)")
    with w.indent():
        _emit_store(w, spec, "as after the last complete update")
        w("return loss_sum, n_seen, k, weight_sum")


def _emit_loss_and_delta(w, spec, zs, outs, ys, deltas):
    """Unrolled: ``loss`` (float64) of one sample, then the divergence check, then ``delta[L]`` into ``deltas``."""
    if spec.loss == "cross_entropy":
        w("_lse = _m + math.log(_s)")
    terms = " + ".join(_loss_term(spec.loss, z, o, y) for z, o, y in zip(zs, outs, ys))
    divisor = _loss_divisor(spec)
    w(f"loss = float({terms})" + ("" if divisor in (None, 1) else f" / {divisor}"))
    _emit_divergence_check(w, spec)
    for o, y, dl in zip(outs, ys, deltas):
        w(f"{dl} = {_delta_out(spec, o, y)}")


# --- reference.step: plain SGD, the worked example's ``w <- w - lr * dL/dw`` (other optimisers: ``kernels.py``) -----

def _emit_step(w, target, grad):
    """``target`` (a local) moved down its gradient ``grad``."""
    w(f"{target} = {target} - lr * {grad}")


def _emit_sample_loops(w, batched, weighted, zero_batch_sums=()):
    """The epoch's counters, then the loop over the samples of ``order`` (inside a loop over batches when
    ``batched``, whose sums start at zero: ``zero_batch_sums`` names them), up to the sample's row ``s`` (and its
    weight ``sw_s``). Leaves ``w`` inside the sample loop; ``_end_sample_loop`` closes it."""
    w("loss_sum = 0.0")
    w("weight_sum = 0.0")
    w("n_seen = 0")
    w("n = order.shape[0]")
    if batched:
        w("for start in range(0, n, batch_size):")
        w.depth += 1
        w("stop = min(start + batch_size, n)")
        for name in zero_batch_sums:
            w(f"{name} = F(0.0)")
        w("batch_loss = 0.0")
        if weighted:
            w("wsum = 0.0")
        w("for k in range(start, stop):")
    else:
        w("for k in range(n):")
    w.depth += 1
    w("s = order[k]")
    if weighted:
        w("sw_s = sw[s]")


def _end_sample_loop(w, batched, weighted):
    """The sample's loss into the batch's (batched) or the epoch's sums; the end of the sample loop."""
    if batched:
        _emit_batch_loss(w, weighted)
    else:
        w("loss_sum += loss")
        w("weight_sum += 1.0")
        w("n_seen += 1")
    w.depth -= 1


# --- scalar style ----------------------------------------------------------------------------------------------

# --- the kernels, stage by stage in the reference's order ---------------------------------------------------------
# Names of the locals: w{l}_{i}_{j} is W[l][i, j], b{l}_{j} is b[l][j], a{l}_{i} and d{l}_{i} are a[l][i] and
# delta[l][i], z{l}_{i} is z[l][i], gw.../gb... the batch's gradient sums; a[0] is the sample's row of X.

def _a(l, i):
    return f"X[s, {i}]" if l == 0 else f"a{l}_{i}"


def _w(l, i, j):
    return f"w{l}_{i}_{j}"


def _b(l, j):
    return f"b{l}_{j}"


def _grad_names(spec) -> list:
    """The batch's gradient sums, one per parameter in the contract's layout."""
    return [f"g{name}" for name in _param_names(spec)]


def _emit_load(w, spec):
    """The parameters into locals, in the contract's layout, one comment per layer saying where they live."""
    sizes = spec.layer_sizes
    for l, (w0, b0, b1) in enumerate(spec.offsets):
        w(f"# W[{l}] = p[{w0}:{b0}] as ({sizes[l]}, {sizes[l + 1]}), b[{l}] = p[{b0}:{b1}]")
        for i in range(sizes[l]):
            w(", ".join(_w(l, i, j) for j in range(sizes[l + 1])) + " = "
              + ", ".join(f"p[{w0 + i * sizes[l + 1] + j}]" for j in range(sizes[l + 1])))
        w(", ".join(_b(l, j) for j in range(sizes[l + 1])) + " = "
          + ", ".join(f"p[{b0 + j}]" for j in range(sizes[l + 1])))


def _emit_forward(w, spec):
    """``reference.forward``: z[l+1][j] = b[l][j] + sum_i a[l][i] W[l][i][j]; a[l+1] = f_l(z[l+1])."""
    sizes = spec.layer_sizes
    for l in range(spec.n_layers):
        act = spec.layer_activation(l)
        w(f"# layer {l}: z[{l + 1}] = b[{l}] + a[{l}] @ W[{l}], a[{l + 1}] = {act}(z[{l + 1}])")
        for j in range(sizes[l + 1]):
            z = f"z{l + 1}_{j}"
            w(f"{z} = {_b(l, j)} + " + " + ".join(f"{_a(l, i)} * {_w(l, i, j)}" for i in range(sizes[l])))
            if act != "softmax":
                w(f"{_a(l + 1, j)} = {_act(act, z)}")
        if act == "softmax":
            _emit_softmax(w, [f"z{l + 1}_{j}" for j in range(sizes[l + 1])],
                          [_a(l + 1, j) for j in range(sizes[l + 1])])


def _emit_sample_loss(w, spec, weighted):
    """``reference.sample_loss``, the divergence check, and delta[L] = dL/dz[L] (times the sample's weight)."""
    L, K = spec.n_layers, spec.n_outputs
    w("# the sample's loss, then delta[L] = dL/dz[L]")
    _emit_loss_and_delta(w, spec, [f"z{L}_{k}" for k in range(K)], [_a(L, k) for k in range(K)],
                         [f"Y[s, {k}]" for k in range(K)], [f"d{L}_{k}" for k in range(K)])
    if weighted:                     # a weighted mean: every gradient of the sample times its weight
        for k in range(K):
            w(f"d{L}_{k} = d{L}_{k} * sw_s")


def _emit_backward(w, spec, batched):
    """``reference.backward``, down the layers: delta[l][i] = (sum_j W[l][i][j] delta[l+1][j]) f'(z[l][i]) from the
    W[l] of before the update; then dL/dW[l][i][j] = a[l][i] delta[l+1][j] and dL/db[l][j] = delta[l+1][j], summed
    into the batch's sums (``batched``) or applied at once (``step``, one sample)."""
    sizes = spec.layer_sizes
    for l in range(spec.n_layers - 1, -1, -1):
        w(f"# layer {l}: " + (f"delta[{l}] from W[{l}], then " if l > 0 else "")
          + f"dL/dW[{l}] = a[{l}] delta[{l + 1}]^T, dL/db[{l}] = delta[{l + 1}]")
        if l > 0:
            for i in range(sizes[l]):
                total = " + ".join(f"{_w(l, i, j)} * d{l + 1}_{j}" for j in range(sizes[l + 1]))
                fprime = _fprime(spec.layer_activation(l - 1), _a(l, i))
                w(f"d{l}_{i} = {total if fprime is None else _times(f'({total})', fprime)}")
        for i in range(sizes[l]):
            for j in range(sizes[l + 1]):
                if batched:
                    w(f"g{_w(l, i, j)} += {_a(l, i)} * d{l + 1}_{j}")
                else:
                    _emit_step(w, _w(l, i, j), f"({_a(l, i)} * d{l + 1}_{j})")
        for j in range(sizes[l + 1]):
            if batched:
                w(f"g{_b(l, j)} += d{l + 1}_{j}")
            else:
                _emit_step(w, _b(l, j), f"d{l + 1}_{j}")


def _emit_batch_step(w, spec, weighted):
    """``reference.step`` once per batch, from the mean gradient ``sum / B``."""
    w(f"B = {'F(wsum)' if weighted else 'F(stop - start)'}")
    w("t[0] += 1")
    for name in _param_names(spec):
        _emit_step(w, name, f"(g{name} / B)")


def _scalar_body(w, spec, batched, weighted=False):
    _emit_load(w, spec)
    _emit_sample_loops(w, batched, weighted, _grad_names(spec) if batched else ())
    _emit_forward(w, spec)
    _emit_sample_loss(w, spec, weighted)
    if not batched:
        w("t[0] += 1")
    _emit_backward(w, spec, batched)
    _end_sample_loop(w, batched, weighted)
    if batched:
        _emit_batch_end(w, weighted)
        with w.indent() if weighted else _nothing():
            _emit_batch_step(w, spec, weighted)
        w.depth -= 1


def _emit_batch_loss(w, weighted):
    if weighted:
        w("batch_loss += float(sw_s) * loss")
        w("wsum += float(sw_s)")
    else:
        w("batch_loss += loss")


def _emit_batch_end(w, weighted):
    """The batch's loss and weight into the epoch's; with weights, the update follows only ``if wsum > 0``."""
    w("loss_sum += batch_loss")
    w("weight_sum += " + ("wsum" if weighted else "stop - start"))
    w("n_seen += stop - start")
    if weighted:
        w("if wsum > 0.0:   # a batch of weight 0 makes no update")


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _param_names(spec) -> list:
    """The locals holding the parameters, in the contract's layout: ``w{l}_{i}_{j}`` is W[l][i, j], ``b{l}_{j}``
    is b[l][j]."""
    sizes, names = spec.layer_sizes, []
    for l in range(spec.n_layers):
        names += [f"w{l}_{i}_{j}" for i in range(sizes[l]) for j in range(sizes[l + 1])]
        names += [f"b{l}_{j}" for j in range(sizes[l + 1])]
    return names


def _emit_store(w, spec, when):
    """The parameters, held in locals, back into ``p``."""
    w(f"# the parameters back into p, {when}")
    for q, name in enumerate(_param_names(spec)):
        w(f"p[{q}] = {name}")


def _emit_scalar_kernel(w, spec, name, args, batched, weighted=False):
    """One kernel: parameters into locals, the epoch, the locals back into ``p`` (before every return)."""
    w("@jit")
    w(f"def {name}({args}):")
    with w.indent():
        _scalar_body(w, spec, batched, weighted)
        _emit_store(w, spec, "after the epoch")
        w("return loss_sum, n_seen, -1, weight_sum")
    w()
    w()


def generate(spec, dtype_name: str, header: str = "", weighted=False) -> str:
    """The source of the kernel module for ``spec`` computing in ``dtype_name`` ("float64" or "float32"), plain
    SGD, with sample weights or not."""
    body = _Writer()
    if not weighted:
        _emit_scalar_kernel(body, spec, "epoch_per_sample", "p, X, Y, order, lr, a, d, m, v, t, hyper",
                            batched=False)
    _emit_scalar_kernel(body, spec, "epoch_batch", "p, X, Y, order, lr, batch_size, a, d, g, m, v, t, hyper"
                        + (", sw" if weighted else ""), batched=True, weighted=weighted)
    code = body.text()
    w = _Writer()
    w(f'"""fastmlp kernels for {spec.key} in {dtype_name}, scalar style, plain SGD. Generated; do not edit.')
    if header:
        w(header)
    w('"""')
    if "math." in code:
        w("import math")
        w()
    w("import numpy as np")
    w()
    w("from fastmlp.backends._finite import is_finite")
    w("from fastmlp.backends._numba_config import jit")
    vmath = [name for name in ("vexp", "vsigmoid", "vtanh") if f"{name}(" in code]
    if vmath:
        w(f"from fastmlp.backends._vmath import {', '.join(vmath)}")
    w()
    w(f"F = np.{dtype_name}")
    w()
    w()
    return w.text() + code.rstrip("\n") + "\n"

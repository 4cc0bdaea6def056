"""``fastmlp compile``: every fixed compiled kernel loaded into (or compiled into) the disk cache ahead of the first
fit, once per install.

The Numba path's loop-style kernels take the network's shape at run time, so one compiled kernel per update rule,
dtype and kind (per sample, mini-batch, per sample on threads) serves every network above the unrolled threshold;
the numpy path's fused kernels, one set per dtype, serve every network. Each takes seconds to compile the first
time (``docs/performance.md``, "First fit of a new shape"). Here each is reached by a small ``MLP.fit``, so it is
compiled for exactly the argument types a real fit passes. The generated (unrolled) kernels of the tiniest networks
are made per shape and are not among them.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings

import numpy as np

from .optim import RULES

KINDS = ("per-sample", "batch", "threaded", "numpy")
DTYPES = ("float64", "float32")
OPTIMIZERS = tuple(r for r in RULES if r != "nesterov")     # Nesterov's momentum runs momentum's kernels


def items(dtypes=DTYPES, optimizers=OPTIMIZERS) -> list[tuple[str, str, str]]:
    """``(kind, dtype, optimizer)`` of every kernel to load or compile, float64 and plain SGD first; the numpy
    path's fused kernels once per dtype (the rule is a run-time argument there)."""
    out = []
    for dtype in dtypes:
        out += [(kind, dtype, rule) for rule in optimizers for kind in KINDS[:3]]
        out.append(("numpy", dtype, "adam"))
    return out


def _dispatchers(kind, rule):
    if kind == "numpy":
        from .backends.numpy import _fused
        return [getattr(_fused, name) for name in ("bias_act", "act_backward", "output_layer", "axpy", "opt_step")]
    from .backends.numba import kernels
    return [getattr(kernels.kernels_for(rule), {"per-sample": "per_sample", "batch": "batch",
                                                "threaded": "per_sample_threaded"}[kind])]


def load_or_compile(kind, dtype, rule) -> tuple[float, bool]:
    """One kernel (a set, for the numpy path) reached by a small fit: ``(seconds, compiled)``, ``compiled`` False
    when it came from the disk cache (or was in memory already)."""
    from .model import MLP
    X = np.linspace(-1.0, 1.0, 24, dtype=dtype).reshape(8, 3)
    options = {"per-sample": dict(backend="numba"), "batch": dict(backend="numba", batch_size=4),
               "threaded": dict(backend="numba", threads=2), "numpy": dict(backend="numpy", batch_size=4)}[kind]
    dispatchers = _dispatchers(kind, rule)
    misses = sum(sum(d.stats.cache_misses.values()) for d in dispatchers)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # threads=2 on a one-core machine warns; it is only compiling
        MLP([3, 40, 1], dtype=dtype, seed=0).fit(X, X.sum(1), optimizer=rule, **options)
    compiled = sum(sum(d.stats.cache_misses.values()) for d in dispatchers) > misses
    return time.perf_counter() - t0, compiled


def run(dtypes=DTYPES, optimizers=OPTIMIZERS, jobs=1, say=print) -> list[tuple[str, str, str, float, bool]]:
    """Every kernel of :func:`items`, on ``jobs`` processes (this one and ``jobs - 1`` more, each a share of the
    items; they meet in the disk cache). ``say`` (None: quiet) gets a line per kernel, the other processes print
    theirs. Returns ``(kind, dtype, optimizer, seconds, compiled)`` for the kernels this process did."""
    todo = items(dtypes, optimizers)
    helpers = []
    for part in range(1, min(jobs, len(todo))):
        helpers.append(subprocess.Popen(
            [sys.executable, "-m", "fastmlp", "compile", "--part", f"{part}/{jobs}", "--dtype", *dtypes,
             "--optimizer", *optimizers, *(["--quiet"] if say is None else [])], env=os.environ.copy()))
    done = []
    for kind, dtype, rule in todo[0::jobs]:
        seconds, compiled = load_or_compile(kind, dtype, rule)
        done.append((kind, dtype, rule, seconds, compiled))
        if say is not None:
            say(line(kind, dtype, rule, seconds, compiled))
    failed = [h.args for h in helpers if h.wait() != 0]
    if failed:
        raise RuntimeError(f"a compile process failed: {failed[0]}")
    return done


def line(kind, dtype, rule, seconds, compiled) -> str:
    what = "numpy path, fused kernels" if kind == "numpy" else f"Numba path, {kind}, {rule}"
    return f"{what:<40} {dtype:<8} {'compiled' if compiled else 'loaded':<9} {seconds:6.2f} s"

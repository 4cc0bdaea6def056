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

import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .optim import RULES

# each kind: how a small fit reaches it, and which compiled functions it is (a kernel attribute of the rule's
# ``kernels.Kernels``, or None for the numpy path's passes)
_REACH = {"per-sample": (dict(backend="numba"), "per_sample"),
          "batch": (dict(backend="numba", batch_size=4), "batch"),
          "threaded": (dict(backend="numba", threads=2), "per_sample_threaded"),
          "numpy": (dict(backend="numpy", batch_size=4), None)}
DTYPES = ("float64", "float32")
OPTIMIZERS = tuple(r for r in RULES if r != "nesterov")     # Nesterov's momentum runs momentum's kernels


def items(dtypes=DTYPES, optimizers=OPTIMIZERS) -> list[tuple[str, str, str]]:
    """``(kind, dtype, optimizer)`` of every kernel to load or compile, float64 and plain SGD first; the numpy
    path's fused kernels once per dtype (the rule is a run-time argument there)."""
    out = []
    for dtype in dtypes:
        out += [(kind, dtype, rule) for rule in optimizers for kind, (_, kernel) in _REACH.items() if kernel]
        out.append(("numpy", dtype, "adam"))
    return out


def _dispatchers(kind, rule):
    attribute = _REACH[kind][1]
    if attribute is None:
        from .backends.numpy import _fused
        return [getattr(_fused, name) for name in _fused.KERNELS]
    from .backends.numba import kernels
    return [getattr(kernels.kernels_for(rule), attribute)]


def load_or_compile(kind, dtype, rule) -> tuple[float, bool]:
    """One kernel (a set, for the numpy path) reached by a small fit: ``(seconds, compiled)``, ``compiled`` False
    when it came from the disk cache (or was in memory already)."""
    from .model import MLP
    X = np.linspace(-1.0, 1.0, 24, dtype=dtype).reshape(8, 3)
    dispatchers = _dispatchers(kind, rule)
    misses = sum(sum(d.stats.cache_misses.values()) for d in dispatchers)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # threads=2 on a one-core machine warns; it is only compiling
        MLP([3, 40, 1], dtype=dtype, seed=0).fit(X, X.sum(1), optimizer=rule, **_REACH[kind][0])
    compiled = sum(sum(d.stats.cache_misses.values()) for d in dispatchers) > misses
    return time.perf_counter() - t0, compiled


def share(dtypes, optimizers, part, jobs, say) -> list[tuple[str, str, str, float, bool]]:
    """Share ``part`` of ``jobs`` of :func:`items` (every ``jobs``-th from ``part``), loaded or compiled here, a line
    each to ``say`` (None: quiet): ``(kind, dtype, optimizer, seconds, compiled)`` for each."""
    done = []
    for kind, dtype, rule in items(dtypes, optimizers)[part::jobs]:
        done.append((kind, dtype, rule, *load_or_compile(kind, dtype, rule)))
        if say is not None:
            say(line(*done[-1]))
    return done


def command(*args) -> list[str]:
    """The command line that runs this very fastmlp's CLI with ``args`` in a new process: its package folder first
    on the path, whatever the current folder holds (``python -m fastmlp`` would import a ``fastmlp`` found there)."""
    root = str(Path(__file__).resolve().parents[1])
    return [sys.executable, "-c", f"import sys; sys.path.insert(0, {root!r}); from fastmlp.cli import main; "
                                  f"sys.exit(main(sys.argv[1:]))", *args]


def run(dtypes=DTYPES, optimizers=OPTIMIZERS, jobs=1, say=print) -> list[tuple[str, str, str, float, bool]]:
    """Every kernel of :func:`items`, on ``jobs`` processes (this one and ``jobs - 1`` more, each a share of the
    items; they meet in the disk cache). ``say`` (None: quiet) gets a line per kernel, the other processes print
    theirs. Returns ``(kind, dtype, optimizer, seconds, compiled)`` for the kernels this process did. If this
    process stops (an error, Ctrl-C), the others are stopped too; if one of them fails, RuntimeError."""
    helpers = []
    try:
        for part in range(1, min(jobs, len(items(dtypes, optimizers)))):
            helpers.append(subprocess.Popen(command(
                "compile", "--part", f"{part}/{jobs}", "--dtype", *dtypes, "--optimizer", *optimizers,
                *(["--quiet"] if say is None else []))))
        done = share(dtypes, optimizers, 0, jobs, say)
        statuses = [h.wait() for h in helpers]
    finally:
        for h in helpers:
            if h.poll() is None:
                h.terminate()
                h.wait()
    failed = [(k, status) for k, status in enumerate(statuses, 1) if status != 0]
    if failed:
        k, status = failed[0]
        raise RuntimeError(f"the compile process of part {k}/{jobs} exited with status {status} (its message is "
                           f"above)")
    return done


def parse_part(text) -> tuple[int, int]:
    """``--part K/N``, for fastmlp's own helper processes: ``(K, N)`` with ``0 < K < N``."""
    try:
        part, jobs = (int(v) for v in text.split("/"))
    except ValueError:
        part = jobs = 0
    if not 0 < part < jobs:
        raise ValueError(f"--part must be K/N with 0 < K < N (it is for fastmlp compile's own helper processes), "
                         f"got {text!r}")
    return part, jobs


def cache_usable() -> bool:
    """Whether compiled kernels can be kept on disk at all (``backends._cache.cache_root``)."""
    from .backends._cache import cache_root
    return cache_root() is not None


def line(kind, dtype, rule, seconds, compiled) -> str:
    what = "numpy path, fused kernels" if kind == "numpy" else f"Numba path, {kind}, {rule}"
    return f"{what:<40} {dtype:<8} {'compiled' if compiled else 'loaded':<9} {seconds:6.2f} s"

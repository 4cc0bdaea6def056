"""The registry of training paths.

Every path is a module with the same entry points:

* ``train_epoch(spec, params, X, Y, order, lr, batch_size, workspace) -> EpochResult``: one epoch of the
  contract's SGD, in place on ``params``;
* ``prepare(spec, dtype, batch_size) -> workspace``: what a fit allocates once and hands to every epoch.

``reference`` is the specification; the others must agree with it within the contract's bounds.
Modules are imported on first use, so ``import fastmlp`` does not pay for Numba unless it is used.
"""
from __future__ import annotations

import importlib

# backend name -> module (relative to this package)
_MODULES = {
    "python": "reference",
    "numpy": "numpy_path",
    "numba": "numba_path",
}

BACKENDS = tuple(_MODULES)


class CacheError(RuntimeError):
    """fastmlp's compiled-code cache cannot be used safely (the message says why and how to fix it; see
    ``_cache``). Defined here, where importing it does not import Numba."""

CHOICES = BACKENDS + ("auto",)


def get(name: str):
    """The module of the path called ``name`` (one of ``BACKENDS``)."""
    return importlib.import_module(f".{_MODULES[name]}", __name__)


def available(name: str) -> bool:
    """Whether the path can run here (Numba may be missing or broken)."""
    try:
        get(name)
    except ImportError:
        return False
    return True


# The automatic choice. Per-sample and small-batch SGD is the Numba path's home: it runs the whole epoch in
# one compiled call with no per-batch Python overhead. Large batches of work are the numpy path's: its matrix
# products run in BLAS on both cores. What decides is the work in one batch, batch_size x (multiply-adds of
# one sample's forward pass). Measured crossover (float64, one epoch, 7 rounds interleaved, this 2-core
# machine, `report.measure` as the sweep of `fastmlp bench` uses it; docs/performance.md), numpy over numba:
#   [16, 64, 64, 1]      (5,184 MACs/sample): batch 32 0.85x, batch 64 1.20x, batch 128 1.16x
#   [784, 256, 128, 10] (234,752 MACs/sample): batch 1 0.44x, batch 2 1.04x, batch 4 1.52x
# Both crossovers sit between 1.7e5 and 3.3e5 MACs per batch; the threshold is put at 3e5. (The numpy path
# needs Numba too, for its fused elementwise passes; "not available" means a broken install.)
AUTO_NUMPY_MIN_BATCH_MACS = 300_000


def choose(spec, batch_size: int) -> str:
    """The path ``backend="auto"`` picks for this network and batch size (see the crossover above)."""
    macs = batch_size * sum(a * b for a, b in zip(spec.layer_sizes[:-1], spec.layer_sizes[1:]))
    numba_ok = available("numba")
    if batch_size >= 2 and (macs >= AUTO_NUMPY_MIN_BATCH_MACS or not numba_ok):
        return "numpy"
    return "numba" if numba_ok else "numpy"

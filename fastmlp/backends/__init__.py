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
# one compiled call, with no per-batch Python overhead. Large batches on wide layers are the numpy path's:
# its matrix products run in BLAS on both cores. The crossover (benchmarks/bench_crossover.py; figures in
# docs/performance.md): on the [16, 64, 64, 1] network Numba wins at every batch size up to 1024; on
# [784, 256, 128, 10] numpy wins from a batch of 16 up. A layer product of B x n_in x n_out is BLAS-bound
# from about 2 * 10^5 multiply-adds per batch on this machine.
AUTO_MIN_BATCH_FOR_NUMPY = 16
AUTO_MIN_BATCH_MACS_FOR_NUMPY = 2_000_000


def choose(spec, batch_size: int) -> str:
    """The path ``backend="auto"`` picks for this network and batch size."""
    if batch_size >= AUTO_MIN_BATCH_FOR_NUMPY:
        macs = batch_size * sum(a * b for a, b in zip(spec.layer_sizes[:-1], spec.layer_sizes[1:]))
        if macs >= AUTO_MIN_BATCH_MACS_FOR_NUMPY or not available("numba"):
            return "numpy"
    return "numba" if available("numba") else "numpy"

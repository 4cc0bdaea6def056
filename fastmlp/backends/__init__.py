"""The training paths, and the one protocol each implements.

Three paths compute the contract's training (``docs/contract.md``), each a package of its own:

* ``reference`` (alias ``"python"``): the specification, pure Python, one derivative a line;
* ``numba``: the whole epoch, per-sample loop included, in one compiled call (kernels from ``numba/_codegen``);
* ``numpy``: mini-batches through BLAS matrix products, with the elementwise work in compiled passes
  (``numpy/_fused``); ``numpy/arrays`` also serves ``MLP.predict``, ``loss`` and ``gradients``.

The modules beside them are the Numba infrastructure both compiled paths share: ``_numba_config`` (the flags,
one place), ``_cache`` (where compiled code is kept, and how it is checked), ``_vmath`` (vectorisable exp, tanh,
sigmoid) and ``_finite`` (a finiteness test no fast-math flag removes).

Every path is a module implementing :class:`Path`; the registry below maps backend names to them. Modules are
imported on first use, so ``import fastmlp`` does not pay for Numba until a compiled path is used.
"""
from __future__ import annotations

import importlib
from typing import NamedTuple, Protocol

import numpy as np


class EpochResult(NamedTuple):
    """What one call of a path's ``train_epoch`` reports.

    ``loss_sum`` is the sum of the per-sample losses of the samples trained on (each times its sample weight,
    when there are weights); ``n_seen`` their number; ``bad_position`` is the position in ``order`` of the
    first sample whose loss was not finite, or -1; ``weight_sum`` the sum of their weights (``n_seen`` without
    weights), so that ``loss_sum / weight_sum`` is the epoch's (weighted) mean loss. ``bad_update`` is true
    when the path stopped because a batch's update would have made the parameters or the optimiser state
    non-finite (``bad_position`` is then the batch's first position); only this path checks that itself, the
    fast paths leave it to the caller (``fastmlp._guard``).
    """

    loss_sum: float
    n_seen: int
    bad_position: int
    weight_sum: float
    bad_update: bool = False


class Path(Protocol):
    """What every path module provides (``reference`` is the specification; the others must agree with it
    within ``BOUNDS``)."""

    def prepare(self, spec, dtype, batch_size: int, threads: int = 1):
        """The workspace one fit allocates once and hands to every ``train_epoch`` call. ``threads``: how many
        threads the per-sample loop runs on (more than one on the Numba path only; ``MLP.fit`` checks it)."""

    def train_epoch(self, spec, params: np.ndarray, X: np.ndarray, Y: np.ndarray, order: np.ndarray, lr: float,
                    batch_size: int, workspace=None, opt=None, sample_weight: np.ndarray | None = None,
                    interrupt=None) -> EpochResult:
        """One epoch of the contract's training, in place on ``params`` (and on ``opt``'s state).

        ``X`` (n, n0) and ``Y`` (n, nL) are C-contiguous arrays of ``params.dtype``; ``order`` (int64) the rows
        to visit, batches of ``batch_size`` consecutive entries; ``opt`` an ``optim.OptimizerState`` (plain SGD
        when None); ``sample_weight`` one weight per row of ``X`` or None; ``interrupt`` an
        ``_guard.Interrupt`` whose ``check()`` a path may call between batches."""


# The contract's agreement bounds, max|p_path - p_reference| / max|p_reference| (docs/contract.md): one epoch in
# float64; twenty epochs in float64; one epoch of a float32 model against the float64 reference from the same
# rounded parameters. Tests, the benchmarks and the demo all read them here.
BOUNDS = {"float64": 1e-12, "float64_20_epochs": 1e-9, "float32": 1e-4}

# backend name -> package (relative to this one)
_MODULES = {
    "reference": "reference",
    "numpy": "numpy",
    "numba": "numba",
}
ALIASES = {"python": "reference"}     # the reference's first name, kept

BACKENDS = tuple(_MODULES)
CHOICES = BACKENDS + tuple(ALIASES) + ("auto",)


class CacheError(RuntimeError):
    """fastmlp's compiled-code cache cannot be used safely (the message says why and how to fix it; see
    ``_cache``). Defined here, where importing it does not import Numba."""


def canonical(name: str) -> str:
    """The registry's name for ``name`` (``"python"`` is ``"reference"``)."""
    return ALIASES.get(name, name)


def get(name: str) -> Path:
    """The module of the path called ``name`` (one of ``BACKENDS`` or ``ALIASES``)."""
    return importlib.import_module(f".{_MODULES[canonical(name)]}", __name__)


def available(name: str) -> bool:
    """Whether the path can run here (Numba may be missing or broken)."""
    try:
        get(name)
    except ImportError:
        return False
    return True


# The automatic choice. Per-sample and small-batch SGD is the Numba path's home: it runs the whole epoch in one
# compiled call with no per-batch Python overhead. Large batches of work are the numpy path's: its matrix products run
# in BLAS on both cores, and its per-batch overhead (~10 us, and ~7 us a layer) is spread over the batch. What decides
# is the work in one batch, batch_size x (multiply-adds of one sample's forward pass), the batch size itself and the
# dtype: the numpy path from AUTO_NUMPY_MIN_BATCH_MACS multiply-adds a batch, or from AUTO_NUMPY_LARGE_BATCH rows when
# a batch holds at least AUTO_NUMPY_LARGE_BATCH_MIN_MACS.
#
# Measured (numpy's speed over numba's, `MLP.fit` of one epoch, median of 5, BLAS variables unset; 2026-12-05, two
# sittings of `benchmarks/auto_crossover.py --small`, 18 networks x batch sizes x SGD/Adam x both dtypes;
# docs/performance.md, "The automatic choice"): the crossover sits anywhere from 2e4 to 6e5 multiply-adds a batch.
# Small classifiers (a softmax over 3-10 outputs, narrow layers: [64, 16, 10], [4, 100, 3]) cross at batch 32-128 and
# 2e4-1.5e5 multiply-adds; one-output networks ([100, 50, 1], [16, 64, 64, 1], [10, 100, 1]) at batch 16-512 and
# 8e4-6e5 or more; W3 [784, 256, 128, 10] at batch 2-4; [2, 2, 1] and [4, 8, 1] not below 512. Against every measured
# point the rule below costs a geometric mean of 1-3 % over the faster path (three sittings, both dtypes), where the
# one threshold of 3e5 / 6e5 it replaces cost 6-7 % / 11-14 %, and up to 2.3x / 3.3x on small classifiers at batch
# 128-512 (scikit-learn's default batch of 200: [64, 16, 10] on digits, numpy 1.56x faster, was given to Numba).
AUTO_NUMPY_MIN_BATCH_MACS = {"float64": 100_000, "float32": 200_000}
AUTO_NUMPY_LARGE_BATCH = 128
AUTO_NUMPY_LARGE_BATCH_MIN_MACS = 50_000


def choose(spec, batch_size: int, dtype="float64") -> str:
    """The path ``backend="auto"`` picks for this network, batch size and dtype (see the crossover above)."""
    macs = batch_size * sum(n_in * n_out for n_in, n_out in spec.shapes)
    large = batch_size >= AUTO_NUMPY_LARGE_BATCH and macs >= AUTO_NUMPY_LARGE_BATCH_MIN_MACS
    enough = macs >= AUTO_NUMPY_MIN_BATCH_MACS[np.dtype(dtype).name]
    return "numpy" if batch_size >= 2 and (enough or large) else "numba"


def resolve(backend, spec, batch_size: int, dtype) -> str:
    """The path a fit asked for ``backend`` (a checked value: a name, an alias, or None/``"auto"``) trains on."""
    return choose(spec, batch_size, dtype) if backend in (None, "auto") else canonical(backend)

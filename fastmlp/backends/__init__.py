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
# is the work in one batch, batch_size x (multiply-adds of one sample's forward pass), the dtype, and whether the
# network has one output or several: numpy from AUTO_NUMPY_MIN_BATCH_MACS multiply-adds a batch, and with several
# outputs also from AUTO_NUMPY_CLASSES_MIN_BATCH rows when a batch holds AUTO_NUMPY_CLASSES_MIN_MACS.
#
# Measured (numpy's speed over numba's, `MLP.fit` of one epoch, median of 5, BLAS variables unset; three sittings of
# `benchmarks/auto_crossover.py --small` on 2026-12-05, 18 networks x batch sizes x SGD/Adam x both dtypes;
# docs/performance.md, "The automatic choice"). Networks with one output cross anywhere from 8e4 to beyond 6e5
# multiply-adds a batch ([100, 50, 1] at batch 16-32, [16, 64, 64, 1] at 32-64, [10, 100, 1] beyond 512): the
# thresholds set from W2 and W3 (float64 between 1.7e5 and 4.7e5, float32 between 3.3e5 and 9.4e5) stand for them.
# Networks with several outputs (softmax classifiers: [64, 16, 10], [4, 100, 3], [20, 50, 5]) cross at batch 32-128
# and 2e4-1.5e5 multiply-adds, where the Numba path spends 0.6-1.1 ns a multiply-add against 0.4 on [10, 100, 1];
# under the one threshold they lost up to 2.3x (float64) and 3.3x (float32) at batch 128-512, scikit-learn's default
# batch of 200 among them ([64, 16, 10] on digits: numpy 1.56x faster, given to Numba). Over every measured point this
# rule costs a geometric mean of 1-3 % over the faster path, the one threshold 6-7 % (float64) and 11-14 % (float32).
AUTO_NUMPY_MIN_BATCH_MACS = {"one output": {"float64": 300_000, "float32": 600_000},
                             "several outputs": {"float64": 100_000, "float32": 200_000}}
AUTO_NUMPY_CLASSES_MIN_BATCH = 64
AUTO_NUMPY_CLASSES_MIN_MACS = 20_000


def choose(spec, batch_size: int, dtype="float64") -> str:
    """The path ``backend="auto"`` picks for this network, batch size and dtype (see the crossover above)."""
    if batch_size < 2:
        return "numba"
    macs = batch_size * sum(n_in * n_out for n_in, n_out in spec.shapes)
    several = spec.layer_sizes[-1] > 1
    if macs >= AUTO_NUMPY_MIN_BATCH_MACS["several outputs" if several else "one output"][np.dtype(dtype).name]:
        return "numpy"
    if several and batch_size >= AUTO_NUMPY_CLASSES_MIN_BATCH and macs >= AUTO_NUMPY_CLASSES_MIN_MACS:
        return "numpy"
    return "numba"


def resolve(backend, spec, batch_size: int, dtype) -> str:
    """The path a fit asked for ``backend`` (a checked value: a name, an alias, or None/``"auto"``) trains on."""
    return choose(spec, batch_size, dtype) if backend in (None, "auto") else canonical(backend)

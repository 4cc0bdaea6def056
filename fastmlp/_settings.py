"""``MLP.fit``'s arguments, checked and turned into one settings object before any work starts.

:func:`settle` validates every argument (scalars against ``_params.CONSTRAINTS``, arrays with
``_validation``), holds out the validation rows, opens the data source, picks the path and allocates its
workspace. When any of it fails, the model is as it was: the one thing it may have touched, the generator the
hold-out draws from, is put back. What it returns, a :class:`FitRun`, is all the training loop reads.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import _guard, backends
from ._params import InvalidParameterError, check, short
from ._progress import TrainingProgress
from ._validation import check_any_X, check_sample_weight, check_Y, is_sparse
from .optim import OptimizerState, as_optimizer
from .schedule import Plan, as_schedule, as_stopping
from .streaming import IterableSource, make_source


@dataclass
class FitRun:
    """One fit's settings and what it set up: everything the epoch loop of ``MLP.fit`` reads."""

    epochs: int
    batch_size: int
    shuffle: bool
    rng: np.random.Generator
    backend: str                       # the registry's name of the path
    path: backends.Path
    workspace: object
    source: object                     # a streaming source: yields (chunk, order) per epoch
    validation: tuple | None           # (X_val, Y_val), checked
    sample_weight: np.ndarray | None
    plan: Plan
    stopping: object                   # schedule.Stopping
    optimizer: object                  # optim.SGD or optim.Adam
    n_params: int
    dtype: np.dtype
    callbacks: list
    progress: bool
    weight_scale: float = 1.0          # what check_sample_weight multiplied the weights by (OptimizerState.weigh)
    threads: int = 1                   # threads of the Numba path's per-sample loop
    interrupt: _guard.Interrupt = field(default_factory=_guard.Interrupt)
    samples_seen: int = 0              # in this fit, before the current epoch (the invscaling schedule's t)

    def optimizer_state(self, previous) -> OptimizerState:
        """``previous`` when it holds the same optimiser (a warm start), else a fresh state; its ``l2`` in the units
        of this fit's sample weights."""
        state = previous
        if state is None or state.optimizer != self.optimizer:
            state = OptimizerState(self.optimizer, self.n_params, self.dtype)
        state.weigh(self.weight_scale)
        return state

    @contextlib.contextmanager
    def progress_bar(self):
        bar = TrainingProgress(self.epochs, self.source.n_rows) if self.progress else None
        try:
            yield bar
        finally:
            if bar is not None:
                bar.close()


def settle(model, X, y, *, epochs, lr, batch_size, optimizer, schedule, stopping, validation_data,
           validation_fraction, sample_weight, shuffle, seed, backend, chunk_rows, progress, callbacks,
           threads=None) -> FitRun:
    """Every argument of ``model.fit`` checked and converted (see the module's notes)."""
    epochs, lr, batch_size = check("epochs", epochs), check("lr", lr), check("batch_size", batch_size)
    shuffle, seed, progress = check("shuffle", shuffle), check("seed", seed), check("progress", progress)
    backend, threads = check("backend", backend), check("threads", threads)
    chunk_rows = check("chunk_rows", chunk_rows)
    optimizer, schedule, stopping = as_optimizer(optimizer), as_schedule(schedule), as_stopping(stopping)
    callbacks = check_callbacks(callbacks)
    if validation_data is not None and validation_fraction is not None:
        raise InvalidParameterError("give validation_data or validation_fraction, not both")
    check_stopping_needs(stopping, validation_data is not None or validation_fraction is not None,
                         "validation_data or validation_fraction")
    spec, dtype = model.spec, model.dtype
    # in memory: arrays, or a sparse X (read a chunk at a time, but its weights and y are in memory too)
    in_memory = is_sparse(X) or not (isinstance(X, (str, os.PathLike, np.memmap)) or chunk_rows is not None
                                     or y is None)
    rng_state = model.rng.bit_generator.state
    weight_scale = 1.0
    try:
        rng = np.random.default_rng(seed) if seed is not None else model.rng
        validation = check_validation_data(validation_data, spec, dtype)
        if sample_weight is not None:
            if not in_memory:
                raise InvalidParameterError("sample_weight needs in-memory arrays X and y")
            sample_weight, weight_scale = check_sample_weight(sample_weight, np.shape(X)[0], dtype, return_scale=True)
        if validation_fraction is not None:
            if isinstance(X, np.memmap) or not hasattr(X, "__len__") or y is None:
                raise InvalidParameterError("validation_fraction needs in-memory arrays X and y; give "
                                            "validation_data for data read out of core")
            X = check_any_X(X, spec, dtype)
            y = check_Y(y, spec, dtype, X.shape[0])
            train, val = validation_split(X.shape[0], validation_fraction, rng)
            X, y, validation = X[train], y[train], (X[val], y[val])
            sample_weight = None if sample_weight is None else sample_weight[train]
        source = make_source(X, y, spec, dtype, chunk_rows)
        if isinstance(source, IterableSource) and not source.reiterable and epochs > 1:
            raise InvalidParameterError(f"epochs must be 1 with a one-shot iterator of chunks (got {epochs}); pass "
                                        "a list or another re-iterable object to train for several epochs")
        name = backends.resolve(backend, spec, batch_size, dtype)
        threads = check_threads(threads, name, batch_size, spec)
        path = backends.get(name)
        workspace = path.prepare(spec, dtype, min(batch_size, source.chunk_rows or batch_size), threads)
    except BaseException:
        model.rng.bit_generator.state = rng_state
        raise
    return FitRun(epochs=epochs, batch_size=batch_size, shuffle=shuffle, rng=rng, backend=name, path=path,
                  workspace=workspace, source=source, validation=validation, sample_weight=sample_weight,
                  plan=Plan(lr, schedule, stopping), stopping=stopping, optimizer=optimizer,
                  n_params=spec.n_params, dtype=dtype, callbacks=callbacks, progress=progress,
                  weight_scale=weight_scale, threads=threads)


def check_threads(threads, backend, batch_size, spec) -> int:
    """How many threads the fit's per-sample loop runs on: ``threads``, or for None the network's choice
    (``backends.numba.threads_for``); more than one only on the Numba path with ``batch_size=1``."""
    per_sample = backend == "numba" and batch_size == 1
    if threads is None:
        return backends.get("numba").threads_for(spec) if per_sample else 1
    if threads > 1 and not per_sample:
        raise InvalidParameterError(
            f"threads={threads} splits the Numba path's per-sample loop; it needs backend='numba' (or 'auto') and "
            f"batch_size=1, got backend={backend!r} and batch_size={batch_size} (give threads=None or 1)")
    cores = backends.get("numba").physical_cores() if threads > 1 else 1
    if threads > cores:
        warnings.warn(f"threads={threads} is more than this machine's {cores} physical cores: the threads meet "
                      f"several times a sample and will wait for each other's turns (threads=None chooses at most "
                      f"{cores})", RuntimeWarning, stacklevel=5)
    return threads


def check_validation_data(validation_data, spec, dtype):
    """``(X_val, Y_val)`` checked (a sparse ``X_val`` kept sparse), or None."""
    if validation_data is None:
        return None
    if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
        raise InvalidParameterError(f"validation_data must be a pair (X_val, y_val), got {short(validation_data)}")
    X_val = check_any_X(validation_data[0], spec, dtype, name="validation_data[0]")
    return X_val, check_Y(validation_data[1], spec, dtype, X_val.shape[0], name="validation_data[1]")


def validation_rows(n: int, fraction: float) -> int:
    """How many of ``n`` rows ``validation_fraction=fraction`` holds out: ``ceil(fraction * n)``, checked to
    leave at least one row on each side."""
    fraction = check("validation_fraction", fraction)
    n_val = int(np.ceil(fraction * n))
    if not 1 <= n_val < n:
        raise InvalidParameterError(f"validation_fraction={fraction} leaves {n - n_val} of {n} rows to train on")
    return n_val


def validation_split(n: int, fraction: float, rng, labels=None) -> tuple:
    """``(train, val)``: row indices that hold out ``ceil(fraction * n)`` of ``n`` rows as validation data,
    chosen by ``rng.permutation(n)`` (the training rows in their original order). What ``fit`` does with
    ``validation_fraction``, and the estimators with ``early_stopping``.

    With ``labels`` (one class label per row: the classifier's), the split is stratified as scikit-learn's
    ``train_test_split(stratify=y)``: each class held out in proportion (its share of the validation rows rounded
    down, the rows left to the classes with the largest remainders), refusing what scikit-learn refuses
    (:func:`check_stratifiable`)."""
    n_val = validation_rows(n, fraction)
    if labels is None:
        perm = rng.permutation(n)
        return np.sort(perm[n_val:]), perm[:n_val]
    classes, inverse, counts = check_stratifiable(labels, n_val)
    ideal = counts * (n_val / n)
    take = np.floor(ideal).astype(np.int64)
    by_remainder = np.lexsort((rng.random(len(classes)), -counts, -(ideal - take)))
    take[by_remainder[:n_val - int(take.sum())]] += 1
    val = np.concatenate([rng.permutation(np.flatnonzero(inverse == c))[:take[c]] for c in range(len(classes))])
    val = rng.permutation(val)
    return np.setdiff1d(np.arange(n), val), val


def check_stratifiable(labels, n_val: int) -> tuple:
    """``(classes, inverse, counts)`` of ``labels`` if ``n_val`` of its rows can be held out stratified; else
    scikit-learn's ``ValueError`` for it (a class of one row; fewer validation or training rows than classes)."""
    classes, inverse, counts = np.unique(np.asarray(labels), return_inverse=True, return_counts=True)
    n = int(counts.sum())
    if counts.min() < 2:
        # scikit-learn names the classes of its binarised column as strings of booleans
        too_few = [str(bool(c)) if len(classes) <= 2 else str(c) for c in classes[counts < 2]]
        raise ValueError("The least populated classes in y have only 1 member, which is too few. The minimum number "
                         f"of groups for any class cannot be less than 2. Classes with too few members are: {too_few}")
    if n_val < len(classes):
        raise ValueError(f"The test_size = {n_val} should be greater or equal to the number of classes = "
                         f"{len(classes)}")
    if n - n_val < len(classes):
        raise ValueError(f"The train_size = {n - n_val} should be greater or equal to the number of classes = "
                         f"{len(classes)}")
    return classes, inverse.ravel(), counts


def check_stopping_needs(stopping, validation: bool, where: str):
    """``Stopping(restore_best=True)`` and ``Stopping(score=...)`` watch validation data: refused without it."""
    for name in ("restore_best", "score"):
        value = getattr(stopping, name)
        if value not in (None, False) and not validation:
            raise InvalidParameterError(f"stopping=Stopping({name}={short(value)}) needs validation data ({where})")


def check_callbacks(callbacks) -> list:
    if callbacks is None:
        return []
    if callable(callbacks) or isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
        raise InvalidParameterError(f"callbacks must be a list of callables, got {short(callbacks)}")
    callbacks = list(callbacks)
    for k, callback in enumerate(callbacks):
        if not callable(callback):
            raise InvalidParameterError(f"callbacks[{k}] must be callable as callback(epoch, history, model), got "
                                        f"{short(callback)}")
    return callbacks

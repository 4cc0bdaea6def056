"""Built-in synthetic data sets, reproducible from a seed."""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

import numpy as np

from . import folder
from ._params import Integer, InvalidParameterError, check
from ._progress import show
from ._validation import make_spec


def placement(n: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The worked example's story as data: IQ and CGPA of placed students -> salary.

    Generating rule, with ``rng = numpy.random.default_rng(seed)``, drawn in this order::

        iq     ~ Normal(100, 15), clipped to [55, 145]
        cgpa   ~ Uniform(5, 10)
        salary = 2 + 4 * iq / 100 + 6 * cgpa / 10 + Normal(0, 0.5)   (lakh per annum)

    Returned scaled so that the worked example's network ``[2, 2, 1]`` (identity, mse) trains with per-sample SGD at a
    plain learning rate such as 0.01: ``X = [iq / 100, cgpa / 10]``, ``y = salary / 10``. The relation is
    linear, so that network can reach the noise floor, a mean squared error of ``0.05 ** 2 = 0.0025``.

    Parameters
    ----------
    n : int >= 1
        Number of students.
    seed : int
        Seed of the generator.

    Returns
    -------
    X : ndarray of shape (n, 2), float64
    y : ndarray of shape (n,), float64
    """
    n = check("n", n, [Integer(1)])
    check("seed", seed, [Integer(0)])
    rng = np.random.default_rng(seed)
    iq = np.clip(rng.normal(100.0, 15.0, n), 55.0, 145.0)
    cgpa = rng.uniform(5.0, 10.0, n)
    salary = 2.0 + 4.0 * iq / 100.0 + 6.0 * cgpa / 10.0 + rng.normal(0.0, 0.5, n)
    X = np.column_stack([iq / 100.0, cgpa / 10.0])
    return X, salary / 10.0


# --- the teacher: targets from a fixed random MLP, generated block by block -------------------------------------

BLOCK_ROWS = 65_536            # rows are drawn in blocks of this size, each from its own seed: (seed, 1, k)
TASKS = ("regression", "binary", "multiclass")


def _check_teacher_args(layer_sizes, activation, task, noise, seed):
    spec = make_spec(layer_sizes, activation, "mse", None)
    check("task", task)
    if task == "binary" and spec.n_outputs != 1:
        raise InvalidParameterError(f"task='binary' needs one output, got layer_sizes[-1]={spec.n_outputs}")
    if task == "multiclass" and spec.n_outputs < 2:
        raise InvalidParameterError(f"task='multiclass' needs at least 2 outputs, got layer_sizes[-1]="
                                    f"{spec.n_outputs}")
    check("noise", noise)
    check("seed", seed, [Integer(0)])
    return spec


def teacher_params(layer_sizes: Sequence[int], activation: str = "tanh", seed: int = 0) -> np.ndarray:
    """The teacher's parameters (flat, fastmlp's layout), from ``default_rng([seed, 0])``.

    Weights ``W[l] ~ Normal(0, 1 / n_l)`` (so hidden units are neither dead nor saturated on unit-variance
    inputs), biases ``b[l] ~ Normal(0, 0.1)``, layer by layer.
    """
    spec = _check_teacher_args(layer_sizes, activation, "regression", 0.0, seed)
    return spec, _teacher_params(spec, seed)


def _teacher_params(spec, seed):
    rng = np.random.default_rng([seed, 0])
    parts = []
    for n_in, n_out in zip(spec.layer_sizes[:-1], spec.layer_sizes[1:]):
        parts.append(rng.normal(0.0, 1.0 / np.sqrt(n_in), size=n_in * n_out))
        parts.append(rng.normal(0.0, 0.1, size=n_out))
    return np.concatenate(parts)


def _teacher_block(spec, params, task, noise, seed, k, dtype):
    """Block ``k`` (rows ``k * BLOCK_ROWS`` onwards): inputs, targets; always whole, always the same."""
    from .backends.numpy import arrays  # on first use: importing the numpy path loads Numba
    rng = np.random.default_rng([seed, 1, k])
    X = rng.standard_normal((BLOCK_ROWS, spec.n_inputs))
    eps = rng.standard_normal((BLOCK_ROWS, spec.n_outputs))
    Z, A = arrays.forward(spec, params, X)
    out = A[-1] + noise * eps
    if task == "regression":
        y = out
    elif task == "binary":
        y = (out[:, 0] > 0).astype(np.float64)
    else:
        y = out.argmax(axis=1)
    return X.astype(dtype), (y.astype(dtype) if task != "multiclass" else y.astype(np.int64))


def teacher(n: int, layer_sizes: Sequence[int], activation: str = "tanh", task: str = "regression",
            noise: float = 0.1, seed: int = 0, start: int = 0,
            dtype: str | np.dtype = "float32") -> tuple[np.ndarray, np.ndarray]:
    """Rows ``start .. start + n - 1`` of a teacher data set: inputs and the targets a fixed random MLP gives them.

    Generating rule: the teacher's parameters come from :func:`teacher_params`; rows are drawn in blocks of
    ``BLOCK_ROWS``, block ``k`` from ``numpy.random.default_rng([seed, 1, k])``, which draws first the
    inputs ``X ~ Normal(0, 1)`` of shape ``(BLOCK_ROWS, n0)``, then a noise block ``eps ~ Normal(0, 1)`` of shape
    ``(BLOCK_ROWS, nL)``. With ``t = teacher(X)`` (hidden ``activation``, identity output):

    * ``regression``: ``y = t + noise * eps``, shape ``(n, nL)``;
    * ``binary`` (``nL == 1``): ``y = 1 if t + noise * eps > 0 else 0``, shape ``(n,)``;
    * ``multiclass`` (``nL >= 2``): ``y = argmax(t + noise * eps)``, class indices ``(n,)``, int64.

    So any slice can be regenerated without the rows before it, and the rows do not depend on how the data
    are asked for. A student of the teacher's shape can reach the noise floor (for regression an mse of
    ``noise ** 2``). Computed in float64, returned in ``dtype``.
    """
    n, start, dtype = check("n", n), check("start", start), check("dtype", dtype)
    spec = _check_teacher_args(layer_sizes, activation, task, noise, seed)
    params = _teacher_params(spec, seed)
    Xs, ys = [], []
    k0, k1 = start // BLOCK_ROWS, (start + n + BLOCK_ROWS - 1) // BLOCK_ROWS
    for k in range(k0, k1):
        X, y = _teacher_block(spec, params, task, float(noise), seed, k, dtype)
        lo = max(start, k * BLOCK_ROWS) - k * BLOCK_ROWS
        hi = min(start + n, (k + 1) * BLOCK_ROWS) - k * BLOCK_ROWS
        Xs.append(X[lo:hi])
        ys.append(y[lo:hi])
    if not Xs:
        y_shape = (0, spec.n_outputs) if task == "regression" else (0,)
        return np.empty((0, spec.n_inputs), dtype), np.empty(y_shape, np.int64 if task == "multiclass" else dtype)
    return np.concatenate(Xs), np.concatenate(ys)


def write(path: str | os.PathLike, rows: int, layer_sizes: Sequence[int], generator: str = "teacher",
          activation: str = "tanh", task: str = "regression", noise: float = 0.1, seed: int = 0,
          dtype: str | np.dtype = "float32", progress: bool = False) -> dict:
    """Write a teacher data set (:func:`teacher`'s rows ``0 .. rows - 1``) to the folder ``path``: ``X.npy``,
    ``y.npy`` and ``manifest.json`` (the format of ``fastmlp.folder``).

    Memory stays bounded whatever ``rows`` is: blocks are generated one at a time and written into the ``.npy``
    files in place. Every argument is checked before anything in the folder changes. Returns the manifest.
    """
    check("generator", generator)
    rows = check("rows", rows)
    dtype = check("dtype", dtype)
    spec = _check_teacher_args(layer_sizes, activation, task, noise, seed)
    params = _teacher_params(spec, seed)
    y_shape = [rows, spec.n_outputs] if task == "regression" else [rows]
    y_dtype = np.dtype(np.int64 if task == "multiclass" else dtype)
    manifest = {"format": folder.FORMAT, "format_version": folder.FORMAT_VERSION, "generator": generator,
                "params": {"layer_sizes": list(spec.layer_sizes), "activation": activation, "task": task,
                           "noise": float(noise)},
                "seed": seed, "rows": rows, "dtype": dtype.name, "block_rows": BLOCK_ROWS,
                "X": {"file": "X.npy", "shape": [rows, spec.n_inputs], "dtype": dtype.name},
                "y": {"file": "y.npy", "shape": y_shape, "dtype": y_dtype.name}}
    return folder.write(path, manifest, lambda X_out, y_out: _fill(X_out, y_out, spec, params, task, noise, seed,
                                                                    dtype, rows, progress))


def _fill(X_out, y_out, spec, params, task, noise, seed, dtype, rows, progress):
    """The teacher's rows, block by block, into the memory-mapped ``.npy`` files being written."""
    t0 = time.perf_counter()
    n_blocks = (rows + BLOCK_ROWS - 1) // BLOCK_ROWS
    for k in range(n_blocks):
        X, y = _teacher_block(spec, params, task, float(noise), seed, k, dtype)
        lo, hi = k * BLOCK_ROWS, min(rows, (k + 1) * BLOCK_ROWS)
        X_out[lo:hi] = X[:hi - lo]
        y_out[lo:hi] = y[:hi - lo]
        if k % 16 == 15:                  # hand written pages back so resident memory stays bounded
            X_out.flush()
            y_out.flush()
            folder.drop_pages(X_out, y_out)
        if progress and (k % 16 == 15 or k == n_blocks - 1):
            show(hi, rows, f"rows, {hi / (time.perf_counter() - t0):,.0f} rows/s")
    if progress:
        print(file=sys.stderr)

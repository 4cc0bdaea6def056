"""Checks at the edge for arrays (``X``, ``y``, sample weights) and the network's description; scalar
arguments are checked against the table in ``_params``.

Errors name the argument, the value and what was expected. Nothing here changes what the user gave: arrays
are converted into new ones when their dtype or layout differs, never modified in place.
"""
from __future__ import annotations

import math

import numpy as np

from ._params import CONSTRAINTS, InvalidParameterError, check, short
from ._spec import LOSS_OUTPUT_ACTIVATION, NetSpec


def check_real_array(name, value, allow_bool=False) -> np.ndarray:
    """``value`` as an array of real numbers: complex, date and time, string, object and (unless
    ``allow_bool``: labels) boolean data are refused, naming the argument."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as e:       # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array of numbers ({e})") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {arr.dtype}; pass its real part "
                         f"({name}.real) if that is what you mean")
    if kind in "mM":
        raise TypeError(f"{name} must hold real numbers, got {arr.dtype} (dates or durations); convert them to "
                        "numbers first")
    if kind == "b" and not allow_bool:
        raise TypeError(f"{name} must hold numbers, got booleans; pass {name}.astype(float) if 0/1 is meant")
    if kind not in "iufb":
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    return arr


def make_spec(layer_sizes, activation, loss, output_activation) -> NetSpec:
    """The network's :class:`NetSpec`, from the constructor's arguments, checked."""
    sizes = check("layer_sizes", layer_sizes)
    check("activation", activation)
    check("loss", loss)
    implied = LOSS_OUTPUT_ACTIVATION[loss]
    if output_activation is None:
        output_activation = implied
    elif loss == "mse":
        check("output_activation", output_activation, CONSTRAINTS["activation"])
    elif output_activation != implied:
        raise InvalidParameterError(f"output_activation must be {implied!r} (or None) with loss={loss!r}, "
                                    f"got {short(output_activation)}")
    if loss == "cross_entropy" and sizes[-1] < 2:
        raise InvalidParameterError(f"loss='cross_entropy' needs at least 2 outputs, got "
                                    f"layer_sizes[-1]={sizes[-1]}; use loss='log_loss' for one output")
    return NetSpec(tuple(sizes), activation, output_activation, loss)


def check_X(X, spec, dtype, name="X") -> np.ndarray:
    """``X`` as a C-contiguous ``(n, n0)`` array of ``dtype``, all finite."""
    arr = check_real_array(name, X)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (n_samples, {spec.n_inputs}), got shape {arr.shape}")
    if arr.shape[1] != spec.n_inputs:
        raise ValueError(f"{name} must have {spec.n_inputs} columns (layer_sizes[0]), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must have at least one row, got shape {arr.shape}")
    return np.ascontiguousarray(check_finite(name, arr, dtype))


def check_finite(name, arr, dtype) -> np.ndarray:
    """Every value of ``arr`` finite once cast to ``dtype`` (1e39 is finite, but not in float32); returns that
    cast (``arr`` itself when it already has ``dtype``), so callers need not cast again."""
    with np.errstate(over="ignore", invalid="ignore"):
        cast = arr.astype(dtype, copy=False)
    finite = np.isfinite(cast)
    if not finite.all():
        where = np.argwhere(~finite)[0]
        row, value = int(where[0]), arr[tuple(where)].item()
        if np.isfinite(value):
            raise ValueError(f"{name} must be finite in {np.dtype(dtype).name}, the model's dtype; row {row} "
                             f"holds {value!r}, beyond its range (largest {np.finfo(dtype).max:.4g})")
        raise ValueError(f"{name} must be finite; row {row} holds NaN or infinity: {short(arr[row].tolist())}")
    return cast


def is_sparse(X) -> bool:
    """A SciPy sparse matrix or array (without importing SciPy)."""
    return type(X).__module__.startswith("scipy.sparse") and hasattr(X, "tocsr")


# Rows of a sparse X densified at once (training, prediction): about this many bytes of dense rows.
SPARSE_CHUNK_BYTES = 1 << 26


def sparse_chunk_rows(n_features, dtype) -> int:
    return max(1, SPARSE_CHUNK_BYTES // (max(1, n_features) * np.dtype(dtype).itemsize))


def check_sparse_X(X, spec, dtype, name="X"):
    """A sparse ``X`` as CSR of ``dtype`` (rows slice cheaply), its stored values finite, its shape the network's;
    never densified here."""
    if X.ndim != 2 or X.shape[1] != spec.n_inputs:
        raise ValueError(f"{name} must have shape (n_samples, {spec.n_inputs}), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} must have at least one row, got shape {X.shape}")
    X = X.tocsr()
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got {X.dtype}")
    data = check_finite(f"{name} (its stored values)", X.data, dtype)
    if data is not X.data or X.dtype != dtype:
        X = X.astype(dtype)
    return X


def check_any_X(X, spec, dtype, name="X"):
    """``X`` checked as :func:`check_X` does, or, sparse, as :func:`check_sparse_X` does (kept sparse)."""
    return check_sparse_X(X, spec, dtype, name=name) if is_sparse(X) else check_X(X, spec, dtype, name=name)


def dense_rows(X):
    """``(first_row, dense rows)`` of a checked ``X`` (:func:`check_any_X`) a chunk at a time: the array itself, or
    blocks of ``sparse_chunk_rows`` rows of a sparse matrix."""
    if not is_sparse(X):
        yield 0, X
        return
    step = sparse_chunk_rows(X.shape[1], X.dtype)
    for lo in range(0, X.shape[0], step):
        yield lo, np.ascontiguousarray(X[lo:lo + step].toarray())


def is_dask_array(a) -> bool:
    """A dask array (without importing dask)."""
    return type(a).__module__.startswith("dask.array")


def check_Y(y, spec, dtype, n_rows, name="y") -> np.ndarray:
    """Targets as a C-contiguous ``(n, nL)`` array of ``dtype``; class indices become one-hot rows."""
    arr = check_real_array(name, y, allow_bool=spec.loss != "mse")     # bool labels 0/1, never bool targets
    K = spec.n_outputs
    if arr.ndim == 0 or arr.ndim > 2:
        raise ValueError(f"{name} must have shape ({n_rows},) or ({n_rows}, {K}), got shape {arr.shape}")
    if arr.shape[0] != n_rows:
        raise ValueError(f"{name} must have one entry per row of X ({n_rows}), got {arr.shape[0]} "
                         f"(shape {arr.shape})")
    if arr.ndim == 2 and arr.shape[1] != K:
        raise ValueError(f"{name} must have {K} columns (layer_sizes[-1]), got shape {arr.shape}")
    check_finite(name, arr, dtype)

    if spec.loss == "cross_entropy":
        if arr.ndim == 1:
            codes = arr.astype(np.float64, copy=False)
            bad = (codes != np.round(codes)) | (codes < 0) | (codes >= K)
            if bad.any():
                k = int(np.argmax(bad))
                raise ValueError(f"{name} holds class indices, which must be integers in [0, {K}); "
                                 f"row {k} has {arr[k].item()!r}")
            out = np.zeros((n_rows, K), dtype=dtype)
            out[np.arange(n_rows), codes.astype(np.int64)] = 1
            return out
        one_hot = ((arr == 0) | (arr == 1)).all(axis=1) & (arr.sum(axis=1) == 1)
        if not one_hot.all():
            k = int(np.argmin(one_hot))
            raise ValueError(f"{name} of shape {arr.shape} must be one-hot rows (a single 1, zeros elsewhere) "
                             f"with loss='cross_entropy'; row {k} is {short(arr[k].tolist())}")
        return np.ascontiguousarray(arr, dtype=dtype)

    if arr.ndim == 1:
        if K != 1:
            raise ValueError(f"{name} must have shape ({n_rows}, {K}) for {K} outputs, got shape {arr.shape}")
        arr = arr.reshape(n_rows, 1)
    if spec.loss == "log_loss":
        bad = (arr != 0) & (arr != 1)
        if bad.any():
            k = int(np.argwhere(bad)[0][0])
            raise ValueError(f"{name} must hold labels 0 or 1 with loss='log_loss'; row {k} has "
                             f"{short(arr[k].tolist())}")
    if spec.loss == "poisson" and (arr < 0).any():
        k = int(np.argwhere(arr < 0)[0][0])
        raise ValueError(f"{name} must be >= 0 with loss='poisson' (counts or rates); row {k} has "
                         f"{short(arr[k].tolist())}")
    return np.ascontiguousarray(arr, dtype=dtype)


def check_sample_weight(sample_weight, n, dtype, name="sample_weight", return_scale=False):
    """One weight >= 0 per row, finite in ``dtype``, not all zero: a new contiguous array of ``dtype``, the given
    weights times a power of two (and, with ``return_scale``, that power of two)."""
    arr = check_real_array(name, sample_weight)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one weight per row of X, got shape {arr.shape}")
    arr = np.ascontiguousarray(check_finite(name, arr, dtype))
    if (arr < 0).any():
        k = int(np.argmax(arr < 0))
        raise ValueError(f"{name} must be finite and >= 0; row {k} has {arr[k].item()!r}")
    if not arr.sum(dtype=np.float64) > 0:
        raise ValueError(f"{name} must not be all zero")
    # Only ratios of weights matter (weighted means); scaled by a power of two, exactly, so that the largest is in
    # [0.5, 1): a batch's sum of float32 weights near float32's top can then not overflow.
    exponent = -int(np.frexp(arr.max())[1])
    scaled = np.ldexp(arr, exponent).astype(dtype, copy=False)
    return (scaled, math.ldexp(1.0, exponent)) if return_scale else scaled

"""Checks at the edge: every argument is validated and converted here, before any work starts.

Errors name the argument, the value and what was expected. Nothing here changes what the user gave: arrays
are converted into new ones when their dtype or layout differs, never modified in place.
"""
from __future__ import annotations

import math
import numbers
import operator

import numpy as np

from ._spec import DTYPES, HIDDEN_ACTIVATIONS, LOSS_OUTPUT_ACTIVATION, LOSSES, NetSpec


def _short(value, limit=60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def check_int(name, value, minimum=None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_short(value)} of type {type(value).__name__}")
    value = operator.index(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_real(name, value, low=None, high=None, low_open=False, high_open=False) -> float:
    """A finite real number (Python's or any numpy real scalar, never a bool) within the bounds given."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_short(value)} of type {type(value).__name__}")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or too_low or too_high:
        if low is not None and high is not None:
            where = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            where = f"a finite number {'>' if low_open else '>='} {low:g}"
        else:
            where = f"a finite number {'<' if high_open else '<='} {high:g}"
        raise ValueError(f"{name} must be {where}, got {value!r}")
    return value


def check_positive_float(name, value) -> float:
    return check_real(name, value, low=0.0, low_open=True)


def check_seed(name, value):
    """``None`` or an integer >= 0 (what ``numpy.random.default_rng`` takes, named in the error)."""
    return None if value is None else check_int(name, value, minimum=0)


def check_choice(name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {_short(value)}")
    return value


def check_dtype(value) -> np.dtype:
    try:
        dtype = np.dtype(value)
    except TypeError:
        dtype = None
    if dtype is None or dtype.name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(map(repr, DTYPES))}; got {_short(value)}")
    return dtype


def check_layer_sizes(layer_sizes, name="layer_sizes") -> list:
    """``[n0, ..., nL]`` from a list, a tuple or a 1-D integer array: at least two integers, each >= 1."""
    if isinstance(layer_sizes, np.ndarray):
        if layer_sizes.ndim != 1:
            raise TypeError(f"{name} must be a sequence (list, tuple or 1-D array) of integers such as [2, 2, 1], "
                            f"got an array of shape {layer_sizes.shape}")
        layer_sizes = layer_sizes.tolist()
    if not isinstance(layer_sizes, (list, tuple)):
        raise TypeError(f"{name} must be a sequence (list, tuple or 1-D array) of integers such as [2, 2, 1], got "
                        f"{_short(layer_sizes)}")
    sizes = list(layer_sizes)
    if len(sizes) < 2:
        raise ValueError(f"{name} must have at least two entries (inputs and outputs), got {_short(layer_sizes)}")
    for k, n in enumerate(sizes):
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
            raise TypeError(f"{name}[{k}] must be an integer, got {_short(n)} in {_short(layer_sizes)}")
        if n < 1:
            raise ValueError(f"{name}[{k}] must be >= 1, got {n} in {_short(layer_sizes)}")
    return [int(n) for n in sizes]


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
    sizes = check_layer_sizes(layer_sizes)
    check_choice("activation", activation, HIDDEN_ACTIVATIONS)
    check_choice("loss", loss, LOSSES)
    implied = LOSS_OUTPUT_ACTIVATION[loss]
    if output_activation is None:
        output_activation = implied
    elif loss == "mse":
        check_choice("output_activation", output_activation, HIDDEN_ACTIVATIONS)
    elif output_activation != implied:
        raise ValueError(f"output_activation must be {implied!r} (or None) with loss={loss!r}, "
                         f"got {_short(output_activation)}")
    if loss == "cross_entropy" and sizes[-1] < 2:
        raise ValueError(f"loss='cross_entropy' needs at least 2 outputs, got layer_sizes[-1]={sizes[-1]}; "
                         "use loss='log_loss' for one output")
    return NetSpec(tuple(int(n) for n in sizes), activation, output_activation, loss)


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
        raise ValueError(f"{name} must be finite; row {row} holds NaN or infinity: {_short(arr[row].tolist())}")
    return cast


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
                             f"with loss='cross_entropy'; row {k} is {_short(arr[k].tolist())}")
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
                             f"{_short(arr[k].tolist())}")
    return np.ascontiguousarray(arr, dtype=dtype)


def check_sample_weight(sample_weight, n, dtype, name="sample_weight") -> np.ndarray:
    """One weight >= 0 per row, finite in ``dtype``, not all zero: a new contiguous array of ``dtype``."""
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
    return np.ldexp(arr, -int(np.frexp(arr.max())[1])).astype(dtype, copy=False)

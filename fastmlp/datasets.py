"""Built-in synthetic data sets, reproducible from a seed."""
from __future__ import annotations

import numpy as np

from ._validation import check_dtype, check_int, check_real


def placement(n=1000, seed=0):
    """The seed's story as data: IQ and CGPA of placed students -> salary.

    Generating rule, with ``rng = numpy.random.default_rng(seed)``, drawn in this order::

        iq     ~ Normal(100, 15), clipped to [55, 145]
        cgpa   ~ Uniform(5, 10)
        salary = 2 + 4 * iq / 100 + 6 * cgpa / 10 + Normal(0, 0.5)   (lakh per annum)

    Returned scaled so that the seed network ``[2, 2, 1]`` (identity, mse) trains with per-sample SGD at a
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
    n = check_int("n", n, minimum=1)
    check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    iq = np.clip(rng.normal(100.0, 15.0, n), 55.0, 145.0)
    cgpa = rng.uniform(5.0, 10.0, n)
    salary = 2.0 + 4.0 * iq / 100.0 + 6.0 * cgpa / 10.0 + rng.normal(0.0, 0.5, n)
    X = np.column_stack([iq / 100.0, cgpa / 10.0])
    return X, salary / 10.0


# --- the teacher: targets from a fixed random MLP, generated block by block -------------------------------------

BLOCK_ROWS = 65_536            # rows are drawn in blocks of this size, each from its own seed: (seed, 1, k)
TASKS = ("regression", "binary", "multiclass")
FORMAT = "fastmlp-dataset"
FORMAT_VERSION = 1


def _check_teacher_args(layer_sizes, activation, task, noise, seed):
    from ._validation import check_choice, make_spec
    spec = make_spec(layer_sizes, activation, "mse", None)
    check_choice("task", task, TASKS)
    if task == "binary" and spec.n_outputs != 1:
        raise ValueError(f"task='binary' needs one output, got layer_sizes[-1]={spec.n_outputs}")
    if task == "multiclass" and spec.n_outputs < 2:
        raise ValueError(f"task='multiclass' needs at least 2 outputs, got layer_sizes[-1]={spec.n_outputs}")
    check_real("noise", noise, low=0.0)
    check_int("seed", seed, minimum=0)
    return spec


def teacher_params(layer_sizes, activation="tanh", seed=0):
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
    from .backends.numpy import arrays
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


def teacher(n, layer_sizes, activation="tanh", task="regression", noise=0.1, seed=0, start=0, dtype="float32"):
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
    n = check_int("n", n, minimum=0)
    start = check_int("start", start, minimum=0)
    dtype = check_dtype(dtype)
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


def write(path, rows, layer_sizes, generator="teacher", activation="tanh", task="regression", noise=0.1,
          seed=0, dtype="float32", progress=False):
    """Write a teacher data set to the folder ``path``: ``X.npy``, ``y.npy`` and ``manifest.json``.

    Memory stays bounded whatever ``rows`` is: blocks are generated one at a time and written into
    ``.npy`` files opened for writing in place; the manifest is written last (a folder without one is not
    a data set), through a temporary file and a rename.

    Returns the manifest (a dict).
    """
    import json
    import os
    import tempfile
    from pathlib import Path


    from ._validation import check_choice
    # everything is checked before anything in the folder changes
    check_choice("generator", generator, ("teacher",))
    rows = check_int("rows", rows, minimum=1)
    dtype = check_dtype(dtype)
    spec = _check_teacher_args(layer_sizes, activation, task, noise, seed)
    params = _teacher_params(spec, seed)
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder}: exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / "manifest.json"
    y_shape = (rows, spec.n_outputs) if task == "regression" else (rows,)
    y_dtype = np.int64 if task == "multiclass" else dtype
    # new files under temporary names (never written through an existing X.npy, which may be a link), renamed
    # into place once whole: until then the old data set, if any, is untouched
    tmp = {}
    umask = os.umask(0)
    os.umask(umask)
    for name in ("X", "y", "manifest"):
        fd, tmp[name] = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~umask)             # as a plain open() would make them: readable by others
        os.close(fd)
    try:
        try:
            X_out = np.lib.format.open_memmap(tmp["X"], mode="w+", dtype=dtype, shape=(rows, spec.n_inputs))
            y_out = np.lib.format.open_memmap(tmp["y"], mode="w+", dtype=y_dtype, shape=y_shape)
        except (OSError, ValueError) as e:
            size = rows * (spec.n_inputs * dtype.itemsize + int(np.prod(y_shape[1:])) * np.dtype(y_dtype).itemsize)
            raise OSError(getattr(e, "errno", None), f"{folder}: cannot make files of {rows:,} rows "
                          f"({size:,} bytes) there ({e})") from None
        _fill(X_out, y_out, spec, params, task, noise, seed, dtype, rows, progress)
        del X_out, y_out
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "generator": generator,
                    "params": {"layer_sizes": list(spec.layer_sizes), "activation": activation, "task": task,
                               "noise": float(noise)},
                    "seed": seed, "rows": rows, "dtype": dtype.name, "block_rows": BLOCK_ROWS,
                    "X": {"file": "X.npy", "shape": [rows, spec.n_inputs], "dtype": dtype.name},
                    "y": {"file": "y.npy", "shape": list(y_shape), "dtype": np.dtype(y_dtype).name}}
        Path(tmp["manifest"]).write_text(json.dumps(manifest, indent=1))
        # the swap: the old manifest goes first, so that no moment shows a manifest beside files it does not
        # describe; the new one comes last (a folder without one is not a data set)
        manifest_path.unlink(missing_ok=True)
        os.replace(tmp["X"], folder / "X.npy")
        os.replace(tmp["y"], folder / "y.npy")
        os.replace(tmp["manifest"], manifest_path)
    finally:
        for name in tmp.values():
            if os.path.exists(name):
                os.unlink(name)
    return manifest


def _fill(X_out, y_out, spec, params, task, noise, seed, dtype, rows, progress):
    """The teacher's rows, block by block, into the memory-mapped ``.npy`` files being written."""
    import sys
    import time
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
            _drop_pages(X_out, y_out)
        if progress and (k % 16 == 15 or k == n_blocks - 1):
            from ._progress import show
            show(hi, rows, f"rows, {hi / (time.perf_counter() - t0):,.0f} rows/s")
    X_out.flush()
    y_out.flush()
    if progress:
        print(file=sys.stderr)


def _drop_pages(*arrays):
    """Ask the kernel to drop written pages of memory-mapped arrays from this process (Linux; a no-op elsewhere)."""
    import mmap
    for a in arrays:
        m = getattr(a, "_mmap", None)
        if m is not None and hasattr(m, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
            try:
                m.madvise(mmap.MADV_DONTNEED)
            except (OSError, ValueError):
                pass

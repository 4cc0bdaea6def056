"""``W <- W + alpha * A.T @ D`` as one BLAS call (GEMM with beta = 1), from the OpenBLAS numpy ships.

numpy's ``matmul`` has no ``beta``: the plain-SGD update ``W -= (lr/B) * A.T @ delta`` costs a product into a
buffer and then a pass that reads it back and reads and writes ``W``. GEMM with ``beta = 1`` accumulates into
``W`` directly. The routine is looked up in numpy's bundled ``scipy_openblas64_`` library (the wheels on
PyPI); where it is not found (another numpy build), ``gemm_update`` is None and the numpy path keeps matmul.
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


def _load():
    root = os.path.dirname(np.__file__)
    patterns = [os.path.join(root, os.pardir, "numpy.libs", "*openblas64*"), os.path.join(root, ".dylibs", "*openblas64*")]
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            try:
                lib = ctypes.CDLL(path)
                dgemm, sgemm = lib.scipy_cblas_dgemm64_, lib.scipy_cblas_sgemm64_
            except (OSError, AttributeError):
                continue
            i, i64, p = ctypes.c_int, ctypes.c_int64, ctypes.c_void_p
            dgemm.argtypes = [i, i, i, i64, i64, i64, ctypes.c_double, p, i64, p, i64, ctypes.c_double, p, i64]
            sgemm.argtypes = [i, i, i, i64, i64, i64, ctypes.c_float, p, i64, p, i64, ctypes.c_float, p, i64]
            dgemm.restype = sgemm.restype = None
            return {np.dtype(np.float64): dgemm, np.dtype(np.float32): sgemm}
    return None


_GEMM = None if os.environ.get("FASTMLP_NO_BLAS_GEMM") else _load()


def _row_stride(M):
    return M.strides[0] // M.itemsize


def _usable(M):
    return M.ndim == 2 and M.strides[1] == M.itemsize and M.strides[0] >= M.shape[1] * M.itemsize


def gemm_update(W, alpha, A, D) -> bool:
    """``W += alpha * A.T @ D`` in place (``A``: (m, n_in), ``D``: (m, n_out), ``W``: (n_in, n_out), one dtype).

    Returns False, having done nothing, when BLAS is not available or a layout does not suit it."""
    if _GEMM is None or W.dtype not in _GEMM or not (W.flags.c_contiguous and _usable(A) and _usable(D)) \
            or A.dtype != W.dtype or D.dtype != W.dtype:
        return False
    m, n_in = A.shape
    n_out = D.shape[1]
    _GEMM[W.dtype](_ROW_MAJOR, _TRANS, _NO_TRANS, n_in, n_out, m, alpha, A.ctypes.data, _row_stride(A),
                   D.ctypes.data, _row_stride(D), 1.0, W.ctypes.data, n_out)
    return True

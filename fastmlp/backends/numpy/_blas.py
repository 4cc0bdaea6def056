"""``C <- beta C + alpha A.T @ D`` as one BLAS call (GEMM), from the OpenBLAS numpy ships.

numpy's ``matmul`` has neither ``alpha`` nor ``beta``: the plain-SGD update ``W -= (lr/B) * A.T @ delta`` costs a
product into a buffer and then a pass that reads it back and reads and writes ``W``. GEMM with ``beta = 1`` (``1 -
lr * weight_decay`` with weight decay) accumulates into ``W`` directly, and with ``beta = 0`` it writes the mean
gradient ``(1/B) A.T @ delta`` in one go. The routine is looked up in numpy's bundled ``scipy_openblas64_`` library
(the wheels on PyPI); where it is not found (another numpy build), ``gemm_tn`` returns False and the numpy path uses
matmul.
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


def _load():
    root = os.path.dirname(np.__file__)
    patterns = [os.path.join(root, os.pardir, "numpy.libs", "*openblas64*"),
                os.path.join(root, ".dylibs", "*openblas64*")]
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


def gemm_tn(C, alpha, A, D, beta) -> bool:
    """``C <- beta C + alpha A.T @ D`` in place (``A``: (m, n_in), ``D``: (m, n_out), ``C``: (n_in, n_out),
    one dtype). ``beta = 0`` ignores what ``C`` held, as BLAS defines it.

    Returns False, having done nothing, when BLAS is not available or a layout does not suit it."""
    if _GEMM is None or C.dtype not in _GEMM or not (C.flags.c_contiguous and _usable(A) and _usable(D)) \
            or A.dtype != C.dtype or D.dtype != C.dtype:
        return False
    m, n_in = A.shape
    n_out = D.shape[1]
    _GEMM[C.dtype](_ROW_MAJOR, _TRANS, _NO_TRANS, n_in, n_out, m, alpha, A.ctypes.data, _row_stride(A),
                   D.ctypes.data, _row_stride(D), beta, C.ctypes.data, n_out)
    return True

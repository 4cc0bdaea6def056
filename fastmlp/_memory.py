"""Cache-line-aligned arrays.

numpy aligns its allocations to 16 bytes; the compiled kernels load parameters, activations and deltas
with 64-byte AVX-512 vectors, and measured here an epoch ran 11-27 % faster on W2/W3 with those buffers on
64-byte boundaries than on 16-byte ones (`benchmarks/` notes in docs/performance.md). So every buffer a
kernel streams through is allocated here.
"""
from __future__ import annotations

import numpy as np

ALIGN = 64


def aligned_zeros(n, dtype, align=ALIGN) -> np.ndarray:
    """A zeroed 1-D array of ``n`` elements whose data starts on an ``align``-byte boundary (a view)."""
    dtype = np.dtype(dtype)
    buf = np.zeros(n * dtype.itemsize + align, dtype=np.uint8)
    start = -buf.ctypes.data % align
    return buf[start:start + n * dtype.itemsize].view(dtype)


def aligned_copy(a, align=ALIGN) -> np.ndarray:
    out = aligned_zeros(a.size, a.dtype, align).reshape(a.shape)
    out[...] = a
    return out

"""A finiteness test that no fast-math flag can remove, for the compiled kernels' divergence checks.

``math.isfinite(loss)`` is a floating-point comparison, and LLVM may fold it to ``True`` once the loss is
summed in a loop under fastmlp's fast-math set (``reassoc``, ``contract``, ``nsz``, ``arcp``), although no
flag alone allows it: the loop-style kernels then trained on through an infinite loss (issue 13). This test
looks at the bits instead: a float is non-finite exactly when its exponent bits are all ones. Integer
operations carry no fast-math flags, so nothing can fold the test away; ``tests/test_divergence.py`` calls the
kernels directly to check that it is still there.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import config, types
from numba.extending import intrinsic

from ._numba_config import jit

_EXPONENT = 0x7FF0000000000000      # a float64's exponent bits


@intrinsic
def _bits(typingctx, x):
    """The IEEE-754 bit pattern of a float64, as an int64."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(x), codegen


def _is_finite(x):
    """``math.isfinite(x)`` for a float64 or float32 ``x`` (widened exactly), decided on its exponent bits."""
    return (_bits(np.float64(x)) & _EXPONENT) != _EXPONENT


# the kernels run as plain Python under NUMBA_DISABLE_JIT=1, where the bits are not needed
is_finite = math.isfinite if config.DISABLE_JIT else jit(_is_finite)

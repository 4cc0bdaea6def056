"""exp, tanh and the logistic sigmoid as plain arithmetic that LLVM vectorises, for the compiled kernels.

``math.tanh`` and ``math.exp`` are calls into the C library, one element at a time: a loop over a layer's units
that calls them is never vectorised (Numba's SVML path needs Intel's ``intel-cmplr-lib-rt``, not installed here),
and a tanh epoch cost 3.4x a relu epoch (issue 21). These functions compute the same values with range reduction
and a polynomial, written as arithmetic, integer bit operations and selects only, so a loop that calls them is
vectorised like any other.

* ``vexp(x)`` (float64): ``x = n ln2 + r`` with ``|r| <= ln2 / 2`` (Cody-Waite: ``ln2`` split in a high part
  with trailing zero bits, so ``n * LN2_HI`` is exact), ``exp(r) = 1 + r + r^2/2 + ... + r^13/13!`` (truncation
  below 1e-17 relative), then ``2^n`` applied as two powers of two built from their bits, so results that are
  subnormal come out gradually, not flushed. ``inf`` above 709.78, ``0`` below -745.13, NaN stays NaN.
* ``vexpm1`` the same with ``expm1(r)`` for the polynomial, ``2^n (expm1(r) + 1) - 1`` rearranged as
  ``2^n expm1(r) + (2^n - 1)`` so small results keep their relative accuracy.
* ``vtanh(x) = copysign(em / (em + 2), x)`` with ``em = expm1(2 |x|)``: accurate near 0 (no ``1 - ...``
  cancellation), exactly ``+-1`` beyond 19.1, ``tanh(-0.0) = -0.0``, subnormals give themselves.
* ``vsigmoid(x)``: ``e = exp(-|x|)``, ``1 / (1 + e)`` for ``x >= 0`` and ``e / (1 + e)`` below, the stable
  form of the contract (one division); never overflows.

float32 arguments are computed in float32 (``exp32``, ``tanh32``, ``sigmoid32``: the same algorithms, with
float32 constants and shorter polynomials), so a vector holds 16 lanes, not 8.

Accuracy, from ``tests/test_vmath.py`` (a dense sweep of the whole range, extremes, subnormals and signed
zeros, against ``math``): worst errors are stated there in ulps and asserted.

Fast-math: Numba compiles a callee with its caller's fast-math flags unless the callee sets its own, and under
the kernels' ``reassoc`` LLVM would merge ``x - n*LN2_HI - n*LN2_LO`` into ``x - n*(LN2_HI + LN2_LO)`` and lose
the reduction's extra precision (192 ulps of exp near x = -674, measured). So these functions say
``fastmath=False`` explicitly. They are small: LLVM inlines them into the kernels' loops, keeping their own
(absent) flags, and vectorises the loops.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

# fastmath=False said explicitly, or Numba would give them their caller's flags (see the module's notes).
_OPTIONS = dict(nogil=True, error_model="numpy", boundscheck=False, fastmath={"contract"})

LN2_HI = 6.93147180369123816490e-01      # ln 2 to 32 bits: n * LN2_HI is exact for |n| < 2^21
LN2_LO = 1.90821492927058770002e-10      # ln 2 - LN2_HI
LOG2E = 1.44269504088896338700e+00
EXP_MAX = 709.782712893384               # exp(x) overflows above
EXP_MIN = -745.1332191019412             # exp(x) rounds to 0 below
TANH_ONE = 19.1                          # tanh(x) rounds to 1 beyond (in float64)

# 1/k! for the polynomials, k = 2 .. 18
C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13, C14, C15, C16, C17, C18 = (
    1.0 / math.factorial(k) for k in range(2, 19))


@intrinsic
def _from_bits(typingctx, bits):
    """The float whose IEEE-754 bit pattern is ``bits``: float64 from an int64, float32 from an int32."""
    target = {types.int64: (types.float64, ir.DoubleType()), types.int32: (types.float32, ir.FloatType())}
    if bits not in target:
        return None
    float_type, llvm_type = target[bits]

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_type)
    return float_type(bits), codegen


@njit(**_OPTIONS)
def _pow2(k):
    """2.0 ** k for an integer -1022 <= k <= 1023, from its bits."""
    return _from_bits((k + 1023) << 52)


@njit(**_OPTIONS)
def _expm1_poly(r):
    """expm1(r) for |r| <= ln2/2, to below 1e-17 relative: Taylor to r^13, Horner's scheme written out (a loop
    over the coefficients would keep LLVM from vectorising the kernels' loops)."""
    p = ((((((((((C13 * r + C12) * r + C11) * r + C10) * r + C9) * r + C8) * r + C7) * r + C6) * r + C5) * r
          + C4) * r + C3) * r + C2
    return r + r * r * p


@njit(**_OPTIONS)
def _reduce(x):
    """``(n, r)`` with ``x = n ln2 + r``, ``|r| <= ln2/2`` (x already clamped to the finite range)."""
    n = np.floor(x * LOG2E + 0.5)
    return np.int64(n), (x - n * LN2_HI) - n * LN2_LO


@njit(**_OPTIONS)
def exp64(x):
    """exp(x) of a float64."""
    xc = EXP_MAX if x > EXP_MAX else (EXP_MIN - 1.0 if x < EXP_MIN - 1.0 else x)   # NaN passes through
    n, r = _reduce(xc)
    half = n >> 1                            # 2^n as 2^half * 2^(n - half): both factors normal numbers
    y = (_expm1_poly(r) + 1.0) * _pow2(half) * _pow2(n - half)
    y = math.inf if x > EXP_MAX else y
    return 0.0 if x < EXP_MIN else y


@njit(**_OPTIONS)
def _expm1_tanh(x):
    """expm1(x) for 0 <= x <= 2 * TANH_ONE (what tanh64 needs). Reduced with n = floor(x / ln2), so that
    0 <= r < ln2 and ``2^n expm1(r) + (2^n - 1)`` adds two non-negative terms (rounding to nearest would give
    r < 0 and a cancellation, 3 ulps of tanh near 0.19); the longer polynomial covers the wider r."""
    n = np.floor(x * LOG2E)
    r = (x - n * LN2_HI) - n * LN2_LO
    p = (((((((((((((((C18 * r + C17) * r + C16) * r + C15) * r + C14) * r + C13) * r + C12) * r + C11) * r
                  + C10) * r + C9) * r + C8) * r + C7) * r + C6) * r + C5) * r + C4) * r + C3) * r + C2
    scale = _pow2(np.int64(n))
    return scale * (r + r * r * p) + (scale - 1.0)


@njit(**_OPTIONS)
def tanh64(x):
    """tanh(x) of a float64."""
    a = abs(x)
    a = TANH_ONE if a > TANH_ONE else a       # tanh is 1 beyond; NaN passes through
    em = _expm1_tanh(2.0 * a)
    return math.copysign(em / (em + 2.0), x)


@njit(**_OPTIONS)
def sigmoid64(x):
    """1 / (1 + exp(-x)) of a float64, in the stable form."""
    e = exp64(-abs(x))
    return (1.0 if x >= 0.0 else e) / (1.0 + e)


# --- float32, computed in float32 (16 lanes a vector, not 8) ----------------------------------------------------

F32 = np.float32
LN2_HI_32 = F32(0.693145751953125)       # ln 2 to 12 bits: n * LN2_HI_32 exact for |n| < 2^11
LN2_LO_32 = F32(1.428606765330187e-06)   # ln 2 - LN2_HI_32
LOG2E_32 = F32(LOG2E)
D2, D3, D4, D5, D6, D7, D8, D9, D10 = (F32(1.0 / math.factorial(k)) for k in range(2, 11))


@njit(**_OPTIONS)
def _pow2_32(k):
    """2.0 ** k as a float32, for an integer -126 <= k <= 127."""
    return _from_bits(np.int32((k + 127) << 23))


@njit(**_OPTIONS)
def exp32(x):
    """exp(x) of a float32 in float32: |r| <= ln2/2, Taylor to r^7 (5e-9 relative)."""
    xc = F32(89.0) if x > F32(89.0) else (F32(-104.0) if x < F32(-104.0) else x)      # NaN passes through
    n = np.floor(xc * LOG2E_32 + F32(0.5))
    r = (xc - n * LN2_HI_32) - n * LN2_LO_32
    p = ((((D7 * r + D6) * r + D5) * r + D4) * r + D3) * r + D2
    k = np.int32(n)
    half = k >> 1                            # both factors normal: results down to float32's subnormals
    return (r + r * r * p + F32(1.0)) * _pow2_32(half) * _pow2_32(k - half)


@njit(**_OPTIONS)
def tanh32(x):
    """tanh(x) of a float32 in float32: expm1(2|x|) reduced with n = floor (0 <= r < ln2, no cancellation),
    Taylor to r^10 (7e-9 relative); exactly +-1 beyond 9.02."""
    a = abs(x)
    a = F32(9.02) if a > F32(9.02) else a
    y = F32(2.0) * a
    n = np.floor(y * LOG2E_32)
    r = (y - n * LN2_HI_32) - n * LN2_LO_32
    p = (((((((D10 * r + D9) * r + D8) * r + D7) * r + D6) * r + D5) * r + D4) * r + D3) * r + D2
    scale = _pow2_32(np.int32(n))
    em = scale * (r + r * r * p) + (scale - F32(1.0))
    return math.copysign(em / (em + F32(2.0)), x)


@njit(**_OPTIONS)
def sigmoid32(x):
    e = exp32(-abs(x))
    return (F32(1.0) if x >= F32(0.0) else e) / (F32(1.0) + e)


# What the kernels call: the float64 or the float32 functions, by the argument's type. Called from Python (or from
# kernels run as Python under NUMBA_DISABLE_JIT=1), the library's functions stand in.

def vexp(x):
    """exp(x), vectorisable in compiled code."""
    return math.exp(x) if x < EXP_MAX else math.inf


def vtanh(x):
    """tanh(x), vectorisable in compiled code."""
    return math.tanh(x)


def vsigmoid(x):
    """1 / (1 + exp(-x)), stable, vectorisable in compiled code."""
    e = math.exp(-abs(x))
    return 1.0 / (1.0 + e) if x >= 0.0 else e / (1.0 + e)


def _typed(f64, f32):
    def implementation(x):
        if x == types.float32:
            return lambda x: f32(x)
        if isinstance(x, types.Float):
            return lambda x: f64(x)
        return None
    return implementation


for _python, _f64, _f32 in ((vexp, exp64, exp32), (vtanh, tanh64, tanh32), (vsigmoid, sigmoid64, sigmoid32)):
    overload(_python, jit_options=_OPTIONS)(_typed(_f64, _f32))

"""The vectorisable exp, tanh and sigmoid of ``fastmlp/backends/_vmath.py`` against the C library's, over a
dense sweep of their whole range: extremes, overflow and underflow edges, subnormals, signed zeros, infinities
and NaN. Worst errors measured (ulps of the correctly rounded result, as ``math`` gives it):

=========  =========  =========
function   float64    float32
=========  =========  =========
exp        1.0        1.0
tanh       3.0        2.0
sigmoid    2.0        2.0
=========  =========  =========

(float32 arguments are computed in float32, with float32 constants and shorter polynomials.) The bounds
asserted below are those figures."""
import math

import numpy as np
import pytest
from numba import njit

pytestmark = pytest.mark.skipif(__import__("os").environ.get("NUMBA_DISABLE_JIT") == "1",
                                reason="the compiled functions are what is tested")

WORST_ULPS = {("exp", "float64"): 1.0, ("tanh", "float64"): 3.0, ("sigmoid", "float64"): 2.0,
              ("exp", "float32"): 1.0, ("tanh", "float32"): 2.0, ("sigmoid", "float32"): 2.0}


def make_loop(f):
    """``f`` applied in a loop, the way the kernels call it (and the way LLVM vectorises it), under the kernels'
    fast-math flags."""
    from fastmlp.backends._numba_config import FASTMATH

    @njit(fastmath=FASTMATH)
    def apply(x, out):
        for i in range(x.shape[0]):
            out[i] = f(x[i])
    return apply


def _loops():
    from fastmlp.backends._vmath import vexp, vsigmoid, vtanh
    return {"exp": make_loop(vexp), "tanh": make_loop(vtanh), "sigmoid": make_loop(vsigmoid)}


def _exp(v):
    try:
        return math.exp(v)
    except OverflowError:
        return math.inf


def _sigmoid(v):
    e = math.exp(-abs(v))
    return 1.0 / (1.0 + e) if v >= 0 else e / (1.0 + e)


REFERENCE = {"exp": _exp, "tanh": math.tanh, "sigmoid": _sigmoid}


def _sweep(dtype):
    info = np.finfo(dtype)
    mags = np.concatenate([np.geomspace(info.smallest_subnormal, info.tiny, 200),     # subnormals
                           np.geomspace(info.tiny, 1e-3, 20_000), np.linspace(1e-3, 40.0, 300_000),
                           np.geomspace(40.0, info.max, 4_000)])
    edges = [0.0, -0.0, np.inf, -np.inf, 709.782712893384, 709.7827128933841, -745.1332191019411,
             -745.1332191019412, -708.4, 88.7228, -103.972, 19.06, 19.07, 9.01, 9.02, info.max, -info.max]
    with np.errstate(over="ignore"):
        return np.concatenate([mags, -mags, np.array(edges)]).astype(dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["exp", "tanh", "sigmoid"])
def test_accuracy_over_the_whole_range(name, dtype):
    x = _sweep(np.dtype(dtype))
    out = np.empty_like(x)
    _loops()[name](x, out)
    with np.errstate(over="ignore"):
        ref = np.array([REFERENCE[name](float(v)) for v in x]).astype(dtype)
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(out[~finite], ref[~finite])                 # infinities where the library's
    assert np.isfinite(out[finite]).all()
    ulps = np.abs(out[finite].astype(np.float64) - ref[finite]) / np.spacing(np.abs(ref[finite])).astype(np.float64)
    worst = int(np.argmax(ulps))
    assert ulps[worst] <= WORST_ULPS[(name, dtype)], f"{ulps[worst]:.2f} ulps at x = {x[finite][worst]!r}"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_signed_zeros_nan_and_dtype(dtype):
    loops = _loops()
    x = np.array([0.0, -0.0, np.nan], dtype)
    for name in ("exp", "tanh", "sigmoid"):
        out = np.empty_like(x)
        loops[name](x, out)
        assert out.dtype == x.dtype and np.isnan(out[2])
    out = np.empty_like(x)
    loops["tanh"](x, out)
    assert out[0] == 0 and not np.signbit(out[0]) and out[1] == 0 and np.signbit(out[1])   # tanh(-0) = -0
    subnormal = np.array([np.finfo(dtype).smallest_subnormal, -5 * np.finfo(dtype).smallest_subnormal], dtype)
    loops["tanh"](subnormal, out[:2])
    np.testing.assert_array_equal(out[:2], subnormal)                              # tanh(x) = x there


def test_the_kernel_loops_are_vectorised():
    """The point of the module: a loop calling vtanh compiles to vector instructions (zmm/ymm registers) and no
    call into the C library's tanh."""
    loop = _loops()["tanh"]
    x = np.linspace(-3, 3, 64)
    loop(x, np.empty_like(x))
    llvm = loop.inspect_llvm(loop.signatures[0])
    assert "@tanh(" not in llvm and "@tanh@" not in llvm              # no call into the library
    asm = loop.inspect_asm(loop.signatures[0])
    assert asm.count("zmm") + asm.count("ymm") > 20

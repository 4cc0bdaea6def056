"""The vectorisable exp, tanh and sigmoid (``fastmlp/backends/_vmath.py``): worst error over the whole range and
throughput in a loop, beside the C library's functions as Numba calls them.

    python benchmarks/vmath_table.py

Accuracy comes from the sweep of ``tests/test_vmath.py`` (ulps of the library's correctly rounded result);
throughput is the median of 9 rounds over 4,096 arguments in [-5, 5], in a loop compiled with the kernels'
fast-math flags, as the kernels call them.
"""
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fastmlp.backends._vmath import vexp, vsigmoid, vtanh  # noqa: E402

import test_vmath  # noqa: E402  (the test's sweep and references)


@njit
def _libm_sigmoid(z):
    e = math.exp(-abs(z))
    return (1.0 if z >= 0 else e) / (1.0 + e)


FUNCTIONS = {"exp": (vexp, njit(lambda z: math.exp(z))), "tanh": (vtanh, njit(lambda z: math.tanh(z))),
             "sigmoid": (vsigmoid, _libm_sigmoid)}


def ns_per_element(loop, x, rounds=9, reps=200):
    out = np.empty_like(x)
    loop(x, out)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            loop(x, out)
        times.append((time.perf_counter() - t0) / reps / x.size * 1e9)
    return statistics.median(times)


def worst_ulps(name, dtype):
    x = test_vmath._sweep(np.dtype(dtype))
    out = np.empty_like(x)
    test_vmath.make_loop(FUNCTIONS[name][0])(x, out)
    with np.errstate(over="ignore"):
        ref = np.array([test_vmath.REFERENCE[name](float(v)) for v in x]).astype(dtype)
    finite = np.isfinite(ref)
    return float(np.max(np.abs(out[finite].astype(np.float64) - ref[finite])
                        / np.spacing(np.abs(ref[finite])).astype(np.float64))), x.size


def main() -> int:
    print("| function | dtype | worst error, ulps (arguments swept) | fastmlp ns/element | library ns/element "
          "| speed-up |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name, (fast, library) in FUNCTIONS.items():
        for dtype in ("float64", "float32"):
            x = np.random.default_rng(0).uniform(-5, 5, 4096).astype(dtype)
            ulps, n = worst_ulps(name, dtype)
            ours = ns_per_element(test_vmath.make_loop(fast), x)
            theirs = ns_per_element(test_vmath.make_loop(library), x)
            print(f"| {name} | {dtype} | {ulps:.1f} ({n:,}) | {ours:.2f} | {theirs:.2f} | {theirs / ours:.1f}x |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

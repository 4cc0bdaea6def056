"""How long the loop kernels take to compile: six kernels (per-sample SGD and Adam, batch SGD and momentum, threaded
SGD and Adam) compiled one after another in one fresh process with an empty kernel cache, each by a one-epoch
``MLP.fit`` on ``[64, 32, 32, 10]`` tanh. A kernel the earlier ones share helpers with compiles faster.

    python benchmarks/compile_times.py [float64|float32]
"""
import os
import sys
import tempfile
import time
import warnings

os.environ["FASTMLP_CACHE_DIR"] = tempfile.mkdtemp()      # before fastmlp is imported: an empty cache

import numpy as np  # noqa: E402

import fastmlp  # noqa: E402

KERNELS = [("per-sample", "sgd"), ("per-sample", "adam"), ("batch", "sgd"), ("batch", "momentum"),
           ("threaded", "sgd"), ("threaded", "adam")]


def main():
    dtype = sys.argv[1] if len(sys.argv) > 1 else "float64"
    X = np.random.default_rng(0).normal(size=(256, 64)).astype(dtype)
    y = X[:, :10].copy()
    total = 0.0
    for kind, rule in KERNELS:
        net = fastmlp.MLP([64, 32, 32, 10], activation="tanh", dtype=dtype, seed=0)
        kw = dict(epochs=1, optimizer=rule, backend="numba", batch_size=8 if kind == "batch" else 1,
                  threads=2 if kind == "threaded" else None)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # two threads on a machine with fewer cores warn
            net.fit(X, y, **kw)
        seconds = time.perf_counter() - t0
        total += seconds
        print(f"{kind:<10} {rule:<8} {seconds:5.2f} s", flush=True)
    print(f"all six    {total:.2f} s ({dtype})")


if __name__ == "__main__":
    main()

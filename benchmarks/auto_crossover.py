"""Where ``backend="auto"`` should switch from the Numba path to the numpy path: numpy's speed over Numba's for
``MLP.fit`` of one epoch (median of 5 fits), over batch sizes, on W2's and W3's networks, float64 and float32,
relu with SGD and tanh with Adam (``--more``: W2 with tanh/SGD, relu/Adam and relu/momentum too).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/auto_crossover.py [--more]

The thresholds in ``fastmlp/backends/__init__.py`` (``AUTO_NUMPY_MIN_BATCH_MACS``) come from this.
"""
import sys
import time

import numpy as np

import fastmlp

rng = np.random.default_rng(0)


def seconds(sizes, act, dtype, bs, backend, opt, n):
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    y = rng.standard_normal((n, sizes[-1])).astype(dtype) * 0.1
    net = fastmlp.MLP(sizes, activation=act, dtype=dtype, seed=0)
    kw = dict(batch_size=bs, optimizer=opt, lr=1e-3, backend=backend, shuffle=False)
    net.fit(X[:500], y[:500], **kw)
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        net.fit(X, y, **kw)
        ts.append(time.perf_counter() - t0)
    return np.median(ts)


def main():
    cases = [([16, 64, 64, 1], 40000, (16, 32, 64, 128, 256, 1024), (("relu", "sgd"), ("tanh", "adam"))),
             ([784, 256, 128, 10], 3000, (2, 4, 8, 32), (("relu", "sgd"), ("tanh", "adam")))]
    if "--more" in sys.argv:
        more = (("tanh", "sgd"), ("relu", "adam"), ("relu", "momentum"))
        cases.append(([16, 64, 64, 1], 40000, (64, 256, 1024), more))
    for sizes, n, batches, settings in cases:
        macs = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        for dtype in ("float64", "float32"):
            for act, opt in settings:
                out = []
                for bs in batches:
                    numba_s = seconds(sizes, act, dtype, bs, "numba", opt, n)
                    ratio = numba_s / seconds(sizes, act, dtype, bs, "numpy", opt, n)
                    auto = fastmlp.backends.choose(fastmlp.MLP(sizes).spec, bs, dtype)
                    out.append(f"b{bs} ({bs * macs:.1e} MACs, auto {auto}) {ratio:.2f}x")
                print(sizes, dtype, act, opt, "numpy's speed over numba's:", ", ".join(out), flush=True)


if __name__ == "__main__":
    main()

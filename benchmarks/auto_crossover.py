"""Where ``backend="auto"`` should switch from the Numba path to the numpy path: numpy's speed over Numba's for
``MLP.fit`` of one epoch (median of 5 fits), over batch sizes.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/auto_crossover.py [--more]
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/auto_crossover.py --small [--out rows.jsonl]

The default: W2's and W3's networks, float64 and float32, relu with SGD and tanh with Adam (``--more``: W2 with
tanh/SGD, relu/Adam and relu/momentum too). ``--small``: 18 networks from [2, 2, 1] to W3 (scikit-learn-sized
classifiers and regressors among them: the estimators' default batch of 200 meets them), batch 8-512 (W3: 2-32),
SGD and Adam, both dtypes, about a minute; then what choosing by ``backends.choose`` costs over always taking the
faster path, against the single threshold it replaced (``--out`` also writes every measured point).

The thresholds in ``fastmlp/backends/__init__.py`` (``AUTO_NUMPY_*``) come from this.
"""
import json
import sys
import time

import numpy as np

import fastmlp

rng = np.random.default_rng(0)

SMALL = [([2, 2, 1], "identity", "mse"), ([4, 8, 1], "relu", "mse"), ([8, 16, 1], "tanh", "mse"),
         ([8, 32, 16, 1], "relu", "mse"), ([10, 100, 1], "relu", "mse"), ([32, 32, 32, 1], "relu", "mse"),
         ([16, 64, 64, 1], "relu", "mse"), ([16, 64, 64, 1], "tanh", "mse"), ([100, 50, 1], "relu", "mse"),
         ([30, 100, 1], "relu", "log_loss"), ([4, 100, 3], "relu", "cross_entropy"),
         ([13, 100, 3], "relu", "cross_entropy"), ([20, 50, 5], "tanh", "cross_entropy"),
         ([64, 8, 10], "relu", "cross_entropy"), ([64, 16, 10], "relu", "cross_entropy"),
         ([64, 32, 10], "relu", "cross_entropy"), ([64, 100, 10], "relu", "cross_entropy"),
         ([784, 256, 128, 10], "relu", "cross_entropy")]
OLD_THRESHOLD = {"float64": 300_000, "float32": 600_000}     # before 2026-12-05: batch x MACs alone


def macs_of(sizes):
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def seconds(sizes, act, dtype, bs, backend, opt, n, loss="mse", epochs=1):
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    if loss == "cross_entropy":
        y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], n)]
    elif loss == "log_loss":
        y = (rng.random((n, 1)) < 0.5).astype(dtype)
    else:
        y = rng.standard_normal((n, sizes[-1])).astype(dtype) * 0.1
    kw = dict(batch_size=bs, optimizer=opt, lr=1e-4, backend=backend, shuffle=False, epochs=epochs)
    fastmlp.MLP(sizes, activation=act, loss=loss, dtype=dtype, seed=0).fit(X[:600], y[:600], **kw)   # compile
    ts = []
    for _ in range(5):
        net = fastmlp.MLP(sizes, activation=act, loss=loss, dtype=dtype, seed=0)
        t0 = time.perf_counter()
        net.fit(X, y, **kw)
        ts.append(time.perf_counter() - t0)
    return np.median(ts)


def default():
    cases = [([16, 64, 64, 1], 40000, (16, 32, 64, 128, 256, 1024), (("relu", "sgd"), ("tanh", "adam"))),
             ([784, 256, 128, 10], 3000, (2, 4, 8, 32), (("relu", "sgd"), ("tanh", "adam")))]
    if "--more" in sys.argv:
        more = (("tanh", "sgd"), ("relu", "adam"), ("relu", "momentum"))
        cases.append(([16, 64, 64, 1], 40000, (64, 256, 1024), more))
    for sizes, n, batches, settings in cases:
        macs = macs_of(sizes)
        for dtype in ("float64", "float32"):
            for act, opt in settings:
                out = []
                for bs in batches:
                    numba_s = seconds(sizes, act, dtype, bs, "numba", opt, n)
                    ratio = numba_s / seconds(sizes, act, dtype, bs, "numpy", opt, n)
                    auto = fastmlp.backends.choose(fastmlp.MLP(sizes).spec, bs, dtype)
                    out.append(f"b{bs} ({bs * macs:.1e} MACs, auto {auto}) {ratio:.2f}x")
                print(sizes, dtype, act, opt, "numpy's speed over numba's:", ", ".join(out), flush=True)


def small(out_path):
    points = []
    for dtype in ("float64", "float32"):
        for opt in ("adam", "sgd"):
            for sizes, act, loss in SMALL:
                macs = macs_of(sizes)
                n = max(1024, min(16384, int(2e7 / macs)))
                row = []
                for bs in ((2, 4, 8, 16, 32) if macs > 1e5 else (8, 16, 32, 64, 128, 256, 512)):
                    ratio = (seconds(sizes, act, dtype, bs, "numba", opt, n, loss)
                             / seconds(sizes, act, dtype, bs, "numpy", opt, n, loss))
                    points.append(dict(dtype=dtype, opt=opt, sizes=sizes, act=act, loss=loss, bs=bs, ratio=ratio))
                    row.append(f"{bs}:{ratio:.2f}")
                print(dtype, opt, sizes, act, loss, "numpy's speed over numba's, by batch:", " ".join(row),
                      flush=True)
    if out_path:
        with open(out_path, "w") as f:
            f.writelines(json.dumps(p) + "\n" for p in points)
    for dtype in ("float64", "float32"):
        mine = [p for p in points if p["dtype"] == dtype]
        for label, rule in (("backends.choose", lambda p, dt=dtype: fastmlp.backends.choose(
                                fastmlp.MLP(p["sizes"]).spec, p["bs"], dt) == "numpy"),
                            (f"one threshold, {OLD_THRESHOLD[dtype]:.0e} MACs",
                             lambda p, dt=dtype: p["bs"] * macs_of(p["sizes"]) >= OLD_THRESHOLD[dt])):
            cost = np.array([max(1.0, 1 / p["ratio"] if rule(p) else p["ratio"]) for p in mine])
            print(f"{dtype}, {label}: time over the faster path, geometric mean {np.exp(np.log(cost).mean()):.3f}, "
                  f"worst {cost.max():.2f}, over 1.25x at {int((cost > 1.25).sum())} of {len(cost)} points")


if __name__ == "__main__":
    if "--small" in sys.argv:
        small(sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else None)
    else:
        default()

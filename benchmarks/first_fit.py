"""The first fit of a network shape a process has not seen: how long before training is done, by cache state.

    python benchmarks/first_fit.py                          # the default shapes, sgd and adam, 3 fresh processes each
    python benchmarks/first_fit.py --shapes 8,2,1 8,65,1 --optimizers adam --rounds 5

Each measurement is a fresh process: it imports fastmlp, trains a throwaway model with the numpy path (so that the
imports and everything but the Numba path's kernels are loaded), then times ``MLP.fit`` of one epoch on 200 rows
with ``backend="numba"`` for the shape. Three cache states, each a fresh ``FASTMLP_CACHE_DIR``:

* "cold": empty, as on the first fit after installing fastmlp: the figure is the kernel's compile time plus the epoch;
* "installed": after one fit of another network (``[7, 9, 1]``, loop style) with the same optimiser, in another
  process: what the first fit of a *new* shape costs once fastmlp has been used;
* "warm": after a fit of this very shape, in another process: the kernel is loaded from disk.

The epoch itself takes well under a millisecond on these shapes. Issue 16 wants the "installed" figure under 50 ms
for every shape the loop style trains (``style`` column; ``style_for`` in ``backends/numba``).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = r"""
import sys, time
import numpy as np
import fastmlp
sizes = [int(v) for v in sys.argv[1].split(",")]
optimizer = sys.argv[2]
rng = np.random.default_rng(0)
X, y = rng.standard_normal((200, sizes[0])), rng.standard_normal((200, sizes[-1]))
fastmlp.MLP(sizes, seed=0).fit(X[:2], y[:2], backend="numpy", optimizer=optimizer)
net = fastmlp.MLP(sizes, seed=0)
t0 = time.perf_counter()
net.fit(X, y, epochs=1, backend="numba", optimizer=optimizer)
print(time.perf_counter() - t0)
"""


def first_fit(sizes: str, optimizer: str, cache: str) -> float:
    env = dict(os.environ, FASTMLP_CACHE_DIR=cache)
    out = subprocess.run([sys.executable, "-c", CHILD, sizes, optimizer], env=env, capture_output=True, text=True,
                         check=True)
    return float(out.stdout)


INSTALL_SHAPE = "7,9,1"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["2,2,1", "8,2,1", "8,3,1", "8,16,1", "8,32,16,1", "8,65,1"])
    parser.add_argument("--optimizers", nargs="+", default=["sgd", "adam"])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    from fastmlp import MLP
    from fastmlp.backends.numba import style_for
    from fastmlp.optim import OptimizerState

    def spread(times):
        return f"{statistics.median(times):.3f} ({min(times):.3f}-{max(times):.3f})"

    print("| shape | optimizer | style | cold, s | installed, s | warm, s |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for sizes in args.shapes:
        spec = MLP([int(v) for v in sizes.split(",")]).spec
        for optimizer in args.optimizers:
            style = style_for(spec, OptimizerState(optimizer, spec.n_params, "float64"))
            cold, installed, warm = [], [], []
            for _ in range(args.rounds):
                with tempfile.TemporaryDirectory() as cache:
                    cold.append(first_fit(sizes, optimizer, cache))
                    warm.append(first_fit(sizes, optimizer, cache))
                with tempfile.TemporaryDirectory() as cache:
                    first_fit(INSTALL_SHAPE, optimizer, cache)
                    installed.append(first_fit(sizes, optimizer, cache))
            print(f"| [{sizes.replace(',', ', ')}] | {optimizer} | {style} | {spread(cold)} | {spread(installed)} "
                  f"| {spread(warm)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

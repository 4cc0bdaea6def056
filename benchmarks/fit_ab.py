"""``MLP.fit`` of this checkout against another revision, side by side: what a change costs where users feel it.

    python benchmarks/fit_ab.py --baseline 7781cba                      # W1-W4, float64, 7 rounds
    python benchmarks/fit_ab.py --baseline HEAD~3 --workloads W2 W3 --dtype float32 --rounds 9
    python benchmarks/fit_ab.py --baseline 7781cba --optimizer adam --activation tanh
    python benchmarks/fit_ab.py --baseline 6fe63c3 --workloads W2 W3 --threads 1     # the per-sample loop on one thread

The baseline is checked out with ``git worktree`` into a temporary folder. Every round starts one fresh
process per side, alternating which goes first; each process compiles (warm kernel cache, shared by both
sides only when the kernel source is the same), then times ``fit`` for one epoch, ``--repeat`` times from the
same start, and reports its median. The figure is the median over rounds of the per-round ratio
``this / baseline`` (below 1: this checkout is faster), with its min-max: a ratio measured within one round is
steadier on this shared machine than a ratio of medians. Times depend on numpy's BLAS for the numpy path
(W4): the report names it (threadpoolctl, when installed) and whether ``OPENBLAS_CORETYPE`` forces its kernel.
It exits non-zero if the two sides' parameters after the epoch differ by more than the contract's bound.
``--threads N`` passes ``threads=N`` to ``fit`` for the per-sample workloads (W1-W3) on a side whose ``fit`` takes
it (a revision from before ``fit(threads=...)`` has one thread only); without it each side chooses
(``threads=None``: W3 on two threads here). The table says how many threads each side's fits used.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from fastmlp.backends import BOUNDS
from fastmlp.benchmarking.report import blas

ROOT = Path(__file__).resolve().parents[1]


CHILD = r"""
import inspect, json, sys, time
import numpy as np
from fastmlp import MLP
from fastmlp.benchmarking.contenders import WORKLOADS, make_problem
name, dtype, backend, repeat, optimizer, activation, threads = sys.argv[1:8]
w = WORKLOADS[name]
if activation != "default":
    w = w.__class__(w.name, w.layer_sizes, activation, w.loss, w.n_samples, w.batch_size, w.lr)
net, X, Y = make_problem(w, dtype)
start = net.params.copy()
kw = dict(epochs=1, lr=w.lr, batch_size=w.batch_size, shuffle=False, backend=backend, optimizer=optimizer)
if threads != "default" and w.batch_size == 1 and "threads" in inspect.signature(MLP.fit).parameters:
    kw["threads"] = int(threads)
net.fit(X[:256], Y[:256], **kw)                      # compile and warm up
times = []
for _ in range(int(repeat)):
    net.params[:] = start
    net.reset_optimizer()
    t0 = time.perf_counter()
    history = net.fit(X, Y, **kw)
    times.append(time.perf_counter() - t0)
import fastmlp
print(json.dumps({"seconds": float(np.median(times)), "params": net.params.astype(float).tolist()[:4096],
                  "package": fastmlp.__file__, "threads": getattr(history, "threads", 1)}))
"""


def run(tree: Path, args, workload, dtype) -> dict:
    backend = "numpy" if workload == "W4" else "numba"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    threads = "default" if args.threads is None else str(args.threads)
    out = subprocess.run([sys.executable, "-c", CHILD, workload, dtype, backend, str(args.repeat), args.optimizer,
                          args.activation, threads], env=env, capture_output=True, text=True, check=True, cwd=tree)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    if not Path(got["package"]).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"the child imported fastmlp from {got['package']}, not from {tree}")
    return got


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="a git revision of this repository")
    parser.add_argument("--workloads", nargs="+", default=["W1", "W2", "W3", "W4"])
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--optimizer", default="sgd")
    parser.add_argument("--activation", default="default")
    parser.add_argument("--threads", type=int, default=None, help="fit(threads=N) where fit takes it")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.repeat < 1 or (args.threads is not None and args.threads < 1):
        parser.error("--rounds, --repeat and --threads must be >= 1")
    base = Path(tempfile.mkdtemp(prefix="fastmlp-ab-")) / "baseline"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.baseline],
                   check=True, capture_output=True)
    status = 0
    try:
        print(f"baseline {args.baseline} vs this checkout; {args.dtype}, optimizer {args.optimizer}, "
              f"activation {args.activation}, threads {args.threads or 'as each side chooses'} (per-sample workloads); "
              f"{args.rounds} rounds x {args.repeat} fits per process")
        print(f"numpy's BLAS: {blas()}")
        print("| workload | this / baseline, median of rounds (min-max) | this, median s | baseline, median s | "
              "threads, this / baseline |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for workload in args.workloads:
            ratios, mine, theirs = [], [], []
            for r in range(args.rounds):
                sides = [("this", ROOT), ("base", base)]
                if r % 2:
                    sides.reverse()
                got = {name: run(tree, args, workload, args.dtype) for name, tree in sides}
                mine.append(got["this"]["seconds"])
                theirs.append(got["base"]["seconds"])
                ratios.append(mine[-1] / theirs[-1])
                a, b = got["this"]["params"], got["base"]["params"]
                scale = max(abs(x) for x in b) or 1.0
                if max(abs(x - y) for x, y in zip(a, b)) / scale > BOUNDS[args.dtype]:
                    print(f"{workload}: the two sides' parameters differ beyond the contract's bound")
                    status = 1
            print(f"| {workload} | {statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}) | "
                  f"{statistics.median(mine):.4f} | {statistics.median(theirs):.4f} | "
                  f"{got['this']['threads']} / {got['base']['threads']} |", flush=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)
    return status


if __name__ == "__main__":
    sys.exit(main())

"""What momentum and Adam cost over plain SGD on the Numba path, per-sample, W1-W3 (pytest-benchmark).

    python -m pytest benchmarks/bench_optimizers.py --benchmark-only --benchmark-group-by=group

Grouped per workload and dtype: compare the three rows of a group. Targets (issue 5): on W2 and W3,
momentum within 1.3x of SGD's time, Adam within 2.5x.

pytest-benchmark times each contender's rounds one after another, and this machine's speed drifts between
them. Run as a script for ratios taken round by round, the contenders interleaved (the table in
docs/performance.md)::

    python benchmarks/bench_optimizers.py --rounds 9
"""
import argparse
import time

import numpy as np
import pytest

from fastmlp.benchmarking.contenders import WORKLOADS, FastmlpRunner, make_problem


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("workload", ["W1", "W2", "W3"])
def test_optimizer_cost(benchmark, workload, optimizer):
    w = WORKLOADS[workload]
    n = min(w.n_samples, 512) if benchmark.disabled else w.n_samples
    net, X, Y = make_problem(w, "float64", n=n)
    runner = FastmlpRunner("numba", w, net, X, Y, optimizer=optimizer)
    runner.reset()
    runner.run()                                   # warm-up: compile
    assert runner.opt.t[0] == n
    benchmark.group = f"{workload} float64 optimizers"
    benchmark.pedantic(runner.run, setup=runner.reset, rounds=5, iterations=1)


def interleaved(workloads=("W1", "W2", "W3"), optimizers=("sgd", "momentum", "adam"), rounds=9) -> dict:
    """``{workload: {optimizer: [seconds per round]}}``, every round running each optimiser once in turn."""
    out = {}
    for name in workloads:
        w = WORKLOADS[name]
        net, X, Y = make_problem(w, "float64")
        runners = {opt: FastmlpRunner("numba", w, net, X, Y, optimizer=opt) for opt in optimizers}
        for r in runners.values():
            r.reset()
            r.run()                                # warm-up: compile
        times = out[name] = {opt: [] for opt in optimizers}
        for _ in range(rounds):
            for opt, r in runners.items():
                r.reset()
                t0 = time.perf_counter()
                r.run()
                times[opt].append(time.perf_counter() - t0)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--workloads", default="W1,W2,W3")
    args = parser.parse_args()
    res = interleaved(args.workloads.split(","), rounds=args.rounds)
    print(f"float64, per-sample, Numba path; {args.rounds} rounds interleaved; time / SGD's time in the same round")
    print("| workload | sgd samples/s (median) | momentum: median (min - max) | adam: median (min - max) |")
    print("| --- | ---: | ---: | ---: |")
    for name, times in res.items():
        sgd = np.array(times["sgd"])
        cells = []
        for opt in ("momentum", "adam"):
            ratio = np.array(times[opt]) / sgd
            cells.append(f"{np.median(ratio):.2f}x ({ratio.min():.2f} - {ratio.max():.2f})")
        print(f"| {name} | {WORKLOADS[name].n_samples / np.median(sgd):,.0f} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()

"""What momentum and Adam cost over plain SGD on the Numba path, per-sample, W1-W3 (pytest-benchmark).

    python -m pytest benchmarks/bench_optimizers.py --benchmark-only --benchmark-group-by=group

Grouped per workload and dtype: compare the three rows of a group. Targets (issue 5): on W2 and W3,
momentum within 1.3x of SGD's time, Adam within 2.5x.
"""
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

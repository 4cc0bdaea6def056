"""One epoch of training per contender, grouped by workload and dtype (pytest-benchmark).

    python -m pytest benchmarks/bench_epoch.py --benchmark-only                 # time it
    python -m pytest benchmarks/bench_epoch.py --benchmark-autosave             # keep a run to compare
    python -m pytest benchmarks/ --benchmark-disable                            # CI: each body once, small

Each benchmark first checks the contender's agreement with the reference on a slice (so a fast wrong answer
never counts), then warms it up (JIT compilation, caches), then times whole epochs from the same start.
Under ``--benchmark-disable`` the data are cut to a few hundred rows so the suite stays a quick check.
"""
import pytest

from fastmlp.backends import BOUNDS
from fastmlp.benchmarking.contenders import WORKLOADS, agreement, contenders, make_problem

PER_SAMPLE = ["W1", "W2", "W2-tanh", "W2-sigmoid", "W3"]
BATCHED = ["W4"]


def _bench(benchmark, workload, contender, dtype, batched):
    w = WORKLOADS[workload]
    factories = contenders(batched=batched)
    if contender not in factories:
        pytest.skip(f"{contender} is not installed")
    factory = factories[contender]
    n = min(w.n_samples, 512) if benchmark.disabled else w.n_samples
    net, X, Y = make_problem(w, dtype, n=n)
    # checked on one batch of W4 (32 samples per sample) when timing; a quarter of that under --benchmark-disable,
    # where the suite is a quick check and the pure-Python reference on W3/W4's 235,000 weights is what takes time
    n_check = 128 if batched else 32
    d = agreement(factory, w, net, X, Y, n_check=n_check // 4 if benchmark.disabled else n_check)
    assert d is None or d <= BOUNDS[dtype], f"{contender} disagrees with the reference: {d:.3g}"
    runner = factory(w, net, X, Y)
    runner.reset()
    runner.run()                                      # warm-up: compile, fill caches
    benchmark.group = f"{workload} {dtype}"
    benchmark.extra_info.update(samples=n, workload=workload, dtype=dtype)
    benchmark.pedantic(runner.run, setup=runner.reset, rounds=5, iterations=1)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("contender", ["fastmlp-numba", "fastmlp-numpy", "jax-scan", "sklearn"])
@pytest.mark.parametrize("workload", PER_SAMPLE)
def test_per_sample(benchmark, workload, contender, dtype):
    if contender == "fastmlp-numpy" and not benchmark.disabled and workload != "W1":
        pytest.skip("numpy at batch 1 is not a contender here (it is timed in the crossover sweep)")
    _bench(benchmark, workload, contender, dtype, batched=False)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("contender", ["fastmlp-numpy", "fastmlp-numba", "jax-scan", "jax-step", "sklearn",
                                       "blas-floor"])
@pytest.mark.parametrize("workload", BATCHED)
def test_batched(benchmark, workload, contender, dtype):
    _bench(benchmark, workload, contender, dtype, batched=True)

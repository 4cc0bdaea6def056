"""Why Adam costs more than 2.5x plain SGD per sample on the Numba path: the arithmetic it cannot avoid.

    python benchmarks/adam_floor.py

Times, over W2's weights (float64, a Numba loop like the kernels', the same JIT options), one update of
every weight by: plain SGD (``w -= lr * g``); Adam exactly as PyTorch and the contract define it; and only
the square root and the division Adam needs per weight (``m / (sqrt(v) / c + eps)``). Next to a whole
per-sample SGD step on W2 (forward, backward, update), per weight. A per-sample Adam step is at least the
SGD step plus the square root and division; their ratio is the best Adam/SGD can be while they are computed
exactly. The hardware's estimate instructions (``vrsqrt14pd``, ``vrcp14pd``) give 14 bits, far outside the
contract's 1e-12 bound; refined by Newton steps to full precision they would cost about a dozen
multiply-adds per weight (an estimate, not measured here: ~1.5 cycles against the ~3 measured for
``vsqrtpd`` + ``vdivpd``), which would still leave Adam near 4x.
"""
import time

import numpy as np
from bench_optimizers import interleaved  # beside this script: the optimisers' epochs, interleaved

import fastmlp
from fastmlp.backends._numba_config import jit
from fastmlp.benchmarking.contenders import WORKLOADS


@jit
def sgd_update(p, g, lr, reps):
    for _ in range(reps):
        for q in range(p.shape[0]):
            p[q] = p[q] - lr * g[q]


@jit
def adam_update(p, m, v, g, step_size, bc2_sqrt, beta1, beta2, eps, reps):
    for _ in range(reps):
        for q in range(p.shape[0]):
            m[q] = m[q] + (1.0 - beta1) * (g[q] - m[q])
            v[q] = beta2 * v[q] + (1.0 - beta2) * g[q] * g[q]
            p[q] = p[q] - step_size * (m[q] / (np.sqrt(v[q]) / bc2_sqrt + eps))


@jit
def sqrt_div_only(out, m, v, bc2_sqrt, eps, reps):
    for _ in range(reps):
        for q in range(out.shape[0]):
            out[q] = m[q] / (np.sqrt(v[q]) / bc2_sqrt + eps)


def per_weight_ns(fn, args, n, reps=2000, rounds=9):
    fn(*args, 1)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn(*args, reps)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) / reps / n * 1e9


def main():
    w = WORKLOADS["W2"]
    n = fastmlp.MLP(list(w.layer_sizes)).spec.n_params
    rng = np.random.default_rng(0)
    p, g = rng.standard_normal(n), rng.standard_normal(n) * 1e-3
    m, v, out = np.zeros(n), np.full(n, 1e-6), np.empty(n)
    sgd = per_weight_ns(sgd_update, (p, g, 1e-9), n)
    adam = per_weight_ns(adam_update, (p, m, v, g, 1e-9, 0.5, 0.9, 0.999, 1e-8), n)
    sd = per_weight_ns(sqrt_div_only, (out, m, v, 0.5, 1e-8), n)
    epoch = interleaved(("W2",), ("sgd", "adam"), rounds=7)["W2"]    # seconds per epoch, side by side
    sample = {opt: float(np.median(t)) / w.n_samples / n * 1e9 for opt, t in epoch.items()}
    print(f"W2, {n:,} weights, float64, ns per weight (medians):")
    print(f"  SGD update alone            {sgd:6.3f}")
    print(f"  Adam update alone           {adam:6.3f}   ({adam / sgd:.1f}x SGD's update)")
    print(f"  sqrt + division alone       {sd:6.3f}")
    print(f"  whole SGD sample (W2 epoch) {sample['sgd']:6.3f}")
    print(f"  whole Adam sample           {sample['adam']:6.3f}   "
          f"measured Adam/SGD {sample['adam'] / sample['sgd']:.2f}x")
    print(f"  floor: (SGD sample + sqrt/div) / SGD sample = {(sample['sgd'] + sd) / sample['sgd']:.2f}x; "
          f"target 2.5x")


if __name__ == "__main__":
    main()

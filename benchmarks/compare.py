"""Side-by-side samples/s of every contender on the workloads, in one run, rounds interleaved.

    python benchmarks/compare.py                     # W1-W4, float64 and float32, 5 rounds
    python benchmarks/compare.py W3 --dtype float64 --rounds 7
    python benchmarks/compare.py --sweep             # batch-size sweep of numba vs numpy on W2 and W4

The machine is shared and noisy, so only ratios measured in the same run mean anything: contenders are
timed round-robin (round 1 of each, then round 2 of each, ...), and the table gives each one's median and
min-max samples/s and its ratio to a baseline (JAX's lax.scan epoch where installed). Every contender's
agreement with the reference is checked before any timing counts; a mismatch exits non-zero.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from workloads import WORKLOADS, FastmlpRunner, agreement, contenders, make_problem  # noqa: E402

BOUNDS = {"float64": 1e-12, "float32": 1e-4}


def measure(w, dtype, names, rounds, n=None):
    """``{name: [samples/s per round]}`` for the contenders ``names`` on workload ``w``."""
    factories = contenders(batched=w.batch_size > 1)
    net, X, Y = make_problem(w, dtype, n=n)
    runners = {}
    for name in names:
        if name not in factories:
            continue
        factory = factories[name]
        d = agreement(factory, w, net, X, Y, n_check=128 if w.batch_size > 1 else 32)
        if d is not None and d > BOUNDS[dtype]:
            raise SystemExit(f"{w.name} {dtype} {name}: disagrees with the reference by {d:.3g}")
        r = factory(w, net, X, Y)
        t0 = time.perf_counter()
        r.reset()
        r.run()                                   # warm-up (compile)
        r.first_call = time.perf_counter() - t0
        runners[name] = r
    rates = {name: [] for name in runners}
    for _ in range(rounds):
        for name, r in runners.items():
            r.reset()
            t0 = time.perf_counter()
            r.run()
            rates[name].append(getattr(r, "n_used", X.shape[0]) / (time.perf_counter() - t0))
    return rates


def table(title, rates, baseline, flops_per_sample=None):
    base = np.median(rates[baseline]) if baseline in rates else None
    print(f"\n{title}")
    print(f"  {'contender':<15} {'median/s':>12} {'min':>12} {'max':>12} {'vs ' + (baseline or '-'):>14}"
          + ("  GFLOP/s" if flops_per_sample else ""))
    for name, r in rates.items():
        med = np.median(r)
        ratio = f"{med / base:>14.2f}" if base else f"{'':>14}"
        gf = f"  {med * flops_per_sample / 1e9:7.2f}" if flops_per_sample else ""
        print(f"  {name:<15} {med:>12,.0f} {min(r):>12,.0f} {max(r):>12,.0f} {ratio}{gf}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("workloads", nargs="*", default=["W1", "W2", "W3", "W4"])
    ap.add_argument("--dtype", choices=["float64", "float32", "both"], default="both")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sweep", action="store_true", help="batch-size sweep, numba vs numpy, on W2 and W4")
    ap.add_argument("--json", help="write the raw rates here")
    args = ap.parse_args(argv)
    dtypes = ["float64", "float32"] if args.dtype == "both" else [args.dtype]
    out = {}
    if args.sweep:
        for wname in ("W2", "W4"):
            for dtype in dtypes:
                for B in [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]:
                    w = replace(WORKLOADS[wname], batch_size=B, n_samples=20_000 if wname == "W4" else 50_000)
                    if B == 1 and wname == "W4":
                        w = replace(w, n_samples=3000)
                    rates = measure(w, dtype, ["fastmlp-numba", "fastmlp-numpy"], args.rounds)
                    out[f"{wname} {dtype} B={B}"] = rates
                    med = {k: np.median(v) for k, v in rates.items()}
                    print(f"{wname} {dtype} batch {B:>5}: numba {med['fastmlp-numba']:>12,.0f}/s  numpy "
                          f"{med['fastmlp-numpy']:>12,.0f}/s  numpy/numba {med['fastmlp-numpy'] / med['fastmlp-numba']:.2f}",
                          flush=True)
    else:
        for wname in args.workloads:
            w = WORKLOADS[wname]
            names = (["fastmlp-numpy", "fastmlp-numba", "jax-scan", "jax-step", "torch", "sklearn",
                      "blas-floor"]
                     if w.batch_size > 1 else ["fastmlp-numba", "jax-scan", "sklearn"])
            for dtype in dtypes:
                rates = measure(w, dtype, names, args.rounds)
                out[f"{wname} {dtype}"] = rates
                table(f"{wname} {list(w.layer_sizes)} {w.activation}/{w.loss} batch {w.batch_size} "
                      f"N={w.n_samples} {dtype}", rates, "jax-scan", w.flops_per_sample())
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

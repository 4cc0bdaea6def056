"""The ``fastmlp`` command: ``fastmlp demo`` trains the seed network on built-in data with every path."""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from . import __version__, backends, datasets
from .model import MLP

SEED_NAMES = [  # the seed's names for W[0] row-major, b[0], W[1], b[1]
    "w11^(1)", "w12^(1)", "w21^(1)", "w22^(1)", "b11", "b12", "w11^(2)", "w21^(2)", "b21"]


def _flat(dW, db):
    return np.concatenate([np.concatenate([w.ravel(), b.ravel()]) for w, b in zip(dW, db)])


def demo(args) -> int:
    X, y = datasets.placement(args.rows, seed=0)
    net = MLP([2, 2, 1], activation="identity", loss="mse", seed=0)
    print(f"fastmlp {__version__} demo: the seed network [2, 2, 1] (iq, cgpa) -> salary, identity "
          f"activations, squared error, per-sample SGD")
    print(f"data: datasets.placement({args.rows}, seed=0); epochs {args.epochs}, lr {args.lr}, shuffled "
          f"with seed 0\n")

    print("the nine derivatives at the start, for the first student "
          f"(iq/100 = {X[0, 0]:.3f}, cgpa/10 = {X[0, 1]:.3f}, salary/10 = {y[0]:.3f}):")
    grads = _flat(*net.gradients(X[:1], y[:1]))
    for name, p, g in zip(SEED_NAMES, net.params, grads):
        print(f"  dL/d{name:<8} = {g:>10.6f}   ({name} = {p:>7.4f})")
    print()

    start = net.params.copy()
    results = {}
    for name in backends.BACKENDS:
        if not backends.available(name):
            print(f"{name}: not available here, skipped")
            continue
        model = MLP([2, 2, 1], activation="identity", loss="mse", seed=0)
        t0 = time.perf_counter()    # first use: imports the path and loads (or compiles) its kernels
        model.fit(X[:1], y[:1], epochs=1, lr=args.lr, backend=name)
        first_use = time.perf_counter() - t0
        model.params[:] = start
        t0 = time.perf_counter()
        history = model.fit(X, y, epochs=args.epochs, lr=args.lr, batch_size=1, seed=0, backend=name)
        results[name] = (model, history, time.perf_counter() - t0, first_use)

    names = list(results)
    print("mean loss per epoch (each sample's loss before its update):")
    print("  epoch  " + "".join(f"{n:>14}" for n in names))
    for e in range(args.epochs):
        print(f"  {e + 1:>5}  " + "".join(f"{results[n][1].loss[e]:>14.8f}" for n in names))
    print()

    ref = results["python"][0].params
    print("path      seconds    samples/s   first use (s)   max|params - python| / max|python|")
    worst = 0.0
    for n in names:
        model, history, seconds, first_use = results[n]
        diff = float(np.max(np.abs(model.params - ref)) / np.max(np.abs(ref)))
        worst = max(worst, diff)
        rate = args.rows * args.epochs / seconds
        print(f"{n:<8} {seconds:>8.4f} {rate:>12,.0f} {first_use:>15.3f}   {diff:.2e}")
    print("(first use: importing the path and loading its compiled kernels, or compiling them on a cold cache)")
    model = results["numba" if "numba" in results else names[0]][0]
    W0, b0, W1, b1 = model.weights[0], model.biases[0], model.weights[1], model.biases[1]
    coef, intercept = (W0 @ W1).ravel(), (b0 @ W1 + b1).item()
    print(f"\nthe trained network is linear: salary/10 ~ {coef[0]:.3f} iq/100 + {coef[1]:.3f} cgpa/10 + "
          f"{intercept:.3f} (data made with 0.4, 0.6, 0.2)")
    if worst > 1e-9:
        print(f"paths disagree by {worst:.2e}, more than the contract's 1e-9", file=sys.stderr)
        return 1
    return 0


def _bench(args) -> int:
    from .benchmarking import report
    return report.main(args)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fastmlp", description="Train multi-layer perceptrons by backpropagation.")
    parser.add_argument("--version", action="version", version=f"fastmlp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="train the seed network on built-in data with every path")
    p.add_argument("--rows", type=int, default=1000, help="students in the placement data (default 1000)")
    p.add_argument("--epochs", type=int, default=10, help="epochs (default 10)")
    p.add_argument("--lr", type=float, default=0.02, help="learning rate (default 0.02)")
    p.set_defaults(func=demo)
    p = sub.add_parser("bench", help="every path and every installed peer on the workloads, side by side")
    p.add_argument("--quick", action="store_true", help="a small version, under a minute (a smoke test)")
    p.add_argument("--workloads", default="W1,W2,W3,W4", help="comma-separated, from W1,W2,W3,W4")
    p.add_argument("--dtype", choices=["float64", "float32", "both"], default="both")
    p.add_argument("--rounds", type=int, default=0, help="timed rounds per contender (default 5; quick 3)")
    p.add_argument("--no-sweep", action="store_true", help="skip the batch-size sweep")
    p.add_argument("--out", default="bench-results", help="folder for bench.json, bench.md, bench.png")
    p.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    return args.func(args)

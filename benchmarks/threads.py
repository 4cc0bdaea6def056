"""The per-sample loop on several threads (``fit(threads=...)``), beside one thread, as users call it.

    python benchmarks/threads.py                 # the crossover: networks from W2's size to W3's, 1 vs 2 threads
    python benchmarks/threads.py --barrier       # what one barrier costs (two threads meeting, nothing else)
    python benchmarks/threads.py --slices        # where W3's MLP.fit on two threads spends its time
    python benchmarks/threads.py --compile       # the threaded kernel's first call, in a cache folder of its own

The crossover: for each network, ``MLP.fit`` (one epoch, per-sample SGD, float64, no shuffle) with one thread and
with two, alternated for ``--rounds`` rounds after a warm-up, a short pause before each; reported are each one's
median samples/s and the per-round ratio (median, min - max). This is what ``backends.numba.PARAMS_PER_THREAD``
rests on. Run it with nothing else on the machine; it asserts nothing.
"""
from __future__ import annotations

import argparse
import threading
import time

import numpy as np

from fastmlp import MLP

NETWORKS = ([16, 64, 64, 1], [64, 64, 64, 10], [64, 96, 96, 10], [64, 128, 128, 10], [64, 192, 192, 10],
            [64, 256, 256, 10], [784, 256, 128, 10], [784, 1024, 1024, 10])


def crossover(rounds: int, threads: int):
    rng = np.random.default_rng(0)
    print(f"| network | parameters | 1 thread samples/s | {threads} threads samples/s | per-round ratio |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for sizes in NETWORKS:
        n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
        n = max(500, int(3e8 / n_params / 8))              # about 0.2 s of one thread
        X = rng.normal(size=(n, sizes[0]))
        y = rng.integers(0, sizes[-1], n) if sizes[-1] > 1 else rng.normal(size=n)
        loss = "cross_entropy" if sizes[-1] > 1 else "mse"
        times = {1: [], threads: []}
        for k in range(rounds):
            for t in ((1, threads) if k % 2 == 0 else (threads, 1)):
                net = MLP(sizes, activation="relu", loss=loss, seed=1)
                net.fit(X[:20], y[:20], threads=t, shuffle=False, lr=1e-3)        # compile / load, start up
                time.sleep(0.05)
                t0 = time.perf_counter()
                net.fit(X, y, threads=t, shuffle=False, lr=1e-3)
                times[t].append(time.perf_counter() - t0)
        ratio = np.array(times[1]) / np.array(times[threads])
        print(f"| {sizes} | {n_params:,} | {n / np.median(times[1]):,.0f} | {n / np.median(times[threads]):,.0f} | "
              f"{np.median(ratio):.2f}x ({ratio.min():.2f} - {ratio.max():.2f}) |", flush=True)


def barrier(n_meetings: int = 200_000, repeats: int = 5):
    from numba import njit

    from fastmlp.backends.numba import _sync

    @njit(nogil=True)
    def meet(sync, n, n_threads):
        for _ in range(n):
            _sync.barrier(sync, n_threads)

    meet(_sync.new_barrier(), 10, 1)
    for _ in range(repeats):
        sync = _sync.new_barrier()
        other = threading.Thread(target=meet, args=(sync, n_meetings, 2))
        t0 = time.perf_counter()
        other.start()
        meet(sync, n_meetings, 2)
        other.join()
        print(f"two threads: {(time.perf_counter() - t0) / n_meetings * 1e9:.0f} ns a barrier")


def slices(fits: int = 3, threads: int = 2):
    """W3, 5,000 rows: each fit's time before its first slice, in the slices (the team's calls), between them."""
    import fastmlp.backends.numba as numba_path

    run, calls = numba_path.Team.run, []

    def timed(self, kernel, *args, interrupt=None):
        t0 = time.perf_counter()
        out = run(self, kernel, *args, interrupt=interrupt)
        calls.append((t0, time.perf_counter()))
        return out
    numba_path.Team.run = timed
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(5000, 784)), rng.integers(0, 10, 5000)
    for _ in range(fits):
        net = MLP([784, 256, 128, 10], activation="relu", loss="cross_entropy", seed=1)
        net.fit(X[:50], y[:50], threads=threads)
        time.sleep(0.25)
        calls.clear()
        t0 = time.perf_counter()
        net.fit(X, y, threads=threads, shuffle=False, lr=1e-3)
        t1 = time.perf_counter()
        gaps = [calls[k + 1][0] - calls[k][1] for k in range(len(calls) - 1)]
        print(f"fit {(t1 - t0) * 1e3:.1f} ms: {(calls[0][0] - t0) * 1e3:.2f} ms before the first slice; slices "
              f"{[round((b - a) * 1e3, 1) for a, b in calls]} ms; between them {[round(g * 1e3, 2) for g in gaps]} ms")
    numba_path.Team.run = run


def compile_time():
    """A threaded kernel's compile (plain SGD, float64) in a fresh process on an empty cache folder, after the
    one-thread kernel's (so that only the threaded kernel is timed), then its load in a second fresh process."""
    import os
    import subprocess
    import sys
    import tempfile

    code = ("import time, numpy as np; from fastmlp import MLP; X = np.ones((20, 3)); y = X[:, 0]; "
            "MLP([3, 32, 1]).fit(X, y, threads=1); t = time.perf_counter(); MLP([3, 32, 1]).fit(X, y, threads=2); "
            "print(f'{time.perf_counter() - t:.2f}')")
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "FASTMLP_CACHE_DIR": folder}
        for what in ("compiled", "loaded from the cache"):
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            print(f"first threaded fit, {what}: {out.stdout.strip()} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--barrier", action="store_true")
    parser.add_argument("--slices", action="store_true")
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    if args.compile:
        compile_time()
    elif args.barrier:
        barrier()
    elif args.slices:
        slices(threads=args.threads)
    else:
        crossover(args.rounds, args.threads)


if __name__ == "__main__":
    main()

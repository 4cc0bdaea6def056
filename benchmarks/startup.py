"""Time from ``import fastmlp`` to the end of a first one-epoch fit of the worked example's network, in fresh processes.

    python benchmarks/startup.py [--runs 5]

Cold: empty kernel caches (a new ``FASTMLP_CACHE_DIR`` each run, which holds all of fastmlp's compiled code),
so the kernels are generated and compiled.
Warm: the caches of a previous run are present, so they are loaded. The interpreter's own start is
not counted; everything fastmlp and Numba do is. Targets (issue 3): warm <= 0.5 s, cold <= 3 s.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

PROBE = """
import json, time
t0 = time.perf_counter()
import fastmlp
X, y = fastmlp.datasets.placement(1000, seed=0)
net = fastmlp.MLP([2, 2, 1], activation="identity", seed=0)
history = net.fit(X, y, epochs=1, lr=0.01, backend="{backend}")
print(json.dumps({{"seconds": time.perf_counter() - t0, "backend": history.backend}}))
"""


def once(cache_dir, backend):
    env = dict(os.environ, FASTMLP_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", PROBE.format(backend=backend)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)["seconds"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--backend", default="numba")
    args = ap.parse_args()
    cold, warm = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as d:
            cold.append(once(d, args.backend))
            warm.append(once(d, args.backend))
    for name, xs in (("cold", cold), ("warm", warm)):
        print(f"{name}: median {statistics.median(xs):.3f} s  (min {min(xs):.3f}, max {max(xs):.3f}, "
              f"{args.runs} fresh processes)")


if __name__ == "__main__":
    main()

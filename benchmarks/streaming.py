"""Streaming from disk against the same rows in memory: W2's network, per-sample SGD, one epoch.

    python benchmarks/streaming.py [--rows 10000000] [--rounds 3] [--folder DIR] [--no-shuffle]

Makes (once) a teacher data set of ``--rows`` rows for ``[16, 64, 64, 1]`` in float32, then trains one epoch
in fresh processes, alternating: "memory" loads X and y whole with ``numpy.load`` and fits the arrays;
"stream" fits the folder a chunk at a time. Reported: median samples/s of the fit itself, the ratio
stream / memory (issue 7's target: >= 0.8), and each process's peak resident memory (whole process,
interpreter and Numba included). Exits non-zero if the two final losses disagree by more than 1 %.
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROBE = """
import json, resource, sys, time
import numpy as np, fastmlp
mode, folder, shuffle = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
net = fastmlp.MLP([16, 64, 64, 1], activation="relu", dtype="float32", seed=0)
net.fit(np.zeros((4, 16), np.float32), np.zeros(4, np.float32), backend="numba")     # compile outside the timing
net = fastmlp.MLP([16, 64, 64, 1], activation="relu", dtype="float32", seed=0)
t0 = time.perf_counter()
if mode == "memory":
    X, y = np.load(folder + "/X.npy"), np.load(folder + "/y.npy")
    t1 = time.perf_counter()
    h = net.fit(X, y, lr=0.01, backend="numba", shuffle=shuffle, seed=0)
else:
    t1 = time.perf_counter()
    h = net.fit(folder, lr=0.01, backend="numba", shuffle=shuffle, seed=0)
t2 = time.perf_counter()
print(json.dumps({"fit": t2 - t1, "load": t1 - t0, "loss": h.loss[0],
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--folder", help="where the data set is (made there if missing)")
    ap.add_argument("--no-shuffle", action="store_true")
    args = ap.parse_args()
    folder = Path(args.folder or Path(tempfile.gettempdir()) / f"fastmlp-stream-{args.rows}")
    if not (folder / "manifest.json").exists():
        import fastmlp
        t0 = time.perf_counter()
        fastmlp.datasets.write(folder, args.rows, [16, 64, 64, 1], seed=0, dtype="float32")
        print(f"made {args.rows:,} rows in {time.perf_counter() - t0:.1f} s at {folder}")
    runs = {"memory": [], "stream": []}
    for _ in range(args.rounds):
        for mode in runs:
            out = subprocess.run([sys.executable, "-c", PROBE, mode, str(folder), "0" if args.no_shuffle else "1"],
                                 check=True, capture_output=True, text=True).stdout
            runs[mode].append(json.loads(out))
    rate = {m: statistics.median(args.rows / r["fit"] for r in rs) for m, rs in runs.items()}
    for m, rs in runs.items():
        print(f"{m:>6}: {rate[m]:>12,.0f} samples/s (median of {args.rounds}), peak memory "
              f"{max(r['peak_mib'] for r in rs):,.0f} MiB, load {statistics.median(r['load'] for r in rs):.1f} s, "
              f"loss {rs[0]['loss']:.6g}")
    print(f"stream / memory: {rate['stream'] / rate['memory']:.2f}")
    lm, ls = runs["memory"][0]["loss"], runs["stream"][0]["loss"]
    if abs(lm - ls) > 0.01 * abs(lm):
        print(f"losses disagree: {lm} vs {ls}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Data-parallel training (``fastmlp.distributed``) on a local cluster of worker processes, beside serial SGD.

    python benchmarks/data_parallel.py [--rows 10000000] [--epochs 5] [--sync-every 100000] [--out DIR]
    python benchmarks/data_parallel.py --overhead            # per-round cost against parameter count

W2's network (``[16, 64, 64, 1]``, tanh, per-sample SGD) on a teacher folder of ``--rows`` rows (written once to
``--folder`` and reused) with a held-out 10**5 rows of the same teacher, three ways, each in this process's
client or ``MLP.fit``:

* serial: ``MLP.fit(folder)``, one epoch per call, the held-out mse after each;
* one worker: ``fastmlp.distributed.fit`` on a ``LocalCluster`` of one worker process, ``partitions=2``;
* two workers: the same call on two worker processes -- the same bits as one worker (asserted), in less time.

Reported: rows/s per epoch (median and range), the held-out mse after epochs 1, 2 and 5 beside serial SGD's,
what the rounds cost beyond training (``seconds - compute_seconds``), and each worker's peak resident memory.
Run it with nothing else on the machine; it asserts nothing about speed.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import fastmlp
from fastmlp import distributed as fd

LAYERS = [16, 64, 64, 1]
HELD_OUT = 100_000


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def held_out(rows):
    return fastmlp.datasets.teacher(HELD_OUT, LAYERS, activation="tanh", seed=0, start=rows, dtype="float64")


def serial(folder, args, X_val, y_val):
    net = fastmlp.MLP(LAYERS, activation="tanh", seed=1)
    losses, rates = [], []
    for epoch in range(args.epochs):
        h = net.fit(folder, epochs=1, lr=args.lr, seed=100 + epoch)
        rates.append(args.rows / h.seconds[0])
        losses.append(net.loss(X_val, y_val))
        print(f"  serial epoch {epoch + 1}: {rates[-1]:,.0f} rows/s, held-out mse {losses[-1]:.5f}", flush=True)
    return {"rows_per_s": rates, "held_out": losses}


def cluster_run(folder, args, X_val, y_val, workers, sync_every):
    import distributed
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        net = fastmlp.MLP(LAYERS, activation="tanh", seed=1)
        client.run(_warm)             # the kernel loaded on every worker before the clock starts
        losses, rates, overhead, rounds = [], [], [], []
        for epoch in range(args.epochs):
            h = fd.fit(net, folder, client, epochs=1, lr=args.lr, sync_every=sync_every, partitions=args.partitions,
                       seed=100 + epoch)
            rates.append(args.rows / h.seconds[0])
            overhead.append((h.seconds[0] - h.compute_seconds[0]) / h.rounds[0])
            rounds.append(h.rounds[0])
            losses.append(net.loss(X_val, y_val))
            print(f"  {workers} worker(s), sync_every {sync_every}: epoch {epoch + 1}: {rates[-1]:,.0f} rows/s, "
                  f"{h.rounds[0]} rounds, {overhead[-1] * 1e3:.1f} ms/round beyond training, held-out mse "
                  f"{losses[-1]:.5f}", flush=True)
        memory = client.run(peak_mib)
    return {"rows_per_s": rates, "held_out": losses, "overhead_ms_per_round": [o * 1e3 for o in overhead],
            "rounds": rounds, "peak_mib_per_worker": sorted(memory.values()), "params": net.params.copy()}


def _warm():
    """Load the per-sample kernel in a worker (from the disk cache), so that the first timed epoch does not."""
    net = fastmlp.MLP(LAYERS, activation="tanh", seed=0)
    X, y = fastmlp.datasets.teacher(64, LAYERS, seed=0, dtype="float64")
    net.fit(X, y, epochs=1, lr=1e-3)


def overhead(args):
    """Rounds of 64 rows per partition on small data: what a round costs beyond training, against the number of
    parameters (the broadcast of the state, the tasks, the gather and the average)."""
    import distributed
    rows = []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        client.run(_warm)
        for width in (16, 64, 256, 512, 1024):
            layers = [16, width, width, 1]
            X, y = fastmlp.datasets.teacher(2 * 64 * 20, layers, seed=0, dtype="float64")
            import dask.array as da
            data = (da.from_array(X, chunks=len(X) // 2), da.from_array(y, chunks=len(y) // 2))
            for optimizer in ("sgd", "adam"):
                net = fastmlp.MLP(layers, activation="tanh", seed=0)
                fd.fit(net, data, client, epochs=1, sync_every=64, partitions=2, lr=1e-4, optimizer=optimizer)
                per_round = []
                for _ in range(3):
                    h = fd.fit(net, data, client, epochs=1, sync_every=64, partitions=2, lr=1e-4, optimizer=optimizer)
                    per_round.append((h.seconds[0] - h.compute_seconds[0]) / h.rounds[0] * 1e3)
                row = {"params": net.spec.n_params, "optimizer": optimizer,
                       "ms_per_round": statistics.median(per_round), "range": [min(per_round), max(per_round)]}
                rows.append(row)
                print(f"  {row['params']:>9,} parameters, {optimizer:4s}: {row['ms_per_round']:.1f} ms per round "
                      f"beyond training ({row['range'][0]:.1f}-{row['range'][1]:.1f})", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--sync-every", type=int, nargs="+", default=[fd.DEFAULT_SYNC_EVERY])
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--folder", default="/tmp/fastmlp-bench-w2-teacher")
    parser.add_argument("--out", default="bench-results")
    parser.add_argument("--overhead", action="store_true", help="only the per-round cost against parameter count")
    parser.add_argument("--skip-serial", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        import threadpoolctl
        blas = [(i.get("internal_api"), i.get("version"), i.get("architecture"), i.get("num_threads"))
                for i in threadpoolctl.threadpool_info()]
    except ImportError:
        blas = "threadpoolctl not installed"
    print(f"fastmlp {fastmlp.__version__}, numpy {np.__version__}, BLAS {blas}; OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE')!r}", flush=True)
    if args.overhead:
        result = {"overhead": overhead(args)}
        (out / "distributed-overhead.json").write_text(json.dumps(result, indent=1))
        return 0
    folder = Path(args.folder)
    if not (folder / "manifest.json").exists() or fastmlp.folder.read_manifest(folder)["rows"] != args.rows:
        t0 = time.perf_counter()
        fastmlp.datasets.write(folder, args.rows, LAYERS, activation="tanh", noise=0.1, seed=0, dtype="float64")
        print(f"wrote {args.rows:,} rows to {folder} in {time.perf_counter() - t0:.0f} s", flush=True)
    X_val, y_val = held_out(args.rows)
    result = {"rows": args.rows, "epochs": args.epochs, "lr": args.lr, "partitions": args.partitions}
    if not args.skip_serial:
        result["serial"] = serial(folder, args, X_val, y_val)
    for sync_every in args.sync_every:
        one = cluster_run(folder, args, X_val, y_val, 1, sync_every)
        two = cluster_run(folder, args, X_val, y_val, 2, sync_every)
        same = one.pop("params").tobytes() == two.pop("params").tobytes()
        print(f"sync_every {sync_every}: 1 and 2 workers give the same parameters bit for bit: {same}")
        ratio = [b / a for a, b in zip(one["rows_per_s"], two["rows_per_s"])]
        print(f"sync_every {sync_every}: 2 workers / 1 worker rows/s per epoch: "
              f"median {statistics.median(ratio):.2f} (range {min(ratio):.2f}-{max(ratio):.2f})")
        result[f"sync_every={sync_every}"] = {"one_worker": one, "two_workers": two, "same_bits": same,
                                              "speed_up": ratio}
    (out / "distributed.json").write_text(json.dumps(result, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())

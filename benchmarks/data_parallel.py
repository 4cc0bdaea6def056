"""Data-parallel training (``fastmlp.distributed``) on a local cluster of worker processes, beside serial SGD.

    python benchmarks/data_parallel.py [--rows 10000000] [--epochs 5] [--sync-every 100000] [--out DIR]
    python benchmarks/data_parallel.py --overhead            # per-round cost against parameter count
    python benchmarks/data_parallel.py --ceiling             # what two cores give two independent processes
    python benchmarks/data_parallel.py --config-ab           # fastmlp's cluster settings against dask's defaults

W2's network (``[16, 64, 64, 1]``, tanh, per-sample SGD) on a teacher folder of ``--rows`` rows (written once to
``--folder`` and reused) with a held-out 10**5 rows of the same teacher, three ways, each in this process's
client or ``MLP.fit``:

* serial: ``MLP.fit(folder)``, one epoch per call, the held-out mse after each;
* one worker: ``fastmlp.distributed.fit`` on a ``LocalCluster`` of one worker process, ``partitions=2``;
* two workers: the same call on two worker processes -- the same bits as one worker (reported), in less time.

An epoch of each in turn, the three side by side, so that the shared machine's moods fall on all three alike.

Reported: rows/s per epoch (median and range), the held-out mse after epochs 1, 2 and 5 beside serial SGD's,
what the rounds cost beyond training (``seconds - compute_seconds``), and each worker's peak resident memory.
Run it with nothing else on the machine; it asserts nothing about speed.
"""
from __future__ import annotations

import argparse
import contextlib
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
    """This process's peak resident memory: ``VmHWM`` (reset when a process starts a new program, unlike
    ``ru_maxrss``, which a worker process inherits from the one that spawned it)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def held_out(rows):
    return fastmlp.datasets.teacher(HELD_OUT, LAYERS, activation="tanh", seed=0, start=rows, dtype="float64")


def side_by_side(folder, args, X_val, y_val, sync_every):
    """Serial ``MLP.fit``, one worker and two workers, an epoch of each in turn (so that the machine's moods fall
    on all three alike): rows/s and the held-out mse after each epoch."""
    nets = {name: fastmlp.MLP(LAYERS, activation="tanh", seed=1) for name in ("serial", "one worker", "two workers")}
    out = {name: {"rows_per_s": [], "held_out": [], "overhead_ms_per_round": [], "rounds": []} for name in nets}
    with contextlib.ExitStack() as stack:
        clients = {}
        for name, workers in (("one worker", 1), ("two workers", 2)):
            clients[name] = stack.enter_context(fd.local_cluster(workers))     # what fit(client=None) starts
            clients[name].run(_warm)          # the kernel loaded on every worker before the clock starts
            out[name]["peak_mib_before"] = sorted(clients[name].run(peak_mib).values())
        _warm()
        for epoch in range(args.epochs):
            for name, net in nets.items():
                if name == "serial":
                    if args.skip_serial:
                        continue
                    h = net.fit(folder, epochs=1, lr=args.lr, seed=100 + epoch)
                else:
                    h = fd.fit(net, folder, clients[name], epochs=1, lr=args.lr, sync_every=sync_every,
                               partitions=args.partitions, seed=100 + epoch)
                    out[name]["overhead_ms_per_round"].append((h.seconds[0] - h.compute_seconds[0]) / h.rounds[0] * 1e3)
                    out[name]["rounds"].append(h.rounds[0])
                out[name]["rows_per_s"].append(args.rows / h.seconds[0])
                out[name]["held_out"].append(net.loss(X_val, y_val))
                extra = (f", {out[name]['rounds'][-1]} rounds, {out[name]['overhead_ms_per_round'][-1]:.1f} ms per "
                         "round beyond training" if name != "serial" else "")
                print(f"  epoch {epoch + 1}, {name:11s}: {out[name]['rows_per_s'][-1]:>9,.0f} rows/s, held-out mse "
                      f"{out[name]['held_out'][-1]:.5f}{extra}", flush=True)
        for name in ("one worker", "two workers"):
            out[name]["peak_mib_per_worker"] = sorted(clients[name].run(peak_mib).values())
    out["same_bits"] = nets["one worker"].params.tobytes() == nets["two workers"].params.tobytes()
    return out


def _warm():
    """Load the per-sample kernel in a worker (from the disk cache), so that the first timed epoch does not."""
    net = fastmlp.MLP(LAYERS, activation="tanh", seed=0)
    X, y = fastmlp.datasets.teacher(64, LAYERS, seed=0, dtype="float64")
    net.fit(X, y, epochs=1, lr=1e-3)


def overhead(args):
    """Rounds of 64 rows per partition on small data: what a round costs beyond training (the state to the
    workers, the tasks, the results back, the average), against the number of parameters and of partitions."""
    import dask.array as da
    rows = []
    with fd.local_cluster(2) as client:
        client.run(_warm)
        for width in (16, 64, 256, 512, 1024):
            layers = [16, width, width, 1]
            for partitions in (2, 8):
                X, y = fastmlp.datasets.teacher(partitions * 64 * 10, layers, seed=0, dtype="float64")
                data = (da.from_array(X, chunks=64 * 10), da.from_array(y, chunks=64 * 10))
                for optimizer in ("sgd", "adam"):
                    net = fastmlp.MLP(layers, activation="tanh", seed=0)
                    kw = dict(epochs=1, sync_every=64, partitions=partitions, lr=1e-4, optimizer=optimizer)
                    fd.fit(net, data, client, **kw)
                    per_round = []
                    for _ in range(3):
                        h = fd.fit(net, data, client, **kw)
                        per_round.append((h.seconds[0] - h.compute_seconds[0]) / h.rounds[0] * 1e3)
                    row = {"params": net.spec.n_params, "partitions": partitions, "optimizer": optimizer,
                           "ms_per_round": statistics.median(per_round), "range": [min(per_round), max(per_round)]}
                    rows.append(row)
                    print(f"  {row['params']:>9,} parameters, {partitions} partitions, {optimizer:4s}: "
                          f"{row['ms_per_round']:5.1f} ms per round beyond training ({row['range'][0]:.1f}-"
                          f"{row['range'][1]:.1f})", flush=True)
    return rows


def _rate_alone(rows, barrier=None, results=None, key=None):
    """W2 per-sample ``MLP.fit`` rows/s on in-memory teacher rows (three epochs, after a warm-up)."""
    X, y = fastmlp.datasets.teacher(rows, LAYERS, activation="tanh", seed=0, dtype="float64")
    net = fastmlp.MLP(LAYERS, activation="tanh", seed=0)
    net.fit(X[:1000], y[:1000], lr=1e-3)
    if barrier is not None:
        barrier.wait()
    t0 = time.perf_counter()
    net.fit(X, y, epochs=3, lr=1e-3)
    rate = 3 * rows / (time.perf_counter() - t0)
    if results is not None:
        results[key] = rate
    return rate


def ceiling(args):
    """What two cores give two independent processes: one process training alone, then two at once (started
    together), three times. The data-parallel speed-up cannot beat the ratio of the pair's sum to one alone."""
    import multiprocessing
    ctx = multiprocessing.get_context("spawn")
    ratios = []
    for _ in range(3):
        alone = _rate_alone(args.ceiling_rows)
        with ctx.Manager() as manager:
            results, barrier = manager.dict(), manager.Barrier(2)
            procs = [ctx.Process(target=_rate_alone, args=(args.ceiling_rows, barrier, results, k)) for k in range(2)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            pair = sum(results.values())
        ratios.append(pair / alone)
        print(f"  alone {alone:,.0f} rows/s; two processes at once {pair:,.0f} rows/s together: {pair / alone:.2f}x",
              flush=True)
    print(f"two independent processes / one: median {statistics.median(ratios):.2f} (range {min(ratios):.2f}-"
          f"{max(ratios):.2f})")
    return ratios


def config_ab(folder, args):
    """Two-worker clusters with dask's defaults and with fastmlp's (``distributed._LOCAL_CONFIG``), alternating, one
    epoch each: what turning off the workers' profiler and the scheduler's work stealing gives."""
    import dask
    import distributed
    rates = {"dask defaults": [], "fastmlp's": []}
    for rep in range(3):
        for name in rates:
            config = fd._LOCAL_CONFIG if name == "fastmlp's" else {}
            with dask.config.set(config), distributed.LocalCluster(
                    n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
                    distributed.Client(cluster) as client:
                client.run(_warm)
                net = fastmlp.MLP(LAYERS, activation="tanh", seed=1)
                h = fd.fit(net, folder, client, epochs=1, lr=args.lr, partitions=2, seed=rep)
                rates[name].append(args.rows / h.seconds[0])
                print(f"  {name:13s}: {rates[name][-1]:,.0f} rows/s", flush=True)
    ratio = [b / a for a, b in zip(*rates.values())]
    print(f"fastmlp's / dask's defaults: {', '.join(f'{r:.3f}' for r in ratio)}")
    return rates


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
    parser.add_argument("--ceiling", action="store_true",
                        help="only the machine's ceiling: one training process alone against two at once")
    parser.add_argument("--ceiling-rows", type=int, default=1_000_000)
    parser.add_argument("--config-ab", action="store_true",
                        help="only: two workers with dask's default settings against fastmlp's, alternating")
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
    if args.ceiling:
        (out / "distributed-ceiling.json").write_text(json.dumps({"ratios": ceiling(args)}))
        return 0
    if args.overhead:
        result = {"overhead": overhead(args)}
        (out / "distributed-overhead.json").write_text(json.dumps(result, indent=1))
        return 0
    folder = Path(args.folder)
    if not (folder / "manifest.json").exists() or fastmlp.folder.read_manifest(folder)["rows"] != args.rows:
        t0 = time.perf_counter()
        fastmlp.datasets.write(folder, args.rows, LAYERS, activation="tanh", noise=0.1, seed=0, dtype="float64")
        print(f"wrote {args.rows:,} rows to {folder} in {time.perf_counter() - t0:.0f} s", flush=True)
    if args.config_ab:
        (out / "distributed-config.json").write_text(json.dumps(config_ab(folder, args)))
        return 0
    X_val, y_val = held_out(args.rows)
    result = {"rows": args.rows, "epochs": args.epochs, "lr": args.lr, "partitions": args.partitions,
              "blas": blas}
    for sync_every in args.sync_every:
        print(f"sync_every {sync_every}:", flush=True)
        r = result[f"sync_every={sync_every}"] = side_by_side(folder, args, X_val, y_val, sync_every)
        ratio = [b / a for a, b in zip(r["one worker"]["rows_per_s"], r["two workers"]["rows_per_s"])]
        r["speed_up"] = ratio
        print(f"  one and two workers give the same parameters bit for bit: {r['same_bits']}")
        print(f"  two workers / one worker, rows/s epoch by epoch: median {statistics.median(ratio):.2f} (range "
              f"{min(ratio):.2f}-{max(ratio):.2f})")
        for name in ("one worker", "two workers"):
            print(f"  peak memory per worker, {name}: {r[name]['peak_mib_before']} MiB before training (kernel "
                  f"loaded), {r[name]['peak_mib_per_worker']} MiB after")
        if not args.skip_serial:
            ratio = [b / a for a, b in zip(r["serial"]["rows_per_s"], r["two workers"]["rows_per_s"])]
            print(f"  two workers / serial MLP.fit: median {statistics.median(ratio):.2f} (range "
                  f"{min(ratio):.2f}-{max(ratio):.2f})")
    (out / "distributed.json").write_text(json.dumps(result, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())

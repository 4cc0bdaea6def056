"""The ``fastmlp`` command: ``fastmlp demo`` trains the worked example's network on built-in data with every path."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__, _precompile, backends, datasets
from ._params import InvalidParameterError, check
from .backends import CacheError
from .folder import read_manifest
from .io import probe_destination
from .model import MLP, DivergenceError

EXAMPLE_NAMES = [  # the worked example's names for W[0] row-major, b[0], W[1], b[1]
    "w11^(1)", "w12^(1)", "w21^(1)", "w22^(1)", "b11", "b12", "w11^(2)", "w21^(2)", "b21"]


def demo(args) -> int:
    X, y = datasets.placement(args.rows, seed=0)
    net = MLP([2, 2, 1], activation="identity", loss="mse", seed=0)
    print(f"fastmlp {__version__} demo: the worked example's network [2, 2, 1] (iq, cgpa) -> salary, identity "
          f"activations, squared error, per-sample SGD")
    print(f"data: datasets.placement({args.rows}, seed=0); epochs {args.epochs}, lr {args.lr}, shuffled "
          f"with seed 0\n")

    print("the nine derivatives at the start, for the first student "
          f"(iq/100 = {X[0, 0]:.3f}, cgpa/10 = {X[0, 1]:.3f}, salary/10 = {y[0]:.3f}):")
    grads = net.spec.join(*net.gradients(X[:1], y[:1]))
    for name, p, g in zip(EXAMPLE_NAMES, net.params, grads):
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

    ref = results["reference"][0].params
    print("path       seconds    samples/s   first use (s)   max|params - reference| / max|reference|")
    worst = 0.0
    for n in names:
        model, history, seconds, first_use = results[n]
        diff = float(np.max(np.abs(model.params - ref)) / np.max(np.abs(ref)))
        worst = max(worst, diff)
        rate = args.rows * args.epochs / seconds
        print(f"{n:<9} {seconds:>8.4f} {rate:>12,.0f} {first_use:>15.3f}   {diff:.2e}")
    print("(first use: importing the path and loading its compiled kernels, or compiling them on a cold cache)")
    model = results["numba" if "numba" in results else names[0]][0]
    W0, b0, W1, b1 = model.weights[0], model.biases[0], model.weights[1], model.biases[1]
    coef, intercept = (W0 @ W1).ravel(), (b0 @ W1 + b1).item()
    print(f"\nthe trained network is linear: salary/10 ~ {coef[0]:.3f} iq/100 + {coef[1]:.3f} cgpa/10 + "
          f"{intercept:.3f} (data made with 0.4, 0.6, 0.2)")
    bound = backends.BOUNDS["float64_20_epochs"]
    if worst > bound:
        print(f"paths disagree by {worst:.2e}, more than the contract's {bound:g}", file=sys.stderr)
        return 1
    return 0


def _param(name, parse=int, table_name=None):
    """An argparse type: the text parsed by ``parse`` (``int``, ``float``, or comma-separated integers for
    ``_sizes``), then checked against fastmlp's table of constraints (``_params``) under ``table_name``."""
    def convert(text):
        try:
            value = parse(text)
        except ValueError:
            kind = {int: "an integer", float: "a number"}.get(parse, "comma-separated integers such as 16,64,64,1")
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
        try:
            return check(table_name or name, value, label=name)
        except InvalidParameterError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    convert.__name__ = name
    return convert


def _sizes(text):
    return [int(v) for v in text.split(",")]


class _Parser(argparse.ArgumentParser):
    """argparse's conventions (``prog: error: ...``, exit 2), on one line, for every subcommand."""

    def error(self, message):
        self.exit(2, f"fastmlp: error: {message}\n")


# What a user can get wrong: bad arguments (ValueError, TypeError from fastmlp's checks), files and folders that
# are missing, unreadable or unwritable (OSError), an extra not installed (ImportError). Anything else is a bug and
# keeps its traceback.
USER_ERRORS = (ValueError, TypeError, OSError, CacheError, ImportError)


def _sync_every(text):
    return "epoch" if text == "epoch" else _param("sync_every")(text)


def _path(text):
    """An argparse type: a path that is not empty (an empty one would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def data_make(args) -> int:
    t0 = time.perf_counter()
    manifest = datasets.write(args.out, args.rows, args.layers, generator=args.generator,
                              activation=args.activation, task=args.task, noise=args.noise, seed=args.seed,
                              dtype=args.dtype, progress=not args.quiet)
    seconds = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in Path(args.out).iterdir())
    print(f"wrote {manifest['rows']:,} rows ({size / 1e9:.2f} GB) of {args.generator} {args.layers} "
          f"{args.task} to {args.out} in {seconds:.1f} s ({manifest['rows'] / seconds:,.0f} rows/s); "
          f"peak memory {_peak_mib():.0f} MiB")
    return 0


def train(args) -> int:
    if args.save is not None:
        probe_destination(args.save)           # before training: an unwritable --save is found now, not after
    manifest = read_manifest(args.folder)
    generated = manifest.get("params", {})
    if not (args.layers or "layer_sizes" in generated) or not (args.loss or "task" in generated):
        raise ValueError(f"{args.folder}: the manifest does not say how the data were made; give --layers and "
                         "--loss")
    layers = args.layers or generated["layer_sizes"]
    loss = args.loss or {"regression": "mse", "binary": "log_loss", "multiclass": "cross_entropy"}.get(
        generated["task"], "mse")
    net = MLP(layers, activation=args.activation, loss=loss, dtype=args.dtype or manifest.get("dtype", "float64"),
              seed=args.seed)
    parallel = args.workers is not None or args.scheduler is not None
    if not parallel and (args.sync_every is not None or args.partitions is not None):
        raise ValueError("--sync-every and --partitions are for data-parallel training: give --workers N or "
                         "--scheduler ADDRESS too")
    where = (f", data-parallel on {args.scheduler or f'{args.workers} local worker processes'} (sync every "
             f"{args.sync_every or 'the default'} rows)" if parallel else "")
    print(f"training {net!r}\non {args.folder}: {manifest['rows']:,} rows, {args.epochs} epoch(s), lr {args.lr}, "
          f"batch {args.batch_size}, backend {args.backend or 'auto'}{where}")
    t0 = time.perf_counter()
    settings = dict(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, shuffle=not args.no_shuffle,
                    backend=args.backend, chunk_rows=args.chunk_rows, progress=not args.quiet)
    if parallel:
        history = _train_parallel(net, args, settings)
    else:
        history = net.fit(args.folder, **settings)
    seconds = time.perf_counter() - t0
    print(f"\nbackend {history.backend}; loss per epoch:")
    for e, (loss_e, s) in enumerate(zip(history.loss, history.seconds)):
        rounds = (f", {history.rounds[e]} rounds of {history.partitions} partitions, "
                  f"{(s - history.compute_seconds[e]) / history.rounds[e] * 1e3:.1f} ms per round beyond training"
                  if parallel else "")
        print(f"  epoch {e + 1}: loss {loss_e:.6g}, {manifest['rows'] / s:,.0f} samples/s, {s:.1f} s{rounds}")
    print(f"total {seconds:.1f} s, {manifest['rows'] * args.epochs / seconds:,.0f} samples/s, "
          f"peak memory {_peak_mib():.0f} MiB" + (" (this process; the workers' own are apart)" if parallel else ""))
    if args.save is not None:
        print(f"saved to {net.save(args.save)}")
    return 0


def _train_parallel(net, args, settings):
    """``fastmlp.distributed.fit`` on a local cluster of ``--workers`` processes or the one at ``--scheduler``."""
    from . import distributed as data_parallel  # the distributed extra: imported only when asked for
    dask_distributed = data_parallel._import_distributed()
    kw = dict(sync_every=args.sync_every or data_parallel.DEFAULT_SYNC_EVERY, partitions=args.partitions,
              seed=args.seed, **settings)
    if args.scheduler is not None:
        with dask_distributed.Client(args.scheduler) as client:
            return data_parallel.fit(net, args.folder, client, **kw)
    with data_parallel.local_cluster(args.workers) as client:
        return data_parallel.fit(net, args.folder, client, **kw)


def _peak_mib():
    import resource  # POSIX only: imported where it is used
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _bench(args) -> int:
    from .benchmarking import report  # only `fastmlp bench` needs the contenders and their peers
    return report.main(args)


def compile_kernels(args) -> int:
    from numba.core import config
    say = None if args.quiet else print
    if config.DISABLE_JIT:
        if say is not None:
            say("fastmlp compile: NUMBA_DISABLE_JIT is set, so nothing is compiled")
        return 0
    if not _precompile.cache_usable():
        print("fastmlp: error: there is no usable folder for compiled kernels (see the warning above), so none can be "
              "kept; set FASTMLP_CACHE_DIR to a folder of yours", file=sys.stderr)
        return 1
    rules = list(dict.fromkeys("momentum" if r == "nesterov" else r for r in args.optimizer))
    dtypes = list(dict.fromkeys(args.dtype))
    if args.part is not None:                           # one share of another process's --jobs
        _precompile.share(dtypes, rules, *_precompile.parse_part(args.part), say)
        return 0
    t0 = time.perf_counter()
    try:
        done = _precompile.run(dtypes, rules, jobs=args.jobs, say=say)
    except RuntimeError as e:
        print(f"fastmlp: error: {e}", file=sys.stderr)
        return 1
    if say is not None:
        say(f"{len(_precompile.items(dtypes, rules))} kernels ready in {time.perf_counter() - t0:.1f} s"
            + (f" ({len(done)} in this process)" if args.jobs > 1 else ""))
    return 0


def main(argv=None) -> int:
    parser = _Parser(prog="fastmlp", description="Train multi-layer perceptrons by backpropagation.")
    parser.add_argument("--version", action="version", version=f"fastmlp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="train the worked example's network on built-in data with every path")
    p.add_argument("--rows", type=_param("rows"), default=1000, help="students in the placement data (default 1000)")
    p.add_argument("--epochs", type=_param("epochs"), default=10, help="epochs (default 10)")
    p.add_argument("--lr", type=_param("lr", float), default=0.02, help="learning rate (default 0.02)")
    p.set_defaults(func=demo)
    p = sub.add_parser("bench", help="every path and every installed peer on the workloads, side by side")
    p.add_argument("--quick", action="store_true", help="a small version, under a minute (a smoke test)")
    p.add_argument("--workloads", default="W1,W2,W2-tanh,W2-sigmoid,W3,W3-wide,W4",
                   help="comma-separated, from W1,W2,W2-tanh,W2-sigmoid,W3,W3-wide,W4 and W5 (time to a good model, "
                        "about 10 minutes with 5 runs; not in the default)")
    p.add_argument("--dtype", choices=["float64", "float32", "both"], default="both")
    p.add_argument("--rounds", type=_param("rounds", int, "epochs"), default=None,
                   help="timed rounds per contender (default 5; quick 3)")
    p.add_argument("--no-sweep", action="store_true", help="skip the batch-size sweep")
    p.add_argument("--isolate", action="store_true",
                   help="time each contender alone in a fresh process of its own (not interleaved)")
    p.add_argument("--w5-runs", type=_param("w5_runs", int, "epochs"), default=None,
                   help="W5: runs to the target per contender, each in a fresh process, for the spread of the time to "
                        "it (default 5; quick 2); the first also runs the whole budget")
    p.add_argument("--out", type=_path, default="bench-results", help="folder for bench.json, bench.md, bench.png")
    p.set_defaults(func=_bench)

    p = sub.add_parser("compile", help="load or compile every fixed kernel into the disk cache, once per install",
                       description="Load or compile every fixed kernel (the Numba path's per update rule, dtype and "
                                   "kind, the numpy path's per dtype) into the disk cache, so that no later fit of "
                                   "any network shape waits for the compiler.")
    p.add_argument("--dtype", nargs="+", choices=list(_precompile.DTYPES), default=list(_precompile.DTYPES))
    p.add_argument("--optimizer", nargs="+", choices=list(_precompile.RULES), default=list(_precompile.OPTIMIZERS),
                   help="update rules (nesterov runs momentum's kernels)")
    p.add_argument("--jobs", type=_param("jobs", int, "workers"), default=1,
                   help="processes compiling at once (default 1)")
    p.add_argument("--quiet", action="store_true", help="no line per kernel")
    p.add_argument("--part", help=argparse.SUPPRESS)          # K/N: a helper process of --jobs N
    p.set_defaults(func=compile_kernels)

    p = sub.add_parser("data", help="make synthetic data sets on disk")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    p = data_sub.add_parser("make", help="write a data set folder (X.npy, y.npy, manifest.json)")
    p.add_argument("generator", choices=["teacher"])
    p.add_argument("--rows", type=_param("rows"), required=True)
    p.add_argument("--layers", type=_param("layers", _sizes, "layer_sizes"), required=True,
                   help="the teacher's layer sizes, e.g. 16,64,64,1")
    p.add_argument("--out", type=_path, required=True, help="the folder to write")
    p.add_argument("--activation", default="tanh")
    p.add_argument("--task", default="regression", choices=list(datasets.TASKS))
    p.add_argument("--noise", type=_param("noise", float), default=0.1)
    p.add_argument("--seed", type=_param("seed"), default=0)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=data_make)

    p = sub.add_parser("train", help="train from a data set folder, a chunk at a time")
    p.add_argument("folder", type=_path)
    p.add_argument("--layers", type=_param("layers", _sizes, "layer_sizes"),
                   help="the student's layer sizes (default: the teacher's)")
    p.add_argument("--activation", default="relu")
    p.add_argument("--loss", choices=["mse", "log_loss", "cross_entropy", "poisson"], help="default: from the task")
    p.add_argument("--epochs", type=_param("epochs"), default=1)
    p.add_argument("--lr", type=_param("lr", float), default=0.01)
    p.add_argument("--batch-size", type=_param("batch_size"), default=1)
    p.add_argument("--backend", choices=list(backends.CHOICES))
    p.add_argument("--dtype", choices=["float32", "float64"], help="default: the data's")
    p.add_argument("--chunk-rows", type=_param("chunk_rows"), default=None)
    p.add_argument("--seed", type=_param("seed"), default=0)
    p.add_argument("--no-shuffle", action="store_true")
    p.add_argument("--save", type=_path, help="write the trained model here (fastmlp.load reads it)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    parallel = p.add_argument_group("data-parallel training (fastmlp.distributed; the distributed extra)")
    where = parallel.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_param("workers"), help="train on a local cluster of this many worker "
                                                                 "processes")
    where.add_argument("--scheduler", help="train on the dask cluster at this address (tcp://host:port); every "
                                           "worker must see FOLDER at the same path")
    parallel.add_argument("--sync-every", type=_sync_every, default=None,
                          help="rows each partition trains between averagings, or 'epoch' (default "
                               "fastmlp.distributed.DEFAULT_SYNC_EVERY)")
    parallel.add_argument("--partitions", type=_param("partitions"), default=None,
                          help="parts the rows are split into (default: the cluster's worker threads)")
    p.set_defaults(func=train)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as e:
        print(f"fastmlp: error: {e}", file=sys.stderr)
        return 2
    except DivergenceError as e:
        print(f"fastmlp: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fastmlp: interrupted", file=sys.stderr)
        return 130

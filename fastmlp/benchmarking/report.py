"""``fastmlp bench``: every path and every installed peer on the workloads W1-W4 (and W2 with tanh and with
sigmoid), side by side; ``--workloads W5`` adds the time to a good model (``accuracy.py``).

For each workload and dtype: every contender's agreement with the reference is checked on a slice (a
mismatch stops the run with a non-zero exit), each is warmed up (its first call, compile included, is
reported as ``first call s``), then timed for several rounds, round-robin, so that the noise of this shared
machine falls on all alike, each run after a quarter-second pause (``QUIET_SECONDS``), fastmlp's ``fit`` and
kernel first in turn (``--isolate``: each contender alone, in a fresh process of its own). fastmlp's
rows time ``MLP.fit`` (one epoch, no shuffle, as the peers run), as users call it; beside it, in the same
rounds, the path's kernel alone, and what ``fit`` costs over it. The table gives the median and min-max
samples/s, the ratio to the best peer (JAX, scikit-learn, PyTorch), the ratio to the reference path, and the
achieved GFLOP/s by the minimal count as a fraction of the machine's matmul rate, measured by the same command
(not in a quick run, whose matmul would be too short to be a ceiling). numpy's BLAS is named, with any
environment variable that forces its kernel. A batch-size sweep of the Numba and numpy paths shows where
``backend="auto"`` switches. Third-party warnings are captured and listed once at the end. Results go to a
JSON file, a Markdown file and a PNG chart (whiskers: the slowest and fastest rounds; one colour per contender).
"""
from __future__ import annotations

import json
import os
import platform
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numba
import numpy as np

from .. import __version__
from ..backends import BOUNDS
from . import in_fresh_process
from .contenders import WORKLOADS, agreement, contenders, make_problem

PEERS = ("jax-scan", "jax-step", "sklearn", "torch")
QUICK_ROWS = {"W1": 20_000, "W2": 4_000, "W2-tanh": 4_000, "W2-sigmoid": 4_000, "W3": 300, "W3-wide": 60,
              "W4": 2_560}
# the pure-Python path is timed on a slice
REFERENCE_ROWS = {"W1": 5_000, "W2": 200, "W2-tanh": 200, "W2-sigmoid": 200, "W3": 4, "W3-wide": 1, "W4": 128}
QUICK_REFERENCE_ROWS = {"W1": 2_000, "W2": 50, "W2-tanh": 50, "W2-sigmoid": 50, "W3": 2, "W3-wide": 1, "W4": 8}
# where the per-sample loop on every core (fastmlp-numba-threads) is timed beside one thread
THREADED = ("W3", "W3-wide")
SWEEP_BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]


# Quiet before each timed run: the thread pools of the run before (OpenBLAS's, XLA's) spin for a while after their
# last call, and on this 2-core machine whatever runs next shares a core with them. Measured on W2 float32: the
# run timed right after scikit-learn's epoch ran 20 % slower than the same run timed second. So every contender
# starts from an idle machine, as a user's first call does (which costs the short runs most: W1's MLP.fit, 1 ms of
# training, takes 0.5 ms more after a pause than back to back, the kernel alone 0.1 ms).
QUIET_SECONDS = 0.25


class Mismatch(RuntimeError):
    pass


# --- the machine's ceilings -------------------------------------------------------------------------------------

def ceilings() -> dict:
    """Matmul GFLOP/s (float64, float32; numpy's BLAS on all its threads) and memory bandwidth (GB/s)."""
    out = {}
    n = 2048
    for dtype in ("float64", "float32"):
        a = np.random.default_rng(0).standard_normal((n, n)).astype(dtype)
        c = np.empty_like(a)
        np.matmul(a, a, out=c)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            np.matmul(a, a, out=c)
            times.append(time.perf_counter() - t0)
        out[f"matmul_gflops_{dtype}"] = 2 * n ** 3 / np.median(times) / 1e9
    src = np.ones(128 * 2 ** 20 // 8)                       # 128 MiB of float64: beyond every cache
    dst = np.empty_like(src)
    np.copyto(dst, src)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t0)
    out["memory_gbs"] = 2 * src.nbytes / np.median(times) / 1e9      # read + write
    return out


# --- measuring ------------------------------------------------------------------------------------------------------

def measure(w, dtype, names, rounds, n=None, check=True, quick=False, isolate=False) -> dict:
    """``{name: {"rates": [samples/s per round], "first_call": s, "warnings": [...]}}`` for the contenders on
    workload ``w`` (fastmlp's paths also ``"kernel_rates"``: the kernel alone, timed in the same rounds).

    Round-robin in one process, or with ``isolate`` each contender alone in a fresh process of its own."""
    if isolate:
        results = {}
        for name in names:
            results.update(in_fresh_process(measure, w, dtype, [name], rounds, n, check, quick))
        return results
    factories = contenders(batched=w.batch_size > 1, reference=True)
    net, X, Y = make_problem(w, dtype, n=n)
    runners, caught = {}, {}
    for name in names:
        if name not in factories:
            continue
        with warnings.catch_warnings(record=True) as caught[name]:
            warnings.simplefilter("always")
            runners[name] = _prepare(name, factories[name], w, dtype, net, X, Y, check, quick)
    results = {name: {"rates": [], "first_call": r.first_call, "pid": os.getpid()} for name, r in runners.items()}
    for name, r in runners.items():
        if hasattr(r, "run_kernel"):
            results[name]["kernel_rates"] = []
    for k in range(rounds):
        for name, r in runners.items():
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                rows = getattr(r, "n_used", r.X.shape[0])
                timed = {"rates": r.run}
                if "kernel_rates" in results[name]:       # fit and the kernel alone, first in turn
                    timed["kernel_rates"] = r.run_kernel
                    if k % 2:
                        timed = dict(reversed(timed.items()))
                for key, run in timed.items():
                    time.sleep(QUIET_SECONDS if not quick else QUIET_SECONDS / 5)
                    results[name][key].append(rows / _timed(r.reset, run))
            caught[name] += seen
    for name in results:
        results[name]["warnings"] = sorted({f"{type(m.message).__name__}: {m.message}" for m in caught[name]})
    return results


def _prepare(name, factory, w, dtype, net, X, Y, check, quick):
    """The contender's runner, checked against the reference and warmed up (``first_call``: compile included)."""
    if name == "fastmlp-reference":          # slow: timed on a slice; it is the yardstick, not checked
        rows = min((QUICK_REFERENCE_ROWS if quick else REFERENCE_ROWS)[w.name], X.shape[0])
        runner = factory(w, net, X[:rows], Y[:rows])
    else:
        if check:
            # a slice of one batch at most: the pure-Python reference is slow on W3/W4's 235,000 weights
            n_check = (32 if quick else 128) if w.batch_size > 1 else (8 if quick else 32)
            d = agreement(factory, w, net, X, Y, n_check=n_check)
            if d is not None and d > BOUNDS[dtype]:
                raise Mismatch(f"{w.name} {dtype} {name}: differs from the reference by {d:.3g} "
                               f"(bound {BOUNDS[dtype]:g})")
        runner = factory(w, net, X, Y)
    runner.first_call = _timed(runner.reset, runner.run)          # warm-up: compile, fill caches
    if hasattr(runner, "run_kernel"):
        _timed(runner.reset, runner.run_kernel)
    return runner


def _timed(reset, run) -> float:
    reset()
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def run(workloads=("W1", "W2", "W2-tanh", "W2-sigmoid", "W3", "W3-wide", "W4"), dtypes=("float64", "float32"),
        rounds=5,
        quick=False, sweep=True, isolate=False, say=print) -> dict:
    report = {"fastmlp": __version__, "machine": machine(), "quick": quick, "rounds": rounds, "isolate": isolate,
              # a quick run's matmul would be too short to be a ceiling: none is reported rather than a wrong one
              "ceilings": None if quick else ceilings(), "workloads": {}, "sweep": {}}
    say(f"numpy's BLAS: {report['machine']['blas']}")
    say(_ceilings_line(report["ceilings"]))
    for wname in workloads:
        w = WORKLOADS[wname]
        if quick:
            w = replace(w, n_samples=QUICK_ROWS[wname])
        names = ["fastmlp-numba", "fastmlp-numpy", "fastmlp-reference", *PEERS, "blas-floor"]
        if wname in THREADED:
            names.insert(1, "fastmlp-numba-threads")
        if w.batch_size == 1:
            names.remove("fastmlp-numpy")     # numpy at batch 1 is timed in the sweep
        for dtype in dtypes:
            res = measure(w, dtype, names, rounds, quick=quick, isolate=isolate)
            key = f"{wname} {dtype}"
            report["workloads"][key] = {"workload": _describe(w), "dtype": dtype, "results": res}
            say(format_table(key, report["workloads"][key], report["ceilings"]))
    if sweep:
        for wname in ("W2", "W4"):
            for B in SWEEP_BATCHES if not quick else [1, 8, 64, 512]:
                n = {"W2": 50_000, "W4": 20_000}[wname] if not quick else {"W2": 4_096, "W4": 1_024}[wname]
                if wname == "W4" and B == 1:
                    n = min(n, 3_000)
                w = replace(WORKLOADS[wname], batch_size=B, n_samples=n)
                res = measure(w, "float64", list(SWEPT), rounds, check=False, isolate=isolate)
                point = {"batch_size": B, "auto": _auto(w)}
                for k, v in res.items():
                    point[k] = float(np.median(v["rates"]))
                    point[f"{k} min"], point[f"{k} max"] = min(v["rates"]), max(v["rates"])
                report["sweep"].setdefault(wname, []).append(point)
                say(f"sweep {wname} float64 batch {B:>5}: numba {point['fastmlp-numba']:>13,.0f}/s   numpy "
                    f"{point['fastmlp-numpy']:>13,.0f}/s   (auto: {point['auto']})")
    caught = warnings_summary(report)
    if caught:
        say("\nwarnings the contenders raised (captured, once each):\n  " + "\n  ".join(caught))
    return report


def _auto(w) -> str:
    """The path ``backend="auto"`` takes for this workload."""
    from .._validation import make_spec
    from ..backends import choose
    return choose(make_spec(list(w.layer_sizes), w.activation, w.loss, None), w.batch_size, "float64")


def machine() -> dict:
    info = {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
            "platform": platform.platform(), "cpu": _cpu_name(), "cores": _cores(), "blas": blas()}
    for mod in ("jax", "sklearn", "torch"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            pass
    return info


BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                  "MKL_NUM_THREADS")


def blas() -> str:
    """numpy's BLAS as threadpoolctl sees it (library, version, kernel architecture, threads), and the environment
    variables that force its kernel or threads: what the numpy path's figures depend on."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        found = "unknown (threadpoolctl is not installed: pip install 'fastmlp[bench]')"
    else:
        rows = [f"{i.get('internal_api')} {i.get('version')}, {i.get('architecture')} kernels, "
                f"{i.get('num_threads')} threads" for i in threadpool_info() if i.get("user_api") == "blas"]
        found = "; ".join(rows) or "none found"
    forced = [f"{k}={os.environ[k]}" for k in BLAS_VARIABLES if k in os.environ]
    return found + (f" (set in the environment: {', '.join(forced)})" if forced
                    else " (kernel chosen by the library for this CPU)")


def _cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _describe(w):
    return {"name": w.name, "layer_sizes": list(w.layer_sizes), "activation": w.activation, "loss": w.loss,
            "n_samples": w.n_samples, "batch_size": w.batch_size, "lr": w.lr,
            "flops_per_sample": w.flops_per_sample()}


def _ceilings_line(c):
    if c is None:
        return "machine ceilings: not measured in a quick run (too short to be a ceiling)"
    return (f"machine ceilings: matmul {c['matmul_gflops_float64']:.1f} GFLOP/s float64, "
            f"{c['matmul_gflops_float32']:.1f} float32; memory copy {c['memory_gbs']:.1f} GB/s")


# --- reporting ------------------------------------------------------------------------------------------------------

def medians(entry) -> dict:
    """Each contender's median samples/s."""
    return {k: float(np.median(v["rates"])) for k, v in entry["results"].items()}


def best_peer(med) -> str | None:
    """The peer (JAX, scikit-learn, PyTorch) with the highest median, or None."""
    peers = [k for k in PEERS if k in med]
    return max(peers, key=med.get) if peers else None


def summarise(entry, ceilings_) -> list[dict]:
    """One row per contender: median and min-max samples/s; for fastmlp's paths the kernel alone beside ``fit``
    and ``fit``'s overhead over it (median of the rounds' ``kernel rate / fit rate - 1``); the ratios to the best
    peer and to the reference; GFLOP/s by the minimal count and, when the ceiling was measured, its fraction of
    the matmul rate; the first call (compile included)."""
    res, dtype = entry["results"], entry["dtype"]
    flops = entry["workload"]["flops_per_sample"]
    med = medians(entry)
    peer = best_peer(med)
    ref = med.get("fastmlp-reference")
    ceiling = (ceilings_ or {}).get(f"matmul_gflops_{dtype}")
    rows = []
    for name, v in res.items():
        gf = med[name] * flops / 1e9
        kernel = v.get("kernel_rates")
        rows.append({"name": name, "median": med[name], "min": min(v["rates"]), "max": max(v["rates"]),
                     "kernel": float(np.median(kernel)) if kernel else None,
                     "overhead": (float(np.median(np.array(kernel) / np.array(v["rates"]) - 1)) if kernel
                                  else None),
                     "vs_peer": med[name] / med[peer] if peer else None,
                     "vs_reference": med[name] / ref if ref else None,
                     "gflops": gf, "of_matmul": gf / ceiling if ceiling else None, "first_call": v["first_call"]})
    return rows


def _cell(value, fmt, width=0):
    return f"{'-' if value is None else format(value, fmt):>{width}}"


def format_table(key, entry, ceilings_) -> str:
    w = entry["workload"]
    lines = [f"\n{key}: {w['layer_sizes']} {w['activation']}/{w['loss']}, batch {w['batch_size']}, "
             f"N={w['n_samples']:,} (fastmlp: MLP.fit, one epoch; kernel: the path's train_epoch alone)",
             f"  {'path or peer':<23}{'samples/s':>13}{'min':>12}{'max':>12}{'kernel/s':>13}{'fit cost':>9}"
             f"{'vs best peer':>13}{'vs ref':>9}{'GFLOP/s':>9}" + (f"{'of matmul':>10}" if ceilings_ else "")
             + f"{'first call s':>13}"]
    for r in summarise(entry, ceilings_):
        lines.append(f"  {r['name']:<23}{r['median']:>13,.0f}{r['min']:>12,.0f}{r['max']:>12,.0f}"
                     f"{_cell(r['kernel'], ',.0f', 13)}{_cell(r['overhead'], '+.1%', 9)}"
                     f"{_cell(r['vs_peer'], '.2f', 13)}{_cell(r['vs_reference'], ',.0f', 9)}{r['gflops']:>9.2f}"
                     + (_cell(r["of_matmul"], ".0%", 10) if ceilings_ else "") + f"{r['first_call']:>13.2f}")
    return "\n".join(lines)


FASTMLP = ("fastmlp-numba", "fastmlp-numba-threads", "fastmlp-numpy")
SWEPT = ("fastmlp-numba", "fastmlp-numpy")          # the batch-size sweep's


def round_ratios(entry) -> list:
    """``(ours, other, median, min, max)`` of per-round speed ratios: each fastmlp path over the best peer (by
    median) and over the BLAS floor, and the per-sample loop on every core over one thread. Each round runs every
    contender once, so a round's ratio is taken side by side; its median is steadier than a ratio of medians on a
    noisy machine. (Not with ``--isolate``, whose contenders run apart: there the rounds are not side by side.)"""
    res = entry["results"]
    peer = best_peer(medians(entry))
    others = ([peer] if peer else []) + (["blas-floor"] if "blas-floor" in res else [])
    out = []
    for ours in FASTMLP:
        if ours not in res:
            continue
        mine = np.array(res[ours]["rates"])
        for other in others + (["fastmlp-numba"] if ours == "fastmlp-numba-threads" else []):
            if len(res[other]["rates"]) == len(mine):
                r = mine / np.array(res[other]["rates"])
                out.append((ours, other, float(np.median(r)), float(r.min()), float(r.max())))
    return out


def warnings_summary(report) -> list[str]:
    """Third-party warnings raised while the contenders ran, once each, with where: kept out of the tables."""
    seen = {}
    for key, entry in report["workloads"].items():
        for name, v in entry["results"].items():
            for message in v.get("warnings", []):
                seen.setdefault((name, message), []).append(key)
    return [f"{name} ({', '.join(keys)}): {message}" for (name, message), keys in seen.items()]


def markdown(report) -> str:
    """The report as Markdown tables (for the README and docs/performance.md)."""
    m = report["machine"]
    c = report["ceilings"]
    how = ("each contender alone in its own process" if report.get("isolate")
           else "interleaved: each round runs every contender once")
    out = [f"fastmlp {report['fastmlp']}; {m['cpu']}, {m['cores']} cores; Python {m['python']}, numpy "
           f"{m['numpy']}, numba {m['numba']}" + "".join(f", {k} {m[k]}" for k in ("jax", "sklearn", "torch")
                                                         if k in m) + ".",
           "",
           f"numpy's BLAS: {m.get('blas', 'not recorded')}.",
           "",
           (f"Ceilings: matmul {c['matmul_gflops_float64']:.1f} GFLOP/s (float64), {c['matmul_gflops_float32']:.1f} "
            f"(float32); memory copy {c['memory_gbs']:.1f} GB/s." if c else
            "Ceilings: not measured (a quick run).")
           + f" Median of {report['rounds']} rounds, {how}. fastmlp's rows time `MLP.fit` (one epoch, no "
           "shuffle, as the peers run); \"kernel\" is the path's `train_epoch` alone in the same rounds, and \"fit "
           "cost\" what `fit` adds to it.",
           "",
           "| workload | path or peer | samples/s (median) | min - max | kernel samples/s | fit cost | vs best peer "
           "| vs reference | GFLOP/s | of matmul |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for key, entry in report["workloads"].items():
        for r in summarise(entry, c):
            out.append(f"| {key} | {r['name']} | {r['median']:,.0f} | {r['min']:,.0f} - {r['max']:,.0f} | "
                       f"{_cell(r['kernel'], ',.0f')} | {_cell(r['overhead'], '+.1%')} | {_cell(r['vs_peer'], '.2f')} "
                       f"| {_cell(r['vs_reference'], ',.0f')} | {r['gflops']:.2f} | {_cell(r['of_matmul'], '.0%')} |")
    if not report.get("isolate"):
        out += ["", "Per-round ratios (each round runs every contender once; median, min - max over the rounds):",
                "", "| workload | ours | over | median | min - max |", "| --- | --- | --- | ---: | ---: |"]
        for key, entry in report["workloads"].items():
            for ours, other, med, lo, hi in round_ratios(entry):
                out.append(f"| {key} | {ours} | {other} | {med:.2f}x | {lo:.2f} - {hi:.2f} |")
    caught = warnings_summary(report)
    if caught:
        out += ["", "Warnings the contenders raised (captured, once each):", ""] + [f"- {w}" for w in caught]
    return "\n".join(out) + "\n"


# one colour per contender, the same in every chart and every run
COLOURS = {"fastmlp-numba": "#1f77b4", "fastmlp-numba-threads": "#17becf", "fastmlp-numpy": "#2ca02c",
           "fastmlp-reference": "#7f7f7f",
           "jax-scan": "#d62728", "jax-step": "#ff9896", "sklearn": "#ff7f0e", "torch": "#9467bd",
           "blas-floor": "#000000"}


def plot(report, path) -> bool:
    """Samples/s per workload (a bar per contender, whiskers from the slowest to the fastest round), and the
    batch-size sweep with the batch from which ``backend="auto"`` takes the numpy path; False without
    matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    keys = list(report["workloads"])
    fig, axes = plt.subplots(1, 2 if report["sweep"] else 1, figsize=(14, 5.5), squeeze=False)
    ax = axes[0][0]
    names = [n for n in COLOURS if any(n in e["results"] for e in report["workloads"].values())]
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        xs, ys, lo, hi = [], [], [], []
        for k, key in enumerate(keys):
            res = report["workloads"][key]["results"]
            if name in res:
                rates = res[name]["rates"]
                xs.append(k + i * width)
                ys.append(float(np.median(rates)))
                lo.append(ys[-1] - min(rates))
                hi.append(max(rates) - ys[-1])
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, color=COLOURS[name], label=name,
               error_kw={"elinewidth": 0.8})
    ax.set_yscale("log")
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(keys))])
    ax.set_xticklabels(keys, rotation=30, ha="right")
    ax.set_ylabel("samples/s (median; whiskers: slowest - fastest round; log scale)")
    ax.set_title("one epoch of SGD per workload (fastmlp: MLP.fit)")
    ax.legend(fontsize=8)
    if report["sweep"]:
        ax = axes[0][1]
        for wname, points in report["sweep"].items():
            bs = [p["batch_size"] for p in points]
            for contender, style in (("fastmlp-numba", "-o"), ("fastmlp-numpy", "--s")):
                ys = [p[contender] for p in points]
                err = [[y - p.get(f"{contender} min", y) for y, p in zip(ys, points)],
                       [p.get(f"{contender} max", y) - y for y, p in zip(ys, points)]]
                ax.errorbar(bs, ys, yerr=err, fmt=style, capsize=2, color=COLOURS[contender],
                            alpha=1.0 if wname == "W2" else 0.55, label=f"{wname} {contender.split('-')[1]}")
            switch = next((p["batch_size"] for p in points if p.get("auto") == "numpy"), None)
            if switch is not None:
                ax.axvline(switch, color="0.4", ls=":", lw=1)
                ax.annotate(f"{wname}: auto takes numpy from batch {switch}", (switch, max(ys)), fontsize=7,
                            rotation=90, va="top", ha="right")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_ylabel("samples/s")
        ax.set_title("batch-size sweep, float64 (dotted: the auto crossover)")
        ax.legend(fontsize=8)
    m = report["machine"]
    fig.suptitle(f"fastmlp {report['fastmlp']} on {m['cpu']} ({m['cores']} cores)"
                 + (" - quick run" if report["quick"] else "") + (" - isolated" if report.get("isolate") else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


QUICK_W5 = dict(budget=4.0, train_rows=40_000, held_out_rows=10_000, segment_rows=10_000)


def main(args) -> int:
    workloads = [w.strip() for w in args.workloads.split(",")]
    for w in workloads:
        if w not in WORKLOADS and w != "W5":
            raise ValueError(f"--workloads: unknown workload {w!r}; expected some of {', '.join(WORKLOADS)}, W5")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    dtypes = ("float64", "float32") if args.dtype == "both" else (args.dtype,)
    rounds = args.rounds if args.rounds is not None else (3 if args.quick else 5)
    if rounds < 1:
        raise ValueError(f"--rounds must be >= 1, got {rounds}")
    t0 = time.perf_counter()
    written = []
    epochs = [w for w in workloads if w != "W5"]
    if epochs:
        try:
            report = run(epochs, dtypes, rounds, quick=args.quick, sweep=not args.no_sweep, isolate=args.isolate)
        except Mismatch as e:
            print(f"fastmlp bench: {e}")
            return 1
        report["seconds"] = time.perf_counter() - t0
        (out_dir / "bench.json").write_text(json.dumps(report, indent=1))
        (out_dir / "bench.md").write_text(markdown(report))
        written += ["bench.json", "bench.md"] + (["bench.png"] if plot(report, out_dir / "bench.png") else [])
    if "W5" in workloads:
        from . import accuracy
        print("\nW5, time to a good model (each contender in its own process):")
        runs = args.w5_runs if args.w5_runs is not None else (2 if args.quick else 5)
        written += accuracy.write(accuracy.run(**(QUICK_W5 if args.quick else {}), runs=runs), out_dir)
    print(f"\nwrote {', '.join(str(out_dir / f) for f in written)} in {time.perf_counter() - t0:.0f} s"
          + ("" if any(f.endswith(".png") for f in written) else " (no chart: pip install matplotlib)"))
    return 0

"""``fastmlp bench``: every path and every installed peer on the workloads W1-W4 (and W2 with tanh and with
sigmoid), side by side.

For each workload and dtype: every contender's agreement with the reference is checked on a slice (a
mismatch stops the run with a non-zero exit), each is warmed up (its first call, compile included, is
reported as ``first call s``), then timed for several rounds, round-robin, so that the noise of this shared
machine falls on all alike. The table gives the median and min-max samples/s, the ratio to the best peer
(JAX, scikit-learn, PyTorch), the ratio to the reference path, and the achieved GFLOP/s by the minimal count
as a fraction of the machine's matmul rate, measured by the same command. A batch-size sweep of the Numba and
numpy paths gives the crossover that ``backend="auto"`` follows. Results go to a JSON file and a PNG chart.
"""
from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import numba
import numpy as np

from .. import __version__
from ..backends import BOUNDS
from .contenders import WORKLOADS, agreement, contenders, make_problem

PEERS = ("jax-scan", "jax-step", "sklearn", "torch")
QUICK_ROWS = {"W1": 20_000, "W2": 4_000, "W2-tanh": 4_000, "W2-sigmoid": 4_000, "W3": 300, "W4": 2_560}
# the pure-Python path is timed on a slice
REFERENCE_ROWS = {"W1": 5_000, "W2": 200, "W2-tanh": 200, "W2-sigmoid": 200, "W3": 4, "W4": 128}
QUICK_REFERENCE_ROWS = {"W1": 2_000, "W2": 50, "W2-tanh": 50, "W2-sigmoid": 50, "W3": 2, "W4": 8}
SWEEP_BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]


class Mismatch(RuntimeError):
    pass


# --- the machine's ceilings -------------------------------------------------------------------------------------

def ceilings(quick=False) -> dict:
    """Matmul GFLOP/s (float64, float32; numpy's BLAS on all its threads) and memory bandwidth (GB/s)."""
    out = {}
    n = 1024 if quick else 2048
    for dtype in ("float64", "float32"):
        a = np.random.default_rng(0).standard_normal((n, n)).astype(dtype)
        c = np.empty_like(a)
        np.matmul(a, a, out=c)
        times = []
        for _ in range(3 if quick else 5):
            t0 = time.perf_counter()
            np.matmul(a, a, out=c)
            times.append(time.perf_counter() - t0)
        out[f"matmul_gflops_{dtype}"] = 2 * n ** 3 / np.median(times) / 1e9
    src = np.ones((32 if quick else 128) * 2 ** 20 // 8)     # 32 / 128 MiB of float64: beyond every cache
    dst = np.empty_like(src)
    np.copyto(dst, src)
    times = []
    for _ in range(3 if quick else 5):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t0)
    out["memory_gbs"] = 2 * src.nbytes / np.median(times) / 1e9      # read + write
    return out


# --- measuring ------------------------------------------------------------------------------------------------------

def measure(w, dtype, names, rounds, n=None, check=True, quick=False) -> dict:
    """``{name: {"rates": [samples/s per round], "first_call": s}}`` for the contenders on workload ``w``."""
    factories = contenders(batched=w.batch_size > 1, reference=True)
    net, X, Y = make_problem(w, dtype, n=n)
    runners = {}
    for name in names:
        if name not in factories:
            continue
        factory = factories[name]
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
        t0 = time.perf_counter()
        runner.reset()
        runner.run()                          # warm-up: compile, fill caches
        runner.first_call = time.perf_counter() - t0
        runners[name] = runner
    results = {name: {"rates": [], "first_call": r.first_call} for name, r in runners.items()}
    for _ in range(rounds):
        for name, r in runners.items():
            r.reset()
            t0 = time.perf_counter()
            r.run()
            results[name]["rates"].append(getattr(r, "n_used", r.X.shape[0]) / (time.perf_counter() - t0))
    return results


def run(workloads=("W1", "W2", "W2-tanh", "W2-sigmoid", "W3", "W4"), dtypes=("float64", "float32"), rounds=5,
        quick=False, sweep=True, say=print) -> dict:
    report = {"fastmlp": __version__, "machine": machine(), "quick": quick, "rounds": rounds,
              "ceilings": ceilings(quick), "workloads": {}, "sweep": {}}
    say(f"numpy's BLAS: {report['machine']['blas']}")
    say(_ceilings_line(report["ceilings"]))
    for wname in workloads:
        w = WORKLOADS[wname]
        if quick:
            w = replace(w, n_samples=QUICK_ROWS[wname])
        names = ["fastmlp-numba", "fastmlp-numpy", "fastmlp-reference", *PEERS, "blas-floor"]
        if w.batch_size == 1:
            names.remove("fastmlp-numpy")     # numpy at batch 1 is timed in the sweep
        for dtype in dtypes:
            res = measure(w, dtype, names, rounds, quick=quick)
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
                res = measure(w, "float64", ["fastmlp-numba", "fastmlp-numpy"], rounds, check=False)
                med = {k: float(np.median(v["rates"])) for k, v in res.items()}
                report["sweep"].setdefault(wname, []).append({"batch_size": B, **med})
                say(f"sweep {wname} float64 batch {B:>5}: numba {med['fastmlp-numba']:>13,.0f}/s   numpy "
                    f"{med['fastmlp-numpy']:>13,.0f}/s")
    return report


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
    return (f"machine ceilings: matmul {c['matmul_gflops_float64']:.1f} GFLOP/s float64, "
            f"{c['matmul_gflops_float32']:.1f} float32; memory copy {c['memory_gbs']:.1f} GB/s")


# --- reporting ------------------------------------------------------------------------------------------------------

def summarise(entry, ceilings_) -> list:
    """Rows ``(name, median, min, max, vs best peer, vs reference, GFLOP/s, % of matmul, first call)``."""
    res, dtype = entry["results"], entry["dtype"]
    flops = entry["workload"]["flops_per_sample"]
    med = {k: float(np.median(v["rates"])) for k, v in res.items()}
    peers = [med[k] for k in PEERS if k in med]
    best_peer = max(peers) if peers else None
    ref = med.get("fastmlp-reference")
    rows = []
    for name, v in res.items():
        gf = med[name] * flops / 1e9
        rows.append((name, med[name], min(v["rates"]), max(v["rates"]),
                     med[name] / best_peer if best_peer else None, med[name] / ref if ref else None,
                     gf, gf / ceilings_[f"matmul_gflops_{dtype}"], v["first_call"]))
    return rows


def format_table(key, entry, ceilings_) -> str:
    w = entry["workload"]
    lines = [f"\n{key}: {w['layer_sizes']} {w['activation']}/{w['loss']}, batch {w['batch_size']}, "
             f"N={w['n_samples']:,}",
             f"  {'path or peer':<15}{'samples/s':>13}{'min':>12}{'max':>12}{'vs best peer':>14}"
             f"{'vs python':>11}{'GFLOP/s':>9}{'of matmul':>10}{'first call s':>14}"]
    for name, med, lo, hi, vs_peer, vs_ref, gf, frac, first in summarise(entry, ceilings_):
        vp = f"{vs_peer:>14.2f}" if vs_peer else f"{'-':>14}"
        vr = f"{vs_ref:>11,.0f}" if vs_ref else f"{'-':>11}"
        lines.append(f"  {name:<15}{med:>13,.0f}{lo:>12,.0f}{hi:>12,.0f}{vp}{vr}{gf:>9.2f}{frac:>9.0%}"
                     f"{first:>14.2f}")
    return "\n".join(lines)


def round_ratios(entry) -> list:
    """``(ours, other, median, min, max)`` of per-round speed ratios: fastmlp's batched path (numpy, or numba
    for per-sample workloads) over each peer and the BLAS floor. Each round runs every contender once, so
    a round's ratio is taken side by side; its median is steadier than a ratio of medians on a noisy machine."""
    res = entry["results"]
    ours = "fastmlp-numpy" if "fastmlp-numpy" in res else "fastmlp-numba"
    if ours not in res:
        return []
    mine = np.array(res[ours]["rates"])
    out = []
    for other in (*PEERS, "blas-floor"):
        if other in res and len(res[other]["rates"]) == len(mine):
            r = mine / np.array(res[other]["rates"])
            out.append((ours, other, float(np.median(r)), float(r.min()), float(r.max())))
    return out


def markdown(report) -> str:
    """The report as Markdown tables (for the README and docs/performance.md)."""
    m = report["machine"]
    c = report["ceilings"]
    out = [f"fastmlp {report['fastmlp']}; {m['cpu']}, {m['cores']} cores; Python {m['python']}, numpy "
           f"{m['numpy']}, numba {m['numba']}" + "".join(f", {k} {m[k]}" for k in ("jax", "sklearn", "torch")
                                                         if k in m) + ".",
           "",
           f"numpy's BLAS: {m.get('blas', 'not recorded')}.",
           "",
           f"Ceilings: matmul {c['matmul_gflops_float64']:.1f} GFLOP/s (float64), {c['matmul_gflops_float32']:.1f} "
           f"(float32); memory copy {c['memory_gbs']:.1f} GB/s. Median of {report['rounds']} rounds, interleaved.",
           "",
           "| workload | path or peer | samples/s (median) | min - max | vs best peer | vs reference | GFLOP/s "
           "| of matmul |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for key, entry in report["workloads"].items():
        for name, med, lo, hi, vs_peer, vs_ref, gf, frac, _ in summarise(entry, c):
            out.append(f"| {key} | {name} | {med:,.0f} | {lo:,.0f} - {hi:,.0f} | "
                       f"{f'{vs_peer:.2f}' if vs_peer else '-'} | {f'{vs_ref:,.0f}' if vs_ref else '-'} | "
                       f"{gf:.2f} | {frac:.0%} |")
    out += ["", "Per-round ratios (each round runs every contender once; median, min - max over the rounds):", "",
            "| workload | ours | over | median | min - max |", "| --- | --- | --- | ---: | ---: |"]
    for key, entry in report["workloads"].items():
        for ours, other, med, lo, hi in round_ratios(entry):
            out.append(f"| {key} | {ours} | {other} | {med:.2f}x | {lo:.2f} - {hi:.2f} |")
    return "\n".join(out) + "\n"


def plot(report, path) -> bool:
    """Samples/s against batch size per path, and a bar group per workload; False without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    keys = list(report["workloads"])
    fig, axes = plt.subplots(1, 2 if report["sweep"] else 1, figsize=(14, 5.5), squeeze=False)
    ax = axes[0][0]
    names = []
    for entry in report["workloads"].values():
        for name in entry["results"]:
            if name not in names:
                names.append(name)
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        xs, ys = [], []
        for k, key in enumerate(keys):
            res = report["workloads"][key]["results"]
            if name in res:
                xs.append(k + i * width)
                ys.append(np.median(res[name]["rates"]))
        ax.bar(xs, ys, width, label=name)
    ax.set_yscale("log")
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(keys))])
    ax.set_xticklabels(keys, rotation=30, ha="right")
    ax.set_ylabel("samples/s (median, log scale)")
    ax.set_title("one epoch of SGD per workload")
    ax.legend(fontsize=8)
    if report["sweep"]:
        ax = axes[0][1]
        for wname, points in report["sweep"].items():
            bs = [p["batch_size"] for p in points]
            for contender, style in (("fastmlp-numba", "-o"), ("fastmlp-numpy", "--s")):
                ax.plot(bs, [p[contender] for p in points], style, label=f"{wname} {contender.split('-')[1]}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_ylabel("samples/s")
        ax.set_title("batch-size sweep, float64 (the auto crossover)")
        ax.legend(fontsize=8)
    m = report["machine"]
    fig.suptitle(f"fastmlp {report['fastmlp']} on {m['cpu']} ({m['cores']} cores)"
                 + (" - quick run" if report["quick"] else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(args) -> int:
    workloads = [w.strip() for w in args.workloads.split(",")]
    for w in workloads:
        if w not in WORKLOADS:
            raise ValueError(f"--workloads: unknown workload {w!r}; expected some of {', '.join(WORKLOADS)}")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    dtypes = ("float64", "float32") if args.dtype == "both" else (args.dtype,)
    rounds = args.rounds if args.rounds is not None else (3 if args.quick else 5)
    if rounds < 1:
        raise ValueError(f"--rounds must be >= 1, got {rounds}")
    t0 = time.perf_counter()
    try:
        report = run(workloads, dtypes, rounds, quick=args.quick, sweep=not args.no_sweep)
    except Mismatch as e:
        print(f"fastmlp bench: {e}")
        return 1
    report["seconds"] = time.perf_counter() - t0
    (out_dir / "bench.json").write_text(json.dumps(report, indent=1))
    (out_dir / "bench.md").write_text(markdown(report))
    drew = plot(report, out_dir / "bench.png")
    print(f"\nwrote {out_dir / 'bench.json'}, {out_dir / 'bench.md'}"
          + (f", {out_dir / 'bench.png'}" if drew else " (no chart: pip install matplotlib)")
          + f" in {report['seconds']:.0f} s")
    return 0

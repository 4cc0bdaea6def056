"""Several ``fastmlp bench`` runs side by side: how stable the ratios are from one run to the next.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE fastmlp bench --out runs/A     # and B, C: minutes apart
    python benchmarks/compare_runs.py runs/A runs/B runs/C [--isolated runs/iso]

For every workload and fastmlp path: each run's per-round median ratio over the best peer of that run (and the
peer's name), and ``fit``'s cost over the kernel alone; with ``--isolated``, the same ratio from a run whose
contenders each ran alone in a process of their own (a ratio of medians there: its rounds are not side by side).
Prints Markdown tables.
"""
import argparse
import json
from pathlib import Path

from fastmlp.benchmarking.report import FASTMLP, PEERS, best_peer, medians, round_ratios, summarise


def load(folder):
    return json.loads((Path(folder) / "bench.json").read_text())


def best_peer_ratio(entry, ours):
    """(peer, per-round median ratio, min, max) of ``ours`` over the best peer, or None."""
    for o, other, med, lo, hi in round_ratios(entry):
        if o == ours and other in PEERS:
            return other, med, lo, hi
    return None


def median_ratio(entry, ours):
    """A ratio of medians, over the best peer by median (for runs whose rounds are not side by side)."""
    med = medians(entry)
    peer = best_peer(med)
    if ours not in med or peer is None:
        return None
    return peer, med[ours] / med[peer]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="folders of fastmlp bench runs (bench.json)")
    parser.add_argument("--isolated", help="a folder of a fastmlp bench --isolate run")
    args = parser.parse_args()
    runs = [load(f) for f in args.runs]
    iso = load(args.isolated) if args.isolated else None
    names = [Path(f).name for f in args.runs]
    print("numpy's BLAS (first run): " + runs[0]["machine"]["blas"] + "\n")
    head = " | ".join(f"run {n}" for n in names)
    print(f"| workload | path | over | {head} |" + (" isolated |" if iso else ""))
    print("| --- | --- | --- | " + " | ".join("---:" for _ in names) + " |" + (" ---: |" if iso else ""))
    for key in runs[0]["workloads"]:
        for ours in FASTMLP:
            cells, peers = [], set()
            for run in runs:
                r = best_peer_ratio(run["workloads"][key], ours) if key in run["workloads"] else None
                if r is None:
                    cells.append("-")
                    continue
                peers.add(r[0])
                cells.append(f"{r[1]:.2f}x ({r[2]:.2f} - {r[3]:.2f})")
            if not peers:
                continue
            row = f"| {key} | {ours} | {'/'.join(sorted(peers))} | " + " | ".join(cells) + " |"
            if iso:
                r = median_ratio(iso["workloads"][key], ours) if key in iso["workloads"] else None
                row += f" {r[1]:.2f}x ({r[0]}) |" if r else " - |"
            print(row)
    print("\nfit's cost over the kernel alone (per-round median of kernel rate / fit rate - 1):\n")
    print(f"| workload | path | {head} |" + (" isolated |" if iso else ""))
    print("| --- | --- | " + " | ".join("---:" for _ in names) + " |" + (" ---: |" if iso else ""))
    for key in runs[0]["workloads"]:
        for ours in FASTMLP:
            cells = []
            for run in runs + ([iso] if iso else []):
                rows = {r["name"]: r for r in summarise(run["workloads"][key], run["ceilings"])} \
                    if key in run["workloads"] else {}
                cells.append(f"{rows[ours]['overhead']:+.1%}" if ours in rows and rows[ours]["overhead"] is not None
                             else "-")
            if any(c != "-" for c in cells):
                print(f"| {key} | {ours} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

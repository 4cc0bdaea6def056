"""How W5's tuned settings were chosen: a short race (``--budget`` seconds each, default 20) of candidate
settings for fastmlp's mini-batch contender and for the tuned peers, each in a process of its own.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/w5_settings.py --budget 20
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/w5_settings.py --budget 8 --library fastmlp

Prints each candidate's time to W5's target and its best held-out mse; the fastest of each library becomes its
entry in ``fastmlp.benchmarking.accuracy.CONTENDERS`` (and the full 60-second race is rerun with ``fastmlp bench
--workloads W5``).
"""
import argparse

from fastmlp.benchmarking import in_fresh_process
from fastmlp.benchmarking.accuracy import TARGET, Contender, available, race

CANDIDATES = [
    Contender("fastmlp", "fastmlp", "SGD, batch 1, lr 0.003", dict(batch_size=1, lr=0.003)),
    Contender("fastmlp", "fastmlp", "SGD, batch 1, lr 0.006", dict(batch_size=1, lr=0.006)),
    Contender("fastmlp", "fastmlp", "Adam, batch 16, lr 0.001", dict(batch_size=16, lr=0.001, optimizer="adam")),
    Contender("fastmlp", "fastmlp", "Adam, batch 32, lr 0.002", dict(batch_size=32, lr=0.002, optimizer="adam")),
    Contender("fastmlp", "fastmlp", "Adam, batch 64, lr 0.003", dict(batch_size=64, lr=0.003, optimizer="adam")),
    Contender("fastmlp", "fastmlp", "Adam, batch 200, lr 0.001", dict(batch_size=200, lr=0.001, optimizer="adam")),
    Contender("fastmlp", "fastmlp", "Adam, batch 200, lr 0.003", dict(batch_size=200, lr=0.003, optimizer="adam")),
    Contender("sklearn", "sklearn", "Adam, batch 200, lr 0.003, alpha 0", dict(learning_rate_init=0.003, alpha=0.0)),
    Contender("sklearn", "sklearn", "Adam, batch 100, lr 0.002, alpha 0",
              dict(batch_size=100, learning_rate_init=0.002, alpha=0.0)),
    Contender("sklearn", "sklearn", "Adam, batch 500, lr 0.003, alpha 0",
              dict(batch_size=500, learning_rate_init=0.003, alpha=0.0)),
    Contender("sklearn", "sklearn", "Adam, batch 100, lr 0.003, alpha 0",
              dict(batch_size=100, learning_rate_init=0.003, alpha=0.0)),
    Contender("sklearn", "sklearn", "Adam, batch 200, lr 0.002, alpha 0",
              dict(learning_rate_init=0.002, alpha=0.0)),
    Contender("sklearn", "sklearn", "Adam, batch 1000, lr 0.005, alpha 0",
              dict(batch_size=1000, learning_rate_init=0.005, alpha=0.0)),
    Contender("torch", "torch", "Adam, batch 64, lr 0.003, 1 thread", dict(batch_size=64, lr=0.003, threads=1)),
    Contender("torch", "torch", "Adam, batch 256, lr 0.003, 1 thread", dict(batch_size=256, lr=0.003, threads=1)),
    Contender("torch", "torch", "Adam, batch 256, lr 0.003, 2 threads", dict(batch_size=256, lr=0.003, threads=2)),
    Contender("torch", "torch", "Adam, batch 512, lr 0.005, 2 threads", dict(batch_size=512, lr=0.005, threads=2)),
    Contender("torch", "torch", "Adam, batch 128, lr 0.002, 2 threads", dict(batch_size=128, lr=0.002, threads=2)),
]
# A second round (issue 17, session 11): the same larger steps and batches for each library.
for batch, lr in ((200, 0.005), (500, 0.005), (500, 0.01), (1000, 0.01)):
    CANDIDATES += [
        Contender("fastmlp", "fastmlp", f"Adam, batch {batch}, lr {lr}",
                  dict(batch_size=batch, lr=lr, optimizer="adam")),
        Contender("sklearn", "sklearn", f"Adam, batch {batch}, lr {lr}, alpha 0",
                  dict(batch_size=batch, learning_rate_init=lr, alpha=0.0)),
        Contender("torch", "torch", f"Adam, batch {batch}, lr {lr}, 2 threads",
                  dict(batch_size=batch, lr=lr, threads=2)),
    ]
# fastmlp's candidates train on the path fit picks (backend="auto": the numpy path from batch 200 here, the Numba
# path below); the setting that won on the Numba path, beside it on that path (session 12).
CANDIDATES.append(Contender("fastmlp", "fastmlp", "Adam, batch 200, lr 0.003, Numba path",
                            dict(batch_size=200, lr=0.003, optimizer="adam", backend="numba")))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=20.0)
    parser.add_argument("--only", nargs="*", help="only these settings (as printed)")
    parser.add_argument("--library", help="only this library's candidates (fastmlp, sklearn, torch)")
    args = parser.parse_args()
    print(f"target: held-out mse < {TARGET:g}; budget {args.budget:g} s each")
    for c in CANDIDATES:
        if (args.only and c.setting not in args.only) or (args.library and c.library != args.library):
            continue
        if not available(c):
            print(f"{c.library:<8} {c.setting:<40} not installed")
            continue
        r = in_fresh_process(race, c, args.budget)
        t = r["time_to_target"]
        print(f"{c.library:<8} {c.setting:<40} {f'{t:6.1f} s' if t else 'not reached':>12}  best {r['best_mse']:.5f}"
              f"  ({r['epochs']:.1f} epochs)", flush=True)


if __name__ == "__main__":
    main()

"""What ``MLP.fit`` costs over the path's kernel alone, back to back and after a pause (as ``fastmlp bench`` times
every run), with the input check timed apart: the figures behind docs/performance.md's "What fit costs".

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/fit_overhead.py              # W1, both dtypes
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/fit_overhead.py --workloads W1 W2 --repeat 31

For each workload and dtype, ``--repeat`` times in turn: one epoch of ``MLP.fit`` (no shuffle, as the report
runs it), the kernel (``train_epoch``) on the same rows, and the finiteness check of ``X`` and ``y``
(``check_X``, ``check_Y``: the contract's pass over the data), each once back to back and once after
``--pause`` seconds idle. Prints the medians in microseconds and ``fit / kernel - 1``. ``--check-forms``: instead,
three ways of testing ``X`` and ``y`` for finiteness side by side (``np.isfinite(a).all()``, ``a.max()`` with
``a.min()``, ``a.sum()``), to see whether another form of the check would cost less.
"""
from __future__ import annotations

import argparse
import functools
import time

import numpy as np

from fastmlp._validation import check_X, check_Y
from fastmlp.benchmarking.contenders import WORKLOADS, FastmlpRunner, make_problem
from fastmlp.benchmarking.report import QUIET_SECONDS, _timed


def alternating(calls, repeat, pause, reset=lambda: None) -> dict:
    """``{name: median seconds}`` of ``calls`` (``(name, function)`` pairs), ``repeat`` times in turn, the order
    reversed every other time; each call after ``pause`` seconds idle and a ``reset()``."""
    times = {name: [] for name, _ in calls}
    for k in range(repeat):
        for name, run in (calls if k % 2 == 0 else calls[::-1]):
            if pause:
                time.sleep(pause)
            times[name].append(_timed(reset, run))
    return {name: float(np.median(v)) for name, v in times.items()}


def input_check(X, Y, spec, dtype):
    """What ``fit`` checks of the data before training: ``X`` and ``y`` finite in the model's dtype."""
    check_Y(Y, spec, dtype, check_X(X, spec, dtype).shape[0])


CHECK_FORMS = {
    "isfinite().all()": lambda a: bool(np.isfinite(a).all()),
    "max() and min()": lambda a: bool(np.isfinite(a.max()) and np.isfinite(a.min())),
    "sum()": lambda a: bool(np.isfinite(a.sum())),       # finite sum => all finite (else a full check would follow)
}


def _both(test, X, Y):
    return test(X), test(Y)


def check_forms(name, dtype, X, Y, repeat, pause):
    calls = [(form, functools.partial(_both, test, X, Y)) for form, test in CHECK_FORMS.items()]
    for label, wait in (("back to back", 0.0), (f"after {pause:g} s", pause)):
        med = alternating(calls, repeat, wait)
        cells = "  ".join(f"{form} {t * 1e6:,.0f} us" for form, t in med.items())
        print(f"{name + ' ' + dtype:<16} {label:<13} {cells}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=["W1"], choices=sorted(WORKLOADS))
    parser.add_argument("--dtype", nargs="+", default=["float64", "float32"])
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--pause", type=float, default=QUIET_SECONDS, help="seconds idle before each timed call "
                        "(default: the report's pause)")
    parser.add_argument("--check-forms", action="store_true", help="time three forms of the finiteness check instead")
    args = parser.parse_args()
    if args.check_forms:
        for name in args.workloads:
            for dtype in args.dtype:
                _, X, Y = make_problem(WORKLOADS[name], dtype)
                check_forms(name, dtype, X, Y, args.repeat, args.pause)
        return
    print(f"{'workload':<16} {'timing':<13} {'fit us':>9} {'kernel us':>10} {'check us':>9} {'fit cost':>9}")
    for name in args.workloads:
        w = WORKLOADS[name]
        for dtype in args.dtype:
            net, X, Y = make_problem(w, dtype)
            r = FastmlpRunner("numba" if w.batch_size == 1 else "numpy", w, net, X, Y)
            check = functools.partial(input_check, X, Y, net.spec, dtype)
            r.run(), r.run_kernel(), check()                       # compile, warm
            calls = [("fit", r.run), ("kernel", r.run_kernel), ("check", check)]
            for label, pause in (("back to back", 0.0), (f"after {args.pause:g} s", args.pause)):
                med = {key: t * 1e6 for key, t in alternating(calls, args.repeat, pause, r.reset).items()}
                print(f"{name + ' ' + dtype:<16} {label:<13} {med['fit']:>9,.0f} {med['kernel']:>10,.0f} "
                      f"{med['check']:>9,.0f} {med['fit'] / med['kernel'] - 1:>+9.1%}")


if __name__ == "__main__":
    main()

"""A pytest plugin: every Numba compile in the test process, with its time and the test that caused it.

    rm -rf /tmp/cold; FASTMLP_CACHE_DIR=/tmp/cold PYTHONPATH=benchmarks \
        COMPILE_EVENTS_OUT=compiles.txt python -m pytest --benchmark-disable -p compile_events

Writes the total, the time and count per compiled function (nested compiles included, so the totals overlap), then
every compile, longest first, with its argument types and test. Child processes (the tests' subprocesses, dask
workers, the background warm-up) are not seen. This is how docs/performance.md's profiles of the cold suite were
taken; it asserts nothing.
"""
from __future__ import annotations

import collections
import os
import time

from numba.core import event

_RECORDS = []            # (seconds, function, argument types, test)
_STARTED = {}
_TEST = {"id": None}


class _Listener(event.Listener):
    def on_start(self, ev):
        _STARTED[id(ev.data["dispatcher"]), str(ev.data["args"])] = time.perf_counter()

    def on_end(self, ev):
        t0 = _STARTED.pop((id(ev.data["dispatcher"]), str(ev.data["args"])), None)
        if t0 is not None:
            d = ev.data["dispatcher"]
            _RECORDS.append((time.perf_counter() - t0, getattr(d, "__qualname__", str(d)), str(ev.data["args"]),
                             _TEST["id"]))


event.register("numba:compile", _Listener())


def pytest_runtest_setup(item):
    _TEST["id"] = item.nodeid


def pytest_sessionfinish(session):
    by_function = collections.defaultdict(lambda: [0.0, 0])
    for seconds, name, _, _ in _RECORDS:
        by_function[name][0] += seconds
        by_function[name][1] += 1
    with open(os.environ.get("COMPILE_EVENTS_OUT", "compiles.txt"), "w") as f:
        f.write(f"total compile {sum(r[0] for r in _RECORDS):.1f} s in {len(_RECORDS)} compiles (nested included)\n")
        for name, (seconds, n) in sorted(by_function.items(), key=lambda kv: -kv[1][0]):
            f.write(f"{seconds:8.2f} s {n:4d}  {name}\n")
        f.write("\n--- each, longest first\n")
        for seconds, name, args, test in sorted(_RECORDS, key=lambda r: -r[0]):
            f.write(f"{seconds:7.2f} {name} {test}\n     {args}\n")

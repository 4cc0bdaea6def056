"""The contract's rules on divergence and interrupts, enforced in one place for every path.

``MLP.fit`` hands each chunk of an epoch to :func:`train_chunk`, which runs the path's ``train_epoch`` on
consecutive *slices* of the chunk's order (whole batches, about ``SLICE_SECONDS`` of work each) and between
slices:

* Divergence. A path reports the first sample whose loss is not finite (``bad_position``); the compiled
  kernels test the loss's exponent bits, which no fast-math flag can remove (``backends._finite``). A batch
  whose *update* leaves a parameter or an optimiser-state value non-finite is found here: the state is
  checked every ``SNAPSHOT_SECONDS`` of work, where a copy of it (a snapshot) is kept. When the check fails,
  the snapshot is put back and the batches since are replayed (replay is deterministic: the same kernels on
  the same state and order) by bisection, down to the first batch after which the state is not finite. The
  parameters and the optimiser state are then exactly those before that batch. Non-finite values are
  absorbing under every update rule (``x - lr*g``, ``mu*m + g``, ``beta2*v + ...`` stay inf or NaN once they
  are), so a check every few slices sees every overflow that happened since the last one.
* Interrupts. While a chunk trains, Ctrl-C (SIGINT) only sets a flag (:class:`Interrupt`); it is acted on at
  the next safe point: between slices on the Numba path (a slice is one compiled call), between batches on
  the numpy path, between samples on the reference path. ``KeyboardInterrupt`` then reaches the caller with
  the parameters and optimiser state as after the last complete batch. A second Ctrl-C before that point
  raises at once; the state is then put back to the last snapshot (also after a complete batch).

Slices and snapshots are sized from the network, the path, the batch size and the optimiser only, never from
timings, so the epoch's loss (summed slice by slice) is the same bit for bit run after run.
"""
from __future__ import annotations

import contextlib
import signal
import threading

try:
    import _signal
except ImportError:                                  # not CPython: the public module, a few microseconds slower
    _signal = signal

import numpy as np

from .backends import EpochResult

_SIGINT = int(signal.SIGINT)

# Work per compiled call, and between two checks of the state (with a snapshot each). A slice bounds how late
# Ctrl-C lands (0.2 s is the promise, so a 4x misestimate of the cost below still keeps it); a snapshot costs
# one copy of the parameters and the optimiser state, and bounds how much a replay redoes.
SLICE_SECONDS = 0.05
SNAPSHOT_SECONDS = 0.5

# The cost model behind the slice size: ns per parameter per row, and per batch (call and bookkeeping), on
# this 2-core Zen 4 machine (fastmlp bench, W1-W4). Adam and the smooth activations are slower per parameter.
_NS_PER_PARAM_ROW = {"numba": 0.16, "numpy": 0.05}
_NS_PER_BATCH = {"numba": 60.0, "numpy": 20_000.0}
_OPTIMIZER_COST = {"sgd": 1.0, "momentum": 1.5, "nesterov": 1.6, "adam": 5.5}
_ACTIVATION_COST = {"identity": 1.0, "relu": 1.0, "sigmoid": 2.0, "tanh": 3.5}
# A team of threads (fit(threads=n)) shares each row's work and meets at up to 2L - 1 barriers a row. A barrier
# costs 17-18 ns on an idle machine (benchmarks/threads.py --barrier) but waits for a member the OS has
# descheduled on a loaded one: in CI a [4, 64, 64, 1] fit on two threads ran ~10x its idle time, and a slice
# sized without this term took 0.36 s. Counted pessimistically, so that Ctrl-C still lands within 0.2 s there.
_NS_PER_BARRIER = 5_000.0


def slice_batches(backend: str, spec, batch_size: int, optimizer: str, threads: int = 1) -> int:
    """How many batches one slice holds (the reference path: as many as a chunk has)."""
    if backend not in _NS_PER_PARAM_ROW:
        return 1 << 62
    ns_per_row = (_NS_PER_PARAM_ROW[backend] * spec.n_params * _OPTIMIZER_COST[optimizer]
                  * _ACTIVATION_COST[spec.activation])
    if threads > 1:
        ns_per_row = ns_per_row / threads + (2 * spec.n_layers - 1) * _NS_PER_BARRIER
    ns_per_batch = _NS_PER_BATCH[backend] + batch_size * ns_per_row
    return max(1, int(SLICE_SECONDS * 1e9 / ns_per_batch))


class Diverged(Exception):
    """Raised by :func:`train_chunk`: the batch holding ``position`` (in the chunk's order) diverged, through a
    non-finite loss at that position or (``update``) through its update; the state is as before that batch."""

    def __init__(self, position: int, update: bool):
        super().__init__(position, update)
        self.position, self.update = position, update


class Interrupt:
    """A Ctrl-C waiting for the next safe point. Paths call :meth:`check` where stopping is safe.

    Used as a context manager around a chunk's training: in the main thread, under Python's default handler,
    SIGINT then only sets :attr:`pending` (a second one raises at once). Elsewhere SIGINT never reaches the
    thread, and a handler of the user's own is left alone. A Ctrl-C after the last safe point is raised on exit.
    With :attr:`defer` off (a wait that must be cut short, a batch too long to wait for) SIGINT raises at once.
    """

    def __init__(self):
        self.pending = self.raised_safely = self._installed = False
        self.defer = True
        self._holding = self._stop_after_hold = False

    def check(self):
        if self.pending:
            self.pending = False
            self.raised_safely = True
            raise KeyboardInterrupt

    def _handler(self, signum, frame):
        stop_now = self.pending or not self.defer    # a second Ctrl-C: stop now, the caller restores a snapshot
        # Remembered either way: a KeyboardInterrupt raised while a finaliser (``__del__``) runs is swallowed by
        # Python, and the next check() must still see it.
        self.pending = True
        if stop_now and self._holding:
            self._stop_after_hold = True
        elif stop_now:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def holding(self):
        """A stretch no Ctrl-C may cut (a threaded kernel's team starting and finishing a call): one that would
        have raised at once raises at its end instead."""
        self._holding, self._stop_after_hold = True, False
        try:
            yield
        finally:
            self._holding = False
        if self._stop_after_hold:
            self._stop_after_hold = False
            raise KeyboardInterrupt

    def __enter__(self):
        self.pending = self.raised_safely = False
        # _signal is what the signal module wraps: the same calls without the enum conversions (1 us, not 8)
        self._installed = (threading.current_thread() is threading.main_thread()
                           and _signal.getsignal(_SIGINT) is _signal.default_int_handler)
        if self._installed:
            _signal.signal(_SIGINT, self._handler)
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._installed:
            _signal.signal(_SIGINT, _signal.default_int_handler)
            self._installed = False
        if exc_type is None:
            self.check()                             # a Ctrl-C after the last safe point is not lost
        return False


class _State:
    """A copy of the parameters and the optimiser state (``m``, ``v``, ``t``)."""

    def __init__(self, params, opt):
        self.arrays = [params, opt.m, opt.v, opt.t]
        self.copies = [a.copy() for a in self.arrays]

    def take(self):
        for copy, live in zip(self.copies, self.arrays):
            np.copyto(copy, live)

    def restore(self):
        for copy, live in zip(self.copies, self.arrays):
            np.copyto(live, copy)


def state_is_finite(params, opt) -> bool:
    return all(np.isfinite(a).all() for a in (params, opt.m, opt.v) if a.size)


def _add(a: EpochResult, b: EpochResult) -> EpochResult:
    return EpochResult(a.loss_sum + b.loss_sum, a.n_seen + b.n_seen, -1, a.weight_sum + b.weight_sum)


def train_chunk(path, backend, spec, params, opt, X, Y, order, lr, batch_size, workspace, sample_weight,
                interrupt: Interrupt, threads: int = 1) -> EpochResult:
    """One chunk of an epoch, as ``path.train_epoch`` would train it (on ``threads`` threads, the workspace's), with
    the module's rules enforced.

    Returns the chunk's ``EpochResult``; raises :class:`Diverged` (state as before the failing batch) or
    ``KeyboardInterrupt`` (state as after the last complete batch)."""
    run = _Run(path, spec, params, opt, X, Y, order, lr, batch_size, workspace, sample_weight, interrupt)
    n = order.shape[0]
    batches = slice_batches(backend, spec, batch_size, opt.name, threads)
    rows = batches * batch_size
    # A batch that alone takes longer than a slice: a snapshot before each one, and Ctrl-C is not deferred but
    # raised at once (on the numpy and reference paths, mid-batch; the snapshot is then put back).
    huge = batches == 1 and backend in _NS_PER_PARAM_ROW
    per_snapshot = 1 if huge else max(1, round(SNAPSHOT_SECONDS / SLICE_SECONDS))
    snapshot = _State(params, opt)
    total, snap_lo = EpochResult(0.0, 0, -1, 0.0), 0
    interrupt.defer = True
    with interrupt:
        try:
            # Load (or compile) the path's kernels first, with Ctrl-C deferred: an exception raised inside Numba's
            # compiler comes out as a confusing TypingError. A Ctrl-C meanwhile lands right after, nothing trained.
            run(0, 0)
            interrupt.check()
            interrupt.defer = not huge
            for k, lo in enumerate(range(0, n, rows)):
                if k % per_snapshot == 0:
                    if not state_is_finite(params, opt):
                        run.locate(snapshot, snap_lo, lo)
                    snapshot.take()
                    snap_lo = lo
                r = run(lo, min(n, lo + rows))
                if r.bad_position >= 0:
                    if r.bad_update or state_is_finite(params, opt):
                        raise Diverged(r.bad_position, r.bad_update)   # found by the path, state as before
                    run.locate(snapshot, snap_lo, min(n, lo + rows))   # an earlier update made the loss non-finite
                total = _add(total, r)
                interrupt.check()
            if not state_is_finite(params, opt):
                run.locate(snapshot, snap_lo, n)
        except KeyboardInterrupt:
            if not interrupt.raised_safely or not state_is_finite(params, opt):
                snapshot.restore()
            raise
    return total


class _Run:
    """The path's ``train_epoch`` on rows ``lo..hi`` of the chunk's order (a class, not closures: a closure
    that calls itself is a reference cycle, which would keep the order array alive until the next garbage
    collection and make every ``fit`` allocate fresh pages)."""

    def __init__(self, path, spec, params, opt, X, Y, order, lr, batch_size, workspace, sample_weight, interrupt):
        self.path, self.spec, self.params, self.opt, self.X, self.Y, self.order = path, spec, params, opt, X, Y, order
        self.lr, self.batch_size, self.workspace, self.sample_weight = lr, batch_size, workspace, sample_weight
        self.interrupt = interrupt

    def __call__(self, lo, hi) -> EpochResult:
        r = self.path.train_epoch(self.spec, self.params, self.X, self.Y, self.order[lo:hi], self.lr, self.batch_size,
                                  self.workspace, self.opt, sample_weight=self.sample_weight, interrupt=self.interrupt)
        return r._replace(bad_position=lo + r.bad_position) if r.bad_position >= 0 else r

    def replay(self, lo, hi) -> EpochResult:
        """Rows ``lo..hi`` (batch-aligned) again from the state before ``lo``, halving down to the batch whose
        update leaves a non-finite value; returns their result when nothing diverges."""
        saved = _State(self.params, self.opt)
        r = self(lo, hi)
        finite = state_is_finite(self.params, self.opt)
        if r.bad_position >= 0 and (finite or r.bad_update):
            raise Diverged(r.bad_position, r.bad_update)         # found by the path, the state as before it
        if finite:
            return r
        saved.restore()
        n_batches = -(-(hi - lo) // self.batch_size)      # the last one may be short
        if n_batches <= 1:
            raise Diverged(lo, True)
        mid = lo + n_batches // 2 * self.batch_size
        return _add(self.replay(lo, mid), self.replay(mid, hi))

    def locate(self, snapshot, lo, hi):
        """The state went non-finite somewhere in rows ``lo..hi``, since ``snapshot`` was taken at ``lo``."""
        snapshot.restore()
        self.replay(lo, hi)
        raise AssertionError("a replay from the snapshot did not reproduce the non-finite state")

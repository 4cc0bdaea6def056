"""Data-parallel training on a dask cluster: local SGD with periodic parameter averaging.

The per-sample loop cannot be split across samples without changing what it computes, so fastmlp splits the
*rows* instead (Zinkevich et al., 2010, "Parallelized Stochastic Gradient Descent"; McMahan et al., 2017,
federated averaging; Lin et al., 2020, "Don't use large mini-batches, use local SGD"): every partition of the data
trains its own rows with the compiled loop, starting from the same parameters, for ``sync_every`` rows; the
parameters (and the optimiser's state) are then averaged, and the next round starts from the average.
dask.distributed runs the rounds: it places the tasks, moves the parameters between the client and the workers,
and retries a task whose worker died. Nothing here schedules, serialises or retries by itself.

The round rule (``docs/contract.md``, "Data-parallel training"), with ``n`` rows and ``P`` partitions:

* **rows**: partition ``p`` holds rows ``p*n//P .. (p+1)*n//P - 1``. A data-set folder is read on the worker,
  chunk by chunk, rows of that range only; dask arrays are sliced to that range, computed once on a worker and
  kept there for the whole fit. Nothing passes through the scheduler but small task descriptions.
* **order**: each epoch, partition ``p`` visits its rows a chunk (``chunk_rows`` rows of its range) at a time:
  the chunks in the order ``default_rng([seed, epoch, p, 0]).permutation(n_chunks)``, the rows of chunk ``k``
  in the order ``default_rng([seed, epoch, p, 1, k]).permutation(rows of k)`` (in order, without
  ``shuffle``). :func:`partition_order` returns it.
* **rounds**: a partition's epoch is its batches in that order (``batch_size`` rows, never spanning two chunks);
  round ``r`` trains batches ``r*S .. (r+1)*S - 1`` of every partition, ``S = sync_every // batch_size``
  (``sync_every="epoch"``: one round per epoch). A partition whose batches have run out sits a round out.
* **averaging**: each partition that trained returns its parameters and optimiser state; the new ones are
  ``sum_p (rows_p / rows) * x_p`` over those partitions in partition order, in float64, rounded to the model's
  dtype; Adam's step count advances by the most batches any partition trained.

So a fit depends only on its arguments, the seed and the partitioning -- not on the number of workers, which
worker ran what, or when -- and is the same bit for bit run after run, a killed worker included. With one
partition and ``sync_every="epoch"`` an epoch is ``MLP.fit`` on ``partition_order``'s rows with
``shuffle=False``.

Divergence in any partition ends the fit with :class:`~fastmlp.DivergenceError` naming the partition and the
row; Ctrl-C ends it with ``KeyboardInterrupt``. Either way the model holds the parameters and optimiser state of
the last completed round.

Needs the ``distributed`` extra (``pip install 'fastmlp[distributed]'``).
"""
from __future__ import annotations

import collections
import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import _guard, _settings, backends
from ._memory import aligned_copy
from ._params import InvalidParameterError, check, short
from ._progress import TrainingProgress
from ._validation import check_X, check_Y, is_dask_array
from .model import MLP, DivergenceError, History, _name, record_epoch
from .optim import OptimizerState, as_optimizer
from .schedule import Plan, as_schedule, as_stopping
from .streaming import DEFAULT_CHUNK_ROWS, FolderSource, _check_shapes, in_order

__all__ = ["fit", "local_cluster", "partition_bounds", "partition_order", "DistributedHistory", "DEFAULT_SYNC_EVERY"]

# Rows each partition trains between two averagings, by default: enough that a round's training (about a second
# for W2, [16, 64, 64, 1]) dwarfs its ~15 ms of broadcast, scheduling and averaging, and, measured on W2 with 10**7
# teacher rows and 2 partitions, the held-out loss of every epoch as serial SGD's (benchmarks/data_parallel.py;
# docs/performance.md, "Data-parallel training").
DEFAULT_SYNC_EVERY = 500_000

# A round's starting state up to this size travels inside each task (through the scheduler: one hop fewer,
# ~5 ms less per round here); a larger one is scattered to every worker once, directly from the client.
_EMBED_BYTES = 1 << 20


@dataclass
class DistributedHistory(History):
    """What :func:`fit` returns: :class:`~fastmlp.History` plus, per epoch, the rounds run and the seconds of
    training inside them (per round, the busiest worker's tasks), so ``seconds - compute_seconds`` is what the
    rounds' broadcasts, averaging and scheduling cost."""

    partitions: int = 0
    sync_every: int | str = "epoch"
    rounds: list = field(default_factory=list)
    compute_seconds: list = field(default_factory=list)


# --- the round rule, as plain functions (the worker's and the reader's) --------------------------------------------

def partition_bounds(n_rows: int, partitions: int) -> list[tuple[int, int]]:
    """``[(lo, hi), ...]``: partition ``p`` holds rows ``lo..hi-1``, ``lo = p * n_rows // partitions``."""
    return [(p * n_rows // partitions, (p + 1) * n_rows // partitions) for p in range(partitions)]


def _chunk_plan(n_rows, chunk_rows, seed, epoch, partition, shuffle):
    """The chunks of a partition of ``n_rows`` rows in visiting order: ``[(k, lo, hi)]`` (rows of the partition)."""
    n_chunks = -(-n_rows // chunk_rows)
    ks = np.random.default_rng([seed, epoch, partition, 0]).permutation(n_chunks) if shuffle else range(n_chunks)
    return [(int(k), int(k) * chunk_rows, min(n_rows, (int(k) + 1) * chunk_rows)) for k in ks]


def _row_order(n, seed, epoch, partition, k, shuffle):
    if not shuffle:
        return in_order(n)
    return np.random.default_rng([seed, epoch, partition, 1, k]).permutation(n)


def partition_order(n_rows: int, partitions: int, partition: int, *, seed: int, epoch: int, shuffle: bool = True,
                    chunk_rows: int | None = None) -> np.ndarray:
    """The rows (of the whole data) that ``partition`` visits in ``epoch``, in the order it visits them."""
    lo, hi = partition_bounds(n_rows, partitions)[partition]
    chunk_rows = min(hi - lo, chunk_rows or DEFAULT_CHUNK_ROWS)
    return np.concatenate([lo + a + _row_order(b - a, seed, epoch, partition, k, shuffle)
                           for k, a, b in _chunk_plan(hi - lo, chunk_rows, seed, epoch, partition, shuffle)])


# --- on the workers ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Job:
    """What every task of one partition needs to know (small: it travels with each task)."""

    token: str                 # one fit
    partition: int
    lo: int                    # the partition's rows of the whole data
    hi: int
    spec: object
    dtype: np.dtype
    backend: str
    batch_size: int
    optimizer: object
    seed: int
    shuffle: bool
    chunk_rows: int
    batches_per_round: int     # S; the epoch's batch count for sync_every="epoch"
    folder: str | None         # a data-set folder, or None: the partition's arrays come with the task


class _Partition:
    """A worker's view of one partition during one fit: its data, its path, and the chunk last trained (kept,
    with its order, for the next round; a cache only: a task that finds it missing rebuilds the same)."""

    def __init__(self, job, data):
        self.job = job
        self.path = backends.get(job.backend)
        self.workspace = self.path.prepare(job.spec, job.dtype, min(job.batch_size, job.chunk_rows))
        self.source = FolderSource(job.folder, job.spec, job.dtype, job.chunk_rows) if job.folder else None
        self.data = data
        self.current = None        # (epoch, k, X, Y, order)

    def chunk(self, epoch, k, a, b):
        """Rows ``a..b-1`` of the partition (its chunk ``k``) as checked arrays, with their order this epoch."""
        if self.current is not None and self.current[:2] == (epoch, k):
            return self.current[2:]
        job = self.job
        if self.source is not None:
            rows = self.source.rows(job.lo + a, job.lo + b)
            X, Y = rows.X, rows.Y
        else:
            X, Y = self.data[0][a:b], self.data[1][a:b]
        order = _row_order(b - a, job.seed, epoch, job.partition, k, job.shuffle)
        self.current = (epoch, k, X, Y, order)
        return X, Y, order


_PARTITIONS: collections.OrderedDict = collections.OrderedDict()    # (token, partition) -> _Partition, per worker
_PARTITIONS_KEPT = 4
_PARTITIONS_LOCK = threading.Lock()


def _partition(job, data) -> _Partition:
    key = (job.token, job.partition)
    with _PARTITIONS_LOCK:
        part = _PARTITIONS.get(key)
        if part is None:
            part = _PARTITIONS[key] = _Partition(job, data)
            while len(_PARTITIONS) > _PARTITIONS_KEPT:
                _PARTITIONS.popitem(last=False)
        _PARTITIONS.move_to_end(key)
    return part


def _forget(token):
    """Drop what this worker keeps for the fit ``token`` (run on every worker when a fit ends)."""
    with _PARTITIONS_LOCK:
        for key in [key for key in _PARTITIONS if key[0] == token]:
            del _PARTITIONS[key]


def _load_partition(job, X, y):
    """A dask partition's rows, checked and converted (contiguous, the model's dtype), kept on the worker."""
    where = f"rows {job.lo}..{job.hi - 1}"
    X = check_X(X, job.spec, job.dtype, name=f"X ({where})")
    return X, check_Y(y, job.spec, job.dtype, X.shape[0], name=f"y ({where})")


def _train_round(job, start, epoch, rnd, lr, data=None):
    """One partition's share of round ``rnd`` of ``epoch``, from the broadcast state ``start``
    (``(params, m, v, t)``): its batches ``rnd*S .. (rnd+1)*S - 1``. Returns what it trained and the state after it,
    or where it diverged."""
    t0 = time.perf_counter()
    part = _partition(job, data)
    params = aligned_copy(start[0])         # on 64-byte boundaries, as the model's own (numpy's copy: 16 bytes)
    opt = OptimizerState(job.optimizer, job.spec.n_params, job.dtype)
    opt.m[...], opt.v[...], opt.t[...] = start[1], start[2], start[3]
    B, S = job.batch_size, job.batches_per_round
    first, last = rnd * S, (rnd + 1) * S                 # the round's batches, of the partition's epoch
    loss_sum, n_seen, weight_sum, batches = 0.0, 0, 0.0, 0
    seen = rows_before = 0                                # batches and rows of the chunks visited before
    interrupt = _guard.Interrupt()                       # never installed: tasks run outside the main thread
    for k, a, b in _chunk_plan(job.hi - job.lo, job.chunk_rows, job.seed, epoch, job.partition, job.shuffle):
        n_batches = -(-(b - a) // B)
        lo_batch, hi_batch = max(first, seen), min(last, seen + n_batches)
        if lo_batch < hi_batch:
            X, Y, order = part.chunk(epoch, k, a, b)
            skip = (lo_batch - seen) * B
            try:
                r = _guard.train_chunk(part.path, job.backend, job.spec, params, opt, X, Y,
                                       order[skip:min((hi_batch - seen) * B, b - a)], lr, B, part.workspace, None,
                                       interrupt)
            except _guard.Diverged as d:
                return {"diverged": True, "partition": job.partition, "row": job.lo + a + int(order[skip + d.position]),
                        "position": rows_before + skip + d.position, "update": d.update}
            loss_sum, n_seen, weight_sum = loss_sum + r.loss_sum, n_seen + r.n_seen, weight_sum + r.weight_sum
            batches += hi_batch - lo_batch
        seen, rows_before = seen + n_batches, rows_before + (b - a)
        if seen >= last:
            break
    return {"diverged": False, "params": params, "m": opt.m, "v": opt.v, "batches": batches, "rows": n_seen,
            "loss_sum": loss_sum, "weight_sum": weight_sum, "seconds": time.perf_counter() - t0,
            "worker": _worker_address()}


def _worker_address():
    try:
        return _import_distributed().get_worker().address
    except ValueError:                  # not on a worker (a client with processes=False runs tasks here too)
        return None


# --- on the client ----------------------------------------------------------------------------------------------

def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise ImportError("fastmlp.distributed needs dask.distributed: pip install 'fastmlp[distributed]'") from None
    return distributed


def _physical_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                       # not Linux
        return os.cpu_count() or 1


# What fastmlp turns off in the clusters it starts: the workers' statistical profiler (a stack sample every 10 ms)
# and the scheduler's work stealing (each task is placed beside its partition's data on purpose). Measured on
# W2, 10**7 rows, two workers, three pairs of runs: 3-6 % more rows/s (benchmarks/data_parallel.py --config-ab).
_LOCAL_CONFIG = {"distributed.worker.profile.enabled": False, "distributed.scheduler.work-stealing": False}


@contextlib.contextmanager
def local_cluster(workers: int | None = None):
    """A dask ``Client`` of a local cluster of ``workers`` worker processes (default: one per core), one thread each,
    for the ``with`` block: what :func:`fit` starts for ``client=None`` and ``fastmlp train --workers`` uses."""
    distributed = _import_distributed()
    import dask
    workers = _physical_cores() if workers is None else check("workers", workers)
    with dask.config.set(_LOCAL_CONFIG), \
            distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                     dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        yield client


@contextlib.contextmanager
def _client_for(client):
    """``client``, or a local cluster for the fit's length."""
    distributed = _import_distributed()
    if client is not None:
        if not isinstance(client, distributed.Client):
            raise InvalidParameterError(f"client must be a dask.distributed.Client or None, got {short(client)}")
        yield client
        return
    with local_cluster() as local:
        yield local


class _Data:
    """The training data as given (checked on the client: shapes, sizes; values are checked on the workers)."""

    def __init__(self, data, spec, dtype, chunk_rows):
        self.folder = None
        if isinstance(data, (str, os.PathLike)):
            source = FolderSource(data, spec, dtype, chunk_rows)          # the manifest and headers, checked here
            self.folder, self.n_rows = os.path.abspath(os.fspath(data)), source.n_rows
            return
        if not (isinstance(data, (tuple, list)) and len(data) == 2):
            raise InvalidParameterError(f"data must be a data-set folder (fastmlp.datasets.write) or a pair (X, y) of "
                                        f"dask arrays, got {short(data)}")
        X, y = data
        for name, a in (("X", X), ("y", y)):
            if not is_dask_array(a):
                raise InvalidParameterError(f"data: {name} must be a dask array (dask.array.from_array(...) wraps a "
                                            f"numpy one), got {type(a).__name__}")
            if any(np.isnan(c) for c in a.shape):
                raise InvalidParameterError(f"data: {name} has unknown chunk sizes (shape {a.shape}); call "
                                            f"{name}.compute_chunk_sizes() first")
        _check_shapes(X.shape, y.shape, spec, "data: X", "data: y")
        self.X, self.y, self.n_rows = X, y, int(X.shape[0])


def fit(net: MLP, data, client=None, *, epochs: int = 1, sync_every: int | str = DEFAULT_SYNC_EVERY,
        partitions: int | None = None, lr: float = 0.01, batch_size: int = 1, optimizer="sgd", schedule="constant",
        stopping=None, validation_data=None, shuffle: bool = True, seed: int | None = None,
        backend: str | None = None, chunk_rows: int | None = None, progress: bool = False,
        callbacks: Sequence[Callable] | None = None) -> DistributedHistory:
    """Train ``net`` data-parallel on a dask cluster: local SGD with parameter averaging (the module's rule).

    Parameters
    ----------
    net : fastmlp.MLP
        Trained in place, as ``net.fit`` trains it; its optimiser state is carried in and out the same way.
    data : data-set folder, or a pair ``(X, y)`` of dask arrays
        A folder written by ``fastmlp.datasets.write`` must be readable at the same path by every worker (each
        reads only its partition's rows). Dask arrays need known chunk sizes; each partition's slice is computed
        on a worker and kept there.
    client : dask.distributed.Client, optional
        The cluster to train on. ``None``: a ``LocalCluster`` of worker processes, one per core, for this call.
    epochs, lr, batch_size, optimizer, schedule, stopping, validation_data, shuffle, backend, chunk_rows :
        As for ``MLP.fit`` (``backend`` is the path each worker runs; ``validation_data`` is evaluated on the
        client after each epoch).
    progress, callbacks :
        As for ``MLP.fit``; the bar is updated once per round, with the rows/s of the whole cluster.
    sync_every : int or "epoch"
        Rows each partition trains between two averagings (a multiple of ``batch_size``), or ``"epoch"``.
        Smaller: closer to serial SGD, more rounds; see ``docs/performance.md`` for how to choose.
    partitions : int, optional
        How many parts the rows are split into (each trained by one task per round). ``None``: the cluster's
        worker threads when the fit starts. The result depends on it, never on the cluster: give it to get the
        same bits on any cluster.
    seed : int, optional
        Draws every partition's order (the module's rule). ``None``: one drawn from the model's generator.

    Returns
    -------
    DistributedHistory

    Raises
    ------
    InvalidParameterError
        For an argument outside what it may be, before any work.
    DivergenceError
        When a partition's batch diverges (``partition`` and ``row`` say where); the model is as after the last
        completed round.
    KeyboardInterrupt
        On Ctrl-C; the model is as after the last completed round.
    """
    if not isinstance(net, MLP):
        raise InvalidParameterError(f"net must be a fastmlp.MLP, got {short(net)}")
    epochs, lr, batch_size = check("epochs", epochs), check("lr", lr), check("batch_size", batch_size)
    shuffle, progress = check("shuffle", shuffle), check("progress", progress)
    seed, chunk_rows = check("seed", seed), check("chunk_rows", chunk_rows)
    partitions, sync_every = check("partitions", partitions), check("sync_every", sync_every)
    if sync_every != "epoch" and sync_every % batch_size:
        raise InvalidParameterError(f"sync_every must be a multiple of batch_size ({batch_size}), got {sync_every}")
    backend = check("backend", backend)
    optimizer, schedule, stopping = as_optimizer(optimizer), as_schedule(schedule), as_stopping(stopping)
    _settings.check_stopping_needs(stopping, validation_data is not None, "validation_data")
    callbacks = _settings.check_callbacks(callbacks)
    spec, dtype = net.spec, net.dtype
    validation = _settings.check_validation_data(validation_data, spec, dtype)
    source = _Data(data, spec, dtype, chunk_rows)
    name = backends.resolve(backend, spec, batch_size, dtype)
    if not net._training.acquire(blocking=False):
        raise RuntimeError("fastmlp.distributed.fit: this model is already being trained; one model is trained by one "
                           "caller at a time")
    try:
        with _client_for(client) as cl:
            return _Fit(net, source, cl, epochs=epochs, sync_every=sync_every, partitions=partitions, lr=lr,
                        batch_size=batch_size, optimizer=optimizer, schedule=schedule, stopping=stopping,
                        validation=validation, shuffle=shuffle, seed=seed, backend=name, chunk_rows=chunk_rows,
                        progress=progress, callbacks=callbacks).run()
    finally:
        net._training.release()


class _Fit:
    """One call of :func:`fit` on a client: the jobs, the data's futures, the round loop."""

    def __init__(self, net, source, client, *, epochs, sync_every, partitions, lr, batch_size, optimizer, schedule,
                 stopping, validation, shuffle, seed, backend, chunk_rows, progress, callbacks):
        self.net, self.client, self.epochs, self.validation = net, client, epochs, validation
        self.plan, self.stopping = Plan(lr, schedule, stopping), stopping
        self.callbacks, self.progress = callbacks, progress
        self.backend, self.batch_size, self.optimizer = backend, batch_size, optimizer
        workers = sorted(client.scheduler_info()["workers"])
        if not workers:
            raise RuntimeError("fastmlp.distributed.fit: the cluster has no workers")
        P = partitions or sum(client.nthreads().values())
        if P > source.n_rows:
            raise InvalidParameterError(f"partitions must be at most the number of rows ({source.n_rows}), got {P}")
        self.rng_state = net.rng.bit_generator.state        # put back if the fit fails before its first round
        if seed is None:
            seed = int(net.rng.integers(2**63))
        self.P, self.seed, self.n_rows, self.sync_every = P, seed, source.n_rows, sync_every
        token = f"fastmlp-{uuid.uuid4().hex[:12]}"
        self.token, self.workers = token, workers
        self.jobs, self.batches = [], []
        for p, (lo, hi) in enumerate(partition_bounds(source.n_rows, P)):
            rows = min(hi - lo, chunk_rows or DEFAULT_CHUNK_ROWS)
            batches = sum(-(-(b - a) // batch_size) for _, a, b in _chunk_plan(hi - lo, rows, 0, 0, p, False))
            S = batches if sync_every == "epoch" else sync_every // batch_size
            self.jobs.append(_Job(token, p, lo, hi, net.spec, net.dtype, backend, batch_size, optimizer, seed, shuffle,
                                  rows, S, source.folder))
            self.batches.append(batches)
        self.rounds = max(-(-nb // job.batches_per_round) for nb, job in zip(self.batches, self.jobs))
        self.source = source
        self.data = [None] * P

    def _worker(self, p):
        return self.workers[p % len(self.workers)]

    def _load(self):
        """Each dask partition computed on its worker, checked there, and kept (the futures)."""
        if self.source.folder is not None:
            return
        for p, job in enumerate(self.jobs):
            X = self.client.compute(self.source.X[job.lo:job.hi], workers=[self._worker(p)], allow_other_workers=True)
            y = self.client.compute(self.source.y[job.lo:job.hi], workers=[self._worker(p)], allow_other_workers=True)
            self.data[p] = self.client.submit(_load_partition, job, X, y, workers=[self._worker(p)],
                                              allow_other_workers=True, key=f"{self.token}-data-{p}")
        self._wait(_import_distributed().wait, self.data)
        for future in self.data:                # errors in the data surface here, before any training
            if future.status == "error":
                future.result()

    def run(self) -> DistributedHistory:
        # Ctrl-C: at once while the client waits for the workers (nothing of the model changes then), otherwise at
        # the next round's start (so the averaging and an epoch's closing are never cut in two).
        with _guard.Interrupt() as self.interrupt:
            return self._run()

    def _wait(self, wait, *args):
        self.interrupt.defer = False
        try:
            result = wait(*args)
        finally:
            self.interrupt.defer = True
        self.interrupt.check()              # a Ctrl-C swallowed by a finaliser (``__del__``) during the wait
        return result

    def _run(self) -> DistributedHistory:
        net = self.net
        try:
            self._load()
        except BaseException:
            net.rng.bit_generator.state = self.rng_state
            self._release()
            raise
        state = net.optimizer_state
        if state is None or state.optimizer != self.optimizer:
            state = OptimizerState(self.optimizer, net.spec.n_params, net.dtype)
        state.weigh(1.0)                        # no sample weights here
        net.optimizer_state = state
        history = DistributedHistory(backend=self.backend, stop_reason=f"epochs: all {self.epochs} run",
                                     partitions=self.P, sync_every=self.sync_every)
        bar = TrainingProgress(self.epochs, self.n_rows) if self.progress else None
        best_params, samples_seen = None, 0
        try:
            for epoch in range(self.epochs):
                reason, improved, samples_seen = self._epoch(epoch, history, bar, samples_seen)
                if self.stopping.restore_best and improved:
                    best_params, history.best_epoch = net.params.copy(), epoch
                for callback in self.callbacks:
                    if callback(epoch, history, net) and not reason:
                        reason = f"callback: {_name(callback)} stopped training after epoch {epoch}"
                if reason:
                    history.stop_reason = reason
                    break
        finally:
            if bar is not None:
                bar.close()
            self._release()
        if best_params is not None:
            net.params[...] = best_params
        return history

    def _release(self):
        """Let go of the data kept on the workers for this fit, and of what the workers cached for it."""
        self.client.cancel([f for f in self.data if f is not None])
        with contextlib.suppress(Exception):
            self.client.run(_forget, self.token)

    def _epoch(self, epoch, history, bar, samples_seen):
        net, state = self.net, self.net.optimizer_state
        t0 = time.perf_counter()
        lr = self.plan.lr_for_epoch(samples_seen)
        loss_sum = weight_sum = compute = 0.0
        n_seen = 0
        for rnd in range(self.rounds):
            self.interrupt.check()
            active = [p for p in range(self.P) if rnd * self.jobs[p].batches_per_round < self.batches[p]]
            start = (net.params.copy(), state.m.copy(), state.v.copy(), state.t.copy())
            if sum(a.nbytes for a in start) > _EMBED_BYTES:        # sent once to each worker, not once per task
                [start] = self.client.scatter([start], broadcast=True, hash=False)
            futures = [self.client.submit(_train_round, self.jobs[p], start, epoch, rnd, lr, self.data[p],
                                          key=f"{self.token}-e{epoch}-r{rnd}-p{p}", workers=[self._worker(p)],
                                          allow_other_workers=True) for p in active]
            try:
                results = self._wait(self.client.gather, futures)
            except BaseException:
                self.client.cancel(futures)
                raise
            del futures, start
            for r in results:                           # in partition order: the lowest one's is raised
                if r["diverged"]:
                    raise self._divergence(epoch, rnd, r, history)
            self._average(results)
            busy = collections.Counter()
            for r in results:
                busy[r["worker"]] += r["seconds"]
            compute += max(busy.values())
            loss_sum += sum(r["loss_sum"] for r in results)
            weight_sum += sum(r["weight_sum"] for r in results)
            rows = sum(r["rows"] for r in results)
            n_seen += rows
            if bar is not None:
                bar.update(epoch, n_seen, rows, time.perf_counter() - t0, loss_sum / max(weight_sum, 1e-300))
        monitored = record_epoch(history, lr, t0, loss_sum, weight_sum, self.validation, net, bar,
                                 self.plan.stopping.score)
        history.rounds.append(self.rounds)
        history.compute_seconds.append(compute)
        reason, improved = self.plan.after_epoch(epoch, monitored)
        return reason, improved, samples_seen + n_seen

    def _average(self, results):
        """The round rule's average, in partition order, into the model's parameters and optimiser state."""
        net, state = self.net, self.net.optimizer_state
        rows = sum(r["rows"] for r in results)
        for target, key in ((net.params, "params"), (state.m, "m"), (state.v, "v")):
            if target.size:
                total = np.zeros(target.shape, np.float64)
                for r in results:
                    total += (r["rows"] / rows) * r[key].astype(np.float64, copy=False)
                target[...] = total
        state.t[0] += max(r["batches"] for r in results)

    def _divergence(self, epoch, rnd, r, history) -> DivergenceError:
        finite = "finite in float32" if self.net.dtype == np.float32 else "finite"
        where = (f"epoch {epoch}, round {rnd}, partition {r['partition']}, row {r['row']} (position {r['position']} "
                 f"in the partition's order)")
        what = (f"the update of the batch that starts at {where} would leave parameters or optimiser state that are "
                f"not {finite}" if r["update"] else f"the loss is not {finite} at {where}")
        error = DivergenceError(
            f"training diverged: {what}. The parameters and the optimiser state are those after the last completed "
            f"round. Try a smaller lr.", epoch, r["row"], r["position"], history, "update" if r["update"] else "loss")
        error.partition = r["partition"]
        return error

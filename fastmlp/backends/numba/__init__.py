"""The Numba path: the whole epoch, per-sample loop included, in one compiled call.

It computes ``reference.train_epoch``, with kernels of one of two styles, chosen from the network and the optimiser
alone (``style_for``; never from what is in the cache, so a seed gives the same bits with a cold or a warm cache):

* ``loop``: the kernels of ``kernels.py``, ordinary source that takes the network's shape at run time; one
  compiled kernel pair per optimiser (momentum and Nesterov's share one) and dtype serves every shape, compiled
  once per install and then loaded from the cache.
* ``scalar``: for tiny networks trained by plain SGD (``SCALAR_MAX_PARAMS``), kernels generated for the exact
  shape by ``_codegen``, every parameter a local variable, which beat any loop there (the worked example's
  ``[2, 2, 1]``). They are written to a cache folder, imported, compiled by Numba and cached
  (``_numba_config.jit``); their dispatchers are made once per process, when the shape is first seen, and kept in
  ``_MODULES``.

Where generated sources live: under fastmlp's cache folder (``_cache.cache_root``: ``$FASTMLP_CACHE_DIR``, or
``~/.cache/fastmlp``, or a private temporary folder), in a folder named after the package version and a hash of
the generator's and the Numba policy's own source, so an upgrade, or any change to how kernels are written,
starts a fresh folder: no stale kernel is ever loaded. Each file is named after the network and dtype it serves
(``k_<sizes>_<activation>_<loss>_<dtype>_sgd[_weighted]_<hash of its text>.py``). Numba's compiled code for them
is kept by ``_cache``, keyed by each source. Without any usable cache folder the kernels are built in memory.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import queue
import sys
import tempfile
import threading
import types
import warnings
import weakref
from pathlib import Path

import numba  # noqa: F401  (ImportError here makes the path unavailable)
import numpy as np

from ... import __version__
from ..._memory import aligned_zeros
from ...optim import sgd_state
from .. import EpochResult, _cache, _finite, _numba_config, _vmath
from . import _codegen, _sync, kernels

_MODULES = {}   # (spec, dtype name, weighted) -> imported generated module (scalar style)

# The scalar style where it pays and compiles quickly: plain SGD (the worked example's update) on networks of at
# most this many parameters. It trains 1.6-3.7x faster than the loop style there (up to 49 parameters, where
# measurement stopped), so speed does not set the threshold; compile time does: a scalar kernel is compiled for
# each new shape, 0.3-0.45 s for plain SGD up to 13 parameters, 0.45-0.9 s from 16 to 31, and 0.6-1.6 s with
# momentum or Adam at any size (docs/performance.md, "First fit of a new shape"). Above it, and for every other
# optimiser, the loop style: nothing to compile for a new shape.
SCALAR_MAX_PARAMS = 13


# The threaded per-sample loop (``threads``): a thread per this many parameters, up to the physical cores. Measured
# on this 2-core machine (``python benchmarks/threads.py``, three runs of 2026-12-06; docs/performance.md, "Per-sample
# SGD on every core"): two threads break even near 16 k parameters ([64, 96, 96, 10] 1.04-1.11x), gain at 26 k
# ([64, 128, 128, 10] 1.08-1.21x), 51 k (1.19-1.39x), 85 k ([64, 256, 256, 10] 1.27-1.50x) and W3's 235 k
# (1.39-1.55x) up; below, the threads' meetings (2L - 3 a sample, with the units they exchange) cost more than the
# split saves ([16, 64, 64, 1]: 0.69-0.88x). The rule gives two threads from 64 Ki parameters, between this host's
# break-even and the Zen 4 host's of 2026-12-05 (with the kernels of then: 26-51 k, and 85 k at 0.96x).
PARAMS_PER_THREAD = 32768


@functools.lru_cache(maxsize=1)
def _core_cpus() -> tuple:
    """One CPU of each physical core this process may run on (its SMT siblings share the core), or () where the
    platform does not say (not Linux)."""
    if not hasattr(os, "sched_getaffinity"):
        return ()
    cores = {}
    for cpu in sorted(os.sched_getaffinity(0)):
        try:
            core = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list").read_text().strip()
        except OSError:
            core = str(cpu)
        cores.setdefault(core, cpu)
    return tuple(sorted(cores.values()))


def physical_cores() -> int:
    """The physical cores this process may run on."""
    return len(_core_cpus()) or os.cpu_count() or 1


def threads_for(spec) -> int:
    """The threads ``fit(threads=None)`` gives the per-sample loop: one per ``PARAMS_PER_THREAD`` parameters, at
    least one, at most the physical cores. From the network and the machine only, never from timings."""
    return max(1, min(physical_cores(), spec.n_params // PARAMS_PER_THREAD))


def style_for(spec, opt=None) -> str:
    """``"scalar"`` (generated for the shape) or ``"loop"`` (the source kernels), from the network and the optimiser
    (an ``OptimizerState``; None is plain SGD) alone, never from what is in the cache."""
    plain = opt is None or opt.key == ("sgd", False)
    return "scalar" if plain and spec.n_params <= SCALAR_MAX_PARAMS else "loop"


def _generator_hash() -> str:
    h = hashlib.sha256()
    for mod in (_cache, _codegen, _finite, _numba_config, _vmath):     # what the generated text depends on
        h.update(Path(mod.__file__).read_bytes())
    h.update(numba.__version__.encode())
    return h.hexdigest()[:12]


def cache_dir():
    """The folder of generated kernel sources for this version of fastmlp, or None when compiled code is not
    cached on disk (``_cache.cache_root``)."""
    root = _cache.cache_root()
    if root is None:
        return None
    folder = root / f"kernels-{__version__}-{_generator_hash()}"
    try:
        return _cache.check_private_dir(folder)
    except _cache.Unusable as e:
        warnings.warn(f"fastmlp: {e}; kernels are built in memory (compiled anew in each process)", RuntimeWarning,
                      stacklevel=3)
        return None


def _write_once(path: Path, text: str):
    """Write ``text`` to ``path`` unless it holds exactly that: a rewrite would change the file's time stamp
    and make Numba throw its compiled cache away. Written to a temporary file and renamed, so a reader
    never sees half a file. The name is a hash of the text, so a file that holds anything else is damaged: it is
    moved aside (with a warning) and written anew."""
    data = text.encode()
    old = _cache.read_regular_file(path, len(data))
    if old == data:
        return
    if old is not None or os.path.lexists(path):
        _cache.quarantine([path], "a kernel source that does not match its name")
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def generated(spec, dtype, weighted=False):
    """The generated kernel module (scalar style, plain SGD) for ``spec``, ``dtype`` and sample weights or not:
    generated, written and imported on first use (built in memory, compiled anew in each process, when there is no
    cache folder)."""
    dtype_name = np.dtype(dtype).name
    key = (spec, dtype_name, weighted)
    module = _MODULES.get(key)
    if module is None:
        source = _codegen.generate(spec, dtype_name, header=f"fastmlp {__version__}", weighted=weighted)
        sizes = "-".join(map(str, spec.layer_sizes))
        what = f"{sizes}_{spec.activation}_{spec.loss}_{dtype_name}_sgd"
        name = f"k_{what}{'_weighted' if weighted else ''}_{hashlib.sha256(source.encode()).hexdigest()[:8]}"
        mod_name = f"fastmlp._kernels.{name}"
        # Compiled from the text itself, checked against the file, never from a .pyc (which nobody checks). The
        # file's name lets Numba find the source, and so its cache; without a cache folder there is no file.
        folder = cache_dir()
        filename = f"<fastmlp kernels {name}>"
        if folder is not None:
            filename = str(folder / f"{name}.py")
            _write_once(Path(filename), source)
        module = types.ModuleType(mod_name)
        module.__file__ = filename
        sys.modules[mod_name] = module
        exec(compile(source, filename, "exec"), module.__dict__)
        _MODULES[key] = module
    return module


class Workspace:
    """What one fit's kernels need besides the data: the loop style's layout and work buffers, the scalar style's
    kernels (which keep everything in locals), and, for ``threads > 1``, the threaded kernel's team and buffers;
    each made when first needed and then kept for the fit."""

    def __init__(self, spec, dtype, threads=1):
        self.spec, self.dtype, self.threads = spec, np.dtype(dtype), threads
        self.modules = {}
        self.no_weights = np.zeros(0, self.dtype)
        self._loop = self._threaded = None
        self._own_columns = {}

    def loop(self):
        """``(layout, a, d, g)`` for the loop style."""
        if self._loop is None:
            self._loop = (kernels.layout(self.spec),
                          *(aligned_zeros(n, self.dtype) for n in kernels.buffer_sizes(self.spec)))
        return self._loop

    def threaded(self):
        """``(team, sync, cuts, first_by_columns, a, d, zpart, own_units)`` for the threaded per-sample kernel: its
        ``a`` and ``d`` hold, after every layer's units, each thread's own a[L], z_L and delta[L], and its copy of x
        when the first layer splits by columns."""
        if self._threaded is None:
            spec, n = self.spec, self.threads
            K, L = spec.n_outputs, spec.n_layers
            by_columns = first_by_columns(spec, n)
            # each thread's own rows and regions padded to whole cache lines (16 elements: 64 bytes of float32),
            # so that no two threads write one line
            n_units = _lines(sum(spec.layer_sizes))
            region = _lines(2 * K) + (_lines(spec.layer_sizes[0]) if by_columns else 0)
            own_units = np.zeros((n, L + 2), np.uint64)
            own_units[:, L] = n_units + region * np.arange(n)
            own_units[:, L + 1] = own_units[:, L] + K
            own_units[:, 0] = own_units[:, L] + _lines(2 * K)
            self._threaded = (Team(n), _sync.new_barrier(), cuts(spec, n), by_columns,
                              aligned_zeros(n_units + region * n, self.dtype),
                              aligned_zeros(n_units + region * n, self.dtype),
                              aligned_zeros(n * n_units, self.dtype).reshape(n, n_units), own_units)
        return self._threaded

    def own_columns(self, opt):
        """``(w_own, m_own, v_own)``: each thread's copy of its columns of W[0] and of their state under ``opt``
        (empty when the first layer splits by rows, or the rule keeps no such state)."""
        key = (opt.m.shape[0] > 0, opt.v.shape[0] > 0)
        if key not in self._own_columns:
            cut, by_columns = self.threaded()[2:4]
            n, n_w = self.threads, _lines(self.spec.layer_sizes[0] * int(np.diff(cut[1]).max())) if by_columns else 0
            self._own_columns[key] = tuple(aligned_zeros(n * (n_w if keep else 0), self.dtype).reshape(n, -1)
                                           for keep in (True, *key))
        return self._own_columns[key]

    def module(self, weighted=False):
        """The generated kernels (scalar style; made on first use, then kept for the fit)."""
        if weighted not in self.modules:
            self.modules[weighted] = generated(self.spec, self.dtype, weighted)
        return self.modules[weighted]


LINE = 16    # elements: a 64-byte cache line of float32 (two lines of float64)


def _lines(n: int) -> int:
    """``n`` rounded up to whole ``LINE``s."""
    return -(-n // LINE) * LINE


def first_by_columns(spec, n_threads) -> bool:
    """Whether the threaded kernel splits the first layer by columns (``kernels.epoch_per_sample_threaded``): when
    every thread's columns of W[0] start on a cache line of their own (the parameters start on one, and a row of
    W[0] is whole lines long), so no two threads write one line."""
    n1 = spec.layer_sizes[1]
    return n_threads > 1 and n1 % LINE == 0 and n1 >= LINE * n_threads


def cuts(spec, n_threads) -> np.ndarray:
    """``cuts[l, t]:cuts[l, t + 1]``: thread t's units of layer l (and rows of W[l]), as even as can be; in
    whole ``LINE``s for layer 1 when the first layer splits by columns."""
    out = np.zeros((spec.n_layers + 1, n_threads + 1), np.uint64)
    by_columns = first_by_columns(spec, n_threads)
    for l, n in enumerate(spec.layer_sizes):
        step = LINE if l == 1 and by_columns else 1
        out[l] = [n * t // n_threads // step * step for t in range(n_threads)] + [n]
    return out


def _serve(inbox, outbox, cpu):
    """A team thread: run each kernel call it is given, hand back its result (or the exception), until None."""
    _pin(cpu)
    while True:
        job = inbox.get()
        if job is None:
            return
        kernel, args = job
        try:
            outbox.put(kernel(*args))
        except BaseException as e:                   # handed to the caller, who waits for every thread
            outbox.put(e)


class Team:
    """``n - 1`` threads kept for a fit, which with the caller's own run a threaded kernel: each call, every
    member runs the kernel at once with its own thread number (the caller is number 0). The threads block on a
    queue between calls (no spinning) and end when the team is garbage-collected."""

    def __init__(self, n):
        self.n = n
        self._inboxes = [queue.SimpleQueue() for _ in range(n - 1)]
        self._outbox = queue.SimpleQueue()
        self._cpus = _cpus(n)
        for k, inbox in enumerate(self._inboxes, 1):
            threading.Thread(target=_serve, args=(inbox, self._outbox, self._cpus[k]), name=f"fastmlp-kernel-{k}",
                             daemon=True).start()
        weakref.finalize(self, _stop, self._inboxes)

    def run(self, kernel, *args, interrupt=None):
        """``kernel(t, *args)`` on every member ``t``; returns member 0's result once all have returned. A Ctrl-C
        meanwhile waits for all of them (``interrupt.holding``): half a team at its barriers would wait for ever."""
        with interrupt.holding() if interrupt is not None else contextlib.nullcontext():
            for k, inbox in enumerate(self._inboxes, 1):
                inbox.put((kernel, (k, *args)))
            error, result = None, None
            mask = _pin(self._cpus[0])
            try:
                result = kernel(0, *args)
            except BaseException as e:
                error = e
            finally:
                _unpin(mask)
            for _ in self._inboxes:
                r = self._outbox.get()
                if isinstance(r, BaseException) and error is None:
                    error = r
        if error is not None:
            raise error
        return result


def _cpus(n):
    """A CPU for each of ``n`` team members, each on a physical core of its own while there are that many (None:
    no pinning)."""
    cpus = _core_cpus()
    return list(cpus[:n]) if len(cpus) >= n and hasattr(os, "sched_setaffinity") else [None] * n


def _pin(cpu):
    """Keep the calling thread on ``cpu``; returns the CPUs it could run on before. Left to itself, Linux wakes a
    team thread on the core of the thread that woke it, and two members spinning on one core wait for each other's
    time slices."""
    if cpu is None:
        return None
    mask = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    return mask


def _unpin(mask):
    if mask is not None:
        os.sched_setaffinity(0, mask)


def _stop(inboxes):
    for inbox in inboxes:
        inbox.put(None)


def _read_only(a: np.ndarray) -> np.ndarray:
    """``a`` as the kernels always see the data: a read-only view (``a`` itself when it is read-only already). Numba
    compiles a kernel per argument type, and a read-only array (a memory map opened ``"r"``, scikit-learn's
    read-only checks) is another type: without this, such data would compile every kernel a second time."""
    if not a.flags.writeable:
        return a
    view = a.view()
    view.flags.writeable = False
    return view


def prepare(spec, dtype, batch_size, threads=1):
    """The fit's workspace; the buffers of the kernels do not depend on ``batch_size``. ``threads``: how many
    threads the per-sample loop splits each sample's layers across (``threads_for``)."""
    return Workspace(spec, dtype, threads)


def train_epoch(spec, params, X, Y, order, lr, batch_size, workspace=None, opt=None,
                sample_weight=None, interrupt=None) -> EpochResult:
    """One epoch of SGD (or ``opt``'s rule) in place on ``params``, compiled; equals ``reference.train_epoch``.

    The whole ``order`` runs in one compiled call (one per thread of the workspace's team with ``threads > 1``
    and ``batch_size == 1``): a Ctrl-C waits for it (``fastmlp._guard`` hands this path short slices of the
    epoch), and only a non-finite loss is reported; a non-finite update is the guard's to find. Weighted epochs,
    of any batch size (1 included), run in the batch kernel, or with threads in the threaded one."""
    opt = opt if opt is not None else sgd_state(params.size, params.dtype)
    ws = workspace if workspace is not None else Workspace(spec, params.dtype)
    lr = params.dtype.type(lr)
    order = np.ascontiguousarray(order, dtype=np.int64)
    X, Y = _read_only(X), _read_only(Y)
    state = (opt.m, opt.v, opt.t, opt.hyper)
    if ws.threads > 1 and batch_size == 1:
        team, sync, cut, by_columns, a, d, zpart, own_units = ws.threaded()
        layout = ws.loop()[0]
        sw = ws.no_weights if sample_weight is None else sample_weight
        out = team.run(kernels.kernels_for(opt.name).per_sample_threaded, ws.threads, sync, cut, by_columns, params,
                       X, Y, order, lr, *layout[:5], layout.loss, a, d, zpart, own_units, *state,
                       opt.name == "nesterov", sw, *ws.own_columns(opt), interrupt=interrupt)
    elif style_for(spec, opt) == "loop":
        per_sample = batch_size == 1 and sample_weight is None
        run = kernels.kernels_for(opt.name)
        layout, a, d, g = ws.loop()
        shape = (*layout[:5], layout.loss)
        nesterov = opt.name == "nesterov"
        if per_sample:
            out = run.per_sample(params, X, Y, order, lr, *shape, a, d, *state, nesterov)
        else:
            sw = ws.no_weights if sample_weight is None else sample_weight
            out = run.batch(params, X, Y, order, lr, batch_size, *shape, a, d, g, *state, nesterov, sw)
    else:
        module = ws.module(sample_weight is not None)
        dummy = ws.no_weights                  # a, d and g: unused by the scalar style
        if batch_size == 1 and sample_weight is None:
            out = module.epoch_per_sample(params, X, Y, order, lr, dummy, dummy, *state)
        elif sample_weight is None:
            out = module.epoch_batch(params, X, Y, order, lr, batch_size, dummy, dummy, dummy, *state)
        else:
            out = module.epoch_batch(params, X, Y, order, lr, batch_size, dummy, dummy, dummy, *state,
                                     sample_weight)
    return EpochResult(float(out[0]), int(out[1]), int(out[2]), float(out[3]))

"""The Numba path: the whole epoch, per-sample loop included, in one compiled call.

It computes ``reference.train_epoch``. The kernels are generated per network shape and dtype by
``_codegen`` (sizes and offsets as literals, so LLVM unrolls and vectorises), written to a cache folder,
imported, and compiled by Numba and cached (``_numba_config.jit``). Their dispatchers are
made once per process, when the shape is first seen, and kept in ``_MODULES``.

Where the sources live: under fastmlp's cache folder (``_cache.cache_root``: ``$FASTMLP_CACHE_DIR``, or
``~/.cache/fastmlp``, or a private temporary folder), in a folder named after the package version and a hash of
the generator's and the Numba policy's own source, so an upgrade, or any change to how kernels are written,
starts a fresh folder: no stale kernel is ever loaded. Each file is named after the network, dtype and
optimiser it serves, plus a hash of its text. Numba's compiled code for them is kept by ``_cache``, keyed by each
source. Without any usable cache folder the kernels are built in memory.
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import types
import warnings
from pathlib import Path

import numba  # noqa: F401  (ImportError here makes the path unavailable)
import numpy as np

from ... import __version__
from ..._memory import aligned_zeros
from ...optim import sgd_state
from .. import EpochResult, _cache, _finite, _numba_config, _vmath
from . import _codegen

_MODULES = {}   # (spec, dtype name) -> imported kernel module


def _generator_hash() -> str:
    h = hashlib.sha256()
    for mod in (_cache, _codegen, _finite, _numba_config, _vmath):
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


def kernels(spec, dtype, update=("sgd", False), weighted=False):
    """The kernel module for ``spec``, ``dtype``, the optimiser ``update`` (name, weight decay on?) and
    sample weights or not: generated, written and imported on first use (built in memory, compiled anew in
    each process, when there is no cache folder)."""
    dtype_name = np.dtype(dtype).name
    key = (spec, dtype_name, update, weighted)
    module = _MODULES.get(key)
    if module is None:
        source = _codegen.generate(spec, dtype_name, header=f"fastmlp {__version__}", update=update,
                                   weighted=weighted)
        sizes = "-".join(map(str, spec.layer_sizes))
        what = f"{sizes}_{spec.activation}_{spec.loss}_{dtype_name}_{update[0]}{'_wd' if update[1] else ''}"
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
    """The kernel module and the work buffers of one fit (typed empty arrays where the style needs none)."""

    def __init__(self, spec, dtype):
        dtype = np.dtype(dtype)
        self.spec, self.dtype = spec, dtype
        self.modules = {}
        if _codegen.style_for(spec) == "loop":
            self.a, self.d, self.g = (aligned_zeros(n, dtype) for n in _codegen.buffer_sizes(spec))
        else:
            self.a = self.d = self.g = np.zeros(0, dtype)

    def module(self, opt, weighted=False):
        """The kernels for this optimiser (made on first use, then kept for the fit)."""
        key = (opt.key, weighted)
        if key not in self.modules:
            self.modules[key] = kernels(self.spec, self.dtype, opt.key, weighted)
        return self.modules[key]


def prepare(spec, dtype, batch_size):
    """The fit's workspace; the buffers of the kernels do not depend on ``batch_size``."""
    return Workspace(spec, dtype)


def train_epoch(spec, params, X, Y, order, lr, batch_size, workspace=None, opt=None,
                sample_weight=None, interrupt=None) -> EpochResult:
    """One epoch of SGD (or ``opt``'s rule) in place on ``params``, compiled; equals ``reference.train_epoch``.

    The whole ``order`` runs in one compiled call: ``interrupt`` is not looked at (``fastmlp._guard`` hands
    this path short slices of the epoch instead), and only a non-finite loss is reported; a non-finite
    update is the guard's to find."""
    opt = opt if opt is not None else sgd_state(params.size, params.dtype)
    ws = workspace if workspace is not None else Workspace(spec, params.dtype)
    module = ws.module(opt, sample_weight is not None)
    lr = params.dtype.type(lr)
    order = np.ascontiguousarray(order, dtype=np.int64)
    state = (opt.m, opt.v, opt.t, opt.hyper)
    if sample_weight is not None:     # weighted: the batch kernel, at any batch size (1 included)
        out = module.epoch_batch(params, X, Y, order, lr, batch_size, ws.a, ws.d, ws.g, *state, sample_weight)
    elif batch_size == 1:
        out = module.epoch_per_sample(params, X, Y, order, lr, ws.a, ws.d, *state)
    else:
        out = module.epoch_batch(params, X, Y, order, lr, batch_size, ws.a, ws.d, ws.g, *state)
    return EpochResult(float(out[0]), int(out[1]), int(out[2]), float(out[3]))

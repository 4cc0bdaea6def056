"""The Numba path: the whole epoch, per-sample loop included, in one compiled call.

It computes ``reference.train_epoch``, with kernels of one of two styles, chosen from the network alone
(``style_for``; never from what is in the cache, so a seed gives the same bits with a cold or a warm cache):

* ``loop``: the kernels of ``kernels.py``, ordinary source that takes the network's shape at run time; one
  compiled kernel pair per optimiser rule (and weight decay on or off) serves every shape, compiled once per
  install and then loaded from the cache.
* ``scalar``: for tiny networks (``SCALAR_MAX_PARAMS``), kernels generated for the exact shape by ``_codegen``,
  every parameter a local variable, which beat any loop there (the worked example's ``[2, 2, 1]``). They are
  written to a cache folder, imported, compiled by Numba and cached (``_numba_config.jit``); their dispatchers
  are made once per process, when the shape is first seen, and kept in ``_MODULES``.

Where generated sources live: under fastmlp's cache folder (``_cache.cache_root``: ``$FASTMLP_CACHE_DIR``, or
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
from . import _codegen, kernels

_MODULES = {}   # (spec, dtype name, update key, weighted) -> imported generated module (scalar style)

# At or below this many parameters, kernels generated for the shape (the scalar style); above, the source kernels
# (the loop style). Measured (docs/performance.md, "Compile once per install"): see there for the crossover.
SCALAR_MAX_PARAMS = 32


def style_for(spec) -> str:
    """``"scalar"`` (generated for the shape) or ``"loop"`` (the source kernels): from the network alone."""
    return "scalar" if spec.n_params <= SCALAR_MAX_PARAMS else "loop"


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


def generated(spec, dtype, update=("sgd", False), weighted=False):
    """The generated kernel module (scalar style) for ``spec``, ``dtype``, the optimiser ``update`` (rule, weight
    decay on?) and sample weights or not: generated, written and imported on first use (built in memory,
    compiled anew in each process, when there is no cache folder)."""
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
    """What one fit's kernels need besides the data: the style's kernels and work buffers."""

    def __init__(self, spec, dtype):
        dtype = np.dtype(dtype)
        self.spec, self.dtype = spec, dtype
        self.style = style_for(spec)
        self.modules = {}
        self.no_weights = np.zeros(0, dtype)
        if self.style == "loop":
            self.layout = kernels.layout(spec)
            self.a, self.d, self.g = (aligned_zeros(n, dtype) for n in kernels.buffer_sizes(spec))
        else:                                      # locals only: typed dummies, one signature
            self.a = self.d = self.g = np.zeros(0, dtype)

    def module(self, opt, weighted=False):
        """The generated kernels for this optimiser (scalar style; made on first use, then kept for the fit)."""
        key = (opt.key, weighted)
        if key not in self.modules:
            self.modules[key] = generated(self.spec, self.dtype, opt.key, weighted)
        return self.modules[key]


def prepare(spec, dtype, batch_size):
    """The fit's workspace; the buffers of the kernels do not depend on ``batch_size``."""
    return Workspace(spec, dtype)


def train_epoch(spec, params, X, Y, order, lr, batch_size, workspace=None, opt=None,
                sample_weight=None, interrupt=None) -> EpochResult:
    """One epoch of SGD (or ``opt``'s rule) in place on ``params``, compiled; equals ``reference.train_epoch``.

    The whole ``order`` runs in one compiled call: ``interrupt`` is not looked at (``fastmlp._guard`` hands
    this path short slices of the epoch instead), and only a non-finite loss is reported; a non-finite
    update is the guard's to find. Weighted epochs, of any batch size (1 included), run in the batch kernel."""
    opt = opt if opt is not None else sgd_state(params.size, params.dtype)
    ws = workspace if workspace is not None else Workspace(spec, params.dtype)
    lr = params.dtype.type(lr)
    order = np.ascontiguousarray(order, dtype=np.int64)
    state = (opt.m, opt.v, opt.t, opt.hyper)
    per_sample = batch_size == 1 and sample_weight is None
    if ws.style == "loop":
        epoch_per_sample, epoch_batch = kernels.kernels_for(opt.name, opt.weight_decay > 0)
        shape = (*ws.layout[:5], ws.layout.loss)
        if per_sample:
            out = epoch_per_sample(params, X, Y, order, lr, *shape, ws.a, ws.d, *state)
        else:
            sw = ws.no_weights if sample_weight is None else sample_weight
            out = epoch_batch(params, X, Y, order, lr, batch_size, *shape, ws.a, ws.d, ws.g, *state, sw)
    else:
        module = ws.module(opt, sample_weight is not None)
        if per_sample:
            out = module.epoch_per_sample(params, X, Y, order, lr, ws.a, ws.d, *state)
        elif sample_weight is None:
            out = module.epoch_batch(params, X, Y, order, lr, batch_size, ws.a, ws.d, ws.g, *state)
        else:
            out = module.epoch_batch(params, X, Y, order, lr, batch_size, ws.a, ws.d, ws.g, *state, sample_weight)
    return EpochResult(float(out[0]), int(out[1]), int(out[2]), float(out[3]))

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

_MODULES = {}   # (spec, dtype name, weighted) -> imported generated module (scalar style)

# The scalar style where it pays and compiles quickly: plain SGD (the worked example's update) on networks of at
# most this many parameters. It trains 1.6-3.7x faster than the loop style there (up to 49 parameters, where
# measurement stopped), so speed does not set the threshold; compile time does: a scalar kernel is compiled for
# each new shape, 0.3-0.45 s for plain SGD up to 13 parameters, 0.45-0.9 s from 16 to 31, and 0.6-1.6 s with
# momentum or Adam at any size (docs/performance.md, "First fit of a new shape"). Above it, and for every other
# optimiser, the loop style: nothing to compile for a new shape.
SCALAR_MAX_PARAMS = 13


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
    """What one fit's kernels need besides the data: the loop style's layout and work buffers, and the scalar
    style's kernels (which keep everything in locals), each made when first needed and then kept for the fit."""

    def __init__(self, spec, dtype):
        self.spec, self.dtype = spec, np.dtype(dtype)
        self.modules = {}
        self.no_weights = np.zeros(0, self.dtype)
        self._loop = None

    def loop(self):
        """``(layout, a, d, g)`` for the loop style."""
        if self._loop is None:
            self._loop = (kernels.layout(self.spec),
                          *(aligned_zeros(n, self.dtype) for n in kernels.buffer_sizes(self.spec)))
        return self._loop

    def module(self, weighted=False):
        """The generated kernels (scalar style; made on first use, then kept for the fit)."""
        if weighted not in self.modules:
            self.modules[weighted] = generated(self.spec, self.dtype, weighted)
        return self.modules[weighted]


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
    if style_for(spec, opt) == "loop":
        epoch_per_sample, epoch_batch = kernels.kernels_for(opt.name)
        layout, a, d, g = ws.loop()
        shape = (*layout[:5], layout.loss)
        nesterov = opt.name == "nesterov"
        if per_sample:
            out = epoch_per_sample(params, X, Y, order, lr, *shape, a, d, *state, nesterov)
        else:
            sw = ws.no_weights if sample_weight is None else sample_weight
            out = epoch_batch(params, X, Y, order, lr, batch_size, *shape, a, d, g, *state, nesterov, sw)
    else:
        module = ws.module(sample_weight is not None)
        dummy = ws.no_weights                  # a, d and g: unused by the scalar style
        if per_sample:
            out = module.epoch_per_sample(params, X, Y, order, lr, dummy, dummy, *state)
        elif sample_weight is None:
            out = module.epoch_batch(params, X, Y, order, lr, batch_size, dummy, dummy, dummy, *state)
        else:
            out = module.epoch_batch(params, X, Y, order, lr, batch_size, dummy, dummy, dummy, *state,
                                     sample_weight)
    return EpochResult(float(out[0]), int(out[1]), int(out[2]), float(out[3]))

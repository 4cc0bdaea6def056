"""Numba policy, in one place: every kernel of fastmlp is compiled with these options, through :func:`jit`.

* Caching: compiled code is kept on disk, so a second process starts without compiling, in fastmlp's own cache
  folder (``_cache``: never beside the installed source, never in a folder others can write; see
  ``backends/numba`` for where generated sources live and how upgrades invalidate them).
* ``fastmath``: a subset of LLVM's fast-math flags. ``reassoc`` lets LLVM vectorise the dot-product
  reductions of the backward pass, ``contract`` fuses multiply-adds; together they move results by about
  1e-15 relative per epoch, well inside the contract's bounds (1e-12 after one epoch), which the equivalence
  suite checks. ``nnan`` and ``ninf`` are left out on purpose: with them LLVM may fold ``isfinite(loss)`` to
  true and divergence would go unnoticed. ``afn`` (approximate exp/log/tanh) is left out too.
* ``error_model="numpy"``: a division by zero gives inf/nan like numpy instead of raising, so no branch per
  division; ``boundscheck=False``: the Python layer guarantees shapes.
"""
from ._cache import jit as cached_jit

FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

JIT_OPTIONS = dict(nogil=True, fastmath=FASTMATH, error_model="numpy", boundscheck=False)


def jit(function=None, *, inline=False):
    """``function`` compiled with ``JIT_OPTIONS`` (``numba.njit``), cached by fastmlp (``_cache.jit``).

    ``@jit(inline=True)``: a helper inlined into its callers in Numba's own IR (``inline="always"``), so the loops of
    a kernel and of the helpers it calls are optimised as one function, with the kernel's compile-time constants
    (``kernels.py``: the update rule) folded into them; it is compiled, and cached, only as part of its callers."""
    if function is None:
        return lambda f: jit(f, inline=inline)
    if inline:
        return cached_jit(**JIT_OPTIONS, inline="always")(function)
    return cached_jit(**JIT_OPTIONS)(function)

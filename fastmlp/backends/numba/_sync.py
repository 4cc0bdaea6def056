"""What the threaded per-sample kernel (``kernels.epoch_per_sample_threaded``) synchronises with: atomic loads,
stores and adds on an int64 array, and a barrier built from them.

A plain spin-loop on an array element does not work: LLVM hoists the load out of the loop and the waiting thread
never sees the others arrive. The loads and stores here are LLVM atomics (``load atomic ... acquire``, ``store
atomic ... release``, ``atomicrmw add ... acq_rel``), which LLVM may neither hoist nor reorder the kernel's ordinary
loads and stores across: what a thread wrote before a barrier is what the others read after it.

The barrier is the textbook sense-counting one: a thread reads the generation, adds itself to the count; the last
to arrive resets the count and advances the generation, the others wait for that. Waiting spins (with the CPU's
``pause`` hint on x86), then yields the core (``sched_yield``), then sleeps in 50 us steps, so threads of an
oversubscribed machine, or of two fits at once, do not starve the threads they wait for.
"""
from __future__ import annotations

import platform

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core import config as numba_config
from numba.extending import intrinsic

from ..._memory import aligned_zeros
from .._numba_config import jit

COUNT, GENERATION = 8, 16     # the barrier's two int64s, each on a cache line of its own (``new_barrier``)
SPINS = 4000                  # polls before yielding the core (~5-20 us)
YIELDS = 200                  # yields before sleeping
SLEEP_US = 50

_X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")


def _python_fallbacks():
    """With ``NUMBA_DISABLE_JIT=1`` the kernels run as Python, and these as Python too (one thread at a time holds
    the interpreter, so a plain read or write is atomic)."""
    import time

    def load(arr, index):
        return arr[index]

    def store(arr, index, value):
        arr[index] = value

    def add(arr, index, value):
        old = arr[index]
        arr[index] = old + value
        return old

    def nothing():
        pass

    def sleep(us):
        time.sleep(us * 1e-6)

    return load, store, add, nothing, lambda: time.sleep(0), sleep


def _int64_vector(arr) -> bool:
    return isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1


def _pointer(context, builder, sig, args):
    arr_ty = sig.args[0]
    arr = context.make_array(arr_ty)(context, builder, args[0])
    return cgutils.get_item_pointer(context, builder, arr_ty, arr, [args[1]])


@intrinsic
def _atomic_load(typingctx, arr, index):
    """``arr[index]`` read with acquire ordering (``arr``: a 1-D int64 array)."""
    if not _int64_vector(arr):
        return None

    def codegen(context, builder, sig, args):
        return builder.load_atomic(_pointer(context, builder, sig, args), "acquire", 8)
    return types.int64(arr, index), codegen


def _writer(op):
    """An intrinsic ``(arr, index, value)`` on a 1-D int64 array: ``"store"``, ``arr[index] = value`` with release
    ordering; ``"add"``, ``arr[index] += value`` as one atomic step (acquire and release), returning the value
    before."""
    @intrinsic
    def write(typingctx, arr, index, value):
        if not _int64_vector(arr):
            return None

        def codegen(context, builder, sig, args):
            v = context.cast(builder, args[2], sig.args[2], types.int64)
            ptr = _pointer(context, builder, sig, args)
            if op == "store":
                builder.store_atomic(v, ptr, "release", 8)
                return context.get_dummy_value()
            return builder.atomic_rmw("add", ptr, v, "acq_rel")
        return (types.none if op == "store" else types.int64)(arr, index, value), codegen
    return write


_atomic_store, _atomic_add = _writer("store"), _writer("add")


@intrinsic
def _cpu_relax(typingctx):
    """The CPU's spin-wait hint (x86 ``pause``; nothing elsewhere)."""
    def codegen(context, builder, sig, args):
        if _X86:
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                 "llvm.x86.sse2.pause")
            builder.call(fn, [])
        return context.get_dummy_value()
    return types.none(), codegen


@intrinsic
def _yield_core(typingctx):
    """``sched_yield()``: give the core to another thread that is ready to run."""
    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
        builder.call(fn, [])
        return context.get_dummy_value()
    return types.none(), codegen


@intrinsic
def _sleep_us(typingctx, us):
    """``usleep(us)``."""
    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), [ir.IntType(32)]),
                                             "usleep")
        builder.call(fn, [builder.trunc(context.cast(builder, args[0], sig.args[0], types.int64), ir.IntType(32))])
        return context.get_dummy_value()
    return types.none(us), codegen


def new_barrier():
    """A barrier's state: 32 int64s on 64-byte boundaries, its two counters on lines of their own (a line shared
    with anything the threads read would be pulled from core to core at every barrier)."""
    return aligned_zeros(32, np.int64)


if numba_config.DISABLE_JIT:
    atomic_load, atomic_store, atomic_add, cpu_relax, yield_core, sleep_us = _python_fallbacks()
else:
    atomic_load, atomic_store, atomic_add = _atomic_load, _atomic_store, _atomic_add
    cpu_relax, yield_core, sleep_us = _cpu_relax, _yield_core, _sleep_us


@jit(inline=True)
def barrier(sync, n_threads):
    """Wait until all ``n_threads`` threads have called this on ``sync`` (``new_barrier()``)."""
    generation = atomic_load(sync, GENERATION)
    if atomic_add(sync, COUNT, 1) == n_threads - 1:
        atomic_store(sync, COUNT, 0)                    # reset before the others are released
        atomic_store(sync, GENERATION, generation + 1)
        return
    polls = 0
    while atomic_load(sync, GENERATION) == generation:
        polls += 1
        if polls < SPINS:
            cpu_relax()
        elif polls < SPINS + YIELDS:
            yield_core()
        else:
            sleep_us(SLEEP_US)

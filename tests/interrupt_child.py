"""A training process for ``test_interrupt.py`` to interrupt: ``python interrupt_child.py BACKEND BATCH OPTIMIZER
SOURCE ROWS`` (BACKEND ``numba:2``: the per-sample loop on two threads), SOURCE one of ``memory``, ``memmap`` (chunks
read out of core) or ``folder``, ROWS the rows of the data (an epoch).

It prints ``training`` when a long fit starts, and, after the parent's SIGINT, one JSON line: when the
``KeyboardInterrupt`` arrived (``time.monotonic``, a clock shared by every process of the machine), whether the
parameters and optimiser state are exactly those of a run of the same number of complete batches (the
optimiser's step count), and whether the next fit trains normally.
"""
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import fastmlp


def main():
    # Python's own Ctrl-C handler, whatever this process inherited: started from a background job of a shell,
    # a process inherits SIGINT ignored, and then no Ctrl-C would ever arrive to be tested.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    backend, optimizer, source = sys.argv[1], sys.argv[3], sys.argv[4]
    batch_size, n = int(sys.argv[2]), int(sys.argv[5])
    backend, _, threads = backend.partition(":")          # "numba:2": the per-sample loop on two threads
    sizes = [4, 16, 1] if backend == "reference" else [4, 64, 64, 1]
    X, y = fastmlp.datasets.teacher(n, sizes, seed=0, dtype="float64")
    kw = dict(lr=1e-3, batch_size=batch_size, shuffle=False, backend=backend, optimizer=optimizer,
              threads=int(threads) if threads else None)

    def new_model():
        return fastmlp.MLP(sizes, activation="tanh", seed=0)

    new_model().fit(X[:256], y[:256], **kw)                   # compile before the timed fit
    data, chunks = (X, y), {}
    if source == "memmap":
        folder = Path(tempfile.mkdtemp())
        np.save(folder / "X.npy", X)
        np.save(folder / "y.npy", y)
        data = (np.load(folder / "X.npy", mmap_mode="r"), np.load(folder / "y.npy", mmap_mode="r"))
        chunks = dict(chunk_rows=1 << 16)
    elif source == "folder":
        folder = Path(tempfile.mkdtemp()) / "data"
        fastmlp.datasets.write(folder, n, sizes, seed=0, dtype="float64")
        data, chunks = (str(folder), None), dict(chunk_rows=1 << 16)
    net = new_model()
    print("training", flush=True)
    try:
        net.fit(*data, epochs=1000, **chunks, **kw)
    except KeyboardInterrupt:
        caught = time.monotonic()
    else:
        print(json.dumps({"error": "the fit ended without an interrupt"}), flush=True)
        return
    updates = int(net.optimizer_state.t[0])
    # the same number of complete batches, uninterrupted: epochs in visiting order 0, 1, ..., n-1
    replay = new_model()
    full_epochs, rest = divmod(updates * batch_size, n)
    Xr, yr = (X, y) if source != "folder" else fastmlp.datasets.teacher(n, sizes, seed=0, dtype="float64")
    if full_epochs:
        replay.fit(Xr, yr, epochs=full_epochs, **kw)
    if rest:
        replay.fit(Xr[:rest], yr[:rest], epochs=1, **kw)
    if replay.optimizer_state is None:       # the interrupt came before the first batch: nothing was trained
        replay.optimizer_state = net.optimizer_state.__class__(optimizer, replay.spec.n_params, replay.dtype)
    same = bool(np.array_equal(net.params, replay.params)
                and np.array_equal(net.optimizer_state.m, replay.optimizer_state.m)
                and np.array_equal(net.optimizer_state.v, replay.optimizer_state.v))
    finite = bool(np.isfinite(net.params).all())
    history = net.fit(X[:512], y[:512], epochs=1, **kw)
    print(json.dumps({"caught": caught, "updates": updates, "same_as_replay": same, "finite": finite,
                      "next_fit_loss": history.loss[0]}), flush=True)


if __name__ == "__main__":
    main()

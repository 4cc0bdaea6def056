"""Training data that need not fit in memory: data-set folders, memory-mapped arrays, iterables of chunks.

``MLP.fit`` hands every kind of data to a *source*, which yields the epoch's chunks as in-memory arrays:

* :class:`ArraySource` — arrays in memory: one chunk, the whole array (the contract's in-memory epoch);
* :class:`ArraySource` with ``chunk_rows`` — memory-mapped ``.npy`` arrays, read a chunk at a time;
* :class:`FolderSource` — a folder written by ``fastmlp.datasets.write`` (``manifest.json``, ``X.npy``,
  ``y.npy``), read with plain file reads into one reused buffer, so resident memory does not grow with rows;
* :class:`SparseSource` — a SciPy sparse ``X``, densified a chunk of rows at a time;
* :class:`IterableSource` — an iterable of ``(X, y)`` chunks (iterated once per epoch).

Out-of-core shuffling (the contract's rule for chunked data): each epoch, with the fit's ``rng``, first
``rng.permutation(n_chunks)`` gives the chunk order (chunks of an iterable keep their own order), then, for
each chunk as it is visited, ``rng.permutation(chunk_len)`` its row order. Batches are consecutive slices of a
chunk's order and do not span chunks. Every path gets the same chunks and orders.

Each chunk is checked as it is read (width, dtype, finiteness, labels); a bad one raises an error naming the
file and the row range, before training on it, so the parameters are those after the last good chunk.
"""
from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np

from ._validation import check_real_array, check_sparse_X, check_X, check_Y, is_sparse, sparse_chunk_rows
from .folder import NpyFile, drop_pages, member_path, read_manifest

DEFAULT_CHUNK_ROWS = 1 << 20


class Chunk:
    """Checked arrays of one chunk: ``X`` (m, n0), ``Y`` (m, nL), the row of ``X[0]`` in the whole data."""

    __slots__ = ("X", "Y", "first_row", "where")

    def __init__(self, X, Y, first_row, where):
        self.X, self.Y, self.first_row, self.where = X, Y, first_row, where


class _ChunkedSource:
    """Rows ``lo..hi-1`` of chunk ``k`` come from ``_rows``; checking them and the epoch's order are shared."""

    X_name, y_name = "X", "y"

    def chunk(self, k):
        return self.rows(k * self.chunk_rows, min(self.n_rows, (k + 1) * self.chunk_rows))

    def rows(self, lo, hi) -> Chunk:
        """Rows ``lo..hi-1``, read and checked (a bad value named by file and rows)."""
        where = f"rows {lo}..{hi - 1}"
        Xs, ys = self._rows(lo, hi)
        X = check_X(Xs, self.spec, self.dtype, name=f"{self.X_name} ({where})")
        Y = check_Y(ys, self.spec, self.dtype, hi - lo, name=f"{self.y_name} ({where})")
        return Chunk(X, Y, lo, where)

    def epoch(self, rng, shuffle):
        yield from _shuffled_chunks(self, rng, shuffle)


class ArraySource(_ChunkedSource):
    """Arrays (in memory, or memory-mapped when ``chunk_rows`` is given)."""

    def __init__(self, X, y, spec, dtype, chunk_rows=None):
        self.spec, self.dtype = spec, dtype
        if chunk_rows is None:
            self.X = check_X(X, spec, dtype)
            self.Y = check_Y(y, spec, dtype, self.X.shape[0])
            self.n_rows, self.chunk_rows = self.X.shape[0], self.X.shape[0]
            self.checked = True           # one chunk, checked here once
        else:
            self.checked = False          # read, and checked, a chunk at a time
            if not isinstance(X, np.ndarray):       # lists and other array-likes: in memory, read in chunks
                X = check_real_array("X", X)
            if not isinstance(y, np.ndarray):
                y = check_real_array("y", y, allow_bool=spec.loss != "mse")
            _check_shapes(X.shape, y.shape, spec, "X", "y")
            self.X, self.Y = X, y
            self.n_rows, self.chunk_rows = X.shape[0], chunk_rows
        self.n_chunks = -(-self.n_rows // self.chunk_rows)
        self.reiterable = True

    def chunk(self, k):
        if self.checked:
            return Chunk(self.X, self.Y, 0, "X")       # in memory: checked once, in __init__
        return super().chunk(k)

    def _rows(self, lo, hi):
        Xs, ys = self.X[lo:hi], self.Y[lo:hi]
        if isinstance(self.X, np.memmap) or isinstance(self.Y, np.memmap):
            # copy out of the map, then let its pages go: resident memory stays one chunk, not the file
            Xs, ys = np.array(Xs), np.array(ys)
            drop_pages(self.X, self.Y)
        return Xs, ys


class SparseSource(_ChunkedSource):
    """A SciPy sparse ``X`` (CSR or CSC, matrix or array) with ``y`` in memory: rows densified a chunk at a time
    (``_validation.sparse_chunk_rows``: about 64 MiB of dense rows), so memory holds one dense chunk, never the
    whole matrix densified. Data of one chunk is the in-memory rule's epoch; more follow the chunked rule."""

    def __init__(self, X, y, spec, dtype, chunk_rows=None):
        self.spec, self.dtype = spec, dtype
        self.X = check_sparse_X(X, spec, dtype)
        self.Y = check_Y(y, spec, dtype, self.X.shape[0])
        self.n_rows = self.X.shape[0]
        self.chunk_rows = min(self.n_rows, chunk_rows or sparse_chunk_rows(self.X.shape[1], dtype))
        self.n_chunks = -(-self.n_rows // self.chunk_rows)
        self.reiterable = True

    def _rows(self, lo, hi):
        return np.ascontiguousarray(self.X[lo:hi].toarray()), self.Y[lo:hi]


class FolderSource(_ChunkedSource):
    """A data-set folder written by ``fastmlp.datasets.write``, read a chunk at a time from its ``.npy`` files."""

    def __init__(self, path, spec, dtype, chunk_rows=None):
        self.spec, self.dtype = spec, dtype
        self.folder = Path(path)
        self.manifest = read_manifest(self.folder)
        self.X_file = NpyFile(member_path(self.folder, "X.file", self.manifest["X"]["file"]))
        self.y_file = NpyFile(member_path(self.folder, "y.file", self.manifest["y"]["file"]))
        rows = self.manifest["rows"]
        for f, key in ((self.X_file, "X"), (self.y_file, "y")):
            if f.shape[0] != rows:
                raise ValueError(f"{f.path}: {f.shape[0]} rows, but manifest.json says {rows}")
            if list(f.shape) != self.manifest[key]["shape"] or f.dtype.name != self.manifest[key]["dtype"]:
                raise ValueError(f"{f.path}: shape {f.shape} dtype {f.dtype}, but manifest.json says "
                                 f"{self.manifest[key]['shape']} {self.manifest[key]['dtype']}")
        _check_shapes(self.X_file.shape, self.y_file.shape, spec, str(self.X_file.path), str(self.y_file.path))
        self.n_rows = rows
        self.chunk_rows = min(rows, chunk_rows or DEFAULT_CHUNK_ROWS)
        self.n_chunks = -(-rows // self.chunk_rows)
        self.reiterable = True
        # buffers read into, reused for every chunk
        self._X = np.empty((self.chunk_rows,) + self.X_file.shape[1:], self.X_file.dtype)
        self._y = np.empty((self.chunk_rows,) + self.y_file.shape[1:], self.y_file.dtype)
        self.X_name, self.y_name = str(self.X_file.path), str(self.y_file.path)

    def _rows(self, lo, hi):
        return self.X_file.read(lo, hi, self._X[:hi - lo]), self.y_file.read(lo, hi, self._y[:hi - lo])


class IterableSource:
    """An iterable of ``(X, y)`` chunks; iterated once per epoch, in its own order."""

    def __init__(self, chunks, spec, dtype):
        self.spec, self.dtype = spec, dtype
        self.reiterable = iter(chunks) is not chunks
        # an empty iterable (or an iterator already used up) is an error before anything changes
        first = next(iter(chunks), _END)
        if first is _END:
            raise ValueError("X: the iterable of (X, y) chunks is empty (an iterator already used up?); give at "
                             "least one chunk")
        self.chunks = chunks if self.reiterable else itertools.chain([first], chunks)
        self.n_rows = self.chunk_rows = None          # unknown until read

    def epoch(self, rng, shuffle):
        first_row = 0
        for k, item in enumerate(self.chunks):
            if not (isinstance(item, tuple) and len(item) == 2):
                raise TypeError(f"chunk {k} of the iterable must be an (X, y) pair, got {type(item).__name__}")
            X, y = item
            where = f"chunk {k}"
            Xc = check_X(X, self.spec, self.dtype, name=f"X of chunk {k} (rows {first_row}..)")
            Yc = check_Y(y, self.spec, self.dtype, Xc.shape[0], name=f"y of chunk {k} (rows {first_row}..)")
            chunk = Chunk(Xc, Yc, first_row, where)
            first_row += Xc.shape[0]
            n = Xc.shape[0]
            yield chunk, epoch_order(rng, n, shuffle)
        if first_row == 0:
            raise ValueError("X: the iterable of (X, y) chunks gave no rows this epoch (a one-shot iterator can "
                             "serve one epoch only)")


_END = object()


_IN_ORDER = np.arange(0, dtype=np.int64)


def in_order(n: int) -> np.ndarray:
    """``0 .. n-1``, the order of an epoch without a shuffle: up to a chunk's rows, a view of one array kept for
    the process (8 MiB at most), so that such an epoch does not write a new order every time (35 us for 10^5
    rows: 4 % of W1's epoch). Nothing writes to an order; the kernels take it writable (a read-only array would
    be another compiled signature)."""
    global _IN_ORDER
    if n > DEFAULT_CHUNK_ROWS:
        return np.arange(n, dtype=np.int64)
    kept = _IN_ORDER
    if n > kept.shape[0]:
        kept = _IN_ORDER = np.arange(max(n, min(2 * kept.shape[0], DEFAULT_CHUNK_ROWS)), dtype=np.int64)
    return kept[:n]


def epoch_order(rng, n: int, shuffle: bool) -> np.ndarray:
    """The order of a chunk's ``n`` rows: ``rng.permutation(n)``, or ``0 .. n-1`` without a shuffle."""
    return rng.permutation(n) if shuffle else in_order(n)


def _shuffled_chunks(source, rng, shuffle):
    if source.n_chunks == 1:             # one chunk: the in-memory rule, one permutation of all rows
        chunk = source.chunk(0)
        n = chunk.X.shape[0]
        yield chunk, epoch_order(rng, n, shuffle)
        return
    chunk_order = rng.permutation(source.n_chunks) if shuffle else range(source.n_chunks)
    for k in chunk_order:
        chunk = source.chunk(int(k))
        n = chunk.X.shape[0]
        yield chunk, epoch_order(rng, n, shuffle)


def _check_shapes(X_shape, y_shape, spec, X_name, y_name):
    if len(X_shape) != 2 or X_shape[1] != spec.n_inputs:
        raise ValueError(f"{X_name} must have shape (n_samples, {spec.n_inputs}), got shape {tuple(X_shape)}")
    if len(y_shape) == 0 or y_shape[0] != X_shape[0]:
        raise ValueError(f"{y_name} must have one entry per row of X ({X_shape[0]}), got shape {tuple(y_shape)}")
    if len(y_shape) == 2 and y_shape[1] != spec.n_outputs:
        raise ValueError(f"{y_name} must have {spec.n_outputs} columns (layer_sizes[-1]), got shape "
                         f"{tuple(y_shape)}")
    if len(y_shape) > 2:
        raise ValueError(f"{y_name} must be 1-D or 2-D, got shape {tuple(y_shape)}")


def make_source(X, y, spec, dtype, chunk_rows=None):
    """The source for what ``fit`` was given."""
    if isinstance(X, (str, os.PathLike)):
        if y is not None:
            raise TypeError("y must be None when X is a data-set folder (the folder holds y.npy)")
        return FolderSource(X, spec, dtype, chunk_rows)
    if is_sparse(X):
        if y is None:
            raise TypeError("y is required with a sparse X")
        return SparseSource(X, y, spec, dtype, chunk_rows)
    if isinstance(X, np.memmap) or chunk_rows is not None:
        if y is None:
            raise TypeError("y is required with array X")
        return ArraySource(X, y, spec, dtype, chunk_rows or DEFAULT_CHUNK_ROWS)
    if y is None and not isinstance(X, np.ndarray) and hasattr(X, "__iter__"):
        return IterableSource(X, spec, dtype)
    if y is None:
        raise TypeError("y is required with array X (only a data-set folder or an iterable of (X, y) "
                        "chunks comes without y)")
    return ArraySource(X, y, spec, dtype)

"""The data-set folder: its format, its writer and its reader, in one module.

A data-set folder holds ``X.npy`` (n, n0), ``y.npy`` ((n,) or (n, nL)) and ``manifest.json``, which says what
they are (:func:`check_manifest` is its schema). :func:`write` makes one with bounded memory, whatever its size;
``fastmlp.datasets.write`` fills it with a teacher's rows, ``fastmlp.streaming.FolderSource`` trains from it a
chunk at a time through :class:`NpyFile`, and ``fastmlp data`` on the command line does both.

Nothing here trusts the folder: the manifest is read with a size limit and checked key by key, the files it
names must lie in the folder, and each ``.npy`` header is checked before a row is read.
"""
from __future__ import annotations

import json
import mmap
import os
import tempfile
from pathlib import Path

import numpy as np

from ._files import open_regular, read_small_file
from ._params import short

FORMAT = "fastmlp-dataset"
FORMAT_VERSION = 1
MANIFEST_MAX_BYTES = 1 << 20        # a manifest is a few hundred bytes
_DATA_DTYPES = ("float32", "float64", "int64", "int32")
_PARAMS = {"layer_sizes": "sizes", "activation": "text", "task": "text", "noise": "real"}
_MISSING = object()


# --- writing ---------------------------------------------------------------------------------------------------

def write(path, manifest, fill) -> dict:
    """Make the data-set folder ``path`` described by ``manifest`` (its ``X`` and ``y`` entries give the files'
    shapes and dtypes), the rows written by ``fill(X_out, y_out)`` into the two ``.npy`` files opened for writing
    in place (memory maps), so memory stays bounded whatever the size.

    New files go under temporary names (never written through an existing ``X.npy``, which may be a link) and
    are renamed into place once whole, the manifest last: until then an old data set there is untouched, and a
    folder without a manifest is not a data set. Returns ``manifest``.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder}: exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / "manifest.json"
    rows = manifest["rows"]
    X_shape, y_shape = tuple(manifest["X"]["shape"]), tuple(manifest["y"]["shape"])
    X_dtype, y_dtype = np.dtype(manifest["X"]["dtype"]), np.dtype(manifest["y"]["dtype"])
    tmp = {}
    umask = os.umask(0)
    os.umask(umask)
    for name in ("X", "y", "manifest"):
        fd, tmp[name] = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~umask)             # as a plain open() would make them: readable by others
        os.close(fd)
    try:
        try:
            X_out = np.lib.format.open_memmap(tmp["X"], mode="w+", dtype=X_dtype, shape=X_shape)
            y_out = np.lib.format.open_memmap(tmp["y"], mode="w+", dtype=y_dtype, shape=y_shape)
        except (OSError, ValueError) as e:
            size = rows * (int(np.prod(X_shape[1:])) * X_dtype.itemsize + int(np.prod(y_shape[1:])) * y_dtype.itemsize)
            raise OSError(getattr(e, "errno", None), f"{folder}: cannot make files of {rows:,} rows "
                          f"({size:,} bytes) there ({e})") from None
        fill(X_out, y_out)
        X_out.flush()
        y_out.flush()
        del X_out, y_out
        Path(tmp["manifest"]).write_text(json.dumps(manifest, indent=1))
        # the swap: the old manifest goes first, so that no moment shows a manifest beside files it does not
        # describe; the new one comes last (a folder without one is not a data set)
        manifest_path.unlink(missing_ok=True)
        os.replace(tmp["X"], folder / manifest["X"]["file"])
        os.replace(tmp["y"], folder / manifest["y"]["file"])
        os.replace(tmp["manifest"], manifest_path)
    finally:
        for name in tmp.values():
            if os.path.exists(name):
                os.unlink(name)
    return manifest


def drop_pages(*arrays):
    """Ask the kernel to drop written pages of memory-mapped arrays from this process (Linux; a no-op elsewhere),
    so that resident memory stays bounded while a large file is written or read through a map."""
    for a in arrays:
        m = getattr(a, "_mmap", None)
        if m is not None and hasattr(m, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
            try:
                m.madvise(mmap.MADV_DONTNEED)
            except (OSError, ValueError):
                pass


# --- reading ---------------------------------------------------------------------------------------------------

def read_manifest(folder) -> dict:
    """The manifest of a data-set folder, checked against :func:`check_manifest`'s schema."""
    folder = Path(folder)
    path = folder / "manifest.json"
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such data-set folder")
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; a data-set folder is made by fastmlp.datasets.write "
                                "(or `fastmlp data make`)")
    text = read_small_file(path, MANIFEST_MAX_BYTES, what="a manifest")
    try:
        manifest = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({type(e).__name__} at position {getattr(e, 'pos', '?')})") \
            from None
    except RecursionError:
        raise ValueError(f"{path}: not a fastmlp manifest (nested too deeply)") from None
    return check_manifest(manifest, folder)


def check_manifest(manifest, folder) -> dict:
    """The manifest schema (``write`` writes it; ``streaming.FolderSource`` and the CLI read it).

    Required: ``format`` (``"fastmlp-dataset"``), ``format_version`` (1), ``rows`` (int >= 1), and ``X`` and
    ``y``, each ``{"file": a file name in the folder, "shape": [rows, ...], "dtype": one of _DATA_DTYPES}``.
    Optional, as ``datasets.write`` writes them: ``generator``, ``seed``, ``dtype``, ``block_rows`` and
    ``params`` (``layer_sizes``, ``activation``, ``task``, ``noise``). Every error names the folder, the key,
    the value and what was expected."""
    def fail(key, value, expected):
        shown = "missing" if value is _MISSING else f"{short(value)}"
        raise ValueError(f"{folder}: manifest.json: {key!r} is {shown}; expected {expected}")

    def integer(value, key, minimum):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            fail(key, value, f"an integer >= {minimum}")
        return value

    if not isinstance(manifest, dict):
        fail("(the whole file)", manifest, "a JSON object")
    if manifest.get("format", _MISSING) != FORMAT:
        fail("format", manifest.get("format", _MISSING), f"{FORMAT!r} (not a fastmlp data-set manifest)")
    version = manifest.get("format_version", _MISSING)
    if isinstance(version, bool) or version != FORMAT_VERSION:
        fail("format_version", version, f"{FORMAT_VERSION}, the version this fastmlp reads")
    rows = integer(manifest.get("rows", _MISSING), "rows", 1)
    for name in ("X", "y"):
        entry = manifest.get(name, _MISSING)
        if not isinstance(entry, dict):
            fail(name, entry, '{"file": ..., "shape": [...], "dtype": ...}')
        file = entry.get("file", _MISSING)
        if not isinstance(file, str):
            fail(f"{name}.file", file, "the name of a file in the folder")
        shape = entry.get("shape", _MISSING)
        ndims = (2,) if name == "X" else (1, 2)
        if not (isinstance(shape, list) and len(shape) in ndims and all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape) and shape[0] == rows):
            fail(f"{name}.shape", shape, f"a list of {' or '.join(map(str, ndims))} integers >= 1 starting with "
                                         f"rows ({rows})")
        if entry.get("dtype", _MISSING) not in _DATA_DTYPES:
            fail(f"{name}.dtype", entry.get("dtype", _MISSING), f"one of {_DATA_DTYPES}")
    for key, check in (("seed", 0), ("block_rows", 1)):
        if key in manifest:
            integer(manifest[key], key, check)
    if "dtype" in manifest and manifest["dtype"] not in ("float32", "float64"):
        fail("dtype", manifest["dtype"], "'float32' or 'float64'")
    if "generator" in manifest and not isinstance(manifest["generator"], str):
        fail("generator", manifest["generator"], "a string")
    if "params" in manifest:
        params = manifest["params"]
        if not isinstance(params, dict):
            fail("params", params, "an object with layer_sizes, activation, task and noise")
        for key, kind in _PARAMS.items():
            value = params.get(key, _MISSING)
            ok = {"sizes": lambda v: isinstance(v, list) and len(v) >= 2 and all(
                      isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in v),
                  "text": lambda v: isinstance(v, str),
                  "real": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0}[kind](value)
            if not ok:
                fail(f"params.{key}", value, {"sizes": "a list of integers >= 1", "text": "a string",
                                              "real": "a number >= 0"}[kind])
    return manifest


def member_path(folder, key, name) -> Path:
    """The file a manifest names, which must lie in the folder: a plain file name (no ``/``, ``..`` or
    absolute path), and not a symlink leading out of it."""
    folder = Path(folder)
    if (not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name or os.path.isabs(name)
            or len(name.encode("utf-8", "surrogatepass")) > 255):
        raise ValueError(f"{folder}: manifest.json: {key!r} is {short(name)}; expected the name of a file in the "
                         "folder (no '/', '..' or absolute path)")
    root = os.path.realpath(folder)
    real = os.path.realpath(folder / name)
    if os.path.commonpath([root, real]) != root:
        raise ValueError(f"{folder}: {name} is a symlink leading out of the folder; the files of a data set must "
                         "lie in its folder")
    return Path(real)


class NpyFile:
    """A ``.npy`` file read by row ranges with plain reads (no memory map, so nothing stays resident)."""

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: missing")
        with os.fdopen(open_regular(self.path), "rb") as f:
            try:
                version = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(f)
            except (ValueError, EOFError):
                # numpy's message quotes the file's first bytes: never echo a file that was refused
                raise ValueError(f"{self.path}: not a readable .npy file (no valid .npy header)") from None
            self.offset = f.tell()
        if fortran:
            raise ValueError(f"{self.path}: Fortran-ordered arrays are not read; save it C-ordered")
        if dtype.kind not in "iuf":
            raise ValueError(f"{self.path}: holds {dtype} values, expected real numbers (integers or floats)")
        if len(shape) == 0:
            raise ValueError(f"{self.path}: holds a single value (shape ()), expected one row per sample")
        self.shape, self.dtype = tuple(shape), dtype
        self.row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        expected = self.offset + self.shape[0] * self.row_bytes
        actual = os.path.getsize(self.path)
        if actual < expected:
            have = (actual - self.offset) // self.row_bytes if self.row_bytes else 0
            raise ValueError(f"{self.path}: truncated: {actual} bytes, {expected} expected for shape {self.shape} "
                             f"(only rows 0..{have - 1} are complete)")

    def read(self, lo, hi, out):
        with open(self.path, "rb") as f:
            f.seek(self.offset + lo * self.row_bytes)
            got = f.readinto(memoryview(out).cast("B"))
        if got != (hi - lo) * self.row_bytes:
            raise ValueError(f"{self.path}: truncated at rows {lo}..{hi - 1}")
        return out

"""Saving and loading models: a documented numpy format, never pickle.

A model file is an uncompressed ``.npz`` archive (``numpy.savez``) holding:

===================  ==========================================================================
``format``           the string ``"fastmlp-model"``
``format_version``   int, 3 (version 1 files, without the optimiser fields, and version 2, without ``l2``, still load)
``layer_sizes``      int64 array ``[n0, ..., nL]``
``activation``       str, the hidden activation
``output_activation`` str
``loss``             str
``dtype``            str, ``"float64"`` or ``"float32"``
``params``           the flat parameter vector, in the model's dtype and the contract's layout
``optimizer``        str, the rule of the optimiser state kept for a warm start (``fastmlp.optim``),
                     ``""`` when the model has none
``optimizer_hyper``  ``[momentum, beta1, beta2, eps, weight_decay, l2]``, float64 (version 2: without ``l2``)
``optimizer_m``      its first state array (momentum buffer or Adam's ``m``; empty for ``sgd``)
``optimizer_v``      Adam's ``v`` (empty otherwise)
``optimizer_t``      int64, the number of updates made
===================  ==========================================================================

The optimiser fields are what ``fit`` carries from one call to the next, so a loaded model goes on training
exactly as the saved one would have (a round trip is exact to the bit).

It is written to a temporary file in the same folder (``.NAME.XXXXXXXX.tmp``) and renamed over the target,
so a crash mid-write leaves the previous file whole; ``save`` and ``load`` remove such temporaries of the same
name that are more than an hour old (left by a process that was killed).

Loading trusts nothing in the file. It reads the archive member by member, each member's ``.npy`` header first:
a member must be stored uncompressed (as ``numpy.savez`` writes it) and hold exactly the bytes its header
declares, and the parameters and optimiser arrays must have the sizes that the declared network implies, all
before anything is allocated, so a small file can never make it allocate more than the file's own size. Values
are checked too: integer format version and layer sizes, finite parameters and optimiser state. Every error is
a ``ValueError`` naming the file (``FileNotFoundError`` and ``PermissionError`` stay what they are). No pickle
is ever loaded.
"""
from __future__ import annotations

import math
import os
import stat
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from . import optim
from ._files import open_regular
from ._params import check
from ._validation import make_spec
from .model import MLP
from .optim import OptimizerState

FORMAT = "fastmlp-model"
FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
_FIELDS = ("format", "format_version", "layer_sizes", "activation", "output_activation", "loss", "dtype",
           "params")
_OPT_FIELDS = ("optimizer", "optimizer_hyper", "optimizer_m", "optimizer_v", "optimizer_t")


STALE_SECONDS = 3600          # a temporary file of save's older than this was left by a killed process
_SMALL_MEMBER = 1 << 16       # bytes: every field but the parameters and the optimiser arrays is tiny


def save(net: MLP, path: str | os.PathLike) -> Path:
    """Write ``net`` to ``path`` (``.npz`` is not appended); returns the path."""
    path = check_destination(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, format=np.array(FORMAT), format_version=np.array(FORMAT_VERSION),
                     layer_sizes=np.array(net.layer_sizes, dtype=np.int64), activation=np.array(net.activation),
                     output_activation=np.array(net.output_activation), loss=np.array(net.loss_name),
                     dtype=np.array(net.dtype.name), params=net.params, **_optimizer_fields(net))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _optimizer_fields(net) -> dict:
    opt = net.optimizer_state
    if opt is None:
        empty = np.zeros(0, net.dtype)
        return dict(optimizer=np.array(""), optimizer_hyper=np.zeros(6), optimizer_m=empty, optimizer_v=empty,
                    optimizer_t=np.zeros(1, np.int64))
    return dict(optimizer=np.array(opt.name),
                optimizer_hyper=np.array(opt.optimizer.hyper(), np.float64),
                optimizer_m=opt.m, optimizer_v=opt.v, optimizer_t=opt.t)


def check_destination(path) -> Path:
    """``path`` as a place ``save`` can write to, checked before any work (the CLI checks ``--save`` before it
    trains): not a folder, and its nearest existing parent a folder this user may write in."""
    if not str(path):
        raise ValueError("the path to save the model to is empty")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; give a file name to save the model to")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise NotADirectoryError(f"{path}: cannot be created, {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"{path}: cannot be written, {parent} is not writable")
    return path


def probe_destination(path) -> Path:
    """:func:`check_destination`, then the real test: the folder is made and a temporary file written in it and
    removed (what the CLI does before it trains, so that ``--save`` cannot fail only after the training)."""
    path = check_destination(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise OSError(e.errno, f"{path}: cannot be written ({e.strerror})") from None
    return path


def remove_stale_temporaries(path):
    """Remove ``save``'s temporary files for ``path`` (``.NAME.XXXXXXXX.tmp``) older than ``STALE_SECONDS``
    and owned by this user: what a process killed mid-save left behind."""
    path = Path(path)
    prefix = f".{path.name}."
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    now = time.time()
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(".tmp") and len(name) == len(prefix) + 8 + 4):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and now - st.st_mtime > STALE_SECONDS:
                os.unlink(entry.path)
        except OSError:
            pass


def load(path: str | os.PathLike) -> MLP:
    """The model saved at ``path`` by ``MLP.save`` (see the module's notes on what is checked)."""
    path = Path(path)
    remove_stale_temporaries(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, not a model file")
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such model file") from None
    with os.fdopen(fd, "rb") as f:
        try:
            with zipfile.ZipFile(f) as archive:
                fields = _Archive(path, archive, os.fstat(f.fileno()).st_size).fields()
        except zipfile.BadZipFile:
            raise ValueError(f"{path}: truncated or corrupt model file (not a readable .npz archive)") from None
        except (EOFError, zipfile.LargeZipFile, RuntimeError, NotImplementedError) as e:
            raise ValueError(f"{path}: truncated or corrupt model file ({type(e).__name__})") from None
    net = MLP(fields["layer_sizes"], activation=fields["activation"], loss=fields["loss"],
              output_activation=fields["output_activation"], dtype=fields["dtype"])
    net.params[...] = fields["params"]
    if fields["optimizer"]:
        net.optimizer_state = _load_optimizer(path, net, fields)
    return net


class _Archive:
    """The members of a model file, each read only after its header and size were checked."""

    def __init__(self, path, archive, file_size):
        self.path, self.archive, self.file_size = path, archive, file_size
        self.names = {name[:-4] for name in archive.namelist() if name.endswith(".npy")}

    def error(self, what) -> ValueError:
        return ValueError(f"{self.path}: {what}")

    def member(self, name, shape=None, dtype=None, max_bytes=_SMALL_MEMBER) -> np.ndarray:
        """Member ``name``, checked against its header, the file and (when given) the expected shape and dtype
        before it is read."""
        if name not in self.names:
            raise self.error(f"missing field {name!r}")
        info = self.archive.getinfo(name + ".npy")
        if info.compress_type != zipfile.ZIP_STORED:
            raise self.error(f"field {name!r} is compressed; model files are written uncompressed (numpy.savez)")
        if info.file_size > self.file_size:
            raise self.error(f"field {name!r} declares {info.file_size} bytes, more than the file holds")
        with self.archive.open(info) as fp:
            try:
                version = np.lib.format.read_magic(fp)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                got_shape, fortran, got_dtype = read_header(fp)
            except ValueError:
                raise self.error(f"field {name!r} is not a readable .npy array") from None
            if any(n < 0 for n in got_shape):
                raise self.error(f"field {name!r} declares a negative size, shape {got_shape}")
            if got_dtype.hasobject:
                raise self.error(f"field {name!r} holds Python objects; model files hold numbers and strings")
            nbytes = math.prod(got_shape) * got_dtype.itemsize
            if fp.tell() + nbytes != info.file_size:
                raise self.error(f"field {name!r} declares shape {got_shape} {got_dtype}, which does not match "
                                 f"its {info.file_size} bytes (truncated or corrupt)")
            if shape is not None and (got_shape != shape or got_dtype != dtype):
                raise self.error(f"{name} of shape {got_shape} {got_dtype}, expected {shape} {dtype}")
            if nbytes > max_bytes:
                raise self.error(f"field {name!r} has {nbytes} bytes, more than such a field can hold")
            data = fp.read(nbytes)
        if len(data) != nbytes:
            raise self.error(f"field {name!r} is truncated")
        return np.frombuffer(data, got_dtype).reshape(got_shape, order="F" if fortran else "C").copy()

    def text(self, name) -> str:
        value = self.member(name)
        if value.shape != () or value.dtype.kind != "U":
            raise self.error(f"field {name!r} must be a string, got {value.dtype} of shape {value.shape}")
        return str(value)

    def integer(self, name) -> int:
        value = self.member(name)
        if value.shape != () or value.dtype.kind not in "iu":
            raise self.error(f"field {name!r} must be an integer, got {value.tolist()!r} ({value.dtype})")
        return int(value)

    def finite(self, name, shape, dtype, max_bytes) -> np.ndarray:
        value = self.member(name, shape, np.dtype(dtype), max_bytes)
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise self.error(f"field {name!r} holds NaN or infinity at index {int(np.argmin(np.isfinite(value)))}")
        return value

    def fields(self) -> dict:
        if "format" not in self.names or self.text("format") != FORMAT:
            raise self.error(f"not a fastmlp model file (no 'format' = {FORMAT!r})")
        version = self.integer("format_version")
        if version not in READABLE_VERSIONS:
            raise self.error(f"format_version {version}, this fastmlp reads {READABLE_VERSIONS}")
        out = {name: self.text(name) for name in ("activation", "output_activation", "loss", "dtype")}
        sizes = self.member("layer_sizes")
        if sizes.dtype.kind not in "iu":
            raise self.error(f"layer_sizes must hold integers, got {sizes.tolist()!r} ({sizes.dtype})")
        try:
            out["layer_sizes"] = check("layer_sizes", sizes)
            dtype = check("dtype", out["dtype"])
            spec = make_spec(out["layer_sizes"], out["activation"], out["loss"], out["output_activation"])
        except (TypeError, ValueError) as e:
            raise self.error(e) from None
        n, limit = spec.n_params, self.file_size
        out["params"] = self.finite("params", (n,), dtype, limit)
        out["optimizer"] = self.text("optimizer") if version >= 2 else ""
        if out["optimizer"]:
            if out["optimizer"] not in optim.RULES:
                raise self.error(f"bad optimiser state (optimizer must be one of {optim.RULES}, got "
                                 f"{out['optimizer']!r})")
            n_m = n if out["optimizer"] != "sgd" else 0
            n_v = n if out["optimizer"] == "adam" else 0
            n_hyper = 6 if version >= 3 else 5            # version 2: before l2
            out["optimizer_hyper"] = self.finite("optimizer_hyper", (n_hyper,), np.float64, 64)
            out["optimizer_m"] = self.finite("optimizer_m", (n_m,), dtype, limit)
            out["optimizer_v"] = self.finite("optimizer_v", (n_v,), dtype, limit)
            t = self.finite("optimizer_t", (1,), np.int64, 8)
            if t[0] < 0:
                raise self.error(f"optimizer_t must be >= 0, got {int(t[0])}")
            out["optimizer_t"] = t
        return out


def _load_optimizer(path, net, fields):
    hyper = fields["optimizer_hyper"]
    if hyper.shape not in ((5,), (6,)):
        raise ValueError(f"{path}: optimizer_hyper of shape {hyper.shape}, expected (6,)")
    try:
        opt = OptimizerState(optim.from_rule(str(fields["optimizer"]), hyper), net.spec.n_params, net.dtype)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: bad optimiser state ({e})") from None
    for name, target in (("optimizer_m", opt.m), ("optimizer_v", opt.v), ("optimizer_t", opt.t)):
        arr = fields[name]
        if arr.shape != target.shape or arr.dtype != target.dtype:
            raise ValueError(f"{path}: {name} of shape {arr.shape} {arr.dtype}, expected {target.shape} "
                             f"{target.dtype} for optimizer {opt.name!r}")
        target[...] = arr
    return opt

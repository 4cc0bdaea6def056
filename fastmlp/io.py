"""Saving and loading models: a documented numpy format, never pickle.

A model file is an uncompressed ``.npz`` archive (``numpy.savez``) holding:

===================  ==========================================================================
``format``           the string ``"fastmlp-model"``
``format_version``   int, 1
``layer_sizes``      int64 array ``[n0, ..., nL]``
``activation``       str, the hidden activation
``output_activation`` str
``loss``             str
``dtype``            str, ``"float64"`` or ``"float32"``
``params``           the flat parameter vector, in the model's dtype and the contract's layout
===================  ==========================================================================

It is written to a temporary file in the same folder and renamed over the target, so a crash mid-write
leaves the previous file whole. Loading checks every field; a truncated, corrupt or foreign file raises
``ValueError`` naming the file and what is wrong. Arrays are loaded with ``allow_pickle=False``.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FORMAT = "fastmlp-model"
FORMAT_VERSION = 1
_FIELDS = ("format", "format_version", "layer_sizes", "activation", "output_activation", "loss", "dtype",
           "params")


def save(net, path) -> Path:
    """Write ``net`` to ``path`` (``.npz`` is not appended); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, format=np.array(FORMAT), format_version=np.array(FORMAT_VERSION),
                     layer_sizes=np.array(net.layer_sizes, dtype=np.int64), activation=np.array(net.activation),
                     output_activation=np.array(net.output_activation), loss=np.array(net.loss_name),
                     dtype=np.array(net.dtype.name), params=net.params)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load(path):
    """The model saved at ``path`` by ``MLP.save``."""
    from .model import MLP
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in _FIELDS if k not in z.files]
            if "format" not in z.files or str(z["format"]) != FORMAT:
                raise ValueError(f"{path}: not a fastmlp model file (no 'format' = {FORMAT!r})")
            if missing:
                raise ValueError(f"{path}: missing fields {missing}")
            fields = {k: z[k] for k in _FIELDS}
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise ValueError(f"{path}: truncated or corrupt model file ({type(e).__name__}: {e})") from None
    except ValueError as e:
        if str(e).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable model file ({e})") from None
    version = int(fields["format_version"])
    if version != FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {version}, this fastmlp reads {FORMAT_VERSION}")
    net = MLP([int(n) for n in fields["layer_sizes"]], activation=str(fields["activation"]),
              loss=str(fields["loss"]), output_activation=str(fields["output_activation"]),
              dtype=str(fields["dtype"]))
    params = fields["params"]
    if params.shape != net.params.shape or params.dtype != net.params.dtype:
        raise ValueError(f"{path}: params of shape {params.shape} {params.dtype}, expected "
                         f"{net.params.shape} {net.params.dtype} for layer_sizes {list(net.layer_sizes)}")
    net.params[...] = params
    return net

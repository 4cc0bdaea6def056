"""Saving and loading models: a documented numpy format, never pickle.

A model file is an uncompressed ``.npz`` archive (``numpy.savez``) holding:

===================  ==========================================================================
``format``           the string ``"fastmlp-model"``
``format_version``   int, 2 (version 1 files, without the optimiser fields, still load)
``layer_sizes``      int64 array ``[n0, ..., nL]``
``activation``       str, the hidden activation
``output_activation`` str
``loss``             str
``dtype``            str, ``"float64"`` or ``"float32"``
``params``           the flat parameter vector, in the model's dtype and the contract's layout
``optimizer``        str, the rule of the optimiser state kept for a warm start (``fastmlp.optim``),
                     ``""`` when the model has none
``optimizer_hyper``  ``[momentum, beta1, beta2, eps, weight_decay]``, float64
``optimizer_m``      its first state array (momentum buffer or Adam's ``m``; empty for ``sgd``)
``optimizer_v``      Adam's ``v`` (empty otherwise)
``optimizer_t``      int64, the number of updates made
===================  ==========================================================================

The optimiser fields are what ``fit`` carries from one call to the next, so a loaded model goes on training
exactly as the saved one would have (a round trip is exact to the bit).

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
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
_FIELDS = ("format", "format_version", "layer_sizes", "activation", "output_activation", "loss", "dtype",
           "params")
_OPT_FIELDS = ("optimizer", "optimizer_hyper", "optimizer_m", "optimizer_v", "optimizer_t")


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
        return dict(optimizer=np.array(""), optimizer_hyper=np.zeros(5), optimizer_m=empty, optimizer_v=empty,
                    optimizer_t=np.zeros(1, np.int64))
    return dict(optimizer=np.array(opt.name),
                optimizer_hyper=np.array([opt.momentum, *opt.betas, opt.eps, opt.weight_decay], np.float64),
                optimizer_m=opt.m, optimizer_v=opt.v, optimizer_t=opt.t)


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
            fields = {k: z[k] for k in _FIELDS + _OPT_FIELDS if k in z.files}
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise ValueError(f"{path}: truncated or corrupt model file ({type(e).__name__}: {e})") from None
    except ValueError as e:
        if str(e).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable model file ({e})") from None
    version = int(fields["format_version"])
    if version not in READABLE_VERSIONS:
        raise ValueError(f"{path}: format_version {version}, this fastmlp reads {READABLE_VERSIONS}")
    if version >= 2 and any(k not in fields for k in _OPT_FIELDS):
        raise ValueError(f"{path}: missing fields {[k for k in _OPT_FIELDS if k not in fields]}")
    net = MLP([int(n) for n in fields["layer_sizes"]], activation=str(fields["activation"]),
              loss=str(fields["loss"]), output_activation=str(fields["output_activation"]),
              dtype=str(fields["dtype"]))
    params = fields["params"]
    if params.shape != net.params.shape or params.dtype != net.params.dtype:
        raise ValueError(f"{path}: params of shape {params.shape} {params.dtype}, expected "
                         f"{net.params.shape} {net.params.dtype} for layer_sizes {list(net.layer_sizes)}")
    net.params[...] = params
    if version >= 2 and str(fields["optimizer"]):
        net.optimizer_state = _load_optimizer(path, net, fields)
    return net


def _load_optimizer(path, net, fields):
    from .optim import OptimizerState
    hyper = fields["optimizer_hyper"]
    if hyper.shape != (5,):
        raise ValueError(f"{path}: optimizer_hyper of shape {hyper.shape}, expected (5,)")
    momentum, beta1, beta2, eps, weight_decay = (float(h) for h in hyper)
    try:
        opt = OptimizerState(str(fields["optimizer"]), net.spec.n_params, net.dtype, momentum, (beta1, beta2),
                             eps, weight_decay)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: bad optimiser state ({e})") from None
    for name, target in (("optimizer_m", opt.m), ("optimizer_v", opt.v), ("optimizer_t", opt.t)):
        arr = fields[name]
        if arr.shape != target.shape or arr.dtype != target.dtype:
            raise ValueError(f"{path}: {name} of shape {arr.shape} {arr.dtype}, expected {target.shape} "
                             f"{target.dtype} for optimizer {opt.name!r}")
        target[...] = arr
    return opt

"""Opening files fastmlp does not trust (data-set members and manifests, model files, cached kernel sources): one
place for the checks every such open needs.

A FIFO must not hang the open, a device such as ``/dev/zero`` must not be read to exhaustion, and a folder must be
refused by name (``os.fdopen`` refuses one without naming it): so the file is opened without blocking and
checked with ``fstat`` before anything is read.
"""
from __future__ import annotations

import os
import stat


def open_regular(path, follow_symlinks=True) -> int:
    """A read-only descriptor of ``path`` when it is a regular file; a ``ValueError`` naming it otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | (0 if follow_symlinks else os.O_NOFOLLOW))
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return fd
    os.close(fd)
    raise ValueError(f"{path}: not a regular file (a folder, a pipe or a device?)")


def read_small_file(path, max_bytes, what="such a file", follow_symlinks=True) -> bytes:
    """The bytes of the regular file ``path``, refused (``ValueError``) before reading when larger than
    ``max_bytes``."""
    fd = open_regular(path, follow_symlinks)
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(fd).st_size
        if size > max_bytes:
            raise ValueError(f"{path}: {size} bytes, more than {what} holds ({max_bytes})")
        return f.read(max_bytes + 1)

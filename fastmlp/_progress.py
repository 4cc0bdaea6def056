"""A one-line progress bar on stderr (no dependency): ``[#####-----]  52%  ...`` redrawn in place."""
from __future__ import annotations

import sys

WIDTH = 24


def bar_line(done, total, text) -> str:
    """The line for ``done`` of ``total`` (``total`` None or 0: no bar, just the count)."""
    if not total:
        return f"  {done:,} {text}"
    frac = min(1.0, done / total)
    filled = int(round(frac * WIDTH))
    return f"  [{'#' * filled}{'-' * (WIDTH - filled)}] {frac:4.0%}  {done:,}/{total:,} {text}"


def show(done, total, text, end=False):
    print("\r" + bar_line(done, total, text), end="\n" if end else "", file=sys.stderr, flush=True)

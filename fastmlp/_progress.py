"""Progress shown while training or writing data: a tqdm bar when tqdm is installed, else a plain line.

Either way it is updated between calls into the compiled loop (once per chunk, which is once per epoch for
in-memory data), never from inside it, so it costs nothing measurable.
"""
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


class TrainingProgress:
    """One bar over a whole fit: samples done of ``epochs * rows`` (rows None when unknown), with the
    epoch, samples/s and the running loss."""

    def __init__(self, epochs, rows):
        self.epochs, self.rows = epochs, rows
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=epochs * rows if rows else None, unit=" samples", unit_scale=True,
                            file=sys.stderr, dynamic_ncols=True, leave=True)

    def update(self, epoch, done_in_epoch, new, seconds, loss):
        if self.bar is not None:
            self.bar.update(new)
            self.bar.set_postfix_str(f"epoch {epoch + 1}/{self.epochs}, loss {loss:.6g}", refresh=False)
        else:
            show(done_in_epoch, self.rows, f"samples, epoch {epoch + 1}/{self.epochs}, "
                                           f"{done_in_epoch / max(seconds, 1e-9):,.0f} samples/s, loss {loss:.6g}")

    def end_epoch(self, val_loss=None):
        if self.bar is None:
            print(f"  val_loss {val_loss:.6g}" if val_loss is not None else "", file=sys.stderr)
        elif val_loss is not None:
            self.bar.set_postfix_str(f"{self.bar.postfix}, val_loss {val_loss:.6g}")

    def close(self):
        if self.bar is not None:
            self.bar.close()

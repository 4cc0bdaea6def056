"""The model: ``MLP``, its training history and its errors."""
from __future__ import annotations

import functools
import importlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from . import _guard, _settings
from ._memory import aligned_copy, aligned_zeros
from ._params import check
from ._validation import check_any_X, check_X, check_Y, dense_rows, make_spec
from .optim import SGD, Adam
from .schedule import Adaptive, Constant, InvScaling, Stopping


class DivergenceError(FloatingPointError):
    """Training stopped at a batch that diverged; the parameters and optimiser state are those before it.

    A batch diverges when a sample's loss is not finite, or when its update would leave a parameter or an
    optimiser-state value non-finite (for float32 models: beyond float32's range). The rule is the same on
    every path (``docs/contract.md``).

    Attributes
    ----------
    epoch : int
        0-based epoch in which it happened.
    sample : int
        The row of the data (of ``X``, or of the whole data set when it is read in chunks): the sample whose
        loss was not finite, or the first sample of the batch whose update was.
    position : int
        Position of that row in the epoch's visiting order.
    reason : {"loss", "update"}
        What was not finite.
    history : History
        The epochs completed before it.
    """

    def __init__(self, message, epoch, sample, position, history, reason="loss"):
        super().__init__(message)
        self.epoch, self.sample, self.position, self.history, self.reason = epoch, sample, position, history, reason

    @property
    def row(self) -> int:
        """The same as ``sample``."""
        return self.sample


@dataclass
class History:
    """What ``MLP.fit`` returns, one entry per epoch trained.

    ``loss``: the epoch's mean loss as the contract defines it (each sample's loss before its update);
    ``val_loss``: the validation loss after the epoch (empty without validation data); ``val_score``: the
    validation score after it, when ``Stopping(score=...)`` gives one (empty otherwise); ``lr``: the learning
    rate of the epoch; ``seconds``: its wall time. ``stop_reason`` says why training ended; ``best_epoch``
    is the epoch whose parameters ``restore_best`` put back (-1 when it was off). ``backend`` is the path that
    trained, ``threads`` how many threads its per-sample loop used.
    """

    loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_score: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    backend: str = ""
    stop_reason: str = ""
    best_epoch: int = -1
    threads: int = 1

    @property
    def epochs(self) -> int:
        return len(self.loss)

    @property
    def monitored(self) -> list:
        """What the schedule and the stopping rules watched, epoch by epoch: the validation score negated (lower
        is better), else the validation loss, else the epoch's loss."""
        return [-s for s in self.val_score] if self.val_score else (self.val_loss or self.loss)

    def plot(self, path: str | os.PathLike | None = None, title: str | None = None):
        """Draw the loss and, when there is one, the validation loss per epoch (needs matplotlib).

        Parameters
        ----------
        path : str or path-like, optional
            Write the figure there as a PNG and return the path; without it, return the
            ``matplotlib.figure.Figure``.
        title : str, optional
        """
        try:
            from matplotlib.figure import Figure
            from matplotlib.ticker import MaxNLocator
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install 'fastmlp[plot]'") from None
        if not self.loss:
            raise ValueError("History.plot: no epochs to draw (the history is empty)")
        fig = Figure(figsize=(6.4, 4.0), layout="constrained")
        ax = fig.add_subplot()
        epochs = np.arange(len(self.loss))           # 0-based, as History.best_epoch and the stop reasons
        ax.plot(epochs, self.loss, marker="o", markersize=3, label="loss (training, during the epoch)")
        if self.val_loss:
            ax.plot(epochs[:len(self.val_loss)], self.val_loss, marker="s", markersize=3,
                    label="validation loss (after the epoch)")
        if self.best_epoch >= 0:
            ax.axvline(self.best_epoch, color="0.6", linestyle=":", label=f"best epoch ({self.best_epoch})")
        if min(self.loss + self.val_loss) > 0:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("mean loss")
        ax.set_title(title or f"{self.backend} path: {self.stop_reason}", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        if path is None:
            return fig
        fig.savefig(path, dpi=110, format="png")
        return path


def _one_caller_at_a_time(method):
    """``method`` refuses to start while another call trains the same model (the contract's concurrency rule)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not self._training.acquire(blocking=False):
            raise RuntimeError(
                f"MLP.{method.__name__}: this model is already being trained (by another thread, or by the fit "
                "that called this one from a callback); one model is trained by one caller at a time. Train a "
                "copy (copy.deepcopy(model)) to train in parallel.")
        try:
            return method(self, *args, **kwargs)
        finally:
            self._training.release()
    return wrapper


class MLP:
    """A multi-layer perceptron trained by backpropagation and SGD.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[n0, n1, ..., nL]``: inputs, hidden layer widths, outputs; at least two entries, each >= 1.
    activation : {"relu", "identity", "sigmoid", "tanh"}
        Activation of every hidden layer.
    loss : {"mse", "log_loss", "cross_entropy", "poisson"}
        Per-sample loss. ``log_loss`` implies a sigmoid output (labels 0/1, one or more outputs);
        ``cross_entropy`` a softmax output (class indices or one-hot rows, two or more outputs); ``poisson``
        (half the Poisson deviance) an exp output, the log link (targets >= 0: counts or rates).
    output_activation : str, optional
        Only with ``mse``: the output activation, ``identity`` by default.
    dtype : {"float64", "float32"}
        Dtype of the parameters and of all computation on the compiled paths.
    seed : int, optional
        Seeds the model's generator, which draws the initial parameters and, when ``fit`` is not given a
        seed, the sample order.

    Notes
    -----
    Initial parameters are Glorot-uniform: ``W[l]`` uniform in ``+-sqrt(6 / (n_l + n_{l+1}))``, drawn in
    float64 (then rounded to ``dtype``) layer by layer in row-major order; biases start at zero.

    Parameters live in one flat vector, ``params``; ``weights[l]`` (shape ``(n_l, n_{l+1})``) and
    ``biases[l]`` are views of it, in the order ``W[0], b[0], W[1], b[1], ...``.

    Examples
    --------
    >>> import fastmlp
    >>> X, y = fastmlp.datasets.placement(1000, seed=0)
    >>> net = fastmlp.MLP([2, 2, 1], activation="identity", seed=0)
    >>> history = net.fit(X, y, epochs=5, lr=0.01)
    """

    def __init__(self, layer_sizes: Sequence[int], activation: str = "relu", loss: str = "mse",
                 output_activation: str | None = None, dtype: str | np.dtype = "float64", seed: int | None = None):
        self.spec = make_spec(layer_sizes, activation, loss, output_activation)
        self.dtype = check("dtype", dtype)
        self.seed = check("seed", seed)
        self.rng = np.random.default_rng(seed)    # draws the initial parameters, and orders when fit has no seed
        try:
            self.params = aligned_zeros(self.spec.n_params, self.dtype)     # 64-byte aligned: see _memory
        except (MemoryError, ValueError):
            raise ValueError(f"layer_sizes {list(self.spec.layer_sizes)} means {self.spec.n_params:,} parameters "
                             f"({self.spec.n_params * self.dtype.itemsize:,} bytes), more than can be allocated "
                             "here") from None
        self.optimizer_state = None       # fastmlp.optim.OptimizerState of the last fit
        self._training = threading.Lock()  # held by fit: one caller trains a model at a time
        self._init_params()

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_training"]                    # a lock is not pickled; each copy gets its own
        return state

    def __setstate__(self, state):
        # Unpickled arrays are numpy's own allocations: put the parameters back on 64-byte boundaries.
        if "_rng" in state:                       # pickled by fastmlp 0.1.0
            state["rng"] = state.pop("_rng")
        self.__dict__.update(state)
        self.params = aligned_copy(self.params)
        self._training = threading.Lock()

    def reset_optimizer(self) -> None:
        """Forget the optimiser's state (momentum buffers, Adam's moments and step count)."""
        self.optimizer_state = None

    def _init_params(self):
        for W, b in zip(self.weights, self.biases):
            n_in, n_out = W.shape
            limit = np.sqrt(6.0 / (n_in + n_out))
            W[...] = self.rng.uniform(-limit, limit, size=(n_in, n_out))
            b[...] = 0.0

    # --- the contract's names -----------------------------------------------------------------------------
    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return self.spec.layer_sizes

    @property
    def activation(self) -> str:
        return self.spec.activation

    @property
    def output_activation(self) -> str:
        return self.spec.output_activation

    @property
    def loss_name(self) -> str:
        return self.spec.loss

    @property
    def weights(self) -> list[np.ndarray]:
        """``W[l]`` of shape ``(n_l, n_{l+1})``, views into ``params``."""
        return self.spec.split(self.params)[0]

    @property
    def biases(self) -> list[np.ndarray]:
        """``b[l]`` of shape ``(n_{l+1},)``, views into ``params``."""
        return self.spec.split(self.params)[1]

    def __repr__(self):
        return (f"MLP(layer_sizes={list(self.layer_sizes)}, activation={self.activation!r}, "
                f"loss={self.loss_name!r}, output_activation={self.output_activation!r}, "
                f"dtype={self.dtype.name!r}, seed={self.seed!r})")

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model to ``path`` in fastmlp's numpy format (see ``fastmlp.io``); atomic."""
        from .io import save  # fastmlp.io imports this module
        return save(self, path)

    # --- evaluation -------------------------------------------------------------------------------------------
    def predict(self, X: ArrayLike) -> np.ndarray:
        """Outputs ``a_L`` for each row, shape ``(n, nL)``; probabilities for the classification losses. A SciPy
        sparse ``X`` is densified a chunk of rows at a time."""
        X, forward = check_any_X(X, self.spec, self.dtype), _arrays().forward
        blocks = [forward(self.spec, self.params, Xd)[1][-1] for _, Xd in dense_rows(X)]
        return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)

    def loss(self, X: ArrayLike, y: ArrayLike) -> float:
        """Mean per-sample loss over the rows of ``X`` (sparse too, a chunk of rows at a time)."""
        X = check_any_X(X, self.spec, self.dtype)
        n = X.shape[0]
        Y = check_Y(y, self.spec, self.dtype, n)
        total = 0.0
        for lo, Xd in dense_rows(X):
            total += float(_arrays().per_sample_loss(self.spec, self.params, Xd, Y[lo:lo + Xd.shape[0]]).sum(
                dtype=np.float64))
        return total / n

    def gradients(self, X: ArrayLike, y: ArrayLike) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``(dW, db)``: gradient of the mean loss over the rows of ``X`` at the current parameters.

        Lists shaped like ``weights`` and ``biases``; the parameters are left unchanged.
        """
        X = check_X(X, self.spec, self.dtype)
        Y = check_Y(y, self.spec, self.dtype, X.shape[0])
        dW, db, _ = _arrays().gradients(self.spec, self.params, X, Y)
        return dW, db

    # --- training ------------------------------------------------------------------------------------------------
    @_one_caller_at_a_time
    def fit(self, X, y: ArrayLike | None = None, *, epochs: int = 1, lr: float = 0.01, batch_size: int = 1,
            optimizer: str | SGD | Adam = "sgd", schedule: str | Constant | InvScaling | Adaptive = "constant",
            stopping: Stopping | None = None, validation_data: tuple[ArrayLike, ArrayLike] | None = None,
            validation_fraction: float | None = None, sample_weight: ArrayLike | None = None, shuffle: bool = True,
            seed: int | None = None, backend: str | None = None, chunk_rows: int | None = None,
            progress: bool = False, callbacks: Sequence[Callable] | None = None,
            threads: int | None = None) -> History:
        """Train by SGD: per epoch, batches of ``batch_size`` rows in the epoch's order, one update each.

        Everything after ``y`` is keyword-only.

        Parameters
        ----------
        X : array-like of shape (n, n0), memory-mapped array, data-set folder, or iterable of (X, y) chunks
            In-memory arrays are the contract's epoch. A data-set folder (``fastmlp.datasets.write``), a
            ``numpy.memmap`` or any array with ``chunk_rows`` is read a chunk at a time, with the out-of-core
            shuffle rule of ``fastmlp.streaming``; so is an iterable of ``(X, y)`` pairs (with ``y=None``).
        y : array-like of shape (n,) or (n, nL), or None for a folder or an iterable
            For ``cross_entropy``, class indices ``(n,)`` or one-hot rows ``(n, nL)``.
        epochs : int >= 1
        lr : float > 0
            Learning rate: ``params <- params - lr * mean gradient of the batch``.
        batch_size : int >= 1
            1 is the per-sample loop. A last batch (of the epoch, or of a chunk) may be shorter.
        optimizer : {"sgd", "momentum", "nesterov", "adam"} or an optimiser object
            The update rule: ``fastmlp.optim.SGD(momentum=..., nesterov=..., weight_decay=...)`` or
            ``fastmlp.optim.Adam(betas=..., eps=..., weight_decay=...)`` (PyTorch's rules); a name stands for
            that object with its defaults (``"momentum"``: momentum 0.9). Its state is kept by the model and
            carried into the next ``fit`` with the same optimiser (a warm start); another one starts a fresh
            state. ``reset_optimizer()`` drops it.
        schedule : {"constant", "invscaling", "adaptive"} or a schedule object
            The learning rate from epoch to epoch (``fastmlp.schedule``: ``Constant()``,
            ``InvScaling(power_t=...)``, ``Adaptive()``), scikit-learn's meanings.
        stopping : fastmlp.schedule.Stopping, optional
            When to stop before ``epochs`` (``n_iter_no_change``, ``tol``, ``wtol``) and whether to put back the
            best validation epoch's parameters (``restore_best``). ``None``: run every epoch.
        validation_data : (X_val, y_val), optional
        validation_fraction : float in (0, 1), optional
            Hold out this fraction of the rows (in-memory arrays only), drawn with the fit's generator
            before the first epoch, as validation data (``validation_split``).
        sample_weight : array-like of shape (n,), optional
            Weights >= 0 (in-memory arrays only): a batch's loss and gradient are the weighted means
            ``sum w_s L_s / sum w_s``; a batch of weight 0 makes no update; ``History.loss`` is weighted too.
        shuffle : bool
            Visit the rows in a new random order each epoch (``rng.permutation(n)``) or in order.
        seed : int, optional
            ``rng = numpy.random.default_rng(seed)`` for this call; ``None`` uses the model's generator.
        backend : {None, "auto", "numba", "numpy", "reference"}
            The path (``"python"`` is the reference's other name). ``None``/``"auto"`` picks from the batch
            size and the network's size.
        chunk_rows : int, optional
            Rows per chunk for data read out of core (default 2**20).
        threads : int >= 1, optional
            Threads the Numba path's per-sample loop (``batch_size=1``) splits each sample's layers across, each
            thread a fixed share of every layer's units; the result is the same bit for bit run after run for a
            given number of threads, and within the contract's bounds of one thread's. ``None`` chooses from the
            network and the machine (``fastmlp.backends.numba.threads_for``: several only for networks wide enough
            to pay for the threads' meetings, never more than the physical cores); ``History.threads`` says what
            was used. More than the physical cores warns (the threads then wait for each other's turns). Another
            path or batch size takes only ``None`` or 1.
        progress : bool
            Show a progress bar on stderr (samples, samples/s, epoch, running loss): tqdm's when tqdm is
            installed, a plain line otherwise. Updated between chunks, never inside the compiled loop.
        callbacks : sequence of callables, optional
            Each is called after every epoch as ``callback(epoch, history, model)`` (``history`` already holds
            that epoch); one that returns a true value stops training there (``History.stop_reason`` names
            it). An exception raised by a callback propagates, with the epoch's parameters in place.

        Returns
        -------
        History

        Raises
        ------
        InvalidParameterError
            (a ``ValueError`` and a ``TypeError``) for an argument outside what it may be, before any work.
        DivergenceError
            At the first batch holding a sample whose loss is not finite, or whose update would leave a
            parameter or optimiser-state value non-finite; that batch's update is not applied.
        RuntimeError
            When the model is already being trained by another caller.
        KeyboardInterrupt
            Ctrl-C lands between batches (within about 0.2 s): the parameters and the optimiser state are
            those after the last complete batch, and the next ``fit`` trains on from there.
        """
        run = _settings.settle(self, X, y, epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
                               schedule=schedule, stopping=stopping, validation_data=validation_data,
                               validation_fraction=validation_fraction, sample_weight=sample_weight,
                               shuffle=shuffle, seed=seed, backend=backend, chunk_rows=chunk_rows,
                               progress=progress, callbacks=callbacks, threads=threads)
        self.optimizer_state = run.optimizer_state(self.optimizer_state)     # a warm start, or a fresh state
        history = History(backend=run.backend, stop_reason=f"epochs: all {run.epochs} run", threads=run.threads)
        best_params = None
        with run.progress_bar() as bar:
            for epoch in range(run.epochs):
                reason, improved = self._epoch(epoch, run, history, bar)
                if run.stopping.restore_best and improved:
                    best_params, history.best_epoch = self.params.copy(), epoch
                for callback in run.callbacks:
                    if callback(epoch, history, self) and not reason:
                        reason = f"callback: {_name(callback)} stopped training after epoch {epoch}"
                if reason:
                    history.stop_reason = reason
                    break
        if best_params is not None:
            self.params[...] = best_params
        return history

    def _epoch(self, epoch, run, history, bar):
        """One epoch, chunk by chunk, appended to ``history``: ``(stop reason or None, improved)``."""
        t0 = time.perf_counter()
        lr = run.plan.lr_for_epoch(run.samples_seen)
        epoch_start = self.params.copy() if run.stopping.wtol is not None else None
        loss_sum, n_seen, weight_sum = 0.0, 0, 0.0
        for chunk, order in run.source.epoch(run.rng, run.shuffle):
            sw = run.sample_weight                  # the chunk's weights (a view; data in chunks: a sparse X)
            if sw is not None:
                sw = sw[chunk.first_row:chunk.first_row + chunk.X.shape[0]]
            try:
                result = _guard.train_chunk(run.path, run.backend, self.spec, self.params, self.optimizer_state,
                                            chunk.X, chunk.Y, order, lr, run.batch_size, run.workspace,
                                            sw, run.interrupt, run.threads)
            except _guard.Diverged as d:
                raise self._divergence(d, epoch, chunk, order, n_seen, history) from None
            loss_sum += result.loss_sum
            n_seen += result.n_seen
            weight_sum += result.weight_sum
            if bar is not None:
                bar.update(epoch, n_seen, result.n_seen, time.perf_counter() - t0, loss_sum / n_seen)
        run.samples_seen += n_seen
        monitored = record_epoch(history, lr, t0, loss_sum, weight_sum, run.validation, self, bar,
                                 run.stopping.score)
        max_change = None if epoch_start is None else float(np.max(np.abs(self.params - epoch_start)))
        return run.plan.after_epoch(epoch, monitored, max_change)

    def _divergence(self, d, epoch, chunk, order, n_seen, history) -> DivergenceError:
        sample, position = chunk.first_row + int(order[d.position]), n_seen + d.position
        where = f"epoch {epoch}, row {sample} (position {position} in the epoch's order)"
        finite = "finite in float32" if self.dtype == np.float32 else "finite"
        if d.update:
            what = (f"the update of the batch that starts at {where} would leave parameters or optimiser "
                    f"state that are not {finite}; it was not applied")
        else:
            what = f"the loss is not {finite} at {where}; that batch's update was not applied"
        return DivergenceError(
            f"training diverged: {what}. The parameters and the optimiser state are those after the last "
            f"complete batch. Try a smaller lr.", epoch, sample, position, history, "update" if d.update else "loss")


def record_epoch(history, lr, t0, loss_sum, weight_sum, validation, model, bar, score=None) -> float:
    """An epoch's entries into ``history`` (the contract's epoch loss, its learning rate and wall time since ``t0``,
    the validation loss after it, and the validation score when ``score`` is given) and the bar's line; returns
    what the schedule and the stopping rules monitor (``History.monitored``'s last entry). ``MLP.fit``'s and
    ``fastmlp.distributed.fit``'s epochs both end here."""
    history.loss.append(loss_sum / weight_sum if weight_sum > 0 else 0.0)
    history.lr.append(lr)
    history.seconds.append(time.perf_counter() - t0)
    if validation is not None:
        history.val_loss.append(model.loss(*validation))
        if score is not None:
            history.val_score.append(float(score(model, *validation)))
    if bar is not None:
        bar.end_epoch(history.val_loss[-1] if validation is not None else None)
    return history.monitored[-1]


def _arrays():
    """The numpy path's whole-array maths (``backends.numpy.arrays``), imported on first use: importing that
    package loads Numba, which ``import fastmlp`` does not pay for."""
    return importlib.import_module(".backends.numpy.arrays", __package__)


def _name(callback) -> str:
    return getattr(callback, "__qualname__", None) or type(callback).__name__

"""Between epochs, in Python and the same for every path: learning-rate schedules and stopping rules.

``fit(schedule=...)`` takes a schedule object or its name; ``fit(stopping=...)`` a :class:`Stopping`.
Schedules (scikit-learn's meanings):

* ``constant``: ``lr`` every epoch;
* ``invscaling``: ``lr / (t + 1) ** power_t``, ``t`` the samples seen in this fit before the epoch;
* ``adaptive``: ``lr`` until the monitored loss has failed to improve by ``tol`` for more than
  ``n_iter_no_change`` epochs in a row, then ``lr / 5`` (and the count starts again); when that happens with the
  rate already at or below 1e-6, training stops instead (scikit-learn's rule).

Stopping: with ``n_iter_no_change`` set, training stops when the monitored loss (the validation loss when
there is validation data, the epoch's training loss otherwise) has not improved on its best by more than
``tol`` for more than ``n_iter_no_change`` consecutive epochs (scikit-learn's count). With ``wtol`` set it
also stops when no parameter moved by ``wtol`` or more over an epoch (the worked example's W_new ~ W_old).
``restore_best`` keeps the parameters of the epoch with the lowest validation loss and puts them back at
the end, whether stopping fired or not.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ._params import InvalidParameterError, Options, check, short

ADAPTIVE_MIN_LR = 1e-6
ADAPTIVE_FACTOR = 5.0
ADAPTIVE_PATIENCE = 10        # epochs, when the stopping rule does not set n_iter_no_change


@dataclass(frozen=True)
class Constant:
    """``lr`` every epoch."""


@dataclass(frozen=True)
class InvScaling:
    """``lr / (t + 1) ** power_t``, ``t`` the samples seen in this fit before the epoch."""

    power_t: float = 0.5

    def __post_init__(self):
        object.__setattr__(self, "power_t", check("power_t", self.power_t))


@dataclass(frozen=True)
class Adaptive:
    """``lr`` until the monitored loss has not improved by the stopping rule's ``tol`` for more than its
    ``n_iter_no_change`` epochs (10 when unset), then ``lr / 5``, or, with the rate already at or below 1e-6, a stop
    (scikit-learn's rule). It shares ``tol`` and ``n_iter_no_change`` with the stopping rule, as scikit-learn's
    does; while it is on, they lower the rate instead of stopping."""


@dataclass(frozen=True)
class Stopping:
    """When training stops before ``epochs`` (and what it keeps): scikit-learn's rules, one object.

    Parameters
    ----------
    n_iter_no_change : int >= 1, optional
        Stop when the monitored loss (the validation loss when there is validation data, the epoch's training
        loss otherwise) has not improved on its best by more than ``tol`` for more than this many epochs.
        ``None`` (default): this rule is off.
    tol : float >= 0
    wtol : float > 0, optional
        Stop when no parameter moved by ``wtol`` or more over an epoch (the worked example's ``W_new ~ W_old``).
    restore_best : bool
        Put back the parameters of the epoch with the lowest validation loss at the end (needs validation data).
    score : callable, optional
        ``score(model, X_val, y_val) -> float``, higher is better (needs validation data): monitored in place of the
        validation loss by these rules and by the adaptive schedule, and ``restore_best`` keeps the best-scoring
        epoch; ``History.val_score`` records it. scikit-learn's early stopping watches the validation accuracy
        (classifiers) or R² (regressors) this way.
    """

    n_iter_no_change: int | None = None
    tol: float = 1e-4
    wtol: float | None = None
    restore_best: bool = False
    score: object = None

    def __post_init__(self):
        for name in ("n_iter_no_change", "tol", "wtol", "restore_best", "score"):
            object.__setattr__(self, name, check(name, getattr(self, name)))


SCHEDULES = {"constant": Constant(), "invscaling": InvScaling(), "adaptive": Adaptive()}


def as_schedule(schedule) -> Constant | InvScaling | Adaptive:
    """``schedule`` as an object: a name from ``SCHEDULES`` or a schedule object itself."""
    if isinstance(schedule, (Constant, InvScaling, Adaptive)):
        return schedule
    if isinstance(schedule, str):
        return SCHEDULES[check("schedule", schedule, [Options(tuple(SCHEDULES))])]
    raise InvalidParameterError(f"schedule must be one of {', '.join(map(repr, SCHEDULES))} or a schedule object "
                                f"(fastmlp.schedule.InvScaling(power_t=...), ...), got {short(schedule)}")


def as_stopping(stopping) -> Stopping:
    """``stopping`` as a :class:`Stopping`: ``None`` is ``Stopping()`` (run every epoch)."""
    if stopping is None:
        return Stopping()
    if isinstance(stopping, Stopping):
        return stopping
    raise InvalidParameterError(f"stopping must be None or a fastmlp.schedule.Stopping(...), got {short(stopping)}")


class Plan:
    """The schedule and the stopping rules of one fit; fed each epoch's results, it says what comes next."""

    def __init__(self, lr, schedule=Constant(), stopping=Stopping()):
        self.lr0, self.lr = lr, lr
        self.schedule, self.stopping = schedule, stopping
        self.best = math.inf
        self.best_epoch = -1
        self.no_improvement = 0

    def lr_for_epoch(self, samples_seen: int) -> float:
        if isinstance(self.schedule, InvScaling):
            return self.lr0 / (samples_seen + 1) ** self.schedule.power_t
        return self.lr

    def after_epoch(self, epoch, monitored, max_change=None):
        """``(stop_reason or None, improved)`` after an epoch whose monitored loss is ``monitored`` (a score
        negated, with ``Stopping(score=...)``)."""
        tol, wtol = self.stopping.tol, self.stopping.wtol
        improved = monitored < self.best
        if monitored > self.best - tol:
            self.no_improvement += 1
        else:
            self.no_improvement = 0
        if improved:
            self.best, self.best_epoch = monitored, epoch
        if wtol is not None and max_change is not None and max_change < wtol:
            return f"wtol: no parameter moved by {wtol:g} or more in epoch {epoch}", improved
        patience = self.stopping.n_iter_no_change
        adaptive = isinstance(self.schedule, Adaptive)
        if adaptive and self.no_improvement > (ADAPTIVE_PATIENCE if patience is None else patience):
            if self.lr <= ADAPTIVE_MIN_LR:
                return (f"adaptive: the learning rate {self.lr:g} is at or below {ADAPTIVE_MIN_LR:g} after "
                        f"epoch {epoch}"), improved
            self.lr /= ADAPTIVE_FACTOR
            self.no_improvement = 0
        elif not adaptive and patience is not None and self.no_improvement > patience:
            best = f"best score {-self.best:.6g}" if self.stopping.score is not None else f"best {self.best:.6g}"
            return (f"no improvement by tol={tol:g} for {self.no_improvement} epochs "
                    f"({best} at epoch {self.best_epoch})"), improved
        return None, improved

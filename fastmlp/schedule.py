"""Between epochs, in Python and the same for every path: learning-rate schedules and stopping rules.

Schedules (scikit-learn's meanings):

* ``constant``: ``lr`` every epoch;
* ``invscaling``: ``lr / (t + 1) ** power_t``, ``t`` the samples seen in this fit before the epoch;
* ``adaptive``: ``lr`` until the monitored loss has failed to improve by ``tol`` for more than
  ``n_iter_no_change`` epochs in a row, then ``lr / 5`` (and the count starts again); training stops once
  the rate would fall below 1e-6.

Stopping: with ``n_iter_no_change`` set, training stops when the monitored loss (the validation loss when
there is validation data, the epoch's training loss otherwise) has not improved on its best by more than
``tol`` for more than ``n_iter_no_change`` consecutive epochs (scikit-learn's count). With ``wtol`` set it
also stops when no parameter moved by ``wtol`` or more over an epoch (the seed's W_new ~ W_old).
``restore_best`` keeps the parameters of the epoch with the lowest validation loss and puts them back at
the end, whether stopping fired or not.
"""
from __future__ import annotations

import math

SCHEDULES = ("constant", "invscaling", "adaptive")
ADAPTIVE_MIN_LR = 1e-6


class Plan:
    """The schedule and the stopping rules of one fit; fed each epoch's results, it says what comes next."""

    def __init__(self, lr, schedule="constant", power_t=0.5, tol=1e-4, n_iter_no_change=None, wtol=None):
        self.lr0, self.lr = lr, lr
        self.schedule, self.power_t, self.tol = schedule, power_t, tol
        self.n_iter_no_change, self.wtol = n_iter_no_change, wtol
        self.best = math.inf
        self.best_epoch = -1
        self.no_improvement = 0

    def lr_for_epoch(self, samples_seen: int) -> float:
        if self.schedule == "invscaling":
            return self.lr0 / (samples_seen + 1) ** self.power_t
        return self.lr

    def after_epoch(self, epoch, monitored, max_change=None):
        """``(stop_reason or None, improved)`` after an epoch whose monitored loss is ``monitored``."""
        improved = monitored < self.best
        if monitored > self.best - self.tol:
            self.no_improvement += 1
        else:
            self.no_improvement = 0
        if improved:
            self.best, self.best_epoch = monitored, epoch
        if self.wtol is not None and max_change is not None and max_change < self.wtol:
            return f"wtol: no parameter moved by {self.wtol:g} or more in epoch {epoch}", improved
        patience = self.n_iter_no_change
        if patience is not None or self.schedule == "adaptive":
            patience = 10 if patience is None else patience
            if self.no_improvement > patience:
                if self.schedule == "adaptive":
                    if self.lr / 5 < ADAPTIVE_MIN_LR:
                        return (f"adaptive: the learning rate would fall below {ADAPTIVE_MIN_LR:g} after "
                                f"epoch {epoch}"), improved
                    self.lr /= 5
                    self.no_improvement = 0
                elif self.n_iter_no_change is not None:
                    return (f"no improvement by tol={self.tol:g} for {self.no_improvement} epochs "
                            f"(best {self.best:.6g} at epoch {self.best_epoch})"), improved
        return None, improved

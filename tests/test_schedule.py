"""Learning-rate schedules and stopping rules: on crafted loss sequences, then through fit."""
import numpy as np
import pytest

import fastmlp
from fastmlp.schedule import Adaptive, InvScaling, Plan, Stopping


def feed(plan, losses):
    """Epoch at which the plan stops (or None) and the lr it gave each epoch."""
    lrs = []
    for epoch, loss in enumerate(losses):
        lrs.append(plan.lr_for_epoch(0))
        reason, _ = plan.after_epoch(epoch, loss)
        if reason:
            return epoch, lrs, reason
    return None, lrs, None


def test_stops_after_more_than_n_iter_no_change_epochs_without_improvement():
    # improvement must beat the best by more than tol; the count must exceed n_iter_no_change (scikit-learn)
    patience_2 = Stopping(tol=0.01, n_iter_no_change=2)
    stop, _, reason = feed(Plan(0.1, stopping=patience_2), [1.0, 0.5, 0.499, 0.498, 0.497, 0.1])
    assert stop == 4 and "for 3 epochs" in reason and "best 0.497 at epoch 4" in reason
    stop, _, _ = feed(Plan(0.1, stopping=patience_2), [1.0, 0.5, 0.499, 0.48, 0.479, 0.478, 0.477])
    assert stop == 6                       # 0.48 improved by more than tol: the count started again
    stop, _, _ = feed(Plan(0.1, stopping=Stopping(tol=0.01)), [1.0] * 30)
    assert stop is None                    # n_iter_no_change=None: no stopping


def test_adaptive_divides_by_five_and_stops_at_or_below_1e_6():
    patience_1 = Stopping(tol=0.01, n_iter_no_change=1)
    stop, lrs, _ = feed(Plan(0.1, Adaptive(), patience_1), [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5])
    assert lrs == pytest.approx([0.1, 0.1, 0.1, 0.02, 0.02, 0.004, 0.004])
    assert stop is None
    stop, lrs, reason = feed(Plan(1e-5, Adaptive(), Stopping(tol=0.01, n_iter_no_change=1)), [1.0] * 10)
    # scikit-learn's rule: divided while above 1e-6 (so the last rate is below it), then a stop
    assert lrs == pytest.approx([1e-5, 1e-5, 1e-5, 2e-6, 2e-6, 4e-7, 4e-7])
    assert stop == 6 and "4e-07 is at or below 1e-06" in reason


def test_invscaling():
    plan = Plan(0.1, InvScaling(power_t=0.5))
    assert plan.lr_for_epoch(0) == 0.1 and plan.lr_for_epoch(99) == pytest.approx(0.01)


def test_wtol_stops_when_nothing_moves():
    plan = Plan(0.1, stopping=Stopping(wtol=1e-3))
    assert plan.after_epoch(0, 1.0, max_change=0.5)[0] is None
    assert "wtol" in plan.after_epoch(1, 0.9, max_change=1e-4)[0]


X, Y = fastmlp.datasets.placement(200, seed=3)


def test_fit_stops_on_training_loss_and_records_history():
    net = fastmlp.MLP([2, 2, 1], activation="identity", seed=0)
    h = net.fit(X, Y, epochs=50, lr=1e-9, stopping=Stopping(n_iter_no_change=3, tol=1e-3))
    # epoch 0 sets the best; epochs 1-4 fail to beat it by tol; the 4th such (> 3) stops it
    assert h.epochs == 5 and "no improvement by tol=0.001 for 4 epochs" in h.stop_reason
    assert h.lr == [1e-9] * 5 and h.val_loss == [] and len(h.seconds) == 5
    h = fastmlp.MLP([2, 2, 1], seed=0).fit(X, Y, epochs=3, lr=0.1, schedule=InvScaling(power_t=0.5))
    assert h.lr == pytest.approx([0.1, 0.1 / 201 ** 0.5, 0.1 / 401 ** 0.5])
    assert h.stop_reason == "epochs: all 3 run"


def test_wtol_through_fit():
    h = fastmlp.MLP([2, 2, 1], seed=0).fit(X, Y, epochs=20, lr=1e-9, stopping=Stopping(wtol=1e-6))
    assert h.epochs == 1 and "wtol" in h.stop_reason


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_restore_best_puts_back_the_best_validation_epoch(backend):
    # validation data from another relation: the validation loss turns up while training goes on
    Xv, Yv = X[:50], 1.5 - Y[:50]
    net = fastmlp.MLP([2, 3, 1], activation="tanh", seed=0)
    h = net.fit(X, Y, epochs=12, lr=0.05, seed=1, validation_data=(Xv, Yv), stopping=Stopping(restore_best=True),
                backend=backend)
    assert h.epochs == 12 and len(h.val_loss) == 12
    assert h.best_epoch == int(np.argmin(h.val_loss)) and 0 < h.best_epoch < 11
    again = fastmlp.MLP([2, 3, 1], activation="tanh", seed=0)
    again.fit(X, Y, epochs=h.best_epoch + 1, lr=0.05, seed=1, backend=backend)
    np.testing.assert_array_equal(net.params, again.params)
    assert net.loss(Xv, Yv) == pytest.approx(min(h.val_loss), rel=1e-12)


@pytest.mark.parametrize("backend", ["numba", "numpy", "reference"])
def test_a_score_is_watched_in_place_of_the_validation_loss(backend):
    """``Stopping(score=...)``: the rules and ``restore_best`` follow the score (higher is better), which here
    rewards a validation loss that grows, so the best-scoring epoch is the last and the loss's best is not."""
    Xv, Yv = X[:50], 1.5 - Y[:50]
    net = fastmlp.MLP([2, 3, 1], activation="tanh", seed=0)
    stopping = Stopping(restore_best=True, n_iter_no_change=2, tol=0.0, score=lambda m, Xs, Ys: m.loss(Xs, Ys))
    h = net.fit(X[:100], Y[:100], epochs=8, lr=0.05, seed=1, validation_data=(Xv, Yv), stopping=stopping,
                backend=backend)
    assert h.val_score == h.val_loss and h.monitored == [-s for s in h.val_score]
    assert h.best_epoch == int(np.argmax(h.val_score)) != int(np.argmin(h.val_loss))
    np.testing.assert_allclose(net.loss(Xv, Yv), max(h.val_score), rtol=1e-12)
    assert h.epochs == 8 or "best score" in h.stop_reason


def test_a_score_needs_validation_data_and_a_callable():
    net = fastmlp.MLP([2, 3, 1], seed=0)
    with pytest.raises(ValueError, match=r"Stopping\(score=.*needs validation data"):
        net.fit(X, Y, stopping=Stopping(score=lambda m, Xs, Ys: 0.0))
    with pytest.raises(TypeError, match=r"score must be callable as score\(model, X_val, y_val\)"):
        Stopping(score="accuracy")


def test_validation_fraction_holds_out_rows():
    net = fastmlp.MLP([2, 3, 1], seed=0)
    h = net.fit(X, Y, epochs=2, lr=0.05, seed=4, validation_fraction=0.25, stopping=Stopping(n_iter_no_change=5))
    assert len(h.val_loss) == 2
    other = fastmlp.MLP([2, 3, 1], seed=0)
    assert other.fit(X, Y, epochs=2, lr=0.05, seed=4, validation_fraction=0.25).val_loss == h.val_loss


@pytest.mark.parametrize("kwargs,exc,match", [
    (lambda: dict(schedule="cosine"), ValueError, "schedule must be one of"),
    (lambda: dict(schedule=0.5), TypeError, "schedule must be one of .* or a schedule object"),
    (lambda: dict(schedule=InvScaling(power_t=-1)), ValueError, "power_t must be a finite number >= 0"),
    (lambda: dict(stopping=Stopping(tol=float("nan"))), ValueError, "tol must be a finite number >= 0"),
    (lambda: dict(stopping=Stopping(n_iter_no_change=0)), ValueError, "n_iter_no_change must be >= 1"),
    (lambda: dict(stopping=Stopping(wtol=0)), ValueError, "wtol must be a finite number > 0"),
    (lambda: dict(stopping=Stopping(restore_best=1)), TypeError, "restore_best must be True or False"),
    (lambda: dict(stopping={"tol": 1.0}), TypeError, "stopping must be None or a fastmlp.schedule.Stopping"),
    (lambda: dict(stopping=Stopping(restore_best=True)), ValueError, "restore_best=True.* needs validation data"),
    (lambda: dict(validation_fraction=1.0), ValueError, r"validation_fraction must be a number in \(0, 1\)"),
    (lambda: dict(validation_fraction=0.2, validation_data=(X, Y)), ValueError, "not both"),
    (lambda: dict(validation_data=(X[:, :1], Y)), ValueError, r"validation_data\[0\] must have 2 columns"),
])
def test_bad_settings(kwargs, exc, match):
    net = fastmlp.MLP([2, 3, 1], seed=0)
    before = net.params.copy()
    with pytest.raises(exc, match=match):
        net.fit(X, Y, **kwargs())
    np.testing.assert_array_equal(net.params, before)


def test_schedule_names_are_shorthands_for_the_objects():
    runs = [fastmlp.MLP([2, 3, 1], seed=0).fit(X, Y, epochs=3, lr=0.1, seed=1, schedule=schedule).lr
            for schedule in ("invscaling", InvScaling(power_t=0.5), InvScaling(power_t=0.25))]
    assert runs[0] == runs[1] != runs[2]

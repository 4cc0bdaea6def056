"""Ctrl-C and concurrent use: the contract's rules, tested from outside the training process.

A parent process sends SIGINT to a child in the middle of a long fit and measures, on the machine's monotonic
clock (shared by all processes), how long the ``KeyboardInterrupt`` took to reach the child's caller. A timer
thread inside the training process could not measure this: it cannot run while a compiled kernel holds the
GIL, so such a test would pass without measuring anything.
"""
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from signals import SigintInFinaliser

import fastmlp
from fastmlp import _guard

from conftest import script_env

pytestmark = pytest.mark.usefixtures("quiet_machine")        # the lags are measured without a compile beside them

CHILD = Path(__file__).with_name("interrupt_child.py")
MAX_LAG = 0.2          # seconds from SIGINT to KeyboardInterrupt in the caller (issue 13)


def _interrupt(backend, batch_size, optimizer, source, rows, delay=0.3):
    env = {**script_env(), "PYTHONUNBUFFERED": "1"}          # the child imports the fastmlp these tests import
    child = subprocess.Popen([sys.executable, str(CHILD), backend, str(batch_size), optimizer, source, str(rows)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = child.stdout.readline()
        assert line.strip() == "training", f"child did not start: {line!r} {child.stderr.read()}"
        time.sleep(delay)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert "error" not in report, report["error"]
    report["lag"] = report["caught"] - sent
    return report


# The SIGINT comes 0.3 s after the fit starts (every second of it is paid twice: the child replays it). With 2**18
# rows that is within the first epoch; with 2**12, many epochs in, so the replay runs whole epochs before the rest.
LONG, SHORT = 1 << 18, 1 << 12
CASES = [
    ("numba", 1, "sgd", "memory", SHORT),
    ("numba", 8, "adam", "memory", LONG),
    ("numba", 1, "momentum", "memmap", LONG),
    ("numba", 1, "sgd", "folder", LONG),
    ("numba:2", 1, "adam", "memory", LONG),     # the threaded per-sample kernel
    ("numba:2", 1, "sgd", "memmap", SHORT),
    ("numpy", 32, "momentum", "memory", SHORT),
    ("numpy", 16, "sgd", "memmap", LONG),
    ("reference", 1, "momentum", "memory", LONG),
    ("reference", 4, "sgd", "memmap", LONG),
]


@pytest.mark.parametrize("backend, batch_size, optimizer, source, rows", CASES)
def test_ctrl_c_reaches_the_caller_promptly_after_a_complete_batch(backend, batch_size, optimizer, source, rows):
    report = _interrupt(backend, batch_size, optimizer, source, rows)
    assert report["updates"] > 0
    if rows == SHORT:
        assert report["updates"] * batch_size > rows, "interrupted within the first epoch: no whole epoch replayed"
    assert report["lag"] < MAX_LAG, f"KeyboardInterrupt arrived {report['lag']:.3f} s after SIGINT"
    assert report["finite"]
    assert report["same_as_replay"], ("the parameters or optimiser state are not those after the last complete "
                                      "batch (a replay of as many batches differs)")
    assert np.isfinite(report["next_fit_loss"])


# --- one model, one caller ----------------------------------------------------------------------------------

def _long_fit_in_thread(net, X, y, started, errors):
    def run():
        try:
            started.set()
            net.fit(X, y, epochs=30, lr=1e-3, backend="numba")
        except Exception as e:         # noqa: BLE001 - reported to the test
            errors.append(e)
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_second_fit_of_a_model_in_training_is_refused():
    X, y = fastmlp.datasets.teacher(200_000, [4, 64, 1], seed=0, dtype="float64")
    net = fastmlp.MLP([4, 64, 1], seed=0)
    net.fit(X[:10], y[:10])                                   # compiled before the race
    started, errors = threading.Event(), []
    thread = _long_fit_in_thread(net, X, y, started, errors)
    started.wait()
    time.sleep(0.2)
    try:
        with pytest.raises(RuntimeError, match="already being trained"):
            net.fit(X[:10], y[:10])
    finally:
        thread.join()
    assert not errors
    # and once it is done, the model trains again
    net.fit(X[:10], y[:10])


def test_different_models_train_in_parallel():
    X, y = fastmlp.datasets.teacher(50_000, [4, 64, 1], seed=0, dtype="float64")
    nets = [fastmlp.MLP([4, 64, 1], seed=0) for _ in range(2)]
    errors = []
    threads = [threading.Thread(target=lambda net=net: net.fit(X, y, epochs=3, lr=1e-3, shuffle=False))
               for net in nets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    np.testing.assert_array_equal(nets[0].params, nets[1].params)


def test_a_callback_cannot_fit_its_own_model():
    X, y = fastmlp.datasets.placement(50, seed=0)
    net = fastmlp.MLP([2, 2, 1], seed=0)
    with pytest.raises(RuntimeError, match="already being trained"):
        net.fit(X, y, callbacks=[lambda epoch, history, model: model.fit(X, y)])


def test_estimators_refuse_a_second_fit_while_training():
    pytest.importorskip("sklearn")
    X, y = fastmlp.datasets.teacher(400_000, [4, 64, 1], seed=0, dtype="float64")
    est = fastmlp.MLPRegressor(hidden_layer_sizes=(64,), solver="adam", batch_size=1, max_iter=5,
                               learning_rate_init=1e-4, random_state=0)
    est.partial_fit(X[:10], y[:10].ravel())
    errors, started = [], threading.Event()

    def run():
        started.set()
        try:
            est.partial_fit(X, y.ravel())
        except Exception as e:         # noqa: BLE001
            errors.append(e)
    thread = threading.Thread(target=run)
    thread.start()
    started.wait()
    time.sleep(0.1)
    try:
        with pytest.raises(RuntimeError, match="already being trained"):
            est.fit(X[:10], y[:10].ravel())
    finally:
        thread.join()
    assert not errors


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_ctrl_c_swallowed_by_a_finaliser_is_raised_at_the_next_safe_point():
    # Ctrl-C raised at once (a wait, a batch too long to wait for) but inside a ``__del__``: Python drops the
    # KeyboardInterrupt; the guard still holds it and the next check raises it.
    with _guard.Interrupt() as interrupt:
        interrupt.defer = False
        SigintInFinaliser()
        assert interrupt.pending
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()

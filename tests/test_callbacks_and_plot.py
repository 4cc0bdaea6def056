"""Callbacks after every epoch, the progress bar and History.plot."""
import sys

import numpy as np
import pytest

import fastmlp
from fastmlp import _progress
from fastmlp.schedule import Stopping


def _data(n=200, seed=0):
    return fastmlp.datasets.placement(n, seed=seed)


def test_callbacks_see_every_epoch_and_one_can_stop():
    X, y = _data()
    net = fastmlp.MLP([2, 2, 1], activation="identity", seed=0)
    calls = []

    def record(epoch, history, model):
        calls.append((epoch, history.epochs, model is net, model.params.copy()))

    def stop_at_three(epoch, history, model):
        return epoch == 3

    history = net.fit(X, y, epochs=10, lr=0.01, callbacks=[record, stop_at_three], seed=0)
    assert [c[:3] for c in calls] == [(e, e + 1, True) for e in range(4)]
    assert history.epochs == 4 and "stop_at_three" in history.stop_reason
    assert np.array_equal(calls[-1][3], net.params)            # called with the epoch's parameters in place
    again = fastmlp.MLP([2, 2, 1], activation="identity", seed=0)
    again.fit(X, y, epochs=4, lr=0.01, seed=0)
    assert again.params.tobytes() == net.params.tobytes()       # stopping did not change what was computed


@pytest.mark.parametrize("bad, match", [(print, "callbacks must be a list"), ([1], r"callbacks\[0\] must be callable")])
def test_bad_callbacks_are_refused_before_training(bad, match):
    X, y = _data()
    net = fastmlp.MLP([2, 2, 1], seed=0)
    before = net.params.copy()
    with pytest.raises(TypeError, match=match):
        net.fit(X, y, callbacks=bad)
    assert np.array_equal(net.params, before)


def test_a_failing_callback_propagates_with_the_epoch_in_place():
    X, y = _data()
    net = fastmlp.MLP([2, 2, 1], seed=0)

    def boom(epoch, history, model):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        net.fit(X, y, epochs=3, lr=0.01, callbacks=[boom], seed=0)
    one = fastmlp.MLP([2, 2, 1], seed=0)
    one.fit(X, y, epochs=1, lr=0.01, seed=0)
    assert one.params.tobytes() == net.params.tobytes()


@pytest.mark.parametrize("with_tqdm", [True, False])
def test_progress_shows_epoch_rate_and_loss(capsys, monkeypatch, with_tqdm):
    if with_tqdm:
        pytest.importorskip("tqdm")
    else:
        monkeypatch.setitem(sys.modules, "tqdm", None)
        monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    X, y = _data()
    net = fastmlp.MLP([2, 2, 1], activation="identity", seed=0)
    net.fit(X, y, epochs=3, lr=0.01, progress=True, validation_fraction=0.2, seed=0)
    err = capsys.readouterr().err
    assert "epoch 3/3" in err and "loss" in err and "val_loss" in err
    assert ("samples/s" in err) if with_tqdm else ("samples/s" in err and "[" in err)
    net.fit(X, y, epochs=2, lr=0.01, seed=0)
    assert capsys.readouterr().err == ""                      # off by default


def test_plain_progress_line():
    line = _progress.bar_line(50, 200, "samples")
    assert "25%" in line and "50/200" in line and line.count("#") == _progress.WIDTH // 4


def test_history_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    X, y = _data()
    net = fastmlp.MLP([2, 4, 1], activation="tanh", seed=0)
    history = net.fit(X, y, epochs=8, lr=0.01, validation_fraction=0.25,
                      stopping=Stopping(restore_best=True), seed=0)
    path = history.plot(tmp_path / "loss.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    fig = history.plot()
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert np.allclose(lines[0].get_ydata(), history.loss) and np.allclose(lines[1].get_ydata(), history.val_loss)
    with pytest.raises(ValueError, match="history is empty"):
        fastmlp.History().plot()

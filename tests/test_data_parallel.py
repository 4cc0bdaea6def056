"""``fastmlp.distributed``: local SGD with parameter averaging on a dask cluster of worker processes.

The round rule (the module's notes, ``docs/contract.md``) is written out here a second time with ``MLP.fit``
(:func:`by_hand`): each partition's rows of the round trained by ``MLP.fit`` from the round's start, then the
weighted average. Every test compares the cluster's result with it, bit for bit, on every path and both kernel
styles. Needs the ``distributed`` extra; skips cleanly without it.
"""
import copy
import os
import signal
import threading
import time

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="needs the distributed extra: pip install 'fastmlp[distributed]'")
distributed = pytest.importorskip("distributed", reason="needs the distributed extra")

from signals import SigintInFinaliser  # noqa: E402

import fastmlp  # noqa: E402
from fastmlp import MLP, DivergenceError  # noqa: E402
from fastmlp import distributed as fd  # noqa: E402
from fastmlp._params import InvalidParameterError  # noqa: E402
from fastmlp.backends.numba import style_for  # noqa: E402

# (layer sizes, activation): the worked example's network (the generated scalar kernels with plain SGD) and one
# the loop kernels train
NETS = {"worked-example": ([2, 2, 1], "identity"), "loop": ([3, 8, 2], "tanh")}
PATHS = [("numba", 1), ("numpy", 4), ("reference", 1)]


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


def data(layers, n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, layers[0]))
    Y = np.tanh(X @ rng.normal(size=(layers[0], layers[-1]))) + 0.1 * rng.normal(size=(n, layers[-1]))
    return X, Y


def as_dask(X, Y, chunks=17):
    return da.from_array(X, chunks=(chunks, X.shape[1])), da.from_array(Y, chunks=(chunks, Y.shape[1]))


def by_hand(net, X, Y, *, partitions, sync_every, seed, epochs, lr, batch_size=1, optimizer="sgd", backend=None):
    """The round rule with ``MLP.fit``: trains ``net`` in place; returns the parameters after every round (the
    start first) and the epochs' losses."""
    n = X.shape[0]
    snapshots, losses = [net.params.copy()], []
    for epoch in range(epochs):
        orders = [fd.partition_order(n, partitions, p, seed=seed, epoch=epoch) for p in range(partitions)]
        S = sync_every if sync_every != "epoch" else max(len(o) for o in orders)
        loss_sum = rows_sum = 0.0
        for r in range(-(-max(len(o) for o in orders) // S)):
            trained = []
            for order in orders:
                rows = order[r * S:(r + 1) * S]
                if len(rows):
                    local = copy.deepcopy(net)
                    h = local.fit(X[rows], Y[rows], shuffle=False, lr=lr, batch_size=batch_size, optimizer=optimizer,
                                  backend=backend)
                    trained.append((len(rows), local))
                    loss_sum, rows_sum = loss_sum + h.loss[0] * len(rows), rows_sum + len(rows)
            total = sum(k for k, _ in trained)
            start_t = net.optimizer_state.t[0] if net.optimizer_state is not None else 0
            if net.optimizer_state is None:
                net.optimizer_state = copy.deepcopy(trained[0][1].optimizer_state)
            for name in ("params", "m", "v"):
                target = net.params if name == "params" else getattr(net.optimizer_state, name)
                if target.size:
                    acc = np.zeros(target.shape)
                    for k, local in trained:
                        acc += (k / total) * getattr(local if name == "params" else local.optimizer_state,
                                                     name).astype(np.float64)
                    target[...] = acc
            net.optimizer_state.t[0] = start_t + max(local.optimizer_state.t[0] - start_t for _, local in trained)
            snapshots.append(net.params.copy())
        losses.append(loss_sum / rows_sum)
    return snapshots, losses


@pytest.mark.parametrize("backend, batch_size", PATHS)
@pytest.mark.parametrize("net_name", list(NETS))
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_every_round_is_the_rule_written_out_with_mlp_fit(client, backend, batch_size, net_name, optimizer):
    layers, activation = NETS[net_name]
    X, Y = data(layers, 61)
    net, expected = MLP(layers, activation=activation, seed=3), MLP(layers, activation=activation, seed=3)
    kw = dict(epochs=2, lr=0.05, batch_size=batch_size, optimizer=optimizer, backend=backend)
    h = fd.fit(net, as_dask(X, Y), client, sync_every=8 * batch_size, partitions=3, seed=11, **kw)
    snapshots, losses = by_hand(expected, X, Y, partitions=3, sync_every=8 * batch_size, seed=11, **kw)
    assert net.params.tobytes() == expected.params.tobytes()
    for name in ("m", "v", "t"):
        assert getattr(net.optimizer_state, name).tobytes() == getattr(expected.optimizer_state, name).tobytes()
    assert h.loss == pytest.approx(losses, rel=1e-12)
    assert h.partitions == 3 and h.rounds == [len(snapshots) // 2] * 2 and h.backend == backend
    if backend == "numba" and optimizer == "sgd":        # both kernel styles are exercised
        assert style_for(net.spec) == ("scalar" if net_name == "worked-example" else "loop")


def test_one_partition_is_mlp_fit_on_its_order(client):
    layers, activation = NETS["loop"]
    X, Y = data(layers, 200)
    net, serial = MLP(layers, activation=activation, seed=0), MLP(layers, activation=activation, seed=0)
    fd.fit(net, as_dask(X, Y), client, epochs=3, sync_every="epoch", partitions=1, seed=4, lr=0.05, optimizer="adam")
    for epoch in range(3):
        order = fd.partition_order(200, 1, 0, seed=4, epoch=epoch)
        serial.fit(X[order], Y[order], shuffle=False, lr=0.05, optimizer="adam")
    assert net.params.tobytes() == serial.params.tobytes()


def test_the_result_depends_on_the_partitions_not_on_the_cluster_nor_the_data_form(client, tmp_path):
    """The same bits from a data-set folder and from dask arrays of its rows, on two worker processes and on one
    in-process worker, run after run; other partitions give other bits."""
    layers = [4, 8, 1]
    fastmlp.datasets.write(tmp_path / "d", 3001, layers, seed=2, dtype="float64")
    X, y = fastmlp.datasets.teacher(3001, layers, seed=2, dtype="float64")
    kw = dict(epochs=2, sync_every=250, partitions=3, seed=9, lr=0.02, chunk_rows=400)

    def run(source, cl):
        net = MLP(layers, activation="tanh", seed=1)
        fd.fit(net, source, cl, **kw)
        return net.params.tobytes()

    first = run(tmp_path / "d", client)
    assert run(tmp_path / "d", client) == first
    assert run(as_dask(X, y.reshape(-1, 1), chunks=500), client) == first
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0") as one:
        assert run(str(tmp_path / "d"), one) == first
    assert run(tmp_path / "d", None) == first           # a local cluster of its own, one worker process per core
    kw["partitions"] = 2
    assert run(tmp_path / "d", client) != first


def test_a_killed_worker_changes_nothing(tmp_path):
    """A worker process killed (SIGKILL) while it trains a partition: dask reruns the task and the fit ends with
    the bits of an undisturbed run."""
    layers = [16, 96, 96, 1]
    fastmlp.datasets.write(tmp_path / "d", 4 * 30_000, layers, seed=0, dtype="float64")
    kw = dict(epochs=1, sync_every=30_000, partitions=2, seed=5, lr=0.001)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as cl:
        undisturbed = MLP(layers, activation="tanh", seed=0)
        fd.fit(undisturbed, tmp_path / "d", cl, **kw)
        pids = cl.run(os.getpid)
        killed = []

        def kill_one_in_round_one():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not killed:
                for address, keys in cl.processing().items():
                    if any("-r1-" in str(key) for key in keys):
                        os.kill(pids[address], signal.SIGKILL)
                        killed.append(address)
                        return
                time.sleep(0.002)

        killer = threading.Thread(target=kill_one_in_round_one)
        killer.start()
        net = MLP(layers, activation="tanh", seed=0)
        fd.fit(net, tmp_path / "d", cl, **kw)
        killer.join()
        assert killed, "no round-1 task was seen running"
        assert net.params.tobytes() == undisturbed.params.tobytes()


@pytest.mark.parametrize("backend, batch_size", PATHS)
@pytest.mark.parametrize("net_name", list(NETS))
def test_divergence_names_the_partition_and_row_and_keeps_the_last_round(client, backend, batch_size, net_name):
    layers, activation = NETS[net_name]
    X, Y = data(layers, 80)
    S = 5 * batch_size
    order = fd.partition_order(80, 2, 1, seed=3, epoch=0)
    bad = int(order[S + 2])                                  # partition 1, second round
    Y[bad] = 1e300                                           # finite, but its squared error is not
    net = MLP(layers, activation=activation, seed=0)
    kw = dict(lr=0.05, batch_size=batch_size, backend=backend)
    with pytest.raises(DivergenceError) as info:
        fd.fit(net, as_dask(X, Y), client, epochs=1, sync_every=S, partitions=2, seed=3, **kw)
    e = info.value
    assert (e.partition, e.row, e.position, e.epoch, e.reason) == (1, bad, S + 2, 0, "loss")
    assert "partition 1" in str(e) and f"row {bad}" in str(e)
    first_round = MLP(layers, activation=activation, seed=0)
    expected, _ = by_hand(first_round, X, _clean(Y, bad), partitions=2, sync_every=S, seed=3, epochs=1, **kw)
    assert net.params.tobytes() == expected[1].tobytes()        # after round 0, the last one completed


def _clean(Y, row):
    Y = Y.copy()
    Y[row] = 0.0
    return Y


def test_ctrl_c_leaves_the_parameters_of_the_last_completed_round(client):
    layers, activation = NETS["loop"]
    X, Y = data(layers, 4000)
    kw = dict(partitions=2, sync_every=20, seed=1, lr=0.01)
    net = MLP(layers, activation=activation, seed=0)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            fd.fit(net, as_dask(X, Y, chunks=500), client, epochs=20, **kw)
    finally:
        timer.cancel()
    snapshots, _ = by_hand(MLP(layers, activation=activation, seed=0), X, Y, epochs=1, **kw)
    completed = [k for k, s in enumerate(snapshots) if s.tobytes() == net.params.tobytes()]
    assert completed, "the parameters are not those after any round"
    # the model trains on afterwards, on the same cluster
    fd.fit(net, as_dask(X, Y, chunks=500), client, epochs=1, **kw)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("when", ["while waiting for a round", "in a callback"])
def test_a_ctrl_c_is_not_lost_in_a_finaliser_nor_in_a_callback(client, monkeypatch, when):
    layers, activation = NETS["loop"]
    X, Y = data(layers, 400)
    kw = dict(partitions=2, sync_every=20, seed=1, lr=0.01)
    gathers, real_gather = [], client.gather

    def gather(futures):
        gathers.append(len(futures))
        if len(gathers) == 3 and when == "while waiting for a round":
            SigintInFinaliser()             # dropped at once: its finaliser runs here
        return real_gather(futures)

    def callback(epoch, history, model):
        if when == "in a callback":
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)

    monkeypatch.setattr(client, "gather", gather)
    net = MLP(layers, activation=activation, seed=0)
    with pytest.raises(KeyboardInterrupt):
        fd.fit(net, as_dask(X, Y), client, epochs=3, callbacks=[callback], **kw)
    snapshots, _ = by_hand(MLP(layers, activation=activation, seed=0), X, Y, epochs=1, **kw)
    # the round whose wait the Ctrl-C fell in is not averaged in; a Ctrl-C in a callback stops before the next round
    done = 2 if when == "while waiting for a round" else len(snapshots) - 1
    assert len(gathers) == done + 1 if when == "while waiting for a round" else len(gathers) == done
    assert net.params.tobytes() == snapshots[done].tobytes()


def test_validation_stopping_and_callbacks_as_mlp_fit_has_them(client):
    layers, activation = NETS["loop"]
    X, Y = data(layers, 400)
    X_val, Y_val = data(layers, 100, seed=1)
    seen = []
    net = MLP(layers, activation=activation, seed=0)
    h = fd.fit(net, as_dask(X, Y), client, epochs=30, partitions=2, sync_every=40, seed=0, lr=0.05,
               validation_data=(X_val, Y_val), schedule="adaptive",
               stopping=fastmlp.schedule.Stopping(n_iter_no_change=2, tol=1e-3, restore_best=True),
               callbacks=[lambda epoch, history, model: seen.append((epoch, len(history.loss)))])
    assert seen == [(e, e + 1) for e in range(h.epochs)]
    assert len(h.val_loss) == h.epochs and h.best_epoch == int(np.argmin(h.val_loss))
    assert net.loss(X_val, Y_val) == pytest.approx(min(h.val_loss), rel=1e-12)
    # a callback that trains the same model is refused: one caller trains a model at a time
    with pytest.raises(RuntimeError, match="already being trained"):
        fd.fit(net, as_dask(X, Y), client, epochs=1, partitions=2, seed=0,
               callbacks=[lambda epoch, history, model: model.fit(X, Y)])


def test_a_validation_score_is_watched_as_mlp_fit_watches_it(client):
    """``Stopping(score=...)`` on the data-parallel loop: recorded per epoch, the best-scoring epoch kept (a score
    that rewards a rising validation loss, so its best is not the loss's); refused without validation data."""
    layers, activation = NETS["loop"]
    X, Y = data(layers, 400)
    X_val, Y_val = 1.5 - X[:100], Y[:100]
    net = MLP(layers, activation=activation, seed=0)
    stopping = fastmlp.schedule.Stopping(restore_best=True, score=lambda m, Xs, Ys: m.loss(Xs, Ys))
    h = fd.fit(net, as_dask(X, Y), client, epochs=6, partitions=2, sync_every=40, seed=0, lr=0.05,
               validation_data=(X_val, Y_val), stopping=stopping)
    assert h.val_score == h.val_loss and len(h.val_score) == h.epochs == 6
    assert h.best_epoch == int(np.argmax(h.val_score))
    assert net.loss(X_val, Y_val) == pytest.approx(max(h.val_score), rel=1e-12)
    with pytest.raises(ValueError, match=r"Stopping\(score=.*needs validation data \(validation_data\)"):
        fd.fit(MLP(layers, activation=activation, seed=0), as_dask(X, Y), client, epochs=1, partitions=2,
               stopping=fastmlp.schedule.Stopping(score=stopping.score))


@pytest.mark.parametrize("kwargs, match", [
    (dict(partitions=0), "partitions must be >= 1"),
    (dict(partitions=2.0), "partitions must be an integer"),
    (dict(partitions=1000), "partitions must be at most the number of rows"),
    (dict(sync_every=0), "sync_every must be >= 1"),
    (dict(sync_every="round"), "sync_every must be"),
    (dict(sync_every=6, batch_size=4), "sync_every must be a multiple of batch_size"),
    (dict(epochs=0), "epochs must be >= 1"),
    (dict(lr=-1.0), "lr must be"),
    (dict(client="tcp://127.0.0.1:1"), "client must be a dask.distributed.Client"),
    (dict(data="numpy"), "X must be a dask array"),
    (dict(data="pair"), "data must be a data-set folder"),
    (dict(data="wide"), r"data: X must have shape \(n_samples, 3\)"),
    (dict(data="nan"), r"X \(rows 100..199\)"),      # found on a worker, before any round
])
def test_bad_arguments_are_refused_before_any_work_and_leave_the_model_as_it_was(client, kwargs, match):
    layers, activation = NETS["loop"]
    X, Y = data(layers, 200)
    kwargs = dict(kwargs)
    X_nan = X.copy()
    X_nan[150, 1] = np.nan
    source = {"numpy": (X, Y), "pair": X, "wide": as_dask(np.ones((200, 4)), Y), "nan": as_dask(X_nan, Y),
              None: as_dask(X, Y)}[kwargs.pop("data", None)]
    cl = kwargs.pop("client", client)
    net = MLP(layers, activation=activation, seed=0)
    before, rng_before = net.params.copy(), net.rng.bit_generator.state
    with pytest.raises((InvalidParameterError, ValueError, TypeError), match=match):
        fd.fit(net, source, cl, **{"partitions": 2, **kwargs})
    assert net.params.tobytes() == before.tobytes() and net.optimizer_state is None
    assert net.rng.bit_generator.state == rng_before


# --- the estimators' data_parallel option ---------------------------------------------------------------------

def test_a_pipeline_of_dask_ml_and_the_regressor_trains_data_parallel_through_fastmlp_distributed(client):
    preprocessing = pytest.importorskip("dask_ml.preprocessing", reason="needs dask-ml (the distributed extra)")
    from sklearn.pipeline import Pipeline

    from fastmlp import MLPRegressor
    from fastmlp.optim import Adam
    from fastmlp.schedule import Constant, Stopping
    X, Y = data([5, 1], 3000, seed=4)
    Xd, yd = da.from_array(X * 10 + 3, chunks=(700, 5)), da.from_array(Y[:, 0], chunks=700)
    est = MLPRegressor(hidden_layer_sizes=(16,), batch_size=10, learning_rate_init=0.003, max_iter=3,
                       random_state=0, data_parallel={"partitions": 2, "sync_every": 495})
    pipe = Pipeline([("scale", preprocessing.StandardScaler()), ("mlp", est)])
    with client.as_current(), pytest.warns(fastmlp.estimators.ConvergenceWarning):
        pipe.fit(Xd, yd)
    fitted = pipe.named_steps["mlp"]
    # the same call by hand: the scaled arrays, the estimator's options in the contract's units (squared error is
    # half the contract's mse: c = 1/2, so l2 = alpha / c, eps / c, and tol in the mse's units), sync_every rounded
    # up to whole batches
    Xs = preprocessing.StandardScaler().fit_transform(Xd)
    net = MLP([5, 16, 1], activation="relu", seed=0)
    net.params[...] = est._new_net(5, 1, "mse", np.float64).params        # scikit-learn's draw, as the estimator's
    h = fd.fit(net, (Xs, yd.reshape(-1, 1)), client, epochs=3, sync_every=500, partitions=2, lr=0.003, batch_size=10,
               optimizer=Adam(l2=2e-4, eps=2e-8), schedule=Constant(),
               stopping=Stopping(n_iter_no_change=10, tol=2e-4))
    assert fitted.net_.params.tobytes() == net.params.tobytes()
    assert fitted.loss_curve_ == [0.5 * x for x in h.loss] and fitted.n_iter_ == 3 and fitted.t_ == 3 * 3000
    assert fitted.n_features_in_ == 5 and fitted.history_.partitions == 2
    with client.as_current():
        assert pipe.score(Xd, yd) > 0.5


@pytest.mark.parametrize("classes", [2, 3])
def test_the_classifier_trains_data_parallel_on_dask_labels(client, classes):
    from fastmlp import MLPClassifier
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 4))
    labels = np.array(["a", "b", "c"][:classes])
    y = labels[(X[:, 0] > 0).astype(int) + (classes == 3) * (X[:, 1] > 1).astype(int)]
    Xd, yd = da.from_array(X, chunks=(500, 4)), da.from_array(y, chunks=500)
    est = MLPClassifier(hidden_layer_sizes=(8,), solver="sgd", batch_size=1, learning_rate_init=0.01, max_iter=2,
                        random_state=1, data_parallel=True)
    with client.as_current(), pytest.warns(fastmlp.estimators.ConvergenceWarning):
        est.fit(Xd, yd)
    serial = MLPClassifier(hidden_layer_sizes=(8,), solver="sgd", batch_size=1, learning_rate_init=0.01, max_iter=2,
                           random_state=1)
    with pytest.warns(fastmlp.estimators.ConvergenceWarning):
        serial.fit(X, y)
    assert est.classes_.tolist() == labels.tolist() == serial.classes_.tolist()
    assert est.history_.partitions == 2 and est.n_outputs_ == serial.n_outputs_
    assert est.score(X, y) > 0.85 and abs(est.score(X, y) - serial.score(X, y)) < 0.05


@pytest.mark.parametrize("params, fit_kw, match", [
    (dict(solver="lbfgs"), {}, "data_parallel needs a stochastic solver"),
    (dict(early_stopping=True), {}, "set early_stopping=False"),
    ({}, dict(sample_weight=np.ones(100)), "does not take sample_weight"),
    (dict(data_parallel={"sync": 5}), {}, "data_parallel must be None, True or a dict"),
    (dict(data_parallel={"partitions": 0}), {}, "partitions must be >= 1"),
])
def test_the_estimators_refuse_what_data_parallel_cannot_do(client, params, fit_kw, match):
    from fastmlp import MLPRegressor
    X, Y = data([3, 1], 100)
    est = MLPRegressor(**{"data_parallel": True, **params})
    with client.as_current(), pytest.raises(ValueError, match=match):
        est.fit(da.from_array(X, chunks=50), da.from_array(Y[:, 0], chunks=50), **fit_kw)
    assert not hasattr(est, "net_")


# --- the command line -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["--scheduler", "--workers"])
def test_fastmlp_train_runs_data_parallel_on_a_cluster_as_the_library_does(client, tmp_path, capsys, where):
    from fastmlp import cli
    fastmlp.datasets.write(tmp_path / "d", 2000, [4, 8, 1], seed=0, dtype="float64")
    target = client.scheduler.address if where == "--scheduler" else "2"
    code = cli.main(["train", str(tmp_path / "d"), "--epochs", "2", "--lr", "0.02", "--activation", "tanh",
                     where, target, "--sync-every", "250", "--partitions", "2", "--save", str(tmp_path / "m.npz"),
                     "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "data-parallel" in out and "4 rounds of 2 partitions" in out
    net = MLP([4, 8, 1], activation="tanh", seed=0)
    fd.fit(net, tmp_path / "d", client, epochs=2, lr=0.02, sync_every=250, partitions=2, seed=0)
    assert fastmlp.load(tmp_path / "m.npz").params.tobytes() == net.params.tobytes()


def test_fastmlp_train_refuses_data_parallel_options_without_a_cluster(tmp_path, capsys):
    from fastmlp import cli
    fastmlp.datasets.write(tmp_path / "d", 100, [4, 8, 1], seed=0)
    assert cli.main(["train", str(tmp_path / "d"), "--sync-every", "10"]) == 2
    assert "give --workers N or --scheduler ADDRESS" in capsys.readouterr().err

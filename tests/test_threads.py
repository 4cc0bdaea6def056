"""The per-sample loop on several threads (``fit(threads=...)``, issue 20): against the reference within the
contract's bounds on every activation x loss, optimiser and dtype; the same bits run after run for a given number of
threads; the divergence, interrupt (``test_interrupt.py``) and one-caller rules of the single-thread loop.

Two networks per case: one whose first layer splits by columns between two threads (its first hidden layer a
multiple of 16 units, ``backends.numba.first_by_columns``) and one split by rows throughout; three threads on
a two-core machine oversubscribe it, which must still give the right answer.
"""
import threading

import numpy as np
import pytest

import fastmlp
from fastmlp import MLP, InvalidParameterError
from fastmlp.backends import numba as numba_path
from fastmlp.backends.numba import kernels as numba_kernels

from conftest import BOUND_F32_ONE_EPOCH, BOUND_F64_ONE_EPOCH, rel_diff
from strategies import LOSS_OUTPUTS

# three threads on two cores warn (tested below)
pytestmark = pytest.mark.filterwarnings("ignore:threads=3 is more than:RuntimeWarning")

# (hidden sizes, threads): by columns (32 units on two threads), by rows (24 is not whole cache lines on three)
SPLITS = {"columns": ([32, 7], 2), "rows": ([9, 24], 3)}


def _data(n_in, n_out, loss, n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in)).astype(dtype)
    if loss == "cross_entropy":
        y = rng.integers(0, n_out, n)
    elif loss == "log_loss":
        y = (rng.random((n, n_out)) < 0.5).astype(dtype)
    elif loss == "poisson":
        y = rng.poisson(1.0, (n, n_out)).astype(dtype)
    else:
        y = rng.normal(size=(n, n_out)).astype(dtype)
    return X, y


def _fit(sizes, activation, loss, out_act, dtype, threads, backend="numba", n=40, epochs=1, **kw):
    net = MLP(sizes, activation=activation, loss=loss, output_activation=out_act, dtype=dtype, seed=1)
    X, y = _data(sizes[0], sizes[-1], loss, n, dtype)
    history = net.fit(X, y, epochs=epochs, lr=0.02, seed=3, backend=backend, threads=threads, **kw)
    return net, history


def _reference(sizes, activation, loss, out_act, dtype, **kw):
    """The reference from the same float64 start (a float32 model's start rounded, as the contract bounds it)."""
    net = MLP(sizes, activation=activation, loss=loss, output_activation=out_act, dtype=dtype, seed=1)
    ref = MLP(sizes, activation=activation, loss=loss, output_activation=out_act, seed=1)
    ref.params[:] = net.params
    X, y = _data(sizes[0], sizes[-1], loss, 40, dtype)
    X64 = X.astype(np.float64)
    y64 = y.astype(np.float64) if y.dtype.kind == "f" else y
    ref.fit(X64, y64, lr=0.02, seed=3, backend="reference", **kw)
    return ref


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("activation", ["identity", "relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("loss,out_act", LOSS_OUTPUTS)
def test_every_activation_and_loss_agrees_with_the_reference(loss, out_act, activation, split, dtype):
    hidden, threads = SPLITS[split]
    sizes = [5, *hidden, 3]
    assert numba_path.first_by_columns(MLP(sizes).spec, threads) == (split == "columns")
    net, history = _fit(sizes, activation, loss, out_act, dtype, threads)
    assert history.threads == threads
    ref = _reference(sizes, activation, loss, out_act, dtype)
    bound = BOUND_F64_ONE_EPOCH if dtype == "float64" else BOUND_F32_ONE_EPOCH
    assert rel_diff(net.params, ref.params) <= bound


OPTIMIZERS = {"sgd": "sgd", "momentum": "momentum", "nesterov": "nesterov", "adam": "adam",
              "sgd-decay": fastmlp.optim.SGD(weight_decay=0.01, l2=0.02), "sgd-l2": fastmlp.optim.SGD(l2=0.02),
              "adam-decay": fastmlp.optim.Adam(weight_decay=0.01, l2=0.02)}


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimiser_and_sample_weights_agree_with_the_reference(optimizer, split, weighted):
    hidden, threads = SPLITS[split]
    sizes = [5, *hidden, 2]
    kw = dict(optimizer=OPTIMIZERS[optimizer])
    if weighted:                     # zeros among them: a sample of weight 0 makes no update
        kw["sample_weight"] = np.random.default_rng(5).choice([0.0, 0.5, 1.0, 3.0], size=40)
    net, _ = _fit(sizes, "tanh", "mse", None, "float64", threads, **kw)
    ref = _reference(sizes, "tanh", "mse", None, "float64", **kw)
    assert rel_diff(net.params, ref.params) <= BOUND_F64_ONE_EPOCH
    assert int(net.optimizer_state.t[0]) == int(ref.optimizer_state.t[0])
    mine_state, ref_state = net.optimizer_state, ref.optimizer_state
    for mine, theirs in ((mine_state.m, ref_state.m), (mine_state.v, ref_state.v)):
        if mine.size:
            assert rel_diff(mine, theirs) <= BOUND_F64_ONE_EPOCH


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("split", SPLITS)
def test_the_same_seed_gives_the_same_bits_run_after_run(split, dtype):
    hidden, threads = SPLITS[split]
    sizes = [6, *hidden, 4]
    optimizer = "adam" if dtype == "float64" else "sgd"       # (a threaded kernel compiles once per rule and dtype)
    runs = [_fit(sizes, "relu", "cross_entropy", None, dtype, threads, n=200, epochs=3, optimizer=optimizer)
            for _ in range(3)]
    for net, history in runs[1:]:
        assert np.array_equal(net.params, runs[0][0].params)
        assert history.loss == runs[0][1].loss
    one, _ = _fit(sizes, "relu", "cross_entropy", None, dtype, 1, n=200, epochs=3, optimizer=optimizer)
    bound = 1e-10 if dtype == "float64" else 1e-4        # other threads, other sums: close, not the same bits
    assert 0 < rel_diff(runs[0][0].params, one.params) <= bound or np.array_equal(runs[0][0].params, one.params)


def test_one_layer_networks_split_both_ways():
    for sizes, threads in (([4, 32], 2), ([4, 5], 2), ([4, 16], 3)):
        net, _ = _fit(sizes, "identity", "mse", None, "float64", threads)
        ref = _reference(sizes, "identity", "mse", None, "float64")
        assert rel_diff(net.params, ref.params) <= BOUND_F64_ONE_EPOCH, sizes


# Plain SGD updates the first layer in the pass that takes the next sample through it (kernels._update_add_rows):
# four rows a pass up to WIDE units (per thread), one row a pass beyond; with 7 inputs the blocks of four leave three
# rows over; (network, threads)
_WIDE_FIRST = [7, 2 * (numba_kernels.WIDE + 16), 3]
FUSED = [(_WIDE_FIRST, 1), (_WIDE_FIRST, 2), ([7, 32, 3], 1), ([7, 32, 3], 2)]


def test_first_layers_in_blocks_of_rows_and_row_by_row_agree_with_the_reference():
    for sizes, threads in FUSED:
        net, history = _fit(sizes, "relu", "cross_entropy", None, "float64", threads)
        assert history.threads == threads
        ref = _reference(sizes, "relu", "cross_entropy", None, "float64")
        assert rel_diff(net.params, ref.params) <= BOUND_F64_ONE_EPOCH, (sizes, threads)


# --- divergence: test_divergence's scenarios, on threads -----------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("scenario", ["first_loss", "middle_loss", "first_update", "middle_update",
                                      "shuffled_middle_loss"])
@pytest.mark.parametrize("net_name", ["3-16-16-1", "3-64-1"])
def test_divergence_stops_where_the_reference_does(net_name, scenario, dtype):
    import test_divergence as td

    ref = td._diverge("reference", net_name, dtype, scenario, 1)
    net, X, y, kw = td._case(net_name, dtype, scenario)
    with pytest.raises(fastmlp.DivergenceError) as info:
        net.fit(X, y, batch_size=1, backend="numba", threads=2, **kw)
    err, opt = info.value, net.optimizer_state
    comp = (err.epoch, err.sample, err.position, err.reason, net.params.copy(), opt.m.copy(), opt.v.copy(),
            int(opt.t[0]))
    td._check_against_reference(comp, ref, net_name, dtype)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_divergence_keeps_the_optimiser_state_as_before_the_sample(optimizer):
    import test_divergence as td

    ref = td._diverge("reference", "3-64-1", "float64", "middle_update", 1, optimizer)
    net, X, y, kw = td._case("3-64-1", "float64", "middle_update")
    with pytest.raises(fastmlp.DivergenceError) as info:
        net.fit(X, y, batch_size=1, backend="numba", threads=2, optimizer=optimizer, **kw)
    err, opt = info.value, net.optimizer_state
    comp = (err.epoch, err.sample, err.position, err.reason, net.params.copy(), opt.m.copy(), opt.v.copy(),
            int(opt.t[0]))
    td._check_against_reference(comp, ref, "3-64-1", "float64")


# --- choosing, and refusing ------------------------------------------------------------------------------------

def test_none_chooses_from_the_network_and_the_cores(monkeypatch):
    small, wide = MLP([16, 64, 64, 1]).spec, MLP([784, 256, 128, 10]).spec
    monkeypatch.setattr(numba_path, "physical_cores", lambda: 2)
    assert numba_path.threads_for(small) == 1
    assert numba_path.threads_for(wide) == 2
    monkeypatch.setattr(numba_path, "physical_cores", lambda: 64)
    assert numba_path.threads_for(wide) == wide.n_params // numba_path.PARAMS_PER_THREAD
    monkeypatch.setattr(numba_path, "physical_cores", lambda: 1)
    assert numba_path.threads_for(wide) == 1
    X, y = _data(2, 1, "mse", 20, "float64")
    assert MLP([2, 2, 1]).fit(X, y).threads == 1
    assert MLP([2, 2, 1]).fit(X, y, batch_size=4, backend="numpy").threads == 1


def test_more_threads_than_cores_warn_and_still_train(monkeypatch):
    monkeypatch.setattr(numba_path, "physical_cores", lambda: 1)
    X, y = _data(3, 1, "mse", 30, "float64")
    net = MLP([3, 32, 1], seed=0)
    with pytest.warns(RuntimeWarning, match="threads=2 is more than this machine's 1 physical cores"):
        history = net.fit(X, y, threads=2)
    assert history.threads == 2 and np.isfinite(net.params).all()


def test_the_physical_cores_are_counted_once():
    assert 1 <= numba_path.physical_cores() <= len(numba_path.os.sched_getaffinity(0))


@pytest.mark.parametrize("kw, message", [
    (dict(threads=0), "threads must be >= 1, got 0"),
    (dict(threads=2.0), "threads must be an integer"),
    (dict(threads=True), "threads must be an integer"),
    (dict(threads=2, batch_size=4), "batch_size=1"),
    (dict(threads=2, backend="numpy"), "backend='numba'"),
    (dict(threads=2, backend="reference"), "backend='reference'"),
])
def test_bad_threads_are_refused_before_any_work(kw, message):
    net = MLP([3, 32, 1], seed=0)
    before = net.params.copy()
    X, y = _data(3, 1, "mse", 20, "float64")
    with pytest.raises(InvalidParameterError, match=message):
        net.fit(X, y, **kw)
    assert np.array_equal(net.params, before) and net.optimizer_state is None


def test_two_models_train_on_threads_at_once():
    # four threads on this machine's two cores: they back off rather than starve each other, and each result is
    # the one it has alone
    sizes = [8, 48, 16, 3]
    X, y = _data(8, 3, "cross_entropy", 3000, "float64")
    alone = [MLP(sizes, loss="cross_entropy", seed=s) for s in (1, 2)]
    for net in alone:
        net.fit(X, y, threads=2, seed=0)
    together = [MLP(sizes, loss="cross_entropy", seed=s) for s in (1, 2)]
    errors = []

    def run(net):
        try:
            net.fit(X, y, threads=2, seed=0)
        except Exception as e:         # noqa: BLE001 - reported below
            errors.append(e)
    workers = [threading.Thread(target=run, args=(net,)) for net in together]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not errors and not any(w.is_alive() for w in workers)
    for a, b in zip(alone, together):
        assert np.array_equal(a.params, b.params)


def test_the_team_threads_end_with_the_fit():
    before = {t.name for t in threading.enumerate()}
    X, y = _data(3, 1, "mse", 50, "float64")
    MLP([3, 32, 1]).fit(X, y, threads=2)
    import gc
    gc.collect()
    for _ in range(100):
        left = {t.name for t in threading.enumerate() if t.name.startswith("fastmlp-kernel")} - before
        if not left:
            break
        threading.Event().wait(0.01)
    assert not left


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_same_bits_whatever_the_slices(monkeypatch, dtype):
    # a slice (fastmlp._guard) is one compiled call, and a call's first sample takes z[1] from the ordinary forward
    # pass where the others take it from the fused update before (kernels._update_add_rows): the guard replays
    # slices of other lengths on divergence and expects the same bits, so the two must give them
    from fastmlp import _guard

    for sizes, threads in FUSED + [([6, 48, 5, 4], 3)]:     # three threads: a middle one's columns start at 16
        whole, _ = _fit(sizes, "relu", "cross_entropy", None, dtype, threads, n=60, epochs=2)
        with monkeypatch.context() as m:
            m.setattr(_guard, "slice_batches", lambda *args, **kw: 7)
            sliced, _ = _fit(sizes, "relu", "cross_entropy", None, dtype, threads, n=60, epochs=2)
        assert np.array_equal(whole.params, sliced.params), (sizes, threads)
        # (the epoch's loss is summed slice by slice, so its last bits follow the slices: not compared)

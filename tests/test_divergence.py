"""The contract's divergence rule, on every path, kernel style, dtype, batch size and optimiser.

Training stops at the first batch whose loss is non-finite, or whose update leaves a parameter or optimiser-
state value non-finite (float32 models: beyond float32's range); parameters and optimiser state are then those
before that batch, and ``DivergenceError`` names the epoch, the row and its position in the epoch's order.
Each case runs the reference path (the specification) and each fast path through ``MLP.fit`` and compares
where they stopped and what they left.
"""
import functools

import numpy as np
import pytest

import fastmlp
from fastmlp.backends import numba as numba_path
from fastmlp.backends.numba import kernels
from fastmlp.optim import sgd_state
from fastmlp.streaming import ArraySource

from conftest import BOUND_F32_ONE_EPOCH, BOUND_F64_ONE_EPOCH, describe_diff, rel_diff

# Both kernel styles of the Numba path: [2, 2, 1] is straight-line ("scalar"), the others loop style.
NETS = {
    "2-2-1": ([2, 2, 1], "identity"),
    "3-16-16-1": ([3, 16, 16, 1], "tanh"),
    "1-40-1": ([1, 40, 1], "identity"),
    "3-64-1": ([3, 64, 1], "relu"),
    "4-12-3": ([4, 12, 3], "sigmoid"),          # several outputs, in every batch size
    "W3-shaped": ([784, 256, 128, 10], "relu"),
}
N_ROWS = 16
MIDDLE = 8           # the row (and, without shuffling, the position) of the middle cases: a batch start at 8
HUGE = {"float64": 1e200, "float32": 1e30}       # a value whose square is beyond the dtype's range
LR_OVERFLOW = {"float64": 1e308, "float32": 3e38}  # lr * a gradient of order 1 overflows the dtype


def test_the_styles_are_covered():
    styles = {numba_path.style_for(fastmlp.MLP(sizes).spec) for sizes, _ in NETS.values()}
    assert styles == {"scalar", "loop"}


def _case(net_name, dtype, scenario):
    """``(net, X, y, fit keywords)`` of one divergence scenario, from fixed seeds."""
    sizes, activation = NETS[net_name]
    net = fastmlp.MLP(sizes, activation=activation, dtype=dtype, seed=1)
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, size=(N_ROWS, sizes[0]))
    y = rng.uniform(-1, 1, size=(N_ROWS, sizes[-1])) * 0.1
    kw = dict(lr=0.01, epochs=2, shuffle=False)
    if scenario == "first_loss":                   # the first sample's loss: its output is huge
        net.biases[-1][:] = HUGE[dtype]
    elif scenario == "middle_loss":                # a middle sample's loss: its target is huge
        y[MIDDLE] = HUGE[dtype]
    elif scenario == "first_update":               # the first update overflows
        kw["lr"] = LR_OVERFLOW[dtype]
        y[:] = 10.0
    elif scenario == "middle_update":              # the first update that counts (rows of weight 0 before it)
        kw["lr"] = LR_OVERFLOW[dtype]
        y[:] = 10.0
        weights = np.ones(N_ROWS)
        weights[:MIDDLE] = 0.0
        kw["sample_weight"] = weights
    elif scenario == "shuffled_middle_loss":       # a middle row met at another position of the order
        y[MIDDLE] = HUGE[dtype]
        kw.update(shuffle=True, seed=4)
    return net, X, y, kw


EXPECTED = {"first_loss": (0, 0, "loss"), "middle_loss": (MIDDLE, MIDDLE, "loss"),
            "first_update": (0, 0, "update"), "middle_update": (MIDDLE, MIDDLE, "update")}
SCENARIOS = [*EXPECTED, "shuffled_middle_loss"]


@functools.lru_cache(maxsize=None)
def _diverge(backend, net_name, dtype, scenario, batch_size, optimizer="sgd"):
    """Where ``fit`` stopped and what it left: ``(epoch, row, position, reason, params, m, v, t)``."""
    net, X, y, kw = _case(net_name, dtype, scenario)
    with pytest.raises(fastmlp.DivergenceError) as info:
        net.fit(X, y, batch_size=batch_size, backend=backend, optimizer=optimizer, **kw)
    err = info.value
    opt = net.optimizer_state
    return (err.epoch, err.sample, err.position, err.reason, net.params.copy(), opt.m.copy(), opt.v.copy(),
            int(opt.t[0]), str(err))


def _check_against_reference(comp, ref, net_name, dtype):
    spec = fastmlp.MLP(NETS[net_name][0]).spec
    assert comp[:4] == ref[:4], f"stopped at (epoch, row, position, reason) {comp[:4]}, the reference at {ref[:4]}"
    bound = BOUND_F64_ONE_EPOCH if dtype == "float64" else BOUND_F32_ONE_EPOCH
    for name, c, r in zip(("params", "m", "v"), comp[4:7], ref[4:7]):
        assert np.isfinite(c).all(), f"{name} holds non-finite values after the DivergenceError"
        assert c.shape == r.shape
        if c.size == 0:
            continue                                 # plain SGD keeps no state
        if name == "params":
            assert rel_diff(c, r) <= bound, describe_diff(spec, c, r)
        else:
            assert rel_diff(c, r) <= bound, f"optimiser state {name} differs from the reference's"
    assert comp[7] == ref[7], "the optimiser's step count differs from the reference's"


# W3-shaped runs per sample only: there threads=None puts it on two threads (the threaded kernel, its first layer
# split by columns), which no other network here reaches; in batches of 8 it would run the batch kernel the other
# loop-style networks run, and its reference (235,000 weights in pure Python) is the slowest part of this file.
NET_BATCHES = [(name, b) for name in NETS for b in (1, 8) if (name, b) != ("W3-shaped", 8)]


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("net_name, batch_size", NET_BATCHES, ids=[f"{n}-{b}" for n, b in NET_BATCHES])
def test_every_path_stops_where_the_reference_does(comp, net_name, batch_size, dtype, scenario):
    ref = _diverge("reference", net_name, dtype, scenario, batch_size)
    if scenario in EXPECTED:
        row, position, reason = EXPECTED[scenario]
        assert ref[:4] == (0, row, position, reason), "the reference itself stopped elsewhere"
    else:
        assert ref[1] == MIDDLE and ref[2] != MIDDLE and ref[3] == "loss"
    _check_against_reference(_diverge(comp, net_name, dtype, scenario, batch_size), ref, net_name, dtype)


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov", "adam"])
@pytest.mark.parametrize("scenario", ["middle_loss", "first_update", "middle_update"])
@pytest.mark.parametrize("net_name", ["2-2-1", "3-16-16-1"])
def test_every_optimiser_keeps_its_state_as_before_the_batch(comp, net_name, scenario, optimizer):
    ref = _diverge("reference", net_name, "float64", scenario, 8, optimizer)
    assert ref[3] == EXPECTED[scenario][2]
    _check_against_reference(_diverge(comp, net_name, "float64", scenario, 8, optimizer), ref, net_name, "float64")


@pytest.mark.parametrize("backend", ["reference", "numba", "numpy"])
def test_after_divergence_a_smaller_lr_trains_on(backend):
    """The error's advice works at once: no optimiser state was left non-finite."""
    net, X, y, kw = _case("3-16-16-1", "float64", "first_update")
    with pytest.raises(fastmlp.DivergenceError):
        net.fit(X, y, batch_size=8, backend=backend, optimizer="adam", **kw)
    kw["lr"] = 0.01
    history = net.fit(X, y, batch_size=8, backend=backend, optimizer="adam", **kw)
    assert np.isfinite(history.loss).all() and np.isfinite(net.params).all()


@pytest.mark.parametrize("backend", ["reference", "numba", "numpy"])
def test_a_streamed_epoch_names_the_row_of_the_whole_data(backend, tmp_path):
    """Chunks read out of core: the row is counted over the whole data, the position over the epoch."""
    net, X, y, kw = _case("3-64-1", "float64", "middle_loss")
    y[MIDDLE] = 0.0
    y[13] = HUGE["float64"]
    start = net.params.copy()
    with pytest.raises(fastmlp.DivergenceError) as info:
        net.fit(X, y, chunk_rows=5, batch_size=2, backend=backend, lr=0.01, shuffle=True, seed=9)
    err = info.value
    assert err.sample == 13 and err.reason == "loss"
    # the epoch's batches (they do not span chunks), from the same rule; those before the failing one
    source = ArraySource(X, y, net.spec, net.dtype, chunk_rows=5)
    batches = [chunk.first_row + order[lo:lo + 2] for chunk, order in source.epoch(np.random.default_rng(9), True)
               for lo in range(0, len(order), 2)]
    position = 0
    ref = fastmlp.MLP([3, 64, 1], activation="relu", seed=1)
    ref.params[:] = start
    for rows in batches:
        if position + len(rows) > err.position:
            assert 13 in rows and rows[err.position - position] == 13
            break
        ref.fit(X[rows], y[rows], batch_size=2, backend="reference", lr=0.01, shuffle=False)
        position += len(rows)
    assert rel_diff(net.params, ref.params) <= BOUND_F64_ONE_EPOCH


# --- the compiled checks themselves ------------------------------------------------------------------------

@pytest.mark.parametrize("net_name", ["2-2-1", "1-40-1", "3-64-1"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_kernels_see_a_non_finite_loss(net_name, dtype):
    """Called directly, every kernel reports the first non-finite loss and returns before its update.

    The loop-style kernels sum the loss in a loop under fast-math, where LLVM removed ``math.isfinite(loss)``:
    this fails if the check on the exponent bits (``backends._finite``) is replaced by a float comparison."""
    net, X, y, _ = _case(net_name, dtype, "middle_loss")
    spec, F = net.spec, np.dtype(dtype)
    X, Y = X.astype(F), y.astype(F)
    X.flags.writeable = Y.flags.writeable = False       # as train_epoch hands them: the kernels fits compile
    ws = numba_path.Workspace(spec, F)
    order = np.arange(N_ROWS, dtype=np.int64)
    if numba_path.style_for(spec) == "scalar":
        module = numba_path.generated(spec, dtype)
        per_sample, batch = module.epoch_per_sample, module.epoch_batch
        shape, no_weights = (), ()
        a = d = g = np.zeros(0, F)
    else:
        per_sample, batch = kernels.kernels_for("sgd")[:2]
        layout, a, d, g = ws.loop()
        shape, no_weights = (*layout[:5], layout.loss), (np.zeros(0, F),)
    for name, kernel in (("epoch_per_sample", per_sample), ("epoch_batch", batch)):
        opt = sgd_state(spec.n_params, F)
        p = net.params.copy()
        extra = () if name == "epoch_per_sample" else (1,)
        buffers = (a, d) if name == "epoch_per_sample" else (a, d, g)
        nesterov = () if not shape else (False,)
        out = kernel(p, X, Y, order, F.type(1e-30), *extra, *shape, *buffers, opt.m, opt.v, opt.t, opt.hyper,
                     *nesterov, *(no_weights if name == "epoch_batch" else ()))
        assert out[2] == MIDDLE, f"{name} did not stop at the non-finite loss (returned {out})"
        assert out[1] == MIDDLE and np.isfinite(p).all()


def test_the_fused_output_pass_sees_a_non_finite_loss():
    from fastmlp.backends.numpy import _fused
    for dtype in (np.float64, np.float32):
        Z = np.zeros((4, 3), dtype)
        Y = np.zeros((4, 3), dtype)
        Y[2, 1] = np.finfo(dtype).max
        out = _fused.output_layer(Z, np.zeros(3, dtype), Y, np.empty_like(Z), np.empty_like(Z), np.empty(3, dtype),
                                  np.empty(4), np.empty(0, dtype), 0, 0)
        assert out == 2


# --- found by a hostile read of this module (issue 13 audit) ---------------------------------------------------

@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("batch_size", [3, 4])
def test_an_overflowing_update_in_a_chunks_short_last_batches(backend, batch_size):
    """Chunks of 7 rows: the last batch is short, so a bisection over the last two batches has an odd end; the
    update overflow in it is found, not a RecursionError or IndexError."""
    X = np.random.default_rng(0).uniform(-1, 1, (14, 3))
    y = np.zeros(14)
    y[13] = 1e200                            # a loss of 1e400: non-finite
    y[12] = 1e150                            # a finite loss of 1e300, whose update overflows
    results = {}
    for path in ("reference", backend):
        net = fastmlp.MLP([3, 4, 1], seed=0)
        with pytest.raises(fastmlp.DivergenceError) as info:
            net.fit(X, y, chunk_rows=7, batch_size=batch_size, lr=1e10, shuffle=False, backend=path)
        results[path] = (info.value.sample, info.value.position, info.value.reason, net.params.copy())
    assert results["reference"][:3] == results[backend][:3]
    assert rel_diff(results[backend][3], results["reference"][3]) <= BOUND_F64_ONE_EPOCH


@pytest.mark.parametrize("backend", ["reference", "numba", "numpy"])
def test_non_finite_parameters_before_training_diverge_at_the_first_batch(backend):
    X, y = np.ones((6, 3)), np.ones(6)
    net = fastmlp.MLP([3, 4, 1], seed=0)
    net.params[2] = np.nan
    with pytest.raises(fastmlp.DivergenceError) as info:
        net.fit(X, y, backend=backend, shuffle=False)
    assert info.value.position == 0 and info.value.epoch == 0


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_float32_weights_near_the_top_of_the_range_train_as_the_reference(backend):
    """Only ratios of weights matter: weights of 1e38 in float32 (a batch's sum would overflow) train as
    weights of 1 do."""
    X = np.random.default_rng(0).uniform(-1, 1, (16, 3)).astype(np.float32)
    y = X.sum(1)
    runs = {}
    for path, weights in (("reference", np.full(16, 1e38)), (backend, np.full(16, 1e38)), (backend, np.ones(16))):
        net = fastmlp.MLP([3, 4, 1], dtype="float32", seed=0)
        net.fit(X, y, batch_size=8, backend=path, sample_weight=weights, shuffle=False)
        runs[(path, weights[0])] = net.params.copy()
    assert np.isfinite(runs[(backend, 1e38)]).all()
    assert rel_diff(runs[(backend, 1e38)], runs[("reference", 1e38)]) <= BOUND_F32_ONE_EPOCH
    assert rel_diff(runs[(backend, 1e38)], runs[(backend, 1.0)]) <= BOUND_F32_ONE_EPOCH


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("sizes, activation", [([2, 2, 1], "identity"), ([3, 16, 16, 1], "relu")])  # both styles
@pytest.mark.parametrize("batch_size", [1, 4])
def test_poissons_exp_beyond_the_dtype_is_a_divergence_at_its_row(sizes, activation, batch_size, dtype):
    """``loss="poisson"``'s output exp(z) overflows (z of about 10^4) at one row: every path stops there, with the
    reference's parameters."""
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, size=(N_ROWS, sizes[0]))
    X[MIDDLE] = 1e5
    y = rng.poisson(1.0, size=N_ROWS).astype(float)
    results = {}
    for backend in ("reference", "numba", "numpy"):
        net = fastmlp.MLP(sizes, activation=activation, loss="poisson", dtype=dtype, seed=1)
        net.params[...] = 0.1
        with pytest.raises(fastmlp.DivergenceError) as info:
            net.fit(X, y, lr=0.01, batch_size=batch_size, shuffle=False, backend=backend)
        e = info.value
        assert (e.epoch, e.row, e.reason) == (0, MIDDLE, "loss"), backend
        assert np.isfinite(net.params).all()
        results[backend] = net.params.copy()
    bound = BOUND_F64_ONE_EPOCH if dtype == "float64" else BOUND_F32_ONE_EPOCH
    for backend in ("numba", "numpy"):
        assert rel_diff(results[backend], results["reference"]) <= bound, backend
    assert not np.all(results["reference"] == 0.1)          # the rows before it trained

"""Training behaviour every path shares: divergence, determinism, the epoch loss, the automatic choice."""
import numpy as np
import pytest

import fastmlp
from fastmlp import backends

from conftest import BOUND_F64_ONE_EPOCH, rel_diff

ALL_PATHS = ["reference", "numba", "numpy"]


def exploding_problem():
    X, y = fastmlp.datasets.placement(200, seed=3)
    return X * 10, y * 10


@pytest.mark.parametrize("batch_size", [1, 4])
@pytest.mark.parametrize("backend", ALL_PATHS)
def test_divergence_stops_with_the_last_finite_parameters(backend, batch_size):
    X, y = exploding_problem()
    net = fastmlp.MLP([2, 2, 1], activation="identity", seed=0)
    start = net.params.copy()
    with pytest.raises(fastmlp.DivergenceError) as info:
        net.fit(X, y, epochs=3, lr=0.5, batch_size=batch_size, shuffle=False, backend=backend)
    err = info.value
    assert np.isfinite(net.params).all()
    assert err.epoch == 0 and err.sample == err.position and err.position > 0
    assert f"row {err.sample}" in str(err) and "epoch 0" in str(err)
    # the parameters are exactly those after the complete batches before the diverging sample
    n_done = (err.position // batch_size) * batch_size
    ref = fastmlp.MLP([2, 2, 1], activation="identity", seed=0)
    ref.params[:] = start
    ref.fit(X[:n_done], y[:n_done], epochs=1, lr=0.5, batch_size=batch_size, shuffle=False, backend="reference")
    assert rel_diff(net.params, ref.params) <= 1e-9
    # and the loss at that sample is indeed not finite there, while every earlier one was
    with np.errstate(over="ignore"):
        assert not np.isfinite(net.loss(X[err.position:err.position + 1], y[err.position:err.position + 1]))


@pytest.mark.parametrize("backend", ALL_PATHS)
def test_divergence_on_the_first_sample_changes_nothing(backend):
    X = np.array([[1e200, 1e200], [1.0, 1.0]])
    net = fastmlp.MLP([2, 2, 1], activation="identity", seed=0)
    before = net.params.copy()
    with pytest.raises(fastmlp.DivergenceError) as info:
        net.fit(X, [1.0, 1.0], lr=0.01, shuffle=False, backend=backend)
    assert info.value.position == 0 and info.value.sample == 0
    np.testing.assert_array_equal(net.params, before)


def test_every_path_reports_the_same_diverging_sample():
    X, y = exploding_problem()
    where = set()
    for backend in ALL_PATHS:
        net = fastmlp.MLP([2, 2, 1], activation="identity", seed=0)
        with pytest.raises(fastmlp.DivergenceError) as info:
            net.fit(X, y, epochs=3, lr=0.5, seed=5, backend=backend)
        where.add((info.value.epoch, info.value.sample))
    assert len(where) == 1


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", ALL_PATHS)
def test_same_seed_same_result_bit_for_bit(backend, dtype):
    X, y = fastmlp.datasets.placement(300, seed=1)
    runs = []
    for _ in range(2):
        net = fastmlp.MLP([2, 4, 1], activation="tanh", dtype=dtype, seed=11)
        history = net.fit(X, y, epochs=3, lr=0.05, batch_size=5, backend=backend)
        runs.append((net.params.copy(), history.loss))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    other = fastmlp.MLP([2, 4, 1], activation="tanh", dtype=dtype, seed=12)
    other.fit(X, y, epochs=3, lr=0.05, batch_size=5, backend=backend)
    assert not np.array_equal(other.params, runs[0][0])


def test_fit_seed_overrides_the_model_generator():
    X, y = fastmlp.datasets.placement(100, seed=1)
    a = fastmlp.MLP([2, 2, 1], seed=0)
    b = fastmlp.MLP([2, 2, 1], seed=0)
    b.rng.random()                    # b's own generator has moved on; the fit seed decides the order
    a.fit(X, y, epochs=2, seed=42, backend="numpy")
    b.fit(X, y, epochs=2, seed=42, backend="numpy")
    np.testing.assert_array_equal(a.params, b.params)


def test_initial_parameters_are_glorot_uniform_and_seeded():
    a = fastmlp.MLP([30, 20, 10], seed=4)
    b = fastmlp.MLP([30, 20, 10], seed=4)
    np.testing.assert_array_equal(a.params, b.params)
    limit = np.sqrt(6 / 50)
    assert np.abs(a.weights[0]).max() <= limit and np.abs(a.weights[0]).max() > 0.9 * limit
    assert np.all(a.biases[0] == 0)
    f32 = fastmlp.MLP([30, 20, 10], seed=4, dtype="float32")
    np.testing.assert_array_equal(f32.params, a.params.astype(np.float32))


@pytest.mark.parametrize("backend", ALL_PATHS)
def test_epoch_loss_is_the_mean_of_losses_before_each_update(backend):
    # with lr tiny the parameters barely move: the epoch loss equals the loss at the start
    X, y = fastmlp.datasets.placement(50, seed=2)
    net = fastmlp.MLP([2, 3, 1], activation="tanh", seed=0)
    start_loss = net.loss(X, y)
    history = net.fit(X, y, epochs=1, lr=1e-12, backend=backend)
    assert history.loss[0] == pytest.approx(start_loss, rel=1e-9)
    assert history.backend == backend and history.epochs == 1 and len(history.seconds) == 1


def test_auto_backend_result_is_within_bounds_of_the_reference():
    X, y = fastmlp.datasets.placement(64, seed=2)
    for batch_size in (1, 32):
        ref = fastmlp.MLP([2, 3, 1], activation="tanh", seed=0)
        net = fastmlp.MLP([2, 3, 1], activation="tanh", seed=0)
        ref.fit(X, y, epochs=1, lr=0.05, batch_size=batch_size, seed=1, backend="reference")
        history = net.fit(X, y, epochs=1, lr=0.05, batch_size=batch_size, seed=1)
        assert history.backend == backends.choose(net.spec, batch_size)
        assert rel_diff(net.params, ref.params) <= BOUND_F64_ONE_EPOCH


@pytest.mark.parametrize("sizes,dtype,numba_up_to,numpy_from", [
    ([16, 64, 64, 1], "float64", 32, 64),       # the crossovers measured by benchmarks/auto_crossover.py
    ([784, 256, 128, 10], "float64", 1, 2),
    ([16, 64, 64, 1], "float32", 64, 128),      # float32: the Numba path's loops run twice the lanes
    ([784, 256, 128, 10], "float32", 1, 2),
    ([10, 100, 1], "float64", 256, 512),        # one output: scikit-learn's default regressor on 10 features
    ([64, 16, 10], "float64", 32, 64),          # several outputs: a softmax classifier (digits) goes to numpy
    ([64, 16, 10], "float32", 32, 64),          # from 64 rows, so scikit-learn's default batch of 200 does
    ([13, 100, 3], "float64", 32, 64),
    ([2, 2, 1], "float64", 1024, None),         # a tiny network never pays for BLAS at sane batch sizes
    ([4, 8, 1], "float32", 1024, None),
])
def test_auto_follows_the_measured_crossover(sizes, dtype, numba_up_to, numpy_from):
    spec = fastmlp.MLP(sizes).spec
    assert backends.choose(spec, 1, dtype) == "numba"
    assert backends.choose(spec, numba_up_to, dtype) == "numba"
    if numpy_from is not None:
        assert backends.choose(spec, numpy_from, dtype) == "numpy"
        assert backends.choose(spec, 4096, dtype) == "numpy"


def test_auto_chooses_for_the_models_dtype():
    X = np.random.default_rng(0).standard_normal((256, 16))
    y = X[:, :1]
    for dtype, expected in (("float64", "numpy"), ("float32", "numba")):    # W2's network, batch 64
        net = fastmlp.MLP([16, 64, 64, 1], dtype=dtype, seed=0)
        assert net.fit(X, y, epochs=1, batch_size=64).backend == expected

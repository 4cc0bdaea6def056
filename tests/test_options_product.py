"""Every training option at once, on every path: optimiser x schedule x weight decay x sample weights, several
epochs, batch sizes 1 and 16, float64 and float32, through ``MLP.fit`` against the reference path.

The schedules and stopping rules run in Python between epochs and are the same code for every path; what this
holds together is that the learning rate each schedule sets reaches every kernel, with every optimiser, with
and without weight decay and sample weights, and that the state goes on from epoch to epoch.
"""
import functools
import itertools

import numpy as np
import pytest

import fastmlp
from fastmlp.schedule import InvScaling, Stopping

import conftest
from conftest import BOUND_F32_ONE_EPOCH, BOUND_F64_MANY_EPOCHS, rel_diff

LAYERS = [3, 4, 2]
N, EPOCHS = 40, 4
OPTIMIZERS = list(fastmlp.optim.RULES)      # every update rule there is
SCHEDULES = ["constant", "invscaling", "adaptive"]


def _data():
    rng = np.random.default_rng(11)
    X = rng.uniform(-1, 1, (N, LAYERS[0]))
    Y = rng.uniform(-1, 1, (N, LAYERS[-1]))
    weights = rng.integers(0, 4, N).astype(np.float64)       # zeros included: skipped rows and batches
    return X, Y, weights


def _fit(backend, dtype, optimizer, schedule, weight_decay, weighted, batch_size, start=None):
    X, Y, weights = _data()
    net = fastmlp.MLP(LAYERS, activation="tanh", dtype=dtype, seed=2)
    if start is not None:
        net.params[...] = start
    # tol=10 counts every epoch as "no improvement", so "adaptive" divides the rate after epoch 2.
    history = net.fit(X, Y, epochs=EPOCHS, lr=0.01 if optimizer == "adam" else 0.1, batch_size=batch_size,
                      seed=4, backend=backend, optimizer=conftest.optimizer(optimizer, 0.8, weight_decay),
                      schedule=InvScaling(power_t=0.25) if schedule == "invscaling" else schedule,
                      stopping=Stopping(tol=10.0, n_iter_no_change=1 if schedule == "adaptive" else None),
                      sample_weight=weights if weighted else None)
    return net, history


@functools.lru_cache(maxsize=None)
def _reference(optimizer, schedule, weight_decay, weighted, batch_size, from_float32=False):
    """The reference path's fit; ``from_float32``: started from the float32 model's rounded parameters, what a
    float32 path is compared with."""
    start = None
    if from_float32:
        start = fastmlp.MLP(LAYERS, activation="tanh", dtype="float32", seed=2).params.astype(np.float64)
    return _fit("reference", "float64", optimizer, schedule, weight_decay, weighted, batch_size, start=start)


CASES = list(itertools.product(OPTIMIZERS, SCHEDULES, [0.0, 0.01], [False, True]))


@pytest.mark.parametrize("batch_size", [1, 16])
@pytest.mark.parametrize("optimizer, schedule, weight_decay, weighted", CASES)
def test_float64(comp, optimizer, schedule, weight_decay, weighted, batch_size):
    ref, ref_history = _reference(optimizer, schedule, weight_decay, weighted, batch_size)
    got, history = _fit(comp, "float64", optimizer, schedule, weight_decay, weighted, batch_size)
    assert history.lr == ref_history.lr and len(set(history.lr)) == (1 if schedule == "constant" else
                                                                    (2 if schedule == "adaptive" else EPOCHS))
    assert rel_diff(got.params, ref.params) <= BOUND_F64_MANY_EPOCHS
    assert np.allclose(history.loss, ref_history.loss, rtol=1e-9, atol=0)
    state, ref_state = got.optimizer_state, ref.optimizer_state
    assert state.t[0] == ref_state.t[0] > 0
    for a, b in ((state.m, ref_state.m), (state.v, ref_state.v)):
        assert a.size == b.size and (a.size == 0 or rel_diff(a, b) <= BOUND_F64_MANY_EPOCHS)


@pytest.mark.parametrize("optimizer, schedule, weight_decay, weighted", [c for c in CASES if c[2] > 0])
def test_float32(comp, optimizer, schedule, weight_decay, weighted):
    # The float32 path against the float64 reference started from the same float32-rounded parameters.
    got, history = _fit(comp, "float32", optimizer, schedule, weight_decay, weighted, 16)
    ref, ref_history = _reference(optimizer, schedule, weight_decay, weighted, 16, from_float32=True)
    assert got.params.dtype == np.float32 and got.optimizer_state.m.dtype == np.float32
    assert history.lr == pytest.approx(ref_history.lr, rel=1e-12)
    assert rel_diff(got.params, ref.params) <= BOUND_F32_ONE_EPOCH


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("route", ["blas", "matmul"])
@pytest.mark.parametrize("optimizer, weight_decay, weighted", list(itertools.product(OPTIMIZERS, [0.0, 0.01],
                                                                                     [False, True])))
def test_numpy_path_gemm_routes(monkeypatch, route, dtype, optimizer, weight_decay, weighted):
    # The numpy path makes C <- beta C + alpha A.T @ delta one of two ways: one GEMM call into numpy's bundled
    # OpenBLAS (layers of GEMM_MIN_WEIGHTS weights and more), or matmul with alpha and beta applied by hand
    # (small layers, and numpy builds without that library). Both here on every option, whatever the size.
    from fastmlp.backends import numpy as numpy_path
    from fastmlp.backends.numpy import _blas
    if route == "blas":
        if _blas._GEMM is None:
            pytest.skip("numpy's bundled OpenBLAS is not found here")
        monkeypatch.setattr(numpy_path, "GEMM_MIN_WEIGHTS", 0)
    else:
        monkeypatch.setattr(_blas, "_GEMM", None)
    got, _ = _fit("numpy", dtype, optimizer, "invscaling", weight_decay, weighted, 16)
    ref, _ = _reference(optimizer, "invscaling", weight_decay, weighted, 16, from_float32=dtype == "float32")
    bound = BOUND_F64_MANY_EPOCHS if dtype == "float64" else BOUND_F32_ONE_EPOCH
    assert got.params.dtype == np.dtype(dtype)
    assert rel_diff(got.params, ref.params) <= bound

"""Hostile and careless input (issue 14): a clear error naming the argument every time, the model unchanged,
nothing read that should not be. Data-set folders, model files, caches and the CLI have their own sections."""
import numpy as np
import pytest

import fastmlp
from fastmlp import MLP

RNG = np.random.default_rng(0)
X3 = RNG.standard_normal((20, 3))
Y3 = X3.sum(1)


# --- arrays: only real numbers --------------------------------------------------------------------------------

@pytest.mark.parametrize("call, name", [
    (lambda: MLP([3, 1]).fit(X3 + 1j, Y3, backend="python"), "X"),
    (lambda: MLP([3, 1]).fit(X3, Y3 + 1j, backend="python"), "y"),
    (lambda: MLP([3, 1]).fit(X3, Y3, sample_weight=np.ones(20) + 1j, backend="python"), "sample_weight"),
    (lambda: MLP([3, 1]).fit([(X3 + 1j, Y3)], backend="python"), "X"),
    (lambda: MLP([3, 1]).fit(X3 + 1j, Y3, chunk_rows=5, backend="python"), "X"),
    (lambda: MLP([3, 1]).predict(X3 + 1j), "X"),
])
def test_complex_data_is_refused(call, name):
    with pytest.raises(ValueError, match=f"Complex data not supported: {name}"):
        call()


@pytest.mark.parametrize("X", [X3.astype("m8[s]"), X3.astype("M8[s]"), X3 > 0, X3.astype(str), X3.astype(object)])
def test_non_real_X_is_refused_naming_X(X):
    with pytest.raises(TypeError, match="^X must"):
        MLP([3, 1]).fit(X, Y3, backend="python")


def test_boolean_targets_are_refused_for_mse_and_taken_as_labels_for_log_loss():
    with pytest.raises(TypeError, match="^y must hold numbers, got booleans"):
        MLP([3, 1]).fit(X3, Y3 > 0, backend="python")
    with pytest.raises(TypeError, match="^sample_weight must hold numbers, got booleans"):
        MLP([3, 1]).fit(X3, Y3, sample_weight=np.ones(20, bool), backend="python")
    MLP([3, 1], loss="log_loss").fit(X3, Y3 > 0, backend="python")


@pytest.mark.parametrize("make", [lambda: [], lambda: iter([])])
def test_empty_iterables_raise_and_change_nothing(make):
    net = MLP([3, 1], seed=0)
    params, rng_state = net.params.copy(), net._rng.bit_generator.state
    with pytest.raises(ValueError, match="^X: the iterable of .X, y. chunks is empty"):
        net.fit(make(), backend="python")
    assert np.array_equal(net.params, params) and net.optimizer_state is None
    assert net._rng.bit_generator.state == rng_state


def test_an_exhausted_iterator_raises():
    it = iter([(X3, Y3)])
    net = MLP([3, 1], seed=0)
    net.fit(it, backend="python")
    with pytest.raises(ValueError, match="used up"):
        net.fit(it, backend="python")


def test_a_list_X_with_chunk_rows_trains_as_the_array_does():
    a, b = MLP([3, 1], seed=0), MLP([3, 1], seed=0)
    a.fit(X3.tolist(), Y3.tolist(), chunk_rows=5, backend="python", shuffle=False)
    b.fit(X3, Y3, chunk_rows=5, backend="python", shuffle=False)
    np.testing.assert_array_equal(a.params, b.params)


def test_a_failed_check_after_the_hold_out_leaves_the_generator_as_it_was():
    net = MLP([3, 1], seed=0)
    state = net._rng.bit_generator.state
    with pytest.raises(ValueError, match="epochs must be 1 with a one-shot iterator"):
        net.fit(iter([(X3, Y3)]), epochs=2, backend="python")
    with pytest.raises(ValueError, match="validation_fraction"):
        net.fit(X3, Y3, validation_fraction=0.999, backend="python")
    assert net._rng.bit_generator.state == state


# --- hyperparameters ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("layer_sizes", [{3: "a", 1: "b"}, {3, 1}, np.array([[3, 1]]), (n for n in (3, 1))])
def test_layer_sizes_must_be_a_list_tuple_or_1d_array(layer_sizes):
    with pytest.raises(TypeError, match="^layer_sizes must be"):
        MLP(layer_sizes)


def test_layer_sizes_as_a_1d_integer_array():
    assert MLP(np.array([3, 4, 1])).layer_sizes == (3, 4, 1)


@pytest.mark.parametrize("seed, exc", [(-1, ValueError), (1.5, TypeError), ("0", TypeError)])
def test_a_bad_seed_names_seed(seed, exc):
    with pytest.raises(exc, match="^seed must"):
        MLP([3, 1], seed=seed)
    with pytest.raises(exc, match="^seed must"):
        MLP([3, 1]).fit(X3, Y3, seed=seed)


@pytest.mark.parametrize("kw", [dict(optimizer="momentum", momentum=np.float32(0.9)), dict(tol=np.float32(1e-4)),
                                dict(weight_decay=np.float32(0.1)), dict(validation_fraction=np.float32(0.2)),
                                dict(power_t=np.float32(0.5)), dict(optimizer="adam", betas=(np.float32(.9), .999)),
                                dict(lr=np.float16(0.01)), dict(eps=np.float64(1e-8), optimizer="adam")])
def test_numpy_real_scalars_are_accepted_everywhere(kw):
    MLP([3, 1], seed=0).fit(X3, Y3, backend="python", **kw)


@pytest.mark.parametrize("kw, name", [(dict(optimizer="momentum", momentum=True), "momentum"),
                                      (dict(tol=float("nan")), "tol"), (dict(weight_decay=-0.1), "weight_decay"),
                                      (dict(validation_fraction=1.0), "validation_fraction"),
                                      (dict(power_t="0.5"), "power_t"), (dict(betas=(0.9, 1.0)), r"betas\[1\]")])
def test_bad_hyperparameters_are_named(kw, name):
    with pytest.raises((TypeError, ValueError), match=f"^{name} must"):
        MLP([3, 1], seed=0).fit(X3, Y3, backend="python", **kw)


# --- estimators: everything is checked before the fitted model is touched -------------------------------------

@pytest.mark.parametrize("bad", [
    lambda r: r.fit(X3, Y3, sample_weight=-1),
    lambda r: r.fit(X3, Y3, sample_weight=np.ones(3)),
    lambda r: r.set_params(dtype="float32").fit(X3 * 1e300, Y3),
    lambda r: r.set_params(early_stopping=True, validation_fraction=0.99).fit(X3, Y3),
    lambda r: r.fit(X3[:, :2], Y3) if r.warm_start else r.set_params(warm_start=True).fit(X3[:, :2], Y3),
])
def test_a_fit_that_fails_validation_keeps_the_fitted_model(bad):
    pytest.importorskip("sklearn")
    reg = fastmlp.MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0, backend="python").fit(X3, Y3)
    params, n_iter, n_features = reg.net_.params.copy(), reg.n_iter_, reg.n_features_in_
    with pytest.raises(ValueError):
        bad(reg)
    assert reg.n_iter_ == n_iter and reg.n_features_in_ == n_features
    np.testing.assert_array_equal(reg.net_.params, params)


@pytest.mark.parametrize("param, value", [("solver", "bogus"), ("learning_rate_init", -5.0), ("alpha", -1.0),
                                          ("momentum", 7.0)])
def test_partial_fit_validates_parameters_every_call(param, value):
    pytest.importorskip("sklearn")
    reg = fastmlp.MLPRegressor(hidden_layer_sizes=(4,), random_state=0, backend="python").partial_fit(X3, Y3)
    params = reg.net_.params.copy()
    reg.set_params(**{param: value})
    with pytest.raises(ValueError, match=param):
        reg.partial_fit(X3, Y3)
    np.testing.assert_array_equal(reg.net_.params, params)

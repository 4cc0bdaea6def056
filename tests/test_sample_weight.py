"""Sample weights: a batch's loss and gradient are weighted means, on every path."""
import numpy as np
import pytest

import fastmlp
from fastmlp._validation import make_spec
from fastmlp.optim import OptimizerState

from conftest import BOUND_F64_MANY_EPOCHS, describe_diff, make_data, optimizer, rel_diff, run_path

SHAPES = {"scalar": [3, 4, 2], "loop": [5, 9, 7, 3]}


@pytest.mark.parametrize("style", SHAPES)
@pytest.mark.parametrize("batch_size", [1, 3])
@pytest.mark.parametrize("rule", ["sgd", "adam"])
def test_paths_agree_with_the_reference(comp, style, batch_size, rule):
    spec = make_spec(SHAPES[style], "tanh", "cross_entropy", None)
    rng = np.random.default_rng(7)
    params = rng.uniform(-0.5, 0.5, spec.n_params)
    X, Y = make_data(spec, 12, rng)
    sw = rng.uniform(0.0, 3.0, 12)
    sw[[2, 6, 7, 8]] = 0.0                    # rows 6-8 make a zero-weight batch at batch size 3, in order
    orders = [np.arange(12), rng.permutation(12), rng.permutation(12)]
    ref_opt = OptimizerState(optimizer(rule, weight_decay=0.01), spec.n_params, np.float64)
    comp_opt = OptimizerState(optimizer(rule, weight_decay=0.01), spec.n_params, np.float64)
    ref, ref_res = run_path("reference", spec, params, X, Y, orders, 0.05, batch_size, ref_opt, sw)
    got, got_res = run_path(comp, spec, params, X, Y, orders, 0.05, batch_size, comp_opt, sw)
    d = rel_diff(got, ref)
    assert d <= BOUND_F64_MANY_EPOCHS, f"{comp}: {d:.3g}; {describe_diff(spec, got, ref)}"
    assert comp_opt.t[0] == ref_opt.t[0]
    for r, c in zip(ref_res, got_res):
        assert c.weight_sum == pytest.approx(sw.sum(), rel=1e-12) and c.n_seen == 12
        assert c.loss_sum == pytest.approx(r.loss_sum, rel=1e-9)
    if batch_size == 3:                       # the zero-weight batch of the first epoch made no update
        assert ref_opt.t[0] < 3 * 4


@pytest.mark.parametrize("backend", ["reference", "numba", "numpy"])
def test_integer_weights_equal_repeated_rows_in_full_batch(backend):
    X, y = fastmlp.datasets.placement(30, seed=2)
    w = np.random.default_rng(0).integers(0, 4, 30)
    a = fastmlp.MLP([2, 3, 1], activation="tanh", seed=0)
    ha = a.fit(X, y, epochs=3, lr=0.1, batch_size=30, shuffle=False, sample_weight=w, backend=backend)
    b = fastmlp.MLP([2, 3, 1], activation="tanh", seed=0)
    hb = b.fit(np.repeat(X, w, axis=0), np.repeat(y, w), epochs=3, lr=0.1, batch_size=int(w.sum()),
               shuffle=False, backend=backend)
    assert rel_diff(a.params, b.params) <= 1e-12
    assert ha.loss == pytest.approx(hb.loss, rel=1e-12)


def test_uniform_weights_change_nothing():
    X, y = fastmlp.datasets.placement(40, seed=2)
    a = fastmlp.MLP([2, 3, 1], activation="tanh", seed=0)
    a.fit(X, y, epochs=2, lr=0.05, batch_size=4, seed=1, sample_weight=np.full(40, 3.0))
    b = fastmlp.MLP([2, 3, 1], activation="tanh", seed=0)
    b.fit(X, y, epochs=2, lr=0.05, batch_size=4, seed=1)
    assert rel_diff(a.params, b.params) <= 1e-12


@pytest.mark.parametrize("sw,exc,match", [
    (np.ones(9), ValueError, r"sample_weight must have shape \(10,\)"),
    (np.r_[np.ones(9), -1.0], ValueError, "finite and >= 0; row 9 has -1.0"),
    (np.r_[np.nan, np.ones(9)], ValueError, "sample_weight must be finite; row 0 holds NaN"),
    (np.zeros(10), ValueError, "must not be all zero"),
    (np.array(["a"] * 10), TypeError, "sample_weight must be a numeric array"),
])
def test_bad_weights(sw, exc, match):
    X, y = fastmlp.datasets.placement(10)
    net = fastmlp.MLP([2, 3, 1], seed=0)
    before = net.params.copy()
    with pytest.raises(exc, match=match):
        net.fit(X, y, sample_weight=sw)
    np.testing.assert_array_equal(net.params, before)

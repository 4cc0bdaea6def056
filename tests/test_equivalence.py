"""Every fast path against the reference, within the contract's bounds.

``comp`` (conftest) is parametrised over the fast paths; each test runs the reference (``ref``) and the path
under test from the same parameters, data, orders and hyperparameters and compares ``params`` after training
with the contract's measure, max|comp - ref| / max|ref|, and the reported epoch losses.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastmlp._validation import make_spec
from fastmlp.backends import numba as numba_path

from conftest import (
    BOUND_F32_ONE_EPOCH,
    BOUND_F64_MANY_EPOCHS,
    BOUND_F64_ONE_EPOCH,
    describe_diff,
    make_data,
    rel_diff,
    run_path,
)
from strategies import LOSS_OUTPUTS, specs

_REFERENCE = {}     # the reference's result per case: every fast path is compared with the same one


def train(backend, spec, params, X, Y, orders, lr, batch_size):
    """``(params, epoch losses)`` of one path after ``len(orders)`` epochs from ``params``."""
    key = None
    if backend == "reference":
        key = (spec, params.tobytes(), X.tobytes(), Y.tobytes(), tuple(o.tobytes() for o in orders), lr, batch_size)
        if key in _REFERENCE:
            p, losses = _REFERENCE[key]
            return p.copy(), list(losses)
    p, results = run_path(backend, spec, params, X, Y, orders, lr, batch_size)
    for result in results:
        assert result.bad_position == -1 and result.n_seen == X.shape[0]
    losses = [result.loss_sum / result.n_seen for result in results]
    if key is not None:
        _REFERENCE[key] = p.copy(), list(losses)
    return p, losses


def compare(comp, spec, *, n, epochs, batch_size, shuffle, dtype, seed, lr=0.05):
    rng = np.random.default_rng(seed)
    limit = np.sqrt(6.0 / (np.array(spec.layer_sizes[:-1]) + np.array(spec.layer_sizes[1:])))
    params = rng.uniform(-1.0, 1.0, spec.n_params)
    for W_l, lim in zip(spec.split(params)[0], limit):    # Glorot-sized weights keep 20 epochs tame
        W_l *= lim
    X, Y = make_data(spec, n, rng)
    orders = [rng.permutation(n) if shuffle else np.arange(n) for _ in range(epochs)]
    bound = BOUND_F64_ONE_EPOCH if epochs == 1 else BOUND_F64_MANY_EPOCHS
    if dtype == "float32":
        assert epochs == 1, "the contract bounds float32 after one epoch"
        bound = BOUND_F32_ONE_EPOCH
        params, X, Y = params.astype(np.float32), X.astype(np.float32), Y.astype(np.float32)
    ref_p, ref_losses = train("reference", spec, params.astype(np.float64), X.astype(np.float64),
                              Y.astype(np.float64), orders, lr, batch_size)
    comp_p, comp_losses = train(comp, spec, params, X, Y, orders, lr, batch_size)
    assert comp_p.dtype == params.dtype
    d = rel_diff(comp_p, ref_p)
    assert d <= bound, (f"{comp} vs reference on {spec.key}, batch {batch_size}, {epochs} epochs, {dtype}: "
                        f"{d:.3g} > {bound:g}; {describe_diff(spec, comp_p, ref_p)}")
    np.testing.assert_allclose(comp_losses, ref_losses, rtol=max(bound, 1e-13) * 10, atol=1e-12)


# one shape per style of the Numba kernels: straight-line code (scalar) and loops over flat buffers
SHAPES = {"scalar": [2, 2, 2], "loop": [3, 5, 4, 2]}


# The loop style reads the activation and the loss at run time: every pair, one compile. The scalar style is
# generated and compiled per network (about a second each on a cold cache): its text for a hidden activation does
# not depend on the loss, nor the loss's on the hidden activation (one emitter each, _codegen), so every emitter is
# run by every loss with tanh hidden units and every hidden activation with mse on identity outputs.
ACTIVATION_LOSS = [(style, activation, loss, out_act) for style in SHAPES
                   for activation in ["identity", "relu", "sigmoid", "tanh"] for loss, out_act in LOSS_OUTPUTS
                   if style == "loop" or activation == "tanh" or (loss, out_act) == ("mse", "identity")]


@pytest.mark.parametrize("style,activation,loss,out_act", ACTIVATION_LOSS)
def test_every_activation_and_loss(comp, style, activation, loss, out_act):
    spec = make_spec(SHAPES[style], activation, loss, out_act)
    assert numba_path.style_for(spec) == style
    for batch_size in (1, 3, 11):
        compare(comp, spec, n=11, epochs=1, batch_size=batch_size, shuffle=True, dtype="float64", seed=1)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("activation", ["identity", "relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("loss,out_act", LOSS_OUTPUTS)
def test_mini_batch_sizes(comp, dtype, activation, loss, out_act):
    # mini-batches of 1, 7, 32 and 128 rows (150 rows: every size ends on a short batch), every activation x
    # loss, both dtypes
    spec = make_spec(SHAPES["loop"], activation, loss, out_act)
    for batch_size in (1, 7, 32, 128):
        compare(comp, spec, n=150, epochs=1, batch_size=batch_size, shuffle=True, dtype=dtype, seed=5)


@pytest.mark.parametrize("loss,out_act", LOSS_OUTPUTS)
def test_float32(comp, loss, out_act):
    spec = make_spec([4, 6, 3 if loss != "mse" else 2], "tanh", loss, out_act)
    for batch_size in (1, 3, 20):
        compare(comp, spec, n=20, epochs=1, batch_size=batch_size, shuffle=True, dtype="float32", seed=2)


@pytest.mark.parametrize("batch_size", [1, 3, 40])
def test_twenty_epochs_wide_network(comp, batch_size):
    # the loop style of the Numba path (above its scalar threshold) and three hidden layers of 64
    spec = make_spec([5, 64, 64, 64, 3], "relu", "cross_entropy", None)
    compare(comp, spec, n=40, epochs=20, batch_size=batch_size, shuffle=True, dtype="float64", seed=3,
            lr=0.02)


@given(spec=specs(max_width=64), seed=st.integers(0, 2**32 - 1), shuffle=st.booleans(),
       batch=st.sampled_from(["1", "3", "n"]), mode=st.sampled_from(["f64-1", "f64-20", "f32-1"]))
def test_random_networks(comp, spec, seed, shuffle, batch, mode):
    dtype, epochs = ("float32", 1) if mode == "f32-1" else ("float64", int(mode.split("-")[1]))
    n = 6 if epochs == 20 else 10
    batch_size = n if batch == "n" else int(batch)
    compare(comp, spec, n=n, epochs=epochs, batch_size=batch_size, shuffle=shuffle, dtype=dtype, seed=seed,
            lr=0.02)


def test_comparison_is_not_vacuous(comp):
    # a different learning rate moves the parameters by far more than the bound
    spec = make_spec([3, 4, 2], "tanh", "mse", None)
    with pytest.raises(AssertionError):
        rng = np.random.default_rng(0)
        params = rng.uniform(-1, 1, spec.n_params)
        X, Y = make_data(spec, 8, rng)
        orders = [np.arange(8)]
        ref_p, _ = train("reference", spec, params, X, Y, orders, 0.05, 1)
        comp_p, _ = train(comp, spec, params, X, Y, orders, 0.05 * (1 + 1e-9), 1)
        assert rel_diff(comp_p, ref_p) <= BOUND_F64_ONE_EPOCH

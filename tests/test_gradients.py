"""The reference's gradients (and the model's) against central finite differences of the loss."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastmlp._validation import make_spec
from fastmlp.backends import reference
from fastmlp.backends.numpy import arrays

from conftest import make_data
from strategies import LOSS_OUTPUTS, specs

H = 1e-6          # central difference step
FD_TOL = 1e-6     # |fd - grad| <= FD_TOL * (1 + |grad|): truncation ~H^2, rounding ~1e-16/H


def reference_mean_loss(spec, params, X, Y):
    W, b = reference.unpack(spec, params)
    total = 0.0
    for x, y in zip(X.tolist(), Y.tolist()):
        z, a = reference.forward(spec, W, b, x)
        total += reference.sample_loss(spec, z, a, y)
    return total / X.shape[0]


def finite_differences(spec, params, X, Y):
    g = np.empty_like(params)
    for q in range(params.size):
        p = params.copy()
        p[q] += H
        up = reference_mean_loss(spec, p, X, Y)
        p[q] -= 2 * H
        down = reference_mean_loss(spec, p, X, Y)
        g[q] = (up - down) / (2 * H)
    return g


def check(spec, seed):
    rng = np.random.default_rng(seed)
    params = rng.uniform(-1.0, 1.0, spec.n_params)
    X, Y = make_data(spec, 4, rng)
    fd = finite_differences(spec, params, X, Y)
    dW, db, loss = reference.gradients(spec, params, X, Y)
    ref = spec.join(dW, db)
    err = np.abs(fd - ref) / (1 + np.abs(ref))
    assert err.max() <= FD_TOL, f"{spec.key}: reference vs finite differences, worst params[{err.argmax()}]"
    assert loss == pytest.approx(reference_mean_loss(spec, params, X, Y), rel=1e-15)
    # the model's gradients (numpy, vectorised) equal the reference's
    dW2, db2, loss2 = arrays.gradients(spec, params, X, Y)
    np.testing.assert_allclose(spec.join(dW2, db2), ref, rtol=1e-12, atol=1e-14)
    assert loss2 == pytest.approx(loss, rel=1e-13)


@pytest.mark.parametrize("activation", ["identity", "relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("loss,out_act", LOSS_OUTPUTS)
def test_every_activation_and_loss(activation, loss, out_act):
    spec = make_spec([3, 4, 3, 3 if loss != "mse" else 2], activation, loss, out_act)
    check(spec, seed=7)


@given(spec=specs(max_width=6), seed=st.integers(0, 2**32 - 1))
def test_random_architectures(spec, seed):
    check(spec, seed)


def test_finite_differences_would_catch_a_wrong_gradient():
    # the check is not vacuous: a gradient off by 1e-4 in one entry fails it
    spec = make_spec([2, 3, 1], "tanh", "mse", None)
    rng = np.random.default_rng(0)
    params = rng.uniform(-1, 1, spec.n_params)
    X, Y = make_data(spec, 4, rng)
    fd = finite_differences(spec, params, X, Y)
    ref = spec.join(*reference.gradients(spec, params, X, Y)[:2])
    ref[3] += 1e-4
    assert (np.abs(fd - ref) / (1 + np.abs(ref))).max() > FD_TOL


def test_stable_losses_at_extreme_logits():
    # log_loss and cross_entropy from z, never log(0): finite and correct far out in the tails
    spec = make_spec([1, 2], "identity", "cross_entropy", None)
    W, b = [[[800.0, -800.0]]], [[0.0, 0.0]]
    z, a = reference.forward(spec, W, b, [1.0])
    assert reference.sample_loss(spec, z, a, [0.0, 1.0]) == pytest.approx(1600.0)
    spec = make_spec([1, 1], "identity", "log_loss", None)
    z, a = reference.forward(spec, [[[-800.0]]], [[0.0]], [1.0])
    assert reference.sample_loss(spec, z, a, [1.0]) == pytest.approx(800.0)
    assert reference.sample_loss(spec, z, a, [0.0]) == pytest.approx(0.0, abs=1e-300)

"""The seed example: the [2, 2, 1] network (iq, cgpa) -> salary, linear, squared error, per-sample SGD.

Its nine derivatives are written out as the chain rule gives them by hand, in the worked example's names: ``w_ij^(l)``
joins unit i of layer l-1 to unit j of layer l (1-based), so ``w_ij^(1) = W[0][i-1, j-1]``.
"""
import numpy as np
import pytest

import fastmlp
from fastmlp.backends import reference

# chosen weights, all different so that a swapped index shows
W1 = [[0.1, 0.2], [0.3, 0.4]]      # w11^(1) w12^(1) / w21^(1) w22^(1)
B1 = [0.05, -0.05]                 # b11, b12
W2 = [[0.5], [-0.6]]               # w11^(2) / w21^(2)
B2 = [0.02]                        # b21
IQ, CGPA, SALARY = 1.05, 0.82, 1.1  # one placed student, scaled as datasets.placement scales them


def seed_net():
    net = fastmlp.MLP([2, 2, 1], activation="identity", loss="mse", seed=0)
    net.weights[0][...] = W1
    net.biases[0][...] = B1
    net.weights[1][...] = W2
    net.biases[1][...] = B2
    return net


def hand_gradients():
    """The nine derivatives by the chain rule, as the seed derives them."""
    x1, x2, y = IQ, CGPA, SALARY
    (w11_1, w12_1), (w21_1, w22_1) = W1
    b11, b12 = B1
    (w11_2,), (w21_2,) = W2
    (b21,) = B2
    o11 = w11_1 * x1 + w21_1 * x2 + b11           # hidden unit 1
    o12 = w12_1 * x1 + w22_1 * x2 + b12           # hidden unit 2
    yhat = w11_2 * o11 + w21_2 * o12 + b21        # output
    dL_dyhat = -2 * (y - yhat)                    # L = (y - yhat)^2
    return {
        "w11^(2)": dL_dyhat * o11,
        "w21^(2)": dL_dyhat * o12,
        "b21": dL_dyhat,
        "w11^(1)": dL_dyhat * w11_2 * x1,
        "w21^(1)": dL_dyhat * w11_2 * x2,
        "b11": dL_dyhat * w11_2,
        "w12^(1)": dL_dyhat * w21_2 * x1,
        "w22^(1)": dL_dyhat * w21_2 * x2,
        "b12": dL_dyhat * w21_2,
    }


def by_seed_name(dW, db):
    return {
        "w11^(1)": dW[0][0][0], "w12^(1)": dW[0][0][1], "w21^(1)": dW[0][1][0], "w22^(1)": dW[0][1][1],
        "b11": db[0][0], "b12": db[0][1],
        "w11^(2)": dW[1][0][0], "w21^(2)": dW[1][1][0], "b21": db[1][0],
    }


X = np.array([[IQ, CGPA]])
Y = np.array([SALARY])


def test_nine_gradients_of_the_model_equal_the_hand_formulas():
    net = seed_net()
    before = net.params.copy()
    got = by_seed_name(*net.gradients(X, Y))
    for name, want in hand_gradients().items():
        assert got[name] == pytest.approx(want, rel=1e-14, abs=1e-15), name
    np.testing.assert_array_equal(net.params, before)   # gradients leave the parameters alone


def test_nine_gradients_of_the_reference_equal_the_hand_formulas():
    net = seed_net()
    dW, db, _ = reference.gradients(net.spec, net.params, X, Y.reshape(1, 1))
    got = by_seed_name(dW, db)
    for name, want in hand_gradients().items():
        assert got[name] == pytest.approx(want, rel=1e-14, abs=1e-15), name


def test_hand_gradients_are_not_trivial():
    # guards the test above: the chosen point must give nine distinct, non-zero derivatives
    values = list(hand_gradients().values())
    assert all(abs(v) > 1e-3 for v in values)
    assert len(set(round(v, 12) for v in values)) == 9


@pytest.mark.parametrize("backend", ["python", "numba", "numpy"])
def test_one_step_is_w_minus_lr_times_gradient(backend):
    lr = 0.05
    net = seed_net()
    dW, db = net.gradients(X, Y)
    expected = [W - lr * g for W, g in zip(net.weights, dW)], [b - lr * g for b, g in zip(net.biases, db)]
    net.fit(X, Y, epochs=1, lr=lr, batch_size=1, shuffle=False, backend=backend)
    for l in range(2):
        np.testing.assert_allclose(net.weights[l], expected[0][l], rtol=1e-14, atol=1e-16)
        np.testing.assert_allclose(net.biases[l], expected[1][l], rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("backend", ["python", "numba", "numpy"])
def test_training_on_placement_data_lowers_the_loss(backend):
    X, y = fastmlp.datasets.placement(500, seed=0)
    net = fastmlp.MLP([2, 2, 1], activation="identity", seed=0)
    start = net.loss(X, y)
    history = net.fit(X, y, epochs=10, lr=0.02, backend=backend)
    assert net.loss(X, y) < 0.1 * start
    assert history.loss[-1] < history.loss[0]
    assert net.loss(X, y) < 0.02    # on the way to the noise floor, 0.0025

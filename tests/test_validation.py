"""Bad input: a clear error naming the argument, before any work starts, and the model left as it was."""
import numpy as np
import pytest

import fastmlp

X_OK = np.random.default_rng(0).uniform(-1, 1, (6, 2))
Y_OK = np.random.default_rng(1).uniform(-1, 1, 6)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(layer_sizes=[2]), ValueError, "layer_sizes must have at least two"),
    (dict(layer_sizes=[]), ValueError, "layer_sizes must have at least two"),
    (dict(layer_sizes=[2, 0, 1]), ValueError, r"layer_sizes\[1\] must be >= 1, got 0"),
    (dict(layer_sizes=[2, -3, 1]), ValueError, r"layer_sizes\[1\] must be >= 1"),
    (dict(layer_sizes=[2, 2.5, 1]), TypeError, r"layer_sizes\[1\] must be an integer"),
    (dict(layer_sizes="221"), TypeError, "layer_sizes must be a sequence"),
    (dict(layer_sizes=3), TypeError, "layer_sizes must be a sequence"),
    (dict(layer_sizes=[2, 1], activation="softplus"), ValueError, "activation must be one of .*'softplus'"),
    (dict(layer_sizes=[2, 1], loss="hinge"), ValueError, "loss must be one of .*'hinge'"),
    (dict(layer_sizes=[2, 1], dtype="float16"), ValueError, "dtype must be one of .*float16"),
    (dict(layer_sizes=[2, 1], dtype="int64"), ValueError, "dtype must be one of"),
    (dict(layer_sizes=[2, 1], loss="cross_entropy"), ValueError, "cross_entropy' needs at least 2 outputs"),
    (dict(layer_sizes=[2, 1], loss="log_loss", output_activation="tanh"), ValueError,
     "output_activation must be 'sigmoid'"),
    (dict(layer_sizes=[2, 1], output_activation="softmax"), ValueError, "output_activation must be one of"),
])
def test_constructor(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fastmlp.MLP(**kwargs)


def bad_fit_cases():
    return [
        (dict(X=X_OK[:, 0]), ValueError, r"X must be 2-D .* got shape \(6,\)"),
        (dict(X=np.ones((6, 3))), ValueError, r"X must have 2 columns .* got shape \(6, 3\)"),
        (dict(X=np.ones((0, 2)), y=np.ones(0)), ValueError, "X must have at least one row"),
        (dict(X=np.array([["a", "b"]] * 6)), TypeError, "X must be a numeric array"),
        (dict(X=np.where(np.arange(12).reshape(6, 2) == 7, np.nan, 1.0)), ValueError,
         "X must be finite; row 3"),
        (dict(X=np.where(np.arange(12).reshape(6, 2) == 0, np.inf, 1.0)), ValueError, "X must be finite; row 0"),
        (dict(y=np.ones(5)), ValueError, r"y must have one entry per row of X \(6\), got 5"),
        (dict(y=np.ones((6, 2))), ValueError, r"y must have 1 columns .* got shape \(6, 2\)"),
        (dict(y=np.ones((6, 1, 1))), ValueError, "y must have shape"),
        (dict(y=np.where(np.arange(6) == 2, np.nan, 0.0)), ValueError, "y must be finite; row 2"),
        (dict(lr=0), ValueError, "lr must be a finite number > 0, got 0.0"),
        (dict(lr=-0.1), ValueError, "lr must be a finite number > 0"),
        (dict(lr=float("nan")), ValueError, "lr must be a finite number > 0, got nan"),
        (dict(lr=float("inf")), ValueError, "lr must be a finite number > 0, got inf"),
        (dict(lr="0.1"), TypeError, "lr must be a real number"),
        (dict(epochs=0), ValueError, "epochs must be >= 1, got 0"),
        (dict(epochs=1.5), TypeError, "epochs must be an integer"),
        (dict(batch_size=0), ValueError, "batch_size must be >= 1, got 0"),
        (dict(batch_size=True), TypeError, "batch_size must be an integer"),
        (dict(backend="torch"), ValueError, "backend must be one of .*'torch'"),
        (dict(shuffle="yes"), TypeError, "shuffle must be True or False"),
        (dict(seed=-1), ValueError, "seed must be >= 0"),
    ]


@pytest.mark.parametrize("case,exc,match", bad_fit_cases())
def test_fit_rejects_and_leaves_the_model_untouched(case, exc, match):
    net = fastmlp.MLP([2, 3, 1], seed=0)
    before = net.params.copy()
    rng_state = net.rng.bit_generator.state
    args = dict(X=X_OK, y=Y_OK)
    args.update(case)
    X, y = args.pop("X"), args.pop("y")
    with pytest.raises(exc, match=match):
        net.fit(X, y, **args)
    np.testing.assert_array_equal(net.params, before)
    assert net.rng.bit_generator.state == rng_state   # no random number was drawn either


def test_log_loss_labels_must_be_0_or_1():
    net = fastmlp.MLP([2, 3, 1], loss="log_loss", seed=0)
    before = net.params.copy()
    with pytest.raises(ValueError, match=r"y must hold labels 0 or 1 with loss='log_loss'; row 1 has \[0.5\]"):
        net.fit(X_OK, [0, 0.5, 1, 0, 1, 1])
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("y,match", [
    ([0, 1, 2, 3, 0, 1], r"integers in \[0, 3\); row 3 has 3"),
    ([0, 1, -1, 0, 0, 1], r"integers in \[0, 3\); row 2 has -1"),
    ([0, 1, 1.5, 0, 0, 1], r"row 2 has 1.5"),
    (np.array([[1, 0, 0]] * 5 + [[1, 1, 0]]), "must be one-hot rows .* row 5"),
    (np.array([[1, 0, 0]] * 5 + [[0.5, 0.5, 0]]), "must be one-hot rows .* row 5"),
])
def test_class_targets(y, match):
    net = fastmlp.MLP([2, 3, 3], loss="cross_entropy", seed=0)
    before = net.params.copy()
    with pytest.raises(ValueError, match=match):
        net.fit(X_OK, y)
    np.testing.assert_array_equal(net.params, before)


def test_class_indices_equal_one_hot():
    y = np.array([0, 2, 1, 1, 0, 2])
    a = fastmlp.MLP([2, 3, 3], loss="cross_entropy", seed=0)
    b = fastmlp.MLP([2, 3, 3], loss="cross_entropy", seed=0)
    a.fit(X_OK, y, seed=0, backend="numpy")
    b.fit(X_OK, np.eye(3)[y], seed=0, backend="numpy")
    np.testing.assert_array_equal(a.params, b.params)


def test_user_arrays_are_not_changed():
    X = np.asfortranarray(X_OK.astype(np.float32))
    y = Y_OK.copy()
    X_copy, y_copy = X.copy(), y.copy()
    net = fastmlp.MLP([2, 3, 1], seed=0)
    net.fit(X, y, epochs=2, backend="numpy")
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)


def test_predict_checks_its_input():
    net = fastmlp.MLP([2, 3, 1], seed=0)
    with pytest.raises(ValueError, match="X must have 2 columns"):
        net.predict(np.ones((4, 5)))
    assert net.predict(X_OK).shape == (6, 1)


def test_views_write_through_to_params():
    net = fastmlp.MLP([2, 3, 1], seed=0)
    net.weights[1][2, 0] = 7.0
    net.biases[0][1] = -2.0
    assert net.params[6 + 3 + 2] == 7.0          # W[0] (6), b[0] (3), then W[1] row 2
    assert net.params[6 + 1] == -2.0
    assert [w.shape for w in net.weights] == [(2, 3), (3, 1)]
    assert [b.shape for b in net.biases] == [(3,), (1,)]


@pytest.mark.parametrize("backend", ["reference", "numba", "numpy"])
@pytest.mark.parametrize("argument", ["X", "y", "validation_data", "sample_weight"])
def test_values_beyond_float32s_range_are_refused_by_name(argument, backend):
    """1e39 is a finite float64 but infinity in float32: a float32 model refuses it as bad input, naming the
    argument, before any work (it used to surface later as a DivergenceError advising a smaller lr)."""
    net = fastmlp.MLP([2, 3, 1], dtype="float32", seed=0)
    before, state = net.params.copy(), net.rng.bit_generator.state
    X, y = X_OK.copy(), Y_OK.copy()
    kw = dict(backend=backend)
    if argument == "X":
        X[4, 1] = -1e39
    elif argument == "y":
        y[4] = 1e39
    elif argument == "validation_data":
        y_val = Y_OK.copy()
        y_val[4] = 1e39
        kw["validation_data"] = (X_OK, y_val)
    else:
        weights = np.ones(6)
        weights[4] = 1e39
        kw["sample_weight"] = weights
    name = {"validation_data": r"validation_data\[1\]"}.get(argument, argument)
    with pytest.raises(ValueError, match=rf"{name} must be finite in float32.*row 4 holds -?1e\+39"):
        net.fit(X, y, **kw)
    np.testing.assert_array_equal(net.params, before)
    assert net.rng.bit_generator.state == state and net.optimizer_state is None
    # the same values are fine in float64
    fastmlp.MLP([2, 3, 1], seed=0).fit(X, y, lr=1e-90, **kw)


def test_everything_after_y_is_keyword_only():
    net = fastmlp.MLP([2, 3, 1], seed=0)
    before = net.params.copy()
    with pytest.raises(TypeError, match="positional"):
        net.fit(X_OK, Y_OK, 10, 0.01)
    np.testing.assert_array_equal(net.params, before)


def test_an_invalid_parameter_is_a_value_error_and_a_type_error():
    for call in (lambda: fastmlp.MLP([2, 1]).fit(X_OK, Y_OK, lr=-1.0), lambda: fastmlp.MLP([2, 1], seed="a")):
        with pytest.raises(fastmlp.InvalidParameterError) as info:
            call()
        assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)


@pytest.mark.parametrize("shorthand, optimizer", [
    ("sgd", fastmlp.optim.SGD()), ("momentum", fastmlp.optim.SGD(momentum=0.9)),
    ("nesterov", fastmlp.optim.SGD(momentum=0.9, nesterov=True)), ("adam", fastmlp.optim.Adam())])
def test_optimizer_names_are_shorthands_for_the_objects(shorthand, optimizer):
    by_name, by_object = (fastmlp.MLP([2, 3, 1], activation="tanh", seed=0) for _ in range(2))
    by_name.fit(X_OK, Y_OK, epochs=2, lr=0.01, seed=1, optimizer=shorthand)
    by_object.fit(X_OK, Y_OK, epochs=2, lr=0.01, seed=1, optimizer=optimizer)
    assert by_name.params.tobytes() == by_object.params.tobytes()
    assert by_name.optimizer_state.optimizer == optimizer and by_name.optimizer_state.name == shorthand


def test_python_is_the_reference_paths_other_name():
    a, b = fastmlp.MLP([2, 3, 1], seed=0), fastmlp.MLP([2, 3, 1], seed=0)
    ha = a.fit(X_OK, Y_OK, epochs=2, seed=1, backend="python")
    hb = b.fit(X_OK, Y_OK, epochs=2, seed=1, backend="reference")
    assert ha.backend == hb.backend == "reference" and a.params.tobytes() == b.params.tobytes()


@pytest.mark.parametrize("sizes", [[2, 1], [3, 5, 2], [4, 7, 6, 3]])
def test_split_and_join_are_the_contract_layout(sizes):
    """W[0] row-major, b[0], W[1], b[1], ...: split gives views in that order and join is its inverse."""
    spec = fastmlp.MLP(sizes).spec
    params = np.arange(spec.n_params, dtype=np.float64)
    W, b = spec.split(params)
    pos = 0
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        assert W[l].shape == (n_in, n_out) and np.shares_memory(W[l], params)
        np.testing.assert_array_equal(W[l].ravel(), np.arange(pos, pos + n_in * n_out))
        for i in range(n_in):
            for j in range(n_out):
                assert spec.locate(pos + i * n_out + j) == f"W[{l}][{i}, {j}]"
        pos += n_in * n_out
        np.testing.assert_array_equal(b[l], np.arange(pos, pos + n_out))
        assert [spec.locate(pos + j) for j in range(n_out)] == [f"b[{l}][{j}]" for j in range(n_out)]
        pos += n_out
    assert pos == spec.n_params
    np.testing.assert_array_equal(spec.join(W, b), params)

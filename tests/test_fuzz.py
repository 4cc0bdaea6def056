"""A fuzz suite over the public API (issue 14): malformed arrays, dtypes, shapes, hyperparameters, model files and
data-set manifests. Every call either succeeds or raises ``TypeError``/``ValueError`` naming an argument (or the
file), or ``DivergenceError``; on an error the model's parameters, optimiser state and generator are unchanged.
Any other exception (``KeyError``, ``AttributeError``, ``MemoryError``, a bare ``RuntimeError``...) fails."""
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastmlp
from fastmlp import MLP

ALLOWED = (TypeError, ValueError, fastmlp.DivergenceError)
RNG = np.random.default_rng(0)
X_GOOD = RNG.standard_normal((12, 3))
Y_GOOD = X_GOOD.sum(1) * 0.1

DTYPES = ["f2", "f4", "f8", "i1", "i8", "u8", "b1", "c8", "c16", "m8[s]", "M8[s]", "U3", "S3", "O"]
VALUES = [0.0, -0.0, 1.0, -2.5, 1e39, -1e300, np.nan, np.inf, -np.inf, 5e-324, 3.0]


@st.composite
def arrays(draw):
    """Arrays of every dtype and of 0-3 dimensions, zero-size ones included, with extreme values."""
    dtype = draw(st.sampled_from(DTYPES))
    ndim = draw(st.integers(0, 3))
    shape = tuple(draw(st.lists(st.sampled_from([0, 1, 2, 3, 12]), min_size=ndim, max_size=ndim)))
    values = draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=4))
    flat = np.resize(np.array(values), int(np.prod(shape)))
    with np.errstate(all="ignore"):
        try:
            return flat.reshape(shape).astype(dtype)
        except (TypeError, ValueError, OverflowError):
            return flat.reshape(shape)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 300), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=4), st.sampled_from([np.float32(0.5), np.int64(3), np.float16(2.0),
                                                           np.bool_(True), [1, 2], {"a": 1}, (0.9,), (0.9, 0.99)]))
FIT_KEYWORDS = ["epochs", "lr", "batch_size", "optimizer", "schedule", "stopping", "validation_data",
                "validation_fraction", "sample_weight", "shuffle", "seed", "backend", "chunk_rows", "progress",
                "callbacks"]
SETTINGS_OBJECTS = {fastmlp.optim.SGD: ["momentum", "nesterov", "weight_decay"],
                    fastmlp.optim.Adam: ["betas", "eps", "weight_decay"],
                    fastmlp.schedule.InvScaling: ["power_t"],
                    fastmlp.schedule.Stopping: ["n_iter_no_change", "tol", "wtol", "restore_best"]}
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _state(net):
    opt = net.optimizer_state
    return (net.params.tobytes(), None if opt is None else (opt.name, opt.m.tobytes(), opt.v.tobytes(),
                                                             opt.t.tobytes(), opt.hyper.tobytes()),
            json.dumps(net.rng.bit_generator.state, default=str))


def assert_clean(call, net=None, names=()):
    """``call()`` succeeds, or fails as the API promises (see the module's notes)."""
    before = None if net is None else _state(net)
    try:
        call()
    except ALLOWED as e:
        if isinstance(e, fastmlp.DivergenceError):
            return
        assert any(name in str(e) for name in names), f"the error names none of {names}: {e!r}"
        if net is not None:
            assert _state(net) == before, f"the model changed although the call was refused: {e!r}"


def _fitted():
    net = MLP([3, 2, 1], seed=0)
    net.fit(X_GOOD, Y_GOOD, epochs=1, backend="reference", optimizer="momentum")
    return net


@FUZZ
@given(X=arrays(), y=arrays())
def test_fit_with_any_arrays(X, y):
    net = _fitted()
    assert_clean(lambda: net.fit(X, y, backend="reference"), net, names=("X", "y"))


@FUZZ
@given(key=st.sampled_from(FIT_KEYWORDS), value=st.one_of(SCALARS, arrays()))
def test_fit_with_any_setting(key, value):
    net = _fitted()
    assert_clean(lambda: net.fit(X_GOOD, Y_GOOD, backend="reference", **{key: value}), net, names=(key, "X", "y"))


@FUZZ
@given(kind=st.sampled_from(sorted(SETTINGS_OBJECTS, key=lambda k: k.__name__)), data=st.data(),
       value=st.one_of(SCALARS, arrays()))
def test_optimisers_schedules_and_stopping_with_any_setting(kind, data, value):
    """An object is made whole or refused naming its field; one that is made trains like any other setting."""
    key = data.draw(st.sampled_from(SETTINGS_OBJECTS[kind]))
    try:
        made = kind(**{key: value})
    except fastmlp.InvalidParameterError as e:
        assert str(e).startswith(key) or key in str(e), f"{kind.__name__}({key}={value!r}): {e}"
        return
    net = _fitted()
    name = {"SGD": "optimizer", "Adam": "optimizer", "InvScaling": "schedule", "Stopping": "stopping"}[kind.__name__]
    assert_clean(lambda: net.fit(X_GOOD, Y_GOOD, backend="reference", **{name: made}), net, names=(name, "X", "y"))


@FUZZ
@given(X=arrays())
def test_predict_loss_and_gradients_with_any_array(X):
    net = _fitted()
    for call in (lambda: net.predict(X), lambda: net.loss(X, Y_GOOD), lambda: net.gradients(X, Y_GOOD)):
        assert_clean(call, net, names=("X", "y"))


@FUZZ
@given(layer_sizes=st.one_of(SCALARS, arrays(), st.lists(SCALARS, max_size=4)),
       key=st.sampled_from(["activation", "loss", "output_activation", "dtype", "seed"]), value=SCALARS)
def test_the_constructor_with_anything(layer_sizes, key, value):
    assert_clean(lambda: MLP(layer_sizes), names=("layer_sizes",))
    assert_clean(lambda: MLP([3, 2, 1], **{key: value}), names=(key, "output_activation"))


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m.npz"
    _fitted().save(path)
    return path.read_bytes()


@FUZZ
@given(data=st.data())
def test_load_with_damaged_files(model_bytes, tmp_path_factory, data):
    damaged = bytearray(model_bytes)
    kind = data.draw(st.sampled_from(["flip", "truncate", "zero"]))
    if kind == "truncate":
        damaged = damaged[:data.draw(st.integers(0, len(damaged) - 1))]
    else:
        for _ in range(data.draw(st.integers(1, 8))):
            k = data.draw(st.integers(0, len(damaged) - 1))
            damaged[k] = 0 if kind == "zero" else damaged[k] ^ (1 << data.draw(st.integers(0, 7)))
    path = tmp_path_factory.mktemp("damaged") / "m.npz"
    path.write_bytes(bytes(damaged))
    assert_clean(lambda: fastmlp.load(path), names=(str(path),))


@FUZZ
@given(key=st.sampled_from(["format", "format_version", "rows", "X", "y", "params", "seed", "dtype", "X.file",
                            "X.shape", "X.dtype", "y.shape", "params.layer_sizes", "params.task"]),
       value=st.one_of(SCALARS, st.lists(st.integers(-2, 20), max_size=3)))
def test_data_set_folders_with_damaged_manifests(tmp_path_factory, key, value):
    folder = tmp_path_factory.mktemp("ds") / "data"
    fastmlp.datasets.write(folder, 12, [3, 1], seed=0)
    manifest = json.loads((folder / "manifest.json").read_text())
    target = manifest
    *parents, last = key.split(".")
    for p in parents:
        target = target[p]
    target[last] = value
    try:
        (folder / "manifest.json").write_text(json.dumps(manifest))
    except (TypeError, ValueError):
        return                                         # not JSON (nan in strict mode, a numpy scalar)
    net = _fitted()
    assert_clean(lambda: net.fit(str(folder), backend="reference"), net, names=(str(folder),))


@FUZZ
@given(X=arrays(), y=arrays(), key=st.sampled_from(["hidden_layer_sizes", "alpha", "batch_size", "learning_rate_init",
                                                    "max_iter", "momentum", "validation_fraction", "beta_1", "tol"]),
       value=SCALARS)
def test_estimators_with_any_input(X, y, key, value):
    pytest.importorskip("sklearn")
    est = fastmlp.MLPRegressor(hidden_layer_sizes=(2,), max_iter=2, backend="reference", random_state=0)
    with pytest.warns():                                # the ConvergenceWarning of two epochs
        est.fit(X_GOOD, Y_GOOD)
    before = (est.net_.params.tobytes(), est.n_iter_)
    for call in (lambda: est.partial_fit(X, y), lambda: est.set_params(**{key: value}).partial_fit(X_GOOD, Y_GOOD)):
        try:
            call()
        except ALLOWED:
            assert (est.net_.params.tobytes(), est.n_iter_) == before
        else:
            before = (est.net_.params.tobytes(), est.n_iter_)
        est.set_params(**{key: fastmlp.MLPRegressor().get_params()[key]})

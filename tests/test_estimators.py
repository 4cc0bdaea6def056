"""The scikit-learn estimators: check_estimator, agreement with scikit-learn's own MLPs, the sklearn tools,
partial_fit, warm starts, early stopping, progress and callbacks."""
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastmlp

from conftest import BOUND_F64_ONE_EPOCH, rel_diff

sklearn = pytest.importorskip("sklearn", reason="the estimator tests need scikit-learn (the test extra)")
import sklearn.neural_network as sknn  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import check_sample_weight_equivalence_on_dense_data, parametrize_with_checks  # noqa: E402

from fastmlp import MLPClassifier, MLPRegressor  # noqa: E402

SMALL = dict(hidden_layer_sizes=(32,), max_iter=100)


@parametrize_with_checks([MLPRegressor(**SMALL), MLPClassifier(**SMALL), MLPRegressor(solver="lbfgs", **SMALL),
                          MLPClassifier(solver="lbfgs", **SMALL)])
def test_check_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        check(estimator)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("Est", [MLPRegressor, MLPClassifier])
def test_weights_are_repeated_rows_with_a_strong_penalty_too(Est, solver):
    """alpha over each batch's weight (scikit-learn's rule): a row of weight 2 is that row twice, penalty included;
    alpha 0.5 makes a difference the check would see if the penalty were over the batch's row count."""
    check_sample_weight_equivalence_on_dense_data(Est.__name__, Est(**SMALL, alpha=0.5, solver=solver,
                                                                    random_state=0))


# --- one epoch against scikit-learn's own MLPs --------------------------------------------------------------
def _data(kind, n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    if kind == "regression":
        return X, X @ rng.standard_normal(5) + 0.1 * rng.standard_normal(n)
    if kind == "multi-output":
        return X, X @ rng.standard_normal((5, 3))
    labels = (X[:, 0] + X[:, 1] > 0).astype(int)
    if kind == "multi-class":
        labels = labels + (X[:, 2] > 0.5)
    return X, np.array(["no", "yes", "maybe"])[labels]


def initial_params(est, n_features, n_outputs):
    """The parameters ``est`` starts a cold fit from (scikit-learn's draw for its ``random_state``)."""
    est._check_params()
    return est._new_net(n_features, n_outputs, "mse", np.float64).params


def test_the_initial_parameters_are_scikit_learns_draw():
    """The same ``random_state``, the same start: scikit-learn's parameters after its initialisation (read through
    ``max_iter=1`` with a learning rate too small to move them beyond rounding) are ours before training."""
    X, y = _data("multi-class")
    for activation in ("relu", "logistic"):                        # logistic: scikit-learn's narrower bound
        kw = dict(hidden_layer_sizes=(8, 4), activation=activation, random_state=5, max_iter=1, solver="sgd",
                  learning_rate_init=1e-300)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
            theirs = sknn.MLPClassifier(**kw).fit(X, y)
            ours = MLPClassifier(**kw).fit(X, y)
        for a, b in zip(theirs.coefs_ + theirs.intercepts_, ours.coefs_ + ours.intercepts_):
            np.testing.assert_allclose(b, a, rtol=0, atol=1e-15)


def _sklearn_one_epoch(Sk, X, y, ours, lr, batch_size, alpha=0.0, sample_weight=None):
    """scikit-learn's estimator, started from ``ours``'s parameters, after one epoch of plain SGD in order."""
    sk = Sk(hidden_layer_sizes=ours.hidden_layer_sizes, activation=ours.activation, solver="sgd", momentum=0.0,
            alpha=alpha, shuffle=False, max_iter=1, learning_rate_init=lr, batch_size=batch_size, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        sk.fit(X, y)                                   # builds every attribute; then its parameters are replaced
        for theirs, mine in zip(sk.coefs_ + sk.intercepts_, ours.coefs_ + ours.intercepts_):
            theirs[...] = mine
        sk.set_params(warm_start=True)
        sk.loss_curve_ = []
        sk.fit(X, y, sample_weight=sample_weight)
    return np.concatenate([a.ravel() for pair in zip(sk.coefs_, sk.intercepts_) for a in pair]), sk.loss_curve_[0]


@pytest.mark.parametrize("kind", ["regression", "multi-output", "binary", "multi-class"])
@pytest.mark.parametrize("batch_size", [1, 32])
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_one_epoch_matches_scikit_learn(kind, batch_size, backend):
    X, y = _data(kind)
    if kind == "binary":
        y = np.where(y == "maybe", "yes", y)
    regression = kind in ("regression", "multi-output")
    Est, Sk = (MLPRegressor, sknn.MLPRegressor) if regression else (MLPClassifier, sknn.MLPClassifier)
    ours = Est(hidden_layer_sizes=(8, 4), activation="tanh", solver="sgd", momentum=0.0, alpha=0.0, shuffle=False,
               max_iter=1, learning_rate_init=0.01, batch_size=batch_size, random_state=0, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        start = ours.fit(X, y).net_            # the initial parameters are those of MLP(..., seed=random_state)
        init = fastmlp.MLP(start.layer_sizes, activation="tanh", loss=start.loss_name, seed=0).params
        start.params[...] = init
        # the same learning_rate_init: the estimator takes scikit-learn's steps (``_scales``)
        theirs, their_loss = _sklearn_one_epoch(Sk, X, y, ours, 0.01, batch_size)
        ours.set_params(warm_start=True).fit(X, y)            # from the replaced parameters, a new optimiser
    assert np.array_equal(fastmlp.MLP(start.layer_sizes, activation="tanh", loss=start.loss_name, seed=0).params,
                          init)
    assert rel_diff(ours.net_.params, theirs) <= BOUND_F64_ONE_EPOCH
    assert ours.loss_curve_[-1] == pytest.approx(their_loss, rel=1e-12)         # in scikit-learn's units
    assert ours.history_.loss[0] == pytest.approx(their_loss * (2 if regression else 1), rel=1e-12)  # the contract's
    assert ours.n_iter_ == 1


# --- the scikit-learn tools ------------------------------------------------------------------------------------
def test_pipeline_grid_search_clone_and_pickle():
    X, y = _data("multi-class", n=240)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=60, random_state=0,
                                                         learning_rate_init=0.01))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2],
                                     "mlpclassifier__hidden_layer_sizes": [(4,), (8,)]}, cv=3).fit(X, y)
    assert search.best_score_ > 0.7
    assert set(search.predict(X)) <= {"no", "yes", "maybe"}
    best = search.best_estimator_[-1]
    copy = clone(best)
    assert copy.get_params() == best.get_params() and not hasattr(copy, "net_")
    back = pickle.loads(pickle.dumps(search.best_estimator_))
    assert np.array_equal(back.predict_proba(X), search.best_estimator_.predict_proba(X))
    assert back[-1].net_.params.ctypes.data % 64 == 0                # re-aligned for the kernels


def test_pickled_estimator_goes_on_training_exactly():
    X, y = _data("regression")
    reg = MLPRegressor(hidden_layer_sizes=(8,), solver="adam", batch_size=16, random_state=0)
    reg.partial_fit(X[:150], y[:150])
    back = pickle.loads(pickle.dumps(reg))
    reg.partial_fit(X[150:], y[150:])
    back.partial_fit(X[150:], y[150:])
    assert back.net_.params.tobytes() == reg.net_.params.tobytes()
    assert back.net_.optimizer_state.t[0] == reg.net_.optimizer_state.t[0] == 2 * 150 // 16 + 2


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kind", ["regression", "binary"])
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_alpha_and_sample_weights_take_scikit_learns_steps(kind, backend, weighted):
    """``alpha`` over each batch's weight sum, as scikit-learn: 300 rows in batches of 32 (the last of 12), weights
    from 0 to 3, one epoch of plain SGD side by side from the same parameters."""
    X, y = _data(kind)
    if kind == "binary":
        y = np.where(y == "maybe", "yes", y)
    sw = np.random.default_rng(1).integers(0, 4, len(X)).astype(float) if weighted else None
    regression = kind == "regression"
    Est, Sk = (MLPRegressor, sknn.MLPRegressor) if regression else (MLPClassifier, sknn.MLPClassifier)
    ours = Est(hidden_layer_sizes=(8,), activation="tanh", solver="sgd", momentum=0.0, alpha=0.3, shuffle=False,
               max_iter=1, learning_rate_init=0.01, batch_size=32, random_state=0, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        ours.fit(X, y)
        start = ours.net_.params.copy()
        theirs, _ = _sklearn_one_epoch(Sk, X, y, ours, 0.01, 32, alpha=0.3, sample_weight=sw)   # the same settings
        ours.net_.params[...] = start
        ours.set_params(warm_start=True).fit(X, y, sample_weight=sw)
    assert rel_diff(ours.net_.params, theirs) <= BOUND_F64_ONE_EPOCH
    assert rel_diff(ours.net_.params, start) > 1e-4


# --- partial_fit, warm start, early stopping --------------------------------------------------------------------
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_partial_fit_is_one_epoch_per_block_with_the_optimiser_state_kept(solver):
    X, y = _data("regression", n=400)
    reg = MLPRegressor(hidden_layer_sizes=(8,), solver=solver, batch_size=10, shuffle=False, random_state=3,
                       alpha=1e-3, learning_rate_init=0.005)
    for lo in range(0, 400, 100):
        reg.partial_fit(X[lo:lo + 100], y[lo:lo + 100])
    net = fastmlp.MLP([5, 8, 1], activation="relu", seed=3)
    net.params[...] = initial_params(MLPRegressor(hidden_layer_sizes=(8,), random_state=3), 5, 1)
    # scikit-learn's squared error is half the contract's mse: its gradient c = 1/2 of ours, so MLP.fit takes
    # l2 = alpha / c, Adam's eps / c, and SGD's rate times c (the estimator's _scales)
    optimizer = (fastmlp.optim.Adam(l2=2e-3, eps=2e-8) if solver == "adam" else
                 fastmlp.optim.SGD(momentum=0.9, nesterov=True, l2=2e-3))
    for lo in range(0, 400, 100):
        net.fit(X[lo:lo + 100], y[lo:lo + 100], epochs=1, lr=0.005 if solver == "adam" else 0.0025, batch_size=10,
                shuffle=False, optimizer=optimizer)
    assert rel_diff(reg.net_.params, net.params) <= BOUND_F64_ONE_EPOCH
    assert reg.n_iter_ == 1 and reg.t_ == 400 and len(reg.loss_curve_) == 4
    assert reg.net_.optimizer_state.t[0] == 40


def test_partial_fit_classifier_needs_its_classes_first():
    X, y = _data("multi-class")
    clf = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    assert not hasattr(clf, "net_")
    clf.partial_fit(X[:100], y[:100], classes=["maybe", "no", "yes", "never"])
    assert clf.classes_.tolist() == ["maybe", "never", "no", "yes"] and clf.net_.layer_sizes[-1] == 4
    before = clf.net_.params.copy()
    with pytest.raises(ValueError, match=r"labels not in classes_.*'other'"):
        clf.partial_fit(X[:3], ["no", "other", "yes"])
    assert np.array_equal(clf.net_.params, before)


def test_warm_start_continues_and_a_cold_fit_starts_again():
    X, y = _data("regression")
    kw = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0, n_iter_no_change=50, solver="sgd")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        six = MLPRegressor(**{**kw, "max_iter": 6}).fit(X, y)
        warm = MLPRegressor(**kw, warm_start=True).fit(X, y).fit(X, y)
        cold = MLPRegressor(**kw).fit(X, y)
        again = cold.loss_curve_[:]
        cold.fit(X, y)
    # n_iter_ counts the last fit's epochs, loss_curve_ and t_ every epoch (scikit-learn's counts, issue 15)
    assert warm.n_iter_ == 3 and len(warm.loss_curve_) == 6 and warm.t_ == 6 * X.shape[0]
    # The sample order goes on across the two fits, and each fit starts a new optimiser (momentum from zero), as
    # scikit-learn's: not six epochs in one call, but three, the optimiser reset, three more (MLP.fit's terms:
    # squared error's c = 1/2, so lr 0.001 * c and l2 = alpha / c)
    assert warm.net_.params.tobytes() != six.net_.params.tobytes()
    net = fastmlp.MLP([5, 8, 1], activation="relu", seed=0)
    net.params[...] = initial_params(MLPRegressor(**kw), 5, 1)
    sgd = fastmlp.optim.SGD(momentum=0.9, nesterov=True, l2=2e-4)
    for _ in range(2):
        net.reset_optimizer()
        net.fit(X, y, epochs=3, lr=0.0005, batch_size=200, optimizer=sgd)
    assert warm.net_.params.tobytes() == net.params.tobytes()
    assert cold.n_iter_ == 3 and cold.loss_curve_ == again


def test_early_stopping_scores_and_restores_the_best_epoch():
    X, y = _data("multi-class", n=400)
    clf = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, validation_fraction=0.25, max_iter=40,
                        n_iter_no_change=3, learning_rate_init=0.05, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        clf.fit(X, y)
    assert clf.best_loss_ is None and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    history = clf.history_
    assert history.val_score == clf.validation_scores_          # the score is watched, as scikit-learn's
    assert history.best_epoch == int(np.argmax(clf.validation_scores_)) and history.best_epoch < clf.n_iter_
    assert all(0 <= s <= 1 for s in clf.validation_scores_)


def test_verbose_prints_each_epoch_and_callbacks_can_stop(capsys):
    X, y = _data("regression")
    seen = []
    reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=20, verbose=True, random_state=0)
    reg.fit(X, y, callbacks=[lambda epoch, history, net: seen.append(epoch) or epoch == 4])
    assert seen == [0, 1, 2, 3, 4] and reg.n_iter_ == 5
    assert "callback" in reg.history_.stop_reason
    out = capsys.readouterr().out.splitlines()
    assert out == [f"Iteration {k}, loss = {loss:.8f}" for k, loss in enumerate(reg.loss_curve_, 1)]


@pytest.mark.parametrize("params, match", [
    (dict(solver="newton"), "solver must be one of 'lbfgs', 'sgd', 'adam'"),
    (dict(solver="lbfgs", max_fun=0), "max_fun must be >= 1, got 0"),
    (dict(activation="softplus"), "activation must be one of"),
    (dict(hidden_layer_sizes=(4, 0)), r"hidden_layer_sizes\[1\] must be >= 1, got 0"),
    (dict(learning_rate_init=0.0), "learning_rate_init must be a finite number > 0"),
    (dict(batch_size=0), "batch_size must be >= 1, got 0"),
    (dict(batch_size="big"), "batch_size must be one of 'auto'"),
    (dict(dtype="float16"), "dtype must be one of"),
    (dict(backend="gpu"), "backend must be one of"),
    (dict(validation_fraction=1.0), r"validation_fraction must be a number in \(0, 1\)"),
])
def test_bad_parameters_name_themselves(params, match):
    X, y = _data("regression", n=20)
    reg = MLPRegressor(**params)
    with pytest.raises(ValueError, match=match):
        reg.fit(X, y)
    assert not hasattr(reg, "net_")


def test_the_estimators_work_without_scikit_learn():
    code = """
import sys
sys.modules["sklearn"] = None                  # any import of scikit-learn now fails
import numpy as np
from fastmlp import MLPClassifier, MLPRegressor
from fastmlp import estimators
assert not estimators.HAVE_SKLEARN
rng = np.random.default_rng(0)
X = rng.standard_normal((200, 3))
reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, random_state=0, learning_rate_init=0.01)
reg.set_params(alpha=0.0).fit(X, X @ [1.0, -2.0, 0.5])
assert reg.get_params()["alpha"] == 0.0 and reg.score(X, X @ [1.0, -2.0, 0.5]) > 0.9, reg.score(X, X @ [1.0, -2.0, 0.5])
clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0, batch_size=20).fit(X, X[:, 0] > 0)
assert clf.score(X, X[:, 0] > 0) > 0.9 and clf.predict_proba(X).shape == (200, 2)
reg.predict = lambda X: np.full(len(X), 3.0)   # a constant target fitted exactly: R^2 1, as scikit-learn's r2_score
assert reg.score(X, np.full(200, 3.0)) == 1.0 and reg.score(X, np.full(200, 2.0)) == 0.0
del reg.predict
try:
    reg.predict(X[:, :2])
except ValueError as e:
    assert "X has 2 features, but MLPRegressor is expecting 3" in str(e)
else:
    raise AssertionError("no error for a wrong feature count")
print("ok")
"""
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


@pytest.mark.parametrize("case", ["two outputs", "weighted", "constant, fitted", "constant, missed"])
def test_r2_is_scikit_learns_r2_score(case):
    """The one R^2 of the estimators (``score`` without scikit-learn, the early-stopping score) beside
    scikit-learn's ``r2_score``, constant targets included."""
    from sklearn.metrics import r2_score

    from fastmlp.estimators import _r2
    rng = np.random.default_rng(3)
    Y = rng.standard_normal((40, 2))
    pred, w = Y + 0.3 * rng.standard_normal((40, 2)), None
    if case == "weighted":
        w = rng.uniform(0.5, 2.0, 40)
    if case.startswith("constant"):
        Y = np.full((40, 1), 2.5)
        pred = Y.copy() if case == "constant, fitted" else Y + 0.1 * rng.standard_normal((40, 1))
    assert _r2(Y, pred, w) == pytest.approx(r2_score(Y, pred, sample_weight=w), rel=1e-12, abs=1e-15)


def test_docstring_examples_run():
    import doctest

    from fastmlp import estimators
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        result = doctest.testmod(estimators)
    assert result.attempted >= 8 and result.failed == 0


def test_readme_estimator_example_prints_what_it_says():
    import contextlib
    import io
    import re
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.findall(r"```python\n(.*?)```", readme, re.S)[1]
    assert "MLPClassifier" in block
    expected = [line[2:] for line in block.splitlines() if line.startswith("# ")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        exec(compile(block, "README.md", "exec"), {})
    assert out.getvalue().splitlines() == expected


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_a_batch_size_larger_than_the_data_warns_once(method):
    X, y = _data("regression")
    est = MLPRegressor(hidden_layer_sizes=(4,), batch_size=10_000, max_iter=2, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        getattr(est, method)(X, y)
    clipped = [w for w in caught if "larger than" in str(w.message)]
    assert len(clipped) == 1 and f"clipped to {X.shape[0]}" in str(clipped[0].message)

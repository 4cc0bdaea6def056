"""``solver="lbfgs"`` beside scikit-learn's: from the same initial weights, the same steps (issue 15).

Both estimators are started from the same weights (a one-iteration fit to set them up, then the same ``coefs_`` and
``intercepts_`` assigned to both, then a warm start), and run the same number of L-BFGS iterations. They agree to
1e-6 (relative to the largest parameter) for runs of tens of iterations; over hundreds, on a non-convex loss,
rounding differences of 1e-16 grow like any chaotic trajectory's, so the runs here are kept short.
"""
import warnings

import numpy as np
import pytest

import fastmlp

sklearn_nn = pytest.importorskip("sklearn.neural_network")

RNG = np.random.default_rng(0)
X = RNG.standard_normal((60, 4))
Y_REG = np.tanh(X @ RNG.standard_normal(4)) + 0.1 * RNG.standard_normal(60)
Y_TWO_OUTPUTS = np.c_[Y_REG, X[:, 0] * X[:, 1]]
Y_BINARY = (X[:, 0] + X[:, 1] > 0).astype(int)
Y_THREE = np.digitize(X[:, 0], [-0.5, 0.5])
WEIGHTS = RNG.uniform(0.5, 2.0, 60)
Y_COUNTS = RNG.poisson(np.exp(0.8 * np.tanh(X[:, :2].sum(axis=1))))           # counts, zeros among them
Y_TWO_COUNTS = np.c_[Y_COUNTS, RNG.poisson(np.exp(0.5 * X[:, 2]))]
KINDS = {"regressor": (sklearn_nn.MLPRegressor, fastmlp.MLPRegressor),
         "classifier": (sklearn_nn.MLPClassifier, fastmlp.MLPClassifier)}


def fit_side_by_side(kind, X, y, sample_weight=None, **params):
    """Both estimators fitted from the same start; returns them and the warnings each gave."""
    params = {"solver": "lbfgs", "random_state": 0, **params}
    max_iter = params.pop("max_iter")
    theirs, ours = (cls(max_iter=1, **params) for cls in KINDS[kind])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                    # one iteration: both warn that they did not converge
        theirs.fit(X, y)
        ours.fit(X, y)
    theirs.coefs_ = [w.copy() for w in ours.coefs_]
    theirs.intercepts_ = [b.copy() for b in ours.intercepts_]
    caught = []
    for est in (theirs, ours):
        est.set_params(warm_start=True, max_iter=max_iter)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            est.fit(X, y, sample_weight=sample_weight)
        caught.append([type(x.message).__name__ for x in w])
    return theirs, ours, caught


def rel_diff(theirs, ours):
    a = np.concatenate([p.ravel() for p in theirs.coefs_ + theirs.intercepts_])
    b = np.concatenate([p.ravel() for p in ours.coefs_ + ours.intercepts_])
    return float(np.max(np.abs(a - b)) / np.max(np.abs(a)))


CASES = {
    "regressor, tanh": ("regressor", Y_REG, None, dict(hidden_layer_sizes=(5,), activation="tanh", alpha=1e-3)),
    "regressor, two outputs": ("regressor", Y_TWO_OUTPUTS, None,
                               dict(hidden_layer_sizes=(6,), activation="relu", alpha=1e-2)),
    "regressor, weighted": ("regressor", Y_REG, WEIGHTS, dict(hidden_layer_sizes=(5,), activation="tanh",
                                                              alpha=1e-3)),
    "poisson": ("regressor", Y_COUNTS, None, dict(loss="poisson", hidden_layer_sizes=(5,), activation="tanh",
                                                  alpha=1e-3)),
    "poisson, two outputs, weighted": ("regressor", Y_TWO_COUNTS, WEIGHTS, dict(loss="poisson", hidden_layer_sizes=(6,),
                                                                                activation="relu", alpha=1e-2)),
    "binary, logistic": ("classifier", Y_BINARY, None, dict(hidden_layer_sizes=(5,), activation="logistic",
                                                            alpha=1e-3)),
    "three classes, two layers": ("classifier", Y_THREE, None, dict(hidden_layer_sizes=(7, 4), activation="tanh",
                                                                    alpha=1e-4)),
    "three classes, weighted": ("classifier", Y_THREE, WEIGHTS, dict(hidden_layer_sizes=(7,), activation="tanh",
                                                                     alpha=1e-4)),
    "multilabel": ("classifier", np.c_[Y_BINARY, Y_THREE == 2, X[:, 2] > 0].astype(int), None,
                   dict(hidden_layer_sizes=(6,), activation="tanh", alpha=1e-3)),
}


@pytest.mark.parametrize("case", CASES)
def test_lbfgs_takes_scikit_learns_steps(case):
    kind, y, sample_weight, params = CASES[case]
    theirs, ours, caught = fit_side_by_side(kind, X, y, sample_weight, max_iter=40, **params)
    assert rel_diff(theirs, ours) <= 1e-6
    assert ours.n_iter_ == theirs.n_iter_ > 5
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-6)      # the objective, L2 term included
    assert caught[0] == caught[1]                                     # ConvergenceWarning from both, or neither
    assert ours.score(X, y) == pytest.approx(theirs.score(X, y), abs=1e-6)
    assert not np.allclose(ours.coefs_[0], fit_side_by_side(kind, X, y, sample_weight, max_iter=1,
                                                            **params)[1].coefs_[0])   # it trained: not vacuous


def sklearn_encoded(theirs, y):
    """``y`` as scikit-learn's fit hands it to ``_loss_grad_lbfgs``: a column per output, one-hot classes."""
    if isinstance(theirs, sklearn_nn.MLPClassifier):
        return theirs._label_binarizer.transform(y)
    return np.asarray(y, dtype=np.float64).reshape(len(y), -1)


@pytest.mark.parametrize("case", CASES)
def test_loss_grad_lbfgs_is_scikit_learns_at_any_point(case):
    """The private ``_loss_grad_lbfgs`` (scikit-learn's own tests call it) gives scikit-learn's loss and gradient
    at a point neither fit reached, in scikit-learn's packing, and leaves the model as it was."""
    kind, y, sample_weight, params = CASES[case]
    theirs, ours, _ = fit_side_by_side(kind, X, y, sample_weight, max_iter=1, **params)
    theta = np.concatenate([p.ravel() for p in theirs.coefs_ + theirs.intercepts_])
    theta = theta + 0.3 * np.random.default_rng(1).standard_normal(theta.size)
    Y = sklearn_encoded(theirs, y)
    sizes = [X.shape[1], *theirs.hidden_layer_sizes, theirs.n_outputs_]
    work = ([X] + [np.empty((len(X), k)) for k in sizes[1:]], [np.empty((len(X), k)) for k in sizes[1:]],
            [np.empty((a, b)) for a, b in zip(sizes, sizes[1:])], [np.empty(k) for k in sizes[1:]])
    before = ours.net_.params.copy()
    loss, grad = ours._loss_grad_lbfgs(theta, X, Y, sample_weight, *work)
    expected_loss, expected_grad = theirs._loss_grad_lbfgs(theta, X, Y, sample_weight, *work)
    assert loss == pytest.approx(expected_loss, rel=1e-10)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(ours.net_.params, before)


def test_max_fun_bounds_the_loss_evaluations_as_scikit_learns():
    theirs, ours, caught = fit_side_by_side("classifier", X, Y_THREE, max_iter=200, max_fun=12,
                                            hidden_layer_sizes=(7,), activation="tanh", alpha=1e-4)
    assert ours.n_iter_ == theirs.n_iter_ <= 12
    assert rel_diff(theirs, ours) <= 1e-6
    assert caught[0] == caught[1] == ["ConvergenceWarning"]


@pytest.mark.parametrize("kind", KINDS)
def test_lbfgs_has_what_scikit_learns_has(kind):
    y = Y_REG if kind == "regressor" else Y_BINARY
    fitted = []
    for cls in KINDS[kind]:
        est = cls(solver="lbfgs", hidden_layer_sizes=(3,), max_iter=30, random_state=0, early_stopping=True)
        if cls is sklearn_nn.MLPRegressor:
            # scikit-learn's regressor means to hide partial_fit too, but its available_if tests the method
            # ``est._check_solver`` without calling it, so it is there and runs L-BFGS; the module notes say so
            assert hasattr(est, "partial_fit")
        else:
            assert not hasattr(est, "partial_fit")             # for stochastic solvers only
            with pytest.raises(AttributeError, match="has no attribute 'partial_fit'"):
                est.partial_fit(X, y, classes=[0, 1]) if kind == "classifier" else est.partial_fit(X, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted.append(est.fit(X[:2], y[:2]))             # early_stopping is ignored: two rows train
    theirs, ours = fitted
    for name in ("loss_curve_", "best_loss_", "validation_scores_", "loss_", "n_iter_", "t_"):
        assert hasattr(ours, name) == hasattr(theirs, name), name
    assert hasattr(type(ours)(solver="adam"), "partial_fit")


def test_lbfgs_on_float32_keeps_what_scikit_learn_keeps():
    X32 = X.astype(np.float32)
    dtypes = []
    for cls in KINDS["regressor"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = cls(solver="lbfgs", hidden_layer_sizes=(3,), max_iter=20, random_state=0).fit(X32, Y_REG)
        dtypes.append((est.coefs_[0].dtype, est.predict(X32).dtype))
    assert dtypes[0] == dtypes[1]


def test_lbfgs_interrupted_leaves_the_model_as_it_was(monkeypatch):
    from fastmlp import _lbfgs
    est = fastmlp.MLPRegressor(solver="lbfgs", hidden_layer_sizes=(3,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, Y_REG)
    before = est.net_.params.copy()
    calls = []

    def objective_then_ctrl_c(self, theta):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, theta)
    original = _lbfgs.Objective.__call__
    monkeypatch.setattr(_lbfgs.Objective, "__call__", objective_then_ctrl_c)
    est.set_params(warm_start=True)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, Y_REG)
    np.testing.assert_array_equal(est.net_.params, before)

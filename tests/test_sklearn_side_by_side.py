"""The estimators beside scikit-learn's own, on the same input: the same errors (type and gist of the message) and
the same counts, where fastmlp stands in for scikit-learn (issue 15). Each test runs both and compares what each
does, not what scikit-learn's documentation says."""
import re
import warnings

import numpy as np
import pytest

import fastmlp

sklearn_nn = pytest.importorskip("sklearn.neural_network")

RNG = np.random.default_rng(0)
X = RNG.standard_normal((30, 3))
Y2 = RNG.integers(0, 2, 30)
Y3 = RNG.integers(0, 3, 30)
KINDS = {"classifier": (sklearn_nn.MLPClassifier, fastmlp.MLPClassifier),
         "regressor": (sklearn_nn.MLPRegressor, fastmlp.MLPRegressor)}


def outcome(method, *args, then=None, **kwargs):
    """``("ok", value)`` or ``(exception type, message)`` of ``method(*args, **kwargs)``, warnings silenced;
    ``then``: the name of an attribute of what it returned, as the value."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = method(*args, **kwargs)
        except Exception as e:            # noqa: BLE001 - the point is to compare whatever each raises
            return type(e), str(e)
    return "ok", (getattr(value, then) if then else value)


def same_error(theirs, ours, gist):
    """Both raised a ``ValueError``, and both messages say ``gist`` (a regular expression)."""
    assert isinstance(theirs[0], type) and issubclass(theirs[0], ValueError), f"scikit-learn: {theirs}"
    assert isinstance(ours[0], type) and issubclass(ours[0], ValueError), f"fastmlp: {ours}"
    assert re.search(gist, theirs[1]), f"scikit-learn's message changed: {theirs[1]}"
    assert re.search(gist, ours[1]), f"fastmlp says {ours[1]!r}, scikit-learn {theirs[1]!r}"


def both(kind, **params):
    theirs, ours = KINDS[kind]
    params = {"hidden_layer_sizes": (4,), "random_state": 0, **params}
    return theirs(**params), ours(**params)


def test_partial_fit_with_other_classes_is_refused():
    results = []
    for clf in both("classifier"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(X, Y2, classes=[0, 1])
        results.append(outcome(clf.partial_fit, X, Y2 + 1, classes=[1, 2]))
        assert outcome(clf.partial_fit, X, Y2, classes=[0, 1])[0] == "ok"     # the same ones: fine
        assert outcome(clf.partial_fit, X, Y2)[0] == "ok"                     # or none
    same_error(*results, r"classes=\[1, 2\]` is not the same as on last call to partial_fit")


@pytest.mark.parametrize("y_again", [Y3, Y2[Y2 == 0]], ids=["more classes", "fewer classes"])
def test_a_warm_start_with_other_classes_is_refused(y_again):
    results = []
    for clf in both("classifier", max_iter=3, warm_start=True):
        outcome(clf.fit, X, Y2)
        X_again = X if len(y_again) == len(X) else X[Y2 == 0]
        results.append(outcome(clf.fit, X_again, y_again))
    same_error(*results, r"warm_start can only be used where `y` has the same classes as in the previous call")


@pytest.mark.parametrize("kind", KINDS)
def test_n_iter_counts_the_last_fit_and_t_every_sample(kind):
    counts = []
    y = Y2 if kind == "classifier" else X.sum(axis=1)
    for est in both(kind, max_iter=3, warm_start=True, n_iter_no_change=100):
        outcome(est.fit, X, y)
        outcome(est.fit, X, y)
        counts.append((est.n_iter_, est.t_, len(est.loss_curve_)))
    assert counts[0] == counts[1] == (3, 180, 6)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("params", [dict(n_iter_no_change=np.inf), dict(verbose=0), dict(verbose=10),
                                    dict(verbose=True)], ids=["n_iter_no_change=inf", "verbose=0", "verbose=10",
                                                              "verbose=True"])
def test_settings_scikit_learn_accepts(kind, params, capsys):
    y = Y2 if kind == "classifier" else X.sum(axis=1)
    results = [outcome(est.fit, X, y, then="n_iter_") for est in both(kind, max_iter=4, **params)]
    assert results[0] == results[1] == ("ok", 4)        # inf: never stops early; every epoch runs


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("params", [dict(n_iter_no_change=0), dict(verbose=-1), dict(n_iter_no_change=-np.inf)])
def test_settings_scikit_learn_refuses(kind, params):
    y = Y2 if kind == "classifier" else X.sum(axis=1)
    results = [outcome(est.fit, X, y) for est in both(kind, **params)]
    name = next(iter(params))
    same_error(*results, name)


@pytest.mark.parametrize("kind", KINDS)
def test_partial_fit_does_not_support_early_stopping(kind):
    y = Y2 if kind == "classifier" else X.sum(axis=1)
    extra = dict(classes=[0, 1]) if kind == "classifier" else {}
    results = [outcome(est.partial_fit, X, y, **extra) for est in both(kind, early_stopping=True)]
    same_error(*results, r"partial_fit does not support early_stopping=True")


@pytest.mark.parametrize("n", [2, 10, 19])
def test_the_validation_set_needs_two_rows(n):
    """scikit-learn holds out ceil(fraction * n) rows and refuses fewer than two (n=19 at 0.1: two rows)."""
    results = [outcome(est.fit, X[:n], X[:n].sum(axis=1), then="n_iter_")
               for est in both("regressor", early_stopping=True, max_iter=2)]
    if n < 19:
        same_error(*results, r"The validation set is too small\. Increase 'validation_fraction' or the size of")
    else:
        assert results[0] == results[1] == ("ok", 2)


def test_divergence_is_scikit_learns_value_error_and_fastmlps_divergence_error():
    y = X.sum(axis=1) * 1e5
    results = [outcome(est.fit, X, y) for est in both("regressor", solver="sgd", learning_rate_init=1e10,
                                                                 max_iter=5)]
    same_error(*results, r"Solver produced non-finite parameter weights")
    ours = fastmlp.MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=1e10, max_iter=5,
                                random_state=0)
    with pytest.raises(fastmlp.DivergenceError) as info:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours.fit(X, y)
    assert info.value.reason in ("loss", "update") and np.isfinite(ours.net_.params).all()
    assert ours.n_iter_ == len(info.value.history.loss)         # the epochs before it are recorded


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("x_dtype", [np.float32, np.float64, np.int64])
def test_the_data_decide_the_dtype(kind, x_dtype):
    y = Y2 if kind == "classifier" else X.sum(axis=1)
    dtypes = []
    for est in both(kind, max_iter=2):
        outcome(est.fit, X.astype(x_dtype), y)
        dtypes.append((est.coefs_[0].dtype, est.predict_proba(X[:2].astype(x_dtype)).dtype if kind == "classifier"
                       else est.predict(X[:2].astype(x_dtype)).dtype))
    assert dtypes[0] == dtypes[1]
    assert dtypes[0][0] == (np.float32 if x_dtype == np.float32 else np.float64)


@pytest.mark.parametrize("kind", KINDS)
def test_assigned_coefs_and_intercepts_predict_the_same(kind):
    y = Y3 if kind == "classifier" else X.sum(axis=1)
    theirs, ours = both(kind, max_iter=2, hidden_layer_sizes=(5, 4))
    outcome(theirs.fit, X, y)
    outcome(ours.fit, X, y)
    coefs = [RNG.standard_normal(c.shape) for c in theirs.coefs_]
    intercepts = [RNG.standard_normal(b.shape) for b in theirs.intercepts_]
    for est in (theirs, ours):
        est.coefs_ = [c.copy() for c in coefs]
        est.intercepts_ = [b.copy() for b in intercepts]
    if kind == "classifier":
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12, atol=1e-15)
    else:
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-12, atol=1e-12)
    before = ours.net_.params.copy()
    with pytest.raises(ValueError, match=r"coefs_\[1\] must have shape \(5, 4\), got \(4, 4\)"):
        ours.coefs_ = [coefs[0], np.ones((4, 4)), coefs[2]]
    with pytest.raises(ValueError, match=r"intercepts_ must be a list of 3 arrays"):
        ours.intercepts_ = intercepts[:2]
    assert ours.net_.params.tobytes() == before.tobytes()         # refused as a whole, nothing written


@pytest.mark.parametrize("start", ["partial_fit", "warm fit"])
def test_weights_assigned_before_the_first_fit_are_its_start(start):
    """As scikit-learn's worked-example test does: ``coefs_`` assigned to an unfitted estimator (items replaced
    after the assignment count too), then one step from there. scikit-learn's needs the other fitted attributes
    its test sets by hand, so it is fitted first (momentum 0 and a constant rate: no state carries over): both
    take the same step from the same weights."""
    y = Y3
    sizes = [3, 5, 3]
    coefs = [RNG.standard_normal((a, b)) for a, b in zip(sizes, sizes[1:])]
    intercepts = [RNG.standard_normal(b) for b in sizes[1:]]
    results = []
    for est in both("classifier", hidden_layer_sizes=(5,), solver="sgd", momentum=0.0, max_iter=1,
                    learning_rate_init=0.1, shuffle=False, batch_size=30, warm_start=start == "warm fit"):
        run = est.partial_fit if start == "partial_fit" else est.fit
        if isinstance(est, sklearn_nn.MLPClassifier):
            outcome(run, X, y, **({"classes": [0, 1, 2]} if start == "partial_fit" else {}))
        est.coefs_ = [0] * 2
        est.intercepts_ = [c.copy() for c in intercepts]
        for l, c in enumerate(coefs):
            est.coefs_[l] = c.copy()
        est.n_layers_ = 3
        assert outcome(run, X, y, **({"classes": [0, 1, 2]} if start == "partial_fit" else {}))[0] == "ok"
        results.append(np.concatenate([p.ravel() for p in est.coefs_ + est.intercepts_]))
    start_params = np.concatenate([p.ravel() for p in coefs + intercepts])
    assert not np.allclose(results[1], start_params)                     # it stepped
    np.testing.assert_allclose(results[1], results[0], rtol=1e-12, atol=1e-14)


def test_weights_assigned_before_fit_are_checked_then_and_a_cold_fit_draws_its_own():
    ours = fastmlp.MLPClassifier(hidden_layer_sizes=(5,), random_state=0, max_iter=1)
    ours.coefs_ = [np.zeros((3, 4)), np.zeros((4, 3))]
    ours.intercepts_ = [np.zeros(5), np.zeros(3)]
    with pytest.raises(ValueError, match=r"coefs_\[0\] must have shape \(3, 5\), got \(3, 4\)"):
        ours.partial_fit(X, Y3, classes=[0, 1, 2])
    assert not hasattr(ours, "net_") and ours.coefs_[0].shape == (3, 4)      # left as it was
    with pytest.raises(ValueError, match="n_layers_ must be 3"):
        ours.n_layers_ = 4
    outcome(ours.fit, X, Y3)                       # warm_start=False: new weights, as scikit-learn's fit
    fresh = fastmlp.MLPClassifier(hidden_layer_sizes=(5,), random_state=0, max_iter=1)
    outcome(fresh.fit, X, Y3)
    assert ours.net_.params.tobytes() == fresh.net_.params.tobytes()


def test_one_class_trains_and_predicts_that_class():
    y = np.full(len(X), 7)
    results = []
    for clf in both("classifier", max_iter=3):
        outcome(clf.fit, X, y)
        results.append((clf.classes_.tolist(), clf.n_outputs_, clf.out_activation_, clf.predict(X[:4]).tolist(),
                        clf.predict_proba(X[:4]).shape, clf.score(X, y)))
    assert results[0] == results[1] == ([7], 1, "logistic", [7, 7, 7, 7], (4, 2), 1.0)
    for clf in both("classifier"):
        assert outcome(clf.partial_fit, X, y, classes=[7])[0] == "ok" and clf.predict(X[:1]).tolist() == [7]


@pytest.mark.parametrize("y, fraction, gist", [
    (np.r_[np.zeros(19, int), 1], 0.2,
     r"The least populated classes in y have only 1 member.*Classes with too few members are: \['True'\]"),
    (np.arange(20) % 2, 0.05, r"The test_size = 1 should be greater or equal to the number of classes = 2"),
    (np.arange(20) % 2, 0.95, r"The train_size = 1 should be greater or equal to the number of classes = 2"),
    (np.arange(20) % 5, 0.1, None),              # more classes: not stratified, by either (one-hot targets)
], ids=["a class of one row", "fewer validation rows than classes", "fewer training rows than classes",
        "five classes"])
def test_the_two_class_hold_out_is_stratified_with_scikit_learns_errors(y, fraction, gist):
    Xs = np.random.default_rng(1).standard_normal((20, 3))
    results = [outcome(est.fit, Xs, y, then="n_iter_") for est in both("classifier", early_stopping=True, max_iter=2,
                                                                       validation_fraction=fraction)]
    if gist is None:
        assert results[0] == results[1] == ("ok", 2)
    else:
        same_error(*results, gist)


def test_the_stratified_hold_out_keeps_each_class_in_proportion():
    from fastmlp._settings import validation_split
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    for seed in range(5):
        train, val = validation_split(100, 0.1, np.random.default_rng(seed), labels)
        assert np.bincount(labels[val]).tolist() == [5, 3, 2]
        assert sorted(np.r_[train, val].tolist()) == list(range(100)) and np.all(np.diff(train) > 0)
    labels = np.repeat([0, 1, 2], [34, 33, 33])          # 10 rows for 3.4 + 3.3 + 3.3: the largest class gets 4
    counts = np.bincount(labels[validation_split(100, 0.1, np.random.default_rng(0), labels)[1]]).tolist()
    assert sorted(counts) == [3, 3, 4] and counts[0] == 4


# --- multilabel classification (a 2-D 0/1 y) -----------------------------------------------------------------------
YML = (RNG.standard_normal((30, 3)) > 0).astype(int)


@pytest.mark.parametrize("y", [YML, YML.astype(bool), YML.astype(float), YML * 2],
                         ids=["int", "bool", "float", "0 and 2"])
def test_multilabel_fits_predicts_and_scores_as_scikit_learns(y):
    """The same attributes and output shapes and dtypes; the scores of both (subset accuracy) from the same kind."""
    fitted = []
    for clf in both("classifier", max_iter=3):
        assert outcome(clf.fit, X, y)[0] == "ok"
        fitted.append(clf)
    theirs, ours = fitted
    assert ours.classes_.tolist() == theirs.classes_.tolist() == [0, 1, 2]
    assert (ours.n_outputs_, ours.out_activation_) == (theirs.n_outputs_, theirs.out_activation_) == (3, "logistic")
    for method in ("predict", "predict_proba", "predict_log_proba"):
        a, b = getattr(theirs, method)(X), getattr(ours, method)(X)
        assert (a.shape, a.dtype) == (b.shape, b.dtype), method
    assert set(np.unique(ours.predict(X))) <= {0, 1}
    assert np.array_equal(ours.predict(X), (ours.predict_proba(X) > 0.5).astype(int))
    score = ours.score(X, y)
    assert score == np.mean(np.all(ours.predict(X) == y, axis=1))     # subset accuracy, as scikit-learn's score


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_multilabel_takes_scikit_learns_steps(solver):
    """One epoch from the same weights with the same settings: our log loss is the mean over labels (scikit-learn's
    sums them), which the estimator makes up for (``_scales``); its loss curve is in scikit-learn's units."""
    from sklearn.neural_network import MLPClassifier as Sk
    Xb = RNG.standard_normal((200, 4))
    Y = (Xb[:, :3] + 0.3 * RNG.standard_normal((200, 3)) > 0).astype(int)
    kw = dict(hidden_layer_sizes=(6,), activation="tanh", solver=solver, momentum=0.9, shuffle=False, max_iter=1,
              batch_size=16, random_state=0, learning_rate_init=0.3 if solver == "sgd" else 0.01)
    for alpha in (0.0, 0.01):
        ours, theirs = fastmlp.MLPClassifier(alpha=alpha, **kw), Sk(alpha=alpha, **kw)
        same_steps_from_the_same_weights(ours, theirs, Xb, Y)
        if alpha == 0.0:
            assert ours.loss_curve_[-1] == pytest.approx(theirs.loss_curve_[-1], rel=1e-12 if solver == "sgd" else 1e-5)


def same_steps_from_the_same_weights(ours, theirs, X, y):
    """Both estimators set up by one epoch, ``theirs`` given our weights, then one more epoch each from them (a
    warm start): the same parameters to 1e-12 (Adam: 2e-3, as scikit-learn adds ``epsilon`` to ``sqrt(v)`` before
    the bias correction, which makes it ``epsilon / sqrt(1 - beta_2^t)`` in the contract's terms, 30x larger at
    the first step; ``test_estimators.py`` holds Adam's mapping to ``MLP.fit`` bit for bit), and not the start
    (it trained)."""
    bound = 2e-3 if ours.solver == "adam" else 1e-12
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours.fit(X, y)
        start = [a.copy() for a in ours.coefs_ + ours.intercepts_]
        theirs.fit(X, y)
        for mine, their in zip(start, theirs.coefs_ + theirs.intercepts_):
            their[...] = mine
        theirs.set_params(warm_start=True).fit(X, y)
        for mine, a in zip(ours.coefs_ + ours.intercepts_, start):
            mine[...] = a
        ours.set_params(warm_start=True).fit(X, y)
    for mine, their, a in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, start):
        assert np.max(np.abs(mine - their)) <= bound * np.max(np.abs(their))
        assert np.max(np.abs(mine - a)) > 1e-4


@pytest.mark.parametrize("case", ["three values", "fractions", "warm start, fewer labels",
                                  "partial_fit, classes [0, 1]"])
def test_multilabel_refuses_what_scikit_learn_refuses(case):
    results = []
    for clf in both("classifier", max_iter=2, warm_start=case.startswith("warm")):
        if case == "three values":
            results.append(outcome(clf.fit, X, YML + YML[:, ::-1]))
        elif case == "fractions":
            results.append(outcome(clf.fit, X, YML * 0.5))
        elif case.startswith("warm"):
            assert outcome(clf.fit, X, YML)[0] == "ok"
            results.append(outcome(clf.fit, X, YML[:, :2]))
        else:
            results.append(outcome(clf.partial_fit, X, YML, classes=[0, 1]))
    gist = {"three values": "Multioutput target data is not supported with label binarization",
            "fractions": "Multioutput target data is not supported with label binarization",
            "warm start, fewer labels": r"warm_start can only be used where `y` has the same classes",
            "partial_fit, classes [0, 1]": r"`y` has classes not in `self.classes_`"}[case]
    same_error(*results, gist)



def test_patience_stops_both_with_the_same_count_of_epochs_without_improvement():
    """``n_iter_no_change`` and ``tol``: both stop early, with ``_no_improvement_count`` one past the patience."""
    counts = []
    for clf in both("classifier", solver="sgd", tol=0.05, n_iter_no_change=3, max_iter=60):
        assert outcome(clf.fit, X, Y3)[0] == "ok"
        assert clf.n_iter_ < 60
        counts.append(clf._no_improvement_count)
    assert counts[0] == counts[1] == 4


@pytest.mark.parametrize("kind, y", [("classifier", np.ones(30, dtype=int)), ("regressor", np.ones(30))],
                         ids=["one class", "constant target"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_early_stopping_watches_the_validation_score_as_scikit_learns(kind, y, solver):
    """A score that cannot move (one class: accuracy 1; a constant target: R² 0) stops both after
    ``n_iter_no_change + 2`` epochs, while the validation loss still falls: the score is what is watched."""
    fits = []
    for est in both(kind, solver=solver, early_stopping=True, n_iter_no_change=4, max_iter=50):
        assert outcome(est.fit, X, y)[0] == "ok"
        fits.append((est.n_iter_, est.validation_scores_, est.best_validation_score_, est._no_improvement_count))
    assert fits[1] == fits[0] and fits[0][0] == 6


@pytest.mark.parametrize("kind", KINDS)
def test_early_stopping_keeps_the_best_scoring_epoch(kind):
    """The parameters left are those of the first epoch with the best validation score (scikit-learn's
    ``_best_coefs``), and the stop follows scikit-learn's count on that score."""
    y = Y3 if kind == "classifier" else X @ [1.0, -2.0, 0.5]
    ours = both(kind, solver="sgd", early_stopping=True, n_iter_no_change=3, tol=0.0, max_iter=40,
                learning_rate_init=0.05)[1]
    kept = {}

    def keep(epoch, history, net):
        kept[epoch] = net.params.copy()
    ours.fit(X, y, callbacks=[keep])
    scores = ours.validation_scores_
    best = int(np.argmax(scores))
    np.testing.assert_array_equal(ours.net_.params, kept[best])
    count, stop = 0, len(scores)
    for epoch, score in enumerate(scores):
        count = count + 1 if score < max(scores[:epoch], default=-np.inf) + ours.tol else 0
        if count > ours.n_iter_no_change:
            stop = epoch + 1
            break
    assert ours.n_iter_ == stop


@pytest.mark.parametrize("early_stopping", [True, False])
def test_divergence_is_an_error_without_early_stopping_and_a_nan_score_with_it(early_stopping):
    """scikit-learn's own case (identity units, a learning rate of 1 on iris): with early stopping, no error and a
    NaN last validation score; without, the error both raise."""
    from sklearn.datasets import load_iris
    Xi, yi = load_iris(return_X_y=True)
    params = dict(hidden_layer_sizes=100, activation="identity", solver="sgd", learning_rate_init=1, max_iter=20,
                  early_stopping=early_stopping, n_iter_no_change=10)
    results = []
    for reg in both("regressor", **params):
        with np.errstate(all="ignore"):
            results.append(outcome(reg.fit, Xi, yi, then="validation_scores_"))
    if early_stopping:
        for kind, scores in results:
            assert kind == "ok" and isinstance(scores[-1], float) and np.isnan(scores[-1])
        assert np.isfinite(reg.predict(Xi)).all()          # ours: the best validation epoch's parameters
    else:
        same_error(*results, "Solver produced non-finite parameter weights")


@pytest.mark.parametrize("early_stopping", [False, True])
def test_verbose_prints_scikit_learns_lines(capsys, early_stopping):
    """``verbose``: one ``Iteration k, loss = ...`` line per epoch (``partial_fit`` going on counting), and with
    early stopping a ``Validation score: ...`` line after each, from both."""
    lines = []
    for clf in both("classifier", solver="sgd", max_iter=3, n_iter_no_change=50, verbose=10,
                    early_stopping=early_stopping):
        assert outcome(clf.fit, X, Y2)[0] == "ok"
        if not early_stopping:
            assert outcome(clf.partial_fit, X, Y2)[0] == "ok"
        out = capsys.readouterr().out.splitlines()
        lines.append([re.sub(r"[-\d.]+$", "N", line) for line in out if line.startswith(("Iteration", "Validation"))])
    assert lines[0] == lines[1]
    assert lines[0][0] == "Iteration 1, loss = N" and len(lines[0]) == (6 if early_stopping else 4)


def test_n_iter_counts_the_last_calls_epochs_partial_fit_one():
    counts = []
    for clf in both("classifier", solver="sgd", max_iter=3, n_iter_no_change=50):
        seen = []
        for call in (clf.fit, clf.partial_fit, clf.partial_fit):
            assert outcome(call, X, Y2)[0] == "ok"
            seen.append((clf.n_iter_, clf.t_, len(clf.loss_curve_)))
        counts.append(seen)
    assert counts[0] == counts[1] == [(3, 90, 3), (1, 120, 4), (1, 150, 5)]


@pytest.mark.parametrize("learning_rate", ["constant", "invscaling", "adaptive"])
def test_the_next_learning_rate_is_scikit_learns(learning_rate):
    """``_optimizer.learning_rate`` (scikit-learn's tests read it) after two warm-started fits; adaptive: both
    divide until the rate is at or below 1e-6, then stop (scikit-learn's own adaptive test's data)."""
    Xa, ya = [[3, 2], [1, 6], [5, 6], [-2, -4]], [1, 1, 1, 0]
    rates = []
    for clf in both("classifier", solver="sgd", learning_rate=learning_rate, power_t=0.25, warm_start=True,
                    max_iter=1 if learning_rate != "adaptive" else 3000, tol=0.5):
        assert outcome(clf.fit, Xa, ya)[0] == "ok"
        assert outcome(clf.fit, Xa, ya)[0] == "ok"
        rates.append(clf._optimizer.learning_rate)
        if learning_rate == "adaptive":
            assert clf.n_iter_ < 3000 and clf._optimizer.learning_rate < 1e-6
    if learning_rate != "adaptive":
        assert rates[0] == pytest.approx(rates[1], rel=1e-12)


COUNTS = RNG.poisson(np.exp(0.7 * np.tanh(X[:, 0] - X[:, 1])), size=(2, 30)).T     # two outputs of counts


@pytest.mark.parametrize("K", [1, 2])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_poisson_takes_scikit_learns_steps_and_reports_its_loss(K, solver):
    """``loss="poisson"``: the exp output, half the Poisson deviance. Our loss is the mean over the K outputs
    (scikit-learn's sums them), which the estimator makes up for: one epoch from the same weights with the same
    settings takes scikit-learn's steps, and ``loss_curve_`` is scikit-learn's (with ``alpha`` 0, whose penalty it
    includes)."""
    from sklearn.neural_network import MLPRegressor as Sk
    y = COUNTS[:, 0] if K == 1 else COUNTS
    for alpha in (0.0, 0.01):
        kw = dict(loss="poisson", hidden_layer_sizes=(5,), activation="tanh", solver=solver, momentum=0.0,
                  shuffle=False, max_iter=1, batch_size=8, random_state=0, learning_rate_init=0.05, alpha=alpha)
        ours, theirs = fastmlp.MLPRegressor(**kw), Sk(**kw)
        same_steps_from_the_same_weights(ours, theirs, X, y)
        assert ours.out_activation_ == theirs.out_activation_ == "exp"
        if alpha == 0.0:
            assert ours.loss_curve_[-1] == pytest.approx(theirs.loss_curve_[-1], rel=1e-12 if solver == "sgd" else 1e-5)
        assert np.allclose(ours.predict(X), theirs.predict(X), rtol=1e-12 if solver == "sgd" else 1e-5)
        assert (ours.predict(X) > 0).all()


def test_poisson_refuses_negative_targets_that_scikit_learn_takes_to_nan():
    """scikit-learn's Poisson loss needs ``y >= 0`` (its docs) but does not check: a negative target makes its loss
    NaN. fastmlp refuses it before any work, naming the row."""
    theirs, ours = both("regressor", loss="poisson", max_iter=2)
    y = COUNTS[:, 0].astype(float)
    y[4] = -1.0
    their = outcome(theirs.fit, X, y)
    assert their[0] != "ok" or not np.isfinite(theirs.loss_)
    with pytest.raises(ValueError, match=r"y must be >= 0 with loss='poisson' \(counts or rates\); row 4 has \[-1.0\]"):
        ours.fit(X, y)
    assert not hasattr(ours, "net_")


@pytest.mark.parametrize("loss", ["poisson", "squared_error"])
def test_the_regressors_loss_is_its_first_parameter_as_scikit_learns(loss):
    import inspect
    theirs, ours = KINDS["regressor"]
    assert list(inspect.signature(ours).parameters)[:3] == list(inspect.signature(theirs).parameters)[:3]
    assert ours(loss).get_params()["loss"] == theirs(loss).get_params()["loss"] == loss
    same_error(outcome(theirs(loss="absolute_error").fit, X, COUNTS[:, 0]),
               outcome(ours(loss="absolute_error").fit, X, COUNTS[:, 0]), "loss")


def test_poisson_without_a_hidden_nonlinearity_is_scikit_learns_poisson_glm():
    """One identity hidden unit and the exp output: the model is a Poisson GLM, and L-BFGS finds scikit-learn's
    ``PoissonRegressor``'s predictions (as scikit-learn's own MLP test checks for its MLP)."""
    from sklearn.linear_model import PoissonRegressor
    rng = np.random.default_rng(3)
    x = np.linspace(0, 1, 100)
    y = rng.poisson(np.exp(x + 1))
    X1 = x.reshape(-1, 1)
    glm = PoissonRegressor(alpha=0, tol=1e-7).fit(X1, y)
    ours = fastmlp.MLPRegressor(loss="poisson", hidden_layer_sizes=(1,), activation="identity", alpha=0,
                                solver="lbfgs", tol=1e-7, random_state=4).fit(X1, y)
    assert np.allclose(ours.predict(X1), glm.predict(X1), rtol=1e-4)

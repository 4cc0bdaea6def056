"""dask-ml's ``Incremental`` trains fastmlp block by block on a dask array, on a dask.distributed local cluster.

Needs the ``distributed`` extra (dask, distributed, dask-ml); skips cleanly without it.
"""
import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the estimators' tests need scikit-learn")
da = pytest.importorskip("dask.array", reason="needs the distributed extra: pip install 'fastmlp[distributed]'")
distributed = pytest.importorskip("distributed", reason="needs the distributed extra")
dask_ml_wrappers = pytest.importorskip("dask_ml.wrappers", reason="needs the distributed extra")

import dask  # noqa: E402

import fastmlp  # noqa: E402
from fastmlp import MLPClassifier, MLPRegressor  # noqa: E402

LAYERS = [6, 16, 1]
BLOCK = 2_000
N = 5 * BLOCK


def _teacher_array(task):
    """A lazy dask array of teacher rows: each block is generated on the worker that needs it, never all at
    once in the client (``datasets.teacher`` regenerates any slice on its own)."""
    def block(k, part):
        X, y = fastmlp.datasets.teacher(BLOCK, LAYERS, task=task, seed=7, start=k * BLOCK, dtype="float64")
        return X if part == 0 else y.reshape(BLOCK)
    X = da.concatenate([da.from_delayed(dask.delayed(block)(k, 0), (BLOCK, LAYERS[0]), np.float64)
                        for k in range(N // BLOCK)])
    y_dtype = np.float64 if task == "regression" else np.int64
    y = da.concatenate([da.from_delayed(dask.delayed(block)(k, 1), (BLOCK,), y_dtype) for k in range(N // BLOCK)])
    return X, y


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


@pytest.mark.parametrize("Est, task", [(MLPRegressor, "regression"), (MLPClassifier, "binary")])
def test_incremental_on_a_local_cluster_equals_partial_fit_block_by_block(client, Est, task):
    X, y = _teacher_array(task)
    params = dict(hidden_layer_sizes=(16,), solver="adam", batch_size=32, learning_rate_init=0.005,
                  shuffle=False, random_state=0)
    fit_kw = {"classes": [0, 1]} if task == "binary" else {}
    inc = dask_ml_wrappers.Incremental(Est(**params), shuffle_blocks=False)
    inc.fit(X, y, **fit_kw)
    model = inc.estimator_

    local = Est(**params)
    for k in range(N // BLOCK):
        Xk, yk = fastmlp.datasets.teacher(BLOCK, LAYERS, task=task, seed=7, start=k * BLOCK, dtype="float64")
        local.partial_fit(Xk, yk.reshape(BLOCK), **fit_kw)
    assert model.n_iter_ == 1 and model.t_ == N                      # scikit-learn's: each partial_fit's epochs
    assert model.net_.optimizer_state.t[0] == local.net_.optimizer_state.t[0] == (N // BLOCK) * -(-BLOCK // 32)
    assert model.net_.params.tobytes() == local.net_.params.tobytes()      # the same arithmetic, bit for bit
    # Prediction block by block on the workers, and dask-ml's own scorer on the dask arrays
    X_all, y_all = dask.compute(X, y)
    predicted = inc.predict(X).compute()
    assert np.array_equal(predicted, local.predict(X_all))
    score = local.score(X_all, y_all)
    assert score > (0.5 if task == "regression" else 0.8), score
    assert inc.score(X, y) == pytest.approx(score, rel=1e-9)


@pytest.mark.parametrize("search", ["IncrementalSearchCV", "HyperbandSearchCV"])
def test_dask_ml_searches_run_fastmlp_as_they_run_scikit_learn(client, search):
    """Both searches, on worker processes, with scikit-learn's MLPRegressor and with fastmlp's on the same data:
    each finishes and picks a candidate from the grid (the pinned versions of the distributed extra; with dask
    2026.8 both fail for scikit-learn's own estimator)."""
    import dask_ml.model_selection
    from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor
    X, y = _teacher_array("regression")
    grid = {"alpha": [1e-4, 1e-2], "learning_rate_init": [1e-3, 1e-2]}
    kwargs = dict(n_initial_parameters=4) if search == "IncrementalSearchCV" else {}
    chosen = []
    for Est in (SklearnMLPRegressor, MLPRegressor):
        est = Est(hidden_layer_sizes=(8,), batch_size=64, random_state=0)
        found = getattr(dask_ml.model_selection, search)(est, grid, max_iter=3, random_state=0, **kwargs).fit(X, y)
        assert found.best_params_["alpha"] in grid["alpha"] and np.isfinite(found.best_score_)
        chosen.append(type(found.best_estimator_))
    assert chosen == [SklearnMLPRegressor, MLPRegressor]

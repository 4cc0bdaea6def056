"""A SciPy sparse ``X`` (CSR or CSC, matrix or array): trained a chunk of rows at a time through the dense kernels
(``streaming.SparseSource``), so memory holds one dense chunk; the same bits as the dense ``X`` with the same chunks.
"""
import tracemalloc
import warnings

import numpy as np
import pytest

import fastmlp

sp = pytest.importorskip("scipy.sparse", reason="sparse X needs SciPy")

RNG = np.random.default_rng(0)
X = RNG.standard_normal((300, 20)) * (RNG.random((300, 20)) < 0.2)
Y = (X[:, 0] + X[:, 1] > 0).astype(float)
KINDS = [sp.csr_matrix, sp.csc_matrix, sp.csr_array, sp.csc_array]


@pytest.mark.parametrize("backend, batch_size", [("numba", 1), ("numba", 8), ("numpy", 8), ("reference", 4)])
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_a_sparse_x_trains_the_bits_of_the_dense_one_in_the_same_chunks(kind, backend, batch_size):
    nets = []
    for data in (kind(X), X):
        net = fastmlp.MLP([20, 8, 1], activation="tanh", seed=0)
        h = net.fit(data, Y, chunk_rows=64, epochs=2, seed=3, batch_size=batch_size, backend=backend,
                    validation_data=(kind(X[:50]) if data is not X else X[:50], Y[:50]))
        nets.append((net, h))
    (sparse, hs), (dense, hd) = nets
    assert sparse.params.tobytes() == dense.params.tobytes()
    assert hs.loss == hd.loss and hs.val_loss == hd.val_loss
    assert np.array_equal(sparse.predict(kind(X)), dense.predict(X))
    assert sparse.loss(kind(X), Y) == dense.loss(X, Y)


def test_weights_follow_their_chunks():
    """Rows 100-199 (the second chunk) weigh 0: their targets cannot matter, wherever their chunk comes in the
    epoch's order; and the weights did something."""
    sw = np.ones(300)
    sw[100:200] = 0.0
    results = []
    for targets in (Y, np.where(np.arange(300) // 100 == 1, 5.0, Y), None):
        net = fastmlp.MLP([20, 8, 1], activation="tanh", seed=0)
        net.fit(sp.csr_matrix(X), Y if targets is None else targets, chunk_rows=100, epochs=2, seed=1,
                sample_weight=None if targets is None else sw)
        results.append(net.params.tobytes())
    assert results[0] == results[1] != results[2]


def test_memory_holds_one_dense_chunk_not_the_matrix():
    """2,000 x 20,000 at 0.1 % density: 320 MB dense, trained in chunks of about 64 MiB."""
    Xs = sp.random(2000, 20000, density=0.001, format="csr", random_state=0, dtype=np.float64)
    y = np.asarray(Xs[:, :100].sum(axis=1)).ravel()
    net = fastmlp.MLP([20000, 4, 1], seed=0)
    net.fit(Xs[:50], y[:50])                              # kernels loaded before measuring
    tracemalloc.start()
    net.fit(Xs, y, epochs=1, lr=1e-3)
    predicted = net.predict(Xs)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert predicted.shape == (2000, 1)
    assert peak < 160e6, f"peak {peak / 1e6:.0f} MB: more than one dense chunk (~67 MB)"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
@pytest.mark.parametrize("Est", [fastmlp.MLPClassifier, fastmlp.MLPRegressor], ids=["classifier", "regressor"])
def test_the_estimators_take_sparse_x_as_scikit_learns_do(Est, kind):
    """Beside scikit-learn's estimator: both fit each sparse kind; ours with the bits of the dense fit, early
    stopping and sample weights included (one chunk: the in-memory epoch)."""
    neural_network = pytest.importorskip("sklearn.neural_network", reason="side by side needs scikit-learn")
    Sk = getattr(neural_network, Est.__name__)
    y = Y.astype(int) if Est is fastmlp.MLPClassifier else Y
    params = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0, early_stopping=True)
    sw = RNG.uniform(0.5, 2.0, 300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = Sk(**params).fit(kind(X), y, sample_weight=sw)
        ours, dense = Est(**params).fit(kind(X), y, sample_weight=sw), Est(**params).fit(X, y, sample_weight=sw)
    assert ours.net_.params.tobytes() == dense.net_.params.tobytes()
    assert ours.validation_scores_ == dense.validation_scores_
    assert np.array_equal(ours.predict(kind(X)), dense.predict(X))
    assert ours.n_features_in_ == theirs.n_features_in_ == 20 and ours.predict(kind(X)).shape == theirs.predict(
        kind(X)).shape


def test_a_sparse_x_with_non_finite_values_is_refused_naming_it():
    Xs = sp.csr_matrix(X)
    Xs.data[3] = np.nan
    net = fastmlp.MLP([20, 8, 1], seed=0)
    before = net.params.copy()
    with pytest.raises(ValueError, match=r"X \(its stored values\) must be finite"):
        net.fit(Xs, Y)
    assert net.params.tobytes() == before.tobytes()


def test_lbfgs_takes_a_sparse_x_densified_with_the_dense_bits():
    pytest.importorskip("sklearn", reason="the estimators' lbfgs needs SciPy and scikit-learn's checks")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = [fastmlp.MLPRegressor(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=20, random_state=0).fit(data, Y)
                for data in (sp.csr_matrix(X), X)]
    assert fits[0].net_.params.tobytes() == fits[1].net_.params.tobytes() and fits[0].n_iter_ == fits[1].n_iter_

"""Large synthetic data sets: regenerable slices, folders on disk, training a chunk at a time, bad data."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastmlp
from fastmlp import datasets
from fastmlp.cli import main

from conftest import BOUND_F64_MANY_EPOCHS, rel_diff

LAYERS = [4, 6, 1]


def test_any_slice_regenerates_without_the_rows_before_it():
    n = datasets.BLOCK_ROWS + 5000
    X, y = datasets.teacher(n, LAYERS, seed=3)
    for start, size in [(0, 10), (123, 4567), (datasets.BLOCK_ROWS - 7, 20), (n - 1, 1)]:
        Xs, ys = datasets.teacher(size, LAYERS, seed=3, start=start)
        np.testing.assert_array_equal(Xs, X[start:start + size])
        np.testing.assert_array_equal(ys, y[start:start + size])
    other, _ = datasets.teacher(10, LAYERS, seed=4)
    assert not np.array_equal(other, X[:10])


@pytest.mark.parametrize("task,layers", [("regression", [3, 5, 2]), ("binary", [3, 5, 1]),
                                         ("multiclass", [3, 5, 4])])
def test_written_folder_equals_the_generator_whatever_the_chunks(tmp_path, task, layers):
    rows = 70_000
    manifest = datasets.write(tmp_path, rows, layers, task=task, seed=1)
    X = np.load(tmp_path / "X.npy")
    y = np.load(tmp_path / "y.npy")
    Xg, yg = datasets.teacher(rows, layers, task=task, seed=1)
    np.testing.assert_array_equal(X, Xg)
    np.testing.assert_array_equal(y, yg)
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == manifest and on_disk["rows"] == rows and on_disk["params"]["task"] == task
    if task == "multiclass":
        assert set(np.unique(y)) == set(range(layers[-1]))
    if task == "binary":
        assert set(np.unique(y)) == {0.0, 1.0}


def test_a_student_reaches_the_noise_floor():
    X, y = datasets.teacher(20_000, [4, 16, 1], noise=0.1, seed=0, dtype="float64")
    net = fastmlp.MLP([4, 16, 1], activation="tanh", seed=0)
    untrained = net.loss(X, y)
    history = net.fit(X, y, epochs=8, lr=0.01, seed=0)
    assert history.loss[-1] < 1.3 * 0.1 ** 2 < 0.2 * untrained


@pytest.fixture
def folder(tmp_path):
    datasets.write(tmp_path / "data", 1000, LAYERS, seed=2, dtype="float64")
    return tmp_path / "data"


def test_folder_in_order_equals_in_memory_bit_for_bit(folder):
    X, y = np.load(folder / "X.npy"), np.load(folder / "y.npy")
    a = fastmlp.MLP(LAYERS, activation="tanh", seed=0)
    b = fastmlp.MLP(LAYERS, activation="tanh", seed=0)
    ha = a.fit(folder, epochs=2, lr=0.02, shuffle=False, chunk_rows=300, backend="numba")
    hb = b.fit(X, y, epochs=2, lr=0.02, shuffle=False, backend="numba")
    np.testing.assert_array_equal(a.params, b.params)
    assert ha.loss == pytest.approx(hb.loss, rel=1e-14)


def test_out_of_core_shuffle_rule(folder):
    """Chunk order from the seed, then rows within each chunk: the same as doing it by hand."""
    X, y = np.load(folder / "X.npy"), np.load(folder / "y.npy")
    a = fastmlp.MLP(LAYERS, activation="tanh", seed=0)
    a.fit(folder, epochs=2, lr=0.02, seed=9, chunk_rows=300, backend="numba")
    b = fastmlp.MLP(LAYERS, activation="tanh", seed=0)
    rng = np.random.default_rng(9)
    for _ in range(2):
        for k in rng.permutation(4):
            lo, hi = 300 * k, min(1000, 300 * (k + 1))
            rows = lo + rng.permutation(hi - lo)
            b.fit(X[rows], y[rows], epochs=1, lr=0.02, shuffle=False, backend="numba")
    np.testing.assert_array_equal(a.params, b.params)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_every_path_follows_the_same_rule(folder, backend):
    ref = fastmlp.MLP(LAYERS, activation="tanh", seed=0)
    net = fastmlp.MLP(LAYERS, activation="tanh", seed=0)
    ref.fit(folder, epochs=2, lr=0.02, seed=5, chunk_rows=256, batch_size=3, backend="python")
    net.fit(folder, epochs=2, lr=0.02, seed=5, chunk_rows=256, batch_size=3, backend=backend)
    assert rel_diff(net.params, ref.params) <= BOUND_F64_MANY_EPOCHS


def test_memmap_and_iterable_sources(folder):
    X = np.load(folder / "X.npy", mmap_mode="r")
    y = np.load(folder / "y.npy", mmap_mode="r")
    a = fastmlp.MLP(LAYERS, activation="tanh", seed=0)
    a.fit(X, y, epochs=2, lr=0.02, seed=1, chunk_rows=250)
    b = fastmlp.MLP(LAYERS, activation="tanh", seed=0)
    b.fit(folder, epochs=2, lr=0.02, seed=1, chunk_rows=250)
    np.testing.assert_array_equal(a.params, b.params)
    chunks = [(np.array(X[i:i + 250]), np.array(y[i:i + 250])) for i in range(0, 1000, 250)]
    c = fastmlp.MLP(LAYERS, activation="tanh", seed=0)
    d = fastmlp.MLP(LAYERS, activation="tanh", seed=0)
    c.fit(chunks, epochs=2, lr=0.02, shuffle=False)
    d.fit(folder, epochs=2, lr=0.02, shuffle=False, chunk_rows=250)
    np.testing.assert_array_equal(c.params, d.params)
    with pytest.raises(ValueError, match="epochs must be 1 with a one-shot iterator"):
        fastmlp.MLP(LAYERS, seed=0).fit(iter(chunks), epochs=2)


# --- bad data -------------------------------------------------------------------------------------------------

def test_missing_file(folder):
    os.unlink(folder / "y.npy")
    net = fastmlp.MLP(LAYERS, seed=0)
    before = net.params.copy()
    with pytest.raises(FileNotFoundError, match="y.npy: missing"):
        net.fit(folder)
    np.testing.assert_array_equal(net.params, before)


def test_missing_manifest_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest.json: missing"):
        fastmlp.MLP(LAYERS).fit(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such data-set folder"):
        fastmlp.MLP(LAYERS).fit(tmp_path / "nope")


def test_truncated_file(folder):
    size = os.path.getsize(folder / "X.npy")
    with open(folder / "X.npy", "r+b") as f:
        f.truncate(size - 100)
    with pytest.raises(ValueError, match=r"X.npy: truncated: .*only rows 0..99[0-9] are complete"):
        fastmlp.MLP(LAYERS).fit(folder)


def test_mismatched_rows(folder):
    np.save(folder / "y.npy", np.zeros((990, 1)))
    with pytest.raises(ValueError, match="y.npy: 990 rows, but manifest.json says 1000"):
        fastmlp.MLP(LAYERS).fit(folder)


def test_wrong_dtype_and_width(folder):
    np.save(folder / "X.npy", np.zeros((1000, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="X.npy: shape .* dtype float32, but manifest.json says .* float64"):
        fastmlp.MLP(LAYERS).fit(folder)
    with pytest.raises(ValueError, match=r"X.npy must have shape \(n_samples, 5\)"):
        datasets.write(folder, 1000, LAYERS, seed=2, dtype="float64")
        fastmlp.MLP([5, 6, 1]).fit(folder)


def test_nan_in_a_chunk_names_file_and_rows_and_keeps_the_good_chunks(folder):
    X = np.load(folder / "X.npy", mmap_mode="r+")
    X[650, 2] = np.nan
    X.flush()
    del X
    X, y = np.load(folder / "X.npy"), np.load(folder / "y.npy")
    net = fastmlp.MLP(LAYERS, activation="tanh", seed=0)
    with pytest.raises(ValueError, match=r"X.npy \(rows 600..899\) must be finite; row 50"):
        net.fit(folder, lr=0.02, shuffle=False, chunk_rows=300)
    good = fastmlp.MLP(LAYERS, activation="tanh", seed=0)
    good.fit(X[:600], y[:600], lr=0.02, shuffle=False)
    np.testing.assert_array_equal(net.params, good.params)


def test_foreign_manifest(folder):
    (folder / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not a fastmlp data-set manifest"):
        fastmlp.MLP(LAYERS).fit(folder)


# --- the command line and bounded memory ----------------------------------------------------------------------

def test_data_make_and_train_commands(tmp_path, capsys):
    assert main(["data", "make", "teacher", "--rows", "5000", "--layers", "4,8,1", "--out",
                 str(tmp_path / "d"), "--quiet"]) == 0
    assert "wrote 5,000 rows" in capsys.readouterr().out
    assert main(["train", str(tmp_path / "d"), "--epochs", "2", "--lr", "0.02", "--activation", "tanh",
                 "--save", str(tmp_path / "m.npz"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "epoch 2: loss" in out and "peak memory" in out and "saved to" in out
    net = fastmlp.load(tmp_path / "m.npz")
    X, y = datasets.teacher(5000, [4, 8, 1], dtype="float32")
    assert net.loss(X, y) < 0.1


_MEMORY_PROBE = """
import resource, sys, numpy as np, fastmlp
folder = sys.argv[1]
net = fastmlp.MLP([16, 8, 1], activation="tanh", dtype="float32", seed=0)
net.fit(np.zeros((10, 16), np.float32), np.zeros(10, np.float32), backend="numba")   # compile first
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
net.fit(folder, chunk_rows=1 << 16, backend="numba")
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


def test_streaming_memory_does_not_grow_with_rows(tmp_path):
    rows = 1 << 21                                        # 128 MiB of X
    datasets.write(tmp_path / "big", rows, [16, 8, 1], seed=0)
    grew = float(subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(tmp_path / "big")], check=True,
                                capture_output=True, text=True).stdout)
    assert grew < 48, f"resident memory grew by {grew:.0f} MiB while streaming 128 MiB in 4 MiB chunks"


def test_progress_bar_moves_chunk_by_chunk(folder, capsys, monkeypatch):
    from fastmlp._progress import bar_line
    assert bar_line(5, 10, "rows").startswith("  [" + "#" * 12 + "-" * 12 + "]  50%  5/10 rows")
    assert bar_line(7, None, "samples") == "  7 samples"
    monkeypatch.setitem(sys.modules, "tqdm", None)                    # the plain line, without tqdm
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    fastmlp.MLP(LAYERS, seed=0).fit(folder, chunk_rows=250, progress=True)
    err = capsys.readouterr().err
    assert [f"{k * 250:,}/1,000 samples, epoch 1/1" in err for k in (1, 2, 3, 4)] == [True] * 4
    assert "100%  1,000/1,000 samples, epoch 1/1" in err and "loss" in err


@pytest.mark.parametrize("backend", ["reference", "numba", "numpy"])
@pytest.mark.parametrize("chunk_rows", [12, 100])
def test_one_chunk_of_arrays_is_checked_like_many(backend, chunk_rows):
    """``chunk_rows`` >= the rows: one chunk, whose targets must still be checked and shaped (a 1-D ``y`` once
    reached the kernels as it was)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 3))
    y = X.sum(axis=1) * 0.1
    chunked, whole = fastmlp.MLP([3, 2, 1], seed=0), fastmlp.MLP([3, 2, 1], seed=0)
    h1 = chunked.fit(X, y, epochs=2, shuffle=False, backend=backend, chunk_rows=chunk_rows)
    h2 = whole.fit(X, y, epochs=2, shuffle=False, backend=backend)
    assert chunked.params.tobytes() == whole.params.tobytes() and h1.loss == h2.loss

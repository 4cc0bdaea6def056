"""Hostile and careless input (issue 14): a clear error naming the argument every time, the model unchanged,
nothing read that should not be. Data-set folders, model files, caches and the CLI have their own sections."""
import numpy as np
import pytest

import fastmlp
from fastmlp import MLP
from fastmlp.optim import SGD, Adam
from fastmlp.schedule import InvScaling, Stopping

RNG = np.random.default_rng(0)
X3 = RNG.standard_normal((20, 3))
Y3 = X3.sum(1)


# --- arrays: only real numbers --------------------------------------------------------------------------------

@pytest.mark.parametrize("call, name", [
    (lambda: MLP([3, 1]).fit(X3 + 1j, Y3, backend="reference"), "X"),
    (lambda: MLP([3, 1]).fit(X3, Y3 + 1j, backend="reference"), "y"),
    (lambda: MLP([3, 1]).fit(X3, Y3, sample_weight=np.ones(20) + 1j, backend="reference"), "sample_weight"),
    (lambda: MLP([3, 1]).fit([(X3 + 1j, Y3)], backend="reference"), "X"),
    (lambda: MLP([3, 1]).fit(X3 + 1j, Y3, chunk_rows=5, backend="reference"), "X"),
    (lambda: MLP([3, 1]).predict(X3 + 1j), "X"),
])
def test_complex_data_is_refused(call, name):
    with pytest.raises(ValueError, match=f"Complex data not supported: {name}"):
        call()


@pytest.mark.parametrize("X", [X3.astype("m8[s]"), X3.astype("M8[s]"), X3 > 0, X3.astype(str), X3.astype(object)])
def test_non_real_X_is_refused_naming_X(X):
    with pytest.raises(TypeError, match="^X must"):
        MLP([3, 1]).fit(X, Y3, backend="reference")


def test_boolean_targets_are_refused_for_mse_and_taken_as_labels_for_log_loss():
    with pytest.raises(TypeError, match="^y must hold numbers, got booleans"):
        MLP([3, 1]).fit(X3, Y3 > 0, backend="reference")
    with pytest.raises(TypeError, match="^sample_weight must hold numbers, got booleans"):
        MLP([3, 1]).fit(X3, Y3, sample_weight=np.ones(20, bool), backend="reference")
    MLP([3, 1], loss="log_loss").fit(X3, Y3 > 0, backend="reference")


@pytest.mark.parametrize("make", [lambda: [], lambda: iter([])])
def test_empty_iterables_raise_and_change_nothing(make):
    net = MLP([3, 1], seed=0)
    params, rng_state = net.params.copy(), net.rng.bit_generator.state
    with pytest.raises(ValueError, match="^X: the iterable of .X, y. chunks is empty"):
        net.fit(make(), backend="reference")
    assert np.array_equal(net.params, params) and net.optimizer_state is None
    assert net.rng.bit_generator.state == rng_state


def test_an_exhausted_iterator_raises():
    it = iter([(X3, Y3)])
    net = MLP([3, 1], seed=0)
    net.fit(it, backend="reference")
    with pytest.raises(ValueError, match="used up"):
        net.fit(it, backend="reference")


def test_a_list_X_with_chunk_rows_trains_as_the_array_does():
    a, b = MLP([3, 1], seed=0), MLP([3, 1], seed=0)
    a.fit(X3.tolist(), Y3.tolist(), chunk_rows=5, backend="reference", shuffle=False)
    b.fit(X3, Y3, chunk_rows=5, backend="reference", shuffle=False)
    np.testing.assert_array_equal(a.params, b.params)


def test_a_failed_check_after_the_hold_out_leaves_the_generator_as_it_was():
    net = MLP([3, 1], seed=0)
    state = net.rng.bit_generator.state
    with pytest.raises(ValueError, match="epochs must be 1 with a one-shot iterator"):
        net.fit(iter([(X3, Y3)]), epochs=2, backend="reference")
    with pytest.raises(ValueError, match="validation_fraction"):
        net.fit(X3, Y3, validation_fraction=0.999, backend="reference")
    assert net.rng.bit_generator.state == state


# --- hyperparameters ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("layer_sizes", [{3: "a", 1: "b"}, {3, 1}, np.array([[3, 1]]), (n for n in (3, 1))])
def test_layer_sizes_must_be_a_list_tuple_or_1d_array(layer_sizes):
    with pytest.raises(TypeError, match="^layer_sizes must be"):
        MLP(layer_sizes)


def test_layer_sizes_as_a_1d_integer_array():
    assert MLP(np.array([3, 4, 1])).layer_sizes == (3, 4, 1)


@pytest.mark.parametrize("seed, exc", [(-1, ValueError), (1.5, TypeError), ("0", TypeError)])
def test_a_bad_seed_names_seed(seed, exc):
    with pytest.raises(exc, match="^seed must"):
        MLP([3, 1], seed=seed)
    with pytest.raises(exc, match="^seed must"):
        MLP([3, 1]).fit(X3, Y3, seed=seed)


@pytest.mark.parametrize("kw", [lambda: dict(optimizer=SGD(momentum=np.float32(0.9))),
                                lambda: dict(stopping=Stopping(tol=np.float32(1e-4))),
                                lambda: dict(optimizer=SGD(weight_decay=np.float32(0.1))),
                                lambda: dict(validation_fraction=np.float32(0.2)),
                                lambda: dict(schedule=InvScaling(power_t=np.float32(0.5))),
                                lambda: dict(optimizer=Adam(betas=(np.float32(.9), .999))),
                                lambda: dict(lr=np.float16(0.01)), lambda: dict(optimizer=Adam(eps=np.float64(1e-8)))])
def test_numpy_real_scalars_are_accepted_everywhere(kw):
    MLP([3, 1], seed=0).fit(X3, Y3, backend="reference", **kw())


@pytest.mark.parametrize("kw, name", [(lambda: dict(optimizer=SGD(momentum=True)), "momentum"),
                                      (lambda: dict(stopping=Stopping(tol=float("nan"))), "tol"),
                                      (lambda: dict(optimizer=Adam(weight_decay=-0.1)), "weight_decay"),
                                      (lambda: dict(validation_fraction=1.0), "validation_fraction"),
                                      (lambda: dict(schedule=InvScaling(power_t="0.5")), "power_t"),
                                      (lambda: dict(optimizer=Adam(betas=(0.9, 1.0))), r"betas\[1\]")])
def test_bad_hyperparameters_are_named(kw, name):
    with pytest.raises((TypeError, ValueError), match=f"^{name} must"):
        MLP([3, 1], seed=0).fit(X3, Y3, backend="reference", **kw())


# --- estimators: everything is checked before the fitted model is touched -------------------------------------

@pytest.mark.parametrize("bad", [
    lambda r: r.fit(X3, Y3, sample_weight=-1),
    lambda r: r.fit(X3, Y3, sample_weight=np.ones(3)),
    lambda r: r.set_params(dtype="float32").fit(X3 * 1e300, Y3),
    lambda r: r.set_params(early_stopping=True, validation_fraction=0.99).fit(X3, Y3),
    lambda r: r.fit(X3[:, :2], Y3) if r.warm_start else r.set_params(warm_start=True).fit(X3[:, :2], Y3),
])
def test_a_fit_that_fails_validation_keeps_the_fitted_model(bad):
    pytest.importorskip("sklearn")
    reg = fastmlp.MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0, backend="reference").fit(X3, Y3)
    params, n_iter, n_features = reg.net_.params.copy(), reg.n_iter_, reg.n_features_in_
    with pytest.raises(ValueError):
        bad(reg)
    assert reg.n_iter_ == n_iter and reg.n_features_in_ == n_features
    np.testing.assert_array_equal(reg.net_.params, params)


@pytest.mark.parametrize("param, value", [("solver", "bogus"), ("learning_rate_init", -5.0), ("alpha", -1.0),
                                          ("momentum", 7.0)])
def test_partial_fit_validates_parameters_every_call(param, value):
    pytest.importorskip("sklearn")
    reg = fastmlp.MLPRegressor(hidden_layer_sizes=(4,), random_state=0, backend="reference").partial_fit(X3, Y3)
    params = reg.net_.params.copy()
    reg.set_params(**{param: value})
    with pytest.raises(ValueError, match=param):
        reg.partial_fit(X3, Y3)
    np.testing.assert_array_equal(reg.net_.params, params)


# --- the command line: one line, exit 2, for every user error -------------------------------------------------

def _cli(*argv, cwd=None):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "fastmlp", *map(str, argv)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


@pytest.mark.parametrize("argv", [
    ["train", "MISSING"], ["train", "EMPTY"], ["train", "NOT_A_DATASET_FILE"], ["demo", "--rows", "-5"],
    ["demo", "--epochs", "0"], ["demo", "--lr", "-1"], ["demo", "--lr", "nan"],
    ["bench", "--rounds", "-3", "--quick", "--workloads", "W1", "--no-sweep"],
    ["bench", "--workloads", "W9"],
    ["data", "make", "teacher", "--rows", "5", "--layers", "3", "--out", "OUT"],
    ["data", "make", "teacher", "--rows", "0", "--layers", "3,1", "--out", "OUT"],
    ["data", "make", "teacher", "--rows", "5", "--layers", "3,1", "--activation", "bogus", "--out", "OUT"],
    ["data", "make", "teacher", "--rows", "5", "--layers", "3,1", "--out", "NOT_A_DATASET_FILE/sub"],
    ["train", "DATA", "--epochs", "0"], ["train", "DATA", "--batch-size", "0"], ["train", "DATA", "--lr", "0"],
    ["train", "DATA", "--chunk-rows", "-1"], ["train", "DATA", "--layers", "4,1"],
    ["train", "DATA", "--save", "NOT_A_DATASET_FILE/m.npz"], ["train", "DATA", "--save", "EMPTY"],
])
def test_cli_user_errors_are_one_line_and_exit_2(tmp_path, argv):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("")
    fastmlp.datasets.write(tmp_path / "data", 20, [3, 1], seed=0)
    subs = {"MISSING": tmp_path / "missing", "EMPTY": tmp_path / "empty", "OUT": tmp_path / "out",
            "NOT_A_DATASET_FILE": tmp_path / "file", "DATA": tmp_path / "data",
            "NOT_A_DATASET_FILE/sub": tmp_path / "file" / "sub",
            "NOT_A_DATASET_FILE/m.npz": tmp_path / "file" / "m.npz"}
    r = _cli(*[subs.get(a, a) for a in argv], cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("fastmlp: error: "), r.stderr
    assert "epoch 1" not in r.stdout                       # nothing was trained before the error


def test_cli_a_bug_still_shows_its_traceback(tmp_path, monkeypatch, capsys):
    from fastmlp import cli
    monkeypatch.setattr(cli, "demo", lambda args: {}["a bug"])
    with pytest.raises(KeyError):
        cli.main(["demo"])


# --- data-set folders: nothing outside the folder is read, every manifest error named -------------------------

@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "ds"
    fastmlp.datasets.write(d, 10, [3, 1], seed=0)
    return d


def _edit(folder, change):
    import json
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("name", ["../outside.npy", "ABSOLUTE", "sub/X.npy", "..", ""])
def test_a_manifest_file_outside_the_folder_is_refused(folder, name):
    outside = folder.parent / "outside.npy"
    np.save(outside, np.full((10, 3), 7.0, np.float32))
    _edit(folder, lambda m: m["X"].__setitem__("file", str(outside) if name == "ABSOLUTE" else name))
    with pytest.raises(ValueError, match=r"manifest.json: 'X.file' is .*expected the name of a file in the folder"):
        MLP([3, 1], seed=0).fit(str(folder), backend="reference")


def test_a_symlink_leading_out_of_the_folder_is_refused(folder):
    outside = folder.parent / "outside.npy"
    np.save(outside, np.full((10, 3), 7.0, np.float32))
    (folder / "X.npy").unlink()
    (folder / "X.npy").symlink_to(outside)
    with pytest.raises(ValueError, match="symlink leading out of the folder"):
        MLP([3, 1], seed=0).fit(str(folder), backend="reference")


def test_a_symlink_inside_the_folder_is_followed(folder):
    (folder / "X.npy").rename(folder / "X-data.npy")
    (folder / "X.npy").symlink_to(folder / "X-data.npy")
    MLP([3, 1], seed=0).fit(str(folder), backend="reference")


@pytest.mark.parametrize("content", [b"SECRET-TOKEN-1234\n", b"\x93NUMPY\x01\x00SECRET-TOKEN", b""])
def test_an_error_never_echoes_the_bytes_of_a_refused_file(folder, content):
    (folder / "notes.txt").write_bytes(content)
    _edit(folder, lambda m: m["X"].__setitem__("file", "notes.txt"))
    with pytest.raises(ValueError) as info:
        MLP([3, 1], seed=0).fit(str(folder), backend="reference")
    assert "SECRE" not in str(info.value) and "notes.txt" in str(info.value)


@pytest.mark.parametrize("change, key", [
    (lambda m: m.pop("X"), "X"), (lambda m: m.pop("rows"), "rows"), (lambda m: m["X"].pop("file"), "X.file"),
    (lambda m: m.__setitem__("rows", "10"), "rows"), (lambda m: m.__setitem__("X", ["X.npy"]), "X"),
    (lambda m: m["X"].__setitem__("file", 5), "X.file"), (lambda m: m["X"].__setitem__("shape", "10,3"), "X.shape"),
    (lambda m: m["y"].__setitem__("dtype", "complex128"), "y.dtype"),
    (lambda m: m.__setitem__("params", None), "params"),
    (lambda m: m["params"].__setitem__("layer_sizes", [3.5, 1]), "params.layer_sizes"),
    (lambda m: m.__setitem__("format_version", 1.5), "format_version"), (lambda m: m.__setitem__("seed", -1), "seed"),
])
def test_manifest_errors_name_the_folder_the_key_and_the_value(folder, change, key):
    _edit(folder, change)
    with pytest.raises(ValueError) as info:
        MLP([3, 1], seed=0).fit(str(folder), backend="reference")
    assert str(folder) in str(info.value) and f"'{key}' is" in str(info.value)


def test_a_complex_npy_in_a_folder_is_refused_when_opened(folder):
    np.save(folder / "X.npy", np.ones((10, 3), np.complex64))
    _edit(folder, lambda m: m["X"].__setitem__("dtype", "float32"))
    with pytest.raises(ValueError, match="X.npy: holds complex64 values, expected real numbers"):
        MLP([3, 1], seed=0).fit(str(folder), backend="reference")


@pytest.mark.parametrize("dtype", [object, "int8", "U3", "float16", "complex128"])
def test_write_refuses_a_bad_dtype_before_touching_the_folder(folder, dtype):
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ValueError, match="^dtype must be one of"):
        fastmlp.datasets.write(folder, 10, [3, 1], dtype=dtype)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    with pytest.raises(ValueError, match="^dtype must be one of"):
        fastmlp.datasets.teacher(5, [3, 1], dtype=dtype)


def test_write_replaces_a_data_set_whole_and_never_writes_through_a_link(folder, tmp_path):
    victim = tmp_path / "victim.npy"
    victim.write_bytes(b"keep me")
    (folder / "X.npy").unlink()
    (folder / "X.npy").symlink_to(victim)
    fastmlp.datasets.write(folder, 12, [3, 1], seed=1)
    assert victim.read_bytes() == b"keep me" and not (folder / "X.npy").is_symlink()
    assert sorted(p.name for p in folder.iterdir()) == ["X.npy", "manifest.json", "y.npy"]
    X, _ = fastmlp.datasets.teacher(12, [3, 1], seed=1)
    np.testing.assert_array_equal(np.load(folder / "X.npy"), X)


# --- model files: checked before anything is allocated, every error naming the file ---------------------------

def _model_file(tmp_path, name="m.npz", **change):
    good = tmp_path / "good.npz"
    MLP([3, 4, 2], seed=0).save(good)
    with np.load(good) as z:
        fields = dict(z)
    fields.update(change)
    path = tmp_path / name
    with open(path, "wb") as f:
        np.savez(f, **fields)
    return path


def _rewrite_member(path, name, data, compression=None):
    import zipfile
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members[name] = data
    with zipfile.ZipFile(path, "w", compression=compression or zipfile.ZIP_STORED) as z:
        for n, b in members.items():
            z.writestr(n, b)


def test_save_removes_its_own_stale_temporaries_only(tmp_path):
    import os
    import time
    old, fresh = tmp_path / ".m.npz.ab12cd34.tmp", tmp_path / ".m.npz.zz99yy88.tmp"
    other_name, other_kind = tmp_path / ".n.npz.ab12cd34.tmp", tmp_path / "keep.tmp"
    for p in (old, fresh, other_name, other_kind):
        p.write_bytes(b"x" * 100)
        if p is not fresh:
            os.utime(p, (time.time() - 7200,) * 2)
    MLP([3, 1]).save(tmp_path / "m.npz")
    assert not old.exists() and fresh.exists() and other_name.exists() and other_kind.exists()
    os.utime(fresh, (time.time() - 7200,) * 2)
    fastmlp.load(tmp_path / "m.npz")
    assert not fresh.exists()


def test_save_leaves_no_temporary_when_writing_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "savez", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        MLP([3, 1]).save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_load_checks_declared_sizes_before_allocating(tmp_path):
    import time
    import tracemalloc
    path = _model_file(tmp_path, layer_sizes=np.array([3, 12000, 12000, 2], np.int64))
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(ValueError, match=f"{path}: params of shape"):
            fastmlp.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10e6 and time.perf_counter() - t0 < 1.0


def test_load_a_header_claiming_2_to_the_40_elements(tmp_path):
    path = _model_file(tmp_path)
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (%d,), }" % 2 ** 40
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    _rewrite_member(path, "params.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
                    + b"\0" * 64)
    with pytest.raises(ValueError, match=f"{path}: field 'params' declares shape"):
        fastmlp.load(path)


def test_load_refuses_a_compressed_member_at_once(tmp_path):
    import io
    import time
    import zipfile
    path = _model_file(tmp_path)
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(2 ** 24))                      # 128 MiB of zeros, a few hundred KB deflated
    _rewrite_member(path, "params.npy", buffer.getvalue(), zipfile.ZIP_DEFLATED)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=f"{path}: field .* is compressed"):
        fastmlp.load(path)
    assert time.perf_counter() - t0 < 0.5


ADAM = dict(optimizer=np.array("adam"), optimizer_hyper=np.array([.9, .9, .999, 1e-8, 0., 0.]),
            optimizer_m=np.zeros(26), optimizer_v=np.zeros(26), optimizer_t=np.zeros(1, np.int64))


@pytest.mark.parametrize("change, what", [
    (dict(params=np.full(26, np.nan)), "'params' holds NaN or infinity"),
    (dict(format_version=np.array(2.7)), "'format_version' must be an integer"),
    (dict(format_version=np.array("abc")), "'format_version' must be an integer"),
    (dict(format_version=np.array(4)), "format_version 4"),
    (dict(layer_sizes=np.array([3.5, 4, 2])), "layer_sizes must hold integers"),
    (dict(layer_sizes=np.array([[3, 4, 2]])), "layer_sizes must be a sequence"),
    (dict(dtype=np.array("int8")), "dtype must be one of"),
    (dict(activation=np.array(["relu", "tanh"])), "'activation' must be a string"),
    ({**ADAM, "optimizer_m": np.full(26, np.inf)}, "'optimizer_m' holds NaN or infinity"),
    ({**ADAM, "optimizer_t": np.array([-5], np.int64)}, "optimizer_t must be >= 0"),
    ({**ADAM, "optimizer_hyper": np.array([.9, .9, 1.5, 1e-8, 0., 0.])}, r"betas\[1\]"),
    ({**ADAM, "optimizer_hyper": np.array([.9, .9, .999, 1e-8, 0., -1.])}, "l2 must be a finite number >= 0"),
    ({**ADAM, "optimizer_hyper": np.zeros(5)}, r"optimizer_hyper of shape \(5,\)"),
    (dict(params=np.array([object()] * 26, dtype=object)), "holds Python objects"),
])
def test_load_refuses_bad_fields_naming_the_file(tmp_path, change, what):
    try:
        path = _model_file(tmp_path, **change)
    except ValueError:                                       # numpy refuses to write objects without pickle
        pytest.skip("numpy will not write this field")
    with pytest.raises(ValueError, match=f"{path}: .*{what}"):
        fastmlp.load(path)


def test_load_a_plain_npy_names_the_file(tmp_path):
    path = tmp_path / "m.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(ValueError, match=f"{path}: truncated or corrupt"):
        fastmlp.load(path)


def test_load_a_folder_or_a_missing_file(tmp_path):
    with pytest.raises(IsADirectoryError, match=str(tmp_path)):
        fastmlp.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such model file"):
        fastmlp.load(tmp_path / "missing.npz")


def test_load_keeps_a_permission_error(tmp_path, monkeypatch):
    import os
    path = _model_file(tmp_path)
    real_open = os.open

    def refuse(file, *args, **kwargs):          # as a file of another user's would (root reads any file)
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(file, *args, **kwargs)
    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(PermissionError, match="Permission denied"):
        fastmlp.load(path)


def test_a_round_trip_still_exact(tmp_path):
    net = MLP([3, 4, 2], seed=0)
    net.fit(X3, np.c_[Y3, -Y3], optimizer="adam", backend="numpy", batch_size=4)
    loaded = fastmlp.load(net.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(loaded.params, net.params)
    np.testing.assert_array_equal(loaded.optimizer_state.v, net.optimizer_state.v)


# --- found by a second hostile read (issue 14 re-audit) --------------------------------------------------------

def test_special_files_are_refused_without_hanging_or_reading_them(tmp_path, folder):
    import os
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        fastmlp.load(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        fastmlp.load("/dev/zero")
    (folder / "manifest.json").unlink()
    os.mkfifo(folder / "manifest.json")
    with pytest.raises(ValueError, match="not a regular file"):
        MLP([3, 1]).fit(str(folder), backend="reference")


def test_a_huge_or_deeply_nested_manifest_is_refused(folder):
    (folder / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="manifest"):
        MLP([3, 1]).fit(str(folder), backend="reference")
    (folder / "manifest.json").write_bytes(b" " * (2 << 20))
    with pytest.raises(ValueError, match="more than a manifest holds"):
        MLP([3, 1]).fit(str(folder), backend="reference")


def test_a_0d_member_and_an_overlong_member_name(folder):
    np.save(folder / "X.npy", np.float32(1.0))
    with pytest.raises(ValueError, match="X.npy: holds a single value"):
        MLP([3, 1]).fit(str(folder), backend="reference")
    _edit(folder, lambda m: m["X"].__setitem__("file", "x" * 5000))
    with pytest.raises(ValueError, match="'X.file' is"):
        MLP([3, 1]).fit(str(folder), backend="reference")


def test_data_sets_stay_readable_by_others(tmp_path):
    import os
    import stat
    umask = os.umask(0o022)
    try:
        fastmlp.datasets.write(tmp_path / "ds", 5, [3, 1])
    finally:
        os.umask(umask)
    for name in ("X.npy", "y.npy", "manifest.json"):
        assert stat.S_IMODE((tmp_path / "ds" / name).stat().st_mode) == 0o644


def test_a_negative_shape_in_a_model_member(tmp_path):
    path = _model_file(tmp_path)
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (-1, -3), }"
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    _rewrite_member(path, "params.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
    with pytest.raises(ValueError, match=f"{path}: field 'params' declares a negative size"):
        fastmlp.load(path)


def test_a_network_too_large_to_allocate_names_layer_sizes():
    with pytest.raises(ValueError, match=r"^layer_sizes \[3, 1000000, 1000000, 1\] means 1,000,00"):
        MLP([3, 10**6, 10**6, 1])


def test_a_warm_start_with_other_hidden_sizes_is_refused():
    pytest.importorskip("sklearn")
    reg = fastmlp.MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, warm_start=True, backend="reference",
                               random_state=0)
    with pytest.warns():
        reg.fit(X3, Y3)
    with pytest.raises(ValueError, match="hidden_layer_sizes=.7,. differs from the fitted network's"):
        reg.set_params(hidden_layer_sizes=(7,)).fit(X3, Y3)


@pytest.mark.parametrize("argv", [["data", "make", "teacher", "--rows", "5", "--layers", "3,1", "--out", ""],
                                  ["train", "DATA", "--save", ""], ["train", "DATA", "--save", "/proc/nope/m.npz"]])
def test_cli_empty_and_unwritable_paths_before_any_work(tmp_path, argv):
    fastmlp.datasets.write(tmp_path / "data", 20, [3, 1], seed=0)
    r = _cli(*[tmp_path / "data" if a == "DATA" else a for a in argv], cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("fastmlp: error: ") and len(r.stderr.splitlines()) == 1, r.stderr
    assert "epoch 1" not in r.stdout and not (tmp_path / "X.npy").exists()


def test_cli_a_refused_cache_is_one_line(tmp_path):
    import os
    import subprocess
    import sys
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o777)
    env = {**os.environ, "FASTMLP_CACHE_DIR": str(cache)}
    r = subprocess.run([sys.executable, "-m", "fastmlp", "demo", "--rows", "20", "--epochs", "1"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("fastmlp: error: cache folder") and "chmod go-w" in r.stderr


def test_a_folder_where_a_manifest_or_a_kernel_source_should_be(folder, tmp_path):
    (folder / "manifest.json").unlink()
    (folder / "manifest.json").mkdir()
    with pytest.raises(ValueError, match=f"{folder / 'manifest.json'}: not a regular file"):
        MLP([3, 1]).fit(str(folder), backend="reference")
    from fastmlp.backends import _cache
    (tmp_path / "k.py").mkdir()
    assert _cache.read_regular_file(tmp_path / "k.py", 100) is None      # moved aside by the caller, then rebuilt

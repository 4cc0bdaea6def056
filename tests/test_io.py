"""Save and load: exact round trips, atomic writes, clear errors on bad files."""
import numpy as np
import pytest

import fastmlp
from fastmlp import io


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_round_trip_is_exact(tmp_path, dtype):
    net = fastmlp.MLP([3, 5, 4], activation="tanh", loss="cross_entropy", dtype=dtype, seed=1)
    net.params[:] += np.random.default_rng(0).standard_normal(net.params.size).astype(dtype) * 1e-3
    net.save(tmp_path / "m.npz")
    back = fastmlp.load(tmp_path / "m.npz")
    assert back.params.tobytes() == net.params.tobytes() and back.params.dtype == net.params.dtype
    assert (back.layer_sizes, back.activation, back.loss_name, back.output_activation) == \
           (net.layer_sizes, net.activation, net.loss_name, net.output_activation)


def test_interrupted_save_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    old = fastmlp.MLP([2, 3, 1], seed=1)
    old.save(path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        args[0].write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(io.np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        fastmlp.MLP([2, 3, 1], seed=2).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]     # no temporary left behind


def test_truncated_corrupt_and_foreign_files(tmp_path):
    net = fastmlp.MLP([2, 3, 1], seed=1)
    good = net.save(tmp_path / "m.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="t.npz: truncated or corrupt"):
        fastmlp.load(tmp_path / "t.npz")
    (tmp_path / "c.npz").write_bytes(b"this is not a zip archive")
    with pytest.raises(ValueError, match="c.npz: "):
        fastmlp.load(tmp_path / "c.npz")
    np.savez(tmp_path / "f.npz", weights=np.ones(3))
    with pytest.raises(ValueError, match="f.npz: not a fastmlp model file"):
        fastmlp.load(tmp_path / "f.npz")
    with pytest.raises(FileNotFoundError, match="no such model file"):
        fastmlp.load(tmp_path / "missing.npz")


def test_wrong_params_length(tmp_path):
    net = fastmlp.MLP([2, 3, 1], seed=1)
    np.savez(tmp_path / "w.npz", format=np.array("fastmlp-model"), format_version=np.array(1),
             layer_sizes=np.array([2, 3, 1]), activation=np.array("relu"), output_activation=np.array("identity"),
             loss=np.array("mse"), dtype=np.array("float64"), params=np.ones(5))
    with pytest.raises(ValueError, match=r"params of shape \(5,\) float64, expected \(13,\)"):
        fastmlp.load(tmp_path / "w.npz")
    assert net.params.shape == (13,)


def optimizer_with_decay(rule):
    return fastmlp.optim.from_rule(rule, [0.9, 0.9, 0.999, 1e-8, 1e-3, 0.25])


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_optimiser_state_round_trips_and_training_goes_on_exactly(tmp_path, optimizer):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 3)), rng.standard_normal(64)
    net = fastmlp.MLP([3, 6, 1], activation="tanh", seed=1)
    net.fit(X, y, epochs=2, lr=0.01, batch_size=4, optimizer=optimizer_with_decay(optimizer), seed=0)
    back = fastmlp.load(net.save(tmp_path / "m.npz"))
    saved, loaded = net.optimizer_state, back.optimizer_state
    assert loaded.name == saved.name and loaded.optimizer == saved.optimizer and loaded.weight_decay == 1e-3
    assert loaded.l2 == 0.25
    for a, b in ((saved.m, loaded.m), (saved.v, loaded.v), (saved.t, loaded.t)):
        assert a.tobytes() == b.tobytes()
    assert loaded.t[0] == 2 * 64 // 4
    for model in (net, back):
        model.fit(X, y, epochs=2, lr=0.01, batch_size=4, optimizer=optimizer_with_decay(optimizer), seed=5)
    assert back.params.tobytes() == net.params.tobytes()        # the warm start went on from the saved state


def test_a_model_without_optimiser_state_and_version_1_files_load(tmp_path):
    net = fastmlp.MLP([2, 3, 1], seed=1)
    assert fastmlp.load(net.save(tmp_path / "fresh.npz")).optimizer_state is None
    np.savez(tmp_path / "v1.npz", format=np.array("fastmlp-model"), format_version=np.array(1),
             layer_sizes=np.array([2, 3, 1]), activation=np.array("relu"), output_activation=np.array("identity"),
             loss=np.array("mse"), dtype=np.array("float64"), params=net.params)
    old = fastmlp.load(tmp_path / "v1.npz")
    assert old.params.tobytes() == net.params.tobytes() and old.optimizer_state is None


def _trained_and_saved(tmp_path, optimizer):
    """A small model after one epoch with ``optimizer``, and the fields of its saved file."""
    rng = np.random.default_rng(0)
    net = fastmlp.MLP([2, 3, 1], seed=1)
    net.fit(rng.standard_normal((8, 2)), rng.standard_normal(8), optimizer=optimizer, lr=0.01)
    with np.load(net.save(tmp_path / "m.npz")) as z:
        return net, dict(z)


def test_a_version_2_file_without_l2_loads_with_l2_0(tmp_path):
    net, fields = _trained_and_saved(tmp_path, "momentum")
    fields["format_version"], fields["optimizer_hyper"] = np.array(2), fields["optimizer_hyper"][:5]
    np.savez(tmp_path / "v2.npz", **fields)
    old = fastmlp.load(tmp_path / "v2.npz")
    assert old.optimizer_state.optimizer == fastmlp.optim.SGD(momentum=0.9) and old.optimizer_state.l2 == 0.0
    assert old.optimizer_state.m.tobytes() == net.optimizer_state.m.tobytes()


def test_corrupt_optimiser_state_is_refused(tmp_path):
    _, fields = _trained_and_saved(tmp_path, "adam")
    fields["optimizer_v"] = fields["optimizer_v"][:-1]
    np.savez(tmp_path / "bad.npz", **fields)
    with pytest.raises(ValueError, match=r"bad.npz: optimizer_v of shape \(12,\) float64, expected \(13,\)"):
        fastmlp.load(tmp_path / "bad.npz")
    fields["optimizer"] = np.array("rmsprop")
    np.savez(tmp_path / "foreign.npz", **fields)
    with pytest.raises(ValueError, match="foreign.npz: bad optimiser state .*optimizer must be one of"):
        fastmlp.load(tmp_path / "foreign.npz")


def test_pickled_model_is_realigned_and_equal():
    import pickle
    net = fastmlp.MLP([4, 8, 2], loss="cross_entropy", seed=3)
    rng = np.random.default_rng(0)
    net.fit(rng.standard_normal((20, 4)), rng.integers(0, 2, 20), optimizer="adam", lr=0.01)
    back = pickle.loads(pickle.dumps(net))
    assert back.params.tobytes() == net.params.tobytes()
    assert back.params.ctypes.data % 64 == 0 and back.optimizer_state.m.ctypes.data % 64 == 0
    assert back.optimizer_state.v.tobytes() == net.optimizer_state.v.tobytes()

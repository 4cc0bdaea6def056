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

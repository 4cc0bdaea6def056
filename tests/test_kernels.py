"""The Numba path's kernels as issue 16 wants them: compiled once per install, not once per shape; the style chosen
from the network and the optimiser alone; generated source that reads cleanly."""
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import fastmlp
from fastmlp._validation import make_spec
from fastmlp.backends import numba as numba_path
from fastmlp.backends.numba import _codegen, kernels
from fastmlp.optim import SGD, Adam, OptimizerState

NO_JIT = os.environ.get("NUMBA_DISABLE_JIT") == "1"


def _state(optimizer, spec):
    return OptimizerState(optimizer, spec.n_params, np.float64)


def test_the_style_depends_on_the_network_and_the_optimiser_only():
    tiny, small = make_spec([2, 2, 1], "identity", "mse", None), make_spec([2, 3, 2], "tanh", "mse", None)
    assert tiny.n_params <= numba_path.SCALAR_MAX_PARAMS < small.n_params
    assert numba_path.style_for(tiny) == numba_path.style_for(tiny, _state("sgd", tiny)) == "scalar"
    assert numba_path.style_for(small, _state("sgd", small)) == "loop"
    for optimizer in ("momentum", "nesterov", "adam", SGD(weight_decay=1e-3), Adam(weight_decay=1e-3)):
        assert numba_path.style_for(tiny, _state(optimizer, tiny)) == "loop", optimizer


@pytest.mark.skipif(NO_JIT, reason="nothing is compiled")
def test_one_compiled_kernel_serves_every_shape():
    rng = np.random.default_rng(0)
    shapes = ([3, 40, 1], "tanh", "mse"), ([5, 17, 9, 3], "relu", "cross_entropy"), ([4, 30, 2], "sigmoid",
                                                                                      "log_loss")
    per_sample, batch, threaded = kernels.kernels_for("adam")
    compiled = []
    for sizes, activation, loss in shapes:
        net = fastmlp.MLP(sizes, activation=activation, loss=loss, seed=0)
        X = rng.standard_normal((20, sizes[0]))
        y = rng.integers(0, 2, (20, sizes[-1])) if loss != "mse" else rng.standard_normal(20)
        if loss == "cross_entropy":
            y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], 20)]
        net.fit(X, y, optimizer="adam", lr=1e-3, backend="numba")
        net.fit(X, y, optimizer="adam", lr=1e-3, batch_size=4, backend="numba")
        net.fit(X, y, optimizer="adam", lr=1e-3, backend="numba", threads=2)
        compiled.append((len(per_sample.signatures), len(batch.signatures), len(threaded.signatures)))
    assert compiled[0] == compiled[-1], compiled                # no new compile for a new shape


@pytest.mark.skipif(NO_JIT, reason="nothing is compiled")
@pytest.mark.parametrize("sizes,optimizer", [([3, 40, 1], "adam"), ([2, 2, 1], "sgd")])     # loop, scalar style
def test_read_only_data_is_not_another_kernel(sizes, optimizer):
    """Read-only data (a memory map opened ``"r"``, scikit-learn's read-only checks) trains with the kernels that
    writable data compiled: Numba would otherwise type it apart and compile every kernel again."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, sizes[0])), rng.standard_normal((20, 1))
    X_ro, y_ro = X.copy(), y.copy()
    X_ro.flags.writeable = y_ro.flags.writeable = False

    def signatures(net):
        if numba_path.style_for(net.spec, _state(optimizer, net.spec)) == "scalar":
            module = numba_path.generated(net.spec, "float64")
            return len(module.epoch_per_sample.signatures), len(module.epoch_batch.signatures)
        run = kernels.kernels_for(optimizer)
        return len(run.per_sample.signatures), len(run.batch.signatures), len(run.per_sample_threaded.signatures)

    fits = [dict(), dict(batch_size=4)] + ([dict(threads=2)] if sizes[1] > 2 else [])
    for data in ((X, y), (X_ro, y_ro)):
        net = fastmlp.MLP(sizes, seed=0)
        for kw in fits:
            net.fit(*data, optimizer=optimizer, lr=1e-3, backend="numba", **kw)
        if data[0] is X:
            before = signatures(net)
    assert signatures(net) == before
    assert X.flags.writeable and y.flags.writeable                       # the user's arrays as they were
    assert not X_ro.flags.writeable and np.array_equal(X_ro, X)


@pytest.mark.skipif(NO_JIT, reason="nothing is compiled")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_numpy_paths_warm_up_compiles_what_training_calls(dtype, monkeypatch):
    """``backends.numpy._warm`` loads (or compiles) the fused kernels before the first batch with the argument types
    training passes: a type apart (a ``bool`` where training passes a float) would be another kernel to compile,
    inside the first batch, once per install and dtype. The calls' Numba types are recorded (the dispatchers'
    signatures would not do: other tests may have compiled the types training passes already)."""
    from numba import typeof

    from fastmlp.backends import numpy as numpy_path
    from fastmlp.backends.numpy import _fused
    calls = {}
    for name in _fused.KERNELS:
        def record(*args, _name=name, _kernel=getattr(_fused, name)):
            calls.setdefault(_name, set()).add(tuple(typeof(a) for a in args))
            return _kernel(*args)
        monkeypatch.setattr(_fused, name, record)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5)).astype(dtype)
    for sizes, activation, loss, optimizer, options in (
            ([5, 8, 3], "tanh", "cross_entropy", Adam(l2=1e-3), {}),
            ([5, 8, 1], "relu", "mse", SGD(momentum=0.9), dict(sample_weight=np.linspace(0.5, 1.5, 40)))):
        net = fastmlp.MLP(sizes, activation=activation, loss=loss, seed=0, dtype=dtype)
        calls.clear()
        numpy_path._warm(net.spec, np.dtype(dtype))
        warmed = {name: set(types) for name, types in calls.items()}
        calls.clear()
        y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], 40)] if sizes[-1] > 1 else X.sum(1)
        net.fit(X, y, optimizer=optimizer, lr=1e-3, batch_size=8, backend="numpy", **options)
        assert set(calls) == set(warmed)                                      # every kernel called, and warmed
        assert all(calls[name] <= warmed[name] for name in calls), {n: calls[n] - warmed[n] for n in calls}


def test_the_kernels_call_their_compiled_helpers_without_literals():
    """A helper the kernels call rather than inline (``@jit`` alone, ``_copy_columns``) is compiled once per set of
    argument types, and Numba types a literal ``True`` apart from a literal ``False``: the threaded kernel once passed
    both and compiled the helper twice per dtype (~0.4 s an install, and again in each process that compiles the
    kernel). The helpers' call sites in the kernels pass run-time values only."""
    import ast
    import inspect
    tree = ast.parse(inspect.getsource(kernels))
    called = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)
              for d in f.decorator_list if isinstance(d, ast.Name) and d.id == "jit"}      # bare @jit
    assert called == {"_copy_columns"}
    calls = [c for c in ast.walk(tree) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
             and c.func.id in called]
    assert len(calls) == 2                                          # copied in, and back
    literals = [ast.unparse(c) for c in calls if any(isinstance(a, ast.Constant) for a in c.args)]
    assert not literals, literals


_INSTALL = """
import json, sys, numpy as np, fastmlp
from fastmlp.backends.numba import kernels
sizes, activation = [int(v) for v in sys.argv[1].split(",")], sys.argv[2]
X = np.random.default_rng(0).standard_normal((16, sizes[0]))
fastmlp.MLP(sizes, activation=activation, seed=0).fit(X, X.sum(1), backend="numba")
stats = kernels.kernels_for("sgd")[0].stats
print(json.dumps({"hits": len(stats.cache_hits), "misses": len(stats.cache_misses)}))
"""


@pytest.mark.skipif(NO_JIT, reason="no compiled cache without the JIT")
def test_a_new_shape_in_a_new_process_compiles_nothing_once_installed():
    """In this session's cache (the per-sample SGD kernel may be there already: compiling it once is the install)."""
    def fit(sizes, activation):
        out = subprocess.run([sys.executable, "-c", _INSTALL, sizes, activation], capture_output=True, text=True,
                             check=True)
        return json.loads(out.stdout)

    first = fit("3,40,1", "relu")
    assert first["hits"] + first["misses"] == 1                     # loaded, or compiled and saved
    assert fit("7,9,5,1", "tanh") == {"hits": 1, "misses": 0}        # another shape: loaded from the disk cache


@pytest.mark.parametrize("sizes,activation,loss,out_act", [
    ([2, 2, 1], "identity", "mse", None), ([2, 2, 2], "tanh", "cross_entropy", None),
    ([1, 3, 1], "relu", "log_loss", None), ([3, 2, 1], "sigmoid", "mse", "tanh"), ([2, 3, 2], "tanh", "poisson", None)])
@pytest.mark.parametrize("weighted", [False, True])
def test_generated_source_reads_like_the_reference(sizes, activation, loss, out_act, weighted):
    spec = make_spec(sizes, activation, loss, out_act)
    source = _codegen.generate(spec, "float64", weighted=weighted)
    compile(source, "<generated>", "exec")
    for artefact in (r"range\([01]\)", r"\* 1\b", r"/ 1\b", r"\+ 0\b", r"\b0 \+", r"\.replace\("):
        assert not re.search(artefact, source), f"{artefact!r} in the generated source"
    for l, (w0, b0, b1) in enumerate(spec.offsets):             # where each layer's weights live, said once
        where = f"# W[{l}] = p[{w0}:{b0}] as ({sizes[l]}, {sizes[l + 1]}), b[{l}] = p[{b0}:{b1}]"
        assert source.count(where) == (1 if weighted else 2)
        assert f"# layer {l}: z[{l + 1}] = b[{l}] + a[{l}] @ W[{l}]" in source
    pyflakes = pytest.importorskip("pyflakes.api")
    from pyflakes.reporter import Reporter
    out = io.StringIO()
    assert pyflakes.check(source, "<generated>", Reporter(out, out)) == 0, out.getvalue()


def test_generated_files_are_named_by_shape_dtype_and_optimiser(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTMLP_CACHE_DIR", str(tmp_path))
    spec = make_spec([2, 2, 1], "tanh", "mse", None)
    module = numba_path.generated(spec, "float32", weighted=True)
    assert re.fullmatch(r"k_2-2-1_tanh_mse_float32_sgd_weighted_[0-9a-f]{8}\.py", os.path.basename(module.__file__))

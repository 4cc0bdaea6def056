"""Shared fixtures and helpers: the contract's bounds as named constants, and the one fixture that
parametrises the equivalence suite over the fast paths (later paths join by being added to FAST_PATHS)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from fastmlp import backends, optim

# The contract's agreement bounds, max|p_comp - p_ref| / max|p_ref|, from their one home (backends.BOUNDS).
BOUND_F64_ONE_EPOCH = backends.BOUNDS["float64"]
BOUND_F64_MANY_EPOCHS = backends.BOUNDS["float64_20_epochs"]      # after 20 epochs
BOUND_F32_ONE_EPOCH = backends.BOUNDS["float32"]   # float32 path vs the float64 reference from the same rounded params

FAST_PATHS = ["numba", "numpy"]

settings.register_profile("ci", max_examples=12, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=12, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# --- the fixed kernels compiled on the second core while the first runs the tests --------------------------------
# On a cold kernel cache, about two minutes of the suite is Numba compiling the fixed kernels (docs/performance.md,
# "First fit of a new shape"), one after another in this process. warm_kernels.py (what `fastmlp compile` does,
# which a user runs once per install, then the equivalence suite's tiny generated kernels) starts beside the tests,
# at a lower priority, and fills the same disk cache, so that most kernels are loaded, not compiled, when the tests
# reach them; one the tests reach first is compiled here as it would be anyway. Tests that measure time wait for it
# (the ``quiet_machine`` fixture).
_PRECOMPILE = []


def script_env(*also) -> dict:
    """The environment for a Python script a test starts by its path (``python tests/x.py``): the fastmlp these tests
    import first on its ``PYTHONPATH``, then ``also``. Such a script has its own folder first on ``sys.path``, not the
    current one: from a clone with the package installed (CI), it would import the installed copy while ``python -m
    pytest`` imports the source tree, the same code under another path, which the kernel cache keys apart, so the
    script would compile every kernel it uses again (test_interrupt.py's children: the file 50.6 s in CI's venv,
    23.9 s with this)."""
    import fastmlp
    path = [str(Path(fastmlp.__file__).parents[1]), *also, os.environ.get("PYTHONPATH")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, path))}


def pytest_sessionstart(session):
    from numba.core import config
    if not config.DISABLE_JIT:
        here = Path(__file__).resolve().parent
        lower = (lambda: os.nice(10)) if hasattr(os, "nice") else None     # the tests' own work comes first
        env = script_env(str(here))
        _PRECOMPILE.append(subprocess.Popen([sys.executable, str(here / "warm_kernels.py")], env=env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=lower))


def pytest_sessionfinish(session):
    for process in _PRECOMPILE:
        if process.poll() is None:
            process.terminate()
        process.wait()


@pytest.fixture
def quiet_machine():
    """No background compile running (for the tests that measure how long something takes)."""
    for process in _PRECOMPILE:
        process.wait()


@pytest.fixture(params=FAST_PATHS, scope="session")
def comp(request):
    """The name of a fast path under test; skips where it cannot run here."""
    if not backends.available(request.param):
        pytest.skip(f"backend {request.param!r} is not available")
    return request.param


@pytest.fixture(scope="session")
def dask_client():
    """A dask.distributed client of a local cluster of two worker processes (one thread each), shared by the
    tests of dask-ml's wrappers and of ``fastmlp.distributed``; skips without the ``distributed`` extra."""
    distributed = pytest.importorskip("distributed", reason="needs the distributed extra: pip install "
                                                            "'fastmlp[distributed]'")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def run_path(backend, spec, params, X, Y, orders, lr, batch_size, opt=None, sample_weight=None):
    """Train one path for ``len(orders)`` epochs from a copy of ``params``: ``(params, [EpochResult])``.

    ``opt`` (an ``optim.OptimizerState``) is updated in place, as a fit would."""
    path = backends.get(backend)
    p = params.copy()
    workspace = path.prepare(spec, p.dtype, min(batch_size, X.shape[0]))
    results = [path.train_epoch(spec, p, X, Y, order, lr, batch_size, workspace, opt, sample_weight=sample_weight)
               for order in orders]
    return p, results


def optimizer(rule, momentum=0.9, weight_decay=0.0):
    """The optimiser object of the update rule ``rule`` ("sgd", "momentum", "nesterov", "adam"), PyTorch's
    defaults otherwise."""
    return optim.from_rule(rule, [momentum, 0.9, 0.999, 1e-8, weight_decay])


def rel_diff(comp, ref) -> float:
    """The contract's measure: max abs difference over max abs of the reference."""
    comp = np.asarray(comp, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    scale = np.max(np.abs(ref))
    return float(np.max(np.abs(comp - ref)) / (scale if scale > 0 else 1.0))


def make_data(spec, n, rng, dtype=np.float64):
    """Inputs in [-1, 1] and targets that each loss accepts, ``Y`` already as the paths see it (n, nL)."""
    X = rng.uniform(-1.0, 1.0, size=(n, spec.n_inputs)).astype(dtype)
    K = spec.n_outputs
    if spec.loss == "mse":
        Y = rng.uniform(-1.0, 1.0, size=(n, K))
    elif spec.loss == "log_loss":
        Y = rng.integers(0, 2, size=(n, K)).astype(np.float64)
    elif spec.loss == "poisson":
        Y = rng.poisson(1.0, size=(n, K)).astype(np.float64)      # counts, zeros among them
    else:
        Y = np.eye(K)[rng.integers(0, K, size=n)]
    return X, Y.astype(dtype)


def describe_diff(spec, comp, ref) -> str:
    """Which layer and which parameter differ most: for assertion messages."""
    comp = np.asarray(comp, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    q = int(np.argmax(np.abs(comp - ref)))
    return f"largest difference at {spec.locate(q)}: comp {comp[q]!r} vs ref {ref[q]!r} (params[{q}])"

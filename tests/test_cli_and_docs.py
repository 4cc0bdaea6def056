"""The demo, the README's example, and the Numba kernel cache as a user meets them."""
import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fastmlp
from fastmlp import backends
from fastmlp.cli import EXAMPLE_NAMES, main

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_every_path_and_they_agree():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["demo", "--rows", "200", "--epochs", "3"])
    text = out.getvalue()
    assert code == 0
    for name in EXAMPLE_NAMES:
        assert f"dL/d{name}" in text
    for path in backends.BACKENDS:
        assert re.search(rf"^{path}\s+\d", text, re.M), path


def test_readme_example_prints_what_it_says():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    expected = [line[2:] for line in block.splitlines() if line.startswith("# ")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "README.md", "exec"), {})
    printed = out.getvalue().splitlines()
    assert printed[0] == expected[0]
    # the second line is followed by a remark in parentheses: compare the numbers only
    assert printed[1] == expected[1].split("   (")[0]


def test_readme_top_has_the_two_commands():
    top = (ROOT / "README.md").read_text().split("```bash\n")[1].split("```")[0].strip().splitlines()
    assert len(top) == 2
    assert "fastmlp demo" in top[0] and "pytest" in top[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest --benchmark-disable" in top[1] and "python -m pytest --benchmark-disable" in ci


_PROBE = """
import json, time
t0 = time.perf_counter()
import fastmlp
from fastmlp.backends import numba as numba_path
X, y = fastmlp.datasets.placement(1000, seed=0)
net = fastmlp.MLP([2, 2, 1], activation="identity", seed=0)
net.fit(X, y, epochs=1, backend="numba")
mod = numba_path.generated(net.spec, net.dtype)
stats = mod.epoch_per_sample.stats
print(json.dumps({"seconds": time.perf_counter() - t0, "hits": len(stats.cache_hits),
                  "misses": len(stats.cache_misses), "dir": str(numba_path.cache_dir())}))
"""


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="no compiled cache without the JIT")
def test_second_process_loads_kernels_from_the_cache(tmp_path):
    env = dict(os.environ, FASTMLP_CACHE_DIR=str(tmp_path))
    runs = [json.loads(subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                                      check=True).stdout) for _ in range(2)]
    assert runs[0]["misses"] == 1 and runs[0]["hits"] == 0       # cold: compiled and saved
    assert runs[1]["misses"] == 0 and runs[1]["hits"] == 1       # warm: loaded, nothing compiled
    assert runs[0]["dir"].startswith(str(tmp_path))


_AFTER_COMPILE = """
import json, warnings
import numpy as np, fastmlp
from fastmlp.backends.numba import kernels
from fastmlp.backends.numpy import _fused
X = np.random.default_rng(0).standard_normal((12, 5)).astype(np.float32)
warnings.simplefilter("ignore")
for options in (dict(), dict(batch_size=3), dict(threads=2)):
    fastmlp.MLP([5, 17, 9, 1], activation="tanh", seed=0, dtype="float32").fit(X, X.sum(1), backend="numba",
                                                                             **options)
fastmlp.MLP([5, 17, 2], loss="cross_entropy", seed=0, dtype="float32").fit(X, np.eye(2)[[0, 1] * 6], backend="numpy",
                                                                          batch_size=3, optimizer="adam")
run = kernels.kernels_for("sgd")
dispatchers = [run.per_sample, run.batch, run.per_sample_threaded, _fused.bias_act, _fused.output_layer,
               _fused.opt_step]
print(json.dumps([len(d.stats.cache_misses) for d in dispatchers]))
"""


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="nothing is compiled")
def test_fastmlp_compile_leaves_nothing_for_a_later_fit_to_compile():
    """``fastmlp compile`` (here two processes, plain SGD, float32, which the suite's own background compile reaches
    after every float64 kernel; in this session's cache) reports each kernel, and afterwards a fresh process fits
    new shapes on every path and kind without compiling any of them."""
    out = subprocess.run([sys.executable, "-m", "fastmlp", "compile", "--dtype", "float32", "--optimizer", "sgd",
                          "--jobs", "2"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-1].startswith("4 kernels ready in ")
    kinds = sorted(re.sub(r"\s+", " ", line).rsplit(" float32 ", 1)[0] for line in lines[:-1])
    assert kinds == ["Numba path, batch, sgd", "Numba path, per-sample, sgd", "Numba path, threaded, sgd",
                     "numpy path, fused kernels"], lines
    assert all(re.search(r" float32 +(compiled|loaded) +\d+\.\d\d s$", line) for line in lines[:-1]), lines
    probe = subprocess.run([sys.executable, "-c", _AFTER_COMPILE], capture_output=True, text=True, timeout=300,
                           cwd=ROOT)
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout) == [0] * 6                          # every kernel loaded, none compiled
    bad = subprocess.run([sys.executable, "-m", "fastmlp", "compile", "--jobs", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "jobs must be >= 1, got 0" in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "fastmlp", "compile", "--part", "2/2"], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "--part must be K/N with 0 < K < N" in bad.stderr and "'2/2'" in bad.stderr


def test_compile_helpers_run_this_fastmlp_whatever_the_current_folder_holds(tmp_path):
    """``fastmlp compile --jobs N`` starts its helper processes with ``_precompile.command``: a folder named
    ``fastmlp`` where the user stands must not be what they import (it would fill another cache, or fail)."""
    from fastmlp import _precompile
    (tmp_path / "fastmlp").mkdir()
    (tmp_path / "fastmlp" / "__init__.py").write_text("raise ImportError('the wrong fastmlp')\n")
    out = subprocess.run(_precompile.command("--version"), capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == f"fastmlp {fastmlp.__version__}", out.stderr
    naive = subprocess.run([sys.executable, "-m", "fastmlp", "--version"], capture_output=True, text=True,
                           cwd=tmp_path)
    assert "the wrong fastmlp" in naive.stderr                          # what the helpers would have met


def test_cache_folder_changes_with_the_version(monkeypatch, tmp_path):
    from fastmlp.backends import numba as numba_path
    monkeypatch.setenv("FASTMLP_CACHE_DIR", str(tmp_path))
    now = numba_path.cache_dir()
    assert f"kernels-{fastmlp.__version__}-" in now.name
    monkeypatch.setattr(numba_path, "__version__", "99.0")
    assert numba_path.cache_dir() != now and "kernels-99.0-" in numba_path.cache_dir().name

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


def test_cache_folder_changes_with_the_version(monkeypatch, tmp_path):
    from fastmlp.backends import numba as numba_path
    monkeypatch.setenv("FASTMLP_CACHE_DIR", str(tmp_path))
    now = numba_path.cache_dir()
    assert f"kernels-{fastmlp.__version__}-" in now.name
    monkeypatch.setattr(numba_path, "__version__", "99.0")
    assert numba_path.cache_dir() != now and "kernels-99.0-" in numba_path.cache_dir().name

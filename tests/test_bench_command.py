"""``fastmlp bench`` as a user runs it: a quick report, its files, and a non-zero exit on a mismatch."""
import contextlib
import io
import json

from fastmlp.benchmarking import report
from fastmlp.cli import main


def run_quick(tmp_path, *extra):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["bench", "--quick", "--workloads", "W1", "--dtype", "float64", "--rounds", "2",
                     "--out", str(tmp_path), *extra])
    return code, out.getvalue()


def test_quick_report_writes_json_and_markdown(tmp_path):
    code, text = run_quick(tmp_path, "--no-sweep")
    assert code == 0
    data = json.loads((tmp_path / "bench.json").read_text())
    results = data["workloads"]["W1 float64"]["results"]
    assert {"fastmlp-numba", "fastmlp-reference"} <= set(results)
    assert all(len(r["rates"]) == 2 and min(r["rates"]) > 0 for r in results.values())
    assert data["ceilings"]["matmul_gflops_float64"] > 0 and data["ceilings"]["memory_gbs"] > 0
    md = (tmp_path / "bench.md").read_text()
    assert "| W1 float64 | fastmlp-numba |" in md
    assert "machine ceilings" in text and "fastmlp-numba" in text


def test_a_contender_that_disagrees_fails_the_run(tmp_path, monkeypatch):
    monkeypatch.setitem(report.BOUNDS, "float64", -1.0)     # nothing can meet a negative bound
    code, text = run_quick(tmp_path, "--no-sweep")
    assert code == 1 and "differs from the reference" in text
    assert not (tmp_path / "bench.json").exists()


def test_unknown_workload_is_named(tmp_path, capsys):
    assert main(["bench", "--workloads", "W9", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastmlp: error: --workloads: unknown workload 'W9'") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()

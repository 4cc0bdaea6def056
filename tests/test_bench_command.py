"""``fastmlp bench`` as a user runs it: a quick report, its files, and a non-zero exit on a mismatch."""
import contextlib
import io
import json
import os
import warnings

from fastmlp.benchmarking import report
from fastmlp.cli import main


def run_quick(tmp_path, *extra):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["bench", "--quick", "--workloads", "W1", "--dtype", "float64", "--rounds", "2",
                     "--out", str(tmp_path), *extra])
    return code, out.getvalue()


def test_quick_report_writes_json_and_markdown(tmp_path, monkeypatch):
    # fewer rows than a quick run's 20,000 (scikit-learn's per-sample epochs are most of its time): the files'
    # contents are checked here, not the speeds; CI runs `fastmlp bench --quick` itself as a user would
    monkeypatch.setitem(report.QUICK_ROWS, "W1", 4_000)
    monkeypatch.setitem(report.QUICK_REFERENCE_ROWS, "W1", 500)
    code, text = run_quick(tmp_path, "--no-sweep")
    assert code == 0
    data = json.loads((tmp_path / "bench.json").read_text())
    results = data["workloads"]["W1 float64"]["results"]
    assert {"fastmlp-numba", "fastmlp-reference"} <= set(results)
    assert all(len(r["rates"]) == 2 and min(r["rates"]) > 0 for r in results.values())
    # fastmlp's rows time MLP.fit, and beside it the kernel alone in the same rounds
    assert len(results["fastmlp-numba"]["kernel_rates"]) == 2 and "kernel_rates" not in results.get("sklearn", {})
    # a quick run measures no ceiling it would report wrongly
    assert data["ceilings"] is None and "not measured in a quick run" in text
    md = (tmp_path / "bench.md").read_text()
    assert "| W1 float64 | fastmlp-numba |" in md and "MLP.fit" in md
    assert "fastmlp-numba" in text and "fit cost" in text


def test_fit_is_what_is_timed_and_the_kernel_beside_it(monkeypatch):
    from fastmlp.benchmarking.contenders import WORKLOADS, FastmlpRunner, make_problem
    calls = []
    net, X, Y = make_problem(WORKLOADS["W1"], "float64", n=50)
    runner = FastmlpRunner("numba", WORKLOADS["W1"], net, X, Y)
    monkeypatch.setattr(type(runner.net), "fit", lambda self, *a, **k: calls.append(k))
    runner.reset()
    runner.run()
    assert calls and calls[0]["shuffle"] is False and calls[0]["backend"] == "numba"
    monkeypatch.undo()
    runner.reset()
    runner.run()
    runner.run_kernel()                       # the same epoch, from the same start, through the path alone
    assert runner.params().tobytes() == runner.p.tobytes()


def test_summary_rows_give_the_fit_cost_over_the_kernel():
    entry = {"dtype": "float64", "workload": {"flops_per_sample": 10},
             "results": {"fastmlp-numba": {"rates": [90.0, 100.0, 80.0], "kernel_rates": [99.0, 110.0, 100.0],
                                           "first_call": 0.1},
                         "sklearn": {"rates": [10.0, 20.0, 30.0], "first_call": 0.2}}}
    rows = {r["name"]: r for r in report.summarise(entry, None)}
    numba = rows["fastmlp-numba"]
    assert numba["median"] == 90.0 and numba["kernel"] == 100.0
    assert abs(numba["overhead"] - 0.1) < 1e-12                # median of 0.1, 0.1, 0.25
    assert numba["vs_peer"] == 4.5 and numba["of_matmul"] is None
    assert rows["sklearn"]["kernel"] is None and rows["sklearn"]["overhead"] is None
    ratios = report.round_ratios(entry)
    assert [(o, p) for o, p, *_ in ratios] == [("fastmlp-numba", "sklearn")]
    assert ratios[0][2:] == (5.0, 80.0 / 30.0, 9.0)          # per round: 9, 5, 2.67


class _Warns:
    """A contender whose every epoch warns, as scikit-learn's does on W4 (its batch-size warning)."""

    def __init__(self, w, net, X, Y):
        self.X, self.n_used = X, X.shape[0]

    def reset(self):
        pass

    def run(self):
        warnings.warn("Got `batch_size` less than 1 or larger than sample size", UserWarning, stacklevel=1)

    def params(self):
        return None


def test_third_party_warnings_are_captured_and_summarised_not_leaked(monkeypatch, recwarn):
    from fastmlp.benchmarking.contenders import WORKLOADS
    monkeypatch.setattr(report, "contenders", lambda **kw: {"sklearn": _Warns})
    res = report.measure(WORKLOADS["W1"], "float64", ["sklearn"], rounds=3, n=10)
    assert not recwarn.list                                  # nothing leaked to the caller
    assert res["sklearn"]["warnings"] == ["UserWarning: Got `batch_size` less than 1 or larger than sample size"]
    full = {"workloads": {"W1 float64": {"results": res}}}
    assert report.warnings_summary(full) == ["sklearn (W1 float64): UserWarning: Got `batch_size` less than 1 or "
                                             "larger than sample size"]


def test_isolate_times_each_contender_in_a_process_of_its_own():
    from fastmlp.benchmarking.contenders import WORKLOADS
    res = report.measure(WORKLOADS["W1"], "float64", ["fastmlp-numba"], rounds=2, n=500, isolate=True)
    assert len(res["fastmlp-numba"]["rates"]) == 2 and len(res["fastmlp-numba"]["kernel_rates"]) == 2
    assert res["fastmlp-numba"]["pid"] != os.getpid()


def test_w5_races_to_the_target_in_processes_of_their_own(tmp_path):
    from fastmlp.benchmarking import accuracy
    result = accuracy.run(budget=0.3, train_rows=3000, held_out_rows=1000, segment_rows=1000,
                          names=["fastmlp per-sample", "sklearn defaults"], runs=2, say=lambda line: None)
    races = {r["name"]: r for r in result["races"]}
    assert set(races) == {"fastmlp per-sample", "sklearn defaults"}
    for r in races.values():
        assert r["pid"] != os.getpid()
        assert len(r["times_to_target"]) == 2 and r["times_to_target"][0] == r["time_to_target"]
        assert len(r["seconds"]) == len(r["mse"]) == len(r["rows"]) >= 1
        assert r["seconds"] == sorted(r["seconds"]) and r["rows"][-1] >= 1000
        assert r["best_mse"] == min(r["mse"])
        # the target time is the first evaluation under the target, or none
        under = [t for t, m in zip(r["seconds"], r["mse"]) if m < accuracy.TARGET]
        assert r["time_to_target"] == (under[0] if under else None)
    files = accuracy.write(result, tmp_path)
    assert {"w5.json", "w5.md"} <= set(files)
    md = (tmp_path / "w5.md").read_text()
    assert "| fastmlp per-sample | SGD, batch 1, lr 0.003" in md and "noise floor 0.01" in md


def test_w5_names_the_path_each_fastmlp_contender_trains_on():
    """The table says which path ran; fit picks it (backend="auto" unless the contender names one), so a change
    of the crossover would make the table's words false without this check."""
    from fastmlp import backends
    from fastmlp.benchmarking import accuracy
    spec = accuracy._Fastmlp({}).net.spec
    named = {"numba": "Numba path", "numpy": "numpy path", "reference": "reference path"}
    for c in (c for c in accuracy.CONTENDERS if c.library == "fastmlp"):
        path = backends.resolve(c.options.get("backend"), spec, c.options["batch_size"], "float32")
        assert c.setting.endswith(named[path]), (c.setting, path)


def test_a_race_to_the_target_ends_at_the_first_evaluation_under_it(monkeypatch):
    from fastmlp.benchmarking import accuracy
    monkeypatch.setattr(accuracy, "TARGET", 0.05)                   # within reach of 20,000 rows
    c = accuracy.CONTENDERS[1]                                      # fastmlp mini-batch (Adam)
    r = accuracy.race(c, budget=10.0, train_rows=20_000, held_out_rows=2000, segment_rows=2000, to_target=True)
    under = [m < accuracy.TARGET for m in r["mse"]]
    assert under[-1] and not any(under[:-1]), r["mse"]               # it stopped there, not before, not after
    assert r["time_to_target"] == r["seconds"][-1]


def test_w5_spread_and_ratios_count_a_run_that_missed_the_target_as_slowest():
    from fastmlp.benchmarking import accuracy
    assert accuracy.spread([2.0, None, 2.4]) == (2.4, 2.0, None)
    assert accuracy.spread([1.0, 2.0]) == (1.5, 1.0, 2.0) and accuracy.spread([None]) is None
    races = [{"name": "fastmlp a", "times_to_target": [1.0, 1.2, 0.9]},
             {"name": "peer b", "times_to_target": [2.0, None, 2.7]},
             {"name": "peer c", "times_to_target": [3.0, None, 1.8]}]
    ratios = accuracy.ratios_to_best_peer({"races": races})
    assert ratios["fastmlp a"] == [2.0, 2.0]                        # round 2: no peer reached it
    assert ratios["peer b"] == [1.5, 1.8 / 2.7] and ratios["peer c"] == [2.0 / 3.0, 1.5]


def test_unknown_workload_is_named(tmp_path, capsys):
    assert main(["bench", "--workloads", "W9", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastmlp: error: --workloads: unknown workload 'W9'") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()

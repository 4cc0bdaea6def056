"""W5, time to a good model: the wall time each contender takes to bring a held-out loss under a target.

Samples/s (``report.py``) says how fast an epoch runs, not how soon a user has a model worth keeping. W5 asks
that: a teacher data set (``datasets.teacher``: ``[16, 64, 64, 1]``, tanh, noise 0.1, so the best possible
held-out mse is the noise floor 0.01), 10^6 training rows and 10^5 held-out rows after them, float32, and a
student of the teacher's shape. Each contender trains for at most ``BUDGET`` seconds of its own training time,
in a fresh process of its own (so compile and start-up costs are its own, and no library's thread pool runs
beside another's). Every ``SEGMENT_ROWS`` rows the clock stops and the held-out mse is computed; the result is
the training time until it first falls below ``TARGET`` (1.25x the noise floor) and the best mse within the
budget.

Every contender sees the same rows in the same order: each epoch, one permutation of the training rows (drawn
from the epoch's number; its cost is on each contender's clock), trained a segment at a time without any
shuffle of its own. What each contender runs (its settings are in ``CONTENDERS``):

* fastmlp's per-sample SGD and its best mini-batch setting found on this workload, each on the path ``fit``
  picks for it (``backend="auto"``, as a user gets it: the Numba path for batch 1, the numpy path for batch 200);
* scikit-learn's ``MLPRegressor`` at its defaults (Adam, batch 200, lr 1e-3, alpha 1e-4; tanh for the teacher's
  shape), and tuned (its best setting found on this workload), each ``partial_fit`` per segment;
* PyTorch (Adam, mini-batch, eager; its best setting found), where it is installed (it is in no extra);
* JAX (per-sample SGD, each segment one ``lax.scan``), where it is installed (the ``bench`` extra).

The peers start from their own initialisations (what their users get); JAX, which has none, from fastmlp's.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

import numpy as np

from . import in_fresh_process

TEACHER = dict(layer_sizes=(16, 64, 64, 1), activation="tanh", noise=0.1, seed=0)
TRAIN_ROWS, HELD_OUT_ROWS = 1_000_000, 100_000
NOISE_FLOOR = TEACHER["noise"] ** 2
TARGET = 1.25 * NOISE_FLOOR
BUDGET = 60.0
SEGMENT_ROWS = 100_000


@dataclass(frozen=True)
class Contender:
    name: str
    library: str                  # the module it needs
    setting: str                  # what it runs, in words
    options: dict = field(default_factory=dict)


# The tuned settings: the fastest to the target of those tried by benchmarks/w5_settings.py (20-second races).
CONTENDERS = (
    Contender("fastmlp per-sample", "fastmlp", "SGD, batch 1, lr 0.003, Numba path",
              dict(batch_size=1, lr=0.003, optimizer="sgd")),
    Contender("fastmlp mini-batch", "fastmlp", "Adam, batch 200, lr 0.003, numpy path",
              dict(batch_size=200, lr=0.003, optimizer="adam")),
    Contender("sklearn defaults", "sklearn", "MLPRegressor: Adam, batch 200, lr 0.001, alpha 1e-4",
              dict()),
    Contender("sklearn tuned", "sklearn", "MLPRegressor: Adam, batch 200, lr 0.002, alpha 0",
              dict(learning_rate_init=0.002, alpha=0.0)),
    Contender("torch Adam", "torch", "Adam, batch 512, lr 0.005, eager, 2 threads",
              dict(batch_size=512, lr=0.005, threads=2)),
    Contender("jax per-sample", "jax", "SGD, batch 1, lr 0.003, lax.scan per segment",
              dict(lr=0.003)),
)


def make_data(train_rows=TRAIN_ROWS, held_out_rows=HELD_OUT_ROWS):
    """``(X, y, X_val, y_val)``, float32; the held-out rows are the teacher's rows after the training rows."""
    from fastmlp.datasets import teacher
    X, y = teacher(train_rows + held_out_rows, TEACHER["layer_sizes"], TEACHER["activation"],
                   noise=TEACHER["noise"], seed=TEACHER["seed"], dtype="float32")
    y = y.reshape(len(y), -1)
    return X[:train_rows], y[:train_rows], X[train_rows:], y[train_rows:]


# --- the contenders' students -----------------------------------------------------------------------------------

class _Fastmlp:
    def __init__(self, options):
        import fastmlp
        self.net = fastmlp.MLP(list(TEACHER["layer_sizes"]), activation=TEACHER["activation"], dtype="float32",
                               seed=0)
        self.options = options

    def train(self, X, y):
        self.net.fit(X, y, epochs=1, shuffle=False, **self.options)         # the path fit picks, unless named

    def predict(self, X):
        return self.net.predict(X)


class _Sklearn:
    def __init__(self, options):
        from sklearn.neural_network import MLPRegressor
        self.model = MLPRegressor(hidden_layer_sizes=TEACHER["layer_sizes"][1:-1], activation=TEACHER["activation"],
                                  shuffle=False, random_state=0, **options)

    def train(self, X, y):
        self.model.partial_fit(X, y[:, 0])

    def predict(self, X):
        return self.model.predict(X).reshape(len(X), -1)


class _Torch:
    def __init__(self, options):
        import torch
        torch.manual_seed(0)
        torch.set_num_threads(options["threads"])
        sizes, layers = TEACHER["layer_sizes"], []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [torch.nn.Linear(n_in, n_out), torch.nn.Tanh()]
        self.torch, self.model = torch, torch.nn.Sequential(*layers[:-1])
        self.opt = torch.optim.Adam(self.model.parameters(), lr=options["lr"])
        self.loss, self.batch = torch.nn.MSELoss(), options["batch_size"]

    def train(self, X, y):
        Xt, yt = self.torch.from_numpy(X), self.torch.from_numpy(y)
        for a in range(0, len(X), self.batch):
            self.opt.zero_grad(set_to_none=True)
            self.loss(self.model(Xt[a:a + self.batch]), yt[a:a + self.batch]).backward()
            self.opt.step()

    def predict(self, X):
        with self.torch.no_grad():
            return self.model(self.torch.from_numpy(X)).numpy()


class _Jax:
    def __init__(self, options):
        import jax
        import jax.numpy as jnp

        import fastmlp
        net = fastmlp.MLP(list(TEACHER["layer_sizes"]), activation=TEACHER["activation"], dtype="float32", seed=0)
        W, b = net.spec.split(net.params.copy())
        self.params = [(jnp.asarray(Wl), jnp.asarray(bl)) for Wl, bl in zip(W, b)]
        lr = options["lr"]

        def forward(params, x):
            for l, (Wl, bl) in enumerate(params):
                x = x @ Wl + bl
                if l < len(params) - 1:
                    x = jnp.tanh(x)
            return x

        def step(params, xy):
            x, y = xy
            g = jax.grad(lambda p: jnp.mean((forward(p, x) - y) ** 2))(params)
            return jax.tree_util.tree_map(lambda p, gp: p - lr * gp, params, g), None

        self.segment = jax.jit(lambda params, X, Y: jax.lax.scan(step, params, (X, Y))[0])
        self.forward = jax.jit(forward)
        self.jax = jax

    def train(self, X, y):
        self.params = self.segment(self.params, X, y)
        self.jax.block_until_ready(self.params)

    def predict(self, X):
        return np.asarray(self.forward(self.params, X))


STUDENTS = {"fastmlp": _Fastmlp, "sklearn": _Sklearn, "torch": _Torch, "jax": _Jax}


# --- the race ---------------------------------------------------------------------------------------------------

def race(contender: Contender, budget=BUDGET, train_rows=TRAIN_ROWS, held_out_rows=HELD_OUT_ROWS,
         segment_rows=SEGMENT_ROWS, to_target=False) -> dict:
    """One contender's curve: ``{"seconds": [...], "mse": [...], "rows": [...]}`` (training time, held-out mse,
    rows trained), the time to ``TARGET`` (None if not reached) and the best mse within ``budget``; with
    ``to_target``, the race ends at the first evaluation under the target (a repeat, for the time to it only)."""
    X, y, X_val, y_val = make_data(train_rows, held_out_rows)
    t0 = time.perf_counter()
    student = STUDENTS[contender.library](contender.options)
    clock = time.perf_counter() - t0                  # construction (imports done; model set up) is on the clock
    curve = {"seconds": [], "mse": [], "rows": []}          # from the first segment (an unfit model can't predict)
    epoch = rows = 0
    done = False
    while clock < budget or not rows:                     # one segment at least
        t0 = time.perf_counter()
        order = np.random.default_rng([TEACHER["seed"], epoch]).permutation(len(X))
        Xe, ye = X[order], y[order]
        clock += time.perf_counter() - t0
        for a in range(0, len(X), segment_rows):
            t0 = time.perf_counter()
            student.train(Xe[a:a + segment_rows], ye[a:a + segment_rows])
            clock += time.perf_counter() - t0
            rows += len(Xe[a:a + segment_rows])
            curve["seconds"].append(clock)
            curve["mse"].append(_mse(student.predict(X_val), y_val))
            curve["rows"].append(rows)
            done = to_target and curve["mse"][-1] < TARGET
            if clock >= budget or done:
                break
        if done:
            break
        epoch += 1
    reached = next((t for t, m in zip(curve["seconds"], curve["mse"]) if m < TARGET), None)
    finite = [m for m in curve["mse"] if np.isfinite(m)]
    return {"name": contender.name, "setting": contender.setting, "pid": os.getpid(), **curve,
            "time_to_target": reached, "best_mse": min(finite) if finite else None, "epochs": rows / len(X)}


def _number(x) -> str:
    return "diverged" if x is None else f"{x:.5f}"


def _mse(pred, y) -> float:
    return float(np.mean((np.asarray(pred, np.float64).reshape(y.shape) - y) ** 2))


def available(contender: Contender) -> bool:
    import importlib.util
    return importlib.util.find_spec(contender.library) is not None


def run(budget=BUDGET, train_rows=TRAIN_ROWS, held_out_rows=HELD_OUT_ROWS, segment_rows=SEGMENT_ROWS,
        names=None, runs=1, say=print) -> dict:
    """Every installed contender's race, each in a fresh process of its own, one after another; then ``runs - 1``
    more rounds of races to the target only (every contender once a round, each in a fresh process), so that the
    time to the target is known with its spread from process to process. A race's ``times_to_target`` holds one
    time per round (None where it was not reached), the full race's first."""
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    out = {"target": TARGET, "noise_floor": NOISE_FLOOR, "budget": budget, "train_rows": train_rows,
           "held_out_rows": held_out_rows, "segment_rows": segment_rows, "teacher": dict(TEACHER), "runs": runs,
           "races": []}
    contenders = []
    for c in CONTENDERS:
        if names is not None and c.name not in names:
            continue
        if not available(c):
            say(f"W5 {c.name}: {c.library} is not installed")
            continue
        contenders.append(c)
        r = in_fresh_process(race, c, budget, train_rows, held_out_rows, segment_rows)
        r["times_to_target"] = [r["time_to_target"]]
        out["races"].append(r)
        say(f"W5 {c.name:<20} to mse < {TARGET:g}: " + (f"{r['time_to_target']:6.1f} s" if r["time_to_target"]
                                                          else f"not within {budget:g} s")
            + f"; best mse {_number(r['best_mse'])} after {r['epochs']:.1f} epochs ({c.setting})")
    for k in range(1, runs):
        for c, r in zip(contenders, out["races"]):
            again = in_fresh_process(race, c, budget, train_rows, held_out_rows, segment_rows, True)
            r["times_to_target"].append(again["time_to_target"])
        say(f"W5 round {k + 1} of {runs}, to the target only: " + ", ".join(
            f"{r['name']} {_seconds(r['times_to_target'][-1])}" for r in out["races"]))
    return out


def _seconds(t) -> str:
    return "not reached" if t is None else f"{t:.2f} s"


def spread(times) -> tuple:
    """``(median, min, max)`` of the times to the target, a run that missed it counting as slower than any (None
    for the max, and for the median when half the runs missed); None when no run reached it."""
    if not any(t is not None for t in times):
        return None
    ordered = sorted(times, key=lambda t: (t is None, t))
    n = len(ordered)
    middle = ordered[n // 2] if n % 2 else _mean_or_none(ordered[n // 2 - 1], ordered[n // 2])
    return middle, ordered[0], ordered[-1]


def _mean_or_none(a, b):
    return None if a is None or b is None else (a + b) / 2


def ratios_to_best_peer(result) -> dict:
    """For each contender, the per-round ratio ``best peer's time / its time`` (above 1: faster than every peer in
    that round), over the rounds where both reached the target."""
    races = result["races"]
    peers = [r for r in races if not r["name"].startswith("fastmlp")]
    out = {}
    for r in races:
        rounds = []
        for k, t in enumerate(r["times_to_target"]):
            best = [p["times_to_target"][k] for p in peers if p is not r and p["times_to_target"][k] is not None]
            if t is not None and best:
                rounds.append(min(best) / t)
        out[r["name"]] = rounds
    return out


def markdown(result) -> str:
    races, runs = result["races"], result.get("runs", 1)
    ratios = ratios_to_best_peer(result)
    lines = [f"W5: teacher {list(result['teacher']['layer_sizes'])} {result['teacher']['activation']}, noise "
             f"{result['teacher']['noise']} (noise floor {result['noise_floor']:g}), {result['train_rows']:,} "
             f"training rows, {result['held_out_rows']:,} held out, float32; target held-out mse < "
             f"{result['target']:g}; budget {result['budget']:g} s of training time per contender, each in its "
             "own process, compile included; held-out mse every "
             f"{result['segment_rows']:,} rows. Time to target: median (min - max) over {runs} run"
             f"{'s' if runs > 1 else ''}, each in a fresh process; vs best peer: per run, the fastest peer's time "
             "over the contender's, median (min - max); best mse and epochs: the first run's full budget.", "",
             "| contender | setting | time to target | vs best peer | best mse within budget | epochs run |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in races:
        times = r.get("times_to_target", [r["time_to_target"]])
        s = spread(times)
        reached = sum(t is not None for t in times)
        cell = "not reached" if s is None else _seconds(s[0])
        if s is not None and len(times) > 1:
            cell += f" ({s[1]:.2f} - {'not reached' if s[2] is None else f'{s[2]:.2f}'})"
            if reached < len(times):
                cell += f", {reached} of {len(times)} reached"
        rr = ratios[r["name"]]
        vs = "-" if not rr else (f"{np.median(rr):.2f}x" if len(rr) == 1 else
                                 f"{np.median(rr):.2f}x ({min(rr):.2f} - {max(rr):.2f})")
        lines.append(f"| {r['name']} | {r['setting']} | {cell} | {vs} | {_number(r['best_mse'])} | "
                     f"{r['epochs']:.1f} |")
    return "\n".join(lines) + "\n"


def plot(result, path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    colours = {"fastmlp per-sample": "#1f77b4", "fastmlp mini-batch": "#2ca02c", "sklearn defaults": "#ff7f0e",
               "sklearn tuned": "#ffbb78", "torch Adam": "#9467bd", "jax per-sample": "#d62728"}
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for r in result["races"]:
        ax.plot(r["seconds"], r["mse"], "-", marker=".", ms=3, color=colours.get(r["name"]), label=r["name"])
    ax.axhline(result["target"], color="0.3", ls="--", lw=1, label=f"target {result['target']:g}")
    ax.axhline(result["noise_floor"], color="0.6", ls=":", lw=1, label=f"noise floor {result['noise_floor']:g}")
    ax.set_yscale("log")
    ax.set_ylim(result["noise_floor"] * 0.9, None)
    ax.set_xlabel("training time, s (compile included; the held-out evaluations are not counted)")
    ax.set_ylabel("held-out mse (log scale)")
    ax.set_title("W5: time to a good model")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write(result, out_dir) -> list:
    (out_dir / "w5.json").write_text(json.dumps(result, indent=1))
    (out_dir / "w5.md").write_text(markdown(result))
    return ["w5.json", "w5.md"] + (["w5.png"] if plot(result, out_dir / "w5.png") else [])

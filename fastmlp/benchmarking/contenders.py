"""The benchmark workloads and their contenders: fastmlp's paths and the optional peers.

Shared by ``fastmlp bench`` (``report.py``) and the pytest-benchmark suites in ``benchmarks/``.

A contender is a factory ``(workload, net, X, Y) -> Runner`` (``contenders()`` maps names to them), given the
workload, the fastmlp model whose initial parameters every contender starts from, and the data;
``Runner.run()`` trains one epoch from the
workload's initial parameters (reset by ``Runner.reset()``), and ``Runner.params()`` returns the result as a
flat vector in fastmlp's layout, so that every contender's agreement with the reference can be checked
before it is timed. Peers are added only when importable (the ``bench`` extra: JAX, scikit-learn; PyTorch
where it is installed).
"""
from __future__ import annotations

import copy
import hashlib
import importlib.util
import warnings
from dataclasses import dataclass

import numpy as np

import fastmlp
from fastmlp import backends
from fastmlp._memory import aligned_copy
from fastmlp._validation import check_Y
from fastmlp.optim import OptimizerState
from fastmlp.streaming import in_order


@dataclass(frozen=True)
class Workload:
    name: str
    layer_sizes: tuple
    activation: str
    loss: str
    n_samples: int
    batch_size: int = 1
    lr: float = 0.01

    def flops_per_sample(self) -> int:
        """The minimal count: forward 2W + B, input deltas 2W of all but the first layer, update 2W + 2B."""
        sizes = self.layer_sizes
        W = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        W_first = sizes[0] * sizes[1]
        B = sum(sizes[1:])
        return (2 * W + B) + 2 * (W - W_first) + (2 * W + 2 * B)


W1 = Workload("W1", (2, 2, 1), "identity", "mse", 100_000)
W2 = Workload("W2", (16, 64, 64, 1), "relu", "mse", 50_000)
W3 = Workload("W3", (784, 256, 128, 10), "relu", "cross_entropy", 5_000)
W4 = Workload("W4", (784, 256, 128, 10), "relu", "cross_entropy", 60_000, batch_size=128)
# W2 with the smooth activations, so that no activation's speed is hidden by the choice of workloads (issue 21)
W2T = Workload("W2-tanh", (16, 64, 64, 1), "tanh", "mse", 50_000)
W2S = Workload("W2-sigmoid", (16, 64, 64, 1), "sigmoid", "mse", 50_000)
# W3 four times wider: the per-sample loop on every core has most to give here (issue 20)
W3W = Workload("W3-wide", (784, 1024, 1024, 10), "relu", "cross_entropy", 1_000)
WORKLOADS = {w.name: w for w in (W1, W2, W2T, W2S, W3, W3W, W4)}


def make_problem(w: Workload, dtype, n=None, seed=0):
    """``(net, X, Y)``: a seeded model and data of the workload's shape (Y as the paths see it, (n, nL))."""
    n = w.n_samples if n is None else n
    rng = np.random.default_rng(seed)
    net = fastmlp.MLP(list(w.layer_sizes), activation=w.activation, loss=w.loss, dtype=dtype, seed=seed)
    X = rng.standard_normal((n, w.layer_sizes[0])).astype(dtype)
    if w.loss == "cross_entropy":
        y = rng.integers(0, w.layer_sizes[-1], n)
    else:
        # a smooth target so that SGD stays finite: a fixed random linear map of the inputs
        y = np.tanh(X @ rng.standard_normal((w.layer_sizes[0], w.layer_sizes[-1])) / np.sqrt(w.layer_sizes[0]))
    return net, X, check_Y(y, net.spec, net.dtype, n)


class Runner:
    """Base: holds the initial params; subclasses implement ``run`` and ``params``."""

    def __init__(self, w, net, X, Y):
        self.w, self.spec, self.dtype = w, net.spec, net.dtype
        self.start = net.params.copy()
        self.X, self.Y = X, Y

    def reset(self):
        raise NotImplementedError


class FastmlpRunner(Runner):
    """A fastmlp path as users call it: ``run()`` is one epoch of ``MLP.fit`` (no shuffle, as the peers run);
    ``run_kernel()`` is the path's ``train_epoch`` alone on the same rows, so that what ``fit`` adds to the
    kernel (checks, the order, the guard's slices and snapshots) can be measured beside it. ``threads``: the
    per-sample loop's (``fit(threads=...)``); the Numba path's contender runs one thread, whatever ``None`` would
    choose, and ``fastmlp-numba-threads`` one per physical core."""

    def __init__(self, backend, w, net, X, Y, optimizer="sgd", threads=1):
        super().__init__(w, net, X, Y)
        self.backend, self.optimizer = backend, optimizer
        self.threads = threads if backend == "numba" and w.batch_size == 1 else None
        self.net = copy.deepcopy(net)
        self.path = backends.get(backend)
        self.p = aligned_copy(self.start)          # the kernel's own parameters, as a model's are aligned
        self.kernel_opt = OptimizerState(optimizer, self.spec.n_params, self.dtype)
        self.order = in_order(X.shape[0])            # the order fit uses without a shuffle
        self.workspace = self.path.prepare(self.spec, self.dtype, min(w.batch_size, X.shape[0]), self.threads or 1)

    @property
    def opt(self):
        return self.net.optimizer_state

    def reset(self):
        self.net.params[...] = self.start
        self.net.reset_optimizer()
        self.p[...] = self.start
        self.kernel_opt = OptimizerState(self.optimizer, self.spec.n_params, self.dtype)

    def run(self):
        self.net.fit(self.X, self.Y, epochs=1, lr=self.w.lr, batch_size=self.w.batch_size, optimizer=self.optimizer,
                     shuffle=False, backend=self.backend, threads=self.threads)

    def run_kernel(self):
        result = self.path.train_epoch(self.spec, self.p, self.X, self.Y, self.order, self.w.lr,
                                       self.w.batch_size, self.workspace, self.kernel_opt)
        assert result.bad_position == -1
        return result

    def params(self):
        return self.net.params.copy()


class BlasFloorRunner(Runner):
    """The matrix products of mini-batch training and nothing else: the floor a batched path can reach."""

    def __init__(self, w, net, X, Y):
        super().__init__(w, net, X, Y)
        B, sizes = w.batch_size, w.layer_sizes
        self.W = [np.array(Wl) for Wl in net.weights]
        self.A = [np.empty((B, n), self.dtype) for n in sizes]
        self.D = [np.empty((B, n), self.dtype) for n in sizes]
        self.G = [np.empty_like(Wl) for Wl in self.W]

    def reset(self):
        pass

    def run(self):
        B, L = self.w.batch_size, len(self.W)
        A = list(self.A)
        for start in range(0, self.X.shape[0] - B + 1, B):
            A[0] = self.X[start:start + B]            # a view, as the numpy path takes batches in order
            for l in range(L):
                np.matmul(A[l], self.W[l], out=A[l + 1])
            self.D[L][...] = self.A[L]
            for l in range(L - 1, -1, -1):
                np.matmul(A[l].T, self.D[l + 1], out=self.G[l])
                if l > 0:
                    np.matmul(self.D[l + 1], self.W[l].T, out=self.D[l])

    def params(self):
        return None   # not training: nothing to compare


# --- peers ----------------------------------------------------------------------------------------------------

def have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class JaxRunner(Runner):
    """JAX: per-sample or per-batch SGD, the whole epoch as one ``lax.scan`` (or a jitted step per batch)."""

    def __init__(self, w, net, X, Y, mode="scan"):
        super().__init__(w, net, X, Y)
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        self.jax, self.jnp = jax, jnp
        spec, lr, B = self.spec, w.lr, w.batch_size
        n_full = (X.shape[0] // B) * B
        self.Xb = jnp.asarray(X[:n_full].reshape(-1, B, X.shape[1]))
        self.Yb = jnp.asarray(Y[:n_full].reshape(-1, B, Y.shape[1]))
        self.n_used = n_full
        acts = {"identity": lambda z: z, "relu": lambda z: jnp.maximum(z, 0), "tanh": jnp.tanh,
                "sigmoid": jax.nn.sigmoid}
        act = acts[spec.activation]

        def loss(params, x, y):
            a = x
            for l, (Wl, bl) in enumerate(params):
                z = a @ Wl + bl
                a = act(z) if l < len(params) - 1 else z
            if spec.loss == "mse":
                return jnp.mean(jnp.mean((y - a) ** 2, axis=-1))
            return jnp.mean(jax.nn.logsumexp(a, axis=-1) - jnp.sum(y * a, axis=-1))

        grad = jax.value_and_grad(loss)

        def step(params, xy):
            l, g = grad(params, *xy)
            return jax.tree_util.tree_map(lambda p, gp: p - lr * gp, params, g), l

        self.epoch = jax.jit(lambda params, Xb, Yb: jax.lax.scan(step, params, (Xb, Yb)))
        self.step = jax.jit(step)
        self.mode = mode
        self.reset()

    def reset(self):
        W, b = self.spec.split(self.start.copy())
        self.state = [(self.jnp.asarray(Wl), self.jnp.asarray(bl)) for Wl, bl in zip(W, b)]

    def run(self):
        if self.mode == "scan":
            self.state, losses = self.epoch(self.state, self.Xb, self.Yb)
        else:
            for k in range(self.Xb.shape[0]):
                self.state, _ = self.step(self.state, (self.Xb[k], self.Yb[k]))
        self.jax.block_until_ready(self.state)

    def params(self):
        return self.spec.join(*zip(*self.state))


class SklearnRunner(Runner):
    """scikit-learn's MLPRegressor / MLPClassifier: sgd, momentum 0, alpha 0, no shuffle, one epoch.

    Its squared-loss gradient is ``yhat - y`` per sample, ours ``(2/K)(yhat - y)``: for mse its learning rate
    is ours times 2/K (doubled for one output). For cross_entropy the classifier's softmax log loss is ours.
    """

    def __init__(self, w, net, X, Y):
        super().__init__(w, net, X, Y)
        from sklearn.neural_network import MLPClassifier, MLPRegressor
        K = self.spec.n_outputs
        common = dict(hidden_layer_sizes=w.layer_sizes[1:-1], activation={"identity": "identity",
                      "relu": "relu", "tanh": "tanh", "sigmoid": "logistic"}[w.activation], solver="sgd",
                      alpha=0.0, momentum=0.0, batch_size=w.batch_size, shuffle=False, max_iter=1,
                      learning_rate="constant", random_state=0, tol=0.0, n_iter_no_change=10**9)
        if w.loss == "mse":
            self.model = MLPRegressor(learning_rate_init=2 * w.lr / K, **common)
            self.target = Y if K > 1 else Y[:, 0]
        else:
            self.model = MLPClassifier(learning_rate_init=w.lr, **common)
            self.target = Y.argmax(axis=1)
            self.classes = np.arange(K)
        self.reset()

    def reset(self):
        m = self.model
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if hasattr(self, "classes"):
                m.partial_fit(self.X[:1], self.target[:1], classes=self.classes)
            else:
                m.partial_fit(self.X[:1], self.target[:1])
        # overwrite what that first call made; with momentum 0 its optimizer keeps no state that matters
        W, b = self.spec.split(self.start.copy())
        m.coefs_ = [np.array(Wl) for Wl in W]
        m.intercepts_ = [np.array(bl) for bl in b]

    def run(self):
        self.model.partial_fit(self.X, self.target)

    def params(self):
        return self.spec.join(self.model.coefs_, self.model.intercepts_)


class TorchRunner(Runner):
    """PyTorch, where it is installed (it is in no extra): an eager loop of SGD steps, one per batch."""

    def __init__(self, w, net, X, Y):
        super().__init__(w, net, X, Y)
        import torch
        self.torch = torch
        torch.set_num_threads(2)
        dt = torch.float64 if self.dtype == np.float64 else torch.float32
        B = w.batch_size
        n_full = (X.shape[0] // B) * B
        self.n_used = n_full
        self.Xb = torch.from_numpy(np.ascontiguousarray(X[:n_full])).to(dt).split(B)
        Yb = torch.from_numpy(np.ascontiguousarray(Y[:n_full])).to(dt)
        self.Yb = (Yb.argmax(dim=1) if w.loss == "cross_entropy" else Yb).split(B)
        layers = []
        for n_in, n_out in zip(w.layer_sizes[:-1], w.layer_sizes[1:]):
            layers += [torch.nn.Linear(n_in, n_out, dtype=dt), torch.nn.ReLU()]
        self.model = torch.nn.Sequential(*layers[:-1])
        self.loss = torch.nn.CrossEntropyLoss() if w.loss == "cross_entropy" else torch.nn.MSELoss()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=w.lr)
        self.reset()

    def reset(self):
        W, b = self.spec.split(self.start.copy())
        with self.torch.no_grad():
            linears = [m for m in self.model if isinstance(m, self.torch.nn.Linear)]
            for lin, Wl, bl in zip(linears, W, b):
                lin.weight.copy_(self.torch.from_numpy(np.ascontiguousarray(Wl.T)))
                lin.bias.copy_(self.torch.from_numpy(np.array(bl)))

    def run(self):
        for x, y in zip(self.Xb, self.Yb):
            self.opt.zero_grad(set_to_none=False)
            self.loss(self.model(x), y).backward()
            self.opt.step()

    def params(self):
        linears = [m for m in self.model if isinstance(m, self.torch.nn.Linear)]
        return self.spec.join([lin.weight.detach().numpy().T for lin in linears],
                              [lin.bias.detach().numpy() for lin in linears])


def contenders(batched=False, reference=False):
    """name -> factory(workload, net, X, Y), fastmlp's paths first, then the peers installed here."""
    out = {}
    for name in ("numba", "numpy") + (("reference",) if reference else ()):
        if backends.available(name):
            out[f"fastmlp-{name}"] = (lambda b: lambda w, net, X, Y: FastmlpRunner(b, w, net, X, Y))(name)
    if backends.available("numba") and not batched:
        cores = backends.get("numba").physical_cores()
        if cores > 1:
            out["fastmlp-numba-threads"] = lambda w, net, X, Y: FastmlpRunner("numba", w, net, X, Y, threads=cores)
    if have("jax"):
        out["jax-scan"] = lambda w, net, X, Y: JaxRunner(w, net, X, Y, "scan")
        if batched:
            out["jax-step"] = lambda w, net, X, Y: JaxRunner(w, net, X, Y, "step")
    if have("sklearn"):
        out["sklearn"] = SklearnRunner
    if batched and have("torch"):
        out["torch"] = TorchRunner
    if batched:
        out["blas-floor"] = BlasFloorRunner
    return out


_REFERENCE_CACHE = {}


def reference_params(w, net, X, Y):
    """The reference path's parameters after one epoch on these rows (the yardstick for agreement).

    Pure Python is slow on W3/W4's 235,000 weights, and every contender is checked on the same rows: the
    result is kept, keyed by the workload and a digest of the start and the data.
    """
    key = (w, hashlib.sha256(net.params.tobytes() + X.tobytes() + Y.tobytes()).hexdigest())
    if key not in _REFERENCE_CACHE:
        r = FastmlpRunner("reference", w, net, X.astype(np.float64), Y.astype(np.float64))
        r.p = r.start.astype(np.float64)
        r.run_kernel()
        _REFERENCE_CACHE[key] = r.p
    return _REFERENCE_CACHE[key]


def agreement(factory, w, net, X, Y, n_check):
    """max|params - reference| / max|reference| after one epoch on the first ``n_check`` rows, or None for a
    contender that does not train (the BLAS floor)."""
    runner = factory(w, net, X[:n_check], Y[:n_check])
    runner.reset()
    runner.run()
    got = runner.params()
    if got is None:
        return None
    ref = reference_params(w, net, X[:runner_rows(runner, n_check)], Y[:runner_rows(runner, n_check)])
    return float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))


def runner_rows(runner, n):
    """Rows a contender actually trains on (JAX's scan drops a last partial batch)."""
    return getattr(runner, "n_used", n)

"""Momentum, Nesterov, Adam and weight decay: every path against the reference, the reference against
PyTorch (where installed), and the state carried from one fit to the next."""
import numpy as np
import pytest

import fastmlp
from fastmlp._validation import make_spec
from fastmlp.optim import SGD, Adam, OptimizerState
from fastmlp.optim import from_rule as optim_from

from conftest import BOUND_F32_ONE_EPOCH, BOUND_F64_MANY_EPOCHS, describe_diff, make_data, optimizer, rel_diff, run_path

RULES = [("sgd", 0.0), ("sgd", 0.01), ("momentum", 0.0), ("momentum", 0.01), ("nesterov", 0.01), ("adam", 0.0),
         ("adam", 0.01)]
# "tiny": the Numba path's scalar style under plain SGD, its loop style under every other rule (style_for)
SHAPES = {"tiny": [2, 2, 2], "loop": [5, 9, 7, 3]}


def run(backend, spec, params, X, Y, orders, lr, batch_size, opt):
    p, results = run_path(backend, spec, params, X, Y, orders, lr, batch_size, opt)
    assert all(result.bad_position == -1 for result in results)
    return p


@pytest.mark.parametrize("style", SHAPES)
@pytest.mark.parametrize("batch_size", [1, 4])
@pytest.mark.parametrize("rule,weight_decay", RULES)
def test_paths_agree_with_the_reference(comp, style, batch_size, rule, weight_decay):
    spec = make_spec(SHAPES[style], "tanh", "mse", None)
    rng = np.random.default_rng(3)
    params = rng.uniform(-0.5, 0.5, spec.n_params)
    X, Y = make_data(spec, 13, rng)
    orders = [rng.permutation(13) for _ in range(3)]
    lr = 0.01 if rule == "adam" else 0.05

    def state():
        return OptimizerState(optimizer(rule, 0.8, weight_decay), spec.n_params, np.float64)

    ref_opt, comp_opt = state(), state()
    ref = run("reference", spec, params, X, Y, orders, lr, batch_size, ref_opt)
    got = run(comp, spec, params, X, Y, orders, lr, batch_size, comp_opt)
    d = rel_diff(got, ref)
    assert d <= BOUND_F64_MANY_EPOCHS, f"{comp} {rule} wd={weight_decay}: {d:.3g}; {describe_diff(spec, got, ref)}"
    assert comp_opt.t[0] == ref_opt.t[0] == 3 * -(-13 // batch_size)
    if ref_opt.m.size:
        assert rel_diff(comp_opt.m, ref_opt.m) <= BOUND_F64_MANY_EPOCHS
    if ref_opt.v.size:
        assert rel_diff(comp_opt.v, ref_opt.v) <= BOUND_F64_MANY_EPOCHS
    assert rel_diff(ref, params) > 1e-6          # training moved the parameters: the check is not vacuous


def _with_l2(rule, l2, weight_decay=0.0):
    return optim_from(rule, [0.8, 0.9, 0.999, 1e-8, weight_decay, l2])


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("batch_size", [1, 4])
@pytest.mark.parametrize("rule", ["sgd", "momentum", "nesterov", "adam"])
def test_l2_over_the_batch_weight_agrees_with_the_reference(comp, rule, batch_size, weighted):
    """scikit-learn's ``alpha`` (``optim``'s ``l2``): ``l2 / B`` per batch, ``B`` its weight; 13 rows, so the last
    batch of four is one row; with weights, of any batch size (one included), and beside a ``weight_decay``."""
    spec = make_spec(SHAPES["loop"], "tanh", "mse", None)
    rng = np.random.default_rng(5)
    params = rng.uniform(-0.5, 0.5, spec.n_params)
    X, Y = make_data(spec, 13, rng)
    sw = rng.uniform(0.0, 2.0, 13) if weighted else None
    orders = [rng.permutation(13) for _ in range(2)]
    lr = 0.01 if rule == "adam" else 0.05

    def trained(backend):
        opt = OptimizerState(_with_l2(rule, 0.3, weight_decay=0.01), spec.n_params, np.float64)
        p, _ = run_path(backend, spec, params, X, Y, orders, lr, batch_size, opt, sample_weight=sw)
        return p

    ref, got = trained("reference"), trained(comp)
    assert rel_diff(got, ref) <= BOUND_F64_MANY_EPOCHS, describe_diff(spec, got, ref)
    no_l2 = run_path("reference", spec, params, X, Y, orders, lr, batch_size,
                     OptimizerState(_with_l2(rule, 0.0, weight_decay=0.01), spec.n_params, np.float64),
                     sample_weight=sw)[0]
    assert rel_diff(ref, no_l2) > 1e-6                  # the penalty moved the parameters: not vacuous


@pytest.mark.parametrize("weighted", [False, True])
def test_the_reference_applies_l2_over_the_batch_weight(weighted):
    """One batch of plain SGD by hand: ``W <- W - lr (mean gradient + l2 / B * W)``, biases without the penalty, for
    a batch of 5 rows whose weight is 5 without sample weights."""
    spec = make_spec([3, 4, 2], "tanh", "mse", None)
    rng = np.random.default_rng(6)
    params = rng.uniform(-0.5, 0.5, spec.n_params)
    X, Y = make_data(spec, 5, rng)
    sw = rng.uniform(0.5, 3.0, 5) if weighted else None
    B = float(sw.sum()) if weighted else 5.0
    from fastmlp.backends.numpy import arrays
    dW, db, _ = arrays.gradients(spec, params, X, Y, sample_weight=sw)
    W, b = spec.split(params.copy())
    expected = spec.join([Wl - 0.1 * (g + 0.7 / B * Wl) for Wl, g in zip(W, dW)],
                         [bl - 0.1 * g for bl, g in zip(b, db)])
    got, _ = run_path("reference", spec, params, X, Y, [np.arange(5)], 0.1, 5,
                      OptimizerState(_with_l2("sgd", 0.7), spec.n_params, np.float64), sample_weight=sw)
    assert rel_diff(got, expected) <= 1e-14


def test_l2_is_kept_in_the_units_of_the_weights_a_fit_was_given():
    """``MLP.fit`` rescales sample weights by a power of two; ``l2`` follows, in the weights' units: weights and ``l2``
    both 1024 times larger train the same bits (``l2 / B`` unchanged); weights alone 1024 times larger do not."""
    X, y = fastmlp.datasets.teacher(64, [3, 5, 1], seed=0, dtype="float64")
    sw = np.random.default_rng(0).uniform(0.1, 1.0, 64)
    nets = []
    for scale, l2 in ((1.0, 2.0), (1024.0, 2048.0), (1024.0, 2.0)):
        net = fastmlp.MLP([3, 5, 1], seed=0)
        net.fit(X, y, sample_weight=sw * scale, batch_size=16, optimizer=SGD(l2=l2), epochs=2, seed=1)
        nets.append(net)
    assert nets[0].params.tobytes() == nets[1].params.tobytes() != nets[2].params.tobytes()
    plain = fastmlp.MLP([3, 5, 1], seed=0)
    plain.fit(X, y, sample_weight=sw, batch_size=16, epochs=2, seed=1)
    assert rel_diff(nets[0].params, plain.params) > 1e-6


@pytest.mark.parametrize("rule", ["momentum", "nesterov", "adam"])
def test_float32(comp, rule):
    spec = make_spec(SHAPES["loop"], "relu", "cross_entropy", None)
    rng = np.random.default_rng(4)
    params = rng.uniform(-0.5, 0.5, spec.n_params).astype(np.float32)
    X, Y = make_data(spec, 20, rng, np.float32)
    ref = run("reference", spec, params.astype(np.float64), X.astype(np.float64), Y.astype(np.float64),
              [np.arange(20)], 0.01, 1, OptimizerState(optimizer(rule, weight_decay=0.01), spec.n_params, np.float64))
    got = run(comp, spec, params, X, Y, [np.arange(20)], 0.01, 1,
              OptimizerState(optimizer(rule, weight_decay=0.01), spec.n_params, np.float32))
    assert got.dtype == np.float32 and rel_diff(got, ref) <= BOUND_F32_ONE_EPOCH


@pytest.mark.parametrize("rule,weight_decay", [("momentum", 0.0), ("nesterov", 0.05), ("adam", 0.0),
                                               ("adam", 0.05), ("sgd", 0.05)])
@pytest.mark.parametrize("batch_size", [1, 5])
def test_reference_equals_pytorch(rule, weight_decay, batch_size):
    torch = pytest.importorskip("torch")
    spec = make_spec([3, 6, 2], "tanh", "mse", None)
    rng = np.random.default_rng(5)
    params = rng.uniform(-0.5, 0.5, spec.n_params)
    X, Y = make_data(spec, 12, rng)
    orders = [rng.permutation(12) for _ in range(3)]
    lr = 0.02
    ours = run("reference", spec, params, X, Y, orders, lr, batch_size,
               OptimizerState(optimizer(rule, 0.7, weight_decay), spec.n_params, np.float64))

    W, b = spec.split(params.copy())
    Wt = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in W]
    bt = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in b]
    groups = [{"params": Wt, "weight_decay": weight_decay}, {"params": bt, "weight_decay": 0.0}]
    if rule == "adam":
        optim = torch.optim.Adam(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    else:
        optim = torch.optim.SGD(groups, lr=lr, momentum=0.0 if rule == "sgd" else 0.7,
                                nesterov=rule == "nesterov")
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    for order in orders:
        for start in range(0, 12, batch_size):
            idx = torch.tensor(order[start:start + batch_size])
            a = Xt[idx]
            for l in range(2):
                z = a @ Wt[l] + bt[l]
                a = torch.tanh(z) if l == 0 else z
            loss = ((Yt[idx] - a) ** 2).mean()          # mean over samples and the K outputs: ours
            optim.zero_grad()
            loss.backward()
            optim.step()
    theirs = np.concatenate([np.concatenate([w.detach().numpy().ravel(), v.detach().numpy()])
                             for w, v in zip(Wt, bt)])
    assert rel_diff(ours, theirs) <= BOUND_F64_MANY_EPOCHS


@pytest.mark.parametrize("backend", ["reference", "numba", "numpy"])
@pytest.mark.parametrize("rule", ["momentum", "adam"])
def test_state_survives_between_fits(backend, rule):
    X, y = fastmlp.datasets.placement(40, seed=1)
    once = fastmlp.MLP([2, 3, 1], activation="tanh", seed=0)
    once.fit(X, y, epochs=2, lr=0.01, shuffle=False, optimizer=rule, backend=backend)
    twice = fastmlp.MLP([2, 3, 1], activation="tanh", seed=0)
    twice.fit(X, y, epochs=1, lr=0.01, shuffle=False, optimizer=rule, backend=backend)
    twice.fit(X, y, epochs=1, lr=0.01, shuffle=False, optimizer=rule, backend=backend)
    np.testing.assert_allclose(twice.params, once.params, rtol=0, atol=1e-15)
    assert twice.optimizer_state.t[0] == 80
    fresh = fastmlp.MLP([2, 3, 1], activation="tanh", seed=0)
    fresh.fit(X, y, epochs=1, lr=0.01, shuffle=False, optimizer=rule, backend=backend)
    fresh.reset_optimizer()
    fresh.fit(X, y, epochs=1, lr=0.01, shuffle=False, optimizer=rule, backend=backend)
    assert not np.allclose(fresh.params, once.params, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kwargs,match", [
    (lambda: dict(optimizer="rmsprop"), "optimizer must be one of"),
    (lambda: dict(optimizer=SGD), "optimizer must be one of .* or an optimiser object"),
    (lambda: dict(optimizer=SGD(momentum=1.0)), r"momentum must be a number in \[0, 1\)"),
    (lambda: dict(optimizer=SGD(nesterov=True)), r"nesterov=True\) needs momentum > 0"),
    (lambda: dict(optimizer=Adam(betas=(0.9,))), "betas must be a pair"),
    (lambda: dict(optimizer=Adam(betas=(0.9, 1.5))), r"betas\[1\] must be a number in \[0, 1\)"),
    (lambda: dict(optimizer=Adam(eps=0)), "eps must be a finite number > 0"),
    (lambda: dict(optimizer=SGD(weight_decay=-1e-3)), "weight_decay must be a finite number >= 0"),
])
def test_bad_optimizer_settings(kwargs, match):
    net = fastmlp.MLP([2, 3, 1], seed=0)
    before = net.params.copy()
    X, y = fastmlp.datasets.placement(10)
    with pytest.raises(ValueError, match=match):
        net.fit(X, y, **kwargs())
    np.testing.assert_array_equal(net.params, before)
    assert net.optimizer_state is None

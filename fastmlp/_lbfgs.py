"""Full-batch training by L-BFGS (SciPy's L-BFGS-B), for the estimators' ``solver="lbfgs"``.

The objective is scikit-learn's, so that from the same start both take the same steps: the mean loss over the rows
(weighted by ``sample_weight``), in scikit-learn's scale, plus the L2 penalty ``alpha / 2 * sum(W**2) / sw_sum``
(``sw_sum`` the rows' total weight). Loss and gradient come from the numpy path's whole-array maths
(``backends/numpy/arrays.py``, which the equivalence suite holds to the reference):

* ``MLPRegressor``: scikit-learn's squared error is half the contract's ``mse`` (``scale = 0.5``); its gradient
  is that of the *sum* over the ``K`` outputs, ``K`` times the gradient of the loss it reports. Both are kept as
  scikit-learn has them (``loss_scale = 0.5``, ``grad_scale = K / 2``), so the two libraries agree for any ``K``.
* ``MLPClassifier``: the binary log loss and the softmax cross-entropy are the contract's (both scales 1).

The parameters are handed to SciPy in scikit-learn's order (every ``W[l]``, then every ``b[l]``), not the contract's
layer-by-layer layout: L-BFGS is the same algorithm in any order, but its sums are then summed in the same order as
scikit-learn's, which keeps the two within rounding of each other.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backends.numpy import arrays


def sklearn_order(spec) -> np.ndarray:
    """Indices into ``params`` listing every ``W[l]`` (row-major) and then every ``b[l]``: scikit-learn's packing."""
    weights = [np.arange(w0, b0) for w0, b0, _ in spec.offsets]
    biases = [np.arange(b0, b1) for _, b0, b1 in spec.offsets]
    return np.concatenate(weights + biases)


@dataclass
class Objective:
    """``theta -> (loss, gradient)`` of scikit-learn's objective at ``theta`` (float64, scikit-learn's order).

    ``sample_weight`` may be rescaled (only ratios matter to a weighted mean); the L2 term divides by
    ``weight_total``, the weights' sum as given, as scikit-learn's does."""

    spec: object
    X: np.ndarray
    Y: np.ndarray
    sample_weight: np.ndarray | None
    alpha: float
    weight_total: float | None       # the weights' sum as the user gave them (None: no weights, the row count)
    loss_scale: float
    grad_scale: float
    dtype: np.dtype

    def __post_init__(self):
        self.order = sklearn_order(self.spec)
        self.params = np.empty(self.spec.n_params, self.dtype)
        self.total = float(self.X.shape[0] if self.weight_total is None else self.weight_total)
        self.n_weights = sum(b0 - w0 for w0, b0, _ in self.spec.offsets)

    def __call__(self, theta):
        self.params[self.order] = theta
        dW, db, loss = arrays.gradients(self.spec, self.params, self.X, self.Y, self.sample_weight)
        W = theta[:self.n_weights]
        penalty = 0.5 * self.alpha * float(W @ W) / self.total
        grad = np.empty(theta.shape[0], np.float64)
        grad[:self.n_weights] = np.concatenate([g.ravel() for g in dW])
        grad[self.n_weights:] = np.concatenate(db)
        grad *= self.grad_scale
        grad[:self.n_weights] += (self.alpha / self.total) * W
        return self.loss_scale * loss + penalty, grad

    def start(self, params) -> np.ndarray:
        return params[self.order].astype(np.float64)

    def unpack(self, theta, params):
        """``theta`` written into ``params`` (the contract's layout, the parameters' dtype)."""
        params[self.order] = theta


def minimize(objective: Objective, params, *, max_iter: int, max_fun: int, tol: float):
    """SciPy's L-BFGS-B from ``params``, as scikit-learn calls it; returns SciPy's ``OptimizeResult``. ``params``
    is not touched: the caller writes ``result.x`` back once it has checked it."""
    try:
        from scipy.optimize import minimize as scipy_minimize
    except ImportError:            # pragma: no cover - scipy comes with scikit-learn, which the estimators use
        raise ImportError("solver='lbfgs' needs SciPy (pip install scipy); the stochastic solvers 'sgd' and "
                          "'adam' do not") from None
    return scipy_minimize(objective, objective.start(params), method="L-BFGS-B", jac=True,
                          options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol})

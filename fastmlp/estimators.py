"""scikit-learn estimators: ``MLPRegressor`` and ``MLPClassifier``, drop-in where scikit-learn's are used.

They take scikit-learn's ``MLPRegressor``/``MLPClassifier`` parameter names where the meaning is the same and
train a :class:`fastmlp.MLP` underneath (``net_``), so every path, optimiser and schedule of ``MLP.fit`` is
theirs. scikit-learn is not needed to use them: with it installed they are ``BaseEstimator`` subclasses
(``clone``, ``Pipeline``, ``GridSearchCV``, tags, input checks); without it they keep the same methods
(``get_params``, ``set_params``, ``score``) on a small base of their own.

Where the meanings differ from scikit-learn's
---------------------------------------------
* Loss: the network trains on the contract's per-sample losses, and the estimators translate, so that the same
  settings take scikit-learn's steps. scikit-learn's gradient is ``c`` times the contract's (``_scales``): the
  regressor's ``squared_error`` is half the contract's ``mse`` with the gradient of the *sum* over the ``K``
  outputs (``c = K / 2``); the multilabel log loss and the Poisson loss sum over the ``K`` outputs where the
  contract's average (``c = K``); the binary log loss and the softmax cross-entropy are the contract's (``c = 1``).
  ``MLP.fit`` is then given SGD's rate times ``c``, ``l2 = alpha / c`` and Adam's ``eps = epsilon / c``.
  ``loss_curve_``, ``loss_`` and ``best_loss_`` are in scikit-learn's units (``tol`` compares in them too);
  ``history_`` keeps the contract's. Adam differs within ``epsilon``: scikit-learn adds it to ``sqrt(v)`` before
  the bias correction (in the contract's terms ``epsilon / sqrt(1 - beta_2^t)``, 30x at the first step).
* ``loss_curve_`` does not include ``alpha``'s penalty term (which is applied as scikit-learn applies it,
  ``g_W += alpha / B * W`` with ``B`` each batch's sum of sample weights, its row count without weights:
  ``optim.SGD``/``Adam``'s ``l2``): the kernels do not compute ``sum(W**2)`` per batch.
* A ``fit`` starts a new optimiser (momentum and Adam's moments from zero), a warm one too, as scikit-learn's;
  ``partial_fit`` keeps it from call to call.
* ``early_stopping``: holds out ``validation_fraction`` of the rows drawn with the model's generator (scikit-learn
  draws other rows; stratified for a two-class classifier, as scikit-learn's, with its errors; like scikit-learn's,
  not with more classes). As scikit-learn's, it watches the validation score (accuracy, R^2: ``validation_scores_``,
  through ``Stopping(score=...)``), stops on ``n_iter_no_change`` and ``tol`` applied to it, and puts back the
  parameters of the first best-scoring epoch.
* ``solver="lbfgs"`` (``fastmlp._lbfgs``): SciPy's L-BFGS-B on scikit-learn's own full-batch objective, from the
  same start the same steps (to 1e-6 over tens of iterations; over hundreds, rounding differences grow as on any
  non-convex trajectory). ``partial_fit`` is refused with it by both estimators (scikit-learn's regressor means
  to but offers it anyway: its ``available_if`` tests ``est._check_solver`` without calling it), and it trains
  in float64 as scikit-learn's parameters end up. ``verbose`` prints scikit-learn's line per epoch
  (``Iteration k, loss = ...``, the contract's loss, and ``Validation score: ...`` with ``early_stopping``) on
  stdout; nothing for ``lbfgs`` (SciPy no longer prints). ``MLP.fit(progress=True)`` is the progress bar.
* Divergence: ``NonFiniteWeightsError``, scikit-learn's ``ValueError`` ("Solver produced non-finite parameter
  weights") and fastmlp's ``DivergenceError`` at once; the parameters are those of the last complete batch
  (scikit-learn leaves the non-finite ones). With ``early_stopping``, as scikit-learn, no error: the epoch's
  validation score is NaN; training stops there (scikit-learn goes on with NaN parameters until its patience
  runs out) with the best validation epoch's parameters.
* ``coefs_``/``intercepts_`` are views of the network's parameters; assigning them writes into the parameters
  after checking every shape (scikit-learn accepts any list and fails later, in ``predict``). Assigned before the
  first fit, they are kept as given and ``partial_fit`` (or a warm ``fit``) starts from them, as scikit-learn's,
  shapes checked then; scikit-learn's other fitted attributes need not be set by hand (its worked-example test
  sets them; ``n_layers_`` may be, when it is what ``hidden_layer_sizes`` makes). ``_loss_grad_lbfgs``, which
  scikit-learn's tests call, gives its objective's loss and gradient in its packing.
* ``data_parallel`` (fastmlp's own): ``fit`` on dask arrays trains data-parallel on the cluster
  (``fastmlp.distributed``), so a ``Pipeline`` of dask-ml transformers ending in one of these estimators trains
  on the workers; its result depends on the partitioning (the round rule in ``docs/contract.md``).
* Multilabel (a 2-D 0/1 ``y``): one sigmoid output per label, as scikit-learn's, with the contract's
  ``log_loss`` (the mean over labels; scikit-learn sums them: translated as above).
* Sparse ``X`` (SciPy CSR or CSC, matrices and arrays): trained and predicted a chunk of rows at a time through
  the dense kernels (``streaming.SparseSource``, about 64 MiB of dense rows), with the dense ``X``'s bits when it is
  one chunk; ``solver="lbfgs"`` densifies it (the whole data set is its batch).
* ``MLPRegressor(loss="poisson")``: the exp output and half the Poisson deviance, as scikit-learn's (the mean
  over ``K`` outputs in the contract, translated as above). A negative target is a ``ValueError`` (scikit-learn
  documents ``y >= 0`` but trains to a NaN loss).

What matches, tested beside scikit-learn's estimators on the same input (``tests/test_sklearn_side_by_side.py``):
``partial_fit`` refusing other ``classes``, a warm start refusing other classes, ``n_iter_`` counting the last
call's epochs (one after ``partial_fit``; ``t_`` and ``loss_curve_`` every one), ``verbose``'s lines,
``n_iter_no_change=np.inf``, ``partial_fit`` refusing ``early_stopping``, a validation set of at least two rows,
early stopping on the validation score, ``_no_improvement_count``, divergence with and without
``early_stopping``, float32 ``X`` training in float32 (``dtype=None``), ``coefs_``/``intercepts_`` assigned then
used by ``predict`` or, before the first fit, as its start, one-class ``y``, multilabel ``y`` (attributes, output
shapes and dtypes, its errors, one epoch of SGD and L-BFGS from the same weights); and ``solver="lbfgs"``
(``tests/test_lbfgs.py``: parameters, ``n_iter_``, ``loss_``, warnings, ``max_fun``, the attributes it has,
``_loss_grad_lbfgs``), whose estimators pass ``check_estimator`` with no expected failure.
* Initial parameters: scikit-learn's draw for an integer ``random_state`` (its generator, bounds and order, biases
  included: ``test_the_initial_parameters_are_scikit_learns_draw``), so the same settings start from the same
  weights; the rows' order when shuffling and the validation split come from fastmlp's own generator
  (``MLP(seed=random_state)``'s), not scikit-learn's. Full-batch training therefore follows scikit-learn's
  trajectory; scikit-learn's own MLP test module (1.9.1) passes whole against these estimators.
"""
from __future__ import annotations

import functools
import inspect
import math
import numbers
import threading
import types
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy as np
from numpy.typing import ArrayLike

from . import _lbfgs
from ._params import ESTIMATOR_CONSTRAINTS, check
from ._settings import check_stratifiable, validation_rows, validation_split
from ._validation import (
    check_finite,
    check_real_array,
    check_sample_weight,
    check_sparse_X,
    check_Y,
    is_dask_array,
    is_sparse,
)
from .model import MLP, DivergenceError
from .optim import SGD, Adam
from .schedule import Constant, InvScaling, Plan, Stopping, as_schedule

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils.validation import check_is_fitted, validate_data
    HAVE_SKLEARN = True
except ImportError:                                  # pragma: no cover - exercised in a process without sklearn
    HAVE_SKLEARN = False

    class ConvergenceWarning(UserWarning):
        """Training stopped at ``max_iter`` before the stopping rule fired."""

    class BaseEstimator:
        """``get_params``/``set_params`` from the constructor's signature, as scikit-learn's."""

        @classmethod
        def _get_param_names(cls):
            return sorted(p.name for p in inspect.signature(cls.__init__).parameters.values()
                          if p.name != "self" and p.kind != p.VAR_KEYWORD)

        def get_params(self, deep=True):
            return {name: getattr(self, name) for name in self._get_param_names()}

        def set_params(self, **params):
            valid = self._get_param_names()
            for name, value in params.items():
                if name not in valid:
                    raise ValueError(f"Invalid parameter {name!r} for estimator {type(self).__name__}; "
                                     f"valid parameters are {valid}")
                setattr(self, name, value)
            return self

        def __repr__(self):
            return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    class RegressorMixin:
        _estimator_type = "regressor"

        def score(self, X, y, sample_weight=None):
            """R^2 of ``predict(X)`` against ``y`` (averaged uniformly over outputs)."""
            y = np.asarray(y, dtype=np.float64)
            pred = np.asarray(self.predict(X), dtype=np.float64).reshape(y.shape)
            w = np.ones(y.shape[0]) if sample_weight is None else np.asarray(sample_weight, np.float64)
            return _r2(y.reshape(y.shape[0], -1), pred.reshape(y.shape[0], -1), w)

    class ClassifierMixin:
        _estimator_type = "classifier"

        def score(self, X, y, sample_weight=None):
            """Mean accuracy of ``predict(X)`` against ``y``."""
            return float(np.average(self.predict(X) == np.asarray(y), weights=sample_weight))

    def check_is_fitted(estimator):
        if not hasattr(estimator, "net_"):
            raise NotFittedError(f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
                                 "appropriate arguments before using this estimator.")

    def validate_data(estimator, X, y="no_validation", reset=True, **kwargs):
        X = _plain_array("X", X)
        if reset:
            estimator.n_features_in_ = X.shape[1]
        elif X.shape[1] != estimator.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
                             f"{estimator.n_features_in_} features as input.")
        if isinstance(y, str) and y == "no_validation":
            return X
        y = np.asarray(y)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"Found input variables with inconsistent numbers of samples: "
                             f"[{X.shape[0]}, {y.shape[0]}]")
        return X, y

    def _plain_array(name, X):
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"Expected 2D array for {name}, got {X.ndim}D array of shape {X.shape}")
        if not np.issubdtype(X.dtype, np.number) or np.iscomplexobj(X):
            raise ValueError(f"{name} must be a real numeric array, got dtype {X.dtype}")
        X = X.astype(np.float64, copy=False)
        if not np.isfinite(X).all():
            raise ValueError(f"Input {name} contains NaN or infinity.")
        return X

try:
    from sklearn.exceptions import NotFittedError
except ImportError:                                  # pragma: no cover
    class NotFittedError(ValueError, AttributeError):
        """The estimator is used before ``fit``."""


class NonFiniteWeightsError(DivergenceError, ValueError):
    """Training diverged: scikit-learn's ``ValueError`` ("Solver produced non-finite parameter weights"), which is
    also fastmlp's :class:`~fastmlp.DivergenceError` (epoch, row, reason); the parameters are those of the last
    complete batch (scikit-learn leaves the non-finite ones)."""


SKLEARN_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "sigmoid": "sigmoid", "tanh": "tanh",
               "relu": "relu"}


_TRAINING = set()                 # id() of the estimators being trained now
_TRAINING_LOCK = threading.Lock()


@contextmanager
def _one_caller(estimator):
    """The contract's rule, for estimators too: one caller trains a model at a time (a lock of their own would
    have to be kept out of get_params, clone and pickles; a registry of ids needs none)."""
    key = id(estimator)
    with _TRAINING_LOCK:
        if key in _TRAINING:
            raise RuntimeError(f"{type(estimator).__name__}: this estimator is already being trained (by another "
                               "thread, or by a callback of its own fit); one model is trained by one caller at a "
                               "time. Train a clone (sklearn.base.clone) to train in parallel.")
        _TRAINING.add(key)
    try:
        yield
    finally:
        with _TRAINING_LOCK:
            _TRAINING.discard(key)


class _StochasticOnly:
    """``partial_fit`` exists for the stochastic solvers only, as scikit-learn's (its ``available_if``): with
    ``solver="lbfgs"``, ``hasattr(estimator, "partial_fit")`` is False and calling it raises AttributeError."""

    def __init__(self, method):
        self.method = method
        functools.update_wrapper(self, method)

    def __get__(self, estimator, owner=None):
        if estimator is None:
            return self.method
        if estimator.solver == "lbfgs":
            raise AttributeError(f"This {type(estimator).__name__!r} has no attribute 'partial_fit': it is only "
                                 f"available for stochastic optimizers, and {estimator.solver} is not stochastic.")
        return types.MethodType(self.method, estimator)


class _BaseMLP(BaseEstimator):
    """What the regressor and the classifier share: parameters, checks, the fit/partial_fit loop."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, backend="auto",
                 dtype=None, data_parallel=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.backend = backend
        self.dtype = dtype
        self.data_parallel = data_parallel

    # --- fitted attributes that are views of the network ---------------------------------------------------
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "net_")

    @property
    def coefs_(self) -> list:
        """``coefs_[l]``: ``W[l]`` of shape ``(n_l, n_{l+1})``, a view of ``net_.params`` (writable). Assigning a
        list of arrays of those shapes writes them into the parameters (checked first, all or nothing).

        Before the first fit, as scikit-learn's, the list assigned is kept as it is (its items may still be
        replaced) and ``partial_fit``, or ``fit`` with ``warm_start=True``, starts from it, shapes checked then."""
        return self._given("coefs_") if not hasattr(self, "net_") else self.net_.weights

    @coefs_.setter
    def coefs_(self, value):
        if not hasattr(self, "net_"):
            self.__dict__["_given_coefs"] = value
        else:
            self._assign("coefs_", value, self.net_.weights)

    @property
    def intercepts_(self) -> list:
        """``intercepts_[l]``: ``b[l]``, a view of ``net_.params`` (writable; assignable as ``coefs_``)."""
        return self._given("intercepts_") if not hasattr(self, "net_") else self.net_.biases

    @intercepts_.setter
    def intercepts_(self, value):
        if not hasattr(self, "net_"):
            self.__dict__["_given_intercepts"] = value
        else:
            self._assign("intercepts_", value, self.net_.biases)

    def _given(self, name):
        """What was assigned to ``coefs_``/``intercepts_`` before the first fit; not fitted otherwise."""
        given = self.__dict__.get("_given_" + name[:-1])
        if given is None:
            check_is_fitted(self)
        return given

    def _start_from_given(self, incremental):
        """The first fit starts from ``coefs_`` and ``intercepts_`` assigned before it, as scikit-learn's does for
        ``partial_fit`` and warm starts (``fit`` without ``warm_start`` draws new weights, as scikit-learn's)."""
        self.__dict__.pop("_given_n_layers", None)
        coefs, intercepts = self.__dict__.pop("_given_coefs", None), self.__dict__.pop("_given_intercepts", None)
        if (coefs is None and intercepts is None) or not (incremental or self.warm_start):
            return
        if coefs is None or intercepts is None:
            raise ValueError("coefs_ and intercepts_ were not both assigned before the first fit; assign both to "
                             "start from them")
        self._assign("coefs_", coefs, self.net_.weights)
        self._assign("intercepts_", intercepts, self.net_.biases)

    def _assign(self, name, value, targets):
        if isinstance(value, (str, bytes, np.ndarray)) or not hasattr(value, "__len__") or len(value) != len(targets):
            raise ValueError(f"{name} must be a list of {len(targets)} arrays of shapes "
                             f"{[t.shape for t in targets]}, got {type(value).__name__}")
        arrays = []
        for l, (new, target) in enumerate(zip(value, targets)):
            arr = check_real_array(f"{name}[{l}]", new)
            if arr.shape != target.shape:
                raise ValueError(f"{name}[{l}] must have shape {target.shape}, got {arr.shape}")
            arrays.append(check_finite(f"{name}[{l}]", arr, target.dtype))
        for arr, target in zip(arrays, targets):
            target[...] = arr

    @property
    def n_layers_(self) -> int:
        """Layers counting input and output. Assignable before the first fit, as scikit-learn's (its worked-example
        test sets it with ``coefs_``), when it is what ``hidden_layer_sizes`` makes: 2 + the hidden layers."""
        if not hasattr(self, "net_") and "_given_n_layers" in self.__dict__:
            return self.__dict__["_given_n_layers"]
        check_is_fitted(self)
        return len(self.net_.layer_sizes)

    @n_layers_.setter
    def n_layers_(self, value):
        expected = 2 + len(self._hidden_sizes()) if not hasattr(self, "net_") else len(self.net_.layer_sizes)
        if value != expected:
            raise ValueError(f"n_layers_ must be {expected} (hidden_layer_sizes={self.hidden_layer_sizes!r}), "
                             f"got {value!r}")
        if not hasattr(self, "net_"):
            self.__dict__["_given_n_layers"] = expected

    # --- checks -------------------------------------------------------------------------------------------------
    def _check_params(self) -> list:
        """Every constructor parameter against the table (``_params.ESTIMATOR_CONSTRAINTS``); the hidden sizes."""
        params = self.get_params(deep=False)
        for name, constraints in ESTIMATOR_CONSTRAINTS.items():
            if name in params:                     # the regressor's loss is not the classifier's
                check(name, params[name], constraints)
        if self.data_parallel is not None:
            _data_parallel_options(self.data_parallel)
        return self._hidden_sizes()

    def _hidden_sizes(self) -> list:
        sizes = check("hidden_layer_sizes", self.hidden_layer_sizes, ESTIMATOR_CONSTRAINTS["hidden_layer_sizes"])
        return [sizes] if isinstance(sizes, int) else sizes

    def _batch_rows(self, n) -> int:
        rows = 200 if isinstance(self.batch_size, str) else int(self.batch_size)
        if rows > n and not isinstance(self.batch_size, str):
            warnings.warn(f"Got batch_size={rows} larger than the {n} samples; it is clipped to {n}", UserWarning,
                          stacklevel=6)    # _batch_rows < _fit < _train_now < _train < fit < the caller
        return min(rows, n)

    def _scales(self) -> tuple[float, float]:
        """``(loss_scale, grad_scale)``: scikit-learn's loss, and the gradient it steps along, over the contract's.
        The regressor's squared error is half the contract's ``mse``, and its gradient that of the *sum* over the
        ``K`` outputs (``0.5``, ``K / 2``); the multilabel log loss and the Poisson loss sum over the ``K`` outputs
        where the contract's average (``K``, ``K``); the binary log loss and the softmax cross-entropy are the
        contract's (``1``, ``1``)."""
        spec = self.net_.spec
        K = float(spec.n_outputs)
        if spec.loss == "mse":
            return 0.5, 0.5 * K
        return (K, K) if spec.loss in ("log_loss", "poisson") else (1.0, 1.0)

    def _make_optimizer(self):
        """``MLP.fit``'s optimiser for ``solver``, ``momentum``, ``nesterovs_momentum``, the betas, ``epsilon`` and
        ``alpha`` (as ``l2``: ``alpha / B`` per batch, ``B`` its sum of sample weights, as scikit-learn), in the
        contract's loss units: scikit-learn's gradient is ``c`` times the contract's (``_scales``), so ``l2`` is
        ``alpha / c`` and Adam's ``eps`` is ``epsilon / c`` (Adam's step is otherwise the same for any scale of the
        gradient; SGD's rate is ``c`` times too: ``_rate_scale``), and both take scikit-learn's steps."""
        c = self._scales()[1]
        if self.solver == "adam":
            return Adam(betas=(self.beta_1, self.beta_2), eps=self.epsilon / c, l2=float(self.alpha) / c)
        return SGD(momentum=self.momentum, nesterov=bool(self.nesterovs_momentum) and self.momentum > 0,
                   l2=float(self.alpha) / c)

    def _rate_scale(self) -> float:
        """What ``learning_rate_init`` (and the schedule's rate) is multiplied by for ``MLP.fit``: SGD's ``c``."""
        return 1.0 if self.solver == "adam" else self._scales()[1]

    def _stopping(self, early_stopping=False, loss_scale=1.0):
        """``n_iter_no_change`` and ``tol`` as ``MLP.fit``'s stopping rule (``np.inf``: never stop early), on a
        loss ``1 / loss_scale`` of scikit-learn's (``tol`` in scikit-learn's units); with ``early_stopping``, as
        scikit-learn's: the validation score watched, its best epoch's parameters kept."""
        patience = None if self.n_iter_no_change == np.inf else int(self.n_iter_no_change)
        score = (lambda net, X, Y: self._score_encoded(X, Y)) if early_stopping else None
        tol = float(self.tol) if early_stopping else float(self.tol) / loss_scale
        return Stopping(n_iter_no_change=patience, tol=tol, restore_best=early_stopping, score=score)

    def _schedule(self):
        """scikit-learn's Adam ignores ``learning_rate``; its SGD follows it."""
        if self.solver == "adam":
            return Constant()
        return InvScaling(self.power_t) if self.learning_rate == "invscaling" else as_schedule(self.learning_rate)

    # --- training ---------------------------------------------------------------------------------------------
    def _validate_X(self, X, reset):
        X = validate_data(self, X, reset=reset, dtype=(np.float64, np.float32), accept_sparse=["csr", "csc"])
        if is_sparse(X):                 # densified a chunk of rows at a time by the network
            return X.astype(self.net_.dtype, copy=False)
        return np.ascontiguousarray(X, dtype=self.net_.dtype)

    def _dtype_for(self, X, first):
        """The dtype of the network: the fitted one's; else ``dtype``, or with ``dtype=None`` float32 for float32
        ``X`` and float64 for anything else (scikit-learn's rule; with ``solver="lbfgs"`` float64 always, as
        scikit-learn's parameters end up)."""
        if not first:
            return self.net_.dtype
        if self.dtype is not None:
            return np.dtype(self.dtype)
        if self.solver == "lbfgs":          # SciPy's L-BFGS-B works in float64, and scikit-learn keeps its result
            return np.dtype(np.float64)
        return np.dtype(np.float32) if X.dtype == np.float32 else np.dtype(np.float64)

    def _new_net(self, n_features, n_outputs, loss, dtype):
        """A network whose initial parameters are scikit-learn's draw for the same ``random_state``: every ``W[l]``
        and then ``b[l]`` uniform in ``+-sqrt(f / (fan_in + fan_out))`` (``f`` 2 for logistic, else 6), layer by
        layer from ``RandomState(seed)``, as its ``_init_coef``. The network's own generator (shuffling, the
        validation split) is ``MLP(seed=seed)``'s."""
        seed = _seed(self.random_state)
        net = MLP([n_features, *self._hidden_sizes(), n_outputs], activation=SKLEARN_ACTIVATIONS[self.activation],
                  loss=loss, dtype=dtype, seed=seed)
        draw = np.random.RandomState(seed if seed is not None else int(net.rng.integers(2 ** 32)))
        factor = 2.0 if self.activation == "logistic" else 6.0
        for W, b in zip(net.weights, net.biases):
            fan_in, fan_out = W.shape
            bound = np.sqrt(factor / (fan_in + fan_out))
            W[...] = draw.uniform(-bound, bound, (fan_in, fan_out))
            b[...] = draw.uniform(-bound, bound, fan_out)
        return net

    def _fit(self, X, Y, sample_weight, callbacks, incremental, weight_total=None, trainer=None):
        """Train ``net_`` on validated ``X`` and encoded targets ``Y``: ``max_iter`` epochs, or one for
        ``partial_fit``; ``trainer(**options)`` in place of ``net_.fit(X, Y, ...)`` when given (data-parallel
        training). Returns ``self``."""
        if not self._stochastic:
            return self._fit_lbfgs(X, Y, sample_weight, weight_total)
        n = X.shape[0]
        rows = self._batch_rows(n)
        optimizer = self._make_optimizer()
        if not incremental:
            self.net_.reset_optimizer()          # every fit starts a new optimiser, a warm one too (scikit-learn's)
        if incremental and self.net_.optimizer_state is not None:
            # Blocks of other sizes must not restart the optimiser: keep the optimiser its state was made with.
            optimizer = self.net_.optimizer_state.optimizer
        loss_scale, rate_scale = self._scales()[0], self._rate_scale()
        options = dict(lr=float(self.learning_rate_init) * rate_scale, batch_size=rows, shuffle=bool(self.shuffle),
                       backend=self.backend, optimizer=optimizer, schedule=self._schedule(),
                       stopping=self._stopping(loss_scale=loss_scale))
        callbacks = list(callbacks or [])
        scores, best = [], {}
        if incremental:
            options.update(epochs=1, lr=self._plan.lr_for_epoch(self.t_) * rate_scale, schedule=Constant(),
                           stopping=None)
        else:
            options["epochs"] = int(self.max_iter)
            if self.early_stopping:
                train, val = validation_split(n, self.validation_fraction, self.net_.rng, self._labels(Y))
                val_X, val_Y = X[val], Y[val]
                X, Y = X[train], Y[train]
                sample_weight = None if sample_weight is None else sample_weight[train]
                options.update(validation_data=(val_X, val_Y), stopping=self._stopping(early_stopping=True))
                def validation_score(epoch, history, net):
                    scores.append(history.val_score[-1])
                    if history.best_epoch == epoch:                         # what restore_best would put back
                        best["params"] = net.params.copy()
                callbacks.insert(0, validation_score)
        if self.verbose:                            # after the validation score's callback: it prints that too
            def report(epoch, history, net):
                print(f"Iteration {epoch + 1}, loss = {loss_scale * history.loss[-1]:.8f}")
                if scores:
                    print(f"Validation score: {scores[-1]:f}")
            callbacks.insert(1 if self.early_stopping and not incremental else 0, report)
        try:
            if trainer is not None:
                history = trainer(callbacks=callbacks, **options)
            else:
                history = self.net_.fit(X, Y, sample_weight=sample_weight, callbacks=callbacks, **options)
        except DivergenceError as e:
            self._record(e.history, n, incremental)
            if self.early_stopping and not incremental:
                # scikit-learn's behaviour: no error; the epoch's validation score is NaN, training stops, and the
                # parameters are those of the best validation epoch (or of the last complete batch, if none)
                if "params" in best:
                    self.net_.params[...] = best["params"]
                self.loss_curve_.append(float("nan"))
                self.n_iter_ += 1
                self._finish(scores + [float("nan")], incremental, early_stopping=True)
                return self
            raise NonFiniteWeightsError(
                "Solver produced non-finite parameter weights. The input data may contain large values and need to "
                f"be preprocessed. (fastmlp: {e}; the parameters are those of the last complete batch)",
                e.epoch, e.sample, e.position, e.history, e.reason) from e
        self._record(history, n, incremental)
        if incremental:
            self._plan.after_epoch(len(self.loss_curve_) - 1, self.loss_curve_[-1])   # adaptive rate across calls
        self._finish(scores, incremental, self.early_stopping and not incremental)
        self._optimizer = _Rate(self._next_rate(history, incremental))
        if not incremental and history.stop_reason.startswith("epochs:"):
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=5)
        return self

    def _next_rate(self, history, incremental) -> float:
        """The learning rate the next epoch would take, as scikit-learn's ``_optimizer.learning_rate`` holds it:
        ``learning_rate_init`` (constant), ``/ (t_ + 1) ** power_t`` (invscaling), the adaptive schedule's rate
        after this fit (its rule replayed on the monitored losses), or Adam's bias-corrected step."""
        lr0 = float(self.learning_rate_init)
        if self.solver == "adam":
            t = int(self.net_.optimizer_state.t[0])
            return lr0 * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t) if t else lr0
        if self.learning_rate == "invscaling":
            return lr0 / (self.t_ + 1) ** float(self.power_t)
        if self.learning_rate == "adaptive":
            if incremental:
                return self._plan.lr
            plan = Plan(lr0, self._schedule(), self._stopping())
            losses = [-s for s in history.val_score] or [self._scales()[0] * x for x in history.loss]
            for epoch, monitored in enumerate(losses):           # scikit-learn's units, as the plan's tol
                plan.after_epoch(epoch, monitored)
            return plan.lr
        return lr0

    def _finish(self, scores, incremental, early_stopping):
        """The attributes scikit-learn sets at the end of a stochastic fit: the scores or the best loss, ``loss_``,
        and ``_no_improvement_count`` (epochs since the monitored value last improved by ``tol``, its rule)."""
        tol = float(self.tol)
        if early_stopping:
            self.validation_scores_ = (self.validation_scores_ or []) + scores
            finite = [s for s in self.validation_scores_ if s == s]
            self.best_validation_score_ = max(finite) if finite else float("nan")
            self.best_loss_ = None
            monitored = [-s for s in self.validation_scores_]           # higher scores are better
        else:
            self.validation_scores_, self.best_validation_score_ = None, None
            finite = [x for x in self.loss_curve_ if x == x]
            self.best_loss_ = min(finite) if finite else float("nan")
            monitored = self.loss_curve_
        self.loss_ = self.loss_curve_[-1]
        best, count = math.inf, 0
        for value in monitored:
            count = count + 1 if not value < best - tol else 0
            best = min(best, value)
        self._no_improvement_count = count

    def _fit_lbfgs(self, X, Y, sample_weight, weight_total):
        """``solver="lbfgs"``: SciPy's L-BFGS-B on the whole data set's loss and gradient, scikit-learn's objective
        (``fastmlp._lbfgs``); ``max_iter`` bounds its iterations, ``max_fun`` its loss evaluations, ``tol`` its
        projected gradient. The parameters change only once it has finished with finite ones."""
        net = self.net_
        if is_sparse(X):                     # L-BFGS's batch is the whole data set: densified
            X = np.ascontiguousarray(X.toarray())
        objective = self._lbfgs_objective(X, Y, sample_weight, weight_total)
        with np.errstate(over="ignore", invalid="ignore"):
            result = _lbfgs.minimize(objective, net.params, max_iter=int(self.max_iter), max_fun=int(self.max_fun),
                                     tol=float(self.tol))
        if not np.isfinite(result.x).all():
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large values "
                             "and need to be preprocessed. (fastmlp: the parameters are those before this fit)")
        objective.unpack(result.x, net.params)
        self.history_ = None
        self.n_iter_ = min(int(result.nit), int(self.max_iter))
        self.loss_ = float(result.fun)
        if result.status != 0:
            message = result.message.decode() if isinstance(result.message, bytes) else str(result.message)
            warnings.warn(f"lbfgs failed to converge after {result.nit} iteration(s) (status={result.status}):\n"
                          f"{message}\n\nIncrease the number of iterations (max_iter) or the number of loss "
                          "evaluations (max_fun), or scale the data.", ConvergenceWarning, stacklevel=5)
        return self

    def _lbfgs_objective(self, X, Y, sample_weight, weight_total) -> _lbfgs.Objective:
        """scikit-learn's full-batch objective: the contract's loss and gradient in scikit-learn's scales
        (``_scales``), with its L2 term."""
        spec = self.net_.spec
        Y = check_Y(Y, spec, self.net_.dtype, X.shape[0])
        loss_scale, grad_scale = self._scales()
        return _lbfgs.Objective(spec, X, Y, sample_weight, float(self.alpha), weight_total,
                                loss_scale=loss_scale, grad_scale=grad_scale, dtype=self.net_.dtype)

    def _loss_grad_lbfgs(self, packed_coef_inter, X, y, sample_weight, activations, deltas, coef_grads,
                         intercept_grads):
        """scikit-learn's private ``_loss_grad_lbfgs``, which its tests call: ``(loss, gradient)`` of the objective
        ``solver="lbfgs"`` minimises at ``packed_coef_inter`` (scikit-learn's packing, every ``coefs_`` then every
        ``intercepts_``), ``y`` encoded as scikit-learn's (a column per output; one-hot for classes). The model is
        left as it was; the work arrays scikit-learn fills are not used (nothing is returned through them)."""
        X = np.ascontiguousarray(X, dtype=self.net_.dtype)
        Y = np.asarray(y)
        if self.net_.spec.loss == "cross_entropy" and Y.ndim == 2:
            Y = np.argmax(Y, axis=1)                 # one-hot rows: the contract's class codes
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=self.net_.dtype)
        total = None if weights is None else float(weights.sum())
        return self._lbfgs_objective(X, Y, weights, total)(np.asarray(packed_coef_inter, dtype=np.float64))

    def _labels(self, Y):
        """One class label per row of the encoded targets (the classifier's, for a stratified hold-out), or None."""
        return None

    def _record(self, history, n, incremental):
        """The epochs of ``history`` into the fitted attributes: ``n_iter_`` counts this call's epochs (one for
        ``partial_fit``, as scikit-learn), ``t_`` every sample seen, ``loss_curve_`` every epoch's loss."""
        self.history_ = history
        self.n_iter_ = history.epochs            # this call's epochs, a partial_fit's one too (scikit-learn's count)
        self.t_ += history.epochs * n
        loss_scale = self._scales()[0]
        self.loss_curve_.extend(loss_scale * x for x in history.loss)     # scikit-learn's units

    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None,
            callbacks: Sequence[Callable] | None = None) -> _BaseMLP:
        """Train on ``X`` (n_samples, n_features) and ``y``: (n_samples,) or (n_samples, n_outputs) targets for
        the regressor, (n_samples,) labels for the classifier.

        ``callbacks``: as in ``MLP.fit``, ``callback(epoch, history, net)`` after every epoch; a true
        return value stops training.
        """
        first = not (self.warm_start and hasattr(self, "net_"))
        if self.data_parallel is not None and is_dask_array(X):
            with _one_caller(self):
                return self._fit_data_parallel(X, y, sample_weight, callbacks, first)
        return self._train(X, y, sample_weight, callbacks, first, incremental=False)

    def _fit_data_parallel(self, X, y, sample_weight, callbacks, first):
        """``fit`` on dask arrays with ``data_parallel`` set: ``fastmlp.distributed.fit`` on the current dask
        client (the module notes say what differs)."""
        from . import distributed as data_parallel  # the distributed extra, needed only here
        saved = dict(self.__dict__)
        try:
            self._check_params()
            options = _data_parallel_options(self.data_parallel)
            if self.solver == "lbfgs":
                raise ValueError("data_parallel needs a stochastic solver ('sgd' or 'adam'), got solver='lbfgs'")
            if self.early_stopping:
                raise ValueError("data_parallel does not hold out validation rows: set early_stopping=False")
            if sample_weight is not None:
                raise ValueError("data_parallel does not take sample_weight")
            client = data_parallel._import_distributed().get_client()
            X, y = _dask_pair(X, y)
            dtype = self._dtype_for(X, first)
            if first:
                self.n_features_in_ = int(X.shape[1])
                self.__dict__.pop("feature_names_in_", None)
            elif X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                                 f"{self.n_features_in_} features as input.")
            Y = self._encode_dask(y, first, dtype)
            self._start(X, first, dtype)
        except (TypeError, ValueError):
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        n = int(X.shape[0])
        rows = self._batch_rows(n)
        sync_every = options.get("sync_every", data_parallel.DEFAULT_SYNC_EVERY)
        if sync_every != "epoch":
            sync_every = -(-sync_every // rows) * rows          # whole batches
        trainer = functools.partial(data_parallel.fit, self.net_, (X, Y), client, sync_every=sync_every,
                                    partitions=options.get("partitions"))
        return self._fit(X, Y, None, callbacks, incremental=False, trainer=trainer)

    def _train(self, X, y, sample_weight, callbacks, first, incremental, **encode):
        """What ``fit`` and ``partial_fit`` share: check the data, encode the targets, (re)start, train."""
        with _one_caller(self):
            return self._train_now(X, y, sample_weight, callbacks, first, incremental, **encode)

    def _train_now(self, X, y, sample_weight, callbacks, first, incremental, **encode):
        # Every argument is checked before the fitted model is touched; a check that fails leaves the estimator
        # as it was (scikit-learn validates first too). What validation sets (n_features_in_, classes_, a new
        # net_) is put back from this copy of the attributes.
        saved = dict(self.__dict__)
        try:
            self._check_params()                  # on every call: partial_fit after set_params too
            X, y = validate_data(self, X, y, reset=first, dtype=(np.float64, np.float32), accept_sparse=["csr", "csc"],
                                 **self._target_checks)
            dtype = self._dtype_for(X, first)
            if is_sparse(X):                 # CSR of the model's dtype, trained a chunk of rows at a time
                X = check_sparse_X(X, _SpecShape(X.shape[1]), dtype)
            else:
                X = np.ascontiguousarray(check_finite("X", X, dtype))
            weight_total = None     # the weights' own sum: the lbfgs objective's L2 term
            if sample_weight is not None:
                check_sample_weight(sample_weight, X.shape[0], dtype)       # refused here, before any change
                # as given (MLP.fit rescales them, and puts alpha in the same units: optim's l2)
                sample_weight = np.asarray(sample_weight, dtype=np.float64)
                weight_total = float(sample_weight.sum())
            if self.early_stopping and incremental:
                raise ValueError("partial_fit does not support early_stopping=True")
            if not first and list(self.net_.layer_sizes[1:-1]) != self._hidden_sizes():
                raise ValueError(f"hidden_layer_sizes={self.hidden_layer_sizes!r} differs from the fitted network's "
                                 f"{tuple(self.net_.layer_sizes[1:-1])}; a warm start or partial_fit goes on "
                                 "training the same network (set warm_start=False to start anew)")
            Y = self._encode(X, y, first, dtype, incremental, **encode)
            if self._stochastic and self.early_stopping:     # scikit-learn: the split's errors, then the size
                n_val = validation_rows(X.shape[0], self.validation_fraction)
                if self._labels(Y) is not None:
                    check_stratifiable(self._labels(Y), n_val)
                if n_val < 2:
                    raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of "
                                     "your dataset.")
            self._start(X, first, dtype)
            if first:
                self._start_from_given(incremental)
            return self._fit(X, Y, sample_weight, callbacks, incremental, weight_total)
        except (TypeError, ValueError) as e:
            if not isinstance(e, DivergenceError):     # refused before training: the estimator as it was
                self.__dict__.clear()
                self.__dict__.update(saved)
            raise

    def _start(self, X, first_call, dtype):
        """A new network (or the fitted one, for warm starts and later ``partial_fit`` calls). As scikit-learn's,
        ``loss_curve_``, ``best_loss_`` and ``validation_scores_`` exist for the stochastic solvers only."""
        if first_call:
            self.net_ = self._new_net(X.shape[1], self.n_outputs_, self._loss(), dtype)
            self.n_iter_, self.t_ = 0, 0
            for name in ("loss_curve_", "best_loss_", "validation_scores_", "best_validation_score_"):
                self.__dict__.pop(name, None)
            if self._stochastic:
                self.loss_curve_, self.validation_scores_ = [], None
            self._plan = Plan(float(self.learning_rate_init), self._schedule(), self._stopping())

    @property
    def _stochastic(self) -> bool:
        return self.solver != "lbfgs"

    def _predict_raw(self, X):
        check_is_fitted(self)
        return self.net_.predict(self._validate_X(X, reset=False))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.sparse = True              # CSR and CSC, densified a chunk of rows at a time
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor trained by fastmlp; scikit-learn's ``MLPRegressor`` parameters.

    Parameters
    ----------
    loss : {"squared_error", "poisson"}, default "squared_error"
        ``"squared_error"``: the contract's ``mse`` with a linear output; ``"poisson"``: half the Poisson deviance
        with an exp output (targets >= 0), scikit-learn's.
    hidden_layer_sizes : int or sequence of int, default (100,)
        Widths of the hidden layers.
    activation : {"identity", "logistic", "tanh", "relu"}, default "relu"
        Hidden activation ("logistic" is fastmlp's "sigmoid", which is accepted too). The output is linear (exp
        with ``loss="poisson"``).
    solver : {"lbfgs", "sgd", "adam"}, default "adam"
        ``"sgd"`` with ``momentum`` 0 is plain SGD, otherwise momentum or (``nesterovs_momentum``) Nesterov;
        ``"lbfgs"``: SciPy's L-BFGS-B on the whole data set (scikit-learn's objective, needs SciPy).
    max_fun : int, default 15000
        ``solver="lbfgs"`` only: the most loss evaluations (``max_iter`` bounds its iterations).
    alpha : float >= 0, default 1e-4
        L2 penalty on the weights, as ``g_W += alpha / B * W`` per batch, ``B`` its sum of sample weights (its row
        count without weights), as scikit-learn.
    batch_size : int or "auto", default "auto"
        Rows per update; "auto" is ``min(200, n_samples)``.
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        Schedule, with ``solver="sgd"`` only.
    learning_rate_init, power_t, max_iter, shuffle, tol, n_iter_no_change, momentum, nesterovs_momentum,
    early_stopping, validation_fraction, beta_1, beta_2, epsilon, warm_start :
        scikit-learn's meanings (``max_iter`` counts epochs); the differences are in the module notes.
    random_state : int, numpy Generator/RandomState or None
        Seeds the initial weights, the sample order and the validation split.
    verbose : bool or int, default False
        Print scikit-learn's line per epoch on stdout (``Iteration k, loss = ...``; with ``early_stopping``,
        ``Validation score: ...``).
    backend : {"auto", "numba", "numpy", "reference"}, default "auto"
        fastmlp's path (``MLP.fit``).
    dtype : {None, "float64", "float32"}, default None
        Dtype of the parameters and of all computation; ``None``: float32 when ``X`` is float32 in the first fit,
        float64 otherwise (scikit-learn's rule).
    data_parallel : None, True or dict, default None
        With dask arrays ``X`` (and ``y``), ``fit`` trains data-parallel on the current dask client
        (``distributed.get_client()``) through ``fastmlp.distributed.fit``: local SGD with parameter averaging,
        ``max_iter`` epochs. A dict gives its ``sync_every`` (rounded up to whole batches) and ``partitions``.
        Not with ``solver="lbfgs"``, ``early_stopping`` or ``sample_weight``. ``None``: dask arrays are computed
        into memory, as scikit-learn does. ``partial_fit`` is unaffected (dask-ml's ``Incremental`` calls it
        block after block).

    Attributes
    ----------
    net_ : fastmlp.MLP
        The trained network; ``coefs_``/``intercepts_`` are views of its parameters.
    loss_curve_ : list of float
        The contract's mean ``mse`` of each epoch: twice scikit-learn's squared-error loss, without the
        penalty term.
    loss_, best_loss_, validation_scores_, best_validation_score_, n_iter_, t_, n_features_in_,
    n_outputs_, out_activation_ :
        As scikit-learn's (``best_loss_`` is None with ``early_stopping``).
    history_ : fastmlp.History
        What the last ``fit``/``partial_fit`` call's ``MLP.fit`` returned.

    Examples
    --------
    >>> from fastmlp import MLPRegressor, datasets
    >>> X, y = datasets.placement(1000, seed=0)
    >>> reg = MLPRegressor(hidden_layer_sizes=(2,), activation="identity", solver="sgd", momentum=0.0,
    ...                    batch_size=1, learning_rate_init=0.02, max_iter=10, random_state=0).fit(X, y)
    >>> round(reg.score(X, y), 2)
    0.82
    """

    _target_checks = dict(multi_output=True, y_numeric=True)      # validate_data's keywords for y

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, backend="auto",
                 dtype=None, data_parallel=None):
        # scikit-learn's order: loss first (the one parameter the classifier has not)
        self.loss = loss
        super().__init__(hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
                         learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
                         max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
                         warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
                         early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1,
                         beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
                         backend=backend, dtype=dtype, data_parallel=data_parallel)

    def _loss(self):
        return "poisson" if self.loss == "poisson" else "mse"

    def _encode(self, X, y, first_call, dtype, incremental=False):
        return self._outputs(np.ascontiguousarray(y, dtype=dtype).reshape(len(y), -1), first_call)

    def _encode_dask(self, y, first_call, dtype):
        return self._outputs(y.reshape(y.shape[0], -1) if y.ndim == 1 else y, first_call)

    def _outputs(self, Y2, first_call):
        """``Y2`` (n, K), its K the fitted outputs' (or, first, setting them)."""
        if first_call:
            self.n_outputs_ = int(Y2.shape[1])
            self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        elif Y2.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y2.shape[1]} outputs, but {type(self).__name__} was fitted with "
                             f"{self.n_outputs_}")
        return Y2

    @_StochasticOnly
    def partial_fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> MLPRegressor:
        """One pass (one epoch) over the rows given, keeping the optimiser's state from call to call."""
        first = not hasattr(self, "net_")
        return self._train(X, y, sample_weight, None, first, incremental=True)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predictions of shape (n_samples,) for one output (as scikit-learn), else (n_samples, n_outputs)."""
        out = self._predict_raw(X)
        return out[:, 0] if self.n_outputs_ == 1 else out

    def _score_encoded(self, X, Y):
        return _r2(Y, self.net_.predict(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier trained by fastmlp; scikit-learn's ``MLPClassifier`` parameters.

    Two classes: one sigmoid output and the binary log loss; more: one softmax output per class and the
    cross-entropy, both as scikit-learn's. The parameters are those of :class:`MLPRegressor` (the module
    notes list where they differ from scikit-learn's); ``classes_`` holds the labels in sorted order.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import MLPClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((400, 2)); y = np.where(X[:, 0] * X[:, 1] > 0, "same", "opposite")
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, learning_rate_init=0.01,
    ...                     random_state=0).fit(X, y)
    >>> clf.classes_.tolist(), clf.score(X, y) > 0.9
    (['opposite', 'same'], True)
    """

    _target_checks = dict(multi_output=True)       # 1-D labels, or a 2-D indicator matrix (multilabel)

    def _loss(self):
        return "log_loss" if self._one_logistic or self._multilabel else "cross_entropy"

    @property
    def _multilabel(self) -> bool:
        """Fitted on a 2-D 0/1 ``y``: one sigmoid output per label (``classes_`` is ``arange(n_labels)``)."""
        return getattr(self, "_multilabel_fit", False)

    @property
    def _one_logistic(self) -> bool:
        """One or two classes: one sigmoid output."""
        return not self._multilabel and len(self.classes_) <= 2

    def _encode(self, X, y, first_call, dtype, incremental=False, classes=None):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected; it is raveled.",
                          _data_conversion_warning(), stacklevel=5)
            y = y[:, 0]
        if y.ndim == 2:
            return self._encode_multilabel(y, first_call, dtype, incremental, classes)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D class labels or a 2-D 0/1 indicator matrix for {type(self).__name__}, "
                             f"got shape {y.shape}")
        _check_classification_targets(y)
        if not first_call and self._multilabel:
            raise ValueError(f"y has 1-D class labels, but {type(self).__name__} was fitted on "
                             f"{self.n_outputs_} labels (a 2-D indicator matrix)")
        if not first_call and incremental and classes is not None \
                and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(f"`classes={list(classes)!r}` is not the same as on last call to partial_fit, was: "
                             f"{self.classes_!r}")
        if not first_call and not incremental:
            self._check_warm_start_classes(np.unique(y))
        if first_call:
            self._take_labels(np.unique(y) if classes is None else np.unique(np.asarray(classes)))
        codes = np.searchsorted(self.classes_, y)
        codes = np.clip(codes, 0, len(self.classes_) - 1)
        unknown = self.classes_[codes] != y
        if unknown.any():
            raise ValueError(f"y contains labels not in classes_ {self.classes_.tolist()}: "
                             f"{np.unique(y[unknown]).tolist()[:5]}")
        if len(self.classes_) <= 2:
            return codes.astype(dtype).reshape(-1, 1)
        return codes.astype(np.int64)

    def _take_labels(self, classes):
        """``classes_`` (class labels, sorted) and the outputs they make."""
        self.classes_ = classes
        self._multilabel_fit = False
        # one class (scikit-learn trains it too): one logistic output whose target is always 0, as with two
        self.n_outputs_ = 1 if len(classes) <= 2 else len(classes)
        self.out_activation_ = "logistic" if len(classes) <= 2 else "softmax"

    def _check_warm_start_classes(self, labels):
        if not np.array_equal(labels, self.classes_):
            raise ValueError(f"warm_start can only be used where `y` has the same classes as in the previous call to "
                             f"fit. Previously got {self.classes_}, `y` has {labels}")

    def _encode_multilabel(self, y, first_call, dtype, incremental, classes):
        """A 2-D 0/1 ``y``: multilabel classification, as scikit-learn's (``classes_`` the label positions)."""
        labels = np.arange(y.shape[1])
        values = np.unique(y)
        # scikit-learn's rule for an indicator matrix: at most two values, integers (a nonzero one is "on")
        if not (len(values) < 3 and (y.dtype.kind in "biu" or np.all(np.mod(values, 1) == 0))):
            raise ValueError("Multioutput target data is not supported with label binarization")
        if first_call:
            self.classes_ = labels if classes is None else np.unique(np.asarray(classes))
            self._multilabel_fit = True
            self.n_outputs_ = y.shape[1]
            self.out_activation_ = "logistic"
        if not first_call and not self._multilabel:
            raise ValueError(f"y is a 2-D indicator matrix, but {type(self).__name__} was fitted on class labels "
                             f"{self.classes_.tolist()}")
        if incremental and len(np.setdiff1d(labels, self.classes_)):
            raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. 'y' has "
                             f"{labels}.")
        if not incremental and not first_call:
            self._check_warm_start_classes(labels)
        if y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {y.shape[1]} labels, but {type(self).__name__} was fitted with {self.n_outputs_}")
        return (y != 0).astype(dtype)

    def _encode_dask(self, y, first_call, dtype):
        """Labels of a dask array encoded block by block on the workers; only the distinct labels come here."""
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D class labels for {type(self).__name__}, got shape {y.shape}")
        import dask.array as da
        labels = da.unique(y).compute()
        _check_classification_targets(labels)
        if not first_call:
            self._check_warm_start_classes(labels)
        else:
            self._take_labels(labels)
        classes = self.classes_
        if len(classes) <= 2:
            return y.map_blocks(lambda b: np.searchsorted(classes, b).astype(dtype).reshape(-1, 1), dtype=dtype,
                                chunks=(y.chunks[0], (1,)), new_axis=1)
        return y.map_blocks(lambda b: np.searchsorted(classes, b).astype(np.int64), dtype=np.int64)

    @_StochasticOnly
    def partial_fit(self, X: ArrayLike, y: ArrayLike, classes: ArrayLike | None = None,
                    sample_weight: ArrayLike | None = None) -> MLPClassifier:
        """One pass (one epoch) over the rows given, keeping the optimiser's state from call to call.

        ``classes`` (every label that will ever be seen) is required in the first call.
        """
        first = not hasattr(self, "net_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        return self._train(X, y, sample_weight, None, first, incremental=True, classes=classes)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in the order of ``classes_``."""
        out = self._predict_raw(X)
        if self._one_logistic:                       # one class: two columns as well, as scikit-learn's
            return np.hstack([1.0 - out, out])
        return out

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The most probable class of each row (for two classes: the second when its probability > 0.5)."""
        out = self._predict_raw(X)
        if self._multilabel:                         # each label on its own: an indicator matrix
            return (out > 0.5).astype(np.int64)
        if len(self.classes_) == 1:
            return np.repeat(self.classes_, out.shape[0])
        if len(self.classes_) == 2:
            return self.classes_[(out[:, 0] > 0.5).astype(np.intp)]
        return self.classes_[np.argmax(out, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _labels(self, Y):
        # scikit-learn stratifies when its targets are one column: two classes (or one), not more
        return Y[:, 0] if self.n_outputs_ == 1 else None

    def _score_encoded(self, X, Y):
        out = self.net_.predict(X)
        if self._multilabel:                         # subset accuracy, as scikit-learn's score
            return float(np.mean(np.all((out > 0.5) == (Y > 0.5), axis=1)))
        if len(self.classes_) == 1:                  # one class: every prediction is it (as predict says)
            return 1.0
        pred = (out[:, 0] > 0.5).astype(np.int64) if self._one_logistic else np.argmax(out, axis=1)
        truth = Y[:, 0].astype(np.int64) if Y.ndim == 2 else Y
        return float(np.mean(pred == truth))


# --- helpers ----------------------------------------------------------------------------------------------------
class _Rate:
    """What scikit-learn's fitted ``_optimizer`` offers that its tests read: ``learning_rate``, the next epoch's."""

    def __init__(self, learning_rate):
        self.learning_rate = learning_rate


class _SpecShape:
    """What ``check_sparse_X`` reads of a network before there is one: its number of inputs."""

    def __init__(self, n_inputs):
        self.n_inputs = n_inputs


def _dask_pair(X, y):
    """``X`` and ``y`` as dask arrays with the same row chunks (a numpy ``y`` is wrapped in ``X``'s)."""
    import dask.array as da
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    if not is_dask_array(y):
        y = check_real_array("y", y, allow_bool=True)
        y = da.from_array(y, chunks=(X.chunks[0],) + y.shape[1:])
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X and y have {X.shape[0]} and {y.shape[0]} rows")
    return X, y


def _data_parallel_options(value) -> dict:
    """``data_parallel``: True, or a dict of ``fastmlp.distributed.fit``'s ``sync_every`` and ``partitions``."""
    if value is True:
        return {}
    if not isinstance(value, dict) or not set(value) <= {"sync_every", "partitions"}:
        raise ValueError(f"data_parallel must be None, True or a dict with keys 'sync_every' and/or 'partitions', got "
                         f"{value!r}")
    return {name: check(name, v) for name, v in value.items()}


def _r2(Y, pred, weights=None) -> float:
    """R^2 of 2-D ``pred`` against ``Y`` per output, averaged uniformly over outputs, as scikit-learn's ``r2_score``
    (a constant target: 1 for a perfect fit, else 0): ``score`` without scikit-learn (weighted) and the regressor's
    early-stopping score (sums in float64 over the model's dtype)."""
    if weights is None:
        ss_res = ((Y - pred) ** 2).sum(axis=0, dtype=np.float64)
        ss_tot = ((Y - Y.mean(axis=0, dtype=np.float64)) ** 2).sum(axis=0, dtype=np.float64)
    else:
        mean = np.average(Y, axis=0, weights=weights)
        ss_res = np.average((Y - pred) ** 2, axis=0, weights=weights)
        ss_tot = np.average((Y - mean) ** 2, axis=0, weights=weights)
    constant = np.where(ss_res == 0, 1.0, 0.0)
    return float(np.mean(np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), constant)))


def _seed(random_state):
    """An int seed for ``MLP`` from scikit-learn's ``random_state`` conventions."""
    if random_state is None:
        return None
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be >= 0, got {random_state}")
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(np.iinfo(np.int64).max))
    raise ValueError(f"random_state must be None, an int, a numpy RandomState or Generator, got {random_state!r}")


def _check_classification_targets(y):
    if HAVE_SKLEARN:
        from sklearn.utils.multiclass import check_classification_targets
        check_classification_targets(y)
    elif y.dtype.kind == "f" and not np.all(np.mod(y[np.isfinite(y)], 1) == 0):
        raise ValueError("Unknown label type: continuous. Maybe you are trying to fit a classifier, which "
                         "expects discrete classes on a regression target with continuous values.")


def _data_conversion_warning():
    if HAVE_SKLEARN:
        from sklearn.exceptions import DataConversionWarning
        return DataConversionWarning
    return UserWarning

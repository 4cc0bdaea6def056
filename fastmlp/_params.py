"""Every parameter fastmlp takes, and what it must be: one declarative table, checked at the edge.

The model (``MLP`` and ``MLP.fit``), the optimisers and schedules, the estimators, the data sets and the command
line all check their scalar arguments against ``CONSTRAINTS`` with :func:`check`, in the spirit of
scikit-learn's ``_parameter_constraints``: a name maps to the list of what it may be (``None`` among them when
it is optional). A value that fits none raises :class:`InvalidParameterError` naming the argument, the value
and what was expected, before any work starts. Arrays (``X``, ``y``, weights) are checked by ``_validation``.
"""
from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass

import numpy as np

from ._spec import DTYPES, HIDDEN_ACTIVATIONS, LOSSES
from .backends import CHOICES as BACKEND_CHOICES


class InvalidParameterError(ValueError, TypeError):
    """An argument outside its constraint. Both a ``ValueError`` and a ``TypeError`` (as scikit-learn's error of
    the same name), so code that catches either of them catches it."""


class _WrongKind(str):
    """An error message saying the value is not of the constraint's kind at all (not an integer, not a
    sequence...), as opposed to one of the right kind out of range: when a value meets none of several
    constraints, the message of the one whose kind it has says most."""


def short(value, limit=60) -> str:
    """``repr(value)``, cut to ``limit`` characters: what error messages quote."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


@dataclass(frozen=True)
class Integer:
    """An integer (Python's or numpy's, never a bool) ``>= low`` (and ``<= high``)."""
    low: int | None = None
    high: int | None = None

    def convert(self, name, value):
        if _is_bool(value) or not isinstance(value, numbers.Integral):
            return None, _WrongKind(f"{name} must be an integer, got {short(value)} of type {type(value).__name__}")
        value = operator.index(value)
        if self.low is not None and value < self.low:
            return None, f"{name} must be >= {self.low}, got {value}"
        if self.high is not None and value > self.high:
            return None, f"{name} must be <= {self.high}, got {value}"
        return value, None


@dataclass(frozen=True)
class Real:
    """A finite real number (any numpy real scalar too, never a bool) within ``low``/``high``; ``closed`` says
    which ends belong: ``"both"``, ``"left"``, ``"right"`` or ``"neither"``."""
    low: float | None = None
    high: float | None = None
    closed: str = "both"

    def describe(self) -> str:
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            return f"a number in {'[' if left else '('}{self.low:g}, {self.high:g}{']' if right else ')'}"
        if self.low is not None:
            return f"a finite number {'>=' if left else '>'} {self.low:g}"
        if self.high is not None:
            return f"a finite number {'<=' if right else '<'} {self.high:g}"
        return "a finite number"

    def convert(self, name, value):
        if _is_bool(value) or not isinstance(value, numbers.Real):
            return None, _WrongKind(f"{name} must be a real number, got {short(value)} of type {type(value).__name__}")
        value = float(value)
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        too_low = self.low is not None and (value < self.low if left else value <= self.low)
        too_high = self.high is not None and (value > self.high if right else value >= self.high)
        if not math.isfinite(value) or too_low or too_high:
            return None, f"{name} must be {self.describe()}, got {value!r}"
        return value, None


@dataclass(frozen=True)
class Infinity:
    """Positive infinity (``float("inf")`` or ``numpy.inf``), where it means "never" (scikit-learn's
    ``n_iter_no_change=np.inf``)."""

    def convert(self, name, value):
        if not _is_bool(value) and isinstance(value, numbers.Real) and value == math.inf:
            return math.inf, None
        return None, _WrongKind(f"{name} must be an integer >= 1 or inf, got {short(value)}")


@dataclass(frozen=True)
class Options:
    """One of a few strings."""
    values: tuple

    def convert(self, name, value):
        if isinstance(value, str) and value in self.values:
            return value, None
        message = f"{name} must be one of {', '.join(map(repr, self.values))}; got {short(value)}"
        return None, message if isinstance(value, str) else _WrongKind(message)


@dataclass(frozen=True)
class Boolean:
    """``True`` or ``False`` (numpy's too), nothing that merely converts to one."""

    def convert(self, name, value):
        if _is_bool(value):
            return bool(value), None
        return None, f"{name} must be True or False, got {short(value)}"


@dataclass(frozen=True)
class Dtype:
    """One of ``DTYPES``, by name or as a numpy dtype; converted to ``numpy.dtype``."""

    def convert(self, name, value):
        try:
            dtype = np.dtype(value)
        except TypeError:
            dtype = None
        if dtype is None or dtype.name not in DTYPES:
            return None, f"{name} must be one of {', '.join(map(repr, DTYPES))}; got {short(value)}"
        return dtype, None


@dataclass(frozen=True)
class Sizes:
    """A sequence (list, tuple or 1-D array) of at least ``min_len`` integers, each >= 1, as a list."""
    min_len: int = 2
    example: str = "[2, 2, 1]"

    def convert(self, name, value):
        if isinstance(value, np.ndarray):
            if value.ndim != 1:
                return None, (f"{name} must be a sequence (list, tuple or 1-D array) of integers such as "
                              f"{self.example}, got an array of shape {value.shape}")
            value = value.tolist()
        if not isinstance(value, (list, tuple)):
            return None, _WrongKind(f"{name} must be a sequence (list, tuple or 1-D array) of integers such as "
                                    f"{self.example}, got {short(value)}")
        if len(value) < self.min_len:
            what = "at least two entries (inputs and outputs)" if self.min_len == 2 else f"at least {self.min_len}"
            return None, f"{name} must have {what}, got {short(value)}"
        for k, n in enumerate(value):
            if _is_bool(n) or not isinstance(n, numbers.Integral):
                return None, f"{name}[{k}] must be an integer, got {short(n)} in {short(value)}"
            if n < 1:
                return None, f"{name}[{k}] must be >= 1, got {n} in {short(value)}"
        return [int(n) for n in value], None


@dataclass(frozen=True)
class Pair:
    """Two values, each meeting ``item``: ``(a, b)``."""
    item: object

    def convert(self, name, value):
        if not (isinstance(value, (tuple, list, np.ndarray)) and len(value) == 2):
            return None, f"{name} must be a pair ({name}[0], {name}[1]), got {short(value)}"
        out = []
        for k, v in enumerate(value):
            v, error = self.item.convert(f"{name}[{k}]", v)
            if error:
                return None, error
            out.append(v)
        return tuple(out), None


@dataclass(frozen=True)
class Instance:
    """An instance of one of ``types`` (the optimiser and schedule objects)."""
    types: tuple
    what: str

    def convert(self, name, value):
        if isinstance(value, self.types):
            return value, None
        return None, f"{name} must be {self.what}, got {short(value)}"


@dataclass(frozen=True)
class Function:
    """A callable (taken as it is; what it is called with is the parameter's documentation)."""
    signature: str

    def convert(self, name, value):
        if callable(value):
            return value, None
        return None, _WrongKind(f"{name} must be callable as {self.signature}, got {short(value)}")


POSITIVE = Real(0.0, None, closed="neither")
NON_NEGATIVE = Real(0.0, None, closed="left")
UNIT_OPEN = Real(0.0, 1.0, closed="neither")       # (0, 1)
COUNT = Integer(1)

# name -> what it may be (None: may be None). One entry per meaning: a name used by several callers means the
# same everywhere, except where a caller's own entry below says otherwise (the estimators' scikit-learn names).
CONSTRAINTS = {
    # the network (MLP)
    "layer_sizes": [Sizes()],
    "activation": [Options(HIDDEN_ACTIVATIONS)],
    "loss": [Options(LOSSES)],
    "dtype": [Dtype()],
    "seed": [None, Integer(0)],
    # the data and the loop (MLP.fit)
    "epochs": [COUNT],
    "lr": [POSITIVE],
    "batch_size": [COUNT],
    "shuffle": [Boolean()],
    "chunk_rows": [None, COUNT],
    "progress": [Boolean()],
    "backend": [None, Options(BACKEND_CHOICES)],
    "threads": [None, COUNT],
    "validation_fraction": [None, UNIT_OPEN],
    # data-parallel training (fastmlp.distributed)
    "partitions": [None, COUNT],
    "sync_every": [COUNT, Options(("epoch",))],
    "workers": [COUNT],
    # optimisers (fastmlp.optim)
    "momentum": [Real(0.0, 1.0, closed="left")],
    "nesterov": [Boolean()],
    "betas": [Pair(Real(0.0, 1.0, closed="left"))],
    "eps": [POSITIVE],
    "weight_decay": [NON_NEGATIVE],
    "l2": [NON_NEGATIVE],
    # schedules and stopping (fastmlp.schedule)
    "power_t": [NON_NEGATIVE],
    "tol": [NON_NEGATIVE],
    "n_iter_no_change": [None, COUNT],
    "wtol": [None, POSITIVE],
    "restore_best": [Boolean()],
    "score": [None, Function("score(model, X_val, y_val) -> float")],
    # data sets (fastmlp.datasets) and the command line
    "n": [Integer(0)],
    "rows": [COUNT],
    "start": [Integer(0)],
    "noise": [NON_NEGATIVE],
    "task": [Options(("regression", "binary", "multiclass"))],
    "generator": [Options(("teacher",))],
}

# The estimators' scikit-learn names (fastmlp.estimators), and where scikit-learn's meaning of a shared name is
# wider than MLP.fit's.
ESTIMATOR_CONSTRAINTS = {
    "loss": [Options(("squared_error", "poisson"))],            # the regressor's
    "hidden_layer_sizes": [Integer(1), Sizes(min_len=0, example="(100,)")],
    "activation": [Options(("identity", "logistic", "sigmoid", "tanh", "relu"))],
    "solver": [Options(("lbfgs", "sgd", "adam"))],
    "alpha": [NON_NEGATIVE],
    "batch_size": [COUNT, Options(("auto",))],
    "learning_rate": [Options(("constant", "invscaling", "adaptive"))],
    "learning_rate_init": [POSITIVE],
    "power_t": CONSTRAINTS["power_t"],
    "max_iter": [COUNT],
    "shuffle": [Boolean()],
    "tol": CONSTRAINTS["tol"],
    "verbose": [Boolean(), Integer(0)],
    "warm_start": [Boolean()],
    "momentum": [Real(0.0, 1.0)],
    "nesterovs_momentum": [Boolean()],
    "early_stopping": [Boolean()],
    "validation_fraction": [UNIT_OPEN],
    "beta_1": [Real(0.0, 1.0, closed="left")],
    "beta_2": [Real(0.0, 1.0, closed="left")],
    "epsilon": [POSITIVE],
    "n_iter_no_change": [COUNT, Infinity()],
    "max_fun": [COUNT],
    "backend": [Options(BACKEND_CHOICES)],
    "dtype": [None, Dtype()],          # None: float32 for float32 X, float64 for anything else
}


def check(name, value, constraints=None, *, label=None):
    """``value`` converted by the first of ``name``'s constraints it meets (``CONSTRAINTS[name]`` unless
    ``constraints`` is given); else :class:`InvalidParameterError` with the message of the first one.

    ``label`` is the name the message uses (``"--lr"`` on the command line), ``name`` by default.
    """
    allowed = CONSTRAINTS[name] if constraints is None else constraints
    label = name if label is None else label
    errors = []
    for constraint in allowed:
        if constraint is None:
            if value is None:
                return None
            continue
        converted, error = constraint.convert(label, value)
        if error is None:
            return converted
        errors.append(error)
    # the message of a constraint whose kind the value has (out of its range), else the first one's
    right_kind = [error for error in errors if not isinstance(error, _WrongKind)]
    raise InvalidParameterError(str((right_kind or errors)[0]))

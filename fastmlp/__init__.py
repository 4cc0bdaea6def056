"""fastmlp: multi-layer perceptrons trained by backpropagation, with a Numba-compiled per-sample loop.

Three paths compute the same training (``docs/contract.md``): ``"reference"`` (alias ``"python"``), the readable one;
``"numba"``, the compiled per-sample loop; ``"numpy"``, mini-batches through matrix products.
``MLPRegressor`` and ``MLPClassifier`` (``fastmlp.estimators``) are scikit-learn estimators around ``MLP``.
"""
from . import datasets, optim, schedule
from ._params import InvalidParameterError
from .io import load
from .model import MLP, DivergenceError, History

__version__ = "0.1.0"

__all__ = ["MLP", "MLPClassifier", "MLPRegressor", "History", "DivergenceError", "InvalidParameterError",
           "datasets", "optim", "schedule", "load", "__version__"]


def __getattr__(name):
    # The estimators import scikit-learn when it is installed (about half a second): only when asked for.
    if name in ("MLPRegressor", "MLPClassifier"):
        from . import estimators
        return getattr(estimators, name)
    raise AttributeError(f"module 'fastmlp' has no attribute {name!r}")

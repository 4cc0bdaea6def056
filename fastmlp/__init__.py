"""fastmlp: multi-layer perceptrons trained by backpropagation, with a Numba-compiled per-sample loop.

Three paths compute the same training (``docs/contract.md``): ``"python"``, the readable reference;
``"numba"``, the compiled per-sample loop; ``"numpy"``, mini-batches through matrix products.
"""
from . import datasets
from .io import load
from .model import MLP, DivergenceError, History

__version__ = "0.1.0"

__all__ = ["MLP", "History", "DivergenceError", "datasets", "load", "__version__"]

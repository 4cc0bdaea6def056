"""A hidden activation and its derivative on one value, by integer code (``fastmlp._spec.ACTIVATIONS``): the
maths both compiled paths branch on (``numpy/_fused.py``, ``numba/kernels.py``), written once.

``zero`` and ``one`` are in the values' dtype, so float32 stays float32. ``softmax`` (a whole layer's, not one
value's) is not here: both give it 1 as ``f'``, its delta being taken with the loss. ``exp`` (the Poisson loss's
output activation) is here, though its delta too is taken with the loss; so is that loss's term for one output.
"""
import math

from .._spec import ACTIVATIONS
from ._numba_config import jit
from ._vmath import vexp, vsigmoid, vtanh

RELU, SIGMOID, TANH, EXP = (ACTIVATIONS.index(a) for a in ("relu", "sigmoid", "tanh", "exp"))


@jit
def f(z, act, zero, one):
    """``f(z)`` of an elementwise activation (identity for every other code)."""
    if act == RELU:
        return z if z > zero else zero
    if act == TANH:
        return vtanh(z)
    if act == SIGMOID:
        return vsigmoid(z)
    if act == EXP:
        return vexp(z)
    return z


@jit
def fprime(a, act, zero, one):
    """``f'(z)`` written with ``a = f(z)`` (1 for identity and every other code)."""
    if act == RELU:
        return one if a > zero else zero
    if act == TANH:
        return one - a * a
    if act == SIGMOID:
        return a * (one - a)
    if act == EXP:
        return a
    return one


@jit
def poisson_term(a, z, y):
    """One output's share of the Poisson loss, ``exp(z) - y z + y log y - y`` with ``a = exp(z)``
    (``reference._poisson_loss``), in float64."""
    y = float(y)
    return float(a) - y * float(z) + (y * math.log(y) if y > 0.0 else 0.0) - y

"""The network's description, shared by every path: names, integer codes and the parameter layout.

Activations and losses are named once here; each path looks their maths up by name (or by the integer
code below, which is what compiled kernels receive). See ``docs/contract.md`` for the definitions.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

# Codes are positions in these tuples; kernels receive the codes, never the names.
ACTIVATIONS = ("identity", "relu", "sigmoid", "tanh", "softmax", "exp")
HIDDEN_ACTIVATIONS = ACTIVATIONS[:4]
LOSSES = ("mse", "log_loss", "cross_entropy", "poisson")

# The output activation each loss implies; mse takes any hidden activation, identity by default. softmax and exp
# are output activations only, each with its loss (the log link of the Poisson loss).
LOSS_OUTPUT_ACTIVATION = {"mse": "identity", "log_loss": "sigmoid", "cross_entropy": "softmax", "poisson": "exp"}

DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class NetSpec:
    """What a path needs to know about a network, besides its parameters.

    Parameters
    ----------
    layer_sizes : tuple of int
        ``(n0, n1, ..., nL)``: inputs, hidden layers, outputs.
    activation : str
        Hidden activation, one of ``HIDDEN_ACTIVATIONS``.
    output_activation : str
        Activation of the last layer (follows the loss, see ``LOSS_OUTPUT_ACTIVATION``).
    loss : str
        One of ``LOSSES``.
    """

    layer_sizes: tuple
    activation: str
    output_activation: str
    loss: str

    @property
    def n_layers(self) -> int:
        """L, the number of weight layers."""
        return len(self.layer_sizes) - 1

    @property
    def n_inputs(self) -> int:
        return self.layer_sizes[0]

    @property
    def n_outputs(self) -> int:
        return self.layer_sizes[-1]

    def layer_activation(self, l: int) -> str:
        """Activation applied to ``z_{l+1}`` (layer ``l`` is 0-based; the last one is the output)."""
        return self.output_activation if l == self.n_layers - 1 else self.activation

    @cached_property
    def offsets(self) -> tuple:
        """``((w_start, b_start, b_stop), ...)`` per layer: where ``W[l]`` and ``b[l]`` sit in ``params``.

        The layout is the contract's: ``W[0], b[0], W[1], b[1], ...``, each ``W`` row-major.
        """
        out, pos = [], 0
        for n_in, n_out in zip(self.layer_sizes[:-1], self.layer_sizes[1:]):
            w_start = pos
            b_start = w_start + n_in * n_out
            pos = b_start + n_out
            out.append((w_start, b_start, pos))
        return tuple(out)

    @property
    def n_params(self) -> int:
        return self.offsets[-1][2]

    @property
    def shapes(self) -> tuple:
        """``((n_l, n_{l+1}), ...)``: the shape of ``W[l]`` for each layer."""
        return tuple(zip(self.layer_sizes[:-1], self.layer_sizes[1:]))

    def split(self, params) -> tuple:
        """``(W, b)``: lists of ``W[l]`` (shape ``(n_l, n_{l+1})``) and ``b[l]``, views of the flat ``params``.

        The one place that reads the contract's layout (``offsets``); ``join`` is its inverse.
        """
        W = [params[w0:b0].reshape(shape) for (w0, b0, _), shape in zip(self.offsets, self.shapes)]
        b = [params[b0:b1] for (_, b0, b1) in self.offsets]
        return W, b

    def join(self, W, b, dtype=np.float64) -> np.ndarray:
        """The flat vector of ``dtype`` in the contract's layout from per-layer ``W[l]`` and ``b[l]`` (arrays or
        nested lists of the shapes ``split`` gives)."""
        params = np.empty(self.n_params, dtype)
        for (w0, b0, b1), W_l, b_l in zip(self.offsets, W, b):
            params[w0:b0] = np.asarray(W_l).reshape(-1)
            params[b0:b1] = np.asarray(b_l).reshape(-1)
        return params

    def locate(self, q: int) -> str:
        """The name of ``params[q]``: ``"W[l][i, j]"`` or ``"b[l][j]"`` (for messages that say what differs)."""
        for l, ((w0, b0, b1), (_, n_out)) in enumerate(zip(self.offsets, self.shapes)):
            if q < b0:
                i, j = divmod(q - w0, n_out)
                return f"W[{l}][{i}, {j}]"
            if q < b1:
                return f"b[{l}][{q - b0}]"
        raise IndexError(f"params has {self.n_params} entries, not {q + 1}")

    @property
    def key(self) -> str:
        """A short stable name, used to key generated kernels."""
        sizes = "-".join(str(n) for n in self.layer_sizes)
        return f"{sizes}_{self.activation}_{self.output_activation}_{self.loss}"

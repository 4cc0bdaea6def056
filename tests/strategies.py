"""Hypothesis strategies for random networks of every activation x loss."""
from hypothesis import strategies as st

from fastmlp._spec import HIDDEN_ACTIVATIONS, LOSSES
from fastmlp._validation import make_spec

# (loss, output activation) pairs: mse takes every elementwise activation at the output
LOSS_OUTPUTS = [("mse", a) for a in HIDDEN_ACTIVATIONS] + [("log_loss", None), ("cross_entropy", None),
                                                          ("poisson", None)]


@st.composite
def specs(draw, max_width=64, max_hidden=3, max_outputs=4):
    n_hidden = draw(st.integers(1, max_hidden))
    hidden = draw(st.lists(st.integers(1, max_width), min_size=n_hidden, max_size=n_hidden))
    loss, out_act = draw(st.sampled_from(LOSS_OUTPUTS))
    n_out = draw(st.integers(2 if loss == "cross_entropy" else 1, max_outputs))
    n_in = draw(st.integers(1, max_width))
    activation = draw(st.sampled_from(HIDDEN_ACTIVATIONS))
    return make_spec([n_in, *hidden, n_out], activation, loss, out_act)


assert set(l for l, _ in LOSS_OUTPUTS) == set(LOSSES)

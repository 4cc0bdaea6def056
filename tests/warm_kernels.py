"""What ``tests/conftest.py`` runs beside the suite, at a lower priority, on the second core: ``fastmlp compile``'s
fixed kernels, then the generated kernels of the tiny network the equivalence suite trains with every activation
and loss (``test_equivalence.ACTIVATION_LOSS``, scalar style: one compiled module per pair), each reached through
the path the tests call, with the argument types they pass. Whatever it has not reached when a test needs it, the
test compiles, as it would without it; on a warm cache it loads everything in about a second."""
import numpy as np
from test_equivalence import ACTIVATION_LOSS, SHAPES

from fastmlp import _precompile, backends
from fastmlp._validation import make_spec

from conftest import make_data

_precompile.run(say=None)
path = backends.get("numba")
rng = np.random.default_rng(0)
for style, activation, loss, out_act in ACTIVATION_LOSS:
    if style == "scalar":
        spec = make_spec(SHAPES[style], activation, loss, out_act)
        X, Y = make_data(spec, 4, rng)
        for batch_size in (1, 3):           # the module's per-sample kernel, then its batch kernel
            p = rng.uniform(-0.1, 0.1, spec.n_params)
            path.train_epoch(spec, p, X, Y, np.arange(4), 0.01, batch_size, path.prepare(spec, p.dtype, batch_size))

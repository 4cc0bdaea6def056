"""Built-in synthetic data sets, reproducible from a seed."""
from __future__ import annotations

import numpy as np

from ._validation import check_int


def placement(n=1000, seed=0):
    """The seed's story as data: IQ and CGPA of placed students -> salary.

    Generating rule, with ``rng = numpy.random.default_rng(seed)``, drawn in this order::

        iq     ~ Normal(100, 15), clipped to [55, 145]
        cgpa   ~ Uniform(5, 10)
        salary = 2 + 4 * iq / 100 + 6 * cgpa / 10 + Normal(0, 0.5)   (lakh per annum)

    Returned scaled so that the seed network ``[2, 2, 1]`` (identity, mse) trains with per-sample SGD at a
    plain learning rate such as 0.01: ``X = [iq / 100, cgpa / 10]``, ``y = salary / 10``. The relation is
    linear, so that network can reach the noise floor, a mean squared error of ``0.05 ** 2 = 0.0025``.

    Parameters
    ----------
    n : int >= 1
        Number of students.
    seed : int
        Seed of the generator.

    Returns
    -------
    X : ndarray of shape (n, 2), float64
    y : ndarray of shape (n,), float64
    """
    n = check_int("n", n, minimum=1)
    check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    iq = np.clip(rng.normal(100.0, 15.0, n), 55.0, 145.0)
    cgpa = rng.uniform(5.0, 10.0, n)
    salary = 2.0 + 4.0 * iq / 100.0 + 6.0 * cgpa / 10.0 + rng.normal(0.0, 0.5, n)
    X = np.column_stack([iq / 100.0, cgpa / 10.0])
    return X, salary / 10.0

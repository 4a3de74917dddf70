"""Dense reference computations for linear mixed models, independent of sklmixed's blocks.

Everything here forms the full matrices (Z, Λ, V, the augmented cross-product matrix) and
uses plain numpy/scipy dense linear algebra, so it is only for small designs.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy import stats

from sklmixed.blocks import BlockedSparse, UniformBlockDiagonal


def model_Z_Lambda(m):
    """``Z`` (n x q) and ``Λ`` (q x q) of a LinearMixedModel at its current θ, from its terms."""
    Z = np.hstack([r.z_matrix().toarray() for r in m.reterms])
    Lam = scipy.linalg.block_diag(*[np.kron(np.eye(r.nlev), r.lambda_) for r in m.reterms])
    return Z, Lam


def augmented_matrix(ZL, X, y, w=None):
    """``[[Λ'Z'WZΛ + I, Λ'Z'WX, Λ'Z'Wy], [X'WZΛ, X'WX, X'Wy], [y'WZΛ, y'WX, y'Wy]]``."""
    n = len(y)
    w = np.ones(n) if w is None else np.asarray(w, dtype=float)
    B = np.column_stack([ZL, X, y])
    M = B.T @ (w[:, None] * B)
    q = ZL.shape[1]
    M[:q, :q] += np.eye(q)
    return M


def block_to_dense(blk, lower_only=False):
    if isinstance(blk, (UniformBlockDiagonal, BlockedSparse)):
        out = blk.toarray()
    elif sp.issparse(blk):
        out = blk.toarray()
    else:
        out = np.array(blk)
    return np.tril(out) if lower_only else out


def assemble(blocks):
    """A full dense lower-triangular matrix from a packed list of lower blocks."""
    rows = []
    k1 = len(blocks)
    sizes = [block_to_dense(blocks[i][i]).shape[0] for i in range(k1)]
    for i in range(k1):
        row = []
        for j in range(k1):
            if j < i:
                row.append(block_to_dense(blocks[i][j]))
            elif j == i:
                row.append(block_to_dense(blocks[i][i], lower_only=True))
            else:
                row.append(np.zeros((sizes[i], sizes[j])))
        rows.append(row)
    return np.block(rows)


def lambda_from_theta(S, theta, correlated=True):
    """λ (S x S) from θ: the column-major lower triangle, or the diagonal when uncorrelated."""
    lam = np.zeros((S, S))
    theta = np.asarray(theta, dtype=float)
    if correlated:
        k = 0
        for col in range(S):
            for row in range(col, S):
                lam[row, col] = theta[k]
                k += 1
        assert k == len(theta)
    else:
        assert len(theta) == S
        lam[np.arange(S), np.arange(S)] = theta
    return lam


def gls(y, X, V):
    """GLS estimate β̂ and the weighted residual sum of squares ``r' V⁻¹ r``."""
    cf = scipy.linalg.cho_factor(V, lower=True)
    p = X.shape[1]
    if p:
        XtVX = X.T @ scipy.linalg.cho_solve(cf, X)
        beta = np.linalg.solve(XtVX, X.T @ scipy.linalg.cho_solve(cf, y))
    else:
        XtVX, beta = np.zeros((0, 0)), np.zeros(0)
    r = y - X @ beta
    return beta, float(r @ scipy.linalg.cho_solve(cf, r)), XtVX


def profiled_criterion(y, X, V0, reml=False):
    """ML deviance or REML criterion profiled over β and σ, from the marginal density.

    ``y ~ N(Xβ, σ² V0)``. For ML this is ``-2 log N(y; Xβ̂, σ̂² V0)`` with ``σ̂² = r²/n``.
    For REML it is ``-2 log ∫ N(y; Xβ, σ² V0) dβ`` at ``σ̂² = r²/(n-p)``, i.e.
    ``-2 log N(y; Xβ̂, σ̂² V0) + log|X' V0⁻¹ X / σ̂²| - p log 2π``.

    Returns (criterion, β̂, σ̂).
    """
    n, p = X.shape
    beta, r2, XtVX = gls(y, X, V0)
    s2 = r2 / (n - p if reml else n)
    dev = -2.0 * stats.multivariate_normal.logpdf(y, mean=X @ beta, cov=s2 * V0)
    if reml and p:
        dev += np.linalg.slogdet(XtVX / s2)[1] - p * np.log(2 * np.pi)
    return float(dev), beta, float(np.sqrt(s2))

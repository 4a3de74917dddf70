"""Dense reference computations for linear mixed models, independent of sklmixed's blocks.

Everything here forms the full matrices (Z, Λ, V, the augmented cross-product matrix) and
uses plain numpy/scipy dense linear algebra, so it is only for small designs.
"""

from __future__ import annotations

import contextlib

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.special
from scipy import stats

from sklmixed.linalg.blocks import BlockedSparse, UniformBlockDiagonal


@contextlib.contextmanager
def factor_storage(mode):
    """Build models inside as ``mode`` says: ``"blocked"`` gives every factor the blocked program
    whatever its size (small test designs would otherwise be one dense array), ``"auto"`` the
    default choice."""
    from sklmixed.linalg.symbolic import use_thresholds

    if mode not in ("blocked", "auto"):
        raise ValueError(mode)
    with use_thresholds(**({"dense_order": 0} if mode == "blocked" else {})):
        yield


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
    # -2 log N(y; Xβ̂, s² V0), from a Cholesky factor (scipy's multivariate_normal.logpdf
    # decomposes the covariance by eigenvalues and, very rarely, gets this visibly wrong)
    logdet_V0 = 2.0 * np.sum(np.log(np.diag(scipy.linalg.cholesky(V0, lower=True))))
    dev = n * np.log(2 * np.pi * s2) + logdet_V0 + r2 / s2
    if reml and p:
        dev += np.linalg.slogdet(XtVX / s2)[1] - p * np.log(2 * np.pi)
    return float(dev), beta, float(np.sqrt(s2))


# ---------------------------------------------------------------------- designs from the data
def term_matrix(data, factors, cols):
    """``Z_j`` (n x S·nlev, level-major) of one random-effects term, built from the data alone.

    ``factors`` are the grouping columns (their level combinations are the levels, labelled
    ``"a:b"`` as sklmixed labels them), ``cols`` the covariates (``"1"`` for the intercept).
    Returns ``(Z, labels, S)``.
    """
    key = data[list(factors)].astype(str).agg(":".join, axis=1)
    labels, codes = np.unique(key, return_inverse=True)
    S = len(cols)
    covs = np.column_stack([np.ones(len(data)) if c == "1" else data[c].to_numpy(float) for c in cols])
    Z = np.zeros((len(data), S * len(labels)))
    for s in range(S):
        Z[np.arange(len(data)), codes * S + s] = covs[:, s]
    return Z, [str(v) for v in labels], S


def term_matrix_new(data, factors, cols, labels):
    """``Z_j`` for new data laid out on the fitting ``labels``; unseen levels get zero rows."""
    key = data[list(factors)].astype(str).agg(":".join, axis=1).to_numpy()
    pos = {lab: i for i, lab in enumerate(labels)}
    S = len(cols)
    covs = np.column_stack([np.ones(len(data)) if c == "1" else data[c].to_numpy(float) for c in cols])
    Z = np.zeros((len(data), S * len(labels)))
    for i, k in enumerate(key):
        if k in pos:
            Z[i, pos[k] * S: pos[k] * S + S] = covs[i]
    return Z


# ---------------------------------------------------------------------- generalized linear mixed models
# Inverse links and dμ/dη, and the families' variance and unit deviances (times the prior
# weights), written out here rather than taken from sklmixed.
INVERSE_LINKS = {
    "logit": (lambda e: scipy.special.expit(e), lambda e: scipy.special.expit(e) * scipy.special.expit(-e)),
    "probit": (lambda e: stats.norm.cdf(e), lambda e: stats.norm.pdf(e)),
    "cloglog": (lambda e: -np.expm1(-np.exp(e)), lambda e: np.exp(e - np.exp(e))),
    "log": (np.exp, np.exp),
    "sqrt": (np.square, lambda e: 2.0 * e),
    "identity": (lambda e: np.asarray(e, dtype=float).copy(), lambda e: np.ones_like(e, dtype=float)),
}

FAMILIES = {
    "bernoulli": (lambda mu: mu * (1 - mu),
                  lambda y, mu, wt: -2.0 * wt * np.log(np.where(y > 0.5, mu, 1 - mu))),
    "binomial": (lambda mu: mu * (1 - mu),
                 lambda y, mu, wt: 2.0 * wt * (scipy.special.xlogy(y, y / mu)
                                               + scipy.special.xlogy(1 - y, (1 - y) / (1 - mu)))),
    "poisson": (lambda mu: mu,
                lambda y, mu, wt: 2.0 * wt * (scipy.special.xlogy(y, y / mu) - (y - mu))),
}


def _penalised_mode(y, A, offset, q, family, link, wt, v0, maxiter):
    """Minimise ``Σ d_i(offset + A v) + ‖v[:q]‖²`` (the rest of ``v`` unpenalised).

    Fisher scoring with step halving on that penalised deviance, run to convergence.
    """
    inv, deta = INVERSE_LINKS[link]
    var, dev = FAMILIES[family]
    penalty = np.diag(np.r_[np.ones(q), np.zeros(A.shape[1] - q)])

    def penalised(v):
        return float(np.sum(dev(y, inv(offset + A @ v), wt)) + v[:q] @ v[:q])

    v = np.asarray(v0, dtype=float).copy()
    with np.errstate(all="ignore"):
        obj = penalised(v)
        for _ in range(maxiter):
            eta = offset + A @ v
            mu, d = inv(eta), deta(eta)
            w = var(mu)
            grad = A.T @ (wt * (y - mu) * d / w) - penalty @ v
            step = np.linalg.solve(A.T @ ((wt * d * d / w)[:, None] * A) + penalty, grad)
            t = 1.0
            while True:
                new = penalised(v + t * step)
                if new <= obj or t < 1e-12:
                    break
                t /= 2
            v = v + t * step
            obj = min(obj, new)
            if np.max(np.abs(t * step), initial=0.0) <= 1e-13 * max(1.0, np.max(np.abs(v), initial=0.0)):
                break
    return v


def laplace_deviance(y, X, ZL, beta, offset, family, link, wt, *, u0=None, maxiter=500):
    """Laplace deviance ``Σ d_i + ‖ũ‖² + log|ΛZ'WZΛ + I|`` by a dense search for the modes ũ.

    Fisher scoring with step halving on the penalised deviance ``Σ d_i(u) + ‖u‖²`` (β fixed),
    run to convergence; ``W`` holds the Fisher weights at ũ, as in PIRLS and lme4. At μ of 0
    or 1 the result is NaN (sklmixed clips μ there; the callers check).
    Returns ``(deviance, ũ, μ)``.
    """
    q = ZL.shape[1]
    u = _penalised_mode(y, ZL, X @ beta + offset, q, family, link, wt,
                        np.zeros(q) if u0 is None else u0, maxiter)
    value, mu = laplace_at(y, X, ZL, beta, offset, family, link, wt, u)
    return value, u, mu


def laplace_deviance_joint(y, X, ZL, offset, family, link, wt, beta0, *, u0=None, maxiter=500):
    """As :func:`laplace_deviance`, at the joint mode of β (not penalised) and u.

    This is what PIRLS computes when it estimates β as well (``fit(fast=True)``): the
    log-determinant is that of the random-effects block only. The search starts from
    ``beta0`` and ``u0`` (default 0). Returns ``(deviance, β̃, ũ, μ)``.
    """
    q = ZL.shape[1]
    v = _penalised_mode(y, np.hstack([ZL, X]), offset, q, family, link, wt,
                        np.r_[np.zeros(q) if u0 is None else u0, beta0], maxiter)
    u, beta = v[:q], v[q:]
    value, mu = laplace_at(y, X, ZL, beta, offset, family, link, wt, u)
    return value, beta, u, mu


def penalised_deviance(y, X, ZL, beta, offset, family, link, wt, u):
    """``Σ d_i + ‖u‖²``, the criterion whose minimiser over u (and β) PIRLS seeks."""
    inv, _ = INVERSE_LINKS[link]
    _, dev = FAMILIES[family]
    with np.errstate(all="ignore"):
        return float(np.sum(dev(y, inv(X @ beta + offset + ZL @ u), wt)) + u @ u)


def laplace_at(y, X, ZL, beta, offset, family, link, wt, u):
    """``Σ d_i + ‖u‖² + log|ΛZ'WZΛ + I|`` at the given spherical random effects ``u``; also μ."""
    inv, deta = INVERSE_LINKS[link]
    var, dev = FAMILIES[family]
    with np.errstate(all="ignore"):  # μ at 0 or 1 gives NaN: the callers check
        eta = X @ beta + offset + ZL @ u
        mu, d = inv(eta), deta(eta)
        H = ZL.T @ ((wt * d * d / var(mu))[:, None] * ZL) + np.eye(ZL.shape[1])
        return float(np.sum(dev(y, mu, wt)) + u @ u + np.linalg.slogdet(H)[1]), mu

r"""Uncertainty of predictions: conditional variances of the random effects, standard errors of
fitted values, confidence intervals at population and group level.

Given θ, the fixed effects and the spherical random effects have the joint conditional
covariance :math:`s^2 (L L^\top)^{-1}`, where :math:`L` is the blocked Cholesky factor of

.. math::

    \begin{bmatrix}\Lambda^\top Z^\top W Z\Lambda + I & \Lambda^\top Z^\top W X\\
    X^\top W Z \Lambda & X^\top W X\end{bmatrix}

(:math:`s = \sigma` for a linear mixed model, 1 for a GLMM on the scale of the linear
predictor, whose working weights :math:`W` come from PIRLS at the estimates). A prediction
:math:`x^\top\beta + z^\top\Lambda u` is :math:`a^\top[u; \beta]` with
:math:`a = [\Lambda^\top z; x]`, so its standard error is :math:`s\,\|L^{-1}a\|`; at the
population level :math:`z = 0` and this is :math:`\sqrt{x^\top V_\beta x}`. For a linear
mixed model the factor holds :math:`\tilde X = XT` (:mod:`~sklmixed.models.standardize`),
and :math:`x` enters as :math:`T^\top x`. The uncertainty of θ itself is ignored, as in
lme4's ``predict(se.fit = TRUE)``.

The dense :math:`L` has one row per random effect and fixed effect: models with more than
``max_dense`` of them are refused.

Examples
--------
>>> from sklmixed import LinearMixedModel, load_dataset
>>> m = LinearMixedModel("reaction ~ 1 + days + (1 + days|subj)", load_dataset("sleepstudy")).fit(progress=False)
>>> round(float(fitted_se(m, random_effects=False)[0]), 3)  # the standard error of the intercept
6.632
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.linalg import solve_triangular

__all__ = ["conditional_variances", "prediction_se", "fitted_se", "predict_interval", "interval_prediction"]

MAX_DENSE = 20_000


def conditional_variances(model) -> dict[str, np.ndarray]:
    """Conditional covariance of every level's random effects, ``(nlev, S, S)`` per grouping factor."""
    model._check_fitted()
    s2 = model._vcov_scale() if getattr(model, "family", None) is not None else model.sigma ** 2
    out = {}
    for j, r in enumerate(model.reterms):
        V = model._factor.condvar_unscaled(j)
        C = s2 * np.matmul(np.matmul(r.lambda_, V), r.lambda_.T)
        out[r.name] = (C + C.transpose(0, 2, 1)) / 2
    return out


def _dense_factor(model, max_dense) -> np.ndarray:
    """``L`` without the response row, as one dense lower-triangular array."""
    f = model._factor
    sizes = list(f.sizes)
    sizes[-1] -= 1  # the last block is [X y]
    total = sum(sizes)
    if total > max_dense:
        raise ValueError(f"standard errors of predictions need a dense factor of order {total} (random and fixed "
                         f"effects), more than max_dense={max_dense}")
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    L = np.zeros((total, total))
    for i in range(f.k + 1):
        for j in range(i + 1):
            blk = f.L[i][j]
            dense = blk.toarray() if hasattr(blk, "toarray") else np.asarray(blk)
            L[offsets[i]:offsets[i + 1], offsets[j]:offsets[j + 1]] = dense[: sizes[i], : sizes[j]]
    return np.tril(L)


def prediction_se(model, X, codes=None, z=None, *, max_dense: int = MAX_DENSE) -> np.ndarray:
    """Standard errors of ``Xβ + Σ_j Z_j b_j`` for encoded rows (as :meth:`MixedModel.linear_predictor`).

    Parameters
    ----------
    model : LinearMixedModel or GeneralizedLinearMixedModel
    X : ndarray of shape (m, len(coefnames))
        Every fixed-effects column (dropped ones are ignored).
    codes : list of ndarray of int, optional
        Per term, the level of every row (-1: unseen, no random effect); None: population level.
    z : list of ndarray of shape (S, m) or None, optional
        Per term, its columns (None for an intercept-only term).
    """
    model._check_fitted()
    X = np.asarray(X, dtype=float)[:, model.feterm.keep]
    m = X.shape[0]
    std = getattr(model, "_std", None)
    xt = X @ std.T if std is not None else X
    blocks = []
    for j, r in enumerate(model.reterms):
        a = np.zeros((m, r.nlev, r.S))
        if codes is not None:
            c = np.asarray(codes[j], dtype=np.int64)
            zz = np.ones((1, m)) if (z is None or z[j] is None) and r.S == 1 else np.asarray(z[j], dtype=float)
            seen = np.flatnonzero(c >= 0)
            a[seen, c[seen], :] = (r.lambda_.T @ zz[:, seen]).T
        blocks.append(a.reshape(m, -1))
    A = np.column_stack(blocks + [xt])
    W = solve_triangular(_dense_factor(model, max_dense), A.T, lower=True)
    scale = model._vcov_scale()
    return np.sqrt(scale * np.sum(W * W, axis=0))


def fitted_se(model, *, random_effects: bool = True, max_dense: int = MAX_DENSE) -> np.ndarray:
    """Standard errors of the fitted values (on the linear-predictor scale for a GLMM)."""
    X = np.zeros((model.n, len(model.feterm.names)))
    X[:, model.feterm.keep] = model.feterm.X
    codes = [r.refs for r in model.reterms] if random_effects else None
    return prediction_se(model, X, codes, [r.z for r in model.reterms], max_dense=max_dense)


def predict_interval(model, data=None, level: float = 0.95, *, random_effects: bool = True,
                     new_levels: str = "population", max_dense: int = MAX_DENSE) -> pd.DataFrame:
    """Predictions with standard errors and confidence intervals for the mean response.

    Parameters
    ----------
    model : LinearMixedModel or GeneralizedLinearMixedModel
    data : pandas.DataFrame, optional
        New data; None predicts the fitting data.
    level : float, default=0.95
    random_effects : bool, default=True
        Group level (the conditional modes of seen levels, with their uncertainty) or
        population level (fixed effects only).
    new_levels : {"population", "error"}, default="population"

    Returns
    -------
    pandas.DataFrame
        ``fit``, ``se`` (on the linear-predictor scale), ``lower``, ``upper``; for a GLMM the
        fit and the interval are on the response scale (the link's inverse of the interval
        on the linear-predictor scale).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    model._check_fitted()
    if data is None:
        X = np.zeros((model.n, len(model.feterm.names)))
        X[:, model.feterm.keep] = model.feterm.X
        codes, zs = [r.refs for r in model.reterms], [r.z for r in model.reterms]
        offset = getattr(model, "offset", 0.0)
    else:
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        X = np.zeros((len(data), len(model.feterm.names)))
        X[:, model.feterm.keep] = model.feterm.new_X(data)
        codes = [r.grouping.codes(data) for r in model.reterms]
        zs = [r.new_z(data) for r in model.reterms]
        offset = 0.0
    if not random_effects:
        codes = [np.full(X.shape[0], -1) for _ in model.reterms]
    eta = model.linear_predictor(X, codes, zs, new_levels=new_levels) + offset
    se = prediction_se(model, X, codes if random_effects else None, zs, max_dense=max_dense)
    q = stats.norm.ppf((1 + level) / 2)
    lo, hi = eta - q * se, eta + q * se
    link = getattr(model, "link", None)
    if link is not None:
        eta, lo, hi = link.inverse(eta), link.inverse(lo), link.inverse(hi)
        lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)  # a decreasing link swaps the ends
    return pd.DataFrame({"fit": eta, "se": se, "lower": lo, "upper": hi})


def interval_prediction(model, data, interval, level, new_levels) -> pd.DataFrame:
    """``model.predict(data, interval=...)``: only ``"confidence"`` intervals (of the mean response)."""
    if interval != "confidence":
        raise ValueError(f"interval must be None or 'confidence', got {interval!r}")
    return predict_interval(model, data, level, new_levels=new_levels)

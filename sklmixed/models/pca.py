r"""Principal components of the random-effects covariance of every term (lme4's and MixedModels' ``rePCA``).

For a term with covariance :math:`\Sigma_j = s^2\lambda_j\lambda_j^\top` (or its correlation
matrix, ``corr=True``), the eigenvalues in decreasing order, with the proportion of the
total each explains and its cumulative sum. A term whose last components explain (nearly)
nothing is over-parameterised: the data support fewer random effects than it has, and a
simpler term (uncorrelated, or fewer columns) will fit as well.

Examples
--------
>>> from sklmixed import LinearMixedModel, load_dataset
>>> m = LinearMixedModel("reaction ~ 1 + days + (1 + days|subj)", load_dataset("sleepstudy")).fit(progress=False)
>>> repca(m)[["group", "component", "cumulative"]].round(3)
  group  component  cumulative
0  subj          1       0.541
1  subj          2       1.000
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .parameters import re_scale

__all__ = ["repca"]


def repca(model, corr: bool = True) -> pd.DataFrame:
    """Principal components of each term's random-effects covariance (or correlation) matrix.

    Parameters
    ----------
    model : LinearMixedModel or GeneralizedLinearMixedModel
        A fitted model.
    corr : bool, default=True
        Use the correlation matrix (as MixedModels' default), else the covariance matrix.

    Returns
    -------
    pandas.DataFrame
        ``group``, ``component`` (1, 2, ...), ``std_dev`` (square root of the eigenvalue),
        ``proportion``, ``cumulative``, and ``loadings`` (the eigenvector, one entry per
        column of the term).
    """
    model._check_fitted()
    scale = re_scale(model)
    rows = []
    for r in model.reterms:
        cov = scale * scale * (r.lambda_ @ r.lambda_.T)
        if corr:
            sd = np.sqrt(np.diag(cov))
            with np.errstate(invalid="ignore", divide="ignore"):
                cov = np.where(np.outer(sd, sd) > 0, cov / np.outer(sd, sd), 0.0)
            np.fill_diagonal(cov, np.where(sd > 0, 1.0, 0.0))
        values, vectors = np.linalg.eigh(cov)
        order = np.argsort(values)[::-1]
        values, vectors = np.clip(values[order], 0.0, None), vectors[:, order]
        total = values.sum()
        prop = values / total if total > 0 else np.full(len(values), np.nan)
        for k in range(r.S):
            rows.append({"group": r.name, "component": k + 1, "std_dev": float(np.sqrt(values[k])),
                         "proportion": float(prop[k]), "cumulative": float(np.cumsum(prop)[k]),
                         "loadings": dict(zip(r.cnames, vectors[:, k].round(12)))})
    return pd.DataFrame(rows)

"""Likelihood-ratio tests between nested mixed models."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["likelihood_ratio_test"]


def likelihood_ratio_test(*models) -> pd.DataFrame:
    """Compare nested models fit by maximum likelihood to the same data.

    Models are sorted by their degrees of freedom; each row after the first tests the
    model against the one above it: :math:`\\chi^2` = difference in deviance, with the
    difference in degrees of freedom. Nesting itself is not checked (as in MixedModels).

    Parameters
    ----------
    *models : LinearMixedModel or GeneralizedLinearMixedModel
        Two or more fitted models.

    Returns
    -------
    pandas.DataFrame
        Columns ``dof``, ``deviance``, ``chisq``, ``chisq_dof``, ``p``; the first row has NaN
        in the test columns.

    Examples
    --------
    >>> from sklmixed import LinearMixedModel, likelihood_ratio_test, load_dataset
    >>> pastes = load_dataset("pastes")
    >>> m1 = LinearMixedModel("strength ~ 1 + (1|batch:cask)", pastes).fit(progress=False)
    >>> m2 = LinearMixedModel("strength ~ 1 + (1|batch/cask)", pastes).fit(progress=False)
    >>> round(float(likelihood_ratio_test(m1, m2)["p"].iloc[1]), 4)
    0.5234
    """
    if len(models) < 2:
        raise ValueError("likelihood_ratio_test needs at least two models")
    for m in models:
        m._check_fitted()
        if getattr(m, "reml", False):
            raise ValueError("likelihood-ratio tests need maximum-likelihood fits; refit the models with reml=False")
    nobs = {m.nobs for m in models}
    if len(nobs) > 1:
        raise ValueError(f"the models were fit to different numbers of observations: {sorted(nobs)}")
    order = sorted(range(len(models)), key=lambda i: models[i].dof)
    rows = []
    prev = None
    for i in order:
        m = models[i]
        dev = -2 * m.loglikelihood
        row = {"model": m.formula.text, "dof": m.dof, "deviance": dev,
               "chisq": np.nan, "chisq_dof": np.nan, "p": np.nan}
        if prev is not None:
            ddof = m.dof - prev.dof
            chisq = -2 * prev.loglikelihood - dev
            row.update(chisq=chisq, chisq_dof=ddof, p=stats.chi2.sf(chisq, ddof) if ddof > 0 else np.nan)
        rows.append(row)
        prev = m
    return pd.DataFrame(rows)

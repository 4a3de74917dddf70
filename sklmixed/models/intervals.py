r"""Confidence intervals for every parameter: profile, Wald or parametric bootstrap.

* ``"profile"`` (linear mixed models): where :math:`|\zeta| \le z_{(1+\ell)/2}`
  (:mod:`~sklmixed.models.profile`); agrees with lme4's ``confint(method = "profile")``. A
  REML fit is profiled at its ML refit, as lme4 does, estimates included.
* ``"wald"``: :math:`\hat\beta_j \pm z\,\mathrm{se}_j` for the fixed effects; NaN for the
  variance parameters, as lme4 gives (their sampling distributions are far from normal).
* ``"bootstrap"``: shortest-coverage intervals of a parametric bootstrap
  (:mod:`~sklmixed.models.bootstrap`).

Rows are named as in :mod:`~sklmixed.models.parameters`.

Examples
--------
>>> from sklmixed import LinearMixedModel, load_dataset
>>> m = LinearMixedModel("yield ~ 1 + (1|batch)", load_dataset("dyestuff")).fit(progress=False)
>>> confint(m, method="wald").round(1)
                      estimate   lower   upper
(Intercept)             1527.5  1492.8  1562.2
sd_(Intercept)|batch      37.3     NaN     NaN
sigma                     49.5     NaN     NaN
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .parameters import variance_parameters

__all__ = ["confint"]

_METHODS = ("profile", "wald", "bootstrap")


def confint(model, method: str = "profile", level: float = 0.95, *, n_boot: int = 1000, random_state=None,
            n_jobs=None, progress=None) -> pd.DataFrame:
    """Confidence intervals for the fixed effects, the random effects' standard deviations and
    correlations, and σ.

    Parameters
    ----------
    model : LinearMixedModel or GeneralizedLinearMixedModel
        A fitted model (``"profile"`` needs a linear mixed model; a REML fit's profile is that of
        its maximum-likelihood refit, whose estimates fill the ``estimate`` column).
    method : {"profile", "wald", "bootstrap"}, default="profile"
    level : float, default=0.95
    n_boot, random_state, n_jobs, progress
        For ``"bootstrap"``: see :func:`~sklmixed.models.bootstrap.parametric_bootstrap`.

    Returns
    -------
    pandas.DataFrame
        Columns ``estimate``, ``lower``, ``upper``; one row per parameter.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {list(_METHODS)}, got {method!r}")
    if not (isinstance(level, (float, int)) and 0 < level < 1):
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    model._check_fitted()
    if method == "profile":
        from .profile import profile

        return profile(model).confint(level)
    if method == "bootstrap":
        from .bootstrap import parametric_bootstrap

        boot = parametric_bootstrap(model, n_boot, random_state, n_jobs=n_jobs, progress=progress)
        return boot.confint(level, method="shortest")
    z = stats.norm.ppf((1 + level) / 2)
    names = model.feterm.kept_names
    se = model.stderror()[names].to_numpy()
    out = pd.DataFrame({"estimate": model.beta, "lower": model.beta - z * se, "upper": model.beta + z * se},
                       index=names)
    variances = variance_parameters(model)
    extra = pd.DataFrame({"estimate": list(variances.values()), "lower": np.nan, "upper": np.nan},
                         index=list(variances))
    return pd.concat([out, extra])

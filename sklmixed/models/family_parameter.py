r"""The parameter of a Gamma, inverse Gaussian or negative binomial GLMM besides β and θ.

The dispersion φ of the Gamma and inverse Gaussian families, and the θ of the negative
binomial (variance :math:`\mu + \mu^2/\theta`), are estimated as lme4's ``glmer.nb``
estimates θ: the model is fit with the parameter held at a value, and the value maximising
the Laplace approximation to the log-likelihood (with every normalising constant of the
family, which depends on it) is found by Brent's method on its logarithm. Each trial fit
starts from the θ of the previous one.

The start is the Pearson estimate of φ (or the moment estimate of the negative binomial θ)
of the generalized linear model without random effects. At the end the model is left
fitted at the best value, ``family.value`` holds it, and ``optsum.family_parameter`` keeps
the path of the search.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize as sciopt

__all__ = ["fit_family_parameter", "initial_value"]


def initial_value(model) -> float:
    """The moment start: Pearson's φ of the GLM start, or the negative binomial's θ from its excess variance."""
    fam = model.family
    mu = fam.clip_mu(model.link.inverse(model.feterm.X @ model.beta_glm + model.offset))
    y, dof = model.y, max(model.n - model.feterm.rank, 1)
    if fam.has_dispersion:
        unit = fam.variance(mu) / fam.value
        return float(np.sum(model.prior * (y - mu) ** 2 / unit) / dof)
    excess = np.sum(((y - mu) ** 2 - mu) / mu ** 2) / dof
    return float(1.0 / excess) if excess > 1e-8 else 1e4


def fit_family_parameter(model, *, fast=False, nagq=1, progress=None, fitlog=False, width: float = 6.0,
                         xatol: float = 1e-4):
    """Fit ``model`` with its family parameter estimated (see the module docstring).

    Parameters
    ----------
    model : GeneralizedLinearMixedModel
        Not yet fit; its family has a ``free_parameter``.
    fast, nagq, progress, fitlog
        As in :meth:`GeneralizedLinearMixedModel.fit`, for every trial fit.
    width : float, default=6.0
        The search covers ``log(start) ± width``.
    xatol : float, default=1e-4
        Tolerance on the logarithm of the parameter (the log-likelihood is flat there: 1e-4
        moves it by about 1e-8).

    Returns
    -------
    model
    """
    fam = model.family
    start = initial_value(model)
    path, state = [], {"theta": None}

    def neg2ll(log_value):
        fam.value = float(np.exp(log_value))
        theta = state["theta"]
        model.refit(fast=fast, nagq=nagq, progress=progress, fitlog=fitlog, start=theta)
        val = -2.0 * model.loglikelihood
        state["theta"] = model.theta.copy()
        path.append((fam.value, val))
        return val

    fam.held = True
    try:
        fam.value = start
        model._fitted = True  # refit() resets what fit() would
        res = sciopt.minimize_scalar(neg2ll, bounds=(np.log(start) - width, np.log(start) + width),
                                     method="bounded", options={"xatol": xatol})
        best = float(np.exp(res.x))
        if path[-1][0] != best:
            neg2ll(res.x)
        on_edge = abs(res.x - np.log(start)) > width - 10 * xatol
    finally:
        fam.held = False
    model.optsum.family_parameter = path
    if on_edge:
        import warnings

        from ..exceptions import ConvergenceWarning

        warnings.warn(f"the estimate of the {fam.free_parameter} of the {fam.name} family ({best:.4g}) is at the edge "
                      f"of the search, exp(±{width}) times its start {start:.4g}: the data may not identify it "
                      "(a negative binomial without overdispersion, say)", ConvergenceWarning, stacklevel=3)
    return model

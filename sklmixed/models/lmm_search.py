r"""The search for θ of a linear mixed model, and the checks before it.

The optimiser sees the profiled objective without its constant
:math:`\nu \log s^2 - \sum_i \log w_i` (``s`` the response's scale, ``w`` the weights):
BOBYQA's relative tolerance would otherwise stop it at different θ for a response in
other units or weights on another scale. A start far from the θ's natural units that ends
on the boundary is tried again from the default start, and a start at which the objective
cannot even be evaluated is a clear error.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..exceptions import ConvergenceWarning, PosDefError
from ..optim import OptSummary, optimize

__all__ = ["search_theta", "second_start", "check_estimable", "check_fittable", "moment_variances"]


def search_theta(model, objective, run) -> np.ndarray:
    """Minimise ``objective`` (the constant-free objective) from ``model.optsum``; returns θ̂.

    ``optsum`` ends with the results in the objective's full units (constant added back).
    """
    os = model.optsum
    try:
        xmin, _ = optimize(objective, os, **run)
    except PosDefError as err:
        # only the initial evaluation can raise: a start far out of the θ's natural units
        raise ValueError(
            f"the objective cannot be evaluated at the starting θ = {os.initial.tolist()} ({err}). "
            f"θ is the ratio of each random effect's standard deviation to the residual one, in units "
            f"of {model.theta_scale.tolist()} here: start near 1 in those units, or rescale the data"
        ) from None
    xmin = second_start(model, objective, xmin, run)
    const = model._objective_constant(model.reml)
    os.finitial, os.fmin = os.finitial + const, os.fmin + const
    os.fitlog = [(x, f + const) for x, f in os.fitlog]
    return xmin


def second_start(model, objective, xmin, run) -> np.ndarray:
    """A fit from a far start that ends on the boundary is tried again from the default start.

    From a start far from the θ's natural units (``start=[1e3, 0, 1e3]`` on sleepstudy) BOBYQA
    can stop on the boundary at a local optimum (lme4 does, for weights scaled by 1e4: a
    deviance of 1828 for 1752). A singular fit from the default start is taken as it is.
    The better of the two searches is kept; ``optsum.feval`` counts both.
    """
    os = model.optsum
    default = model._start_theta("moments")
    if not model.issingular(xmin) or np.allclose(os.initial, default, rtol=0.5, atol=0.0):
        return xmin
    second = OptSummary(initial=default, lowerbd=os.lowerbd)
    second.copy_settings(os)
    second.xtol_abs = os.xtol_abs
    model._scale_optimizer_settings(second, tolerances=False)  # the first steps of the default start
    xmin2, fmin2 = optimize(objective, second, **run)
    first_feval = os.feval
    if fmin2 < os.fmin - os.ftol_abs:
        warnings.warn(f"the search from the starting θ = {os.initial.tolist()} stopped on the boundary at an "
                      f"objective {os.fmin - fmin2:.6g} above that of a search from the default start; the "
                      "latter is kept", ConvergenceWarning, stacklevel=4)
        os.final, os.fmin, os.returnvalue, os.fitlog = second.final, second.fmin, second.returnvalue, second.fitlog
        xmin = xmin2
    os.feval = first_feval + second.feval
    return xmin


def check_estimable(model) -> None:
    """Refuse a fit whose residual variance is 0 or cannot be told apart from the random effects.

    Both are errors in lme4: a response the fixed effects fit exactly (the deviance is
    unbounded below), and a term with at least as many random effects as there are
    observations (``(1|g)`` with one observation per level, say: its variance and the
    residual variance are not identifiable separately).
    """
    n, name = model.n, model.formula.response
    X = model._factor.Xy[:, :-1]  # centred and scaled: no cancellation, no overflow
    sw = np.ones(n) if model.weights is None else np.sqrt(model.weights)
    if X.shape[1] >= n:
        raise ValueError(f"the model has {X.shape[1]} fixed-effects coefficients for {n} observation(s): "
                         f"the fixed effects fit the response {name!r} exactly and there is nothing to fit")
    if X.shape[1]:
        A, t = X * sw[:, None], model._factor.Xy[:, -1] * sw
        resid = t - A @ np.linalg.lstsq(A, t, rcond=None)[0]
        if np.linalg.norm(resid) <= 1e-8 * np.linalg.norm(t):
            raise ValueError(f"the fixed effects fit the response {name!r} exactly (it is a linear function "
                             "of the fixed-effects columns); the residual variance is 0 and there is nothing "
                             "to fit")
    for r in model.reterms:
        if r.nranef >= n:
            if r.S == 1:
                what = f"the grouping factor {r.name!r} has {r.nlev} levels for {n} observations"
            else:
                what = (f"the random-effects term ({' + '.join(r.cnames)} | {r.name}) has {r.nranef} random "
                        f"effects ({r.S} for each of {r.nlev} levels) for {n} observations")
            raise ValueError(f"{what}: its variance cannot be told apart from the residual variance of a linear "
                             "mixed model (lme4: the number of levels of each grouping factor must be < the "
                             "number of observations). Remove the term, or give each level several "
                             "observations")



def check_fittable(model) -> None:
    """Refuse a constant response, then a model :func:`check_estimable` refuses (the checks before a fit)."""
    if np.ptp(model.y) == 0:
        raise ValueError(f"the response {model.formula.response!r} is constant; there is nothing to fit")
    check_estimable(model)


def moment_variances(model):
    """The variances of the group means of ``y`` (one per term, unweighted) and of ``y``, for the start."""
    y = model.y
    v = np.array([np.var((np.bincount(r.refs, y, r.nlev) / np.bincount(r.refs, minlength=r.nlev))[r.refs], ddof=1)
                  for r in model.reterms])
    return v, np.var(y, ddof=1)

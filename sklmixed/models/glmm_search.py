r"""How a GLMM fit searches: θ alone, ``[β; θ]`` together, or the two in stages.

* :class:`FastSearch` (``fit(fast=True)``, lme4's ``nAGQ=0``) optimises θ; β comes from PIRLS.
* :class:`TwoStageSearch` (the default full fit, as lme4's ``glmer``) runs the fast search,
  then the joint search over :math:`[\beta; \theta]` from its estimates, with β measured in
  its standard errors at the fast fit, :math:`\beta = \hat\beta_{\text{fast}} + L_{XX}^{-\top} z`,
  and θ starting with steps of a tenth of its fast estimate. In those units the Laplace
  deviance is nearly spherical in β, so BOBYQA needs a few dozen evaluations where the raw
  coordinates, with the intercept strongly correlated with the other coefficients, need
  hundreds and can stop early in the flat valley.
* :class:`JointSearch` runs one joint search in the raw coordinates from the ``[β; θ]``
  start the caller put in ``optsum.initial``, as MixedModels.jl does.

:func:`choose_search` picks one. Every search ends with the model in the PIRLS state of the
point it returns, the state the optimiser saw there.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

from ..optim import OptSummary, optimize
from ..optim.driver import EVALUATION_FAILURES

__all__ = ["FastSearch", "JointSearch", "TwoStageSearch", "choose_search", "search"]


def search(model, objective, optsum, to_model, *, progress, fitlog):
    """Run the optimiser and leave ``model`` in the PIRLS state of the point it returns.

    ``to_model`` maps the optimiser's point to ``[β; θ]`` (``None``: it is θ alone). Returns
    the optimiser's point and the objective there.
    """
    seen = {}
    nth = model.ntheta
    pirls = model._pirls

    def tracked(x):
        # keep the PIRLS state of the best and the last point, so the fit ends in the state the
        # optimiser saw (fast fits warm-start β, so a fresh evaluation could differ or fail)
        val = objective(x)
        state = (x.tobytes(), val, pirls.state())
        seen["last"] = state
        if "best" not in seen or val <= seen["best"][1]:
            seen["best"] = state
        return val

    xmin, fmin = optimize(tracked, optsum, progress=progress, fitlog=fitlog, rectify=model._rectify)

    def theta(x):
        return x[len(x) - nth:] if to_model is None else to_model(x)[len(x) - nth:]

    model._install_theta(theta(xmin))
    state = next((st for st in (seen.get("best"), seen.get("last")) if st and st[0] == xmin.tobytes()),
                 seen["best"])
    if state[0] != xmin.tobytes():  # the optimiser moved (rectified): evaluate there if we can
        try:
            val = objective(xmin)
            state = (xmin.tobytes(), val, pirls.state())
        except EVALUATION_FAILURES:
            xmin = np.frombuffer(state[0])
            model._install_theta(theta(xmin))
    val = state[1]
    pirls.restore(state[2])
    pirls.laplace_update(fixed=to_model is None)  # β from PIRLS needs the fixed-effects block
    return xmin, (val if np.isfinite(val) else fmin)


class FastSearch:
    """θ alone; β estimated inside PIRLS."""

    def run(self, model, optsum, nagq, *, progress, fitlog):
        return search(model, lambda th: model.objective_at(th, nagq=nagq), optsum, None,
                      progress=progress, fitlog=fitlog)


class JointSearch:
    """``[β; θ]`` together from ``optsum.initial``, in the raw coordinates."""

    def run(self, model, optsum, nagq, *, progress, fitlog):
        p = model.feterm.rank
        return search(model, lambda x: model.objective_at(x[p:], x[:p], nagq=nagq), optsum, lambda x: x,
                      progress=progress, fitlog=fitlog)


class TwoStageSearch:
    """The fast search, then the joint one in standard-error units of β (see the module docstring).

    ``optsum`` ends up describing the joint stage (its ``initial_step`` in those units) and
    ``optsum.prefit`` the fast stage.
    """

    def run(self, model, os, nagq, *, progress, fitlog):
        p = model.feterm.rank
        prefit = OptSummary(initial=os.initial, lowerbd=os.lowerbd)
        prefit.copy_settings(os)
        prefit.initial_step = os.initial_step.copy()
        theta_f, _ = FastSearch().run(model, prefit, 1, progress=progress, fitlog=fitlog)
        beta_f = model.beta.copy()  # the search left the model in the state at theta_f
        # T T' = (L_XX L_XX')^{-1}, the unscaled covariance of β at the fast fit
        T = solve_triangular(model._factor.fixed_block(), np.eye(p), lower=True, trans="T")
        scale = model.theta_scale
        joint = OptSummary(initial=np.concatenate([np.zeros(p), theta_f]),
                           lowerbd=np.concatenate([np.full(p, -np.inf), model.theta_lowerbd]))
        joint.copy_settings(os)
        xtol_theta = np.broadcast_to(np.atleast_1d(np.asarray(os.xtol_abs, dtype=float)), theta_f.shape)
        joint.xtol_abs = np.concatenate([np.full(p, 1e-10), xtol_theta])
        joint.initial_step = np.concatenate([np.ones(p), 0.1 * np.maximum(np.abs(theta_f), 0.1 * scale)])

        def to_model(x):
            return np.concatenate([beta_f + T @ x[:p], x[p:]])

        zmin, val = search(model, lambda x: model.objective_at(x[p:], beta_f + T @ x[:p], nagq=nagq), joint,
                           to_model, progress=progress, fitlog=fitlog)
        os.initial = to_model(joint.initial)
        os.lowerbd = joint.lowerbd
        os.finitial, os.feval, os.returnvalue = joint.finitial, joint.feval, joint.returnvalue
        os.nfailed = joint.nfailed
        os.initial_step, os.xtol_abs = joint.initial_step, joint.xtol_abs
        os.fitlog = [(to_model(x), f) for x, f in joint.fitlog]
        os.fit_time = prefit.fit_time + joint.fit_time
        os.prefit = prefit
        return to_model(zmin), val


def choose_search(fast: bool, optsum, p: int, ntheta: int):
    """The search a fit runs: fast for ``fast``, joint from a ``[β; θ]`` start in ``optsum.initial``,
    else two stages."""
    if fast:
        return FastSearch()
    if len(optsum.initial) == p + ntheta:
        return JointSearch()
    return TwoStageSearch()

r"""Profiled deviance of a linear mixed model, parameter by parameter, and profile intervals.

For a parameter :math:`\psi` (a fixed effect, a standard deviation or correlation of the
random effects, or σ) held at a value :math:`v`, the profiled deviance
:math:`D(v) = \min_{\text{other parameters}} -2\ell` is found by optimising over the
others, and

.. math::

    \zeta(v) = \operatorname{sign}(v - \hat\psi)\,\sqrt{D(v) - D(\hat\psi)},

which is a straight line :math:`(v - \hat\psi)/\mathrm{se}` when the likelihood is
quadratic. A profile interval at level :math:`1 - \alpha` is where
:math:`|\zeta| \le z_{1-\alpha/2}`; its ends are found by root finding on :math:`\zeta`,
not by interpolation.

For the variance parameters the deviance at :math:`(\theta, \sigma)`, with β profiled out,
is :math:`\log|L_\theta|^2 + n\log(2\pi\sigma^2) + r^2_\theta/\sigma^2 - \sum_i\log w_i`
(see :mod:`~sklmixed.models.objective`); for a fixed effect :math:`\beta_j = v` the model
without column :math:`j` is refit to :math:`y - v x_j`.

The profile of a REML fit is that of its maximum-likelihood refit, as lme4's
``profile.merMod`` (``devfun2`` calls ``refitML``): the REML criterion has no fixed effects to
profile, and lme4 users who write ``confint(lmer(...))`` get the intervals of the ML deviance
for every parameter. The estimates (ζ = 0) are then the ML ones.

Examples
--------
>>> from sklmixed import LinearMixedModel, load_dataset
>>> m = LinearMixedModel("yield ~ 1 + (1|batch)", load_dataset("dyestuff")).fit(progress=False)
>>> profile(m).confint().round(2)
                      estimate    lower    upper
(Intercept)            1527.50  1486.45  1568.55
sd_(Intercept)|batch     37.26    12.20    84.06
sigma                    49.51    38.23    67.66
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
from scipy import optimize as sciopt
from scipy import stats

from ..exceptions import ConvergenceWarning
from ..optim import OptSummary, blas_limit, optimize
from ..terms.feterm import FeTerm
from .parameters import theta_from_variance, variance_names, variance_parameters

__all__ = ["profile", "Profile"]

_TWO_PI = 2.0 * np.pi


class _Curve:
    """The profiled deviance of one parameter: ``deviance(v)``, warm-started from the nearest optimum."""

    def __init__(self, name, estimate, lower, upper, solve, x_hat):
        self.name, self.estimate, self.lower, self.upper = name, float(estimate), lower, upper
        self._solve = solve
        self.points = {self.estimate: (0.0, x_hat)}

    def zeta(self, v, dev_hat) -> float:
        v = float(v)
        if v not in self.points:
            near = min(self.points, key=lambda p: abs(p - v))
            dev, x = self._solve(v, self.points[near][1])
            z = np.sign(v - self.estimate) * np.sqrt(max(dev - dev_hat, 0.0))
            self.points[v] = (float(z), x)
        return self.points[v][0]


class Profile:
    """The ζ curves of a linear mixed model's parameters (see :func:`profile`).

    Attributes
    ----------
    table : pandas.DataFrame
        Columns ``parameter``, ``value``, ``zeta``: the points of every curve, sorted.
    estimates : pandas.Series
        The estimates (ζ = 0).
    """

    def __init__(self, curves, dev_hat, estimates, largest_dense=0):
        self._curves = {c.name: c for c in curves}
        self._dev_hat = dev_hat
        self._largest_dense = largest_dense
        self.estimates = estimates

    @property
    def table(self) -> pd.DataFrame:
        rows = [(name, v, z) for name, c in self._curves.items() for v, (z, _) in sorted(c.points.items())]
        return pd.DataFrame(rows, columns=["parameter", "value", "zeta"])

    def confint(self, level: float = 0.95) -> pd.DataFrame:
        """Profile intervals: where :math:`|\\zeta| \\le z_{(1+level)/2}`; a bound of the parameter
        (0 for a standard deviation, ±1 for a correlation) when ζ never gets there."""
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        z = stats.norm.ppf((1 + level) / 2)
        with blas_limit(self._largest_dense):  # small dense blocks: one BLAS thread, as in a fit
            rows = {name: (self._end(c, -z), self._end(c, z)) for name, c in self._curves.items()}
        out = pd.DataFrame(rows, index=["lower", "upper"]).T
        out.insert(0, "estimate", self.estimates)
        return out

    def _end(self, c: _Curve, target: float) -> float:
        side = np.sign(target)
        pts = sorted((v for v in c.points if np.sign(v - c.estimate) == side or v == c.estimate),
                     key=lambda v: abs(v - c.estimate))
        for a, b in zip(pts, pts[1:]):
            za, zb = c.points[a][0], c.points[b][0]
            if (za - target) * (zb - target) <= 0:
                # ζ itself is known to about 1e-8 (the optimiser's tolerance on the deviance)
                return float(sciopt.brentq(lambda v: c.zeta(v, self._dev_hat) - target, a, b,
                                           xtol=1e-9 * abs(b - a), rtol=1e-9))
        bound = c.upper if side > 0 else c.lower
        if pts and pts[-1] == bound:
            return float(bound)
        return np.nan  # the curve stopped short of the level


def _variance_deviance(work):
    """``D(θ, σ)`` of the working model (ML, β profiled out)."""
    n, logw = work.n, (0.0 if work.weights is None else float(np.sum(np.log(work.weights))))
    # the evaluation itself, not objective_at: on a fitted model that restores the fit afterwards
    evaluate = work._objective_function(False)

    def dev(theta, sigma):
        evaluate(np.array(theta, dtype=float))
        return float(work._factor.logdet(False) + n * np.log(_TWO_PI * sigma * sigma) + work.pwrss / sigma ** 2
                     - logw)
    return dev


def _minimise(f, x0, lower):
    os = OptSummary(initial=np.asarray(x0, dtype=float), lowerbd=np.asarray(lower, dtype=float))
    os.ftol_abs = 1e-10
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        x, fmin = optimize(f, os, progress=False, snap=False)
    return float(fmin), x


def _sigma_curve(work, dev, theta_hat, sigma_hat):
    def solve(v, theta0):
        if v <= 0:
            return np.inf, theta0
        return _minimise(lambda th: dev(th, v), theta0, work.theta_lowerbd)
    return _Curve("sigma", sigma_hat, 0.0, np.inf, solve, theta_hat)


def _variance_curve(work, dev, i, name, psi_hat, sigma_hat):
    """Standard deviation or correlation ``i`` of ``psi`` (the variance parameters without σ).

    The other correlations are optimised as ``artanh(ρ)``, unbounded, so that no point the
    optimiser tries is outside ``(-1, 1)``.
    """
    others = [k for k in range(len(psi_hat)) if k != i]
    names = variance_names(work)
    cor = np.array([names[k].startswith("cor_") for k in others])
    lower = np.concatenate([np.where(cor, -np.inf, 0.0), [0.0]])

    def f(x, v):
        psi = np.empty(len(psi_hat))
        psi[i] = v
        psi[others] = np.where(cor, np.tanh(x[:-1]), x[:-1])
        theta = theta_from_variance(work, psi, x[-1]) if x[-1] > 0 else None
        return np.inf if theta is None else dev(theta, x[-1])

    def solve(v, x0):
        return _minimise(lambda x: f(x, v), x0, lower)

    is_sd = name.startswith("sd_")
    edge = 1.0 - 1e-10  # a correlation of exactly ±1 has no Cholesky factor
    x_hat = np.concatenate([np.where(cor, np.arctanh(np.clip(psi_hat[others], -edge, edge)), psi_hat[others]),
                            [sigma_hat]])
    return _Curve(name, psi_hat[i], 0.0 if is_sd else -edge, np.inf if is_sd else edge, solve, x_hat)


def _beta_curve(model, j, theta_hat):
    X = model.feterm.X
    keep = [k for k in range(X.shape[1]) if k != j]
    names = [model.feterm.kept_names[k] for k in keep]
    cls = type(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reduced = cls.from_terms(model.y, FeTerm(X[:, keep], names), copy.deepcopy(model.reterms),
                                 weights=model.weights)
    xj = X[:, j]

    def solve(v, theta0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            reduced.refit(model.y - v * xj, reml=False, start=theta0, progress=False,
                          initial_step=0.1 * np.maximum(np.abs(theta0), 0.1 * reduced.theta_scale))
        return reduced.objective, reduced.theta.copy()
    return _Curve(model.feterm.kept_names[j], model.beta[j], -np.inf, np.inf, solve, theta_hat)


def _trace(c: _Curve, dev_hat, first_step, zeta_max, max_points=40):
    """March out from the estimate on both sides until |ζ| reaches ``zeta_max`` or a bound."""
    for side in (-1.0, 1.0):
        v, z, step = c.estimate, 0.0, first_step
        for _ in range(max_points):
            nxt = v + side * step
            bound = c.lower if side < 0 else c.upper
            if (nxt - bound) * side >= 0:
                nxt = bound if np.isfinite(bound) else nxt
            znew = c.zeta(nxt, dev_hat)
            if not np.isfinite(znew) or nxt == bound or abs(znew) >= zeta_max:
                break
            # the next point ~0.75 further in ζ, from the slope of ζ so far
            slope = abs(znew - z) / abs(nxt - v) if nxt != v and abs(znew - z) > 1e-8 else 1.0 / step
            v, z, step = nxt, znew, min(0.75 / slope, 4 * step)


def _ml_refit(model):
    """A copy of a REML fit refit by maximum likelihood (lme4's ``refitML``).

    From the start of a fresh fit, not from the REML θ as lme4: the optimiser stops within its
    tolerance of the optimum, at a point that depends on the start, and this way the profile
    is exactly that of ``fit(reml=False)``.
    """
    return copy.deepcopy(model).refit(reml=False, progress=False)


def profile(model, *, zeta_max: float = 3.0) -> Profile:
    """The ζ curves of every parameter of a linear mixed model, from its maximum-likelihood deviance.

    Parameters
    ----------
    model : LinearMixedModel
        A fitted model; it is not changed (profiles are computed on copies). A REML fit is
        refit by maximum likelihood first and profiled there (as lme4 does).
    zeta_max : float, default=3.0
        How far out the curves go (ζ from -3 to 3 covers intervals up to level 0.997).

    Returns
    -------
    Profile
    """
    model._check_fitted()
    if getattr(model, "family", None) is not None:
        raise ValueError("profiles are available for linear mixed models only; use confint(method='bootstrap') or "
                         "'wald' for a GLMM")
    if model.reml:
        model = _ml_refit(model)
    work = copy.deepcopy(model)
    dev_hat = float(model.objective)
    theta_hat, sigma_hat = model.theta.copy(), float(model.sigma)
    params = variance_parameters(model)
    psi_hat = np.array(list(params.values())[:-1])
    dev = _variance_deviance(work)
    se = model.stderror()[model.feterm.kept_names].to_numpy() * np.sqrt((model.n - model.feterm.rank) / model.n)
    curves, steps = [], []
    for j in range(model.feterm.rank):
        curves.append(_beta_curve(model, j, theta_hat))
        steps.append(0.75 * se[j])
    for i, name in enumerate(list(params)[:-1]):
        curves.append(_variance_curve(work, dev, i, name, psi_hat, sigma_hat))
        steps.append(0.1 * abs(psi_hat[i]) if name.startswith("sd_") and psi_hat[i] > 0 else 0.05)
    curves.append(_sigma_curve(work, dev, theta_hat, sigma_hat))
    steps.append(0.75 * sigma_hat / np.sqrt(2 * model.n))
    with blas_limit(work._factor.largest_dense):
        for c, step in zip(curves, steps):
            _trace(c, dev_hat, step, zeta_max)
    estimates = pd.Series({c.name: c.estimate for c in curves}, name="estimate")
    return Profile(curves, dev_hat, estimates, work._factor.largest_dense)

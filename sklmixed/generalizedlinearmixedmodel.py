r"""Generalized linear mixed-effects models: PIRLS, the Laplace approximation and AGQ."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.linalg import solve_triangular

from .blocks import PosDefError
from .cholesky import BlockedCholesky
from .data import case_weights, prepare_data, response_values
from .exceptions import ConvergenceWarning, PIRLSError, SeparationWarning
from .families import Bernoulli, binary_response, get_family
from .fixed import FeTerm
from .formula import parse_formula
from .gausshermite import gh_norm
from .glm import fit_glm, working_response_and_weights
from .mixedmodel import MixedModel
from .optimizer import blas_limit, optimize
from .optsummary import OptSummary
from .remat import build_remats

__all__ = ["GeneralizedLinearMixedModel"]


def _offset_values(offset, frame, n, keep):
    if offset is None:
        return np.zeros(n)
    if isinstance(offset, str):
        if offset not in frame.columns:
            raise ValueError(f"offset column {offset!r} is not in the data")
        off = frame[offset].to_numpy(dtype=float)
    else:
        off = np.asarray(offset, dtype=float)
        if off.ndim != 1 or len(off) != len(keep):
            raise ValueError(f"offset must have one entry per row of the data ({len(keep)}), got shape {off.shape}")
        off = off[keep]
    if not np.all(np.isfinite(off)):
        raise ValueError(f"offset has {int(np.sum(~np.isfinite(off)))} missing or non-finite values")
    return off


class GeneralizedLinearMixedModel(MixedModel):
    r"""A generalized linear mixed-effects model.

    .. math::

        (\mathcal Y \mid \mathcal B = b) \sim \mathcal D\bigl(g^{-1}(X\beta + Zb + o)\bigr),\qquad
        \mathcal B = \Lambda_\theta\,\mathcal U,\quad \mathcal U \sim \mathcal N(0, I).

    The objective is the Laplace approximation to the deviance,
    :math:`\sum_i d_i(y_i, \mu_i) + \log|L_\theta|^2 + \|\tilde u\|^2` at the conditional modes
    :math:`\tilde u` found by penalised iteratively reweighted least squares (PIRLS), or its
    adaptive Gauss-Hermite refinement for a single scalar random-effects term.

    Parameters
    ----------
    formula : str
        lme4-style formula, e.g. ``"r2 ~ 1 + anger + (1|subj) + (1|item)"``.
    data : pandas.DataFrame
    family : {"bernoulli", "binomial", "poisson"} or Family, default="bernoulli"
        ``binomial`` takes a proportion as response and the numbers of trials as ``weights``.
        A Bernoulli response may be 0/1, boolean or a two-level factor (the second level is
        the event, as in lme4).
    link : str or Link, optional
        Defaults to the canonical link (logit, log); ``probit``, ``cloglog``, ``log``,
        ``identity``, ``sqrt`` and ``inverse`` where they make sense.
    weights : str or array-like, optional
        Prior weights (numbers of trials for ``binomial``).
    offset : str or array-like, optional
        A known term added to the linear predictor.
    contrasts : dict, optional
        Coding of categorical fixed-effects columns (see :class:`LinearMixedModel`).
    missing : {"raise", "drop"}, default="raise"
        What to do with rows holding missing or non-finite values in the columns used:
        raise a ``ValueError`` naming the columns and counts, or drop the rows with a
        ``UserWarning`` that gives their number (kept in ``n_dropped``).

    Attributes
    ----------
    optsum : OptSummary
    beta : ndarray
        Fixed-effects estimates (full-rank columns).
    u : list of ndarray
        Spherical conditional modes, ``nlev x S`` per term.

    Examples
    --------
    >>> from sklmixed import GeneralizedLinearMixedModel, load_dataset
    >>> m = GeneralizedLinearMixedModel("r2 ~ 1 + anger + gender + btype + situ + (1|subj) + (1|item)",
    ...                                 load_dataset("verbagg"), family="bernoulli")
    >>> round(m.fit(fast=True, progress=False).objective, 2)
    8151.58
    """

    #: PIRLS settings: iterations, step halvings, absolute tolerance on the changes of the penalised
    #: deviance and of the Laplace value. Tighter than MixedModels' 1e-5 and more iterations: with a
    #: non-canonical link PIRLS converges only linearly; on verbagg (logit) neither costs anything.
    pirls_maxiter = 25
    pirls_maxhalf = 10
    pirls_atol = 1e-7
    #: where the next PIRLS of a fit starts: the modes of the last converged one (None: u = 0)
    _u_start = None
    _warm_start = False  # True while fit() optimises; objective_at() alone always starts from 0

    def __init__(self, formula, data, *, family="bernoulli", link=None, weights=None, offset=None,
                 contrasts=None, missing="raise"):
        self.formula = parse_formula(formula)
        self.family = get_family(family)
        self.link = self.family.make_link(link)
        extra = [c for c in (weights, offset) if isinstance(c, str)]
        frame, keep = prepare_data(self.formula, data, extra=extra, missing=missing)
        self.n_dropped = int((~keep).sum())
        self.n = n = len(frame)
        raw = response_values(self.formula, frame)
        self.response_levels = None
        if type(self.family) is Bernoulli:
            y, self.response_levels = binary_response(raw, self.formula.response)
        else:
            if isinstance(raw.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(raw):
                raise TypeError(f"the response {self.formula.response!r} must be numeric for the "
                                f"{self.family.name} family, got dtype {raw.dtype}")
            y = np.asarray(raw, dtype=float)
        self.prior = case_weights(weights, frame, n, keep)
        if self.prior is None:
            self.prior = np.ones(n)
        self.has_weights = weights is not None
        self.family.check_response(y, self.prior)
        self.y = y
        self.offset = _offset_values(offset, frame, n, keep)
        self.feterm = FeTerm(self.formula.fixed, frame, contrasts)
        self.reterms = build_remats(self.formula.bars, frame)
        X = self.feterm.X
        self.beta_glm, _ = fit_glm(X, y, self.family, self.link, self.prior, self.offset)
        self._check_estimable()
        self.beta = self.beta_glm.copy()
        self.u = [np.zeros((r.nlev, r.S)) for r in self.reterms]
        theta0 = np.concatenate([r.initial_theta for r in self.reterms])
        self._install_theta(theta0)
        self._factor = BlockedCholesky(self.reterms, np.column_stack([X, np.zeros(n)]), np.ones(n))
        self.optsum = OptSummary(initial=theta0, lowerbd=self.theta_lowerbd)
        self._scale_optimizer_settings(self.optsum)
        self.fast = False
        self.pirls_converged = True
        try:
            self._laplace_update()
        except (PosDefError, FloatingPointError) as err:
            tiny = int(np.sum(self._tiny_irls_weights()))
            raise ValueError(
                f"cannot start PIRLS from the generalized linear model of the fixed effects ({err}); "
                f"{tiny} of {n} observation(s) get (numerically) zero IRLS weight there. The data may be "
                "(quasi-)separable: the fixed effects predict the response with probability 0 or 1 (or "
                "a mean of 0); try the canonical link, fewer fixed effects, or check for separation"
            ) from None

    def _tiny_irls_weights(self) -> np.ndarray:
        """Observations whose IRLS weight at the GLM start is negligible next to the largest."""
        eta = self.feterm.X @ self.beta_glm + self.offset
        with np.errstate(all="ignore"):
            _, w, _ = working_response_and_weights(self.family, self.link, self.y, eta, self.offset, self.prior)
        w = np.where(np.isfinite(w), w, 0.0)
        return w <= 1e-10 * np.max(w, initial=0.0)

    def _check_estimable(self) -> None:
        """Refuse a response the fixed effects fit exactly (a constant response, say).

        The working response of the GLM start then lies in the span of ``X``: the
        penalised residual sum of squares is 0 at every θ and the Laplace approximation
        has nothing to approximate.
        """
        X = self.feterm.X
        name = self.formula.response
        if X.shape[1] == 0:
            return
        eta = X @ self.beta_glm + self.offset
        with np.errstate(all="ignore"):
            z, w, _ = working_response_and_weights(self.family, self.link, self.y, eta, self.offset, self.prior)
        if not (np.all(np.isfinite(z)) and np.all(np.isfinite(w))):
            return  # PIRLS reports non-finite working values itself
        sw = np.sqrt(w)
        A, t = X * sw[:, None], z * sw
        resid = t - A @ np.linalg.lstsq(A, t, rcond=None)[0]
        if np.linalg.norm(resid) <= 1e-8 * np.linalg.norm(t):
            if np.ptp(self.y) == 0:
                raise ValueError(f"the response {name!r} is constant (every value is {self.y[0]:g}): the fixed "
                                 "effects fit it exactly and there is nothing to fit")
            raise ValueError(f"the fixed effects fit the response {name!r} exactly (the generalized linear model "
                             "without random effects has zero residuals: the data are separable); there is "
                             "nothing left for random effects to explain")

    # ------------------------------------------------------------------ PIRLS
    def _eta(self, beta, u) -> np.ndarray:
        eta = self.feterm.X @ beta + self.offset
        for r, uj in zip(self.reterms, u):
            if r.scalar_intercept:  # b = λ u, one value per level
                eta += (uj[:, 0] * r.lambda_[0, 0])[r.refs]
            else:
                eta += np.einsum("sn,ns->n", r.z, (uj @ r.lambda_.T)[r.refs])
        return eta

    def _laplace_update(self, fixed: bool = True) -> float:
        """Install η and μ for the current β and u, reweight and refactor the working LMM.

        ``fixed=False`` when β is held fixed: the fixed-effects block of the factor is then
        not needed (see :meth:`BlockedCholesky.update_L`). Returns the Laplace deviance
        ``Σ dev_resid + log|L_Z|² + ‖u‖²``.
        """
        self.eta = self._eta(self.beta, self.u)
        z, w, self.mu = working_response_and_weights(self.family, self.link, self.y, self.eta, self.offset, self.prior)
        if not (np.all(np.isfinite(z)) and np.all(np.isfinite(w))):
            raise FloatingPointError("non-finite working response or weights in PIRLS")
        self._factor.Xy[:, -1] = z
        self._factor.update_A(w)
        self._factor.update_L(fixed)
        # the penalised deviance is what a PIRLS step minimises; log|L|² makes it the Laplace value
        self._pdev = (float(np.sum(self.family.dev_resid(self.y, self.mu, self.prior)))
                      + sum(float(np.sum(uj * uj)) for uj in self.u))
        return self._pdev + self._factor.logdet()

    def _trial_update(self, fixed: bool = True) -> tuple[float, float]:
        """``(Laplace deviance, penalised deviance)`` at a PIRLS trial point; ``inf`` if it is unusable.

        A full step can overshoot so far (β of a (quasi-)separable fixed effect, say) that the
        IRLS weights underflow and the working factor is singular, or the working values
        overflow: such a point is treated as worse than any other, so that PIRLS halves the step.
        """
        try:
            lap = self._laplace_update(fixed)
        except (PosDefError, FloatingPointError):
            return np.inf, np.inf
        return lap, self._pdev

    def pirls(self, vary_beta: bool = False) -> float:
        """Conditional modes of u (and, with ``vary_beta``, β) by penalised IRLS.

        Starts from ``u = 0`` or, within a fit, from the modes the last converged PIRLS found
        (from ``u = 0`` again should that start fail); each iteration solves the working LMM
        in full and halves the step while the penalised deviance ``Σ d_i + ‖u‖²`` rises; it
        stops when both that and the Laplace deviance change by no more than ``pirls_atol``.
        Returns the Laplace deviance at the modes.

        MixedModels.jl and lme4 start every evaluation afresh. For the optimiser's nearby
        points the previous modes are a far better start: Newton's method then needs about
        half the iterations, and the modes it reaches differ from a fresh start's by no more
        than the tolerance (the penalised deviance of the canonical links is convex). A
        deviance asked for outside a fit (:meth:`objective_at`) starts from 0, so that it
        depends on its arguments alone.

        Steps are judged on the penalised deviance, which they minimise, not on the Laplace
        value with its ``log|L|²`` term (as MixedModels does): that term can favour an early
        iterate and stop PIRLS short of the mode. Convergence needs the Laplace value too,
        because the penalised deviance is flat at the mode while ``log|L|²`` is not.

        Raises
        ------
        PIRLSError
            If the first iteration cannot reduce the deviance in ``pirls_maxhalf`` halvings.
        """
        start = self._u_start if self._warm_start else None
        if start is not None:
            beta = self.beta.copy()
            try:
                lap = self._pirls_from([uj.copy() for uj in start], vary_beta)
                # the mode's penalised deviance is at most that of u = 0 (at the start's β):
                # a PIRLS stuck far out (saturated μ, vanishing weights) is not taken for one
                if self.pirls_converged and self._pdev <= self._zero_u_pdev(beta):
                    return lap
            except (PIRLSError, PosDefError, FloatingPointError):
                pass
            self.beta = beta  # the modes of another θ were a bad start: start afresh
        return self._pirls_from([np.zeros_like(uj) for uj in self.u], vary_beta)

    def _zero_u_pdev(self, beta) -> float:
        """The penalised deviance at ``u = 0``: the deviance of the fixed effects alone."""
        with np.errstate(all="ignore"):
            mu = self.family.clip_mu(self.link.inverse(self.feterm.X @ beta + self.offset))
            return float(np.sum(self.family.dev_resid(self.y, mu, self.prior)))

    def _pirls_from(self, u, vary_beta: bool) -> float:
        self.u = u
        u0 = [uj.copy() for uj in self.u]
        beta0 = self.beta.copy()
        lap = self._laplace_update(vary_beta)
        obj0, lap0 = self._pdev * 1.0001, lap
        self.pirls_converged = False
        for it in range(self.pirls_maxiter):
            if vary_beta:
                self.beta = self._factor.fixef()
            self.u = self._factor.ranef_u(self.beta)
            lap, obj = self._trial_update(vary_beta)
            nhalf = 0
            while not obj <= obj0:
                nhalf += 1
                if nhalf > self.pirls_maxhalf:
                    if it == 0:
                        raise PIRLSError(f"PIRLS could not reduce the deviance in {self.pirls_maxhalf} step "
                                         "halvings; try fast=True, other starting values, or check for "
                                         "separation in the data")
                    break
                self.u = [(a + b) / 2 for a, b in zip(self.u, u0)]
                if vary_beta:
                    self.beta = (self.beta + beta0) / 2
                lap, obj = self._trial_update(vary_beta)
            if nhalf > self.pirls_maxhalf:
                self.u, self.beta = u0, beta0
                lap = self._laplace_update(vary_beta)
                break
            if abs(obj - obj0) <= self.pirls_atol and abs(lap - lap0) <= self.pirls_atol:
                self.pirls_converged = True
                self._u_start = [uj.copy() for uj in self.u]
                break
            u0 = [uj.copy() for uj in self.u]
            beta0, obj0, lap0 = self.beta.copy(), obj, lap
        return lap

    # ------------------------------------------------------------------ deviance
    def _agq_deviance(self, nagq: int) -> float:
        """Adaptive Gauss-Hermite deviance for one scalar term, around the current modes."""
        r = self.reterms[0]
        refs, nlev = r.refs, r.nlev
        uhat = self.u[0][:, 0]
        devc0 = uhat * uhat + np.bincount(refs, self.family.dev_resid(self.y, self.mu, self.prior), minlength=nlev)
        sd = 1.0 / self._factor.diagonal(0)
        fixed = self.feterm.X @ self.beta + self.offset
        zl = r.z[0] * r.lambda_[0, 0]
        mult = np.zeros(nlev)
        for zk, wk in zip(*gh_norm(nagq)):
            if zk == 0:
                mult += wk
                continue
            uk = uhat + zk * sd
            mu = self.family.clip_mu(self.link.inverse(fixed + zl * uk[refs]))
            devc = uk * uk + np.bincount(refs, self.family.dev_resid(self.y, mu, self.prior), minlength=nlev)
            mult += wk * np.exp((zk * zk + devc0 - devc) / 2)
        return float(np.sum(devc0) - 2 * (np.sum(np.log(mult)) + np.sum(np.log(sd))))

    def _deviance(self, laplace: float, nagq: int) -> float:
        return laplace if nagq == 1 else self._agq_deviance(nagq)

    def _check_nagq(self, nagq) -> int:
        if not isinstance(nagq, (int, np.integer)) or isinstance(nagq, bool) or nagq < 1:
            raise ValueError(f"nagq must be a positive integer, got {nagq!r}")
        if nagq > 1 and (len(self.reterms) != 1 or self.reterms[0].S != 1):
            raise ValueError("adaptive Gauss-Hermite quadrature (nagq > 1) needs a single scalar random-effects "
                             f"term such as (1|g); this model has {[str(r.name) + ' S=' + str(r.S) for r in self.reterms]}")
        return int(nagq)

    def objective_at(self, theta, beta=None, *, nagq: int = 1) -> float:
        """The Laplace (``nagq=1``) or AGQ deviance at θ (and β; None re-estimates β in PIRLS)."""
        self._install_theta(theta)
        if beta is None:
            lap = self.pirls(vary_beta=True)
        else:
            self.beta = np.asarray(beta, dtype=float).copy()
            lap = self.pirls(vary_beta=False)
        return self._deviance(lap, nagq)

    # ------------------------------------------------------------------ fitting
    def fit(self, *, fast=False, nagq=1, progress=None, fitlog=False):
        r"""Fit by optimising θ (``fast=True``, β inside PIRLS) or ``[β; θ]`` together.

        A full fit (``fast=False``) runs in two stages, as lme4's ``glmer`` does: first the
        fast fit, then the joint search over :math:`[\beta; \theta]` from its estimates, with
        β measured in its standard errors at the fast fit,
        :math:`\beta = \hat\beta_{\text{fast}} + L_{XX}^{-\top} z`, and θ starting with steps
        of a tenth of its fast estimate. In those units the Laplace deviance is nearly
        spherical in β, so BOBYQA needs a few dozen evaluations where the raw coordinates,
        with the intercept strongly correlated with the other coefficients, need hundreds
        and can stop early in the flat valley. ``optsum`` describes the joint stage (its
        ``initial_step`` is in those units) and ``optsum.prefit`` the fast stage. Setting
        ``optsum.initial`` to a full ``[β; θ]`` vector before fitting runs one joint search
        from there in the raw coordinates instead, as MixedModels.jl does.

        Parameters
        ----------
        fast : bool, default=False
            Optimise θ only, estimating β in PIRLS (lme4's ``nAGQ=0``).
        nagq : int, default=1
            Number of adaptive Gauss-Hermite quadrature points; 1 is the Laplace
            approximation. More than 1 needs a single scalar random-effects term.
        progress : bool or None, default=None
        fitlog : bool, default=False

        Returns
        -------
        self
        """
        if self._fitted:
            raise ValueError("this model has already been fit; use refit() to fit it again")
        nagq = self._check_nagq(nagq)
        self.fast = bool(fast)
        os = self.optsum
        os.nagq = nagq
        os.prefit = None
        self._u_start = None  # every fit starts PIRLS from u = 0: refits are repeatable
        theta0 = np.concatenate([r.initial_theta for r in self.reterms])
        p, nth = self.feterm.rank, len(theta0)
        self.beta = self.beta_glm.copy()
        kw = {"progress": progress, "fitlog": fitlog}
        with blas_limit(self._factor.largest_dense):
            if self.fast or len(os.initial) != p + nth:
                if len(os.initial) != nth:
                    os.initial, os.lowerbd = theta0, self.theta_lowerbd
                    self._scale_optimizer_settings(os)
            self._warm_start = True
            try:
                if self.fast:
                    xmin, val = self._search(lambda th: self.objective_at(th, nagq=nagq), os, None, **kw)
                elif len(os.initial) == p + nth:  # the caller's [β; θ] start: one joint search in raw coordinates
                    xmin, val = self._search(lambda x: self.objective_at(x[p:], x[:p], nagq=nagq), os,
                                             lambda x: x, **kw)
                else:
                    xmin, val = self._two_stage(os, nagq, kw)
            finally:
                self._warm_start, self._u_start = False, None
            os.final = xmin.copy()
        os.fmin = val
        if not self.pirls_converged:
            warnings.warn("PIRLS did not converge at the final parameters", ConvergenceWarning, stacklevel=2)
        if isinstance(self.family, Bernoulli):
            extreme = int(np.sum((self.mu < 1e-8) | (self.mu > 1 - 1e-8)))
            if extreme:
                warnings.warn(f"fitted probabilities numerically 0 or 1 occurred for {extreme} observation(s): the "
                              "data may be separable, and estimates on the boundary are unreliable",
                              SeparationWarning, stacklevel=2)
        self._objective = float(os.fmin)
        self._fitted = True
        return self

    def _two_stage(self, os, nagq, kw):
        """The fast fit, then the joint search in standard-error units of β (see :meth:`fit`)."""
        p = self.feterm.rank
        prefit = OptSummary(initial=os.initial, lowerbd=os.lowerbd)
        _copy_settings(os, prefit)
        prefit.initial_step = os.initial_step.copy()
        theta_f, _ = self._search(lambda th: self.objective_at(th, nagq=1), prefit, None, **kw)
        beta_f = self.beta.copy()  # _search left the model in the state at theta_f
        Lxx = self._factor.L[-1][-1][:p, :p]
        T = solve_triangular(Lxx, np.eye(p), lower=True, trans="T")  # T T' = (L_XX L_XX')^{-1}, the vcov
        scale = self.theta_scale
        joint = OptSummary(initial=np.concatenate([np.zeros(p), theta_f]),
                           lowerbd=np.concatenate([np.full(p, -np.inf), self.theta_lowerbd]))
        _copy_settings(os, joint)
        xtol_theta = np.broadcast_to(np.atleast_1d(np.asarray(os.xtol_abs, dtype=float)), theta_f.shape)
        joint.xtol_abs = np.concatenate([np.full(p, 1e-10), xtol_theta])
        joint.initial_step = np.concatenate([np.ones(p), 0.1 * np.maximum(np.abs(theta_f), 0.1 * scale)])

        def to_model(x):
            return np.concatenate([beta_f + T @ x[:p], x[p:]])

        zmin, val = self._search(lambda x: self.objective_at(x[p:], beta_f + T @ x[:p], nagq=nagq), joint,
                                 to_model, **kw)
        os.initial = to_model(joint.initial)
        os.lowerbd = joint.lowerbd
        os.finitial, os.feval, os.returnvalue = joint.finitial, joint.feval, joint.returnvalue
        os.initial_step, os.xtol_abs = joint.initial_step, joint.xtol_abs
        os.fitlog = [(to_model(x), f) for x, f in joint.fitlog]
        os.fit_time = prefit.fit_time + joint.fit_time
        os.prefit = prefit
        return to_model(zmin), val

    def _search(self, objective, optsum, to_model, *, progress, fitlog):
        """Run the optimiser and leave the model in the PIRLS state of the point it returns.

        ``to_model`` maps the optimiser's point to ``[β; θ]`` (``None``: it is θ alone).
        Returns the optimiser's point and the objective there.
        """
        seen = {}
        nth = self.ntheta

        def tracked(x):
            # keep the PIRLS state of the best and the last point, so the fit ends in the state the
            # optimiser saw (fast fits warm-start β, so a fresh evaluation could differ or fail)
            val = objective(x)
            state = (x.tobytes(), val, self.beta.copy(), [uj.copy() for uj in self.u], self.pirls_converged)
            seen["last"] = state
            if "best" not in seen or val <= seen["best"][1]:
                seen["best"] = state
            return val

        xmin, fmin = optimize(tracked, optsum, progress=progress, fitlog=fitlog, rectify=self._rectify)
        theta = lambda x: x[len(x) - nth:] if to_model is None else to_model(x)[len(x) - nth:]  # noqa: E731
        self._install_theta(theta(xmin))
        state = next((st for st in (seen.get("best"), seen.get("last")) if st and st[0] == xmin.tobytes()),
                     seen["best"])
        if state[0] != xmin.tobytes():  # the optimiser moved (rectified): evaluate there if we can
            try:
                val = objective(xmin)
                state = (xmin.tobytes(), val, self.beta.copy(), [uj.copy() for uj in self.u], self.pirls_converged)
            except (PosDefError, FloatingPointError, np.linalg.LinAlgError):
                xmin = np.frombuffer(state[0])
                self._install_theta(theta(xmin))
        _, val, self.beta, self.u, self.pirls_converged = state
        self._laplace_update(fixed=to_model is None)  # β from PIRLS needs the fixed-effects block
        return xmin, (val if np.isfinite(val) else fmin)

    def _rectify(self, x) -> np.ndarray:
        x = np.array(x, dtype=float)
        nth = self.ntheta
        self._install_theta(x[len(x) - nth:])
        self._flip_negative_columns()
        x[len(x) - nth:] = self.theta
        return x

    def refit(self, y=None, *, fast=None, nagq=None, progress=None, fitlog=False):
        """Fit again from the default start, optionally with a new response."""
        if y is not None:
            y = np.asarray(y, dtype=float)
            if y.shape != (self.n,):
                raise ValueError(f"y must have {self.n} entries, got shape {y.shape}")
            self.family.check_response(y, self.prior)
            beta_glm, _ = fit_glm(self.feterm.X, y, self.family, self.link, self.prior, self.offset)
            old = self.y, self.beta_glm
            self.y, self.beta_glm = y.copy(), beta_glm
            try:
                self._check_estimable()
            except ValueError:
                self.y, self.beta_glm = old
                raise
        theta0 = np.concatenate([r.initial_theta for r in self.reterms])
        os = self.optsum
        xtol = np.atleast_1d(np.asarray(os.xtol_abs, dtype=float))
        if len(xtol) == self.feterm.rank + len(theta0):  # a joint search's [β; θ] tolerances: keep θ's
            os.xtol_abs = xtol[len(xtol) - len(theta0):].copy()
        os.reset(theta0, self.theta_lowerbd)
        self._scale_optimizer_settings(os, tolerances=False)  # reset() clears initial_step only
        self._install_theta(theta0)
        self._fitted = False
        return self.fit(fast=self.fast if fast is None else fast, nagq=self.optsum.nagq if nagq is None else nagq,
                        progress=progress, fitlog=fitlog)

    # ------------------------------------------------------------------ results
    @property
    def objective(self) -> float:
        """The Laplace (or AGQ) approximation to the deviance at the estimates."""
        self._check_fitted()
        return self._objective

    @property
    def deviance(self) -> float:
        """Same as :attr:`objective` (MixedModels' GLMM "deviance")."""
        return self.objective

    @property
    def loglikelihood(self) -> float:
        """Log-likelihood, including the saturated-model terms the deviance omits."""
        self._check_fitted()
        const = np.sum(self.family.loglik_obs(self.y, self.mu, self.prior)
                       + self.family.dev_resid(self.y, self.mu, self.prior) / 2)
        return float(-self.objective / 2 + const)

    def _has_dispersion(self) -> bool:
        return False

    @property
    def sigma(self) -> float:
        return float("nan")

    def _u(self) -> list[np.ndarray]:
        return [uj.copy() for uj in self.u]

    def _vcov_kept(self) -> np.ndarray:
        return self._unscaled_vcov()  # no dispersion for Bernoulli, binomial and Poisson

    def fitted(self) -> np.ndarray:
        """Fitted mean response μ."""
        self._check_fitted()
        return self.mu.copy()

    def predict(self, data=None, *, type="response", new_levels="population", offset=None) -> np.ndarray:
        """Predicted mean response (``type="response"``) or linear predictor (``"link"``).

        Parameters
        ----------
        data : pandas.DataFrame, optional
            New data; ``None`` predicts the fitting data.
        type : {"response", "link"}, default="response"
        new_levels : {"population", "error"}, default="population"
            Unseen levels get a zero random effect, or raise a ``ValueError``.
        offset : array-like, optional
            Offset for the new data (default 0).
        """
        self._check_fitted()
        if type not in ("response", "link"):
            raise ValueError(f"type must be 'response' or 'link', got {type!r}")
        if data is None:
            eta = self.eta
        else:
            if not isinstance(data, pd.DataFrame):
                raise TypeError(f"data must be a pandas DataFrame, got {builtins_type(data).__name__}")
            eta = self.feterm.new_X(data) @ self.beta + self._random_part(data, new_levels)
            if offset is not None:
                off = np.asarray(offset, dtype=float)
                if off.ndim > 1 or (off.ndim == 1 and len(off) != len(data)):
                    raise ValueError(f"offset must be a number or have one entry per row of data ({len(data)}), "
                                     f"got shape {off.shape}")
                if not np.all(np.isfinite(off)):
                    raise ValueError(f"offset has {int(np.sum(~np.isfinite(off)))} missing or non-finite values")
                eta = eta + off
        return self.link.inverse(eta) if type == "response" else eta.copy()


builtins_type = type


def _copy_settings(src: OptSummary, dst: OptSummary) -> None:
    """The optimiser settings of ``src`` (not its start, steps or results) on ``dst``."""
    for name in ("optimizer", "backend", "ftol_rel", "ftol_abs", "xtol_rel", "xtol_abs", "maxfeval", "maxtime",
                 "xtol_zero_abs", "ftol_zero_abs", "nagq"):
        setattr(dst, name, getattr(src, name))

r"""Generalized linear mixed-effects models: the working LMM, PIRLS, Laplace and AGQ deviances."""

from __future__ import annotations

import builtins
import warnings

import numpy as np
import pandas as pd

from ..exceptions import ConvergenceWarning, PosDefError, SeparationWarning
from ..formula.frame import case_weights, offset_values, prepare_data, response_values
from ..formula.parse import parse_formula
from ..formula.r_terms import formula_columns, formula_offset, formula_trials
from ..formula.strict import check_policy
from ..glm.families import binomial_for_trials, get_family
from ..glm.irls import fit_glm
from ..linalg.factor import BlockedCholesky
from ..optim import OptSummary, PIRLSSettings, blas_limit
from ..optim.driver import EVALUATION_FAILURES
from ..optim.threads import one_blas_thread_during
from ..terms.dependence import check_independent
from ..terms.feterm import FeTerm
from ..terms.remat import build_remats
from .agq import agq_deviance, check_nagq
from .glmm_search import choose_search
from .glmm_start import check_glm_start, unstartable
from .mixedmodel import MixedModel, assembled_terms
from .newdata import new_offset
from .pirls import PIRLS

__all__ = ["GeneralizedLinearMixedModel"]


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
        lme4-style formula (code: see ``formula_policy``), e.g.
        ``"r2 ~ 1 + anger + (1|subj) + (1|item)"``.
    data : pandas.DataFrame or dask.dataframe.DataFrame (fit out of core: :mod:`sklmixed.outofcore`)
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
    formula_policy : {"python", "strict"}, default="python"
        **A formula is code**: formulaic evaluates its terms as Python, so ``I(...)`` or any
        call in a formula runs when the model is built. Pass only formulas you would run as
        code. ``"strict"`` accepts only column names of ``data``, numbers, the formula
        operators and the transforms of :data:`sklmixed.formula.SAFE_TRANSFORMS` applied to a
        name (:func:`sklmixed.formula.validate_formula`), and raises
        :class:`~sklmixed.exceptions.UnsafeFormulaError` otherwise: for services that take
        formulas from their users.

    Attributes
    ----------
    optsum : OptSummary
        Optimizer settings (editable before ``fit``, PIRLS's in ``optsum.pirls``) and results.
    beta : ndarray
        Fixed-effects estimates (full-rank columns).
    u : list of ndarray
        Spherical conditional modes, ``nlev x S`` per term.
    eta, mu : ndarray
        Linear predictor and mean response at the estimates.
    pirls_converged : bool
        Whether the last PIRLS run met its tolerance.

    Examples
    --------
    >>> from sklmixed import GeneralizedLinearMixedModel, load_dataset
    >>> m = GeneralizedLinearMixedModel("r2 ~ 1 + anger + gender + btype + situ + (1|subj) + (1|item)",
    ...                                 load_dataset("verbagg"), family="bernoulli")
    >>> round(m.fit(fast=True, progress=False).objective, 2)
    8151.58
    """

    @one_blas_thread_during
    def __init__(self, formula, data, *, family="bernoulli", link=None, weights=None, offset=None,
                 contrasts=None, missing="raise", formula_policy="python"):
        check_policy(formula_policy, formula, data)
        formula = parse_formula(formula)
        family = binomial_for_trials(formula, get_family(family), weights)
        family.make_link(link)  # a bad link is an error before anything is built
        extra = [c for c in (weights, offset) if isinstance(c, str)] + sorted(formula_columns(formula))
        frame, keep = prepare_data(formula, data, extra=extra, missing=missing)
        n = len(frame)
        trials = formula_trials(formula, frame)  # checked before the proportion they divide
        y, levels = family.encode_response(response_values(formula, frame), formula.response)
        weights = case_weights(weights, frame, n, keep) if trials is None else trials
        family.check_response(y, np.ones(n) if weights is None else weights)
        family.check_scale(y, np.ones(n) if weights is None else weights, formula.response)
        offset = offset_values(offset, frame, n, keep) + formula_offset(formula, frame, n)
        self._setup(formula, FeTerm.from_formula(formula.fixed, frame, contrasts), build_remats(formula.bars, frame),
                    y, family, link, weights, offset)
        self.response_levels = levels
        self.n_dropped = int((~keep).sum())

    @classmethod
    @one_blas_thread_during
    def from_terms(cls, y, feterm: FeTerm, reterms, *, family="bernoulli", link=None, weights=None, offset=None,
                   formula=None) -> GeneralizedLinearMixedModel:
        """A model of response ``y`` built from terms made elsewhere (see :meth:`LinearMixedModel.from_terms`).

        ``y`` must already be coded as the family expects (0/1 for Bernoulli).
        """
        self = cls.__new__(cls)
        formula, reterms = assembled_terms(feterm, reterms, formula, len(y))
        family = get_family(family)
        y, levels = family.encode_response(pd.Series(np.asarray(y)), formula.response)
        n = len(y)
        weights = None if weights is None else case_weights(np.asarray(weights), None, n)
        family.check_response(y, np.ones(n) if weights is None else weights)
        family.check_scale(y, np.ones(n) if weights is None else weights, formula.response)
        self._setup(formula, feterm, list(reterms), y, family, link, weights, offset_values(offset, None, n, None))
        self.response_levels = levels
        self.n_dropped = 0
        return self

    def _setup(self, formula, feterm, reterms, y, family, link, weights, offset) -> None:
        check_independent(reterms)
        self.formula, self.feterm, self.reterms = formula, feterm, reterms
        self.family = family
        self.link = family.make_link(link)
        self.n = n = len(y)
        self.has_weights = weights is not None
        self.prior = np.ones(n) if weights is None else weights
        self.y = y
        self.offset = offset
        X = feterm.X
        self.beta_glm, _ = fit_glm(X, y, family, self.link, self.prior, offset)
        check_glm_start(self)
        self._factor = BlockedCholesky(reterms, np.column_stack([X, np.zeros(n)]), np.ones(n))
        theta0 = self.initial_theta
        self._install_theta(theta0)
        self.optsum = OptSummary(initial=theta0, lowerbd=self.theta_lowerbd, pirls=PIRLSSettings())
        self._scale_optimizer_settings(self.optsum)
        self._pirls = PIRLS(self._factor, X, reterms, y, self.prior, offset, family, self.link, self.optsum.pirls,
                            self.beta_glm)
        self.fast = False
        try:
            self._pirls.laplace_update()
        except (PosDefError, FloatingPointError) as err:
            raise unstartable(self, err) from None

    # ------------------------------------------------------------------ the PIRLS state
    @property
    def beta(self) -> np.ndarray:
        """Fixed-effects estimates (full-rank columns) at the current PIRLS state."""
        return self._pirls.beta

    @beta.setter
    def beta(self, value) -> None:
        self._pirls.beta = np.asarray(value, dtype=float)

    @property
    def u(self) -> list[np.ndarray]:
        """Spherical conditional modes, ``nlev x S`` per term."""
        return self._pirls.u

    @u.setter
    def u(self, value) -> None:
        self._pirls.u = value

    @property
    def eta(self) -> np.ndarray:
        return self._pirls.eta

    @property
    def mu(self) -> np.ndarray:
        return self._pirls.mu

    @property
    def pirls_converged(self) -> bool:
        return self._pirls.converged

    def pirls(self, vary_beta: bool = False) -> float:
        """Conditional modes of u (and, with ``vary_beta``, β) at the installed θ; the Laplace
        deviance there (see :class:`~sklmixed.models.pirls.PIRLS`)."""
        self._pirls.settings = self.optsum.pirls
        return self._pirls.run(vary_beta)

    # ------------------------------------------------------------------ deviance
    def objective_at(self, theta, beta=None, *, nagq: int = 1) -> float:
        """The Laplace (``nagq=1``) or AGQ deviance at θ (and β; None re-estimates β in PIRLS).

        A fitted model gets back the state of its fit afterwards (θ, β, u, μ, the factor).
        Raises ``ValueError`` for a θ of the wrong length or not finite, and
        :class:`~sklmixed.exceptions.PIRLSError` or :class:`~sklmixed.exceptions.PosDefError`
        when PIRLS fails there.
        """
        saved = self._fit_state() if self._fitted else None
        try:
            self._install_theta(theta)
            if beta is None:
                lap = self.pirls(vary_beta=True)
            else:
                self.beta = np.asarray(beta, dtype=float).copy()
                lap = self.pirls(vary_beta=False)
            return lap if nagq == 1 else agq_deviance(self._pirls, nagq)
        finally:
            if saved is not None:
                self._restore_fit_state(saved)

    def _fit_state(self) -> tuple:
        pirls = self._pirls
        u_start = None if pirls.u_start is None else [uj.copy() for uj in pirls.u_start]
        return self.theta.copy(), pirls.state(), u_start

    def _restore_fit_state(self, saved) -> None:
        """Refactor at the fit's θ, β and u (a deterministic recomputation of the fit's last PIRLS step)."""
        theta, state, u_start = saved
        self._install_theta(theta)
        self._pirls.restore(state)
        self._pirls.laplace_update(fixed=False)
        self._pirls.converged, self._pirls.u_start = state[2], u_start

    # ------------------------------------------------------------------ fitting
    def fit(self, *, fast=False, nagq=1, progress=None, fitlog=False):
        r"""Fit by optimising θ (``fast=True``, β inside PIRLS) or ``[β; θ]`` together.

        A full fit (``fast=False``) runs in two stages, as lme4's ``glmer`` does: first the
        fast fit, then the joint search over :math:`[\beta; \theta]` from its estimates, with
        β measured in its standard errors at the fast fit (see
        :mod:`~sklmixed.models.glmm_search`). ``optsum`` describes the joint stage (its
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
        if self.family.free_parameter and not self.family.held:  # Gamma, inverse Gaussian, negative binomial
            from .family_parameter import fit_family_parameter

            return fit_family_parameter(self, fast=fast, nagq=nagq, progress=progress, fitlog=fitlog)
        nagq = check_nagq(nagq, self.reterms)
        self.fast = bool(fast)
        os = self.optsum
        os.nagq = nagq
        os.prefit = None
        pirls = self._pirls
        pirls.u_start = None  # every fit starts PIRLS from u = 0: refits are repeatable
        p, nth = self.feterm.rank, self.ntheta
        self.beta = self.beta_glm.copy()
        strategy = choose_search(self.fast, os, p, nth)
        if len(os.initial) != nth and not (len(os.initial) == p + nth and not self.fast):
            os.initial, os.lowerbd = self.initial_theta, self.theta_lowerbd
            self._scale_optimizer_settings(os)
        with blas_limit(self._factor.largest_dense):
            pirls.warm = True
            try:
                xmin, val = strategy.run(self, os, nagq, progress=progress, fitlog=fitlog)
            except EVALUATION_FAILURES as err:  # only the evaluation at the start raises
                raise ValueError(f"the objective cannot be evaluated at the starting point {os.initial.tolist()} "
                                 f"({type(err).__name__}: {err}); start θ near 1 (its unit here is "
                                 f"{self.theta_scale.tolist()}), or rescale the data") from None
            finally:
                pirls.warm, pirls.u_start = False, None
            os.final = xmin.copy()
        os.fmin = val
        if not self.pirls_converged:
            warnings.warn("PIRLS did not converge at the final parameters", ConvergenceWarning, stacklevel=2)
        extreme = self._saturated()
        if extreme:
            warnings.warn(f"{self.family.boundary_text} occurred for {extreme} observation(s): the "
                          "data may be separable, and estimates on the boundary are unreliable",
                          SeparationWarning, stacklevel=2)
        self._objective = float(os.fmin)
        self._fitted = True
        return self

    def _saturated(self) -> int:
        """How many fitted means sit on the boundary of the support (see ``Family.saturated``)."""
        return self.family.saturated(self.mu)

    def _rectify(self, x) -> np.ndarray:
        """``[β; θ]`` (or θ) with θ rectified (:meth:`MixedModel._rectify_theta`)."""
        x = np.array(x, dtype=float)
        nth = self.ntheta
        x[len(x) - nth:] = self._rectify_theta(x[len(x) - nth:])
        return x

    def refit(self, y=None, *, fast=None, nagq=None, progress=None, fitlog=False, start=None, initial_step=None):
        """Fit again from the default start (or θ ``start``, with first steps ``initial_step``),
        optionally with a new response."""
        if y is not None:
            y = np.asarray(y, dtype=float)
            if y.shape != (self.n,):
                raise ValueError(f"y must have {self.n} entries, got shape {y.shape}")
            self.family.check_response(y, self.prior)
            self.family.check_scale(y, self.prior, self.formula.response)
            beta_glm, _ = fit_glm(self.feterm.X, y, self.family, self.link, self.prior, self.offset)
            old = self.y, self.beta_glm
            self.y, self.beta_glm = y.copy(), beta_glm
            try:
                check_glm_start(self)
            except ValueError:
                self.y, self.beta_glm = old
                raise
            self._pirls.y = self.y
        theta0 = self.initial_theta if start is None else np.array(start, dtype=float)
        os = self.optsum
        xtol = np.atleast_1d(np.asarray(os.xtol_abs, dtype=float))
        if len(xtol) == self.feterm.rank + len(theta0):  # a joint search's [β; θ] tolerances: keep θ's
            os.xtol_abs = xtol[len(xtol) - len(theta0):].copy()
        os.reset(theta0, self.theta_lowerbd)
        self._scale_optimizer_settings(os, tolerances=False)  # reset() clears initial_step only
        if initial_step is not None:
            os.initial_step = np.asarray(initial_step, dtype=float).copy()
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

    @property
    def has_dispersion(self) -> bool:
        return self.family.has_dispersion

    @property
    def sigma(self) -> float:
        """The square root of the family's dispersion estimate at the fit; NaN for families without one."""
        if not self.has_dispersion:
            return float("nan")
        return float(np.sqrt(self.family.dispersion(self.y, self.mu, self.prior, self.n - self.feterm.rank)))

    def _u(self) -> list[np.ndarray]:
        return [uj.copy() for uj in self.u]

    def _vcov_scale(self) -> float:
        # a family with an estimated φ has it in its variance, hence in the working weights already;
        # a Pearson dispersion (a quasi family) scales the covariance afterwards
        return self.sigma**2 if self.has_dispersion and not self.family.free_parameter else 1.0

    @property
    def dof(self) -> int:
        """β, θ, a dispersion and any other family parameter (a negative binomial's θ)."""
        return super().dof + self.family.extra_parameters

    def summary_header(self) -> list[str]:
        from ..report.summary import stats_row

        return [f"Generalized Linear Mixed Model fit by maximum likelihood (nAGQ = {self.optsum.nagq})",
                f"  {self.formula.text}", f"  Distribution: {self.family.name}", f"  Link: {self.link.name}", "",
                stats_row(("logLik", "deviance", "AIC", "AICc", "BIC"),
                          (self.loglikelihood, self.deviance, self.aic, self.aicc, self.bic))]

    def fitted(self) -> np.ndarray:
        """Fitted mean response μ."""
        self._check_fitted()
        return self.mu.copy()

    def condvar(self) -> dict[str, np.ndarray]:
        """Conditional covariance of the random effects of each level, ``(nlev, S, S)`` per factor
        (from the working LMM at the estimates; see :mod:`~sklmixed.models.prediction`)."""
        from .prediction import conditional_variances

        return conditional_variances(self)

    def predict(self, data=None, *, type="response", new_levels="population", offset=None, interval=None,
                level=0.95):
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
        interval : {None, "confidence"}, default=None
            ``"confidence"`` returns a DataFrame of ``fit``, ``se`` (link scale), ``lower`` and
            ``upper`` on the response scale at ``level`` (without an offset for new data).
        level : float, default=0.95
        """
        self._check_fitted()
        if interval is not None:
            from .prediction import interval_prediction

            if offset is not None:
                raise ValueError("predict(interval='confidence') takes no offset for new data")
            return interval_prediction(self, data, interval, level, new_levels)
        if type not in ("response", "link"):
            raise ValueError(f"type must be 'response' or 'link', got {type!r}")
        if data is None:
            eta = self.eta
        else:
            if not isinstance(data, pd.DataFrame):
                raise TypeError(f"data must be a pandas DataFrame, got {builtins.type(data).__name__}")
            eta = self.feterm.new_X(data) @ self.beta + self._random_part(data, new_levels)
            eta = eta + new_offset(offset, len(data))
        return self.link.inverse(eta) if type == "response" else eta.copy()

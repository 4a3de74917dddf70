r"""Linear mixed-effects models fit by maximum likelihood or REML."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import PosDefError
from ..formula.frame import case_weights, prepare_data, response_values
from ..formula.parse import parse_formula
from ..formula.r_terms import refuse_in_linear_model
from ..formula.strict import check_policy
from ..linalg.factor import BlockedCholesky
from ..optim import OptSummary, blas_limit
from ..optim.threads import one_blas_thread_during
from ..terms.dependence import check_independent
from ..terms.feterm import FeTerm
from ..terms.remat import build_remats
from .lmm_search import check_fittable, moment_variances, search_theta
from .mixedmodel import MixedModel, assembled_terms
from .objective import profiled_deviance
from .standardize import Standardization

__all__ = ["LinearMixedModel"]


def _numeric_response(values, name) -> np.ndarray:
    if isinstance(values.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
    ):
        raise TypeError(f"the response {name!r} must be numeric for a linear mixed model, got dtype {values.dtype}")
    return np.asarray(values, dtype=float)


class LinearMixedModel(MixedModel):
    r"""A linear mixed-effects model.

    .. math::

        (\mathcal Y \mid \mathcal B = b) \sim \mathcal N(X\beta + Zb, \sigma^2 W^{-1}),\qquad
        \mathcal B = \Lambda_\theta\,\mathcal U,\quad \mathcal U \sim \mathcal N(0, \sigma^2 I).

    θ is estimated by minimising the profiled deviance (or REML criterion), evaluated through
    the blocked Cholesky factor :math:`L_\theta L_\theta^\top = \Lambda_\theta^\top Z^\top W Z
    \Lambda_\theta + I`; β and σ are then the conditional estimates.

    Parameters
    ----------
    formula : str
        lme4-style formula (code: see ``formula_policy``), e.g.
        ``"reaction ~ 1 + days + (1 + days | subj)"``. Random-effects
        terms: ``(1|g)``, ``(1 + x|g)``, ``(x|g)`` (implicit intercept), ``(0 + x|g)``,
        ``(1|g1/g2)`` (nested), ``(1|g1:g2)`` (interaction), ``(1 + x||g)`` (uncorrelated).
    data : pandas.DataFrame or dask.dataframe.DataFrame
        The data; never modified. A Dask DataFrame is fit out of core (:mod:`sklmixed.outofcore`).
    contrasts : dict, optional
        Coding of categorical fixed-effects columns: ``{"col": "sum"}`` and the like
        (``"treatment"``, the default, ``"sum"``, ``"helmert"``, ``"diff"``, ``"poly"``) or a
        formulaic contrasts object.
    weights : str or array-like, optional
        Case weights (a column name or an array with one entry per row).
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
        Optimizer settings (editable before ``fit``) and results.
    reterms : list of ReMat
        Random-effects terms, by decreasing number of random effects.
    feterm : FeTerm
        Fixed-effects model matrix.
    n_dropped : int
        Rows dropped for missing values (``missing="drop"``).

    Notes
    -----
    As in lme4, ``fit`` refuses a model in which a random-effects term has at least as
    many random effects as there are observations (``(1|g)`` with one observation per
    level of ``g``, say): their variance cannot be told apart from the residual variance.
    A response the fixed effects fit exactly (a constant, say) is refused too.

    Examples
    --------
    >>> from sklmixed import LinearMixedModel, load_dataset
    >>> m = LinearMixedModel("reaction ~ 1 + days + (1 + days | subj)", load_dataset("sleepstudy"))
    >>> m = m.fit(progress=False)
    >>> round(m.objective, 4)
    1751.9393
    >>> m.optsum.feval
    57
    """

    @one_blas_thread_during
    def __init__(self, formula, data, *, contrasts=None, weights=None, missing="raise", formula_policy="python"):
        check_policy(formula_policy, formula, data)
        formula = parse_formula(formula)
        refuse_in_linear_model(formula)
        frame, keep = prepare_data(formula, data, extra=[weights] if isinstance(weights, str) else [],
                                   missing=missing)
        y = _numeric_response(response_values(formula, frame), formula.response)
        self._setup(formula, FeTerm.from_formula(formula.fixed, frame, contrasts), build_remats(formula.bars, frame),
                    y, case_weights(weights, frame, len(frame), keep))
        self.n_dropped = int((~keep).sum())

    @classmethod
    @one_blas_thread_during
    def from_terms(cls, y, feterm: FeTerm, reterms, *, weights=None, formula=None) -> LinearMixedModel:
        """A model of response ``y`` built from terms made elsewhere (by the scikit-learn estimators, say).

        Parameters
        ----------
        y : array-like of shape (n,)
            The response.
        feterm : FeTerm
            The fixed-effects term.
        reterms : list of ReMat
            The random-effects terms (sorted here by decreasing number of random effects).
        weights : array-like of shape (n,), optional
            Positive case weights.
        formula : MixedFormula or str, optional
            How the model is shown in summaries; by default it is spelled out from the terms.
        """
        self = cls.__new__(cls)
        formula, reterms = assembled_terms(feterm, reterms, formula, len(y))
        y = _numeric_response(pd.Series(np.asarray(y)), formula.response)
        n = len(y)
        if weights is not None:
            weights = case_weights(np.asarray(weights), None, n)
        self._setup(formula, feterm, list(reterms), y, weights)
        self.n_dropped = 0
        return self

    def _setup(self, formula, feterm, reterms, y, weights) -> None:
        self.formula = formula
        self.n = len(y)
        self.feterm = feterm
        self.y = y
        self.weights = weights
        self.reterms = reterms
        check_independent(reterms)
        # the factor sees X and y centred and scaled (see models/standardize.py)
        self._std = Standardization.of(feterm.X, y, weights)
        self._factor = BlockedCholesky(self.reterms, np.column_stack([self._std.X(feterm.X), self._std.y(y)]), weights)
        self._sum_log_weights = None if weights is None else np.sum(np.log(weights))
        # precision weights set the unit of θ: scaling every weight by c scales the optimal θ by 1/√c
        self._weight_unit = 1.0 if weights is None else 1.0 / np.sqrt(np.mean(weights))
        theta0 = self._start_theta("moments")
        self.optsum = OptSummary(initial=theta0, lowerbd=self.theta_lowerbd)
        self._scale_optimizer_settings(self.optsum)
        self._install_theta(theta0)
        self.reml = False

    def _start_theta(self, start) -> np.ndarray:
        """The starting θ that ``start`` names (see :meth:`fit`)."""
        ones = self.initial_theta
        if isinstance(start, str):
            if start == "ones":
                return ones
            if start != "moments":
                raise ValueError(f"start must be 'moments', 'ones' or a vector of {len(ones)} θ values, got {start!r}")
            # lme4's start (mkLmerDevfun) for models of scalar intercepts, one per grouping factor:
            # θ_j² = var(group means of y)_j / (var(y) − Σ_j var(group means)_j), unweighted.
            if not all(r.scalar_intercept for r in self.reterms) or self.n < 2:
                return ones
            v, total = self._moment_variances()
            resid = total - v.sum()
            return np.sqrt(v / resid) * self._weight_unit if resid > 0 else ones
        theta = np.array(start, dtype=float).reshape(-1) if np.ndim(start) <= 1 else None
        if theta is None or len(theta) != len(ones):
            raise ValueError(f"start must have {len(ones)} θ value(s) for this model, got shape {np.shape(start)}")
        if not np.all(np.isfinite(theta)) or np.any(theta < self.theta_lowerbd):
            raise ValueError(f"start must be finite and within the lower bounds {self.theta_lowerbd.tolist()} "
                             f"(0 for the diagonal of λ), got {theta.tolist()}")
        return theta

    _moment_variances, _check_fittable = moment_variances, check_fittable  # what a model without rows replaces

    # ------------------------------------------------------------------ objective
    def _dof_denom(self, reml) -> int:
        return self.n - self.feterm.rank if reml else self.n

    def _objective_function(self, reml, *, constant=True):
        """The objective at θ for the optimiser and :meth:`objective_at`: install θ, refactor, evaluate.

        ``theta`` must be a fresh float array of the right length (the optimiser copies NLopt's
        buffer): it is kept as the point the factor holds. ``constant=False`` leaves out
        :meth:`_objective_constant`: the optimiser's relative tolerance then sees the same
        function whatever the response's scale and the weights' (a deviance shifted by
        ``n log c²`` would stop the search elsewhere).
        """
        factor, dof = self._factor, self._dof_denom(reml)
        logw, log_s2 = (self._sum_log_weights, self._log_scale2) if constant else (None, 0.0)
        shift = self._logdet_shift(reml)

        def objective(theta):
            self._factored_at = None
            try:
                with np.errstate(over="raise", invalid="raise"):
                    factor.evaluate(theta)
            except FloatingPointError as err:  # λ'Z'WZλ overflows: θ is far out of the data's scale
                raise PosDefError(f"the factor at θ = {np.asarray(theta).tolist()} overflows ({err}): θ is out of "
                                  f"scale (its natural unit here is {self.theta_scale.tolist()})") from None
            self._factored_at = theta
            return profiled_deviance(factor.logdet(reml) + shift, factor.pwrss, dof, logw, log_s2)
        return objective

    def _objective_constant(self, reml) -> float:
        """What the response's scale and the weights add to the objective: ``ν log s² − Σ log w``."""
        return self._dof_denom(reml) * self._log_scale2 - (self._sum_log_weights or 0.0)

    def _logdet_shift(self, reml) -> float:
        """``log|L_X|² − log|L_X̃|²`` for REML (``X̃ = X T``): ``−2 log|det T|``; 0 for ML."""
        return -2.0 * self._std.log_det_T if reml else 0.0

    def objective_at(self, theta, reml=None) -> float:
        """The objective (ML deviance or REML criterion) at ``theta``.

        An unfitted model keeps ``theta`` installed; a fitted one is refactored at its
        estimates afterwards, so that its θ, σ and summary are those of the fit.

        Raises
        ------
        ValueError
            If ``theta`` has the wrong length.
        PosDefError
            If the factor at ``theta`` is not positive definite (θ far out of scale).
        """
        theta = np.array(theta, dtype=float)
        self._install_theta(theta)  # checks the length
        try:
            return self._objective_function(self.reml if reml is None else bool(reml))(theta)
        finally:
            if self._fitted:  # (models pickled before _theta_hat existed hold their θ̂ in optsum.final)
                self._objective_function(self.reml)(np.array(getattr(self, "_theta_hat", self.optsum.final)))

    @property
    def objective(self) -> float:
        """The ML deviance (−2 log-likelihood) or REML criterion at the current θ."""
        return profiled_deviance(self._factor.logdet(self.reml) + self._logdet_shift(self.reml), self._factor.pwrss,
                                 self._dof_denom(self.reml), self._sum_log_weights, self._log_scale2)

    @property
    def _log_scale2(self) -> float:
        """``log s²`` of the response's scale ``s`` (``s²`` itself may overflow)."""
        return 2.0 * float(np.log(self._std.y_scale))

    # ------------------------------------------------------------------ fitting
    def fit(self, *, reml=False, start=None, progress=None, fitlog=False):
        r"""Fit the model by optimising θ.

        Parameters
        ----------
        reml : bool, default=False
            Optimise the REML criterion instead of the ML deviance.
        start : {"moments", "ones"} or array-like, optional
            Starting θ. ``None`` keeps ``optsum.initial``, which is ``"moments"`` unless changed.
            ``"moments"`` is lme4's start when every term is a scalar intercept ``(1|g)`` on its
            own grouping factor: :math:`\theta_j^2 = v_j / (s_y^2 - \sum_i v_i)` with
            :math:`v_j` the variance of the group means of :math:`y` for factor :math:`j`
            (the start of MixedModels.jl, ``"ones"``, otherwise). ``"ones"``: 1 on the diagonal
            of λ and 0 off it (λ = I), as MixedModels.jl always starts. The optimum is the same;
            the number of evaluations differs (insteval: 82 from the moments, 108 from ones).
        progress : bool or None, default=None
            Show a progress counter; ``None`` shows it on a terminal once a fit takes longer
            than a second, ``False`` never.
        fitlog : bool, default=False
            Record every evaluation in ``optsum.fitlog``.

        Returns
        -------
        self
        """
        if self._fitted:
            raise ValueError("this model has already been fit; use refit() to fit it again")
        self._check_fittable()
        self.reml = bool(reml)
        self.optsum.reml = self.reml
        if start is not None:
            self.optsum.initial = self._start_theta(start)
            self.optsum.final = self.optsum.initial.copy()
        objective = self._objective_function(self.reml, constant=False)
        run = {"progress": progress, "fitlog": fitlog, "rectify": self._rectify_theta}
        with blas_limit(self._factor.largest_dense):
            xmin = search_theta(self, objective, run)
            # the optimum is most often the point evaluated last: its factor is already in place
            factored = getattr(self, "_factored_at", None)
            if factored is None or not np.array_equal(factored, xmin):
                self.objective_at(xmin)
            else:
                self._install_theta(xmin)
        self._theta_hat = self.theta.copy()
        self._fitted = True
        return self

    def refit(self, y=None, *, reml=None, start="moments", progress=None, fitlog=False, initial_step=None):
        """Fit again from a fresh start, optionally with a new response vector.

        ``start`` is as in :meth:`fit` (the moments are those of the new response);
        ``initial_step`` sets the optimiser's first steps (a bootstrap starts at θ̂ with θ̂/10).
        """
        if y is not None:
            y = np.asarray(y, dtype=float)
            if y.shape != (self.n,):
                raise ValueError(f"y must have {self.n} entries, got shape {y.shape}")
            if not np.all(np.isfinite(y)):
                raise ValueError("y has missing or non-finite values")
            self.y = y.copy()
            self._std = Standardization.of(self.feterm.X, self.y, self.weights)
            self._factor.set_response(self._std.y(self.y), self.weights)
        theta0 = self._start_theta(start)
        self.optsum.reset(theta0)
        self._scale_optimizer_settings(self.optsum, tolerances=False)  # reset() clears initial_step only
        if initial_step is not None:
            self.optsum.initial_step = np.asarray(initial_step, dtype=float).copy()
        self._install_theta(theta0)
        self._fitted = False
        return self.fit(reml=self.reml if reml is None else reml, progress=progress, fitlog=fitlog)

    # ------------------------------------------------------------------ estimates
    @property
    def beta(self) -> np.ndarray:
        """Fixed-effects estimates of the full-rank columns (conditional on θ)."""
        return self._std.beta(self._factor.fixef())

    @property
    def pwrss(self) -> float:
        """Penalised weighted residual sum of squares at the conditional estimates."""
        with np.errstate(over="ignore"):  # inf for a response beyond 1e154: σ is still finite
            return float(np.float64(self._std.y_scale) ** 2 * self._factor.pwrss)

    @property
    def sigma(self) -> float:
        """Residual standard deviation σ̂."""
        return float(self._std.y_scale * np.sqrt(self._factor.pwrss / self._dof_denom(self.reml)))

    @property
    def has_dispersion(self) -> bool:
        return True

    def _u(self) -> list[np.ndarray]:
        return [self._std.y_scale * u for u in self._factor.ranef_u(self._factor.fixef())]

    def _unscaled_vcov(self) -> np.ndarray:
        return self._std.vcov(super()._unscaled_vcov())

    @property
    def theta_scale(self) -> np.ndarray:
        """Natural unit of every θ entry: 1 for unit-scale covariates and weights (see
        :attr:`MixedModel.theta_scale`), over the square root of the mean precision weight."""
        return super().theta_scale * self._weight_unit

    def _vcov_scale(self) -> float:
        with np.errstate(over="ignore"):
            return float(np.float64(self.sigma) ** 2)

    def _se_scale(self) -> float:
        return self.sigma

    @property
    def loglikelihood(self) -> float:
        """Log-likelihood at the estimates (the REML log-likelihood for REML fits)."""
        self._check_fitted()
        return -self.objective / 2

    def condvar(self) -> dict[str, np.ndarray]:
        """Conditional covariance of the random effects of each level, ``(nlev, S, S)`` per factor."""
        self._check_fitted()
        s2 = self.sigma**2
        out = {}
        for j, r in enumerate(self.reterms):
            V = self._factor.condvar_unscaled(j)
            C = s2 * np.matmul(np.matmul(r.lambda_, V), r.lambda_.T)
            out[r.name] = (C + C.transpose(0, 2, 1)) / 2  # symmetric to the last bit, whatever the rounding
        return out

    def fitted(self) -> np.ndarray:
        """Fitted values ``Xβ + Zb``."""
        self._check_fitted()
        return self.feterm.X @ self.beta + self._linear_predictor_re()

    def residuals(self) -> np.ndarray:
        """Response minus fitted values."""
        return self.y - self.fitted()

    def predict(self, data=None, *, new_levels="population", interval=None, level=0.95):
        """Predictions ``Xβ + Zb`` for new data.

        Parameters
        ----------
        data : pandas.DataFrame, optional
            New data with the fixed-effects and grouping columns (the response is not
            needed). ``None`` returns the fitted values.
        new_levels : {"population", "error"}, default="population"
            Levels not seen in fitting get a zero random effect (the population value) or
            raise a ``ValueError``.
        interval : {None, "confidence"}, default=None
            ``"confidence"``: a DataFrame of ``fit``, ``se``, ``lower``, ``upper`` at ``level`` (0.95)
            (see :func:`~sklmixed.models.prediction.predict_interval`).
        """
        self._check_fitted()
        if interval is not None:
            from .prediction import interval_prediction
            return interval_prediction(self, data, interval, level, new_levels)
        if data is None:
            return self.fitted()
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        return self.feterm.new_X(data) @ self.beta + self._random_part(data, new_levels)

    # ------------------------------------------------------------------ reports
    def summary_header(self) -> list[str]:
        from ..report.summary import stats_row

        how = "REML" if self.reml else "maximum likelihood"
        lines = [f"Linear mixed model fit by {how}", f" {self.formula.text}"]
        if self.reml:
            lines.append(f" REML criterion at convergence: {self.objective:.4f}")
        else:
            lines.append(stats_row(("logLik", "-2 logLik", "AIC", "AICc", "BIC"),
                                   (self.loglikelihood, -2 * self.loglikelihood, self.aic, self.aicc, self.bic)))
        return lines

    def within_level_estimates(self, j: int, b: np.ndarray):
        """Per-level least-squares coefficients of term ``j``'s columns, and the fixed effects they vary around.

        The response is the partial response of the term: the data less the fitted values,
        plus the term's own random contribution ``b`` and the fixed effects of its columns.
        For ``reaction ~ 1 + days + (1 + days | subj)`` these are the per-subject straight-line
        fits of reaction on days; levels with too few observations give NaN.
        """
        r = self.reterms[j]
        coef = self.coef()
        beta = np.array([float(coef[c]) if c in coef.index and np.isfinite(coef[c]) else 0.0 for c in r.cnames])
        z = r.z  # S x n
        own = np.einsum("sn,ns->n", z, b[r.refs])
        partial = self.residuals() + own + z.T @ beta
        sw = np.ones(self.nobs) if self.weights is None else np.sqrt(self.weights)
        est = np.full((r.nlev, r.S), np.nan)
        for lev in range(r.nlev):  # a plot's worth of small fits, not a hot path
            rows = np.flatnonzero(r.refs == lev)
            A = z[:, rows].T * sw[rows, None]
            if len(rows) < r.S or np.linalg.matrix_rank(A) < r.S:
                continue
            est[lev] = np.linalg.lstsq(A, partial[rows] * sw[rows], rcond=None)[0]
        return est, beta


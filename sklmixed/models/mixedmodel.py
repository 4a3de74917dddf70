"""What linear and generalized linear mixed models share: terms, θ, estimates, tables.

:class:`MixedModel` is abstract: a model supplies its objective, its residual scale, its
conditional modes, its log-likelihood, its fitted values and the header of its summary;
everything else (θ and λ, fixed and random effects, variance components, information
criteria, predictions for new data) is written once here.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod

import numpy as np
import pandas as pd
from scipy import stats
from scipy.linalg import solve_triangular

from ..exceptions import ConvergenceWarning, NotFittedError
from ..formula.parse import MixedFormula
from ..formula.partitioned import is_dask_frame
from .newdata import random_terms
from .parameters import re_scale

__all__ = ["MixedModel", "NotFittedError", "describe_terms", "assembled_terms"]

_NEW_LEVELS = ("population", "error")


def describe_terms(feterm, reterms, response: str) -> MixedFormula:
    """A formula that spells out terms built without one (for summaries)."""
    fixed = " + ".join(["1" if n == "(Intercept)" else n for n in feterm.names]) or "0"
    if feterm.names and feterm.names[0] != "(Intercept)":
        fixed = "0 + " + fixed
    bars = []
    for r in reterms:
        cols = ["1" if c == "(Intercept)" else c for c in r.cnames]
        bar = "|" if r.free[np.tril_indices(r.S, -1)].all() else "||"
        bars.append(f"({' + '.join(cols)} {bar} {r.name})")
    return MixedFormula(f"{response} ~ {' + '.join([fixed] + bars)}", response, fixed, ())


def assembled_terms(feterm, reterms, formula, n: int):
    """The formula to show and the terms sorted as models keep them, for a model built from terms.

    The random-effects terms are sorted by decreasing number of random effects (ties keep
    their order), as :func:`~sklmixed.terms.build_remats` sorts them; ``formula`` (a
    ``MixedFormula`` or text) defaults to one spelled out from the terms.
    """
    if feterm.X.shape[0] != n or any(len(r.refs) != n for r in reterms):
        raise ValueError(f"the terms have {feterm.X.shape[0]} rows and the response {n}")
    reterms = sorted(reterms, key=lambda r: -r.nranef)
    formula = describe_terms(feterm, reterms, "y") if formula is None else formula
    if not isinstance(formula, MixedFormula):
        formula = MixedFormula(str(formula), "y", "", ())
    return formula, reterms


def check_new_levels(new_levels) -> str:
    """Validate the ``new_levels`` option of predictions."""
    if new_levels not in _NEW_LEVELS:
        raise ValueError(f"new_levels must be 'population' or 'error', got {new_levels!r}")
    return new_levels


class MixedModel(ABC):
    """Base class: random-effects terms ``reterms``, fixed-effects term ``feterm``, the factor, ``optsum``.

    Subclasses set ``formula``, ``feterm``, ``reterms``, ``n``, ``_factor`` and ``optsum``
    when they are built, and supply the abstract members below.
    """

    _fitted = False

    def __new__(cls, *args, **kwargs):
        # a model of a Dask DataFrame is fit out of core, by a subclass that holds no rows
        data = args[1] if len(args) > 1 else kwargs.get("data")
        if is_dask_frame(data):
            from ..outofcore import partitioned_class

            cls = partitioned_class(cls)
        return super().__new__(cls)

    # ------------------------------------------------------------------ supplied by each model
    @property
    @abstractmethod
    def objective(self) -> float:
        """The criterion the fit minimises, at the current parameters."""

    @property
    @abstractmethod
    def sigma(self) -> float:
        """The residual scale (NaN for families without one)."""

    @property
    @abstractmethod
    def has_dispersion(self) -> bool:
        """Whether the model estimates a residual scale (a parameter counted in ``dof``)."""

    @property
    @abstractmethod
    def loglikelihood(self) -> float:
        """Log-likelihood at the estimates."""

    @abstractmethod
    def _u(self) -> list[np.ndarray]:
        """Spherical conditional modes, ``nlev x S`` per term."""

    @abstractmethod
    def _vcov_scale(self) -> float:
        """The factor turning ``(L_XX L_XX')⁻¹`` into the covariance of β̂ (σ² for an LMM)."""

    @abstractmethod
    def fitted(self) -> np.ndarray:
        """Fitted values at the estimates."""

    @abstractmethod
    def summary_header(self) -> list[str]:
        """The lines that open the model's summary: what was fit, how, and the fit statistics."""

    def within_level_estimates(self, j: int, b: np.ndarray):
        """Per-level least-squares estimates of term ``j``'s coefficients (shrinkage plots)."""
        raise NotImplementedError(f"shrinkage plots compare per-level least-squares fits with the mixed model and "
                                  f"are available for linear mixed models only, not a {type(self).__name__}")

    # ------------------------------------------------------------------ parameters
    @property
    def theta(self) -> np.ndarray:
        """Relative covariance parameters: each term's free λ entries, column-major."""
        if not self.reterms:
            return np.zeros(0)
        return np.concatenate([r.theta for r in self.reterms])

    def _install_theta(self, theta) -> None:
        theta = np.asarray(theta, dtype=float)
        if not np.all(np.isfinite(theta)):
            raise ValueError(f"theta must be finite, got {theta.tolist()}")
        self._factor.install_theta(theta)

    @property
    def ntheta(self) -> int:
        return sum(r.ntheta for r in self.reterms)

    @property
    def lambda_(self) -> list[np.ndarray]:
        """The λ template of every random-effects term."""
        return [r.lambda_.copy() for r in self.reterms]

    @property
    def theta_scale(self) -> np.ndarray:
        """Natural unit of every θ entry: 1, unless a random-effects covariate is on a huge or tiny
        scale (see :attr:`ReMat.column_scale`)."""
        return np.concatenate([r.theta_scale for r in self.reterms]) if self.reterms else np.zeros(0)

    @property
    def initial_theta(self) -> np.ndarray:
        """θ with λ the identity (in the units of :attr:`theta_scale`), as MixedModels.jl starts."""
        if not self.reterms:
            return np.zeros(0)
        diagonal = np.concatenate([r.theta_rows == r.theta_cols for r in self.reterms])
        return np.where(diagonal, self.theta_scale, 0.0)

    def _scale_optimizer_settings(self, optsum, beta_start=None, *, tolerances=True) -> None:
        """Scale the optimiser's first steps (and, with ``tolerances``, ``xtol_abs``) to :attr:`theta_scale`.

        Leaves ``optsum`` alone when every unit is 1 (NLopt then picks the first steps). The
        steps are NLopt's own defaults in those units: 0.75 of a start on a bound, 1 unit for
        an off-diagonal entry; ``beta_start`` gives the β entries that come first for a
        GLMM fit of ``[β; θ]`` (NLopt's default step there: the start itself, or 1 at 0).
        """
        scale = self.theta_scale
        if np.all(scale == 1.0):
            return
        bounded = np.isfinite(self.theta_lowerbd)
        steps = np.where(bounded, 0.75, 1.0) * scale
        xtol = np.full(len(scale), 1e-10) * scale
        if beta_start is not None:
            beta_start = np.asarray(beta_start, dtype=float)
            steps = np.concatenate([np.where(beta_start != 0, np.abs(beta_start), 1.0), steps])
            xtol = np.concatenate([np.full(len(beta_start), 1e-10), xtol])
        optsum.initial_step = steps
        if tolerances:
            optsum.xtol_abs = xtol

    @property
    def theta_lowerbd(self) -> np.ndarray:
        return np.concatenate([r.lowerbd for r in self.reterms]) if self.reterms else np.zeros(0)

    def _rectify_theta(self, theta) -> np.ndarray:
        """θ with λ columns of negative diagonal flipped (:meth:`ReMat.rectify`): same ΛΛ', within bounds."""
        self._install_theta(theta)
        for r in self.reterms:
            r.rectify()
        return self.theta

    def _unscaled_vcov(self) -> np.ndarray:
        """``(L_XX L_XX')⁻¹`` from the fixed-effects block of the factor."""
        p = self.feterm.rank
        if self._factor.fixed_singular:
            warnings.warn("the fixed-effects block of the working model is singular at the estimates (the "
                          "data may be separable): standard errors of the fixed effects are not available",
                          ConvergenceWarning, stacklevel=4)
            return np.full((p, p), np.nan)
        Linv = solve_triangular(self._factor.fixed_block(), np.eye(p), lower=True)
        return Linv.T @ Linv

    def _vcov_kept(self) -> np.ndarray:
        with np.errstate(over="ignore"):
            return self._vcov_scale() * self._unscaled_vcov()

    def _se_scale(self) -> float:
        """The square root of :meth:`_vcov_scale`, for standard errors."""
        return float(np.sqrt(self._vcov_scale()))

    def issingular(self, theta=None, *, atol: float = 0.0, rtol: float | None = None) -> bool:
        """True when a θ bounded at 0 is (approximately) 0: a singular covariance matrix."""
        theta = self.theta if theta is None else np.asarray(theta, dtype=float)
        if rtol is None:
            rtol = 0.0 if atol > 0 else np.sqrt(np.finfo(float).eps)
        lb = self.theta_lowerbd
        bounded = np.isfinite(lb)
        return bool(np.any(np.abs(theta[bounded] - lb[bounded]) <= atol + rtol * np.abs(lb[bounded])))

    def _check_fitted(self) -> None:
        if not self._fitted:
            raise NotFittedError(f"this {type(self).__name__} has not been fit yet; call fit() first")

    # ------------------------------------------------------------------ fixed effects
    @property
    def coefnames(self) -> list[str]:
        """Names of all fixed-effects columns, dropped ones included."""
        return list(self.feterm.names)

    def fixef(self) -> pd.Series:
        """Fixed-effects estimates of the full-rank columns."""
        self._check_fitted()
        return pd.Series(self.beta, index=self.feterm.kept_names, name="fixef")

    def coef(self) -> pd.Series:
        """Fixed-effects estimates of every column; NaN for columns dropped as collinear."""
        self._check_fitted()
        out = pd.Series(np.nan, index=self.feterm.names, name="coef")
        out.iloc[self.feterm.keep] = self.beta
        return out

    def _expand(self, values, fill=np.nan):
        full = np.full(len(self.feterm.names), fill)
        full[self.feterm.keep] = values
        return full

    def stderror(self) -> pd.Series:
        """Standard errors of the fixed effects (NaN for dropped columns)."""
        self._check_fitted()
        se = self._se_scale() * np.sqrt(np.diag(self._unscaled_vcov()))  # σ² may overflow where σ does not
        return pd.Series(self._expand(se), index=self.feterm.names, name="stderror")

    def vcov(self, corr: bool = False) -> pd.DataFrame:
        """Covariance (or correlation) matrix of the fixed-effects estimates."""
        self._check_fitted()
        V = self._vcov_kept()
        if corr:
            s = np.sqrt(np.diag(V))
            V = V / np.outer(s, s)
        p = len(self.feterm.names)
        full = np.full((p, p), np.nan)
        full[np.ix_(self.feterm.keep, self.feterm.keep)] = V
        return pd.DataFrame(full, index=self.feterm.names, columns=self.feterm.names)

    def coef_table(self) -> pd.DataFrame:
        """Wald table of the fixed effects: estimate, standard error, z and p."""
        self._check_fitted()
        est, se = self.coef().to_numpy(), self.stderror().to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            z = est / se
        p = 2 * stats.norm.sf(np.abs(z))
        return pd.DataFrame({"coef": est, "std_error": se, "z": z, "p": p}, index=self.feterm.names)

    # ------------------------------------------------------------------ random effects
    def _b(self) -> list[np.ndarray]:
        """Conditional modes of b (nlev x S per term)."""
        return [u @ r.lambda_.T for u, r in zip(self._u(), self.reterms)]

    def ranef(self, uscale: bool = False) -> dict[str, pd.DataFrame]:
        """Conditional modes of the random effects, one level-labelled DataFrame per factor.

        Parameters
        ----------
        uscale : bool, default=False
            Return the spherical modes ``u`` instead of ``b = Λu``.
        """
        self._check_fitted()
        vals = self._u() if uscale else self._b()
        return {
            r.name: pd.DataFrame(v, index=pd.Index(r.grouping.labels, name=r.name), columns=r.cnames)
            for r, v in zip(self.reterms, vals)
        }

    def _linear_predictor_re(self) -> np.ndarray:
        eta = np.zeros(self.nobs)
        for r, b in zip(self.reterms, self._b()):
            eta += np.einsum("sn,ns->n", r.z, b[r.refs])
        return eta

    def linear_predictor(self, X, codes, z=None, *, new_levels="population") -> np.ndarray:
        """The linear predictor ``Xβ + Σ_j Z_j b_j`` for new data already encoded.

        Parameters
        ----------
        X : ndarray of shape (m, len(coefnames))
            Every fixed-effects column (those dropped as collinear are ignored).
        codes : list of ndarray of int
            Per random-effects term (in ``reterms`` order), the level of every row; -1 for a
            level not seen in fitting (or a missing label).
        z : list of ndarray of shape (S, m) or None, optional
            Per term, its columns for the new rows; None (or a None entry) for an intercept-only
            term.
        new_levels : {"population", "error"}, default="population"
            Rows of unseen levels get a zero random effect (the population value) or raise.
        """
        self._check_fitted()
        X = np.asarray(X, dtype=float)
        eta = X[:, self.feterm.keep] @ self.beta
        z = [None] * len(self.reterms) if z is None else list(z)
        return eta + self._re_part(list(codes), z, check_new_levels(new_levels), len(eta))

    def _re_part(self, codes, zs, new_levels, m, describe=None) -> np.ndarray:
        """``Σ_j Z_j b_j`` over the terms for rows at levels ``codes`` with columns ``zs``.

        ``describe(j, unseen)`` words the rows of unseen levels of term ``j`` for the error.
        """
        out = np.zeros(m)
        for j, (r, b, c, z) in enumerate(zip(self.reterms, self._b(), codes, zs)):
            c = np.asarray(c, dtype=np.int64)
            unseen = c < 0
            if unseen.any() and new_levels == "error":
                what = describe(j, unseen) if describe else ""
                raise ValueError(f"{int(unseen.sum())} row(s) have levels of {r.name!r} not seen in fitting{what}; "
                                 "use new_levels='population' to predict them at the population level")
            bb = np.where(unseen[:, None], 0.0, b[np.maximum(c, 0)])
            out += bb[:, 0] if z is None and r.S == 1 else np.einsum("sn,ns->n", z, bb)
        return out

    def _random_part(self, data: pd.DataFrame, new_levels: str) -> np.ndarray:
        """``Σ_j Z_j b_j`` for new data; unseen levels contribute 0 or raise."""
        check_new_levels(new_levels)
        codes, zs = random_terms(self, data)

        def describe(j, unseen):
            factors = list(self.reterms[j].grouping.factors)
            return f", e.g. {data.loc[unseen, factors].drop_duplicates().head(5).to_dict('records')}"
        return self._re_part(codes, zs, new_levels, len(data), describe)

    def var_components(self) -> pd.DataFrame:
        """Variances, standard deviations and correlations of the random effects.

        One row per (group, column); a ``Residual`` row for families with a scale.
        Correlation columns ``corr_1, ...`` hold the lower triangle.
        """
        self._check_fitted()
        scale = re_scale(self)  # σ for an LMM; 1 for a GLMM, whose b = Λu carries its own scale
        rows = []
        maxS = max(r.S for r in self.reterms)
        for r in self.reterms:
            # relative to σ first: σ² of a response near 1e200 overflows where σ does not
            rel = r.lambda_ @ r.lambda_.T
            rel_sd = np.sqrt(np.diag(rel))
            sd = rel_sd * scale
            with np.errstate(over="ignore"):
                cov = rel * np.float64(scale) ** 2
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = rel / np.outer(rel_sd, rel_sd)
            for a, cname in enumerate(r.cnames):
                row = {"group": r.name, "column": cname, "variance": cov[a, a], "std_dev": sd[a]}
                for b in range(maxS - 1):
                    row[f"corr_{b + 1}"] = (corr[a, b] if r.free[a, b] else 0.0) if b < a else np.nan
                rows.append(row)
        if self.has_dispersion:
            s = self.sigma
            with np.errstate(over="ignore"):  # a variance beyond the float range is inf, its sd is not
                rows.append({"group": "Residual", "column": "", "variance": np.float64(s) * s, "std_dev": s})
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ fit statistics
    @property
    def nobs(self) -> int:
        return self.n

    @property
    def dof(self) -> int:
        """Number of estimated parameters: β, θ and (if any) the residual scale."""
        return self.feterm.rank + self.ntheta + int(self.has_dispersion)

    @property
    def aic(self) -> float:
        self._check_fitted()
        return -2 * self.loglikelihood + 2 * self.dof

    @property
    def aicc(self) -> float:
        k, n = self.dof, self.nobs
        return self.aic + 2 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else np.inf

    @property
    def bic(self) -> float:
        self._check_fitted()
        return -2 * self.loglikelihood + self.dof * np.log(self.nobs)

    def block_description(self) -> str:
        """The types of the blocks of ``A`` and ``L`` (see :meth:`BlockedCholesky.block_description`)."""
        return self._factor.block_description()

    def __str__(self) -> str:
        from ..report.summary import summary  # report knows models only through this interface

        return summary(self)

    def _repr_pretty_(self, p, cycle):  # IPython
        p.text(str(self))

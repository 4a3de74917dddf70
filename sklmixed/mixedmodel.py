"""What linear and generalized linear mixed models share: terms, θ, estimates, tables."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from scipy.linalg import solve_triangular

from .exceptions import ConvergenceWarning  # noqa: F401  (re-exported for users of the core)

__all__ = ["MixedModel", "NotFittedError"]


class NotFittedError(ValueError, AttributeError):
    """A result was asked of a model that has not been fit."""


class MixedModel:
    """Base class: random-effects terms ``reterms``, fixed-effects term ``feterm``, ``optsum``."""

    _fitted = False

    # ------------------------------------------------------------------ parameters
    @property
    def theta(self) -> np.ndarray:
        """Relative covariance parameters: each term's free λ entries, column-major."""
        if not self.reterms:
            return np.zeros(0)
        return np.concatenate([r.theta for r in self.reterms])

    def _install_theta(self, theta) -> None:
        theta = np.asarray(theta, dtype=float)
        # the terms never change once built: where each one's θ entries go is worked out once
        slots = self.__dict__.get("_theta_slots")
        if slots is None:
            slots, offset = [], 0
            for r in self.reterms:
                slots.append((r.lambda_, r.theta_rows, r.theta_cols, slice(offset, offset + r.ntheta)))
                offset += r.ntheta
            self._theta_slots = slots
            self._ntheta = offset
        if theta.shape != (self._ntheta,):
            raise ValueError(f"theta must have length {self._ntheta}, got shape {theta.shape}")
        for lam, rows, cols, span in slots:
            lam[rows, cols] = theta[span]

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

    def _flip_negative_columns(self) -> None:
        """Flip λ columns with a negative diagonal: ΛΛ' (and the objective) stay the same."""
        for r in self.reterms:
            signs = np.where(np.diag(r.lambda_) < 0, -1.0, 1.0)
            r.lambda_[...] = np.tril(r.lambda_ * signs[None, :])

    def _unscaled_vcov(self) -> np.ndarray:
        """``(L_XX L_XX')⁻¹`` from the fixed-effects block of the factor."""
        p = self.feterm.rank
        if getattr(self._factor, "fixed_singular", False):
            warnings.warn("the fixed-effects block of the working model is singular at the estimates (the "
                          "data may be separable): standard errors of the fixed effects are not available",
                          ConvergenceWarning, stacklevel=3)
            return np.full((p, p), np.nan)
        Lxx = self._factor.L[-1][-1][:p, :p]
        Linv = solve_triangular(Lxx, np.eye(p), lower=True)
        return Linv.T @ Linv

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
        se = np.sqrt(np.diag(self._vcov_kept()))
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

    def _random_part(self, data: pd.DataFrame, new_levels: str) -> np.ndarray:
        """``Σ_j Z_j b_j`` for new data; unseen levels contribute 0 or raise."""
        if new_levels not in ("population", "error"):
            raise ValueError(f"new_levels must be 'population' or 'error', got {new_levels!r}")
        out = np.zeros(len(data))
        for r, b in zip(self.reterms, self._b()):
            missing = [f for f in r.grouping.factors if f not in data.columns]
            if missing:
                raise ValueError(f"new data lacks the grouping column(s) {missing}")
            codes = r.grouping.codes(data)
            unseen = codes < 0
            if unseen.any() and new_levels == "error":
                first = data.loc[unseen, list(r.grouping.factors)].drop_duplicates().head(5)
                raise ValueError(f"{int(unseen.sum())} row(s) have levels of {r.name!r} not seen in fitting, "
                                 f"e.g. {first.to_dict('records')}; use new_levels='population' to predict them "
                                 "at the population level")
            z = r.new_z(data)
            bb = np.where(unseen[:, None], 0.0, b[np.maximum(codes, 0)])
            out += np.einsum("sn,ns->n", z, bb)
        return out

    def var_components(self) -> pd.DataFrame:
        """Variances, standard deviations and correlations of the random effects.

        One row per (group, column); a ``Residual`` row for families with a scale.
        Correlation columns ``corr_1, ...`` hold the lower triangle.
        """
        self._check_fitted()
        scale = self._vc_scale()
        rows = []
        maxS = max(r.S for r in self.reterms)
        for r in self.reterms:
            lam = r.lambda_ * scale
            cov = lam @ lam.T
            sd = np.sqrt(np.diag(cov))
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = cov / np.outer(sd, sd)
            for a, cname in enumerate(r.cnames):
                row = {"group": r.name, "column": cname, "variance": cov[a, a], "std_dev": sd[a]}
                for b in range(maxS - 1):
                    row[f"corr_{b + 1}"] = (corr[a, b] if r.free[a, b] else 0.0) if b < a else np.nan
                rows.append(row)
        if self._has_dispersion():
            s = self.sigma
            rows.append({"group": "Residual", "column": "", "variance": s * s, "std_dev": s})
        return pd.DataFrame(rows)

    def _vc_scale(self) -> float:
        return self.sigma if self._has_dispersion() else 1.0

    # ------------------------------------------------------------------ fit statistics
    @property
    def nobs(self) -> int:
        return self.n

    @property
    def dof(self) -> int:
        """Number of estimated parameters: β, θ and (if any) the residual scale."""
        return self.feterm.rank + self.ntheta + int(self._has_dispersion())

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
        from .display import summary

        return summary(self)

    def _repr_pretty_(self, p, cycle):  # IPython
        p.text(str(self))

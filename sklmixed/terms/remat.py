"""Random-effects terms: one :class:`ReMat` per grouping factor, the only place θ becomes λ."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..formula.design import build_matrix, concrete_spec, encode_new, rename_intercept
from ..formula.parse import BarTerm
from .grouping import GroupingFactor
from .magnitude import check_magnitudes

__all__ = ["ReMat", "FormulaColumns", "ArrayColumns", "build_remats", "block_pattern", "theta_spans"]


class FormulaColumns:
    """The columns of one bar term's left-hand side, built from the formula, now and on new data."""

    def __init__(self, lhs: str, data: pd.DataFrame):
        self.lhs = lhs
        self.intercept_only = lhs.replace(" ", "") in ("1", "1+1")
        if self.intercept_only:
            self._spec, self.names = None, ["(Intercept)"]
            self.z = np.ones((1, len(data)))
            return
        X, names, self._spec = build_matrix(lhs, data, f"the columns of random-effects term ({lhs} | ...)")
        self.names = rename_intercept(names)
        self.z = X.T.copy()
        if self.z.shape[0] == 0:
            raise ValueError(f"random-effects term ({lhs} | ...) has no columns")
        bad = np.sum(~np.isfinite(self.z), axis=1)
        if bad.any():
            desc = ", ".join(f"{self.names[j]!r} ({int(bad[j])})" for j in np.flatnonzero(bad))
            raise ValueError(f"the column(s) {desc} of random-effects term ({lhs} | ...) have non-finite values")

    @property
    def spec(self):
        """formulaic's ``ModelSpec`` of the columns (None for an intercept-only term)."""
        self._spec = concrete_spec(self._spec)
        return self._spec

    def columns(self, data: pd.DataFrame) -> np.ndarray:
        if self.intercept_only:
            return np.ones((1, len(data)))
        return encode_new(self.spec, data, f"random-effects term ({self.lhs} | ...)").T


class ArrayColumns:
    """Random-effects columns given as an array (by the scikit-learn estimators, say).

    Parameters
    ----------
    z : ndarray of shape (n, S)
        The columns, one row per observation.
    names : list of str
        Their names.
    intercept_only : bool, default=False
        True when ``z`` is a single column of ones (a random intercept alone).

    New data cannot be encoded from a DataFrame: whoever built the columns encodes them and
    passes them to :meth:`~sklmixed.models.mixedmodel.MixedModel.linear_predictor`.
    """

    def __init__(self, z, names, *, intercept_only=False):
        z = np.asarray(z, dtype=float)
        if z.ndim != 2 or z.shape[1] != len(names) or not names:
            raise ValueError(f"random-effects columns need shape (n, {len(names)}), got {z.shape}")
        if not np.all(np.isfinite(z)):
            raise ValueError(f"the random-effects column(s) {list(names)} have non-finite values")
        self.z = np.ascontiguousarray(z.T)
        self.names = [str(n) for n in names]
        self.intercept_only = bool(intercept_only) and z.shape[1] == 1

    def columns(self, data):
        raise TypeError(f"the random-effects columns {self.names} were built from arrays, not from a formula; "
                        "encode new data as they were and use linear_predictor()")


def block_pattern(sizes) -> np.ndarray:
    """The free entries of λ for column blocks of these sizes: each block's lower triangle.

    Blocks are the left-hand sides of the bar terms on one grouping factor, amalgamated into
    one term; entries between blocks stay 0 (uncorrelated), as for ``||``.
    """
    total = int(sum(sizes))
    free = np.zeros((total, total), dtype=bool)
    offset = 0
    for size in sizes:
        free[offset : offset + size, offset : offset + size] = np.tril(np.ones((size, size), dtype=bool))
        offset += size
    return free


def scale_of_rms(rms) -> np.ndarray:
    """:attr:`ReMat.column_scale` of columns with these root mean squares: 1/rms outside [1e-2, 1e2], else 1."""
    odd = (rms > 0) & np.isfinite(rms) & ((rms < 1e-2) | (rms > 1e2))
    return np.where(odd, 1.0 / np.where(odd, rms, 1.0), 1.0)


class ReMat:
    r"""One random-effects term: a grouping factor and the columns it multiplies.

    Observation :math:`i` at level :math:`\ell_i` contributes :math:`z_i^\top b_{\ell_i}`
    to the linear predictor, with :math:`b_\ell = \lambda u_\ell` for every level. ``λ`` is
    an ``S x S`` lower-triangular template whose free entries are θ (column-major order).

    Attributes
    ----------
    name : str
        Grouping-factor name (``"subj"``, ``"batch:cask"``).
    grouping : GroupingFactor
    refs : ndarray of shape (n,)
        Level index (0-based) of every observation.
    z : ndarray of shape (S, n)
        Transposed left-hand-side model matrix.
    cnames : list of str
        Names of the ``S`` columns.
    lambda_ : ndarray of shape (S, S)
        Current relative covariance factor template.
    free : ndarray of bool, shape (S, S)
        Which entries of ``lambda_`` are parameters.
    """

    def __init__(self, grouping: GroupingFactor, refs, lhs_terms, free=None):
        self.grouping = grouping
        self.refs = np.asarray(refs, dtype=np.int64)
        self.lhs_terms = lhs_terms
        self.z = np.vstack([t.z for t in lhs_terms])
        self.cnames = [n for t in lhs_terms for n in t.names]
        check_magnitudes(self.z.T, self.cnames, "random-effects", f" (grouping factor {grouping.name!r})")
        self.free = block_pattern([t.z.shape[0] for t in lhs_terms]) if free is None else np.asarray(free, dtype=bool)
        self.lambda_ = np.eye(self.S)
        # column-major order of the lower triangle, as lme4 and MixedModels
        cols, rows = np.nonzero(self.free.T)
        self.theta_rows, self.theta_cols = rows, cols
        self._column_scale = None
        self._nlev = len(grouping.levels)  # a MultiIndex takes microseconds to tell its length
        #: a random intercept alone, (1|g): z is all ones, λ a scalar
        self.scalar_intercept = self.S == 1 and lhs_terms[0].intercept_only

    @property
    def name(self) -> str:
        return self.grouping.name

    @property
    def S(self) -> int:
        return self.z.shape[0]

    @property
    def nlev(self) -> int:
        return self._nlev

    @property
    def nranef(self) -> int:
        return self.S * self.nlev

    @property
    def ntheta(self) -> int:
        return len(self.theta_rows)

    @property
    def is_diagonal(self) -> bool:
        """True when no correlation is free (λ diagonal)."""
        return bool(np.all(self.theta_rows == self.theta_cols))

    @property
    def theta(self) -> np.ndarray:
        return self.lambda_[self.theta_rows, self.theta_cols].copy()

    @theta.setter
    def theta(self, value) -> None:
        self.set_theta(value)

    def set_theta(self, values) -> None:
        """Write θ's entries into λ in place: the one place θ becomes λ.

        λ is updated in place because the compiled factor program holds this array.
        """
        self.lambda_[self.theta_rows, self.theta_cols] = values

    def rectify(self) -> None:
        """Flip λ columns with a negative diagonal: ΛΛ' (and every objective) stays the same."""
        signs = np.where(np.diag(self.lambda_) < 0, -1.0, 1.0)
        self.lambda_[...] = np.tril(self.lambda_ * signs[None, :])

    @property
    def lowerbd(self) -> np.ndarray:
        return np.where(self.theta_rows == self.theta_cols, 0.0, -np.inf)

    @property
    def column_scale(self) -> np.ndarray:
        """Per column of ``z``: 1, or 1/rms for a covariate on a huge or tiny scale.

        A column whose root mean square is outside ``[1e-2, 1e2]`` (a covariate in
        micrometres or in dollars, say) makes λ's row for it that many times smaller or
        larger than for the same covariate in sensible units; the optimiser's start, first
        steps and tolerances are scaled to match, so that the fit does not depend on units.
        """
        if getattr(self, "_column_scale", None) is None:  # z never changes
            if self.z.shape[1] == 0 or self.scalar_intercept:
                self._column_scale = np.ones(self.S)
            else:
                self._column_scale = scale_of_rms(np.sqrt(np.mean(self.z * self.z, axis=1)))
        return self._column_scale.copy()

    @property
    def theta_scale(self) -> np.ndarray:
        """The natural unit of every θ entry: the scale of its λ row (see :attr:`column_scale`)."""
        return self.column_scale[self.theta_rows]

    @property
    def initial_theta(self) -> np.ndarray:
        """The start of θ: λ the identity, as lme4 and MixedModels start, in the units of
        :attr:`column_scale` (1 unless a covariate is on a huge or tiny scale)."""
        return np.where(self.theta_rows == self.theta_cols, self.theta_scale, 0.0)

    def z_matrix(self) -> sp.csr_matrix:
        """``Z`` for this term as an ``n x (S nlev)`` sparse matrix (level-major columns)."""
        n, S = self.z.shape[1], self.S
        cols = (self.refs[:, None] * S + np.arange(S)).ravel()
        if self.refs.size and self.refs.min() >= 0:
            # every row holds S entries in increasing columns: the CSR arrays are known
            # outright, without the sort and duplicate summing of a COO conversion
            index_dtype = np.int32 if max(n * S, self.nranef) < np.iinfo(np.int32).max else np.int64
            indptr = np.arange(0, n * S + 1, S, dtype=index_dtype)
            m = sp.csr_matrix((self.z.T.ravel(), cols.astype(index_dtype), indptr), shape=(n, self.nranef))
            m.has_sorted_indices = True
            m.has_canonical_format = True
            return m
        rows = np.repeat(np.arange(n), S)
        return sp.csr_matrix((self.z.T.ravel(), (rows, cols)), shape=(n, self.nranef))

    def new_z(self, data: pd.DataFrame) -> np.ndarray:
        """``z`` (S x m) for new data, using the encodings learned at fitting time."""
        return np.vstack([t.columns(data) for t in self.lhs_terms])

    def __repr__(self) -> str:
        return f"ReMat({self.name!r}, S={self.S}, nlev={self.nlev}, cnames={self.cnames})"


def build_remats(bars: tuple[BarTerm, ...], data: pd.DataFrame) -> list[ReMat]:
    """Build the random-effects terms: amalgamate by grouping factor, sort by size.

    Terms with the same grouping factor become one :class:`ReMat` with a block-diagonal
    pattern of free λ entries; terms are sorted by decreasing number of random effects
    (ties keep formula order).
    """
    groups: dict[tuple[str, ...], list[BarTerm]] = {}
    for bar in bars:
        groups.setdefault(bar.factors, []).append(bar)
    remats = []
    for factors, members in groups.items():
        grouping, refs = GroupingFactor.with_codes(data, factors)
        remats.append(ReMat(grouping, refs, [FormulaColumns(b.lhs, data) for b in members]))
    order = sorted(range(len(remats)), key=lambda i: -remats[i].nranef)
    return [remats[i] for i in order]


def theta_spans(remats) -> list[tuple[ReMat, slice]]:
    """Every term with the slice of the stacked θ vector that holds its entries."""
    out, offset = [], 0
    for r in remats:
        out.append((r, slice(offset, offset + r.ntheta)))
        offset += r.ntheta
    return out

"""Random-effects terms: one :class:`ReMat` per grouping factor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .data import build_matrix, concrete_spec, encode_new
from .formula import BarTerm

__all__ = ["ReMat", "GroupingFactor", "build_remats", "rename_intercept"]


def rename_intercept(names) -> list[str]:
    """formulaic's ``Intercept`` is MixedModels' and lme4's ``(Intercept)``."""
    return ["(Intercept)" if n == "Intercept" else str(n) for n in names]


def _sorted_levels(values: pd.Series) -> pd.Index:
    if isinstance(values.dtype, pd.CategoricalDtype):
        used = pd.unique(values.cat.codes[values.cat.codes >= 0])
        return pd.Index(values.cat.categories[np.sort(used)])
    uniq = pd.unique(values.dropna())
    try:
        return pd.Index(np.sort(uniq))
    except TypeError:  # mixed types: order by text, still deterministic
        return pd.Index(sorted(uniq, key=str))


def _levels_and_codes(values: pd.Series) -> tuple[pd.Index, np.ndarray]:
    """``_sorted_levels(values)`` and every value's index in it (-1 for a missing value).

    One pass that factorizes the values and ranks the few distinct ones, instead of sorting
    the distinct values and then looking every row up in them; the levels come out exactly
    as :func:`_sorted_levels` builds them.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat_codes = np.asarray(values.array.codes)
        categories = values.array.categories
        used = np.zeros(len(categories), dtype=bool)
        used[cat_codes[cat_codes >= 0]] = True
        # the extra last slot maps the missing-value code -1 to -1
        remap = np.full(len(categories) + 1, -1, dtype=np.int64)
        positions = np.flatnonzero(used)
        remap[positions] = np.arange(len(positions))
        # an Index is immutable: all categories used, it can be shared as it is
        levels = categories if len(positions) == len(categories) else categories[positions]
        return levels, remap[cat_codes]
    raw, uniq = pd.factorize(values)
    uniq = np.asarray(uniq)
    try:
        order = np.argsort(uniq, kind="stable")
    except TypeError:  # mixed types: _sorted_levels orders them by text
        levels = _sorted_levels(values)
        return levels, levels.get_indexer(values).astype(np.int64)
    rank = np.empty(len(order) + 1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    rank[-1] = -1
    return pd.Index(uniq[order]), rank[raw]


def _multiindex(parts, combos, names) -> pd.MultiIndex:
    """``pd.MultiIndex.from_arrays([p[c] for p, c in zip(parts, combos)], names=names)``.

    ``from_arrays`` factorizes every array again to find its levels, which costs more than
    all the rest of a grouping factor. When every part is sorted and of a plain dtype, its
    levels are the used entries of the part, in order, and the codes their ranks among
    them; anything else is left to ``from_arrays``.
    """
    if not all(p.is_monotonic_increasing and p.is_unique and _plain_level_dtype(p.dtype) for p in parts):
        return pd.MultiIndex.from_arrays([p[c] for p, c in zip(parts, combos)], names=names)
    levels, codes = [], []
    for p, c in zip(parts, combos):
        used = np.unique(c)
        levels.append(p[used])
        codes.append(np.searchsorted(used, c))
    return pd.MultiIndex(levels=levels, codes=codes, names=names, verify_integrity=False)


def _plain_level_dtype(dtype) -> bool:
    return (isinstance(dtype, np.dtype) and dtype.kind in "iufb") or isinstance(dtype, pd.StringDtype)


@dataclass
class GroupingFactor:
    """The levels of a grouping factor (a column, or an interaction of columns)."""

    factors: tuple[str, ...]
    levels: pd.Index

    @classmethod
    def from_data(cls, data: pd.DataFrame, factors: tuple[str, ...]) -> "GroupingFactor":
        return cls.with_codes(data, factors)[0]

    @classmethod
    def with_codes(cls, data: pd.DataFrame, factors: tuple[str, ...]) -> tuple["GroupingFactor", np.ndarray]:
        """The grouping factor of ``data`` and the level index of every row, in one pass.

        The codes equal ``GroupingFactor.from_data(data, factors).codes(data)``.
        """
        if len(factors) == 1:
            levels, codes = _levels_and_codes(data[factors[0]])
            return cls(factors, levels), codes
        parts, codes = zip(*(_levels_and_codes(data[f]) for f in factors))
        sizes = [max(len(p), 1) for p in parts]
        if min(c.min(initial=0) for c in codes) < 0 or np.prod(sizes, dtype=float) >= 2.0**62:
            # a missing value (only outside prepare_data) or too many combinations for one int64 key
            stacked = np.stack(codes, axis=1)
            combos = np.unique(stacked, axis=0)
            levels = pd.MultiIndex.from_arrays([p[c] for p, c in zip(parts, combos.T)], names=list(factors))
            gf = cls(factors, levels)
            return gf, gf.codes(data)
        # one mixed-radix key per row orders the combinations as np.unique(axis=0) does
        key = np.ravel_multi_index(codes, sizes)
        uniq, inverse = np.unique(key, return_inverse=True)
        combos = np.unravel_index(uniq, sizes)
        levels = _multiindex(parts, combos, list(factors))
        return cls(factors, levels), inverse.reshape(-1).astype(np.int64)

    @property
    def name(self) -> str:
        return ":".join(self.factors)

    def codes(self, data: pd.DataFrame) -> np.ndarray:
        """Level index of every row of ``data``; -1 for levels not seen in fitting."""
        if len(self.factors) == 1:
            return self.levels.get_indexer(data[self.factors[0]]).astype(np.int64)
        keys = pd.MultiIndex.from_arrays([data[f] for f in self.factors])
        return self.levels.get_indexer(keys).astype(np.int64)

    @property
    def labels(self) -> list[str]:
        if isinstance(self.levels, pd.MultiIndex):
            return [":".join(map(str, t)) for t in self.levels]
        return [str(v) for v in self.levels]


class _LhsColumns:
    """Builds one bar term's left-hand-side columns, now and on new data."""

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

    def __init__(self, grouping: GroupingFactor, refs, lhs_terms: list[_LhsColumns], free):
        self.grouping = grouping
        self.refs = np.asarray(refs, dtype=np.int64)
        self.lhs_terms = lhs_terms
        self.z = np.vstack([t.z for t in lhs_terms])
        self.cnames = [n for t in lhs_terms for n in t.names]
        self.free = np.asarray(free, dtype=bool)
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
        self.lambda_[self.theta_rows, self.theta_cols] = value

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
                rms = np.sqrt(np.mean(self.z * self.z, axis=1))
                odd = (rms > 0) & np.isfinite(rms) & ((rms < 1e-2) | (rms > 1e2))
                self._column_scale = np.where(odd, 1.0 / np.where(odd, rms, 1.0), 1.0)
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
            m = sp.csr_matrix((self.z.T.ravel(), cols.astype(index_dtype), np.arange(0, n * S + 1, S, dtype=index_dtype)),
                              shape=(n, self.nranef))
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
        lhs_terms = [_LhsColumns(b.lhs, data) for b in members]
        sizes = [t.z.shape[0] for t in lhs_terms]
        free = np.zeros((sum(sizes), sum(sizes)), dtype=bool)
        offset = 0
        for size in sizes:
            free[offset : offset + size, offset : offset + size] = np.tril(np.ones((size, size), dtype=bool))
            offset += size
        remats.append(ReMat(grouping, refs, lhs_terms, free))
    order = sorted(range(len(remats)), key=lambda i: -remats[i].nranef)
    return [remats[i] for i in order]

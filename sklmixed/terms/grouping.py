"""Grouping factors: the levels of a column (or of an interaction of columns) and every row's level."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["GroupingFactor"]


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
    def from_data(cls, data: pd.DataFrame, factors: tuple[str, ...]) -> GroupingFactor:
        return cls.with_codes(data, factors)[0]

    @classmethod
    def with_codes(cls, data: pd.DataFrame, factors: tuple[str, ...]) -> tuple[GroupingFactor, np.ndarray]:
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

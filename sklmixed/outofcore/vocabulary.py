"""The first pass: the rows, the categories of the categorical columns and the levels of the grouping factors.

Per partition it counts the complete rows and the missing values of every column the model
uses, and collects the distinct values of the text and categorical columns of the design
(their categories) and the distinct level combinations of every grouping factor; the
partitions' vocabularies are united. The levels come out exactly as a model fit in memory
orders them (:class:`~sklmixed.terms.grouping.GroupingFactor` applied to the distinct
combinations); categories are sorted as formulaic sorts them, or kept as declared by a
categorical column whose categories Dask knows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..formula.frame import required_columns
from ..formula.parse import BarTerm
from ..terms.grouping import GroupingFactor

__all__ = ["Vocabulary", "design_columns", "learn_vocabulary"]


def design_columns(formula) -> set[str]:
    """The columns the fixed effects and the left-hand sides of the bar terms use (not the response's)."""
    bars = tuple(BarTerm(b.lhs, (), b.correlated) for b in formula.bars)
    return set(required_columns(dataclasses.replace(formula, response="0", bars=bars)))


def _distinct(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop_duplicates(ignore_index=True)


@dataclass
class Vocabulary:
    """What the first pass learns (of one partition, or of all of them once combined).

    Attributes
    ----------
    rows : int
        Complete rows (those the model uses).
    dropped : int
        Rows with a missing or non-finite value in a column the model uses.
    missing : dict
        Column -> number of missing or non-finite values.
    meta : pandas.DataFrame or None
        A model frame without rows: the columns and dtypes of every prepared partition.
    values : dict
        Column -> the distinct values of a text or categorical column of the design.
    combos : dict
        Grouping factor (tuple of columns) -> DataFrame of its distinct level combinations.
    """

    rows: int = 0
    dropped: int = 0
    missing: dict = field(default_factory=dict)
    meta: pd.DataFrame | None = None
    values: dict = field(default_factory=dict)
    combos: dict = field(default_factory=dict)

    def __add__(self, other: Vocabulary) -> Vocabulary:
        missing = dict(self.missing)
        for c, k in other.missing.items():
            missing[c] = missing.get(c, 0) + k
        values = {c: _distinct(pd.concat([v, other.values[c]], ignore_index=True)) if c in other.values else v
                  for c, v in self.values.items()}
        values.update({c: v for c, v in other.values.items() if c not in values})
        combos = {g: _distinct(pd.concat([v, other.combos[g]], ignore_index=True)) if g in other.combos else v
                  for g, v in self.combos.items()}
        combos.update({g: v for g, v in other.combos.items() if g not in combos})
        return Vocabulary(self.rows + other.rows, self.dropped + other.dropped, missing,
                          self.meta if self.meta is not None else other.meta, values, combos)

    def categories(self, declared) -> dict:
        """Column -> ``pd.Index`` of categories: as ``declared`` (Dask's known categories), else sorted."""
        out = {}
        for c, v in self.values.items():
            if c in declared:
                out[c] = pd.Index(declared[c])
            elif isinstance(v.dtype, pd.CategoricalDtype):
                out[c] = pd.Index(pd.Categorical(np.asarray(v.astype(object))).categories)
            else:
                out[c] = pd.Index(pd.Categorical(np.asarray(v, dtype=object)).categories)
        return out

    def grouping(self, factors) -> GroupingFactor:
        """The grouping factor of these columns, its levels ordered as in memory."""
        return GroupingFactor.with_codes(self.combos[tuple(factors)], tuple(factors))[0]


def _vocabulary(part, recipe, design, groupings) -> Vocabulary | None:
    if len(part) == 0:
        return None
    bad, counts = recipe.incomplete(part)
    if bad.any() and recipe.missing == "raise":  # refused on the client, with the counts of every partition
        return Vocabulary(0, int(bad.sum()), counts)
    frame = recipe(part)
    if frame is None:
        return Vocabulary(0, int(bad.sum()), counts)
    values = {c: _distinct(frame[c].to_frame()).iloc[:, 0] for c in design
              if not pd.api.types.is_numeric_dtype(frame[c]) or isinstance(frame[c].dtype, pd.CategoricalDtype)}
    combos = {g: _distinct(frame.loc[:, list(g)]) for g in groupings}
    return Vocabulary(len(frame), int(bad.sum()), counts, frame.iloc[:0], values, combos)


def learn_vocabulary(log, chunks, recipe, formula, also=()) -> Vocabulary:
    """The first pass over the partitions ``chunks`` (see the module docstring); the distinct values of
    the columns ``also`` (a binary response, say) are collected too when they are not numeric."""
    from .passes import run_pass

    design = sorted(design_columns(formula) | set(also))
    groupings = list(dict.fromkeys(tuple(b.factors) for b in formula.bars))
    vocab = run_pass(log, "levels and categories", chunks, _vocabulary, Vocabulary.__add__, recipe, design, groupings)
    if vocab is None or (vocab.rows == 0 and vocab.dropped == 0):
        raise ValueError("data has no rows")
    return vocab

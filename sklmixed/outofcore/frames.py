"""How a partition becomes a model frame: the columns the model uses, the rows it keeps, their dtypes.

Every pass prepares its partitions alike, so the rows a pass sees are the rows every other
pass sees: a partition's rows with a missing or non-finite value in a column the model uses
are dropped (``missing="drop"``) or were refused before any other pass (``"raise"``, with the
counts over all partitions); dtypes are normalised as for a model fit in memory
(:func:`~sklmixed.formula.frame.prepare_data`); and the categorical and text columns of the
fixed effects and of the random-effects terms become ``Categorical`` with the categories of
the whole data, so that every partition is encoded with the same model-matrix columns.

A Dask DataFrame is recomputed by every pass: it must give the same rows every time (data
read from files does; data generated at random must be seeded per partition).
"""

from __future__ import annotations

import pandas as pd

from ..formula.frame import _missing, prepare_data, required_columns

__all__ = ["FrameRecipe"]


class FrameRecipe:
    """Prepares partitions as model frames.

    Parameters
    ----------
    formula : MixedFormula
    extra : iterable of str
        Other columns the model reads (weights, offset, the terms of ``cbind`` and ``offset()``).
    missing : {"raise", "drop"}
    categories : dict, optional
        Column name -> ``pd.Index`` of its categories, for the columns to make categorical.
    """

    def __init__(self, formula, extra=(), missing: str = "raise", categories=None):
        if missing not in ("raise", "drop"):
            raise ValueError(f"missing must be 'raise' or 'drop', got {missing!r}")
        self.formula = formula
        self.extra = sorted({e for e in extra if isinstance(e, str)})
        self.missing = missing
        self.wanted = sorted(required_columns(formula) | set(self.extra))
        self.categories = dict(categories or {})

    def incomplete(self, part: pd.DataFrame):
        """Which rows of a raw partition miss a value the model uses, and the counts per column."""
        bad, counts = _missing(part, self.wanted)
        if bad is None:  # repeated column names: prepare_data words the error
            prepare_data(self.formula, part, extra=self.extra)
        return bad, counts

    def __call__(self, part: pd.DataFrame) -> pd.DataFrame | None:
        """The model frame of a partition (None when no row is left)."""
        if len(part) == 0:
            return None
        if self.missing == "drop":
            bad, _ = self.incomplete(part)
            if bad.all():
                return None
            if bad.any():
                part = part.loc[~bad]
        # no warnings.catch_warnings() here: it changes the filters of every thread of a worker process
        frame, _ = prepare_data(self.formula, part, extra=self.extra, missing="raise")
        return self.cast(frame)

    def cast(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A model frame with the categorical columns given their categories."""
        if self.categories:
            cast = {c: pd.Categorical(frame[c], categories=cats) for c, cats in self.categories.items()}
            for c, values in cast.items():
                if (values.codes < 0).any():
                    raise ValueError(f"column {c!r} holds values that the first pass over the data did not see, "
                                     f"e.g. {list(pd.unique(frame[c][values.codes < 0]))[:5]}: the Dask DataFrame "
                                     "must give the same rows on every pass (seed data generated at random)")
            frame = frame.assign(**cast)
        return frame

    def with_categories(self, categories) -> FrameRecipe:
        """The same recipe, making these columns categorical."""
        return FrameRecipe(self.formula, self.extra, self.missing, categories)

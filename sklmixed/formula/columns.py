"""What a data frame's columns must be for a formula, and the one rule for their dtypes.

* Column labels must be unique strings (no MultiIndex); a column named ``Intercept`` cannot
  be used, as formulaic reads that name as the intercept.
* Sparse columns are made dense; pandas ``string`` columns are categorical, as ``object``
  columns of text are.
* An ``object`` column whose values are all numbers is **numeric**, in formulas as in the
  estimators (with a warning: convert it with ``astype(float)``, or to a ``Categorical`` for
  levels). A grouping factor keeps its values as levels whatever their type.
* formulaic's messages lose their terminal colour codes.

Examples
--------
>>> import pandas as pd
>>> frame = normalise_dtypes(pd.DataFrame({"g": pd.Series(["a", "b"], dtype="string")}), set())
>>> frame["g"].dtype
dtype('O')
"""

from __future__ import annotations

import numbers
import re
import warnings

import numpy as np
import pandas as pd

__all__ = ["check_columns", "dense_columns", "normalise_dtypes", "plain_message"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain_message(err) -> str:
    """An exception's message without terminal colour codes (formulaic marks the faulty token so)."""
    return _ANSI.sub("", str(err))


def check_columns(data: pd.DataFrame, formula) -> None:
    """Refuse labels a formula cannot name unambiguously."""
    if isinstance(data.columns, pd.MultiIndex):
        raise ValueError("data has MultiIndex columns, which a formula cannot name; flatten them first "
                         "(data.columns = ['_'.join(map(str, c)) for c in data.columns], say)")
    if not data.columns.is_unique:
        repeated = sorted({str(c) for c in data.columns[data.columns.duplicated()]})
        raise ValueError(f"data has repeated column names {repeated}; give every column its own name")
    if "Intercept" in data.columns and re.search(r"(?<![\w.`])Intercept(?![\w.`])", formula.text):
        raise ValueError("the formula uses a data column named 'Intercept', which formulaic reads as the "
                         "intercept; rename the column")


def _numbers_only(values: pd.Series) -> bool:
    return bool(len(values)) and all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))
                                     for v in values.to_numpy())


def dense_columns(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """``frame`` with its sparse columns among ``columns`` made dense (a new frame if any is)."""
    sparse = {c: frame[c].sparse.to_dense() for c in frame.columns
              if c in columns and isinstance(frame[c].dtype, pd.SparseDtype)}
    return frame.assign(**sparse) if sparse else frame


def normalise_dtypes(frame: pd.DataFrame, numeric_use) -> pd.DataFrame:
    """``frame`` with the dtype rule above applied to its columns (``numeric_use``: those not
    used as grouping factors only). The caller's frame is not changed."""
    changes = {}
    for c in frame.columns:
        dtype = frame[c].dtype
        if isinstance(dtype, pd.StringDtype):
            changes[c] = frame[c].astype(object).where(frame[c].notna(), None)
        elif c in numeric_use and isinstance(dtype, np.dtype) and dtype.kind == "O" and _numbers_only(frame[c]):
            warnings.warn(f"column {c!r} has object dtype but holds numbers only: it is treated as numeric; "
                          "convert it with astype(float), or to a Categorical to use its values as levels",
                          UserWarning, stacklevel=4)
            changes[c] = frame[c].astype(float)
    return frame.assign(**changes) if changes else frame

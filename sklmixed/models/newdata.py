"""New rows for a fitted model: the levels and columns of its random-effects terms, offsets.

Every random-effects term codes a new row by the level it was fitted with, -1 for a label
not seen in fitting or missing (:meth:`GroupingFactor.codes`). Predictions give -1 a zero
random effect or refuse it; a simulation that draws the random effects of unseen levels
numbers the distinct unseen labels after the fitted ones (:func:`number_new_levels`), while
a missing label keeps -1 and no random effect, as predictions give it.

Examples
--------
>>> import pandas as pd
>>> from sklmixed import LinearMixedModel, load_dataset
>>> m = LinearMixedModel("yield ~ 1 + (1|batch)", load_dataset("dyestuff")).fit(progress=False)
>>> new = pd.DataFrame({"batch": ["A", "new", None, "other", "new"]})
>>> codes, _ = random_terms(m, new)
>>> codes[0].tolist()
[0, -1, -1, -1, -1]
>>> coded, unseen = number_new_levels(m.reterms[0], new, codes[0], allow_new_levels=True)
>>> coded.tolist(), unseen
([0, 6, -1, 7, 6], 2)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["random_terms", "number_new_levels", "new_offset"]


def random_terms(model, data: pd.DataFrame) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per random-effects term of ``model``, the level codes of the rows of ``data`` (-1 for a label
    not seen in fitting or missing) and the term's columns (``S x m``)."""
    codes, zs = [], []
    for r in model.reterms:
        missing = [f for f in r.grouping.factors if f not in data.columns]
        if missing:
            raise ValueError(f"new data lacks the grouping column(s) {missing}")
        codes.append(r.grouping.codes(data))
        zs.append(r.new_z(data))
    return codes, zs


def _examples(labels: pd.DataFrame) -> list:
    """Up to five distinct labels, as values (one column) or records (an interaction)."""
    first = labels.drop_duplicates().head(5)
    return first.iloc[:, 0].tolist() if first.shape[1] == 1 else first.to_dict("records")


def number_new_levels(term, data: pd.DataFrame, codes, *, allow_new_levels: bool) -> tuple[np.ndarray, int]:
    """``codes`` with every distinct unseen label numbered ``nlev, nlev + 1, ...`` (in order of first
    appearance), and how many there are; missing labels stay -1.

    Without ``allow_new_levels``, an unseen or missing label raises a ``ValueError`` naming
    the term's column(s) and some labels (lme4's ``allow.new.levels = FALSE``).
    """
    codes = np.asarray(codes, dtype=np.int64)
    out = codes < 0
    if not out.any():
        return codes, 0
    factors = list(term.grouping.factors)
    labels = data[factors].iloc[np.flatnonzero(out)]
    missing = labels.isna().any(axis=1).to_numpy()
    if not allow_new_levels:
        if not missing.all():
            raise ValueError(f"new data has {int((~missing).sum())} row(s) with levels of {term.name!r} not seen in "
                             f"fitting, e.g. {_examples(labels[~missing])}; pass allow_new_levels=True to draw their "
                             "random effects from the term's fitted distribution")
        raise ValueError(f"new data has {int(missing.sum())} row(s) with a missing label of {term.name!r}; pass "
                         "allow_new_levels=True to give them no random effect of this term (as predict does)")
    rows = np.flatnonzero(out)[~missing]
    number, distinct = pd.MultiIndex.from_frame(labels[~missing]).factorize()
    codes = codes.copy()
    codes[rows] = term.nlev + number
    return codes, len(distinct)


def new_offset(offset, m: int) -> np.ndarray | float:
    """An offset for ``m`` new rows: a number, or one finite value per row (0 for None)."""
    if offset is None:
        return 0.0
    off = np.asarray(offset, dtype=float)
    if off.ndim > 1 or (off.ndim == 1 and len(off) != m):
        raise ValueError(f"offset must be a number or have one entry per row of data ({m}), got shape {off.shape}")
    if not np.all(np.isfinite(off)):
        raise ValueError(f"offset has {int(np.sum(~np.isfinite(off)))} missing or non-finite values")
    return off

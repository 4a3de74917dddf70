"""The checks a model makes of its rows, made from the sums of the passes instead.

Missing values are counted over all partitions and refused (or their rows dropped) with the
totals; columns with non-finite values are named; a fixed-effects column that depends on
others is dropped and a random-effects column that does is refused exactly as in memory,
from the triangular factors of QR decompositions (:mod:`~sklmixed.terms.rowfree`); and a
model that cannot be estimated (a response the fixed effects fit exactly, a term with as many
random effects as observations) is refused by :func:`~sklmixed.models.lmm_search.check_estimable`
itself, which reads the rows of :math:`\\sqrt{W}[\\tilde X\\,\\tilde y]` only through their
inner products: the rows of their :math:`R` stand in for them.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np

from ..formula.frame import describe_counts
from ..models.lmm_search import check_estimable
from ..terms.rowfree import check_independent_by_r

__all__ = ["refuse_missing", "check_finite", "check_dependence", "check_estimable_by_r"]


def refuse_missing(vocab, missing: str) -> int:
    """Refuse missing values (``"raise"``) or say how many rows were dropped; returns that number."""
    if not vocab.dropped:
        return 0
    desc = describe_counts(vocab.missing)
    if missing == "raise":
        raise ValueError(f"missing or non-finite values in column(s) {desc}; remove those rows or pass missing='drop'")
    if vocab.rows == 0:
        raise ValueError(f"no complete rows remain after dropping the {vocab.dropped} row(s) with missing or "
                         f"non-finite values in column(s) {desc}")
    warnings.warn(f"dropped {vocab.dropped} of {vocab.rows + vocab.dropped} row(s) with missing or non-finite values "
                  f"in column(s) {desc} (missing='drop')", UserWarning, stacklevel=4)
    return vocab.dropped


def check_finite(moments, encoder) -> None:
    """Refuse fixed- or random-effects columns with non-finite values (a logarithm of 0, say), naming them."""
    bad = moments.xy.nonfinite[:-1]
    if bad.any():
        desc = ", ".join(f"{encoder.names[j]!r} ({int(bad[j])})" for j in np.flatnonzero(bad))
        raise ValueError(f"the fixed-effects column(s) {desc} have non-finite values (a logarithm of 0, say); "
                         "transform the data so that every column is finite")
    for term, zm in zip(encoder.terms, moments.z):
        if zm.nonfinite.any():
            names = [n for t in term.lhs for n in t.names]
            desc = ", ".join(f"{names[j]!r} ({int(zm.nonfinite[j])})" for j in np.flatnonzero(zm.nonfinite))
            raise ValueError(f"the column(s) {desc} of the random-effects terms on {term.grouping.name!r} have "
                             "non-finite values")


def _classes(reterms, patterns) -> list[list[int]]:
    """The terms (by index) whose grouping factors split the observations alike, grouped as in memory.

    Two factors with equally many levels split them alike when every level of one occurs with
    exactly one level of the other: their level pairs number as many as their levels.
    """
    classes: list[list[int]] = []
    for i, r in enumerate(reterms):
        for cls in classes:
            first = reterms[cls[0]]
            if first.nlev == r.nlev and patterns[i, cls[0]].nnz == r.nlev:
                cls.append(i)
                break
        else:
            classes.append([i])
    return classes


def check_dependence(reterms, patterns, groups, r_z) -> None:
    """Refuse random-effects columns that depend on others (see the module docstring).

    ``groups`` lists the terms with equally many levels; ``r_z[g]`` is the ``R`` of the
    columns of group ``g``'s terms side by side.
    """
    classes = _classes(reterms, patterns)
    factors = []
    for cls in classes:
        g = next(k for k, group in enumerate(groups) if cls[0] in group)
        starts = np.cumsum([0] + [reterms[i].S for i in groups[g]])
        cols = np.concatenate([np.arange(starts[groups[g].index(i)], starts[groups[g].index(i) + 1]) for i in cls])
        factors.append(r_z[g][:, cols])
    check_independent_by_r([[reterms[i] for i in cls] for cls in classes], factors)


def check_estimable_by_r(model, r_xy) -> None:
    """:func:`~sklmixed.models.lmm_search.check_estimable` with ``R`` of ``√w [X̃ ỹ]`` for the rows."""
    rows = np.asarray(r_xy, dtype=float)
    proxy = SimpleNamespace(n=model.n, formula=model.formula, reterms=model.reterms, weights=np.ones(rows.shape[0]),
                            _factor=SimpleNamespace(Xy=rows))
    check_estimable(proxy)

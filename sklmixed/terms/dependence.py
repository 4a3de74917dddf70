r"""Dependent random-effects columns: terms whose variances cannot be told apart.

Two terms whose grouping factors split the observations alike (``g`` and ``g:g``, or the same
factor twice) contribute the columns :math:`Z_1, Z_2` of one design; when a combination of
their per-observation columns :math:`z` vanishes, :math:`Z` has dependent columns and the
likelihood depends on the sum of their covariances only. ``(1|g) + (1|g)``, ``(1|g/g)``,
``(x|g) + (x|g)``, a random slope of a constant next to a random intercept and a column that
is all zero are such designs: a fit would split one variance between them arbitrarily, so
they are refused, as lme4 would be asked to (it fits them silently).

Examples
--------
>>> import pandas as pd
>>> from sklmixed.terms import build_remats
>>> from sklmixed.formula import parse_formula
>>> data = pd.DataFrame({"g": list("aabbcc"), "x": [1.0, 2, 3, 4, 5, 6]})
>>> check_independent(build_remats(parse_formula("y ~ 1 + (1|g) + (1|g)").bars, data))
Traceback (most recent call last):
    ...
ValueError: the random-effects column '(Intercept)' of (1 + 1 | g) depends on the columns before it ...
"""

from __future__ import annotations

import numpy as np

from .feterm import full_rank_columns

__all__ = ["check_independent", "same_partition"]


def same_partition(a, b) -> bool:
    """Whether two terms' grouping factors split the observations into the same groups."""
    if a.nlev != b.nlev:
        return False
    pairs = np.unique(a.refs.astype(np.int64) * b.nlev + b.refs)
    return len(pairs) == a.nlev


def _classes(reterms) -> list[list]:
    classes: list[list] = []
    for r in reterms:
        for cls in classes:
            if same_partition(cls[0], r):
                cls.append(r)
                break
        else:
            classes.append([r])
    return classes


def check_independent(reterms) -> None:
    """Raise a ``ValueError`` naming the first random-effects column that depends on others.

    The columns of the terms on one partition of the observations are taken in order; a
    column whose part orthogonal to those before it is negligible (all zero, a constant next
    to an intercept, a repeat) is reported with its term.
    """
    for cls in _classes(reterms):
        z = np.vstack([r.z for r in cls]).T
        owners = [(r, name) for r in cls for name in r.cnames]
        with np.errstate(all="ignore"):
            keep = set(full_rank_columns(z).tolist())
        bad = [j for j in range(z.shape[1]) if j not in keep]
        if not bad:
            continue
        r, name = owners[bad[0]]
        columns = ["1" if c == "(Intercept)" else c for c in r.cnames]
        term = f"({' + '.join(columns)} | {r.name})"
        if not np.any(z[:, bad[0]]):
            why = "is all zero: it has no random effects"
        else:
            names = sorted({f"{o.name}" for o, _ in owners})
            why = (f"depends on the columns before it on the same groups ({', '.join(map(repr, names))}): "
                   "their variances cannot be told apart, and a fit would split one variance between them "
                   "arbitrarily (a repeated term, a nested factor that does not subdivide, or a random slope "
                   "of a constant next to a random intercept)")
        raise ValueError(f"the random-effects column {name!r} of {term} {why}; remove it")

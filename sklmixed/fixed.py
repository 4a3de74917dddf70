"""The fixed-effects model matrix ``X``: built by formulaic, reduced to full rank."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from .data import build_matrix, concrete_spec, encode_new
from .exceptions import RankDeficiencyWarning
from .remat import rename_intercept

__all__ = ["FeTerm", "full_rank_columns", "apply_contrasts"]

_CONTRASTS = {"treatment": "treatment", "sum": "sum", "helmert": "helmert", "diff": "diff", "poly": "poly"}


def apply_contrasts(rhs: str, contrasts, data: pd.DataFrame) -> tuple[str, dict]:
    """Rewrite ``rhs`` so each variable in ``contrasts`` is coded as asked.

    ``contrasts`` maps column names to ``"treatment"``, ``"sum"``, ``"helmert"``, ``"diff"``,
    ``"poly"`` or a formulaic contrasts object.
    """
    context = {}
    if not contrasts:
        return rhs, context
    if not isinstance(contrasts, dict):
        raise TypeError(f"contrasts must be a dict mapping column names to codings, got {type(contrasts).__name__}")
    for i, (col, coding) in enumerate(contrasts.items()):
        if col not in data.columns:
            raise ValueError(f"contrasts names column {col!r}, which is not in the data")
        if isinstance(coding, str):
            if coding not in _CONTRASTS:
                raise ValueError(f"unknown contrast coding {coding!r} for {col!r}; choose one of {sorted(_CONTRASTS)}")
            code = f"contr.{_CONTRASTS[coding]}"
        else:
            code = f"__sklmixed_contrast_{i}"
            context[code] = coding
        pattern = rf"(?<![\w.`]){re.escape(col)}(?![\w.`(])"
        rhs = re.sub(pattern, f"C({col}, {code})", rhs)
    return rhs, context


def full_rank_columns(X: np.ndarray, tol: float = 1e-8) -> np.ndarray:
    """Indices of the columns of ``X`` kept when dependent ones are dropped in order.

    A column is dropped when its component orthogonal to the columns kept before it is
    below ``tol`` times its norm, as R's ``lm`` and lme4 drop the later of collinear columns.
    """
    n, p = X.shape
    keep = []
    Q = np.zeros((n, 0))
    for j in range(p):
        x = X[:, j]
        norm = np.linalg.norm(x)
        if norm == 0 or not np.isfinite(norm):
            continue
        r = x - Q @ (Q.T @ x)
        r = r - Q @ (Q.T @ r)  # a second pass keeps the basis orthogonal to rounding
        rn = np.linalg.norm(r)
        if rn > tol * norm:
            keep.append(j)
            Q = np.column_stack([Q, r / rn])
    return np.asarray(keep, dtype=int)


class FeTerm:
    """The fixed-effects part of a mixed model.

    Attributes
    ----------
    X : ndarray of shape (n, rank)
        The full-rank model matrix.
    names : list of str
        Names of all columns formulaic built (``coef`` order).
    keep : ndarray of int
        Indices of the columns kept in ``X``.
    """

    def __init__(self, rhs: str, data: pd.DataFrame, contrasts=None):
        rhs, context = apply_contrasts(rhs, contrasts, data)
        self.context = context
        Xfull, names, self._spec = build_matrix(rhs, data, f"the fixed-effects matrix for {rhs!r}", context)
        self.names = rename_intercept(names)
        bad = np.sum(~np.isfinite(Xfull), axis=0)
        if bad.any():
            desc = ", ".join(f"{self.names[j]!r} ({int(bad[j])})" for j in np.flatnonzero(bad))
            raise ValueError(f"the fixed-effects column(s) {desc} have non-finite values (a logarithm of 0, "
                             "say); transform the data so that every column is finite")
        self.keep = full_rank_columns(Xfull)
        self.X = np.ascontiguousarray(Xfull[:, self.keep])
        self.dropped = [self.names[i] for i in range(len(self.names)) if i not in set(self.keep)]
        if self.dropped:
            warnings.warn(
                f"the fixed-effects model matrix is rank deficient: dropped {len(self.dropped)} "
                f"column(s) {self.dropped}",
                RankDeficiencyWarning,
                stacklevel=4,
            )

    @property
    def spec(self):
        """formulaic's ``ModelSpec`` of the fixed-effects matrix, to encode new data."""
        self._spec = concrete_spec(self._spec)
        return self._spec

    @property
    def rank(self) -> int:
        return len(self.keep)

    @property
    def kept_names(self) -> list[str]:
        return [self.names[i] for i in self.keep]

    def new_X(self, data: pd.DataFrame) -> np.ndarray:
        """The full-rank model matrix for new data, encoded as at fitting time."""
        return encode_new(self.spec, data, "fixed effects", self.context)[:, self.keep]

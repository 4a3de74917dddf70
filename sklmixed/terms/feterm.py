"""The fixed-effects term: the model matrix ``X`` reduced to full rank, and how to encode new data."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd

from ..exceptions import RankDeficiencyWarning
from ..formula.design import apply_contrasts, build_matrix, concrete_spec, encode_new, rename_intercept
from .magnitude import check_magnitudes

__all__ = ["FeTerm", "full_rank_columns"]


def full_rank_columns(X: np.ndarray, tol: float = 1e-8) -> np.ndarray:
    """Indices of the columns of ``X`` kept when dependent ones are dropped in order.

    A column is dropped when its component orthogonal to the columns kept before it is
    below ``tol`` times its norm, as R's ``lm`` and lme4 drop the later of collinear columns.
    Norms and inner products of the columns are those of the columns of ``R`` in ``X = QR``
    (``Q`` is orthonormal), so a tall ``X`` is judged by its ``p x p`` factor ``R``, from one
    blocked Householder QR, instead of column by column over all its rows.
    """
    n, p = X.shape
    if n > 4 * p and np.all(np.isfinite(X)):
        X = np.linalg.qr(X, mode="r")
        n = p
    columns = np.ascontiguousarray(X.T)
    Q = np.empty((p, n))  # the orthonormal basis of the columns kept, one row each
    keep = []
    for j in range(p):
        x = columns[j]
        norm = np.linalg.norm(x)
        if norm == 0 or not np.isfinite(norm):
            continue
        basis = Q[: len(keep)]
        r = x - (basis @ x) @ basis
        r = r - (basis @ r) @ basis  # a second pass keeps the basis orthogonal to rounding
        rn = np.linalg.norm(r)
        if rn > tol * norm:
            Q[len(keep)] = r / rn
            keep.append(j)
    return np.asarray(keep, dtype=int)


class FeTerm:
    """The fixed-effects part of a mixed model.

    Parameters
    ----------
    X : ndarray of shape (n, p)
        The model matrix, all columns (collinear ones are dropped here).
    names : list of str
        Column names (``"(Intercept)"`` for an intercept).
    spec : formulaic ``ModelSpec`` or LazySpec, optional
        How to encode new data (:meth:`new_X`); None for a matrix built by other means.
    context : dict, optional
        formulaic contrasts objects the spec refers to.

    Attributes
    ----------
    X : ndarray of shape (n, rank)
        The full-rank model matrix.
    names : list of str
        Names of all columns (``coef`` order).
    keep : ndarray of int
        Indices of the columns kept in ``X``.
    dropped : list of str
        Names of the columns dropped as collinear (a :class:`RankDeficiencyWarning` says so).
    """

    def __init__(self, X, names, *, spec=None, context=None, stacklevel=3):
        Xfull = np.asarray(X, dtype=float)
        self.names = list(names)
        self.context = context or {}
        self._spec = spec
        bad = np.sum(~np.isfinite(Xfull), axis=0)
        if bad.any():
            desc = ", ".join(f"{self.names[j]!r} ({int(bad[j])})" for j in np.flatnonzero(bad))
            raise ValueError(f"the fixed-effects column(s) {desc} have non-finite values (a logarithm of 0, "
                             "say); transform the data so that every column is finite")
        check_magnitudes(Xfull, self.names, "fixed-effects")
        self.keep = full_rank_columns(Xfull)
        self.X = np.ascontiguousarray(Xfull[:, self.keep])
        kept = set(self.keep.tolist())
        self.dropped = [self.names[i] for i in range(len(self.names)) if i not in kept]
        # all-zero columns: a category declared but never observed, say; new data in it is an unseen level
        self.never_observed = [i for i in range(len(self.names)) if i not in kept and not np.any(Xfull[:, i])]
        if self.dropped:
            warnings.warn(
                f"the fixed-effects model matrix is rank deficient: dropped {len(self.dropped)} "
                f"column(s) {self.dropped}",
                RankDeficiencyWarning,
                stacklevel=stacklevel + 1,
            )

    @classmethod
    def from_formula(cls, rhs: str, data: pd.DataFrame, contrasts=None) -> FeTerm:
        """The term of a formula's fixed-effects part ``rhs``, with ``contrasts`` (see :func:`apply_contrasts`)."""
        rhs, context = apply_contrasts(rhs, contrasts, data)
        Xfull, names, spec = build_matrix(rhs, data, f"the fixed-effects matrix for {rhs!r}", context)
        return cls(Xfull, rename_intercept(names), spec=spec, context=context, stacklevel=5)

    # formulaic's specs hold classes with __slots__ and no __getstate__, which protocols 0 and 1
    # cannot pickle: the spec travels as bytes of protocol 2 whatever the outer protocol
    def __getstate__(self):
        state = self.__dict__.copy()
        if state["_spec"] is not None:
            state["_spec"] = pickle.dumps(state["_spec"], protocol=max(2, pickle.DEFAULT_PROTOCOL))
        return state

    def __setstate__(self, state):
        if isinstance(state.get("_spec"), bytes):
            state["_spec"] = pickle.loads(state["_spec"])
        self.__dict__.update(state)

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
        if self._spec is None:
            raise TypeError("this fixed-effects term was built from a matrix, not from a formula; encode new data "
                            "as it was and use linear_predictor()")
        full = encode_new(self.spec, data, "fixed effects", self.context)
        unseen = getattr(self, "never_observed", [])
        if unseen:
            rows = np.flatnonzero(np.any(full[:, unseen] != 0, axis=1))
            if len(rows):
                names = [self.names[i] for i in unseen if np.any(full[rows, i] != 0)]
                raise ValueError(f"new data has {len(rows)} row(s) (the first: {rows[0]}) in the fixed-effects "
                                 f"column(s) {names}, which were all zero in the fitting data (a category declared "
                                 "but never observed): like a level not seen in fitting, they cannot be predicted")
        return full[:, self.keep]

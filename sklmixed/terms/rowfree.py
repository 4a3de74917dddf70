r"""Terms without rows: what a model fit from sums over the data keeps of its terms.

A model fit to data larger than memory (:mod:`sklmixed.outofcore`) never holds the rows: its
factor is built from sums over them. Its terms keep what describes the model and encodes new
data (levels, column names and encodings, λ) and refuse, by name, what would need the rows
(``refs``, ``z``, ``X``), so that a routine written for data in memory fails with a clear
message instead of computing on nothing.

The checks a term makes of its rows are made on the triangular factor :math:`R` of the
columns' QR decomposition instead, which sums over partitions can deliver: with
:math:`X = QR` and :math:`Q` orthonormal, every Gram–Schmidt step on the columns of
:math:`R` has the norms and residual norms of the same step on the columns of :math:`X`,
so the same columns are dropped (:func:`~sklmixed.terms.feterm.full_rank_columns`) or
refused as dependent (:func:`~sklmixed.terms.dependence.check_independent`).

Examples
--------
>>> import numpy as np
>>> X = np.column_stack([np.ones(5), np.arange(5.0), 2 * np.arange(5.0)])
>>> R = np.linalg.qr(X, mode="r")
>>> import warnings
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     fe = RowFreeFeTerm(R, ["(Intercept)", "x", "x2"], np.abs(X).max(axis=0))
>>> fe.kept_names
['(Intercept)', 'x']
>>> fe.X
Traceback (most recent call last):
    ...
TypeError: the fixed-effects term holds no rows (its model matrix X): ...
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .dependence import check_independent
from .feterm import FeTerm
from .magnitude import check_magnitudes
from .remat import ReMat, scale_of_rms

__all__ = ["RowFreeReMat", "RowFreeFeTerm", "check_independent_by_r"]


def _no_rows(owner: str, what: str) -> TypeError:
    return TypeError(f"the {owner} holds no rows ({what}): the model was built from sums over its data, which it "
                     "does not keep. Compute what needs the rows by a pass over the data (a model fit out of core "
                     "offers fitted() and residuals() as such passes)")


def _sealed(name: str, owner: str, what: str) -> property:
    """An attribute that may be set, and read until the object is sealed; then reading it raises."""
    slot = f"_{name}_rows"

    def get(self):
        if self.__dict__.get("_sealed"):
            raise _no_rows(owner, what)
        return self.__dict__[slot]

    def put(self, value):
        self.__dict__[slot] = value

    return property(get, put)


class RowFreeReMat(ReMat):
    """A random-effects term without rows: grouping factor, column encodings, λ.

    Parameters
    ----------
    grouping : GroupingFactor
        The levels (all of them, from every partition).
    lhs_terms : list of FormulaColumns
        The encodings of the columns (their ``z`` is emptied here).
    rms : ndarray of shape (S,)
        The root mean square of every column (unweighted), from which
        :attr:`ReMat.column_scale` is worked out.
    largest : ndarray of shape (S,)
        The largest magnitude of every column, for the check of
        :func:`~sklmixed.terms.magnitude.check_magnitudes`.
    """

    refs = _sealed("refs", "random-effects term", "the level of every row")
    z = _sealed("z", "random-effects term", "its columns' values")

    def __init__(self, grouping, lhs_terms, rms, largest):
        for t in lhs_terms:
            t.z = np.asarray(t.z)[:, :0]
        super().__init__(grouping, np.empty(0, dtype=np.int64), lhs_terms)
        check_magnitudes(np.asarray(largest, dtype=float)[None, :], self.cnames, "random-effects",
                         f" (grouping factor {grouping.name!r})")
        self._S = self.__dict__["_z_rows"].shape[0]
        self._column_scale = np.ones(self.S) if self.scalar_intercept else scale_of_rms(np.asarray(rms, dtype=float))
        self._sealed = True

    @property
    def S(self) -> int:
        return self.__dict__["_z_rows"].shape[0] if not self.__dict__.get("_sealed") else self._S

    def z_matrix(self):
        raise _no_rows("random-effects term", "its model matrix Z")


class RowFreeFeTerm(FeTerm):
    """The fixed-effects term without rows: names, the columns kept at full rank, the encoding.

    Parameters
    ----------
    R : ndarray of shape (p, p)
        The triangular factor of the QR decomposition of the unweighted model matrix (all
        columns): the columns are kept or dropped as :class:`FeTerm` would from the matrix.
    names : list of str
    largest : ndarray of shape (p,)
        The largest magnitude of every column (the check of :class:`FeTerm`).
    spec, context
        As for :class:`FeTerm`.
    """

    X = _sealed("X", "fixed-effects term", "its model matrix X")

    def __init__(self, R, names, largest, *, spec=None, context=None, stacklevel=3):
        check_magnitudes(np.asarray(largest, dtype=float)[None, :], list(names), "fixed-effects")
        R = np.asarray(R, dtype=float)
        # the decisions do not depend on the columns' scales: scaled to 1, R passes FeTerm's own check
        big = np.max(np.abs(R), axis=0, initial=0.0)
        super().__init__(R / np.where(big > 0, big, 1.0), names, spec=spec, context=context,
                         stacklevel=stacklevel + 1)
        self.__dict__["_X_rows"] = np.empty((0, self.rank))
        self._sealed = True


def check_independent_by_r(classes, factors) -> None:
    """:func:`~sklmixed.terms.dependence.check_independent` from QR factors instead of rows.

    Parameters
    ----------
    classes : list of list of ReMat
        The terms whose grouping factors split the observations alike, class by class (as
        :func:`~sklmixed.terms.dependence.same_partition` groups them).
    factors : list of ndarray
        Per class, the triangular factor of the QR decomposition of its terms' unweighted
        columns side by side, in the order of the class.
    """
    for cls, R in zip(classes, factors):
        R = np.asarray(R, dtype=float)
        proxies, start = [], 0
        for r in cls:
            # the rows of R stand for the observations: one partition of them (nlev 1) for the whole class
            proxies.append(SimpleNamespace(name=r.name, cnames=r.cnames, nlev=1, refs=np.zeros(R.shape[0], np.int64),
                                           z=R[:, start:start + len(r.cnames)].T))
            start += len(r.cnames)
        check_independent(proxies)

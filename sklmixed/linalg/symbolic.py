r"""The symbolic analysis of a blocked factor: which level pairs every block of ``L`` holds, and
the storage each block gets.

With terms :math:`1..k` (largest first) the pattern of :math:`L_{ij}` is that of
:math:`A_{ij}` plus the fill-in :math:`\sum_{m<j} L_{im} L_{jm}^\top`. The first term's
diagonal block receives nothing and stays block diagonal; any other diagonal block that
fills in is dense. An off-diagonal block is sparse (:class:`~sklmixed.linalg.blocks.BlockedSparse`)
while at most a fraction ``sparse_density`` of its level pairs occur, and dense otherwise, or
when a dense block updates it, or when scattering its rank update would touch more than
``max_pairs`` pairs. The block columns from the first all-dense one on form the *dense
tail*, factored by one LAPACK call (:mod:`~sklmixed.linalg.tail`); a factor of order at most
``dense_order`` is all tail, without any of this analysis.

The result is a frozen :class:`Layout`, computed once per model; :class:`Thresholds` holds
the numbers it depends on.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

__all__ = ["Thresholds", "Layout", "analyse", "thresholds", "use_thresholds"]


@dataclass(frozen=True)
class Thresholds:
    """The numbers the choice of storage depends on.

    Attributes
    ----------
    dense_order : int, default=64
        A factor of at most this order (random effects, fixed effects and response
        together) is one dense array: two small matrix products and one LAPACK call cost
        less than the several calls of a blocked program, and no symbolic analysis is needed.
    sparse_density : float, default=0.1
        A random-effects block is stored sparse when at most this fraction of its level
        pairs occur (MixedModels.jl's rule, its issue #346).
    max_pairs : int, default=20_000_000
        Largest number of block pairs a sparse rank update may scatter; beyond it BLAS on a
        dense copy wins.
    split_pairs : int, default=12_000_000
        Largest number of pairs the split update of a crossed scalar term keeps sparse
        (:mod:`~sklmixed.linalg.sparse_syrk`, 20 bytes each), or five per nonzero of its
        block if that is more; the rest goes to BLAS.
    """

    dense_order: int = 64
    sparse_density: float = 0.10
    max_pairs: int = 20_000_000
    split_pairs: int = 12_000_000


_DEFAULT = Thresholds()
_CURRENT: contextvars.ContextVar[Thresholds | None] = contextvars.ContextVar("sklmixed_thresholds", default=None)


def thresholds() -> Thresholds:
    """The thresholds new factors are built with (:class:`Thresholds` unless :func:`use_thresholds` says)."""
    return _CURRENT.get() or _DEFAULT


@contextlib.contextmanager
def use_thresholds(**values):
    """Build the factors of models created inside with other :class:`Thresholds`.

    For tests and experiments: ``with use_thresholds(dense_order=0):`` gives every factor
    the blocked program whatever its size. Scoped to the current thread or task.
    """
    token = _CURRENT.set(Thresholds(**{**vars(thresholds()), **values}))
    try:
        yield thresholds()
    finally:
        _CURRENT.reset(token)


def _pattern(rows, cols, shape) -> sp.csr_matrix:
    m = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def _binary(m: sp.spmatrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m)
    m.eliminate_zeros()
    m.data[:] = 1.0
    return m


@dataclass(frozen=True, eq=False)
class Layout:
    """The storage of every block of ``A`` and ``L``, decided once.

    Attributes
    ----------
    sizes : tuple of int
        Orders of the block rows: each term's number of random effects, then ``p + 1``.
    kinds : tuple of tuple of str
        ``kinds[i][j]`` (``i >= j``) is ``"ubd"``, ``"sparse"`` or ``"dense"``.
    tail : int
        First block column of the dense tail (``k`` when only the ``[X y]`` block is dense).
    fused : bool
        The dense tail is scaled as one array by two matrix products (small tails).
    patterns : list of list of scipy.sparse matrix, or None
        Level pattern of every random-effects block of ``L`` (fill-in included); None for a
        factor that is all tail.
    thresholds : Thresholds
    """

    sizes: tuple
    kinds: tuple
    tail: int
    fused: bool
    patterns: list | None = field(repr=False)
    thresholds: Thresholds = field(default_factory=Thresholds)
    #: the terms and the observed patterns of A's blocks, for :attr:`a_kinds`
    _a_source: tuple = field(default=(), repr=False)

    @functools.cached_property
    def a_kinds(self) -> dict:
        """What each random-effects block of ``A`` alone would need (for ``block_description``);
        worked out when first asked for, as a small factor skips the analysis."""
        return _a_kinds(*self._a_source, self.thresholds.sparse_density)

    @property
    def k(self) -> int:
        return len(self.sizes) - 1

    def pure(self, i: int, jj: int) -> bool:
        """True when ``L[i][jj]`` receives no update from block columns left of ``jj``."""
        P = self.patterns
        if i < self.k:
            return _pure(P, i, jj)
        return all(P[jj][m].nnz == 0 for m in range(jj))


def _a_kinds(remats, obs_pattern, sparse_density) -> dict:
    out = {}
    for i, ri in enumerate(remats):
        out[i, i] = "Diagonal" if ri.S == 1 else "BlkDiag"
        for j in range(i):
            rj = remats[j]
            Pa = obs_pattern[i, j] if obs_pattern else _pattern(ri.refs, rj.refs, (ri.nlev, rj.nlev))
            out[i, j] = "Sparse" if Pa.nnz <= sparse_density * np.prod(Pa.shape) else "Dense"
    return out


def _pure(P, i, jj) -> bool:
    """``L[i][jj]`` receives no update from the columns left of ``jj`` (see :meth:`Layout.pure`)."""
    return all((P[i][m] @ P[jj][m].T).nnz == 0 for m in range(jj))


def _tail_start(kinds, k) -> int:
    """First block column ``t`` from which every block of ``L`` (fixed rows included) is dense."""
    t = k
    for j in range(k - 1, -1, -1):
        if all(kinds[i][j] == "dense" for i in range(j, k + 1)):
            t = j
        else:
            break
    return t


def analyse(remats, p1: int, limits: Thresholds | None = None, observed: dict | None = None) -> Layout:
    """The :class:`Layout` of the factor of these terms with ``p1`` fixed-effects columns (response included).

    ``observed`` maps ``(i, j)`` (``i > j``) to the level pairs of terms ``i`` and ``j`` that
    occur, as an ``nlev_i x nlev_j`` sparse pattern, for terms that hold no rows to find them
    in (:mod:`~sklmixed.linalg.statistics`); by default they come from the terms' ``refs``.
    """
    limits = thresholds() if limits is None else limits
    R, k = list(remats), len(remats)
    sizes = tuple([r.nranef for r in R] + [int(p1)])
    if sum(sizes) <= limits.dense_order:
        kinds = tuple(("dense",) * (i + 1) for i in range(k + 1))
        return Layout(sizes, kinds, 0, bool(k), None, limits, (R, observed))
    P = [[None] * k for _ in range(k)]
    obs_pattern = {}
    diag_dense = [False] * k
    for j in range(k):
        # the first term's diagonal block receives nothing: it stays block diagonal. Another's
        # fills in (L[j][jj] L[j][jj]' has an entry off the diagonal) when a column has two levels
        diag_dense[j] = any(np.diff(P[j][jj].tocsc().indptr).max(initial=0) > 1 for jj in range(j))
        for i in range(j + 1, k):
            obs_pattern[i, j] = observed[i, j] if observed else _pattern(R[i].refs, R[j].refs, (R[i].nlev, R[j].nlev))
            Pij = obs_pattern[i, j]
            for jj in range(j):
                Pij = Pij + P[i][jj] @ P[j][jj].T
            P[i][j] = _binary(Pij)
    kind = [[None] * (k + 1) for _ in range(k + 1)]
    for j in range(k):
        kind[j][j] = "dense" if diag_dense[j] else "ubd"
        for i in range(j + 1, k):
            dense = diag_dense[j] or P[i][j].nnz > limits.sparse_density * np.prod(P[i][j].shape)
            for jj in range(j):
                touches = (P[i][jj] @ P[j][jj].T).nnz > 0
                if touches and "dense" in (kind[i][jj], kind[j][jj]):
                    dense = True
            # the last term's fill from a scalar term: a split update (sparse_syrk) whatever its pairs
            split = i == k - 1 and R[i].S == 1 and R[j].S == 1 and not diag_dense[j] and _pure(P, i, j)
            if not dense and diag_dense[i] and not split:
                colcounts = np.diff(P[i][j].tocsc().indptr)
                npairs = float(np.sum(colcounts * (colcounts + 1) / 2)) * R[i].S ** 2
                dense = npairs > limits.max_pairs
            kind[i][j] = "dense" if dense else "sparse"
        kind[k][j] = "dense"
    kind[k][k] = "dense"
    kinds = tuple(tuple(row[: i + 1]) for i, row in enumerate(kind))
    tail = _tail_start(kinds, k)
    fused = tail < k and sum(sizes[tail:]) <= limits.dense_order
    return Layout(sizes, kinds, tail, fused, P, limits, (R, obs_pattern))

r"""A blocked factor built from the sums that make up ``A``, without the rows they sum over.

Every block of :math:`A = [Z\;X\;y]^\top W [Z\;X\;y]` is a sum over observations: per level,
:math:`\sum_i w_i z_i z_i^\top` (the diagonal blocks); per pair of levels of two grouping
factors that occur together, :math:`\sum_i w_i z_{ai} z_{bi}^\top` (the off-diagonal blocks);
per level, :math:`\sum_i w_i [x_i\,y_i] z_i^\top` (the ``[X y]`` rows); and
:math:`\sum_i w_i [x_i\,y_i][x_i\,y_i]^\top`. Sums over disjoint sets of rows add up, so
whoever holds the rows (the partitions of a data set larger than memory, say) can compute
them piece by piece: :class:`CrossProducts` holds the result, and
:class:`SummaryCholesky` is the usual :class:`~sklmixed.linalg.factor.BlockedCholesky`
(the same layout, storage, program and results) whose ``A`` is installed from them.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from sklmixed.formula import parse_formula
>>> from sklmixed.terms import build_remats
>>> from sklmixed.linalg.factor import BlockedCholesky
>>> data = pd.DataFrame({"g": list("aabbcc"), "y": [1.0, 2, 2, 4, 3, 7]})
>>> remats = build_remats(parse_formula("y ~ 1 + (1|g)").bars, data)
>>> Xy = np.column_stack([np.ones(6), data["y"]])
>>> cp = CrossProducts.of_rows([r.refs for r in remats], [r.z for r in remats], [r.nlev for r in remats], Xy)
>>> rowfree = SummaryCholesky(remats, cp)
>>> full = BlockedCholesky(remats, Xy)
>>> full.evaluate(np.array([0.7])); rowfree.evaluate(np.array([0.7]))
>>> bool(np.isclose(full.logdet(), rowfree.logdet()) and np.isclose(full.pwrss, rowfree.pwrss))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .blocks import BlockedSparse, UniformBlockDiagonal
from .factor import BlockedCholesky
from .symbolic import analyse

__all__ = ["CrossProducts", "SummaryCholesky"]


@dataclass
class CrossProducts:
    """The blocks of ``A`` as sums over observations.

    Attributes
    ----------
    n : int
        Number of observations summed over.
    diagonal : list of ndarray of shape (nlev_j, S_j, S_j)
        Per term, :math:`\\sum w z z^\\top` per level.
    pairs : dict
        ``(i, j) -> (rows, cols, values)`` for every ``i > j``: the levels of term ``i`` and of
        term ``j`` that occur together (each pair once) and, of shape ``(npairs, S_i, S_j)``,
        :math:`\\sum w z_i z_j^\\top` over the rows of each pair.
    fixed_rows : list of ndarray of shape (p + 1, S_j nlev_j)
        Per term, :math:`[X\\,y]^\\top W Z_j` (columns level-major).
    fixed : ndarray of shape (p + 1, p + 1)
        :math:`[X\\,y]^\\top W [X\\,y]`.
    """

    n: int
    diagonal: list
    pairs: dict
    fixed_rows: list
    fixed: np.ndarray

    @classmethod
    def of_rows(cls, refs, zs, nlevs, Xy, weights=None) -> CrossProducts:
        """The sums over rows given as arrays (one partition's, say).

        Parameters
        ----------
        refs : list of ndarray of shape (n,)
            Per term, the level of every row.
        zs : list of ndarray of shape (S_j, n)
            Per term, its columns.
        nlevs : list of int
            Per term, its number of levels.
        Xy : ndarray of shape (n, p + 1)
        weights : ndarray of shape (n,), optional
        """
        Xy = np.asarray(Xy, dtype=float)
        n, p1 = Xy.shape
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
        wz = [z * w for z in zs]
        diagonal, fixed_rows, pairs = [], [], {}
        wXy = Xy if weights is None else Xy * w[:, None]
        for j, (ref, z, zw, nlev) in enumerate(zip(refs, zs, wz, nlevs)):
            S = z.shape[0]
            diagonal.append(_sums(ref * (S * S), zw.T[:, :, None] * z.T[:, None, :], nlev * S * S).reshape(nlev, S, S))
            # entry (c, level S + s): the sum of z_s w Xy_c over the rows of that level
            pos = ref[:, None, None] * S + np.arange(S)[None, :, None] + (np.arange(p1) * (S * nlev))[None, None, :]
            vals = zw.T[:, :, None] * Xy[:, None, :]
            fixed_rows.append(np.bincount(pos.reshape(-1), vals.reshape(-1), p1 * S * nlev).reshape(p1, S * nlev))
            for i in range(j):  # pairs (j, i) with j > i
                pairs[j, i] = _pair_sums(ref, refs[i], nlevs[i], zw, zs[i], nlev)
        return cls(n, diagonal, pairs, fixed_rows, Xy.T @ wXy)

    def __add__(self, other: CrossProducts) -> CrossProducts:
        """The sums over the rows of both (disjoint sets of rows of the same terms)."""
        pairs = {key: _merge_pairs(value, other.pairs[key]) for key, value in self.pairs.items()}
        return CrossProducts(self.n + other.n, [a + b for a, b in zip(self.diagonal, other.diagonal)], pairs,
                             [a + b for a, b in zip(self.fixed_rows, other.fixed_rows)], self.fixed + other.fixed)

    def patterns(self, remats) -> dict:
        """The level pairs that occur, ``(i, j) -> nlev_i x nlev_j`` pattern, for the symbolic analysis."""
        out = {}
        for (i, j), (rows, cols, _) in self.pairs.items():
            shape = (remats[i].nlev, remats[j].nlev)
            out[i, j] = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
        return out


def _sums(first, values, size) -> np.ndarray:
    """``bincount`` of ``values`` (n, a, b) at ``first + (s b + t)`` for every row and entry ``(s, t)``."""
    n, a, b = values.shape
    pos = first[:, None] + np.arange(a * b)[None, :]
    return np.bincount(pos.reshape(-1), values.reshape(-1), size)


def _pair_sums(ri, rj, nlev_j, zw_i, z_j, nlev_i):
    """The level pairs of two terms that occur, and the sums of ``w z_i z_j'`` over each one's rows."""
    key = ri.astype(np.int64) * nlev_j + rj
    if nlev_i * nlev_j <= max(4 * len(key), 1 << 22):  # few possible pairs: count them all, no sort
        present = np.flatnonzero(np.bincount(key, minlength=nlev_i * nlev_j))
        inverse = np.empty(nlev_i * nlev_j, dtype=np.int64)
        inverse[present] = np.arange(len(present))
        keys, inverse = present, inverse[key]
    else:
        keys, inverse = np.unique(key, return_inverse=True)
    Si, Sj = zw_i.shape[0], z_j.shape[0]
    sums = _sums(inverse.reshape(-1) * (Si * Sj), zw_i.T[:, :, None] * z_j.T[:, None, :], len(keys) * Si * Sj)
    return keys // nlev_j, keys % nlev_j, sums.reshape(-1, Si, Sj)


def _merge_pairs(a, b):
    """The level pairs of two sums, each pair once, with their sums added."""
    rows, cols = np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]])
    values = np.concatenate([a[2], b[2]])
    width = int(cols.max(initial=0)) + 1
    keys, inverse = np.unique(rows * width + cols, return_inverse=True)
    m = int(np.prod(values.shape[1:]))
    pos = inverse.reshape(-1)[:, None] * m + np.arange(m)[None, :]
    sums = np.bincount(pos.reshape(-1), values.reshape(-1), len(keys) * m)
    return keys // width, keys % width, sums.reshape((len(keys),) + values.shape[1:])


def _fill_dense(block, rows, cols, values, Si, Sj) -> None:
    """Zero a dense block and put the ``Si x Sj`` sums of level pairs ``(rows, cols)`` in place."""
    block[...] = 0.0
    r = rows[:, None, None] * Si + np.arange(Si)[None, :, None]
    c = cols[:, None, None] * Sj + np.arange(Sj)[None, None, :]
    r, c = np.broadcast_arrays(r, c)
    block[r.reshape(-1), c.reshape(-1)] = values.reshape(-1)


class SummaryCholesky(BlockedCholesky):
    """A :class:`~sklmixed.linalg.factor.BlockedCholesky` whose ``A`` comes from :class:`CrossProducts`.

    The terms need their levels and columns' count only (``nlev``, ``S``, λ), not their rows:
    the symbolic analysis reads the level pairs that occur from the cross-products. The
    factor evaluates, and reports ``logdet``, ``pwrss``, β̂ and the modes, exactly as one
    built from rows; it cannot reweight rows it does not hold, but :meth:`install` puts the
    sums of another weighting (a PIRLS iteration over partitions) in place.

    Parameters
    ----------
    remats : list of ReMat
        The random-effects terms, largest first.
    cross_products : CrossProducts
    thresholds : Thresholds, optional
    """

    def __init__(self, remats, cross_products: CrossProducts, *, thresholds=None):
        self.remats = list(remats)
        self.k = len(self.remats)
        p1 = cross_products.fixed.shape[0]
        self.Xy = np.empty((0, p1))  # no rows
        self.n, self.p = int(cross_products.n), p1 - 1
        self.layout = analyse(self.remats, p1, thresholds, observed=cross_products.patterns(self.remats))
        self.sizes = list(self.layout.sizes)
        self._allocate()
        self._prepare()
        self.install(cross_products)

    def install(self, cross_products: CrossProducts) -> None:
        """Put the sums of ``cross_products`` in ``A`` (same terms and level pairs); ``L`` is left to refactor."""
        k, R, A = self.k, self.remats, self.A
        if cross_products.fixed.shape != (self.p + 1, self.p + 1):
            raise ValueError(f"cross-products of {cross_products.fixed.shape[0]} fixed columns for a factor of "
                             f"{self.p + 1}")
        for j, r in enumerate(R):
            blk, diag = A[j][j], cross_products.diagonal[j]
            if isinstance(blk, UniformBlockDiagonal):
                blk.data[...] = diag
            else:
                levels = np.arange(r.nlev)
                _fill_dense(blk, levels, levels, diag, r.S, r.S)
            for i in range(j + 1, k):
                rows, cols, values = cross_products.pairs[i, j]
                blk = A[i][j]
                if isinstance(blk, BlockedSparse):
                    blk.data[...] = 0.0
                    blk.data[blk.block_index(rows, cols)] = values
                else:
                    _fill_dense(blk, rows, cols, values, R[i].S, r.S)
            A[k][j][...] = cross_products.fixed_rows[j]
        A[k][k][...] = cross_products.fixed
        self.n = int(cross_products.n)
        self._refresh()

    def _no_rows(self, *args, **kwargs):
        raise TypeError("this factor was built from cross-products and holds no rows to reweight; install() the "
                        "cross-products of the new weights instead")

    update_A = set_response = reweight = _no_rows

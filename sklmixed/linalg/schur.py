r"""The Schur update of a block fed only by a block-diagonal column, as one sparse product.

In the left-looking factorisation, block :math:`L_{ij}` receives
:math:`-L_{i,jj} L_{j,jj}^\top` from every column :math:`jj < j`. When column :math:`jj`'s
diagonal block is block diagonal (:math:`L_c` per level :math:`c`) and neither operand
received an update before (both are only scaled and divided:
:math:`L_{i,jj} = \Lambda_i^\top A_{i,jj} \Lambda_{jj} L^{-\top}`), the product is

.. math::

    L_{i,jj} L_{j,jj}^\top = \Lambda_i^\top \Bigl(\sum_c A_{i,jj}^{(c)}\, M_c\,
    A_{j,jj}^{(c)\top}\Bigr) \Lambda_j, \qquad M_c = \Lambda_{jj} (L_c L_c^\top)^{-1} \Lambda_{jj}^\top,

linear in the entries of the :math:`M_c`, with coefficients fixed by ``A``. One sparse
matrix-vector product per evaluation (coefficients times the stacked :math:`M_c`) then
replaces the products of all pairs of blocks; the coefficients are recomputed only when
``A`` changes (new weights, a new response), by the refresh this module returns with the op.
For crossed scalar terms (insteval's students and lecturers) this is the whole update of the
large dense block.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .blocks import BlockedSparse, UniformBlockDiagonal, column_pairs
from .dense import flat_view

__all__ = ["schur_op"]


def _unique_inverse(keys, bound):
    """``np.unique(keys, return_inverse=True)`` for keys in ``[0, bound)``, without sorting."""
    if bound > 50_000_000 or bound > 20 * len(keys):
        return np.unique(keys, return_inverse=True)
    present = np.zeros(bound, dtype=bool)
    present[keys] = True
    targets = np.flatnonzero(present)
    rank = np.cumsum(present) - 1
    return targets, rank[keys]


def _index_dtype(size: int):
    """The index type of scipy sparse structures: int32 while it suffices (half the memory
    traffic of a matrix-vector product). NumPy's fancy indexing and ``bincount`` want
    ``np.intp`` instead: any other index type is converted, at a cost, on every call."""
    return np.int32 if size < 2**31 - 1 else np.int64


def schur_op(layout, A, L, remats, i, j, jj):
    """``(op, refresh)`` for ``L[i][j] -= L[i][jj] L[j][jj]'`` through constant coefficients, or None
    when the update is not of that form (see the module docstring)."""
    Lmid, Ablk, Bblk = L[jj][jj], L[i][jj], L[j][jj]
    if not (isinstance(Lmid, UniformBlockDiagonal) and isinstance(Ablk, BlockedSparse)
            and isinstance(Bblk, BlockedSparse) and layout.pure(i, jj) and layout.pure(j, jj)):
        return None
    T = L[i][j]
    if i == j and not isinstance(T, (UniformBlockDiagonal, np.ndarray)):
        return None
    a_idx, b_idx = column_pairs(Ablk, Bblk, lower=(i == j))
    if len(a_idx) == 0:
        return None
    Si, Sj, Sm = Ablk.Si, Bblk.Si, Lmid.S
    nrow_lev = Ablk.nlev_shape[0]
    rows_a, rows_b, lev = Ablk.rows[a_idx], Bblk.rows[b_idx], Ablk.cols[a_idx]
    # unique target blocks; each (target, level) pair occurs once
    tkey = rows_a if isinstance(T, UniformBlockDiagonal) else rows_b * nrow_lev + rows_a
    targets, tinv = _unique_inverse(tkey, nrow_lev * max(1, Bblk.nlev_shape[0]))
    s = np.arange(Si)[:, None]
    t = np.arange(Sj)[None, :]
    if isinstance(T, UniformBlockDiagonal):
        pos = targets[:, None, None] * (Si * Sj) + s * Sj + t
        flat = T.data.reshape(-1)
    elif isinstance(T, BlockedSparse):
        blk = T.block_index(targets % nrow_lev, targets // nrow_lev)
        pos = blk[:, None, None] * (Si * Sj) + s * Sj + t
        flat = T.data.reshape(-1)
    else:
        flat, Ni, base = flat_view(T)
        ra, rb = targets % nrow_lev, targets // nrow_lev
        pos = base + (rb[:, None, None] * Sj + t) * Ni + ra[:, None, None] * Si + s
    pos = pos.reshape(-1).astype(np.intp)
    nrow, ncol = len(targets) * Si * Sj, Lmid.nlev * Sm * Sm
    Aun, Bun = A[i][jj], A[j][jj]
    if Si == Sj == Sm == 1:
        # one coefficient per pair, and the pairs come sorted by level (the blocks are sorted by
        # column): the coefficients are a CSC matrix as they stand, rows tinv, columns lev
        indptr = np.zeros(ncol + 1, dtype=np.int64)
        np.cumsum(np.bincount(lev, minlength=ncol), out=indptr[1:])
        index_dtype = _index_dtype(max(len(a_idx), nrow))
        coef = sp.csc_matrix((np.zeros(len(a_idx)), tinv.astype(index_dtype), indptr.astype(index_dtype)),
                             shape=(nrow, ncol))

        def refresh():
            np.multiply(Aun.data.reshape(-1)[a_idx], Bun.data.reshape(-1)[b_idx], out=coef.data)
    else:
        # coefficient rows: target element (tinv, s, t); columns: (level, u, v) of M
        u = np.arange(Sm)
        row = (tinv[:, None, None, None, None] * (Si * Sj) + (s * Sj + t)[None, :, :, None, None])
        col = (lev[:, None, None, None, None] * (Sm * Sm) + (u[:, None] * Sm + u[None, :])[None, None, None, :, :])
        shape5 = (len(a_idx), Si, Sj, Sm, Sm)
        row = np.broadcast_to(row, shape5).reshape(-1)
        col = np.broadcast_to(col, shape5).reshape(-1)
        # each (row, col) occurs once, so COO -> CSR (a counting sort) carries entry numbers along
        coef = sp.coo_matrix((np.arange(1, len(row) + 1, dtype=float), (row, col)), shape=(nrow, ncol)).tocsr()
        order = coef.data.astype(np.int64) - 1

        def refresh():
            vals = Aun.data[a_idx][:, :, None, :, None] * Bun.data[b_idx][:, None, :, None, :]
            coef.data[:] = vals.reshape(-1)[order]
    lam_i, lam_j, lam_m = remats[i].lambda_, remats[j].lambda_, remats[jj].lambda_
    ntarget = len(targets)

    if Si == Sj == Sm == 1:
        def op():
            m = (Lmid.inv.reshape(-1) * lam_m[0, 0]) ** 2
            m *= lam_i[0, 0] * lam_j[0, 0]
            flat[pos] -= coef @ m
        return op, refresh

    def op():
        G = np.matmul(Lmid.inv, lam_m.T)
        M = np.matmul(G.transpose(0, 2, 1), G)
        Y = (coef @ M.reshape(-1)).reshape(ntarget, Si, Sj)
        flat[pos] -= np.matmul(np.matmul(lam_i.T, Y), lam_j).reshape(-1)
    return op, refresh

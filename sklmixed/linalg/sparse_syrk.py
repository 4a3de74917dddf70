r"""The Schur update of a dense block by a large crossed scalar term, split where it is dense.

In a model with two crossed scalar terms (users and movies, students and lecturers) the
diagonal block :math:`C = L_{jj}` of the second term fills in and receives

.. math::

    C \mathrel{-}= B B^\top = \sum_u m_u\, a_u a_u^\top, \qquad
    m_u = \Bigl(\frac{\lambda_j \lambda_{jj}}{\ell_u}\Bigr)^2,

from the first term, where :math:`B = L_{j,jj}` is sparse, :math:`a_u` is column :math:`u`
of :math:`A_{j,jj}` (the levels of term :math:`j` that co-occur with level :math:`u`) and
:math:`\ell_u` the diagonal of :math:`L_{jj,jj}`. A dense SYRK costs :math:`n^2/2` per column
(:math:`n` the rows of :math:`C`), the sparse sum :math:`c_u^2/2` for a column with
:math:`c_u` nonzeros, about 45 times more per product. With MovieLens-like skew, a few
columns (active users) and a few rows (popular movies) are dense enough for BLAS and the
rest is very sparse, so the update is split in three:

* *heavy columns* :math:`H`: gathered into a dense :math:`n \times |H|` array, in chunks,
  and added by BLAS (``dsyrk``, on the view of :math:`C`, in row panels);
* the other columns on the *dense rows* :math:`P`: gathered into a dense
  :math:`|P| \times |L|` array :math:`D`, a SYRK for the :math:`P \times P` entries and a
  sparse-by-dense product :math:`B_{RL} D^\top` for the :math:`R \times P` entries
  (:math:`R` the other rows);
* the :math:`R \times R` entries as constant coefficients times :math:`m`: one sparse
  matrix-vector product, with the pairs grouped by target (CSR) when the targets do not
  fit in cache, as in
  :mod:`~sklmixed.linalg.schur`; the coefficients are products of entries of ``A`` and are
  recomputed only when ``A`` changes.

:func:`choose_split` picks :math:`|H|` and :math:`|P|` from the pattern alone with a fixed
cost model (so the split, hence the rounding, is the same on every machine), under a cap
on the pairs stored, 20 bytes each: ``Thresholds.split_pairs`` or five per nonzero of
:math:`B`, whichever is larger. The pieces are fixed
too: a large :math:`C` is updated in two row panels, and the sparse parts in parallel with
them (:func:`~sklmixed.linalg.parallel.parallel_map`): the same bits on any number of threads.

Examples
--------
>>> import numpy as np
>>> from sklmixed.linalg.blocks import BlockedSparse
>>> from sklmixed.linalg.sparse_syrk import choose_split
>>> rows, cols = np.array([0, 1, 2, 0, 1]), np.array([0, 0, 0, 1, 2])
>>> split = choose_split(BlockedSparse(rows, cols, (3, 3), 1, 1), max_pairs=100)
>>> len(split.heavy), len(split.dense_rows), split.pairs  # all sparse: 6 + 1 + 1 pairs
(0, 0, 8)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from . import blas
from .blocks import BlockedSparse, UniformBlockDiagonal, ragged_arange
from .dense import flat_view
from .parallel import WORKERS_PAY, parallel_map, workers

__all__ = ["Split", "SparseSyrk", "choose_split", "sparse_syrk_op"]

#: seconds per unit of work, for choosing the split (fixed: the split must not depend on the machine)
COST = {"fma": 0.04e-9, "fill": 1.0e-9, "sparse_dense": 0.35e-9, "pair": 2.5e-9, "scatter": 4.0e-9, "call": 20e-6}
#: fractions of the columns (by decreasing count) tried as heavy
HEAVY_FRACTIONS = (0.0, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.5)
#: heavy columns are gathered and added this many at a time (bounds the dense buffer)
HEAVY_CHUNK = 512
#: row bins tried for the dense rows
ROW_BINS = 32
#: entries of the dense-rows buffer (64 MB): the light columns are gathered that many at a time
DENSE_BUFFER = 8_000_000
#: up to this many targets (2 MB of them) the pairs stay in the CSC order they are enumerated in
CSC_TARGETS = 262_144
#: up to this many lower-triangle entries the targets are found by a table (1 + 4 bytes each), else by sorting
TARGET_TABLE = 100_000_000


@dataclass(frozen=True)
class Split:
    """Where the update of :math:`C` by :math:`B B^\\top` is dense.

    Attributes
    ----------
    heavy : ndarray of int
        Column levels of ``B`` added densely over all rows.
    dense_rows : ndarray of int
        Row levels gathered densely for the other columns.
    pairs : int
        Products of pairs of entries left to the sparse part.
    cost : float
        The model's estimate of one update, in seconds.
    """

    heavy: np.ndarray
    dense_rows: np.ndarray
    pairs: int
    cost: float


def choose_split(B: BlockedSparse, max_pairs: int) -> Split:
    """The cheapest :class:`Split` of ``B B'`` by :data:`COST` with at most ``max_pairs`` pairs left
    sparse (all dense if no split keeps that few); the pattern of ``B`` alone decides."""
    nrow, ncol = B.nlev_shape
    counts = np.diff(B.colptr)
    col_order = np.argsort(-counts, kind="stable")
    nonempty = int(np.count_nonzero(counts))
    bins = min(ROW_BINS, max(1, nrow))
    step = -(-nrow // bins)
    # a column pays as dense only if its pairs cost more than its share of a SYRK (c > n sqrt(fma / pair)):
    # when all the pairs fit under the cap, no more heavy columns than that are tried
    useful = int(np.count_nonzero(counts > nrow * np.sqrt(COST["fma"] / COST["pair"])))
    if float(np.sum(counts * (counts + 1.0) / 2)) > max_pairs:
        useful = nonempty
    best = None
    for h in sorted({min(useful, int(np.ceil(f * ncol))) for f in HEAVY_FRACTIONS} | {nonempty}):
        light = np.ones(ncol, dtype=bool)
        light[col_order[:h]] = False
        in_light = light[B.cols]
        rows, cols = B.rows[in_light], B.cols[in_light]
        row_order = np.argsort(-np.bincount(rows, minlength=nrow), kind="stable")
        rank = np.empty(nrow, dtype=np.int64)
        rank[row_order] = np.arange(nrow)
        per_bin = np.bincount(cols * (bins + 1) + rank[rows] // step, minlength=ncol * (bins + 1))
        # r[u, k]: nonzeros of column u in rows ranked k * step or later
        r = np.cumsum(per_bin.reshape(ncol, bins + 1)[:, ::-1], axis=1)[:, ::-1].astype(float)
        nlight = ncol - h
        for k in range(bins + 1):
            p = min(k * step, nrow)
            rk = r[:, k] if k < bins else np.zeros(ncol)
            pairs = float(np.sum(rk * (rk + 1) / 2))
            if pairs > max_pairs and not (h == nonempty):
                continue
            rest = nrow - p
            calls = -(-h // HEAVY_CHUNK) + (p > 0)  # BLAS calls of the heavy chunks and the dense rows
            cost = (COST["call"] * calls
                    + COST["fma"] * (h * nrow * nrow / 2 + nlight * p * p / 2) + COST["fill"] * (nrow * h + p * nlight)
                    + COST["sparse_dense"] * float(rk.sum()) * p + COST["pair"] * pairs
                    + COST["scatter"] * (p * p / 2 + rest * p + min(pairs, rest * (rest + 1) / 2)))
            if best is None or cost < best[0]:
                best = (cost, col_order[:h].copy(), row_order[:p].copy(), int(pairs))
    cost, heavy, dense_rows, pairs = best
    return Split(np.sort(heavy), np.sort(dense_rows), pairs, cost)


def _lower_positions(rows_a, rows_b, ld, base):
    """Flat positions in a column-major ``C`` of the lower-triangle entries ``(max, min)`` of row pairs."""
    hi, lo = np.maximum(rows_a, rows_b), np.minimum(rows_a, rows_b)
    return (base + lo * ld + hi).astype(np.intp)


def _panels(n: int):
    """Row panels of ``C`` updated as separate pieces: two halves from :data:`WORKERS_PAY` rows on."""
    cuts = [0, n] if n < WORKERS_PAY else [0, n // 2, n]
    return [slice(lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:])]


class _HeavyColumns:
    """``C -= B_H B_H'`` for the heavy columns: gathered :data:`HEAVY_CHUNK` at a time into a dense
    buffer, added by BLAS in row-panel pieces (a syrk on each diagonal panel, a gemm below)."""

    def __init__(self, B, C, heavy):
        n = B.nlev_shape[0]
        slot = np.full(B.nlev_shape[1], -1, dtype=np.int64)
        self.chunks = []
        for start in range(0, len(heavy), HEAVY_CHUNK):
            cols = heavy[start:start + HEAVY_CHUNK]
            slot[cols] = np.arange(len(cols))
            idx = np.flatnonzero(np.isin(B.cols, cols))
            self.chunks.append((len(cols), idx.astype(np.intp), (B.rows[idx] + slot[B.cols[idx]] * n).astype(np.intp)))
        self.buffer = np.zeros((n, min(HEAVY_CHUNK, len(heavy))), order="F")
        self.values, self.C = B.data.reshape(-1), C
        panels = _panels(n)
        self.pieces = [(rows, cols) for k, rows in enumerate(panels) for cols in panels[: k + 1]]

    def gather(self, chunk):
        width, idx, pos = chunk
        self.buffer.fill(0.0)
        self.buffer.reshape(-1, order="F")[pos] = self.values[idx]
        return self.buffer[:, :width]

    def piece(self, D, rows, cols):
        if rows == cols:
            return lambda: blas.syrk(self.C[rows, rows], D[rows])
        return lambda: blas.gemm(self.C[rows, cols], D[rows], D[cols])


class _DenseRows:
    """For the light columns, the entries of ``C`` in the dense rows ``P``: a SYRK of the gathered
    ``D = B_{P,L}`` and the product ``B_{R,L} D'``; their values and flat positions in ``C``.

    The light columns are taken :data:`DENSE_BUFFER` entries of ``D`` at a time (a fixed
    split: the sums over the chunks are the same on any machine).
    """

    def __init__(self, B, light, P, flat_pos):
        n = B.nlev_shape[0]
        light_cols = np.flatnonzero(light)
        lslot = np.full(B.nlev_shape[1], -1, dtype=np.int64)
        lslot[light_cols] = np.arange(len(light_cols))
        p = len(P)
        pslot = np.full(n, -1, dtype=np.int64)
        pslot[P] = np.arange(p)
        R = np.flatnonzero(pslot < 0)
        rslot = np.full(n, -1, dtype=np.int64)
        rslot[R] = np.arange(len(R))
        entry_col = np.where(light[B.cols], lslot[B.cols], -1)
        width = max(256, DENSE_BUFFER // max(p, 1))
        self.chunks = []
        for c0 in range(0, len(light_cols) if p else 0, width):
            c1 = min(c0 + width, len(light_cols))
            in_chunk = (entry_col >= c0) & (entry_col < c1)
            d_idx = np.flatnonzero(in_chunk & (pslot[B.rows] >= 0)).astype(np.intp)
            d_pos = (pslot[B.rows[d_idx]] + (entry_col[d_idx] - c0) * p).astype(np.intp)
            # B_{R,L} in CSC form (B's own order: by column, then row): the product with D' goes a
            # column at a time, reading one row of D' for all of the column's entries
            r_take = np.flatnonzero(in_chunk & (rslot[B.rows] >= 0)).astype(np.intp)
            indptr = np.concatenate([[0], np.cumsum(np.bincount(entry_col[r_take] - c0, minlength=c1 - c0))])
            BR = sp.csc_matrix((np.zeros(len(r_take)), rslot[B.rows[r_take]], indptr), shape=(len(R), c1 - c0))
            self.chunks.append((c1 - c0, d_idx, d_pos, r_take, BR))
        self.D = np.zeros((p, min(width, len(light_cols))), order="F")
        self.X = np.zeros((p, p), order="F")
        pa, pb = np.tril_indices(p)
        self.x_src = (pb * p + pa).astype(np.intp)  # X is column-major: entry (a, b) at b * p + a
        self.x_pos = flat_pos(P[pa], P[pb])
        self.Y = np.zeros((len(R), p))
        self.y_pos = flat_pos(np.repeat(R, p), np.tile(P, len(R))) if p else np.zeros(0, dtype=np.intp)
        self.values = B.data.reshape(-1)

    def compute(self):
        if not self.chunks:
            return np.zeros(0), np.zeros(0)
        self.Y.fill(0.0)
        for number, (w, d_idx, d_pos, r_take, BR) in enumerate(self.chunks):
            D = self.D[:, :w]
            D.fill(0.0)
            D.reshape(-1, order="F")[d_pos] = self.values[d_idx]
            blas.syrk(self.X, D, alpha=1.0, beta=0.0 if number == 0 else 1.0)
            if BR.shape[0]:
                np.take(self.values, r_take, out=BR.data)
                self.Y += BR @ D.T
        return self.X.reshape(-1, order="F")[self.x_src], self.Y.reshape(-1)


class SparseSyrk:
    """The op and refresh of ``C -= B B'`` by a :class:`Split` (see the module docstring)."""

    def __init__(self, C, B, A_block, Lmid, lam_j, lam_m, split: Split):
        n, ncol = B.nlev_shape
        self.flat, ld, base = flat_view(C)

        def flat_pos(rows_a, rows_b):
            return _lower_positions(rows_a, rows_b, ld, base)

        heavy = np.zeros(ncol, dtype=bool)
        heavy[split.heavy] = True
        self.heavy = _HeavyColumns(B, C, split.heavy)
        self.dense_rows = _DenseRows(B, ~heavy, split.dense_rows, flat_pos)
        in_r = ~heavy[B.cols] & ~np.isin(B.rows, split.dense_rows)
        self.K, self.pair_a, self.pair_b, self.k_pos = _pair_coefficients(B, in_r, ld, base, n)
        self.a1 = A_block.data.reshape(-1)
        self._refreshed_from = None
        self.n, self.Lmid, self.lam_j, self.lam_m = n, Lmid, lam_j, lam_m

    def refresh(self):
        """The coefficients from ``A``; skipped when ``A``'s block has not changed (a new response)."""
        if self._refreshed_from is not None and np.array_equal(self._refreshed_from, self.a1):
            return
        np.multiply(self.a1[self.pair_a], self.a1[self.pair_b], out=self.K.data)
        self._refreshed_from = self.a1.copy()

    def pairs(self):
        if not self.K.nnz:
            return np.zeros(0)
        m = (self.Lmid.inv.reshape(-1) * self.lam_m[0, 0]) ** 2
        m *= self.lam_j[0, 0] ** 2
        return self.K @ m

    def op(self):
        heavy = self.heavy
        light = [self.pairs, self.dense_rows.compute]
        results = None
        threads = workers(self.n)
        for number, chunk in enumerate(heavy.chunks or [None]):
            tasks = light if number == 0 else []
            if chunk is not None:
                D = heavy.gather(chunk)
                tasks = tasks + [heavy.piece(D, rows, cols) for rows, cols in heavy.pieces]
            out = parallel_map(tasks, threads)
            if number == 0:
                results = out[: len(light)]
        y_pairs, (x, y_rp) = results
        flat = self.flat
        for pos, values in ((self.dense_rows.x_pos, x), (self.dense_rows.y_pos, y_rp), (self.k_pos, y_pairs)):
            if len(values):
                flat[pos] -= values


def sparse_syrk_op(layout, A, L, remats, j, jj, max_pairs):
    """``(op, refresh)`` for ``L[j][j] -= L[j][jj] L[j][jj]'`` by a :class:`Split`, or None when the
    blocks are not of that form (a dense ``L[j][j]``, scalar terms, ``L[j][jj]`` only scaled)."""
    C, B, Lmid = L[j][j], L[j][jj], L[jj][jj]
    if not (isinstance(C, np.ndarray) and isinstance(B, BlockedSparse) and isinstance(Lmid, UniformBlockDiagonal)
            and B.Si == 1 and B.Sj == 1 and Lmid.S == 1 and B.nnzb and layout.pure(j, jj)):
        return None
    # the cap grows with the term, five pairs (100 bytes) a nonzero: memory in proportion to the data's
    cap = max(max_pairs, 5 * B.nnzb)
    update = SparseSyrk(C, B, A[j][jj], Lmid, remats[j].lambda_, remats[jj].lambda_, choose_split(B, cap))
    return update.op, update.refresh


def _column_pairs(rows, colptr, columns, n):
    """For the consecutive columns ``columns`` of a pattern (row levels ``rows`` sorted within each
    column, column pointers ``colptr``): the entry numbers ``(a, b)`` of every pair in a column with
    ``b`` at or before ``a``, and its lower target ``(rows[a], rows[b])`` numbered along the lower
    triangle by rows, ``rows[a] (rows[a] + 1) / 2 + rows[b]``."""
    lo, hi = colptr[columns[0]], colptr[columns[-1] + 1]
    entries = np.arange(lo, hi)
    counts = np.diff(colptr[columns[0]:columns[-1] + 2])
    within = entries - np.repeat(colptr[columns], counts) + 1
    a = np.repeat(entries, within)
    b = ragged_arange(entries - within + 1, within)
    ra = rows[a]
    return a, b, ra * (ra + 1) // 2 + rows[b]


def _triangle_rows(t):
    """Row and column of the lower-triangle entries numbered ``t`` by rows (see :func:`_column_pairs`)."""
    hi = ((np.sqrt(8.0 * t + 1) - 1) // 2).astype(np.int64)
    hi -= hi * (hi + 1) // 2 > t  # floating point may land one row off either way
    hi += (hi + 1) * (hi + 2) // 2 <= t
    return hi, t - hi * (hi + 1) // 2


def _pair_coefficients(B: BlockedSparse, keep: np.ndarray, ld: int, base: int, n: int, chunk=2_000_000):
    """The pairs of kept entries of ``B`` in one column, as a sparse matrix with one row per lower-triangle
    target and one column per column of ``B`` (CSR for many targets, CSC else); the entry numbers
    ``(a, b)`` of each pair in the matrix's order; and the flat positions of the targets in ``C``.

    Pairs are enumerated column by column in chunks of about ``chunk``, twice (targets first), so
    that the memory beyond the result stays small.
    """
    idx = np.flatnonzero(keep)
    everything = len(idx) == B.nnzb  # entry numbers are B's own
    rows = B.rows[idx]
    ncol = B.nlev_shape[1]
    colptr = np.concatenate([[0], np.cumsum(np.bincount(B.cols[idx], minlength=ncol))])
    counts = np.diff(colptr)
    per_col = counts * (counts + 1) // 2
    ends = np.cumsum(per_col)
    edges = np.unique(np.concatenate([[0], np.searchsorted(ends, np.arange(chunk, ends[-1] if ncol else 0, chunk)) + 1,
                                      [ncol]]).clip(0, ncol))
    spans = [np.arange(lo, hi) for lo, hi in zip(edges[:-1], edges[1:])]
    npairs = int(ends[-1]) if len(ends) else 0
    # one chunk is enumerated once; several twice, rather than held
    single = _column_pairs(rows, colptr, spans[0], n) if len(spans) == 1 else None

    def enumerate_pairs(cols):
        return single if single is not None else _column_pairs(rows, colptr, cols, n)

    if n * (n + 1) // 2 <= TARGET_TABLE:  # a table of the targets present, then their ranks
        present = np.zeros(n * (n + 1) // 2, dtype=bool)
        for cols in spans:
            present[enumerate_pairs(cols)[2]] = True
        targets = np.flatnonzero(present)
        rank = np.cumsum(present, dtype=np.int32)
        del present
        rank -= 1
    else:
        targets, rank = np.unique(np.concatenate([enumerate_pairs(c)[2] for c in spans])), None
    index = np.int32 if max(npairs, len(idx), len(targets)) < 2**31 - 1 else np.int64
    a32, b32, tinv = (np.empty(npairs, dtype=index) for _ in range(3))
    at = 0
    for cols in spans:
        a, b, key = enumerate_pairs(cols)
        stop = at + len(a)
        a32[at:stop], b32[at:stop] = (a, b) if everything else (idx[a], idx[b])
        tinv[at:stop] = rank[key] if rank is not None else np.searchsorted(targets, key)
        at = stop
    del rank
    # enumerated column by column, the pairs are a CSC matrix. Its product with a vector scatters
    # into the targets: fine while they fit in cache, slower than a CSR matrix's gathers beyond.
    # CSC -> CSR is a counting sort that carries the pair numbers along (each (target, column) once)
    pair_ptr = np.concatenate([[0], np.cumsum(per_col)]).astype(index)
    csc = sp.csc_matrix((np.arange(npairs, dtype=float), tinv, pair_ptr), shape=(len(targets), ncol))
    del tinv
    if len(targets) <= CSC_TARGETS:
        K, pair_a, pair_b = csc, a32, b32
    else:
        K = csc.tocsr()
        del csc
        order = K.data.astype(np.intp)
        pair_a, pair_b = a32[order], b32[order]
        del order, a32, b32
    K.data[:] = 0.0
    hi, lo = _triangle_rows(targets)
    rr_pos = (base + lo * ld + hi).astype(np.intp)
    return K, pair_a, pair_b, rr_pos

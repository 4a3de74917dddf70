r"""The blocked cross-product matrix ``A`` and its blocked Cholesky factor ``L``.

With terms :math:`1..k` and the fixed block :math:`[X\,y]`, both matrices are stored as the
lower-triangular blocks ``A[i][j]`` and ``L[i][j]`` (``i >= j``), and

.. math::

    L L^\top = \begin{bmatrix}\Lambda^\top Z^\top W Z\Lambda + I & \Lambda^\top Z^\top W [X y]\\
    [X y]^\top W Z \Lambda & [X y]^\top W [X y]\end{bmatrix}.

The block structure is decided once, symbolically, when the factor is built: the level
pattern of every ``L`` block (its fill-in included) is computed from the data, and each
block gets the cheapest storage that holds it (:mod:`sklmixed.blocks`). Each call of
:meth:`BlockedCholesky.update_L` then runs a fixed program of vectorised kernels over
preallocated buffers. The blocks from the first all-dense block column on (the "tail":
the fixed effects, and a term whose diagonal block fills in, with everything after it)
are views of one Fortran array, factored by one LAPACK ``potrf``; a factor of order at
most :data:`DENSE_ORDER` is all tail, with no symbolic analysis, as a few dense BLAS calls
then cost less than the many small ones of a blocked program.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas, lapack, solve_triangular

from .blocks import (
    BlockedSparse,
    PosDefError,
    UniformBlockDiagonal,
    block_kind,
    cholesky_inplace,
    gemm_update,
    right_trsm,
    scatter_add,
    syrk_update,
    triangular_inverse,
)

__all__ = ["BlockedCholesky"]

#: a random-effects block is stored sparse when at most this fraction of its level pairs occur
SPARSE_DENSITY = 0.10
#: largest number of block pairs a sparse rank update may scatter; beyond it BLAS on a dense copy wins
MAX_PAIRS = 20_000_000
#: a factor of at most this order (random effects, fixed effects and response together) is one
#: dense array: two small matrix products and one LAPACK call cost less than the several calls
#: of a blocked program, and the symbolic analysis is not needed
DENSE_ORDER = 64


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


def _ragged_arange(starts, counts):
    """``concatenate([arange(s, s + c) for s, c in zip(starts, counts)])``, without the loop."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    ends = np.cumsum(counts)
    return np.arange(total, dtype=np.int64) + np.repeat(np.asarray(starts, dtype=np.int64) - (ends - counts), counts)


def _pairs(A: BlockedSparse, B: BlockedSparse, lower: bool):
    """All pairs (a, b) of blocks of A and B in the same column level.

    With ``lower`` (``A is B``), only the pairs with ``rows[a] >= rows[b]``: as rows are
    sorted within each column, those are the pairs with ``b <= a`` in the column.
    """
    if lower:
        if A is not B:
            raise ValueError("lower pairs are those of a block with itself")
        first = A.colptr[A.cols]
        counts = np.arange(A.nnzb) - first + 1
        return np.repeat(np.arange(A.nnzb), counts), _ragged_arange(first, counts)
    counts = np.diff(B.colptr)[A.cols]
    return np.repeat(np.arange(A.nnzb), counts), _ragged_arange(B.colptr[A.cols], counts)


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


def _scale_dense(src: np.ndarray, lam_i, lam_j, out: np.ndarray) -> None:
    """``out = Λ_i' src Λ_j`` for block-diagonal Λ's (``lam_i`` None for the fixed row)."""
    Si = 1 if lam_i is None else lam_i.shape[0]
    Sj = lam_j.shape[0]
    if Si == 1 and Sj == 1:
        np.multiply(src, (1.0 if lam_i is None else lam_i[0, 0]) * lam_j[0, 0], out=out)
        return
    # work on a contiguous copy: ``out`` may be a strided view into the dense tail
    Ni, Nj = out.shape
    work = np.array(src, order="F")
    if Sj > 1:
        view = work.reshape((Ni, Sj, Nj // Sj), order="F")
        view[...] = np.einsum("rtc,tu->ruc", view, lam_j)
    else:
        work *= lam_j[0, 0]
    if lam_i is not None:
        if Si > 1:
            view = work.reshape((Si, Ni // Si, Nj), order="F")
            view[...] = np.einsum("sic,su->uic", view, lam_i)
        else:
            work *= lam_i[0, 0]
    np.copyto(out, work)


def _diagonal_view(a: np.ndarray) -> np.ndarray:
    """A writable view of the diagonal of a square (possibly strided) array."""
    return np.lib.stride_tricks.as_strided(a, shape=(a.shape[0],), strides=(a.strides[0] + a.strides[1],))


def _fortran_zeros(shape):
    return np.zeros(shape, order="F")


class BlockedCholesky:
    """``A = [Z X y]' W [Z X y]`` in blocks, and its blocked Cholesky factor ``L``.

    Parameters
    ----------
    remats : list of ReMat
        The random-effects terms, largest first.
    Xy : ndarray of shape (n, p + 1)
        The full-rank fixed-effects model matrix with the response as last column.
    weights : ndarray of shape (n,), optional
        Case weights.

    Attributes
    ----------
    A, L : list of lists
        ``A[i][j]`` and ``L[i][j]`` for ``i >= j``; index ``k = len(remats)`` is ``[X y]``.
    """

    def __init__(self, remats, Xy, weights=None):
        self.remats = list(remats)
        self.k = len(self.remats)
        self.Xy = np.asarray(Xy, dtype=float)
        self.n, p1 = self.Xy.shape
        self.p = p1 - 1
        self.sizes = [r.nranef for r in self.remats] + [p1]
        self._symbolic()
        self._program = self._compile()
        self.update_A(weights)

    # the compiled program is closures over the buffers: rebuild it instead of pickling it
    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ("_program", "_A_plan", "_coef_refresh", "_fixed_plan"):
            state.pop(key, None)
        state.pop("_tail_diagonal", None)
        if state.get("_big") is not None:  # views would be pickled as copies: rebuild them instead
            t = state["tail"]
            for name in ("L", "A"):
                state[name] = [[None if j >= t else blk for j, blk in enumerate(row)] for row in state[name]]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._tail_views()
        self._A_plan = None
        self._program = self._compile()
        for refresh in self._coef_refresh:
            refresh()

    # ------------------------------------------------------------------ structure
    def _symbolic(self) -> None:
        """Level patterns of every block of L, and the storage each block gets."""
        k, R = self.k, self.remats
        self._A_kinds = None
        if sum(self.sizes) <= DENSE_ORDER:
            self.kind = [["dense"] * (k + 1) for _ in range(k + 1)]
            self.patterns = None
            self._build_blocks()
            return
        P = [[None] * k for _ in range(k)]
        obs_pattern = {}
        diag_dense = [False] * k
        for j in range(k):
            if j:  # the first term's diagonal block receives nothing: it stays block diagonal
                D = sp.identity(R[j].nlev, format="csr")
                for jj in range(j):
                    D = D + sp.tril(P[j][jj] @ P[j][jj].T)
                diag_dense[j] = _binary(D).nnz > R[j].nlev
            for i in range(j + 1, k):
                obs_pattern[i, j] = _pattern(R[i].refs, R[j].refs, (R[i].nlev, R[j].nlev))
                Pij = obs_pattern[i, j]
                for jj in range(j):
                    Pij = Pij + P[i][jj] @ P[j][jj].T
                P[i][j] = _binary(Pij)
        kind = [[None] * (k + 1) for _ in range(k + 1)]
        for j in range(k):
            kind[j][j] = "dense" if diag_dense[j] else "ubd"
            for i in range(j + 1, k):
                dense = diag_dense[j] or P[i][j].nnz > SPARSE_DENSITY * np.prod(P[i][j].shape)
                for jj in range(j):
                    touches = (P[i][jj] @ P[j][jj].T).nnz > 0
                    if touches and "dense" in (kind[i][jj], kind[j][jj]):
                        dense = True
                if not dense and diag_dense[i]:
                    colcounts = np.diff(P[i][j].tocsc().indptr)
                    npairs = float(np.sum(colcounts * (colcounts + 1) / 2)) * R[i].S ** 2
                    dense = npairs > MAX_PAIRS
                kind[i][j] = "dense" if dense else "sparse"
            kind[k][j] = "dense"
        kind[k][k] = "dense"
        self.kind = kind
        self.patterns = P
        self._A_kinds = self._a_kinds(obs_pattern)
        self._build_blocks()

    def _a_kinds(self, obs_pattern=None) -> dict:
        """What each block of ``A`` alone would need, for :meth:`block_description`."""
        R, k = self.remats, self.k
        out = {}
        for i in range(k):
            out[i, i] = "Diagonal" if R[i].S == 1 else "BlkDiag"
            for j in range(i):
                Pa = obs_pattern[i, j] if obs_pattern else _pattern(R[i].refs, R[j].refs, (R[i].nlev, R[j].nlev))
                out[i, j] = "Sparse" if Pa.nnz <= SPARSE_DENSITY * np.prod(Pa.shape) else "Dense"
        return out

    def _build_blocks(self) -> None:
        """Allocate ``A`` and ``L`` in the storage :attr:`kind` chose (``A`` in ``L``'s layout)."""
        k, R, kind, P = self.k, self.remats, self.kind, self.patterns

        def empty(i, j):
            if kind[i][j] == "ubd":
                return UniformBlockDiagonal.zeros(R[j].nlev, R[j].S)
            if kind[i][j] == "sparse":
                coo = P[i][j].tocoo()
                order = np.lexsort((coo.row, coo.col))
                return BlockedSparse(coo.row[order], coo.col[order], P[i][j].shape, R[i].S, R[j].S)
            return _fortran_zeros((self.sizes[i], self.sizes[j]))

        self.tail = t = self._tail_start()
        # blocks of the dense tail are views of one array each for A and L (made by _tail_views)
        self.A = [[None if j >= t else empty(i, j) for j in range(i + 1)] for i in range(k + 1)]
        self.L = [[None if blk is None else blk.copy(order="F") if isinstance(blk, np.ndarray) else blk.copy()
                   for blk in row] for row in self.A]
        self._big = self._A_big = None
        self._tail_views()
        # decided once: a pickled factor must run the same program when loaded
        self._fused = self._big is not None and self._big.shape[0] <= DENSE_ORDER
        # where each observation lands in each sparse A block
        self._obs_block = {}
        for i in range(k):
            for j in range(i):
                if kind[i][j] == "sparse":
                    self._obs_block[i, j] = self.A[i][j].block_index(R[i].refs, R[j].refs)
        self._Linv = [None] * k
        self._A_plan = None

    def _tail_start(self) -> int:
        """First block column ``t`` from which every block of ``L`` (fixed rows included) is dense.

        Blocks ``L[i][j]`` with ``t <= j <= i`` are then stored as views of one Fortran array,
        and one LAPACK ``potrf`` factors them all: no per-block triangular solves and rank
        updates for the dense trailing part, where a few dense rows (a small factor, the
        fixed effects) below a large dense block would cost more than the factorisation.
        """
        t = self.k
        for j in range(self.k - 1, -1, -1):
            if all(self.kind[i][j] == "dense" for i in range(j, self.k + 1)):
                t = j
            else:
                break
        return t

    def _tail_views(self) -> None:
        """Allocate the trailing dense arrays of ``A`` and ``L`` (when they hold a random-effects
        block) and make their blocks views of them; a bare fixed-effects block stays as it is."""
        t, k = self.tail, self.k
        if t == k:
            self._big = self._A_big = None
            if self.A[k][k] is None:
                self.A[k][k] = _fortran_zeros((self.sizes[k], self.sizes[k]))
                self.L[k][k] = _fortran_zeros((self.sizes[k], self.sizes[k]))
            return
        off = np.concatenate([[0], np.cumsum(self.sizes[t:])])
        if self._big is None:
            self._big = _fortran_zeros((off[-1], off[-1]))
            self._A_big = _fortran_zeros((off[-1], off[-1]))
        for i in range(t, k + 1):
            for j in range(t, i + 1):
                rows, cols = slice(off[i - t], off[i - t + 1]), slice(off[j - t], off[j - t + 1])
                self.L[i][j] = self._big[rows, cols]
                self.A[i][j] = self._A_big[rows, cols]
        self._tail_diagonal = _diagonal_view(self._big)[: off[k - t]]  # its random-effects part

    def _dense_flat(self, T):
        """``(flat, ld, base)``: element ``(r, c)`` of dense block ``T`` is ``flat[base + c * ld + r]``."""
        for big in (self._big, self._A_big):
            if big is not None and T.base is big:
                start = T.__array_interface__["data"][0] - big.__array_interface__["data"][0]
                return big.reshape(-1, order="F"), big.shape[0], start // big.itemsize
        return T.reshape(-1, order="F"), T.shape[0], 0

    @property
    def largest_dense(self) -> int:
        """Largest dimension of a dense block of ``L`` (what decides whether BLAS starts threads)."""
        if self._big is not None:
            return self._big.shape[0]
        return max((max(blk.shape) for row in self.L for blk in row if isinstance(blk, np.ndarray)), default=0)

    def block_description(self) -> str:
        """A table of the block types, like MixedModels' ``BlockDescription``.

        Each cell shows the type of the ``A`` block, or ``A/L`` where ``L`` differs.
        """
        if self._A_kinds is None:  # a small dense factor skipped the symbolic analysis
            self._A_kinds = self._a_kinds()
        kinds = self._A_kinds
        names = [r.name for r in self.remats] + ["fixed"]
        width = max(14, *(len(nm) + 2 for nm in names))
        lines = ["rows:" + "".join(f"{nm:^{width}}" for nm in names)]
        for i in range(self.k + 1):
            cells = []
            for j in range(i + 1):
                l_ = block_kind(self.L[i][j])
                a = kinds.get((i, j), l_)
                short = {"Diagonal": "Diag"}.get(a, a)
                cells.append(f"{a:^{width}}" if a == l_ else f"{short + '/' + l_:^{width}}")
            lines.append(f"{self.sizes[i]:>4}:" + "".join(cells))
        return "\n".join(lines)

    # ------------------------------------------------------------------ A
    def _A_scatter_plan(self):
        """For every random-effects block of A: the flat buffer, the target of each product, the factors."""
        R, k = self.remats, self.k
        plan = []
        for i in range(k):
            for j in range(i + 1):
                blk = self.A[i][j]
                Si, Sj = R[i].S, R[j].S
                s = np.arange(Si)[:, None, None]
                t = np.arange(Sj)[None, :, None]
                if isinstance(blk, UniformBlockDiagonal):
                    pos = R[i].refs[None, None, :] * (Si * Si) + s * Si + t
                    flat = blk.data.reshape(-1)
                elif isinstance(blk, BlockedSparse):
                    pos = self._obs_block[i, j][None, None, :] * (Si * Sj) + s * Sj + t
                    flat = blk.data.reshape(-1)
                else:
                    flat, Ni, base = self._dense_flat(blk)
                    pos = base + (R[j].refs[None, None, :] * Sj + t) * Ni + R[i].refs[None, None, :] * Si + s
                # products of intercept-only columns are all ones: skip multiplying by them
                zz = None if R[i].scalar_intercept and R[j].scalar_intercept else (R[i].z[:, None, :] * R[j].z[None, :, :])
                plan.append((flat, pos.astype(np.intp).reshape(-1), zz))
        # blocks that share one array (the dense tail) get one bincount between them
        grouped = {}
        for flat, pos, zz in plan:
            grouped.setdefault(id(flat.base if flat.base is not None else flat), []).append((flat, pos, zz))
        out = []
        for parts in grouped.values():
            if len(parts) == 1:
                out.append((parts[0][0], parts[0][1], [parts[0][2]]))
            else:
                out.append((parts[0][0], np.concatenate([p for _, p, _ in parts]), [zz for _, _, zz in parts]))
        return out

    def update_A(self, weights=None) -> None:
        """Recompute every block of ``A`` for the current ``Xy`` and case weights."""
        k = self.k
        w = None if weights is None else np.asarray(weights, dtype=float)
        if self._A_plan is None:
            self._A_plan = self._A_scatter_plan()
        n = self.n
        ones = np.ones(n) if w is None else w
        for flat, pos, zzs in self._A_plan:
            vals = [ones if zz is None else (zz if w is None else zz * w) for zz in zzs]  # None: 1 x 1 terms
            vals = np.ravel(vals[0]) if len(vals) == 1 else np.concatenate([np.ravel(v) for v in vals])
            flat[...] = np.bincount(pos, weights=vals, minlength=flat.size)
        self._fixed_rows(w)

    def set_response(self, y, weights=None) -> None:
        """Install a new response (the last column of ``Xy``) and refresh its row of ``A``."""
        self.Xy[:, -1] = y
        self._fixed_rows(None if weights is None else np.asarray(weights, dtype=float))

    def _fixed_rows(self, w) -> None:
        """The ``[X y]`` rows of ``A``: ``[X y]' W Z_j`` for every term, and ``[X y]' W [X y]``."""
        k = self.k
        wXy = self.Xy if w is None else self.Xy * w[:, None]
        p1 = wXy.shape[1]
        if getattr(self, "_fixed_plan", None) is None:
            # entry (c, level S + s) of term j sums z_s w Xy_c over the rows of that level: where
            # each product lands, in the memory order of the products (row, s, c)
            plan = []
            for r in self.remats:
                m = r.nranef
                pos = (r.refs[:, None, None] * r.S + np.arange(r.S)[None, :, None]
                       + (np.arange(p1) * m)[None, None, :])
                plan.append((pos.reshape(-1).astype(np.intp), None if r.scalar_intercept else r.z.T[:, :, None], m))
            self._fixed_plan = plan
        for j, (pos, zt, m) in enumerate(self._fixed_plan):
            vals = wXy if zt is None else zt * wXy[:, None, :]
            self.A[k][j][...] = np.bincount(pos, weights=vals.reshape(-1), minlength=p1 * m).reshape(p1, m)
        self.A[k][k][...] = self.Xy.T @ wXy
        for refresh in self._coef_refresh:
            refresh()

    # ------------------------------------------------------------------ L
    def _compile(self):
        """The sequence of kernels that ``update_L`` runs, bound to the block buffers."""
        ops = []
        self._coef_refresh = []  # what must be recomputed from A whenever it changes
        k, A, L, R = self.k, self.A, self.L, self.remats
        lam = [r.lambda_ for r in R]

        # step 1: L[i][j] = Λ_i' A[i][j] Λ_j, with I added on random-effects diagonals. A small
        # dense tail is scaled whole, by two matrix products. In a large one, a dense diagonal
        # block of L whose A block is diagonal (fill-in only) gets its diagonal alone, on a tail
        # zeroed in one pass: a dense copy of a diagonal matrix is the costlier way
        t = self.tail
        fused = self._fused
        if fused:
            ops.append(self._tail_scale_op())
        diagonal_A = set() if fused else {j for j in range(t, k) if R[j].S == 1}
        if self._big is not None and diagonal_A:
            big = self._big
            ops.append(lambda: big.fill(0.0))
        for j in range(k + 1):
            for i in range(j, k + 1):
                if fused and j >= t:
                    continue
                if i == j and j in diagonal_A:
                    ops.append(self._diagonal_scale_op(A[j][j], L[j][j], lam[j]))
                    continue
                ops.append(self._scale_op(A[i][j], L[i][j], lam[i] if i < k else None,
                                          lam[j] if j < k else None, inflate=(i == j < k)))
        # step 2: left-looking blocked Cholesky; the dense tail (columns >= t) takes only the
        # updates from the columns left of it, then one potrf factors it whole
        for j in range(k + 1):
            left = range(min(j, t))
            for jj in left:
                ops.append(self._schur_op(j, j, jj) or self._rank_update_op(L[j][j], L[j][jj]))
            if j < t or (j == k and self._big is None):
                ops.append(self._chol_op(j))
            for i in range(j + 1, k + 1):
                for jj in left:
                    ops.append(self._schur_op(i, j, jj) or self._product_op(L[i][j], L[i][jj], L[j][jj]))
                if j < t:
                    ops.append(self._rdiv_op(i, j))
        if self._big is not None:
            ops.append(self._tail_chol_op())
        return [op for op in ops if op is not None]

    def _pure(self, i, jj) -> bool:
        """True when ``L[i][jj]`` receives no update from columns left of ``jj``."""
        P = self.patterns
        for m in range(jj):
            if i < self.k:
                if (P[i][m] @ P[jj][m].T).nnz > 0:
                    return False
            elif P[jj][m].nnz > 0:
                return False
        return True

    def _schur_op(self, i, j, jj):
        """``L[i][j] -= L[i][jj] L[j][jj]'`` through a constant coefficient matrix.

        When both operands are only scaled and divided by the block-diagonal ``L[jj][jj]``,
        the product is ``Λ_i' A_i M A_j' Λ_j`` with ``M_c = Λ (L_c L_c')⁻¹ Λ'`` per level ``c``
        of term ``jj``: linear in the entries of ``M``, with coefficients fixed by ``A``. One
        sparse matrix-vector product per evaluation replaces the per-pair products.
        """
        L, A = self.L, self.A
        Lmid, Ablk, Bblk = L[jj][jj], L[i][jj], L[j][jj]
        if not (isinstance(Lmid, UniformBlockDiagonal) and isinstance(Ablk, BlockedSparse)
                and isinstance(Bblk, BlockedSparse) and self._pure(i, jj) and self._pure(j, jj)):
            return None
        T = L[i][j]
        if i == j and not isinstance(T, (UniformBlockDiagonal, np.ndarray)):
            return None
        a_idx, b_idx = _pairs(Ablk, Bblk, lower=(i == j))
        if len(a_idx) == 0:
            return None
        Si, Sj, Sm = Ablk.Si, Bblk.Si, Lmid.S
        rows_a, rows_b, lev = Ablk.rows[a_idx], Bblk.rows[b_idx], Ablk.cols[a_idx]
        # unique target blocks; each (target, level) pair occurs once
        if isinstance(T, UniformBlockDiagonal):
            tkey = rows_a
        else:
            tkey = rows_b * Ablk.nlev_shape[0] + rows_a
        targets, tinv = _unique_inverse(tkey, Ablk.nlev_shape[0] * max(1, Bblk.nlev_shape[0]))
        s = np.arange(Si)[:, None]
        t = np.arange(Sj)[None, :]
        if isinstance(T, UniformBlockDiagonal):
            pos = targets[:, None, None] * (Si * Sj) + s * Sj + t
            flat = T.data.reshape(-1)
        elif isinstance(T, BlockedSparse):
            blk = T.block_index(targets % Ablk.nlev_shape[0], targets // Ablk.nlev_shape[0])
            pos = blk[:, None, None] * (Si * Sj) + s * Sj + t
            flat = T.data.reshape(-1)
        else:
            flat, Ni, base = self._dense_flat(T)
            ra, rb = targets % Ablk.nlev_shape[0], targets // Ablk.nlev_shape[0]
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
        self._coef_refresh.append(refresh)
        lam_i = self.remats[i].lambda_
        lam_j = self.remats[j].lambda_
        lam_m = self.remats[jj].lambda_
        ntarget = len(targets)

        Linv = self._Linv  # the list, not self: the program must not make the factor a reference cycle
        if Si == Sj == Sm == 1:
            def op():
                m = (Linv[jj].reshape(-1) * lam_m[0, 0]) ** 2
                m *= lam_i[0, 0] * lam_j[0, 0]
                flat[pos] -= coef @ m
            return op

        def op():
            G = np.matmul(Linv[jj], lam_m.T)
            M = np.matmul(G.transpose(0, 2, 1), G)
            Y = (coef @ M.reshape(-1)).reshape(ntarget, Si, Sj)
            flat[pos] -= np.matmul(np.matmul(lam_i.T, Y), lam_j).reshape(-1)
        return op

    def _tail_chol_op(self):
        """``potrf`` of the whole dense tail: :func:`cholesky_inplace` for a Fortran array known
        to be one, its checks on a diagonal view made once."""
        big = self._big
        diagonal = _diagonal_view(big)
        potrf = lapack.dpotrf

        def op():
            out, info = potrf(big, lower=1, clean=0, overwrite_a=1)
            if out is not big:  # not for the Fortran array we allocated; never trust that silently
                big[...] = out
            if info != 0:
                raise PosDefError(f"dense block is not positive definite (leading minor {info})", minor=int(info))
            if not math.isfinite(diagonal.sum()):  # OpenBLAS lets NaN and inf through (see cholesky_inplace)
                raise PosDefError("dense block has non-finite entries")
        return op

    def _tail_scale_op(self):
        """``big = Λ_t' A_big Λ_t`` plus I on the random-effects diagonal, for the whole dense tail.

        ``Λ_t`` is block diagonal (each tail term's λ once per level, I for the fixed block):
        a vector of scale factors when every tail term is scalar, else a dense matrix whose
        λ entries are refreshed from the terms before the two products.
        """
        t, k = self.tail, self.k
        big, Ab = self._big, self._A_big
        N = big.shape[0]
        off = np.concatenate([[0], np.cumsum(self.sizes[t:])])
        diag = _diagonal_view(big)[: off[k - t]]
        terms = [(self.remats[i], int(off[i - t])) for i in range(t, k)]
        if all(r.S == 1 for r, _ in terms):
            d = np.ones(N)
            spans = [(slice(o, o + r.nlev), r.lambda_) for r, o in terms]

            def op():
                for span, lam in spans:
                    d[span] = lam[0, 0]
                np.multiply(Ab, d[:, None], out=big)
                np.multiply(big, d[None, :], out=big)
                np.add(diag, 1.0, out=diag)
            return op
        Lam = _fortran_zeros((N, N))
        Lam_flat = Lam.reshape(-1, order="F")
        _diagonal_view(Lam)[off[k - t]:] = 1.0
        fills = []
        for r, o in terms:
            S, levels = r.S, np.arange(r.nlev)
            rows = o + levels[:, None, None] * S + np.arange(S)[None, :, None]
            cols = o + levels[:, None, None] * S + np.arange(S)[None, None, :]
            fills.append((cols * N + rows, r.lambda_))  # (level, a, b) <- λ[a, b]

        def op():
            for pos, lam in fills:
                Lam_flat[pos] = lam
            # Λ is lower triangular: two triangular products in place, half the flops of gemm
            np.copyto(big, Ab)
            out = blas.dtrmm(1.0, Lam, big, side=1, lower=1, overwrite_b=1)
            out = blas.dtrmm(1.0, Lam, out, side=0, lower=1, trans_a=1, overwrite_b=1)
            if out is not big:  # only if BLAS could not work in place
                big[...] = out
            np.add(diag, 1.0, out=diag)
        return op

    @staticmethod
    def _diagonal_scale_op(src, dst, lam):
        """``diag(L) = λ² diag(A) + 1`` for a scalar term whose ``A`` block is diagonal."""
        a, d = _diagonal_view(src), _diagonal_view(dst)

        def op():
            np.multiply(a, lam[0, 0] ** 2, out=d)
            np.add(d, 1.0, out=d)
        return op

    @staticmethod
    def _scale_op(src, dst, lam_i, lam_j, inflate):
        if lam_j is None:  # the [X y] diagonal block
            return lambda: np.copyto(dst, src)
        if isinstance(dst, UniformBlockDiagonal):
            a, d = src.data, dst.data
            if dst.S == 1:
                a1, d1 = a.reshape(-1), d.reshape(-1)

                def op():
                    np.multiply(a1, lam_j[0, 0] ** 2, out=d1)
                    np.add(d1, 1.0, out=d1)
                return op
            idx = np.arange(dst.S)

            def op():
                np.matmul(np.matmul(lam_j.T, a), lam_j, out=d)
                d[:, idx, idx] = d[:, idx, idx] + 1.0
            return op
        if isinstance(dst, BlockedSparse):
            a, d = src.data, dst.data
            if dst.Si == 1 and dst.Sj == 1:
                a1, d1 = a.reshape(-1), d.reshape(-1)
                return lambda: np.multiply(a1, lam_i[0, 0] * lam_j[0, 0], out=d1)
            return lambda: np.matmul(np.matmul(lam_i.T, a), lam_j, out=d)
        if inflate:
            diag = _diagonal_view(dst)

            def op():
                _scale_dense(src, lam_i, lam_j, dst)
                np.add(diag, 1.0, out=diag)
            return op
        return lambda: _scale_dense(src, lam_i, lam_j, dst)

    def _rank_update_op(self, C, B):
        """``C -= B B'`` (lower triangle)."""
        if isinstance(C, UniformBlockDiagonal):
            S, nlev = C.S, C.nlev
            cd = C.data
            if isinstance(B, BlockedSparse):
                if B.nnzb == 0:
                    return None
                rows = B.rows
                if S == 1 and B.Sj == 1:
                    c1, b1 = cd.reshape(-1), B.data.reshape(-1)
                    return lambda: np.subtract(c1, np.bincount(rows, b1 * b1, minlength=nlev), out=c1)
                pos = rows[:, None, None] * (S * S) + np.arange(S * S).reshape(1, S, S)

                def op():
                    prod = np.matmul(B.data, B.data.transpose(0, 2, 1))
                    np.subtract(cd, scatter_add(cd.size, pos, prod).reshape(cd.shape), out=cd)
                return op

            def op():  # dense B whose product is block diagonal (nested factors)
                g = B.reshape(nlev, S, -1)
                np.subtract(cd, np.matmul(g, g.transpose(0, 2, 1)), out=cd)
            return op
        if isinstance(B, BlockedSparse):
            if B.nnzb == 0:
                return None
            a_idx, b_idx = _pairs(B, B, lower=True)
            Si = B.Si
            flat, N, base = self._dense_flat(C)
            s = np.arange(Si)[None, :, None]
            t = np.arange(Si)[None, None, :]
            pos = base + ((B.rows[b_idx][:, None, None] * Si + t) * N + B.rows[a_idx][:, None, None] * Si + s)
            pos = pos.astype(np.intp)
            if Si == 1 and B.Sj == 1:
                a_idx, b_idx = a_idx.astype(np.intp), b_idx.astype(np.intp)
                b1 = B.data.reshape(-1)
                return lambda: np.subtract(flat, scatter_add(flat.size, pos, b1[a_idx] * b1[b_idx]), out=flat)

            def op():
                prod = np.matmul(B.data[a_idx], B.data[b_idx].transpose(0, 2, 1))
                np.subtract(flat, scatter_add(flat.size, pos, prod), out=flat)
            return op
        return lambda: syrk_update(C, B)

    def _product_op(self, T, Aop, Bop):
        """``T -= Aop Bop'``."""
        a_sparse, b_sparse = isinstance(Aop, BlockedSparse), isinstance(Bop, BlockedSparse)
        if (a_sparse and Aop.nnzb == 0) or (b_sparse and Bop.nnzb == 0):
            return None
        if a_sparse and b_sparse:
            a_idx, b_idx = _pairs(Aop, Bop, lower=False)
            if len(a_idx) == 0:
                return None
            Si, Sj = Aop.Si, Bop.Si
            s = np.arange(Si)[None, :, None]
            t = np.arange(Sj)[None, None, :]
            if isinstance(T, BlockedSparse):
                blk = T.block_index(Aop.rows[a_idx], Bop.rows[b_idx])
                pos = blk[:, None, None] * (Si * Sj) + s * Sj + t
                flat = T.data.reshape(-1)
            else:
                flat, Ni, base = self._dense_flat(T)
                pos = base + (Bop.rows[b_idx][:, None, None] * Sj + t) * Ni + Aop.rows[a_idx][:, None, None] * Si + s
            pos = pos.astype(np.intp)

            def op():
                prod = np.matmul(Aop.data[a_idx], Bop.data[b_idx].transpose(0, 2, 1))
                np.subtract(flat, scatter_add(flat.size, pos, prod), out=flat)
            return op
        if isinstance(T, BlockedSparse):
            raise AssertionError("a sparse block updated by a dense one; the symbolic phase must densify it")
        if b_sparse:
            return lambda: np.subtract(T, (Bop.sparse_view() @ Aop.T).T, out=T)
        if a_sparse:
            return lambda: np.subtract(T, Aop.sparse_view() @ Bop.T, out=T)
        return lambda: gemm_update(T, Aop, Bop)

    def _chol_op(self, j):
        Ljj, Linv = self.L[j][j], self._Linv
        if isinstance(Ljj, UniformBlockDiagonal):
            def op():
                cholesky_inplace(Ljj)
                Linv[j] = triangular_inverse(Ljj)
            return op
        return lambda: cholesky_inplace(Ljj)

    def _rdiv_op(self, i, j):
        """``L[i][j] <- L[i][j] L[j][j]^{-T}``."""
        T, Ljj, Linv = self.L[i][j], self.L[j][j], self._Linv
        if not isinstance(Ljj, UniformBlockDiagonal):
            return lambda: right_trsm(T, Ljj)
        S = Ljj.S
        if isinstance(T, BlockedSparse):
            cols = T.cols
            if S == 1 and T.Si == 1:
                d1 = T.data.reshape(-1)
                return lambda: np.multiply(d1, Linv[j].reshape(-1)[cols], out=d1)
            return lambda: np.matmul(T.data, Linv[j][cols].transpose(0, 2, 1), out=T.data)
        if S == 1:
            return lambda: np.multiply(T, Linv[j].reshape(1, -1), out=T)

        def op():
            view = T.reshape((T.shape[0], S, Ljj.nlev), order="F")
            view[...] = np.einsum("rtl,lut->rul", view, Linv[j])
        return op

    def update_L(self, fixed: bool = True) -> None:
        """Refactor ``L`` for the λ's currently installed in the terms.

        Parameters
        ----------
        fixed : bool, default=True
            Whether the fixed-effects block must be factored too. With ``fixed=False`` a
            fixed-effects block that is not positive definite (``X'WX`` singular for the
            working weights of a GLMM whose β is held fixed, as under separation) leaves
            :attr:`fixed_singular` set instead of raising: the random-effects part of the
            factor, all that PIRLS needs then, is complete.

        Raises
        ------
        PosDefError
            If a diagonal block is not positive definite.
        """
        program = self._program
        for op in program[:-1]:
            op()
        try:
            program[-1]()  # the factorisation of the block that holds the fixed effects
        except PosDefError as err:
            random_rows = self._big.shape[0] - self.sizes[self.k] if self._big is not None else 0
            if fixed or err.minor is None or err.minor <= random_rows:
                raise
            self.fixed_singular = True
            return
        self.fixed_singular = False

    # ------------------------------------------------------------------ results
    def diagonal(self, j) -> np.ndarray:
        """The diagonal of ``L[j][j]``, whatever its storage."""
        blk = self.L[j][j]
        return blk.diagonal() if isinstance(blk, UniformBlockDiagonal) else np.diagonal(blk)

    def logdet_views(self, reml: bool = False) -> list[np.ndarray]:
        """Views of the diagonals whose logarithms sum to :meth:`logdet` / 2; they follow ``L``."""
        views = []
        for j in range(min(self.tail, self.k)):
            blk = self.L[j][j]
            views.append(np.diagonal(blk.data, axis1=1, axis2=2) if isinstance(blk, UniformBlockDiagonal)
                         else np.diagonal(blk))
        if self._big is not None:  # the random-effects diagonal of the tail, in one go
            views.append(self._tail_diagonal)
        if reml:
            views.append(np.diagonal(self.L[self.k][self.k])[: self.p])
        return views

    def logdet(self, reml: bool = False) -> float:
        """``log |L_Z|^2`` (plus ``log |L_X|^2`` when ``reml``)."""
        return 2.0 * sum(float(np.log(d).sum()) for d in self.logdet_views(reml))

    @property
    def pwrss(self) -> float:
        """Penalised weighted residual sum of squares at the conditional β̂ and û."""
        return float(self.L[self.k][self.k][self.p, self.p] ** 2)

    def fixef(self) -> np.ndarray:
        """Conditional estimate β̂ (full-rank columns)."""
        Lkk = self.L[self.k][self.k]
        p = self.p
        if p == 0:
            return np.zeros(0)
        return solve_triangular(Lkk[:p, :p], Lkk[p, :p], lower=True, trans="T")

    def ranef_u(self, beta) -> list[np.ndarray]:
        """Spherical conditional modes ``u`` (one ``nlev x S`` array per term) given β."""
        k, p = self.k, self.p
        v = [self.L[k][j][p, :] - self.L[k][j][:p, :].T @ beta for j in range(k)]
        for i in range(k - 1, -1, -1):
            v[i] = self.solve_transposed(i, v[i])
            for jj in range(i):
                blk = self.L[i][jj]
                Bt = blk.sparse_view().T if isinstance(blk, BlockedSparse) else blk.T
                v[jj] = v[jj] - Bt @ v[i]
        return [vi.reshape(r.nlev, r.S) for vi, r in zip(v, self.remats)]

    def solve_transposed(self, i, v) -> np.ndarray:
        """``L[i][i]^{-T} v``."""
        blk = self.L[i][i]
        if isinstance(blk, UniformBlockDiagonal):
            S = blk.S
            return np.einsum("lba,lb->la", self._Linv[i], v.reshape(blk.nlev, S)).reshape(-1)
        return solve_triangular(blk, v, lower=True, trans="T")

    def solve_lower(self, i, rhs) -> np.ndarray:
        """``L[i][i]^{-1} rhs`` for a dense right-hand side (rows of ``rhs`` index the block)."""
        blk = self.L[i][i]
        if isinstance(blk, UniformBlockDiagonal):
            S = blk.S
            r = rhs.reshape(blk.nlev, S, -1)
            return np.matmul(self._Linv[i], r).reshape(rhs.shape)
        return solve_triangular(blk, rhs, lower=True)

    def block_times(self, i, j, rhs) -> np.ndarray:
        """``L[i][j] @ rhs`` for a dense ``rhs``."""
        blk = self.L[i][j]
        if isinstance(blk, BlockedSparse):
            return blk.tocsr() @ rhs
        return blk @ rhs

    def condvar_unscaled(self, j) -> np.ndarray:
        """Diagonal ``S x S`` blocks of ``(Λ'Z'ZΛ + I)^{-1}`` for term ``j``, shape (nlev, S, S)."""
        blk = self.L[j][j]
        r = self.remats[j]
        S, nlev = r.S, r.nlev
        # x_i = L_ii^{-1}(e - Σ_m L_im x_m): columns of L^{-1} for the levels of term j
        if isinstance(blk, UniformBlockDiagonal):
            Linv = self._Linv[j]
            out = np.matmul(Linv.transpose(0, 2, 1), Linv)
            xs = {j: None}
        else:
            x = solve_triangular(blk, np.eye(blk.shape[0]), lower=True)
            xr = x.reshape(x.shape[0], nlev, S)
            out = np.einsum("rla,rlb->lab", xr, xr)
            xs = {j: x}
        for i in range(j + 1, self.k):
            acc = np.zeros((self.sizes[i], r.nranef))
            for m in range(j, i):
                if xs[m] is None:  # x_j is block diagonal with the Linv blocks
                    Lij = self.L[i][j]
                    dense = Lij.toarray() if isinstance(Lij, BlockedSparse) else Lij
                    g = dense.reshape(dense.shape[0], nlev, S)
                    acc += np.einsum("rla,lab->rlb", g, self._Linv[j]).reshape(acc.shape)
                else:
                    acc += self.block_times(i, m, xs[m])
            xs[i] = self.solve_lower(i, -acc)
            xi = xs[i].reshape(xs[i].shape[0], nlev, S)
            out = out + np.einsum("rla,rlb->lab", xi, xi)
        return out

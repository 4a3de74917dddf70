"""Storage types of the blocks of ``A`` and ``L``.

Three storage types cover every block:

* :class:`UniformBlockDiagonal` -- ``nlev`` dense ``S x S`` blocks on the diagonal
  (``Diagonal`` when ``S == 1``), for diagonal blocks of terms without fill-in;
* :class:`BlockedSparse` -- a fixed pattern of dense ``Si x Sj`` blocks, one per pair of
  co-occurring levels, sorted by column level then row level;
* dense blocks, plain Fortran-ordered ``numpy`` arrays handed straight to BLAS/LAPACK.

Which storage a block gets is decided by :mod:`~sklmixed.linalg.symbolic`; what is computed
with each pair of storage types is in :mod:`~sklmixed.linalg.kernels`. A new storage type is
a class here, its entries in the kernel tables, and its name in the symbolic analysis.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["UniformBlockDiagonal", "BlockedSparse", "block_kind", "to_dense", "column_pairs", "ragged_arange"]


class UniformBlockDiagonal:
    """Block-diagonal matrix of ``nlev`` dense ``S x S`` blocks.

    Parameters
    ----------
    data : ndarray of shape (nlev, S, S)
    """

    __slots__ = ("data", "inv")

    #: the name MixedModels' ``BlockDescription`` gives this storage (``Diagonal`` when S = 1)
    @property
    def kind(self) -> str:
        return "Diagonal" if self.S == 1 else "BlkDiag"

    def __init__(self, data: np.ndarray):
        self.data = data
        #: inverses of the factored S x S blocks, kept by the Cholesky kernel for later solves
        self.inv = None

    def __getstate__(self):
        return {"data": self.data, "inv": self.inv}

    def __setstate__(self, state):
        self.data, self.inv = state["data"], state.get("inv")

    @classmethod
    def zeros(cls, nlev: int, S: int) -> UniformBlockDiagonal:
        return cls(np.zeros((nlev, S, S)))

    @property
    def nlev(self) -> int:
        return self.data.shape[0]

    @property
    def S(self) -> int:
        return self.data.shape[1]

    @property
    def shape(self) -> tuple[int, int]:
        n = self.nlev * self.S
        return (n, n)

    def copy(self) -> UniformBlockDiagonal:
        out = UniformBlockDiagonal(self.data.copy())
        out.inv = None if self.inv is None else self.inv.copy()
        return out

    def diagonal(self) -> np.ndarray:
        return np.diagonal(self.data, axis1=1, axis2=2).reshape(-1)

    def toarray(self) -> np.ndarray:
        n, S = self.nlev, self.S
        out = np.zeros((n, S, n, S))
        idx = np.arange(n)
        out[idx, :, idx, :] = self.data
        return out.reshape(n * S, n * S)

    def tosparse(self) -> sp.csr_matrix:
        return sp.block_diag(list(self.data), format="csr") if self.nlev else sp.csr_matrix((0, 0))


class BlockedSparse:
    """A sparse matrix whose nonzeros come in dense ``Si x Sj`` blocks.

    Rows and columns are indexed by level; block ``k`` sits at block row ``rows[k]`` and
    block column ``cols[k]``. Blocks are sorted by column then row, so ``colptr``
    delimits the blocks of each column level.

    Parameters
    ----------
    rows, cols : ndarray of int
        Block coordinates (sorted by ``cols``, then ``rows``).
    shape : tuple of int
        Number of row levels and column levels.
    Si, Sj : int
        Rows and columns of each block.
    """

    __slots__ = ("rows", "cols", "nlev_shape", "Si", "Sj", "data", "colptr", "_csr_struct", "_csr")

    def __init__(self, rows, cols, shape, Si, Sj, data=None):
        self.rows = np.asarray(rows, dtype=np.int64)
        self.cols = np.asarray(cols, dtype=np.int64)
        self.nlev_shape = tuple(shape)
        self.Si, self.Sj = int(Si), int(Sj)
        self.data = np.zeros((len(self.rows), self.Si, self.Sj)) if data is None else data
        self.colptr = np.searchsorted(self.cols, np.arange(shape[1] + 1))
        self._csr_struct = None
        self._csr = None

    kind = "Sparse"

    @property
    def shape(self) -> tuple[int, int]:
        return (self.nlev_shape[0] * self.Si, self.nlev_shape[1] * self.Sj)

    @property
    def nnzb(self) -> int:
        return len(self.rows)

    @property
    def density(self) -> float:
        return self.nnzb / max(1, self.nlev_shape[0] * self.nlev_shape[1])

    def copy(self) -> BlockedSparse:
        out = BlockedSparse.__new__(BlockedSparse)
        out.rows, out.cols, out.nlev_shape = self.rows, self.cols, self.nlev_shape
        out.Si, out.Sj, out.colptr = self.Si, self.Sj, self.colptr
        out.data = self.data.copy()
        out._csr_struct = self._csr_struct
        out._csr = None
        return out

    def __getstate__(self):
        return {name: getattr(self, name) for name in self.__slots__ if name != "_csr"}

    def __setstate__(self, state):
        for name, value in state.items():
            setattr(self, name, value)
        self._csr = None

    def block_index(self, rows, cols) -> np.ndarray:
        """Positions of the blocks at ``(rows, cols)``; each must be in the pattern."""
        keys = self.cols * self.nlev_shape[0] + self.rows
        want = np.asarray(cols, dtype=np.int64) * self.nlev_shape[0] + np.asarray(rows, dtype=np.int64)
        pos = np.searchsorted(keys, want)
        outside = pos.max(initial=0) >= len(keys) or not np.array_equal(keys[np.minimum(pos, len(keys) - 1)], want)
        if len(want) and outside:
            raise AssertionError("block outside the symbolic pattern")
        return pos

    def _struct(self):
        """Scalar CSR structure and the permutation from ``data.ravel()`` to CSR order."""
        if self._csr_struct is None:
            Si, Sj = self.Si, self.Sj
            s, t = np.meshgrid(np.arange(Si), np.arange(Sj), indexing="ij")
            r = (self.rows[:, None, None] * Si + s).ravel()
            c = (self.cols[:, None, None] * Sj + t).ravel()
            perm = np.lexsort((c, r))
            indptr = np.searchsorted(r[perm], np.arange(self.shape[0] + 1)).astype(np.int64)
            self._csr_struct = (indptr, c[perm].astype(np.int64), perm)
        return self._csr_struct

    def tocsr(self) -> sp.csr_matrix:
        """A copy in scipy's CSR format."""
        indptr, indices, perm = self._struct()
        return sp.csr_matrix((self.data.reshape(-1)[perm], indices, indptr), shape=self.shape)

    def sparse_view(self) -> sp.spmatrix:
        """The current values as a scipy sparse matrix, for products; built once, not copied.

        Blocks of one entry sorted by column then row are a CSC matrix as they stand: its
        values are ``data`` itself. Larger blocks give a CSR matrix whose values are
        refreshed from ``data`` at every call. Either way no matrix is constructed per
        call (scipy checks the index arrays of every new matrix), and the result is valid
        until ``data`` changes or the next call; do not keep it.
        """
        if self._csr is None:
            if self.Si == 1 and self.Sj == 1:
                flat = self.data.reshape(-1)
                if not np.shares_memory(flat, self.data):
                    raise AssertionError("block data must be contiguous")
                self._csr = sp.csc_matrix((flat, self.rows, self.colptr), shape=self.shape)
                if not np.shares_memory(self._csr.data, self.data):  # scipy copied: refresh instead
                    self._csr = None
                    return sp.csc_matrix((self.data.reshape(-1), self.rows, self.colptr), shape=self.shape)
                return self._csr
            indptr, indices, perm = self._struct()
            self._csr = sp.csr_matrix((self.data.reshape(-1)[perm], indices, indptr), shape=self.shape)
        elif not (self.Si == 1 and self.Sj == 1):
            np.take(self.data.reshape(-1), self._struct()[2], out=self._csr.data)
        return self._csr

    def toarray(self) -> np.ndarray:
        return self.tocsr().toarray()


def block_kind(block) -> str:
    """The name ``BlockDescription`` uses for a block's storage type."""
    return getattr(block, "kind", "Dense")


def to_dense(block) -> np.ndarray:
    """A dense copy of a block of any storage type."""
    return block.toarray() if hasattr(block, "toarray") else np.array(block)


def ragged_arange(starts, counts):
    """``concatenate([arange(s, s + c) for s, c in zip(starts, counts)])``, without the loop."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    ends = np.cumsum(counts)
    return np.arange(total, dtype=np.int64) + np.repeat(np.asarray(starts, dtype=np.int64) - (ends - counts), counts)


def column_pairs(A: BlockedSparse, B: BlockedSparse, lower: bool):
    """All pairs (a, b) of blocks of A and B in the same column level.

    With ``lower`` (``A is B``), only the pairs with ``rows[a] >= rows[b]``: as rows are
    sorted within each column, those are the pairs with ``b <= a`` in the column.
    """
    if lower:
        if A is not B:
            raise ValueError("lower pairs are those of a block with itself")
        first = A.colptr[A.cols]
        counts = np.arange(A.nnzb) - first + 1
        return np.repeat(np.arange(A.nnzb), counts), ragged_arange(first, counts)
    counts = np.diff(B.colptr)[A.cols]
    return np.repeat(np.arange(A.nnzb), counts), ragged_arange(B.colptr[A.cols], counts)

"""Block types of the blocked matrices ``A`` and ``L`` and the kernels that combine them.

Three storage types cover every block:

* :class:`UniformBlockDiagonal` -- ``nlev`` dense ``S x S`` blocks on the diagonal
  (``Diagonal`` when ``S == 1``), for diagonal blocks of terms without fill-in;
* :class:`BlockedSparse` -- a fixed pattern of dense ``Si x Sj`` blocks, one per pair of
  co-occurring levels, sorted by column level then row level;
* dense blocks, plain Fortran-ordered ``numpy`` arrays handed straight to BLAS/LAPACK.

Every kernel works on whole arrays (batched ``matmul``, ``bincount`` scatters, BLAS
calls); none loops in Python over levels or observations.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas, lapack

__all__ = [
    "UniformBlockDiagonal",
    "BlockedSparse",
    "PosDefError",
    "block_kind",
    "cholesky_inplace",
    "scatter_add",
]


class PosDefError(np.linalg.LinAlgError):
    """A diagonal block of ``L`` is not positive definite.

    ``minor`` is the order of the first leading minor of a dense block found not positive
    definite (LAPACK's ``info``; the columns before it are factored), else None.
    """

    def __init__(self, message="", minor=None):
        super().__init__(message)
        self.minor = minor


class UniformBlockDiagonal:
    """Block-diagonal matrix of ``nlev`` dense ``S x S`` blocks.

    Parameters
    ----------
    data : ndarray of shape (nlev, S, S)
    """

    __slots__ = ("data",)

    def __init__(self, data: np.ndarray):
        self.data = data

    @classmethod
    def zeros(cls, nlev: int, S: int) -> "UniformBlockDiagonal":
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

    def copy(self) -> "UniformBlockDiagonal":
        return UniformBlockDiagonal(self.data.copy())

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

    @property
    def shape(self) -> tuple[int, int]:
        return (self.nlev_shape[0] * self.Si, self.nlev_shape[1] * self.Sj)

    @property
    def nnzb(self) -> int:
        return len(self.rows)

    @property
    def density(self) -> float:
        return self.nnzb / max(1, self.nlev_shape[0] * self.nlev_shape[1])

    def copy(self) -> "BlockedSparse":
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
        if len(want) and (pos.max(initial=0) >= len(keys) or not np.array_equal(keys[np.minimum(pos, len(keys) - 1)], want)):
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
    if isinstance(block, UniformBlockDiagonal):
        return "Diagonal" if block.S == 1 else "BlkDiag"
    if isinstance(block, BlockedSparse):
        return "Sparse"
    return "Dense"


def scatter_add(size: int, index: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``out[index] += values`` for repeated indices, as one ``bincount``."""
    return np.bincount(index.reshape(-1), weights=values.reshape(-1), minlength=size)


def cholesky_inplace(block) -> None:
    """Overwrite the lower triangle of a diagonal block with its Cholesky factor.

    Raises
    ------
    PosDefError
        If the block is not positive definite.
    """
    if isinstance(block, UniformBlockDiagonal):
        d = block.data
        # `not x.min() > 0` also catches NaN, in one reduction
        if block.S == 1:
            flat = d.reshape(-1)
            if not flat.min(initial=np.inf) > 0:
                raise PosDefError("diagonal block is not positive definite")
            np.sqrt(flat, out=flat)
        elif block.S == 2:
            # closed form is several times faster than a batched LAPACK call for 2x2 blocks
            a, b, c = d[:, 0, 0], d[:, 1, 0], d[:, 1, 1]
            if not a.min(initial=np.inf) > 0:
                raise PosDefError("block-diagonal block is not positive definite")
            np.sqrt(a, out=a)
            np.divide(b, a, out=b)
            c -= b * b
            if not c.min(initial=np.inf) > 0:
                raise PosDefError("block-diagonal block is not positive definite")
            np.sqrt(c, out=c)
            d[:, 0, 1] = 0.0
        else:
            try:
                d[...] = np.linalg.cholesky(d)
            except np.linalg.LinAlgError as err:
                raise PosDefError(str(err)) from None
            # LAPACK lets NaN through without complaint
            if not np.all(np.isfinite(np.diagonal(d, axis1=1, axis2=2))):
                raise PosDefError("block-diagonal block has non-finite entries")
        return
    if block.size == 0:
        return
    out, info = lapack.dpotrf(block, lower=1, clean=0, overwrite_a=1)
    if info != 0:
        raise PosDefError(f"dense block is not positive definite (leading minor {info})", minor=int(info))
    # OpenBLAS lets NaN and inf through; any reaches the diagonal of its row (an off-diagonal inf
    # as sqrt(-inf)), so the diagonal sum tells
    if not math.isfinite(out.trace()):
        raise PosDefError("dense block has non-finite entries")
    if out is not block:  # only when the block was not Fortran-contiguous
        block[...] = out


def triangular_inverse(block: UniformBlockDiagonal) -> np.ndarray:
    """Inverses of the lower-triangular ``S x S`` blocks of a factored UBD block."""
    d = block.data
    S = block.S
    if S == 1:
        return 1.0 / d
    if S == 2:
        inv = np.empty_like(d)
        np.divide(1.0, d[:, 0, 0], out=inv[:, 0, 0])
        np.divide(1.0, d[:, 1, 1], out=inv[:, 1, 1])
        np.multiply(d[:, 1, 0], inv[:, 0, 0], out=inv[:, 1, 0])
        inv[:, 1, 0] *= inv[:, 1, 1]
        np.negative(inv[:, 1, 0], out=inv[:, 1, 0])
        inv[:, 0, 1] = 0.0
        return inv
    return np.linalg.inv(d)


def gemm_update(C: np.ndarray, A: np.ndarray, B: np.ndarray) -> None:
    """``C -= A @ B.T`` in place (C Fortran-ordered)."""
    if C.size == 0 or A.shape[1] == 0:
        return
    out = blas.dgemm(-1.0, A, B, beta=1.0, c=C, trans_b=1, overwrite_c=1)
    if out is not C:
        C[...] = out


def syrk_update(C: np.ndarray, A: np.ndarray) -> None:
    """Lower triangle of ``C -= A @ A.T`` in place (C Fortran-ordered)."""
    if C.size == 0 or A.shape[1] == 0:
        return
    out = blas.dsyrk(-1.0, A, beta=1.0, c=C, trans=0, lower=1, overwrite_c=1)
    if out is not C:
        C[...] = out


def right_trsm(T: np.ndarray, L: np.ndarray) -> None:
    """``T <- T @ inv(L).T`` in place for a dense lower-triangular ``L``."""
    if T.size == 0:
        return
    out = blas.dtrsm(1.0, L, T, side=1, lower=1, trans_a=1, overwrite_b=1)
    if out is not T:
        T[...] = out

r"""The kernels of the blocked Cholesky update, one per combination of storage types.

Each step of :func:`~sklmixed.linalg.update.compile_update` asks a table here for the kernel of
its operands' storage types; the kernel binds the operands' buffers once and returns an *op*,
a function of no arguments that does the step in place at every evaluation (or None when
there is nothing to do). The steps, for blocks :math:`A_{ij}` and :math:`L_{ij}`, are

* **scale**: :math:`L_{ij} = \Lambda_i^\top A_{ij} \Lambda_j` (plus :math:`I` on a
  random-effects diagonal block), table :data:`SCALE` keyed by the type of :math:`L_{ij}`;
* **rank update**: :math:`C \mathrel{-}= B B^\top`, lower triangle (:data:`RANK_UPDATE`);
* **product**: :math:`T \mathrel{-}= A B^\top` (:data:`PRODUCT`);
* **Cholesky**: :math:`L_{jj} \leftarrow \operatorname{chol}(L_{jj})` (:data:`CHOLESKY`);
* **right division**: :math:`L_{ij} \leftarrow L_{ij} L_{jj}^{-\top}` (:data:`RDIV`).

Dense blocks are plain ``ndarray`` (Fortran order). The symbolic analysis only produces
combinations that are in the tables; a missing one is a bug and says which. Every kernel
works on whole arrays (batched ``matmul``, ``bincount`` scatters, BLAS calls); none loops
in Python over levels or observations. Each has a test against dense NumPy.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import PosDefError
from .blocks import BlockedSparse, UniformBlockDiagonal, column_pairs
from .dense import diagonal_view, flat_view, gemm_update, potrf_op, right_trsm, scatter_add, syrk_update

__all__ = ["SCALE", "RANK_UPDATE", "PRODUCT", "CHOLESKY", "RDIV", "SOLVE_LOWER", "SOLVE_TRANSPOSED",
           "kernel", "scale_op", "cholesky_ubd", "cholesky_inplace", "triangular_inverse"]

UBD, BS, Dense = UniformBlockDiagonal, BlockedSparse, np.ndarray


def kernel(table: dict, *blocks):
    """The entry of ``table`` for the storage types of ``blocks``."""
    key = tuple(type(b) for b in blocks)
    try:
        return table[key if len(key) > 1 else key[0]]
    except KeyError:
        names = ", ".join(t.__name__ for t in key)
        raise NotImplementedError(f"no kernel for blocks of types ({names}); the symbolic analysis should "
                                  "have chosen other storage") from None


# ---------------------------------------------------------------------------------------- scale
def _times_lambda(X: np.ndarray, lam: np.ndarray, axis: int) -> None:
    """``X <- X Λ`` (``axis=1``) or ``X <- Λ' X`` (``axis=0``) in place, ``Λ`` block diagonal with the
    lower-triangular ``λ`` once per level (the ``S`` rows or columns of a level are consecutive).

    Entry ``u`` of a level becomes ``Σ_{t ≥ u} λ[t, u]`` times entry ``t``: taken in increasing
    ``u`` each reads entries not yet overwritten. Strided slices, no copy of ``X``.
    """
    S = lam.shape[0]
    for u in range(S):
        part = X[:, u::S] if axis == 1 else X[u::S]
        part *= lam[u, u]
        for t in range(u + 1, S):
            if lam[t, u] != 0.0:
                part += lam[t, u] * (X[:, t::S] if axis == 1 else X[t::S])


def _scale_dense_now(src: np.ndarray, lam_i, lam_j, out: np.ndarray) -> None:
    """``out = Λ_i' src Λ_j`` for block-diagonal Λ's (``lam_i`` None for the fixed row)."""
    Si = 1 if lam_i is None else lam_i.shape[0]
    Sj = lam_j.shape[0]
    if Si == 1 and Sj == 1:
        np.multiply(src, (1.0 if lam_i is None else lam_i[0, 0]) * lam_j[0, 0], out=out)
        return
    np.copyto(out, src)
    _times_lambda(out, lam_j, axis=1)
    if lam_i is not None:
        _times_lambda(out, lam_i, axis=0)


def _scale_dense(src, dst, lam_i, lam_j, inflate):
    if inflate:
        diag = diagonal_view(dst)

        def op():
            _scale_dense_now(src, lam_i, lam_j, dst)
            np.add(diag, 1.0, out=diag)
        return op
    return lambda: _scale_dense_now(src, lam_i, lam_j, dst)


def _scale_ubd(src, dst, lam_i, lam_j, inflate):
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


def _scale_sparse(src, dst, lam_i, lam_j, inflate):
    a, d = src.data, dst.data
    if dst.Si == 1 and dst.Sj == 1:
        a1, d1 = a.reshape(-1), d.reshape(-1)
        return lambda: np.multiply(a1, lam_i[0, 0] * lam_j[0, 0], out=d1)
    return lambda: np.matmul(np.matmul(lam_i.T, a), lam_j, out=d)


#: scale ``L[i][j] = Λ_i' A[i][j] Λ_j`` (+ I on a diagonal block), by the type of ``L[i][j]``
SCALE = {Dense: _scale_dense, UBD: _scale_ubd, BS: _scale_sparse}


def scale_op(src, dst, lam_i, lam_j, inflate: bool):
    """The scale step for ``dst = L[i][j]`` from ``src = A[i][j]``; ``lam_j`` None for the ``[X y]``
    diagonal block, which is copied."""
    if lam_j is None:
        return lambda: np.copyto(dst, src)
    return kernel(SCALE, dst)(src, dst, lam_i, lam_j, inflate)


def diagonal_scale_op(src: np.ndarray, dst: np.ndarray, lam):
    """``diag(L) = λ² diag(A) + 1`` for a scalar term whose dense ``A`` block is diagonal
    (its fill-in is in ``L`` only); the rest of ``dst`` must have been zeroed."""
    a, d = diagonal_view(src), diagonal_view(dst)

    def op():
        np.multiply(a, lam[0, 0] ** 2, out=d)
        np.add(d, 1.0, out=d)
    return op


# ---------------------------------------------------------------------------------- rank update
def _rank_ubd_sparse(C, B):
    if B.nnzb == 0:
        return None
    S, nlev, cd, rows = C.S, C.nlev, C.data, B.rows
    if S == 1 and B.Sj == 1:
        c1, b1 = cd.reshape(-1), B.data.reshape(-1)
        return lambda: np.subtract(c1, np.bincount(rows, b1 * b1, minlength=nlev), out=c1)
    pos = rows[:, None, None] * (S * S) + np.arange(S * S).reshape(1, S, S)

    def op():
        prod = np.matmul(B.data, B.data.transpose(0, 2, 1))
        np.subtract(cd, scatter_add(cd.size, pos, prod).reshape(cd.shape), out=cd)
    return op


def _rank_ubd_dense(C, B):
    """A dense ``B`` whose product is block diagonal (nested factors)."""
    S, nlev, cd = C.S, C.nlev, C.data

    def op():
        g = B.reshape(nlev, S, -1)
        np.subtract(cd, np.matmul(g, g.transpose(0, 2, 1)), out=cd)
    return op


def _rank_dense_sparse(C, B):
    if B.nnzb == 0:
        return None
    a_idx, b_idx = column_pairs(B, B, lower=True)
    Si = B.Si
    flat, N, base = flat_view(C)
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


#: ``C -= B B'`` (lower triangle), by the types of ``(C, B)``
RANK_UPDATE = {
    (UBD, BS): _rank_ubd_sparse,
    (UBD, Dense): _rank_ubd_dense,
    (Dense, BS): _rank_dense_sparse,
    (Dense, Dense): lambda C, B: (lambda: syrk_update(C, B)),
}


# -------------------------------------------------------------------------------------- product
def _product_sparse_sparse(T, Aop, Bop):
    if Aop.nnzb == 0 or Bop.nnzb == 0:
        return None
    a_idx, b_idx = column_pairs(Aop, Bop, lower=False)
    if len(a_idx) == 0:
        return None
    Si, Sj = Aop.Si, Bop.Si
    s = np.arange(Si)[None, :, None]
    t = np.arange(Sj)[None, None, :]
    if isinstance(T, BS):
        blk = T.block_index(Aop.rows[a_idx], Bop.rows[b_idx])
        pos = blk[:, None, None] * (Si * Sj) + s * Sj + t
        flat = T.data.reshape(-1)
    else:
        flat, Ni, base = flat_view(T)
        pos = base + (Bop.rows[b_idx][:, None, None] * Sj + t) * Ni + Aop.rows[a_idx][:, None, None] * Si + s
    pos = pos.astype(np.intp)

    def op():
        prod = np.matmul(Aop.data[a_idx], Bop.data[b_idx].transpose(0, 2, 1))
        np.subtract(flat, scatter_add(flat.size, pos, prod), out=flat)
    return op


def _product_dense_by_sparse(T, Aop, Bop):
    if Bop.nnzb == 0:
        return None
    return lambda: np.subtract(T, (Bop.sparse_view() @ Aop.T).T, out=T)


def _product_sparse_by_dense(T, Aop, Bop):
    if Aop.nnzb == 0:
        return None
    return lambda: np.subtract(T, Aop.sparse_view() @ Bop.T, out=T)


#: ``T -= A B'``, by the types of ``(T, A, B)``; a sparse ``T`` is only ever updated by sparse operands
PRODUCT = {
    (BS, BS, BS): _product_sparse_sparse,
    (Dense, BS, BS): _product_sparse_sparse,
    (Dense, Dense, BS): _product_dense_by_sparse,
    (Dense, BS, Dense): _product_sparse_by_dense,
    (Dense, Dense, Dense): lambda T, A, B: (lambda: gemm_update(T, A, B)),
}


# ------------------------------------------------------------------------------------- Cholesky
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


def cholesky_ubd(block: UniformBlockDiagonal) -> None:
    """Factor every ``S x S`` block in place and keep their inverses in ``block.inv``.

    ``not x.min() > 0`` catches NaN too, in one reduction. 2 x 2 blocks have a closed form,
    several times faster than a batched LAPACK call.
    """
    d = block.data
    if block.S == 1:
        flat = d.reshape(-1)
        if not flat.min(initial=np.inf) > 0:
            raise PosDefError("diagonal block is not positive definite")
        np.sqrt(flat, out=flat)
    elif block.S == 2:
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
        if not np.all(np.isfinite(np.diagonal(d, axis1=1, axis2=2))):  # LAPACK lets NaN through
            raise PosDefError("block-diagonal block has non-finite entries")
    block.inv = triangular_inverse(block)


#: ``L[j][j] <- chol(L[j][j])``, by its type
CHOLESKY = {UBD: lambda L: (lambda: cholesky_ubd(L)), Dense: potrf_op}


def cholesky_inplace(block) -> None:
    """Factor a diagonal block of any storage type in place, now."""
    kernel(CHOLESKY, block)(block)()


# ----------------------------------------------------------------------------------- right solve
def _rdiv_sparse_ubd(T, Ljj):
    cols = T.cols
    if Ljj.S == 1 and T.Si == 1:
        d1 = T.data.reshape(-1)
        return lambda: np.multiply(d1, Ljj.inv.reshape(-1)[cols], out=d1)
    return lambda: np.matmul(T.data, Ljj.inv[cols].transpose(0, 2, 1), out=T.data)


def _rdiv_dense_ubd(T, Ljj):
    S = Ljj.S
    if S == 1:
        return lambda: np.multiply(T, Ljj.inv.reshape(1, -1), out=T)

    def op():
        # column u of a level becomes Σ_{t ≤ u} inv[u, t] times column t (inv lower triangular):
        # taken in decreasing u, each reads columns not yet overwritten
        inv = Ljj.inv
        for u in range(S - 1, -1, -1):
            part = T[:, u::S]
            part *= inv[:, u, u]
            for t in range(u):
                part += T[:, t::S] * inv[:, u, t]
    return op


#: ``L[i][j] <- L[i][j] L[j][j]^{-T}``, by the types of ``(L[i][j], L[j][j])``
RDIV = {
    (BS, UBD): _rdiv_sparse_ubd,
    (Dense, UBD): _rdiv_dense_ubd,
    (Dense, Dense): lambda T, L: (lambda: right_trsm(T, L)),
}


# ---------------------------------------------------------------------------- solves after a fit
def _solve_transposed_ubd(L, v):
    return np.einsum("lba,lb->la", L.inv, v.reshape(L.nlev, L.S)).reshape(-1)


def _solve_lower_ubd(L, rhs):
    return np.matmul(L.inv, rhs.reshape(L.nlev, L.S, -1)).reshape(rhs.shape)


def _solve_dense(trans):
    from scipy.linalg import solve_triangular

    return lambda L, v: solve_triangular(L, v, lower=True, trans=trans)


#: ``L[i][i]^{-T} v``, by the type of ``L[i][i]``
SOLVE_TRANSPOSED = {UBD: _solve_transposed_ubd, Dense: _solve_dense("T")}
#: ``L[i][i]^{-1} rhs`` for a dense right-hand side, by the type of ``L[i][i]``
SOLVE_LOWER = {UBD: _solve_lower_ubd, Dense: _solve_dense("N")}

"""Every entry of the kernel tables against dense NumPy, on its own.

Each kernel is compiled for random blocks of its storage types, run, and the result
compared with the same operation on the dense forms of the blocks.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sklmixed.exceptions import PosDefError
from sklmixed.linalg import kernels
from sklmixed.linalg.blocks import BlockedSparse, UniformBlockDiagonal, to_dense
from sklmixed.linalg.dense import fortran_zeros

RNG = np.random.default_rng(20261201)


def _lam(S):
    lam = np.tril(RNG.normal(size=(S, S)))
    lam[np.diag_indices(S)] = RNG.uniform(0.5, 1.5, S)
    return lam


def _ubd(nlev, S, spd=False):
    G = RNG.normal(size=(nlev, S, S))
    data = np.matmul(G, G.transpose(0, 2, 1)) + S * np.eye(S) if spd else G
    return UniformBlockDiagonal(np.ascontiguousarray(data))


def _sparse(nrow, ncol, Si, Sj, density=0.4):
    pattern = RNG.random((nrow, ncol)) < density
    pattern[RNG.integers(0, nrow), RNG.integers(0, ncol)] = True  # never empty
    cols, rows = np.nonzero(pattern.T)  # sorted by column, then row
    return BlockedSparse(rows, cols, (nrow, ncol), Si, Sj, RNG.normal(size=(len(rows), Si, Sj)))


def _dense(nr, nc):
    return np.asfortranarray(RNG.normal(size=(nr, nc)))


def _block_diag(lam, nlev):
    return np.kron(np.eye(nlev), lam)


# ---------------------------------------------------------------------------------------- scale
@pytest.mark.parametrize("S", [1, 2, 3])
def test_scale_ubd(S):
    nlev = 5
    src, dst = _ubd(nlev, S), UniformBlockDiagonal.zeros(nlev, S)
    lam = _lam(S)
    kernels.scale_op(src, dst, lam, lam, inflate=True)()
    Lam = _block_diag(lam, nlev)
    assert_allclose(to_dense(dst), Lam.T @ to_dense(src) @ Lam + np.eye(nlev * S), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("Si,Sj", [(1, 1), (2, 1), (1, 2), (2, 3)])
def test_scale_sparse(Si, Sj):
    src = _sparse(6, 4, Si, Sj)
    dst = src.copy()
    dst.data[...] = 0.0
    lam_i, lam_j = _lam(Si), _lam(Sj)
    kernels.scale_op(src, dst, lam_i, lam_j, inflate=False)()
    expected = _block_diag(lam_i, 6).T @ to_dense(src) @ _block_diag(lam_j, 4)
    assert_allclose(to_dense(dst), expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("Si,Sj,fixed_row,inflate", [(1, 1, False, True), (2, 2, False, True), (3, 2, False, False),
                                                      (1, 2, True, False), (2, 1, True, False)])
def test_scale_dense(Si, Sj, fixed_row, inflate):
    ni, nj = (3 if fixed_row else 4), 4
    src = _dense(ni * (1 if fixed_row else Si), nj * Sj)
    if inflate:
        src = np.asfortranarray(src[:, : src.shape[0]] if src.shape[1] >= src.shape[0] else src)
        nj = src.shape[1] // Sj
    dst = fortran_zeros(src.shape)
    lam_i, lam_j = (None if fixed_row else _lam(Si)), _lam(Sj)
    kernels.scale_op(src, dst, lam_i, lam_j, inflate=inflate)()
    left = np.eye(src.shape[0]) if fixed_row else _block_diag(lam_i, src.shape[0] // Si)
    expected = left.T @ src @ _block_diag(lam_j, nj)
    if inflate:
        expected += np.eye(src.shape[0])
    assert_allclose(dst, expected, rtol=1e-13, atol=1e-13)


def test_scale_copies_the_fixed_block():
    src, dst = _dense(3, 3), fortran_zeros((3, 3))
    kernels.scale_op(src, dst, None, None, inflate=False)()
    assert_allclose(dst, src, rtol=0, atol=0)


def test_diagonal_scale_writes_the_diagonal_alone():
    a = np.asfortranarray(np.diag(RNG.uniform(1, 2, 5)))
    dst = fortran_zeros((5, 5))
    lam = _lam(1)
    kernels.diagonal_scale_op(a, dst, lam)()
    assert_allclose(dst, lam[0, 0] ** 2 * a + np.eye(5), rtol=1e-14)


# ---------------------------------------------------------------------------------- rank update
@pytest.mark.parametrize("S", [1, 2])
def test_rank_update_ubd_sparse(S):
    nlev = 5
    C, B = _ubd(nlev, S, spd=True), _sparse(nlev, 4, S, 2 if S > 1 else 1)
    before = to_dense(C)
    op = kernels.kernel(kernels.RANK_UPDATE, C, B)(C, B)
    op()
    # the product is block diagonal only where B's blocks share a row level; the kernel keeps the diagonal blocks
    full = before - to_dense(B) @ to_dense(B).T
    mask = to_dense(UniformBlockDiagonal(np.ones((nlev, S, S)))) > 0
    assert_allclose(to_dense(C)[mask], full[mask], rtol=1e-12, atol=1e-12)


def test_rank_update_ubd_dense_for_nested_factors():
    nlev, S = 4, 2
    C = _ubd(nlev, S, spd=True)
    B = np.zeros((nlev * S, 3))
    B[:, :] = RNG.normal(size=(nlev * S, 3))
    before = to_dense(C)
    kernels.kernel(kernels.RANK_UPDATE, C, B)(C, B)()
    full = before - B @ B.T
    mask = to_dense(UniformBlockDiagonal(np.ones((nlev, S, S)))) > 0
    assert_allclose(to_dense(C)[mask], full[mask], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("S", [1, 2])
def test_rank_update_dense_sparse(S):
    B = _sparse(5, 6, S, 1)
    C = _dense(5 * S, 5 * S)
    before = C.copy()
    kernels.kernel(kernels.RANK_UPDATE, C, B)(C, B)()
    assert_allclose(np.tril(C), np.tril(before - to_dense(B) @ to_dense(B).T), rtol=1e-12, atol=1e-12)


def test_rank_update_dense_dense():
    C, B = _dense(5, 5), _dense(5, 3)
    before = C.copy()
    kernels.kernel(kernels.RANK_UPDATE, C, B)(C, B)()
    assert_allclose(np.tril(C), np.tril(before - B @ B.T), rtol=1e-12, atol=1e-12)


def test_rank_update_of_an_empty_sparse_block_is_nothing():
    B = BlockedSparse(np.zeros(0, int), np.zeros(0, int), (3, 2), 1, 1)
    assert kernels.kernel(kernels.RANK_UPDATE, _ubd(3, 1), B)(_ubd(3, 1), B) is None


# -------------------------------------------------------------------------------------- product
@pytest.mark.parametrize("Si,Sj,Sm", [(1, 1, 1), (2, 1, 2), (1, 2, 1)])
def test_product_sparse_sparse_into_dense(Si, Sj, Sm):
    A, B = _sparse(6, 5, Si, Sm), _sparse(4, 5, Sj, Sm)
    T = _dense(6 * Si, 4 * Sj)
    before = T.copy()
    kernels.kernel(kernels.PRODUCT, T, A, B)(T, A, B)()
    assert_allclose(T, before - to_dense(A) @ to_dense(B).T, rtol=1e-12, atol=1e-12)


def test_product_sparse_sparse_into_sparse():
    A, B = _sparse(6, 5, 1, 1), _sparse(4, 5, 1, 1)
    product = (to_dense(A) @ to_dense(B).T) != 0
    cols, rows = np.nonzero(product.T)
    T = BlockedSparse(rows, cols, (6, 4), 1, 1, RNG.normal(size=(len(rows), 1, 1)))
    before = to_dense(T)
    kernels.kernel(kernels.PRODUCT, T, A, B)(T, A, B)()
    assert_allclose(to_dense(T), before - to_dense(A) @ to_dense(B).T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("sparse_side", ["A", "B", "neither"])
def test_product_with_dense_operands(sparse_side):
    A = _sparse(6, 5, 1, 1) if sparse_side == "A" else _dense(6, 5)
    B = _sparse(4, 5, 1, 1) if sparse_side == "B" else _dense(4, 5)
    T = _dense(6, 4)
    before = T.copy()
    kernels.kernel(kernels.PRODUCT, T, A, B)(T, A, B)()
    assert_allclose(T, before - to_dense(A) @ to_dense(B).T, rtol=1e-12, atol=1e-12)


def test_a_missing_combination_names_the_types():
    T = _sparse(3, 3, 1, 1)
    with pytest.raises(NotImplementedError, match="BlockedSparse, ndarray, ndarray"):
        kernels.kernel(kernels.PRODUCT, T, _dense(3, 2), _dense(3, 2))


# ------------------------------------------------------------------------------------- Cholesky
@pytest.mark.parametrize("S", [1, 2, 3])
def test_cholesky_ubd_and_its_inverse(S):
    block = _ubd(4, S, spd=True)
    dense = to_dense(block)
    kernels.kernel(kernels.CHOLESKY, block)(block)()
    L = np.tril(to_dense(block))
    assert_allclose(L @ L.T, dense, rtol=1e-12, atol=1e-12)
    assert_allclose(to_dense(UniformBlockDiagonal(block.inv)) @ L, np.eye(4 * S), atol=1e-12)


def test_cholesky_dense():
    G = RNG.normal(size=(5, 5))
    a = np.asfortranarray(G @ G.T + 5 * np.eye(5))
    dense = a.copy()
    kernels.kernel(kernels.CHOLESKY, a)(a)()
    assert_allclose(np.tril(a) @ np.tril(a).T, dense, rtol=1e-12)


@pytest.mark.parametrize("block", [UniformBlockDiagonal(-np.ones((3, 1, 1))), UniformBlockDiagonal(-np.ones((3, 2, 2))),
                                   UniformBlockDiagonal(np.full((3, 3, 3), np.nan)),
                                   np.asfortranarray(-np.eye(3)), np.asfortranarray(np.full((3, 3), np.nan))])
def test_cholesky_refuses_what_is_not_positive_definite(block):
    with pytest.raises(PosDefError):
        kernels.cholesky_inplace(block)


# ----------------------------------------------------------------------------------- right solve
def _factored_ubd(nlev, S):
    block = _ubd(nlev, S, spd=True)
    kernels.cholesky_inplace(block)
    return block


@pytest.mark.parametrize("S,Si", [(1, 1), (2, 1), (2, 2)])
def test_rdiv_sparse_ubd(S, Si):
    Ljj = _factored_ubd(5, S)
    T = _sparse(4, 5, Si, S)
    before = to_dense(T)
    kernels.kernel(kernels.RDIV, T, Ljj)(T, Ljj)()
    assert_allclose(to_dense(T), before @ np.linalg.inv(np.tril(to_dense(Ljj))).T, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("S", [1, 2])
def test_rdiv_dense_ubd(S):
    Ljj = _factored_ubd(5, S)
    T = _dense(3, 5 * S)
    before = T.copy()
    kernels.kernel(kernels.RDIV, T, Ljj)(T, Ljj)()
    assert_allclose(T, before @ np.linalg.inv(np.tril(to_dense(Ljj))).T, rtol=1e-11, atol=1e-12)


def test_rdiv_dense_dense():
    G = RNG.normal(size=(4, 4))
    Ljj = np.asfortranarray(np.linalg.cholesky(G @ G.T + 4 * np.eye(4)))
    T = _dense(3, 4)
    before = T.copy()
    kernels.kernel(kernels.RDIV, T, Ljj)(T, Ljj)()
    assert_allclose(T, before @ np.linalg.inv(Ljj).T, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("kind", ["ubd1", "ubd2", "dense"])
def test_solves(kind):
    if kind == "dense":
        G = RNG.normal(size=(6, 6))
        L = np.asfortranarray(np.linalg.cholesky(G @ G.T + 6 * np.eye(6)))
        Ld = L
    else:
        L = _factored_ubd(3 if kind == "ubd2" else 6, 2 if kind == "ubd2" else 1)
        Ld = np.tril(to_dense(L))
    v, rhs = RNG.normal(size=6), RNG.normal(size=(6, 2))
    assert_allclose(kernels.kernel(kernels.SOLVE_TRANSPOSED, L)(L, v), np.linalg.solve(Ld.T, v), rtol=1e-11)
    assert_allclose(kernels.kernel(kernels.SOLVE_LOWER, L)(L, rhs), np.linalg.solve(Ld, rhs), rtol=1e-11)

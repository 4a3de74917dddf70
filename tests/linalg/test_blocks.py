"""Tests for sklmixed.blocks: block storage types, dense kernels, PosDefError and the
block structure chosen for A and L (``block_description``)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklmixed import LinearMixedModel
from sklmixed.exceptions import PosDefError
from sklmixed.linalg import dense as blocks
from sklmixed.linalg.blocks import BlockedSparse, UniformBlockDiagonal, block_kind
from sklmixed.linalg.dense import scatter_add
from sklmixed.linalg.kernels import cholesky_inplace, triangular_inverse

import _dense


def _spd_stack(rng, nlev, S):
    G = rng.normal(size=(nlev, S, S))
    return np.matmul(G, G.transpose(0, 2, 1)) + S * np.eye(S)


# ---------------------------------------------------------------------- storage types
def test_uniform_block_diagonal_dense_form():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(4, 3, 3))
    ubd = UniformBlockDiagonal(data)
    assert ubd.nlev == 4 and ubd.S == 3 and ubd.shape == (12, 12)
    dense = ubd.toarray()
    for level in range(4):
        assert_array_equal(dense[3 * level:3 * level + 3, 3 * level:3 * level + 3], data[level])
    mask = np.kron(np.eye(4), np.ones((3, 3))) == 0
    assert np.all(dense[mask] == 0)
    assert_array_equal(ubd.diagonal(), np.diagonal(dense))
    assert_array_equal(ubd.tosparse().toarray(), dense)
    copy = ubd.copy()
    copy.data[0, 0, 0] = 99.0
    assert data[0, 0, 0] != 99.0


def test_blocked_sparse_dense_form():
    rng = np.random.default_rng(1)
    # blocks sorted by column level, then row level
    rows, cols = np.array([0, 2, 1, 2]), np.array([0, 0, 1, 2])
    data = rng.normal(size=(4, 2, 3))
    bs = BlockedSparse(rows, cols, (3, 3), 2, 3, data)
    assert bs.shape == (6, 9) and bs.nnzb == 4
    assert bs.density == pytest.approx(4 / 9)
    dense = np.zeros((6, 9))
    for r, c, blk in zip(rows, cols, data):
        dense[2 * r:2 * r + 2, 3 * c:3 * c + 3] = blk
    assert_array_equal(bs.toarray(), dense)
    assert_array_equal(bs.tocsr().toarray(), dense)
    assert_array_equal(bs.colptr, [0, 2, 3, 4])
    assert_array_equal(bs.block_index([2, 1], [0, 1]), [1, 2])
    with pytest.raises(AssertionError, match="outside the symbolic pattern"):
        bs.block_index([1], [0])


@pytest.mark.parametrize("Si, Sj", [(1, 1), (2, 3), (1, 2)])
def test_blocked_sparse_view_follows_the_data(Si, Sj):
    rng = np.random.default_rng(2)
    rows, cols = np.array([0, 2, 1, 0, 2]), np.array([0, 0, 1, 2, 2])
    bs = BlockedSparse(rows, cols, (3, 3), Si, Sj, rng.normal(size=(5, Si, Sj)))
    view = bs.sparse_view()
    assert_array_equal(view.toarray(), bs.toarray())
    if Si == Sj == 1:  # the values are the block data itself
        assert np.shares_memory(view.data, bs.data)
    bs.data *= -2.5  # kernels change the data in place
    again = bs.sparse_view()
    assert again is view  # no matrix is built per call
    assert_array_equal(again.toarray(), bs.toarray())
    x = rng.normal(size=(bs.shape[1], 2))
    assert_allclose(again @ x, bs.toarray() @ x, rtol=1e-14)
    clone = bs.copy()
    clone.data[...] = 1.0
    assert_array_equal(clone.sparse_view().toarray(), np.where(bs.toarray() != 0, 1.0, 0.0))
    assert_array_equal(bs.sparse_view().toarray(), bs.toarray())  # the copy's data are its own


def test_pairs_of_blocks_in_a_column():
    from sklmixed.linalg.blocks import column_pairs as _pairs
    from sklmixed.linalg.blocks import ragged_arange as _ragged_arange

    assert_array_equal(_ragged_arange([5, 0, 2], [2, 0, 3]), [5, 6, 2, 3, 4])
    A = BlockedSparse([0, 2, 3, 1, 2], [0, 0, 0, 2, 2], (4, 3), 1, 1)
    B = BlockedSparse([1, 0, 1], [0, 1, 2], (2, 3), 1, 1)
    a, b = _pairs(A, A, lower=True)
    expected = [(x, y) for x in range(A.nnzb) for y in range(A.nnzb)
                if A.cols[x] == A.cols[y] and A.rows[x] >= A.rows[y]]
    assert list(zip(a, b)) == expected
    a, b = _pairs(A, B, lower=False)
    expected = [(x, y) for x in range(A.nnzb) for y in range(B.nnzb) if A.cols[x] == B.cols[y]]
    assert list(zip(a, b)) == expected
    with pytest.raises(ValueError):
        _pairs(A, B, lower=True)


@pytest.mark.parametrize(
    "blk, kind",
    [
        (UniformBlockDiagonal(np.ones((3, 1, 1))), "Diagonal"),
        (UniformBlockDiagonal(np.ones((3, 2, 2))), "BlkDiag"),
        (BlockedSparse([0], [0], (2, 2), 1, 1), "Sparse"),
        (np.zeros((2, 2)), "Dense"),
    ],
)
def test_block_kind(blk, kind):
    assert block_kind(blk) == kind


def test_scatter_add_repeated_indices():
    idx = np.array([0, 2, 2, 4, 0])
    vals = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert_array_equal(scatter_add(6, idx, vals), [6.0, 0.0, 5.0, 0.0, 4.0, 0.0])


# ---------------------------------------------------------------------- dense kernels
def test_dense_kernels_match_numpy():
    rng = np.random.default_rng(2)
    A, B = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    C = np.asfortranarray(rng.normal(size=(5, 4)))
    expected = C - A @ B.T
    blocks.gemm_update(C, A, B)
    assert_allclose(C, expected, rtol=1e-13, atol=1e-13)

    S = np.asfortranarray(rng.normal(size=(5, 5)))
    expected = np.tril(S - A @ A.T)
    blocks.syrk_update(S, A)
    assert_allclose(np.tril(S), expected, rtol=1e-13, atol=1e-13)

    Lt = np.asfortranarray(np.tril(rng.normal(size=(3, 3))) + 3 * np.eye(3))
    T = np.asfortranarray(rng.normal(size=(4, 3)))
    expected = T @ np.linalg.inv(Lt).T
    blocks.right_trsm(T, Lt)
    assert_allclose(T, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("S", [1, 2, 3])
def test_triangular_inverse(S):
    rng = np.random.default_rng(S)
    ubd = UniformBlockDiagonal(_spd_stack(rng, 5, S))
    cholesky_inplace(ubd)
    inv = triangular_inverse(ubd)
    assert_allclose(np.matmul(inv, ubd.data), np.broadcast_to(np.eye(S), (5, S, S)), atol=1e-12)


# ---------------------------------------------------------------------- Cholesky and PosDefError
@pytest.mark.parametrize("S", [1, 2, 3, 4])
def test_cholesky_uniform_block_diagonal(S):
    rng = np.random.default_rng(10 + S)
    data = _spd_stack(rng, 6, S)
    expected = np.linalg.cholesky(data)
    ubd = UniformBlockDiagonal(data.copy())
    cholesky_inplace(ubd)
    assert_allclose(np.tril(ubd.data), expected, rtol=1e-13, atol=1e-13)
    # the factor is lower triangular (S = 2 and S >= 3 zero the upper triangle)
    assert_allclose(ubd.data, np.tril(ubd.data), atol=0)


@pytest.mark.parametrize("order", ["F", "C"])
def test_cholesky_dense(order):
    rng = np.random.default_rng(3)
    G = rng.normal(size=(7, 7))
    M = G @ G.T + 7 * np.eye(7)
    blk = np.array(M, order=order)
    cholesky_inplace(blk)
    assert_allclose(np.tril(blk), np.linalg.cholesky(M), rtol=1e-12, atol=1e-12)


def test_cholesky_empty_dense_block():
    cholesky_inplace(np.zeros((0, 0), order="F"))


def test_posdef_error_is_a_linalg_error():
    assert issubclass(PosDefError, np.linalg.LinAlgError)


@pytest.mark.parametrize("S", [1, 2, 3])
@pytest.mark.parametrize("where", [(1, 0, 0), (4, -1, -1)])
def test_posdef_error_uniform_block_diagonal_negative(S, where):
    data = np.tile(np.eye(S), (5, 1, 1))
    data[where] = -0.5
    with pytest.raises(PosDefError):
        cholesky_inplace(UniformBlockDiagonal(data))


def test_posdef_error_uniform_block_diagonal_indefinite_2x2():
    data = np.tile(np.eye(2), (3, 1, 1))
    data[2] = [[1.0, 2.0], [2.0, 1.0]]  # positive diagonal, negative determinant
    with pytest.raises(PosDefError):
        cholesky_inplace(UniformBlockDiagonal(data))


@pytest.mark.parametrize(
    "M",
    [
        np.diag([1.0, -1.0, 1.0]),
        np.array([[1.0, 2.0], [2.0, 1.0]]),
        np.array([[4.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),  # singular
    ],
)
def test_posdef_error_dense(M):
    with pytest.raises(PosDefError):
        cholesky_inplace(np.asfortranarray(M))


@pytest.mark.parametrize("where", [(0, 0), (1, 1), (2, 2), (1, 0), (3, 0), (3, 2), (2, 1)])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_posdef_error_on_non_finite_dense_entry(where, bad):
    """A non-finite entry anywhere in the lower triangle of a dense block is an error."""
    rng = np.random.default_rng(3)
    G = rng.normal(size=(4, 6))
    blk = np.asfortranarray(G @ G.T + np.eye(4))
    blk[where] = bad
    with pytest.raises(PosDefError):
        cholesky_inplace(blk)


@pytest.mark.parametrize("kind", ["ubd1", "ubd2", "ubd3", "dense"])
def test_posdef_error_on_nan(kind):
    """The docstring promises PosDefError for any block that is not positive definite;
    a NaN entry must not slip through as a NaN 'factor'."""
    if kind == "dense":
        blk = np.asfortranarray(np.eye(3))
        blk[1, 1] = np.nan
    else:
        S = int(kind[-1])
        data = np.tile(np.eye(S), (3, 1, 1))
        data[1, 0, 0] = np.nan
        blk = UniformBlockDiagonal(data)
    with pytest.raises(PosDefError):
        cholesky_inplace(blk)


# ---------------------------------------------------------------------- block structure
def parse_block_description(text):
    """``[(size, [cell, ...]), ...]`` from the table ``block_description`` prints."""
    lines = text.strip("\n").splitlines()
    assert lines[0].startswith("rows:")
    names = lines[0][len("rows:"):].split()
    out = []
    for line in lines[1:]:
        size, cells = line.split(":", 1)
        out.append((int(size), cells.split()))
    return names, out


def _kinds(m):
    f = m._factor
    return [[block_kind(f.L[i][j]) for j in range(i + 1)] for i in range(f.k + 1)]


def _blocked(formula, data):
    """The model with the blocked program MixedModels.jl runs (small ones are one dense array by default)."""
    with _dense.factor_storage("blocked"):
        return LinearMixedModel(formula, data)


def test_block_description_sleepstudy(sleepstudy):
    m = _blocked("reaction ~ 1 + days + (1 + days|subj)", sleepstudy)
    names, rows = parse_block_description(m.block_description())
    assert names == ["subj", "fixed"]
    assert rows == [(36, ["BlkDiag"]), (3, ["Dense", "Dense"])]
    assert isinstance(m._factor.L[0][0], UniformBlockDiagonal) and m._factor.L[0][0].S == 2


def test_block_description_sleepstudy_scalar(sleepstudy):
    m = _blocked("reaction ~ 1 + days + (1|subj)", sleepstudy)
    names, rows = parse_block_description(m.block_description())
    assert rows == [(18, ["Diagonal"]), (3, ["Dense", "Dense"])]


def test_block_description_penicillin(penicillin):
    m = _blocked("diameter ~ 1 + (1|sample) + (1|plate)", penicillin)
    names, rows = parse_block_description(m.block_description())
    assert names == ["plate", "sample", "fixed"]
    assert [size for size, _ in rows] == [24, 6, 2]
    assert rows[0][1] == ["Diagonal"]
    # crossed: the (sample, plate) block is dense and L's sample block fills in
    assert rows[1][1][0] == "Dense"
    assert rows[1][1][1].endswith("Dense")
    assert _kinds(m)[:2] == [["Diagonal"], ["Dense", "Dense"]]


def test_block_description_pastes_nested(pastes):
    m = _blocked("strength ~ 1 + (1|batch/cask)", pastes)
    names, rows = parse_block_description(m.block_description())
    assert names == ["batch:cask", "batch", "fixed"]
    assert rows[:2] == [(30, ["Diagonal"]), (10, ["Sparse", "Diagonal"])]
    # nested factors: no fill-in, L's batch block stays diagonal
    assert _kinds(m)[:2] == [["Diagonal"], ["Sparse", "Diagonal"]]


def test_block_description_insteval(insteval):
    m = _blocked("y ~ 1 + service + (1|s) + (1|d) + (1|dept)", insteval)
    names, rows = parse_block_description(m.block_description())
    assert names == ["s", "d", "dept", "fixed"]
    assert [size for size, _ in rows] == [2972, 1128, 14, 3]
    assert rows[0][1] == ["Diagonal"]
    assert rows[1][1][0] == "Sparse"  # (d, s) is about 2 % dense
    assert rows[1][1][1].endswith("Dense")  # (d, d) fills in
    kinds = _kinds(m)
    assert kinds[0] == ["Diagonal"]
    assert kinds[1] == ["Sparse", "Dense"]
    assert kinds[2][2] == "Dense" and kinds[3] == ["Dense"] * 4


def test_block_description_of_a_small_dense_factor(sleepstudy):
    m = LinearMixedModel("reaction ~ 1 + days + (1 + days|subj)", sleepstudy)
    names, rows = parse_block_description(m.block_description())
    assert rows == [(36, ["BlkDiag/Dense"]), (3, ["Dense", "Dense"])]

"""The split Schur update of a large crossed scalar term against the dense product, for every way
of splitting it, and the same bits on one thread or two."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklmixed import LinearMixedModel
from sklmixed.linalg import BlockedCholesky, Thresholds, sparse_syrk
from sklmixed.linalg.blocks import BlockedSparse, UniformBlockDiagonal
from sklmixed.linalg.parallel import one_blas_thread, use_threads
from sklmixed.linalg.sparse_syrk import SparseSyrk, Split, choose_split

import _dense


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """The references too run BLAS on one thread (a threaded BLAS crawls on a busy test machine)."""
    with one_blas_thread():
        yield


def _skewed_pattern(rng, nrow, ncol, nnz):
    """Users (columns) and movies (rows) with lognormal activity and popularity, each pair once."""
    pop, act = rng.lognormal(0, 1.2, nrow), rng.lognormal(0, 1.1, ncol)
    rows = rng.choice(nrow, size=nnz, p=pop / pop.sum())
    cols = rng.choice(ncol, size=nnz, p=act / act.sum())
    keys = np.unique(cols * nrow + rows)  # sorted by column, then row
    return keys % nrow, keys // nrow


def _problem(rng, nrow, ncol, nnz, pad=3):
    """Consistent ``B = λ_j A λ_m ℓ⁻¹`` and ``C`` as a view into a larger Fortran array."""
    rows, cols = _skewed_pattern(rng, nrow, ncol, nnz)
    A = BlockedSparse(rows, cols, (nrow, ncol), 1, 1, rng.integers(1, 4, (len(rows), 1, 1)).astype(float))
    Lmid = UniformBlockDiagonal(rng.uniform(1.0, 5.0, (ncol, 1, 1)))
    Lmid.inv = 1.0 / Lmid.data
    lam_j, lam_m = np.array([[0.7]]), np.array([[1.3]])
    B = BlockedSparse(rows, cols, (nrow, ncol), 1, 1, A.data * lam_j[0, 0] * lam_m[0, 0] * Lmid.inv[cols])
    big = np.asfortranarray(rng.normal(size=(nrow + pad, nrow + pad)))
    C = big[pad - 1:pad - 1 + nrow, pad - 1:pad - 1 + nrow]
    return big, C, B, A, Lmid, lam_j, lam_m


def _run(big, C, B, A, Lmid, lam_j, lam_m, split, threads=1):
    out = big.copy(order="F")
    offset = (C.__array_interface__["data"][0] - big.__array_interface__["data"][0]) // 8
    r0, c0 = offset % big.shape[0], offset // big.shape[0]
    view = out[r0:r0 + C.shape[0], c0:c0 + C.shape[1]]
    upd = SparseSyrk(view, B, A, Lmid, lam_j, lam_m, split)
    upd.refresh()
    with use_threads(threads):
        upd.op()
    return out, (r0, c0)


def _splits(B):
    nrow, ncol = B.nlev_shape
    counts = np.diff(B.colptr)
    by_count = np.argsort(-counts, kind="stable")
    rows_by_count = np.argsort(-np.bincount(B.rows, minlength=nrow), kind="stable")
    return {
        "all pairs": Split(np.zeros(0, int), np.zeros(0, int), 0, 0.0),
        "heavy columns": Split(np.sort(by_count[: ncol // 10]), np.zeros(0, int), 0, 0.0),
        "dense rows": Split(np.zeros(0, int), np.sort(rows_by_count[: nrow // 5]), 0, 0.0),
        "both": Split(np.sort(by_count[: ncol // 20]), np.sort(rows_by_count[: nrow // 7]), 0, 0.0),
        "all heavy": Split(np.flatnonzero(counts), np.zeros(0, int), 0, 0.0),
        "all rows dense": Split(np.zeros(0, int), np.arange(nrow), 0, 0.0),
    }


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("how", ["all pairs", "heavy columns", "dense rows", "both", "all heavy", "all rows dense"])
def test_every_split_gives_the_dense_update(how, chunked, monkeypatch):
    if chunked:  # the heavy and the light columns gathered a few at a time, the pairs grouped by target
        monkeypatch.setattr(sparse_syrk, "HEAVY_CHUNK", 7)
        monkeypatch.setattr(sparse_syrk, "DENSE_BUFFER", 1)
        monkeypatch.setattr(sparse_syrk, "CSC_TARGETS", 0)
        monkeypatch.setattr(sparse_syrk, "TARGET_TABLE", 0)  # targets found by sorting
    rng = np.random.default_rng(11)
    big, C, B, A, Lmid, lam_j, lam_m = problem = _problem(rng, 90, 600, 5000)
    out, (r0, c0) = _run(*problem, _splits(B)[how])
    Bd = B.toarray()
    expected = big.copy(order="F")
    view = expected[r0:r0 + 90, c0:c0 + 90]
    view -= np.tril(Bd @ Bd.T)
    update = sparse_syrk.SparseSyrk(C.copy(order="F"), B, A, Lmid, lam_j, lam_m, _splits(B)[how])
    if chunked and how in ("dense rows", "both"):
        assert len(update.dense_rows.chunks) > 1
    assert update.K.format == ("csr" if chunked and update.K.shape[0] else "csc")
    assert_allclose(out, expected, rtol=1e-13, atol=1e-13)  # the upper triangle and the rest untouched


def test_the_split_is_chosen_from_the_pattern_under_the_cap():
    rng = np.random.default_rng(5)
    rows, cols = _skewed_pattern(rng, 300, 2000, 40_000)
    B = BlockedSparse(rows, cols, (300, 2000), 1, 1)
    counts = np.diff(B.colptr)
    all_pairs = int(np.sum(counts * (counts + 1) // 2))
    roomy = choose_split(B, max_pairs=10**9)
    assert roomy.pairs <= all_pairs
    for cap in (all_pairs // 4, all_pairs // 20):
        split = choose_split(B, max_pairs=cap)
        assert split.pairs <= cap
        assert len(split.heavy) + len(split.dense_rows) > 0  # something had to go dense
        again = choose_split(BlockedSparse(rows.copy(), cols.copy(), (300, 2000), 1, 1), max_pairs=cap)
        assert_array_equal(split.heavy, again.heavy) and assert_array_equal(split.dense_rows, again.dense_rows)
    tiny = choose_split(BlockedSparse(np.array([0, 1]), np.array([0, 1]), (2, 2), 1, 1), max_pairs=10)
    assert (len(tiny.heavy), len(tiny.dense_rows), tiny.pairs) == (0, 0, 2)


def test_large_update_has_the_same_bits_on_one_thread_or_two():
    """Past the size where the work is split over workers, the pieces are fixed by the shape."""
    rng = np.random.default_rng(3)
    problem = _problem(rng, 1600, 400, 30_000, pad=2)
    B = problem[2]
    split = _splits(B)["both"]
    one, _ = _run(*problem, split, threads=1)
    two, _ = _run(*problem, split, threads=2)
    assert_array_equal(one, two)


def _ml_like(rng, nusers, nmovies, n):
    import pandas as pd

    rows, cols = _skewed_pattern(rng, nmovies, nusers, n)
    return pd.DataFrame({"user": cols, "movie": rows, "x": rng.normal(size=len(rows)),
                         "y": rng.normal(size=len(rows)) + rows % 5 * 0.3})


def test_factor_with_a_split_update_matches_the_dense_factor(monkeypatch):
    """A crossed design whose fill-in is updated in all three parts, against dense linear algebra."""
    data = _ml_like(np.random.default_rng(8), 400, 120, 6000)
    forced = {}

    def choose(B, max_pairs):
        forced["split"] = _splits(B)["both"]
        return forced["split"]

    monkeypatch.setattr(sparse_syrk, "choose_split", choose)
    with _dense.factor_storage("blocked"):
        m = LinearMixedModel("y ~ 1 + (1|user) + (1|movie)", data)
    assert len(forced["split"].heavy) and len(forced["split"].dense_rows)
    theta = np.array([0.8, 1.7])
    m.objective_at(theta)
    Z, Lam = _dense.model_Z_Lambda(m)
    f = m._factor
    M = _dense.augmented_matrix(Z @ Lam, f.Xy[:, :-1], f.Xy[:, -1])
    Ld = np.linalg.cholesky(M)
    assert_allclose(_dense.assemble(f.L), Ld, rtol=0, atol=1e-10 * np.max(np.abs(Ld)))


def test_last_crossed_scalar_term_stays_sparse_whatever_its_pairs():
    """The split update takes any number of pairs: the fill of the last term is not densified."""
    data = _ml_like(np.random.default_rng(2), 1000, 200, 5000)
    m = LinearMixedModel("y ~ 1 + (1|user) + (1|movie)", data)
    Xy = np.column_stack([m.feterm.X, m.y])
    tight = BlockedCholesky(m.reterms, Xy, thresholds=Thresholds(dense_order=0, max_pairs=10, split_pairs=10))
    assert tight.layout.kinds[1][0] == "sparse"
    assert any(getattr(op, "__self__", None).__class__ is SparseSyrk for op in tight._program.ops)
    loose = BlockedCholesky(m.reterms, Xy, thresholds=Thresholds(dense_order=0))
    theta = np.array([0.6, 1.4])
    tight.evaluate(theta)
    loose.evaluate(theta)
    assert tight.logdet() == pytest.approx(loose.logdet(), rel=1e-12)
    assert tight.pwrss == pytest.approx(loose.pwrss, rel=1e-12)
    # vector-valued terms keep the old rule: too many pairs, dense
    vec = LinearMixedModel("y ~ 1 + (1 + x|user) + (1|movie)", data)
    Xy = np.column_stack([vec.feterm.X, vec.y])
    dense = BlockedCholesky(vec.reterms, Xy, thresholds=Thresholds(dense_order=0, max_pairs=10))
    assert dense.layout.kinds[1][0] == "dense"


def test_lower_triangle_numbering_round_trips():
    hi = np.repeat(np.arange(0, 30_000, 7), 3)
    lo = np.minimum(hi, np.tile([0, 5, 29_999], len(hi) // 3))
    rows, cols = sparse_syrk._triangle_rows(hi * (hi + 1) // 2 + lo)
    assert_array_equal(rows, hi) and assert_array_equal(cols, lo)

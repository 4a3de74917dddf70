"""BLAS on views of a larger array (no copies), and the recursively halved Cholesky factor."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.linalg import lapack

from sklmixed.exceptions import PosDefError
from sklmixed.linalg import blas, dense
from sklmixed.linalg.halved import halved_potrf
from sklmixed.linalg.parallel import WORKERS_PAY, one_blas_thread, use_threads

RNG = np.random.default_rng(20261214)


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """The references too run BLAS on one thread (a threaded BLAS crawls on a busy test machine)."""
    with one_blas_thread():
        yield


def _view(rows, cols, pad=3):
    """A column-major view with a leading dimension larger than its rows, inside random data."""
    big = np.asfortranarray(RNG.normal(size=(rows + 2 * pad, cols + pad)))
    return big, big[pad:pad + rows, 1:1 + cols]


def _spd(n):
    G = RNG.normal(size=(n, n))
    return G @ G.T / n + np.eye(n)


@pytest.mark.parametrize("order", ["F", "C"])
def test_syrk_gemm_and_trsm_work_in_place_on_views(order):
    big, C = _view(7, 7)
    before = big.copy()
    A = np.array(RNG.normal(size=(7, 4)), order=order)
    B = np.array(RNG.normal(size=(7, 4)), order=order)
    blas.syrk(C, A, alpha=-2.0, beta=0.5)
    expected = before[3:10, 1:8].copy()
    expected = np.where(np.tri(7, dtype=bool), 0.5 * expected - 2.0 * A @ A.T, expected)
    assert_allclose(C, expected, rtol=1e-13, atol=1e-13)
    outside = np.ones(big.shape, dtype=bool)
    outside[3:10, 1:8] = False
    assert_array_equal(big[outside], before[outside])  # nothing outside the view moved

    del B
    big, T = _view(6, 5)
    Lf = np.linalg.cholesky(_spd(5))
    rhs = T.copy()
    blas.trsm_right(T, np.array(Lf, order=order))
    assert_allclose(T @ Lf.T, rhs, rtol=1e-12, atol=1e-12)


def test_gemm_on_a_view_matches_numpy():
    for order_a in "FC":
        for order_b in "FC":
            big, C = _view(7, 5)
            before = C.copy()
            A = np.array(RNG.normal(size=(7, 3)), order=order_a)
            B = np.array(RNG.normal(size=(5, 3)), order=order_b)
            blas.gemm(C, A, B, alpha=1.5, beta=-1.0)
            assert_allclose(C, -before + 1.5 * A @ B.T, rtol=1e-13, atol=1e-13)


def test_outputs_must_be_column_major_views():
    with pytest.raises(ValueError, match="column-major"):
        blas.syrk(np.zeros((2, 2), order="C")[:, ::-1], np.ones((2, 1)))
    assert blas.column_major(np.zeros((3, 4), order="C")) is None
    assert blas.column_major(np.zeros((3, 4), order="F")) == 3
    assert blas.column_major(np.zeros((5, 5), order="F")[1:4, 1:3]) == 5


def test_potrf_reports_lapacks_minor_on_a_view():
    big, A = _view(6, 6)
    S = _spd(6)
    S[4, 4] = -1.0
    A[...] = S
    assert blas.potrf(A) == lapack.dpotrf(S, lower=1)[1] == 5


@pytest.mark.parametrize("n,leaf", [(700, 100), (701, 64), (64, 100)])
def test_halved_factor_is_the_cholesky_factor(n, leaf):
    S = _spd(n)
    A = np.asfortranarray(S)
    assert halved_potrf(A, threads=2, leaf=leaf) == 0
    assert_allclose(np.tril(A), np.linalg.cholesky(S), rtol=1e-10, atol=1e-12)
    assert_array_equal(np.triu(A, 1), np.triu(S, 1))  # the upper triangle is left alone


@pytest.mark.parametrize("bad", [3, 350, 640])
def test_halved_factor_reports_the_global_leading_minor(bad):
    S = _spd(700)
    S[bad, bad] = -5.0  # the leading minor of order bad + 1 is the first that is not positive definite
    expected = lapack.dpotrf(S, lower=1)[1]
    assert halved_potrf(np.asfortranarray(S), leaf=100) == expected == bad + 1


def test_large_factor_has_the_same_bits_on_one_thread_or_two():
    n = WORKERS_PAY + 37
    S = _spd(n)
    factors = []
    for threads in (1, 2):
        A = np.asfortranarray(S)
        with use_threads(threads):
            dense.potrf_op(A)()
        factors.append(A)
    assert_array_equal(factors[0], factors[1])
    assert_allclose(np.tril(factors[0]), np.linalg.cholesky(S), rtol=1e-9, atol=1e-11)
    A = np.asfortranarray(S)
    A[n - 5, n - 5] = np.nan
    with pytest.raises(PosDefError):
        dense.potrf_op(A)()

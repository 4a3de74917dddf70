"""Dense Fortran-ordered blocks: the BLAS and LAPACK calls, and views into a shared array.

Every dense Cholesky factorisation in sklmixed goes through :func:`potrf_op`; every rank-k
update, product and right solve of dense blocks through :func:`syrk_update`,
:func:`gemm_update` and :func:`right_trsm`. Each works in place on a Fortran-ordered array,
a view into the dense tail through :mod:`~sklmixed.linalg.blas` (SciPy's wrappers would
copy it in and out), and copies back only if BLAS could not, which never happens for the
arrays the factor allocates.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import blas, lapack

from ..exceptions import PosDefError
from . import blas as views
from .blas import column_major
from .halved import halved_potrf
from .parallel import WORKERS_PAY, workers

__all__ = ["potrf_op", "cholesky_dense", "gemm_update", "syrk_update", "right_trsm", "diagonal_view",
           "fortran_zeros", "flat_view", "scatter_add"]


def fortran_zeros(shape) -> np.ndarray:
    return np.zeros(shape, order="F")


def diagonal_view(a: np.ndarray) -> np.ndarray:
    """A writable view of the diagonal of a square (possibly strided) array."""
    return np.lib.stride_tricks.as_strided(a, shape=(a.shape[0],), strides=(a.strides[0] + a.strides[1],))


def flat_view(T: np.ndarray) -> tuple[np.ndarray, int, int]:
    """``(flat, ld, base)``: element ``(r, c)`` of dense block ``T`` is ``flat[base + c * ld + r]``.

    For a view into a larger Fortran array (a block of the dense tail) ``flat`` is that
    array's memory, so that one ``bincount`` can fill several of its blocks at once.
    """
    big = T.base
    if isinstance(big, np.ndarray) and big.ndim == 2 and big.flags.f_contiguous and T.strides[0] == big.itemsize:
        start = T.__array_interface__["data"][0] - big.__array_interface__["data"][0]
        return big.reshape(-1, order="F"), big.shape[0], start // big.itemsize
    return T.reshape(-1, order="F"), T.shape[0], 0


def scatter_add(size: int, index: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``out[index] += values`` for repeated indices, as one ``bincount``."""
    return np.bincount(index.reshape(-1), weights=values.reshape(-1), minlength=size)


def potrf_op(a: np.ndarray):
    """An op that overwrites the lower triangle of ``a`` with its Cholesky factor.

    The op raises :class:`~sklmixed.exceptions.PosDefError` with LAPACK's ``info`` as
    ``minor`` when ``a`` is not positive definite. OpenBLAS lets NaN and inf through
    ``potrf``; any of them reaches the diagonal of its row (an off-diagonal inf as
    ``sqrt(-inf)``), so one sum over a diagonal view, made once, tells. From order
    :data:`~sklmixed.linalg.parallel.WORKERS_PAY` on the factorisation is halved
    recursively over the worker threads (:mod:`~sklmixed.linalg.halved`).
    """
    diagonal = diagonal_view(a) if a.size else None
    potrf = lapack.dpotrf
    order = a.shape[0]

    def op():
        if diagonal is None:
            return
        if order >= WORKERS_PAY and column_major(a) is not None:
            out, info = a, halved_potrf(a, workers(order))
        else:
            out, info = potrf(a, lower=1, clean=0, overwrite_a=1)
        if out is not a:  # only when a is not Fortran-contiguous: never trust that silently
            a[...] = out
        if info != 0:
            raise PosDefError(f"dense block is not positive definite (leading minor {info})", minor=int(info))
        if not math.isfinite(diagonal.sum()):
            raise PosDefError("dense block has non-finite entries")
    return op


def cholesky_dense(a: np.ndarray) -> None:
    """Factor ``a`` in place now (see :func:`potrf_op`)."""
    potrf_op(a)()


def gemm_update(C: np.ndarray, A: np.ndarray, B: np.ndarray) -> None:
    """``C -= A @ B.T`` in place (C Fortran-ordered)."""
    if C.size == 0 or A.shape[1] == 0:
        return
    if not C.flags.f_contiguous:  # a view into the dense tail: BLAS on it, no copy in and out
        views.gemm(C, A, B)
        return
    out = blas.dgemm(-1.0, A, B, beta=1.0, c=C, trans_b=1, overwrite_c=1)
    if out is not C:
        C[...] = out


def syrk_update(C: np.ndarray, A: np.ndarray) -> None:
    """Lower triangle of ``C -= A @ A.T`` in place (C Fortran-ordered)."""
    if C.size == 0 or A.shape[1] == 0:
        return
    if not C.flags.f_contiguous:
        views.syrk(C, A)
        return
    out = blas.dsyrk(-1.0, A, beta=1.0, c=C, trans=0, lower=1, overwrite_c=1)
    if out is not C:
        C[...] = out


def right_trsm(T: np.ndarray, L: np.ndarray) -> None:
    """``T <- T @ inv(L).T`` in place for a dense lower-triangular ``L``."""
    if T.size == 0:
        return
    if not T.flags.f_contiguous:
        views.trsm_right(T, L)
        return
    out = blas.dtrsm(1.0, L, T, side=1, lower=1, trans_a=1, overwrite_b=1)
    if out is not T:
        T[...] = out

"""BLAS and LAPACK on column-major views of larger arrays, in place and without copies.

SciPy's ``scipy.linalg.blas`` wrappers want contiguous arrays: handed a block of the dense
tail (a view with a leading dimension larger than its rows) they copy it in and out, 110 MB
each way for a 3,706-level crossed term. The routines here call the same BLAS and LAPACK
(through the addresses SciPy's Cython API publishes, ``scipy.linalg.cython_blas``) with the
view's leading dimension. A C-ordered operand is the transpose of a column-major one and is
passed as such. Any other layout is copied to a Fortran array first.

Each call costs a few microseconds of argument conversion: for blocks, not for scalars.

Examples
--------
>>> import numpy as np
>>> from sklmixed.linalg.blas import potrf, syrk
>>> big = np.asfortranarray(np.eye(4) * 4.0)
>>> syrk(big[:3, :3], np.ones((3, 2)), alpha=1.0)  # the leading 3 x 3 block, in place
>>> potrf(big[:3, :3])
0
>>> round(float(big[2, 2]), 6)
2.236068
"""

from __future__ import annotations

import ctypes

import numpy as np
from scipy.linalg import cython_blas, cython_lapack

__all__ = ["syrk", "gemm", "trsm_right", "potrf", "column_major"]

_ITEM = 8


def _address(module, name):
    capsule = module.__pyx_capi__[name]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return ctypes.CFUNCTYPE(None)(get_pointer(capsule, get_name(capsule)))


_DSYRK = _address(cython_blas, "dsyrk")
_DGEMM = _address(cython_blas, "dgemm")
_DTRSM = _address(cython_blas, "dtrsm")
_DPOTRF = _address(cython_lapack, "dpotrf")


def column_major(a: np.ndarray):
    """The leading dimension of ``a`` as a column-major matrix, or None if it is not one."""
    if a.dtype != np.float64 or a.ndim != 2 or a.strides[0] != _ITEM:
        return None
    rows, cols = a.shape
    if cols <= 1:
        return max(1, rows)
    step = a.strides[1]
    return step // _ITEM if step % _ITEM == 0 and step >= rows * _ITEM else None


def _operand(a: np.ndarray):
    """``(pointer, leading dimension, transposed)`` of a read-only operand (copied if need be)."""
    ld = column_major(a)
    if ld is not None:
        return a, ld, False
    ld = column_major(a.T)
    if ld is not None:
        return a, ld, True
    a = np.asfortranarray(a, dtype=np.float64)
    return a, max(1, a.shape[0]), False


def _int(value):
    return ctypes.byref(ctypes.c_int(int(value)))


def _double(value):
    return ctypes.byref(ctypes.c_double(float(value)))


def _pointer(a):
    return ctypes.c_void_p(a.__array_interface__["data"][0])


def _output(c: np.ndarray):
    """The leading dimension of a writable column-major output; anything else is a bug."""
    ld = column_major(c)
    if ld is None or not c.flags.writeable:
        raise ValueError("the output of a BLAS call must be a writable column-major float64 view")
    return ld


def syrk(C: np.ndarray, A: np.ndarray, alpha: float = -1.0, beta: float = 1.0) -> None:
    """Lower triangle of ``C <- alpha A A' + beta C`` in place (``C`` a column-major view)."""
    n, k = A.shape
    if n == 0:
        return
    ldc = _output(C)
    if C.shape != (n, n):
        raise ValueError(f"syrk: C has shape {C.shape}, A has shape {A.shape}")
    if k == 0:
        if beta != 1.0:
            C *= beta
        return
    A, lda, t = _operand(A)
    _DSYRK(b"L", b"T" if t else b"N", _int(n), _int(k), _double(alpha), _pointer(A), _int(lda),
           _double(beta), _pointer(C), _int(ldc))


def gemm(C: np.ndarray, A: np.ndarray, B: np.ndarray, alpha: float = -1.0, beta: float = 1.0) -> None:
    """``C <- alpha A B' + beta C`` in place (``C`` a column-major view)."""
    m, k = A.shape
    n = B.shape[0]
    if m == 0 or n == 0:
        return
    ldc = _output(C)
    if C.shape != (m, n) or B.shape[1] != k:
        raise ValueError(f"gemm: C has shape {C.shape}, A {A.shape}, B {B.shape}")
    if k == 0:
        if beta != 1.0:
            C *= beta
        return
    A, lda, ta = _operand(A)
    B, ldb, tb = _operand(B)
    # op(B) must be B': a column-major B is transposed, a C-ordered one (column-major B') is not
    _DGEMM(b"T" if ta else b"N", b"N" if tb else b"T", _int(m), _int(n), _int(k), _double(alpha), _pointer(A),
           _int(lda), _pointer(B), _int(ldb), _double(beta), _pointer(C), _int(ldc))


def trsm_right(T: np.ndarray, L: np.ndarray) -> None:
    """``T <- T L^{-T}`` in place for a lower-triangular ``L`` (``T`` a column-major view)."""
    m, n = T.shape
    if m == 0 or n == 0:
        return
    ldt = _output(T)
    L, ldl, t = _operand(L)
    # a C-ordered L is an upper-triangular column-major L': T L^{-T} = T (L')^{-1}
    _DTRSM(b"R", b"U" if t else b"L", b"N" if t else b"T", b"N", _int(m), _int(n), _double(1.0), _pointer(L),
           _int(ldl), _pointer(T), _int(ldt))


def potrf(A: np.ndarray) -> int:
    """Lower Cholesky factor of ``A`` in place (a column-major view); LAPACK's ``info``."""
    n = A.shape[0]
    if n == 0:
        return 0
    lda = _output(A)
    info = ctypes.c_int(0)
    _DPOTRF(b"L", _int(n), _pointer(A), _int(lda), ctypes.byref(info))
    return info.value

r"""The dense tail of the factor: the trailing block columns that are dense, as one array.

From block column ``t`` of the :class:`~sklmixed.linalg.symbolic.Layout` on, every block of
``L`` is dense (the ``[X y]`` rows always are; a crossed term's diagonal block fills in). The
blocks ``A[i][j]`` and ``L[i][j]`` with ``t <= j <= i`` are then views of one Fortran array
each, and one LAPACK ``potrf`` factors the whole of ``L``'s: no per-block triangular solves
and rank updates for the dense trailing part, where a few dense rows (a small factor, the
fixed effects) below a large dense block would cost more than the factorisation.

A small tail (``Layout.fused``) is scaled whole: :math:`\Lambda_t^\top A_t \Lambda_t + I`
with :math:`\Lambda_t` block diagonal (each tail term's λ once per level, :math:`I` for the
fixed block) is two in-place triangular products, or two broadcast multiplications when
every tail term is scalar.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import blas

from .dense import diagonal_view, fortran_zeros, potrf_op

__all__ = ["DenseTail"]


class DenseTail:
    """The arrays of the dense tail of ``A`` and ``L`` and the views of their blocks.

    Parameters
    ----------
    sizes : sequence of int
        Orders of the tail's block rows (its terms' random effects, then ``p + 1``).
    start : int
        Block index of the first tail column (``Layout.tail``).

    Attributes
    ----------
    L, A : ndarray, Fortran order
        The tail of ``L`` (factored in place) and of ``A``.
    offsets : ndarray of int
        Where each tail block row starts.
    random_diagonal : ndarray
        A view of the diagonal of ``L``'s tail over its random effects (for ``log|L|``).
    """

    def __init__(self, sizes, start: int):
        self.start = int(start)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        order = int(self.offsets[-1])
        self.L = fortran_zeros((order, order))
        self.A = fortran_zeros((order, order))
        self._views()

    def _views(self):
        self.random_diagonal = diagonal_view(self.L)[: self.offsets[-2]]

    def __getstate__(self):
        return {"start": self.start, "offsets": self.offsets, "L": self.L, "A": self.A}

    # The blocks of A and L are views of these arrays, and the assembly finds the shared array
    # as a view's ``base``: a loaded array must own its memory (protocol 5 and joblib give
    # arrays over the pickle's buffer, possibly read-only, whose base is a 1-D array).
    def __setstate__(self, state):
        self.__dict__.update(state)
        self.L, self.A = (np.array(state[name], dtype=float, order="F", copy=True) for name in ("L", "A"))
        self._views()

    @property
    def order(self) -> int:
        return self.L.shape[0]

    def block(self, which: str, i: int, j: int) -> np.ndarray:
        """The view of block ``(i, j)`` (factor block indices) of ``"L"`` or ``"A"``."""
        o, t = self.offsets, self.start
        return getattr(self, which)[o[i - t] : o[i - t + 1], o[j - t] : o[j - t + 1]]

    def cholesky_op(self):
        """One ``potrf`` of the whole tail."""
        return potrf_op(self.L)

    def zero_op(self):
        """Zero ``L``'s tail, before blocks whose ``A`` is diagonal get their diagonal alone."""
        big = self.L
        return lambda: big.fill(0.0)

    def scale_op(self, remats):
        """``L = Λ_t' A Λ_t`` plus I on the random-effects diagonal, for the whole tail.

        ``remats`` are the tail's terms. ``Λ_t`` is a vector of scale factors when every
        one is scalar, else a dense matrix whose λ entries are refreshed before the products.
        """
        big, Ab, N, off = self.L, self.A, self.order, self.offsets
        diag = self.random_diagonal
        terms = [(r, int(o)) for r, o in zip(remats, off)]
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
        Lam = fortran_zeros((N, N))
        Lam_flat = Lam.reshape(-1, order="F")
        diagonal_view(Lam)[off[-2]:] = 1.0
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

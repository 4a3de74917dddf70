r"""The blocked cross-product matrix ``A`` and its blocked Cholesky factor ``L``.

With terms :math:`1..k` and the fixed block :math:`[X\,y]`, both matrices are stored as the
lower-triangular blocks ``A[i][j]`` and ``L[i][j]`` (``i >= j``), and

.. math::

    L L^\top = \begin{bmatrix}\Lambda^\top Z^\top W Z\Lambda + I & \Lambda^\top Z^\top W [X y]\\
    [X y]^\top W Z \Lambda & [X y]^\top W [X y]\end{bmatrix}.

:class:`BlockedCholesky` owns ``A``, ``L`` and the compiled ``update_L`` and nothing else:
the storage of each block comes from the symbolic analysis (:mod:`~sklmixed.linalg.symbolic`),
the trailing dense blocks live in one array (:mod:`~sklmixed.linalg.tail`), ``A`` is filled by
:mod:`~sklmixed.linalg.assemble` and ``update_L`` is compiled by :mod:`~sklmixed.linalg.update`.
"""

from __future__ import annotations

import contextlib

import numpy as np
from scipy.linalg import solve_triangular

from ..exceptions import PosDefError
from ..terms.remat import theta_spans
from . import kernels
from .assemble import Assembly
from .blocks import BlockedSparse, UniformBlockDiagonal, block_kind
from .dense import fortran_zeros
from .parallel import one_blas_thread
from .symbolic import analyse
from .tail import DenseTail
from .update import compile_update

__all__ = ["BlockedCholesky"]

#: BLAS on one thread while the factor works (see :mod:`~sklmixed.linalg.parallel`)
_ONE_BLAS_THREAD = one_blas_thread()


def _diagonal_view(blk) -> np.ndarray:
    """A view (not a copy) of the diagonal of a diagonal block of ``L``."""
    return np.diagonal(blk.data, axis1=1, axis2=2) if isinstance(blk, UniformBlockDiagonal) else np.diagonal(blk)


class BlockedCholesky:
    """``A = [Z X y]' W [Z X y]`` in blocks, and its blocked Cholesky factor ``L``.

    Parameters
    ----------
    remats : list of ReMat
        The random-effects terms, largest first. Their λ arrays are read in place.
    Xy : ndarray of shape (n, p + 1)
        The full-rank fixed-effects model matrix with the response as last column.
    weights : ndarray of shape (n,), optional
        Case weights.
    thresholds : Thresholds, optional
        What the choice of storage depends on (:func:`sklmixed.linalg.symbolic.thresholds`).

    Attributes
    ----------
    A, L : list of lists
        ``A[i][j]`` and ``L[i][j]`` for ``i >= j``; index ``k = len(remats)`` is ``[X y]``.
    layout : Layout
        The storage of every block.
    fixed_singular : bool
        The fixed-effects block was found singular by ``update_L(fixed=False)``.
    """

    def __init__(self, remats, Xy, weights=None, *, thresholds=None):
        self.remats = list(remats)
        self.k = len(self.remats)
        self.Xy = np.asarray(Xy, dtype=float)
        self.n, p1 = self.Xy.shape
        self.p = p1 - 1
        with _ONE_BLAS_THREAD:
            self.layout = analyse(self.remats, p1, thresholds)
            self.sizes = list(self.layout.sizes)
            self._allocate()
            self._prepare()
            self.update_A(weights)

    # ------------------------------------------------------------------ structure
    def _allocate(self) -> None:
        """``A`` and ``L`` in the storage the layout chose (``A`` in ``L``'s layout)."""
        k, R, layout = self.k, self.remats, self.layout
        t = layout.tail

        def empty(i, j):
            kind = layout.kinds[i][j]
            if kind == "ubd":
                return UniformBlockDiagonal.zeros(R[j].nlev, R[j].S)
            if kind == "sparse":
                coo = layout.patterns[i][j].tocoo()
                order = np.lexsort((coo.row, coo.col))
                return BlockedSparse(coo.row[order], coo.col[order], layout.patterns[i][j].shape, R[i].S, R[j].S)
            return fortran_zeros((self.sizes[i], self.sizes[j]))

        self.tail = DenseTail(self.sizes[t:], t) if t < k else None
        self.A = [[None if j >= t and self.tail else empty(i, j) for j in range(i + 1)] for i in range(k + 1)]
        self.L = [[None if blk is None else blk.copy(order="F") if isinstance(blk, np.ndarray) else blk.copy()
                   for blk in row] for row in self.A]
        self._tail_views()

    def _tail_views(self) -> None:
        if self.tail is None:
            return
        for i in range(self.tail.start, self.k + 1):
            for j in range(self.tail.start, i + 1):
                self.L[i][j] = self.tail.block("L", i, j)
                self.A[i][j] = self.tail.block("A", i, j)

    def _prepare(self) -> None:
        """Everything derived from the blocks: the program, the assembly, the θ slots, logdet views."""
        self._assembly = Assembly(self.remats, self.A, self.Xy)
        self._program = compile_update(self.layout, self.A, self.L, self.remats, self.tail)
        self._spans = [(r.set_theta, span) for r, span in theta_spans(self.remats)]
        self.ntheta = sum(r.ntheta for r in self.remats)
        self._logdet_views = {reml: self._diagonals(reml) for reml in (False, True)}
        self.fixed_singular = False

    def _diagonals(self, reml: bool) -> list[np.ndarray]:
        """Views of the diagonals whose logarithms sum to ``logdet(reml) / 2``; they follow ``L``."""
        t = self.layout.tail if self.tail is not None else self.k
        views = [_diagonal_view(self.L[j][j]) for j in range(t)]
        if self.tail is not None:  # the random-effects diagonal of the tail, in one go
            views.append(self.tail.random_diagonal)
        if reml:
            views.append(np.diagonal(self.L[self.k][self.k])[: self.p])
        return views

    # the program is closures over the buffers, and tail blocks are views: rebuilt, not pickled
    def __getstate__(self):
        state = {name: self.__dict__[name] for name in ("remats", "k", "Xy", "n", "p", "layout", "sizes", "tail",
                                                        "fixed_singular")}
        t = self.tail.start if self.tail is not None else self.k + 1
        for name in ("A", "L"):
            state[name] = [[None if j >= t else blk for j, blk in enumerate(row)] for row in self.__dict__[name]]
        return state

    def __setstate__(self, state):
        singular = state.pop("fixed_singular", False)
        self.__dict__.update(state)
        self._tail_views()
        self._prepare()
        self.fixed_singular = singular
        self._refresh()

    @property
    def largest_dense(self) -> int:
        """Largest dimension of a dense block of ``L`` (what decides whether BLAS starts threads)."""
        if self.tail is not None:
            return self.tail.order
        return max((max(blk.shape) for row in self.L for blk in row if isinstance(blk, np.ndarray)), default=0)

    def block_description(self) -> str:
        """A table of the block types, like MixedModels' ``BlockDescription``.

        Each cell shows the type of the ``A`` block, or ``A/L`` where ``L`` differs.
        """
        kinds = self.layout.a_kinds
        names = [r.name for r in self.remats] + ["fixed"]
        width = max(14, *(len(nm) + 2 for nm in names))
        lines = ["rows:" + "".join(f"{nm:^{width}}" for nm in names)]
        for i in range(self.k + 1):
            cells = []
            for j in range(i + 1):
                l_ = block_kind(self.L[i][j])
                a = kinds.get((i, j), l_)
                short = {"Diagonal": "Diag"}.get(a, a)
                cells.append(f"{a:^{width}}" if a == l_ else f"{short + '/' + l_:^{width}}")
            lines.append(f"{self.sizes[i]:>4}:" + "".join(cells))
        return "\n".join(lines)

    # ------------------------------------------------------------------ A
    def _refresh(self) -> None:
        for refresh in self._program.refresh:
            refresh()

    def update_A(self, weights=None) -> None:
        """Recompute every block of ``A`` for the current ``Xy`` and case weights."""
        with _ONE_BLAS_THREAD:
            self._assembly.update(weights)
            self._refresh()

    def set_response(self, y, weights=None) -> None:
        """Install a new response (the last column of ``Xy``) and refresh its row of ``A``."""
        self.Xy[:, -1] = y
        with _ONE_BLAS_THREAD:
            self._assembly.fixed_rows(None if weights is None else np.asarray(weights, dtype=float))
            self._refresh()

    def reweight(self, z, weights) -> None:
        """Install a working response ``z`` and working weights (a PIRLS iteration) in ``A``."""
        self.Xy[:, -1] = z
        self.update_A(weights)

    # ------------------------------------------------------------------ L
    def install_theta(self, theta) -> None:
        """Write θ into the terms' λ (:meth:`ReMat.set_theta`) without refactoring."""
        theta = np.asarray(theta, dtype=float)
        if theta.shape != (self.ntheta,):
            raise ValueError(f"theta must have length {self.ntheta}, got shape {theta.shape}")
        for set_theta, span in self._spans:
            set_theta(theta[span])

    def evaluate(self, theta) -> None:
        """Install θ and refactor ``L``: the per-evaluation work of the optimiser.

        ``theta`` must be a float array of the right length (the caller's optimiser checks
        once); any block that is not positive definite raises :class:`PosDefError`.
        """
        for set_theta, span in self._spans:
            set_theta(theta[span])
        if _ONE_BLAS_THREAD.held():  # inside a fit: no cost per evaluation
            self._program.run()
        else:
            with _ONE_BLAS_THREAD:
                self._program.run()
        self.fixed_singular = False

    def update_L(self, fixed: bool = True) -> None:
        """Refactor ``L`` for the λ's currently installed in the terms.

        Parameters
        ----------
        fixed : bool, default=True
            Whether the fixed-effects block must be factored too. With ``fixed=False`` a
            fixed-effects block that is not positive definite (``X'WX`` singular for the
            working weights of a GLMM whose β is held fixed, as under separation) leaves
            :attr:`fixed_singular` set instead of raising: the random-effects part of the
            factor, all that PIRLS needs then, is complete.

        Raises
        ------
        PosDefError
            If a diagonal block is not positive definite.
        """
        with contextlib.nullcontext() if _ONE_BLAS_THREAD.held() else _ONE_BLAS_THREAD:
            self._program.run_ops()
            try:
                self._program.fixed()
            except PosDefError as err:
                random_rows = self.tail.order - self.sizes[self.k] if self.tail is not None else 0
                if fixed or err.minor is None or err.minor <= random_rows:
                    raise
                self.fixed_singular = True
                return
        self.fixed_singular = False

    # ------------------------------------------------------------------ results
    def diagonal(self, j) -> np.ndarray:
        """The diagonal of ``L[j][j]``, whatever its storage."""
        return self.L[j][j].diagonal()

    def logdet(self, reml: bool = False) -> float:
        """``log |L_Z|^2`` (plus ``log |L_X|^2`` when ``reml``)."""
        return 2.0 * sum(float(np.log(d).sum()) for d in self._logdet_views[bool(reml)])

    @property
    def pwrss(self) -> float:
        """Penalised weighted residual sum of squares at the conditional β̂ and û."""
        return float(self.L[self.k][self.k][self.p, self.p] ** 2)

    def fixed_block(self) -> np.ndarray:
        """``L_XX``: the factor of the fixed effects' block (``p x p``, lower triangular; a view)."""
        return self.L[self.k][self.k][: self.p, : self.p]

    def fixef(self) -> np.ndarray:
        """Conditional estimate β̂ (full-rank columns)."""
        Lkk = self.L[self.k][self.k]
        p = self.p
        if p == 0:
            return np.zeros(0)
        return solve_triangular(Lkk[:p, :p], Lkk[p, :p], lower=True, trans="T")

    def ranef_u(self, beta) -> list[np.ndarray]:
        """Spherical conditional modes ``u`` (one ``nlev x S`` array per term) given β."""
        k, p = self.k, self.p
        v = [self.L[k][j][p, :] - self.L[k][j][:p, :].T @ beta for j in range(k)]
        for i in range(k - 1, -1, -1):
            v[i] = self.solve_transposed(i, v[i])
            for jj in range(i):
                blk = self.L[i][jj]
                Bt = blk.sparse_view().T if isinstance(blk, BlockedSparse) else blk.T
                v[jj] = v[jj] - Bt @ v[i]
        return [vi.reshape(r.nlev, r.S) for vi, r in zip(v, self.remats)]

    def solve_transposed(self, i, v) -> np.ndarray:
        """``L[i][i]^{-T} v``."""
        return kernels.kernel(kernels.SOLVE_TRANSPOSED, self.L[i][i])(self.L[i][i], v)

    def solve_lower(self, i, rhs) -> np.ndarray:
        """``L[i][i]^{-1} rhs`` for a dense right-hand side (rows of ``rhs`` index the block)."""
        return kernels.kernel(kernels.SOLVE_LOWER, self.L[i][i])(self.L[i][i], rhs)

    def block_times(self, i, j, rhs) -> np.ndarray:
        """``L[i][j] @ rhs`` for a dense ``rhs``."""
        blk = self.L[i][j]
        return (blk.tocsr() if isinstance(blk, BlockedSparse) else blk) @ rhs

    def condvar_unscaled(self, j) -> np.ndarray:
        """Diagonal ``S x S`` blocks of ``(Λ'Z'ZΛ + I)^{-1}`` for term ``j``, shape (nlev, S, S)."""
        blk = self.L[j][j]
        r = self.remats[j]
        S, nlev = r.S, r.nlev
        # x_i = L_ii^{-1}(e - Σ_m L_im x_m): columns of L^{-1} for the levels of term j
        if isinstance(blk, UniformBlockDiagonal):
            out = np.matmul(blk.inv.transpose(0, 2, 1), blk.inv)
            xs = {j: None}
        else:
            x = solve_triangular(blk, np.eye(blk.shape[0]), lower=True)
            xr = x.reshape(x.shape[0], nlev, S)
            out = np.einsum("rla,rlb->lab", xr, xr)
            xs = {j: x}
        for i in range(j + 1, self.k):
            acc = np.zeros((self.sizes[i], r.nranef))
            for m in range(j, i):
                if xs[m] is None:  # x_j is block diagonal with the inverse blocks
                    Lij = self.L[i][j]
                    dense = Lij.toarray() if isinstance(Lij, BlockedSparse) else Lij
                    g = dense.reshape(dense.shape[0], nlev, S)
                    acc += np.einsum("rla,lab->rlb", g, blk.inv).reshape(acc.shape)
                else:
                    acc += self.block_times(i, m, xs[m])
            xs[i] = self.solve_lower(i, -acc)
            xi = xs[i].reshape(xs[i].shape[0], nlev, S)
            out = out + np.einsum("rla,rlb->lab", xi, xi)
        return out

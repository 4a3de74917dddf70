r"""``update_L``: the blocked Cholesky factorisation for the current θ, compiled once into a program.

For the λ's installed in the terms, :math:`L` is the lower Cholesky factor of

.. math::

    \begin{bmatrix}\Lambda^\top Z^\top W Z\Lambda + I & \Lambda^\top Z^\top W [X y]\\
    [X y]^\top W Z \Lambda & [X y]^\top W [X y]\end{bmatrix},

computed block by block, left-looking, as MixedModels.jl's ``updateL!``:

1. scale: :math:`L_{ij} = \Lambda_i^\top A_{ij} \Lambda_j`, plus :math:`I` on the
   random-effects diagonal blocks (a small dense tail is scaled whole);
2. for every block column :math:`j`: subtract from its blocks the products of the
   columns :math:`jj < j` (rank updates on the diagonal, products below; a Schur update of
   constant coefficients where one applies), factor :math:`L_{jj}`, and divide the blocks
   below it by :math:`L_{jj}^\top`. The dense tail takes the updates from the columns left
   of it, then one ``potrf`` factors it whole.

The storage of every block is fixed by the :class:`~sklmixed.linalg.symbolic.Layout`, so each
step's kernel is chosen once (:mod:`~sklmixed.linalg.kernels`) and bound to the block
buffers: evaluating the objective runs the list of ops, with no dispatch and no Python loop
over levels or observations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernels
from .parallel import parallel_map, workers
from .schur import schur_op
from .sparse_syrk import sparse_syrk_op

__all__ = ["Program", "compile_update"]


@dataclass(frozen=True)
class Program:
    """The compiled ``update_L``.

    Attributes
    ----------
    ops : tuple of callables
        Every step but the factorisation of the block that holds the fixed effects, in order.
    fixed : callable
        That factorisation: the dense tail's ``potrf``, or the ``[X y]`` block's alone.
    refresh : tuple of callables
        What must be recomputed from ``A`` whenever ``A`` changes (Schur coefficients).
    steps : tuple of str
        The step of each op: ``"scale"``, ``"update"`` (rank updates, products, Schur
        updates), ``"factor"`` (Cholesky factors of diagonal blocks) or ``"divide"``; for
        accounting the time of an evaluation (``fixed`` is a ``"factor"``).
    stages : tuple of tuples of callables, optional
        The same ops as stages of tasks that write different blocks and read only blocks
        finished in earlier stages: the tasks of a stage may run on several threads, with
        the same results (each block is computed by the same calls whoever runs them).
    order : int
        The side of a square with as many entries as the largest dense block: whether the
        stages are worth the threads (:func:`~sklmixed.linalg.parallel.workers`).
    """

    ops: tuple
    fixed: object
    refresh: tuple
    steps: tuple = ()
    stages: tuple | None = None
    order: int = 0

    def run_ops(self) -> None:
        """Every op but :attr:`fixed`: stage by stage, on the worker threads for a large factor."""
        threads = workers(self.order) if self.stages is not None else 1
        if threads == 1:
            for op in self.ops:
                op()
            return
        for stage in self.stages:
            if len(stage) == 1:
                stage[0]()
            else:
                parallel_map(stage, threads)

    def run(self) -> None:
        self.run_ops()
        self.fixed()


def _in_order(ops):
    ops = tuple(ops)
    if len(ops) == 1:
        return ops[0]

    def task():
        for op in ops:
            op()
    return task


def compile_update(layout, A, L, remats, tail) -> Program:
    """The :class:`Program` of ``update_L`` for blocks ``A`` and ``L`` in ``layout``'s storage."""
    k, t = layout.k, layout.tail
    lam = [r.lambda_ for r in remats] + [None]
    ops, refresh = [], []
    # stage -> target block -> ops, in the order they must run
    stages = {}

    def add(step, op, stage, target):
        ops.append((step, op))
        if op is not None:
            stages.setdefault(stage, {}).setdefault(target, []).append(op)

    # step 1: scale. A small dense tail is scaled whole, by two matrix products. In a large
    # one, a dense diagonal block of L whose A block is diagonal (fill-in only) gets its
    # diagonal alone, on a tail zeroed in one pass: a dense copy of a diagonal matrix costs more
    if layout.fused:
        add("scale", tail.scale_op(remats[t:]), ("scale",), "tail")
    diagonal_A = set() if layout.fused else {j for j in range(t, k) if remats[j].S == 1}
    if tail is not None and diagonal_A:
        add("scale", tail.zero_op(), ("zero",), "tail")
    for j in range(k + 1):
        for i in range(j, k + 1):
            if layout.fused and j >= t:
                continue
            if i == j and j in diagonal_A:
                add("scale", kernels.diagonal_scale_op(A[j][j], L[j][j], lam[j]), ("scale",), (i, j))
            else:
                add("scale", kernels.scale_op(A[i][j], L[i][j], lam[i], lam[j], inflate=(i == j < k)), ("scale",),
                    (i, j))

    # step 2: left-looking blocked Cholesky
    def update(i, j, jj):
        schur = sparse_syrk_op(layout, A, L, remats, j, jj, layout.thresholds.split_pairs) if i == j else None
        if schur is None:
            schur = schur_op(layout, A, L, remats, i, j, jj)
        if schur is not None:
            refresh.append(schur[1])
            return schur[0]
        if i == j:
            return kernels.kernel(kernels.RANK_UPDATE, L[j][j], L[j][jj])(L[j][j], L[j][jj])
        return kernels.kernel(kernels.PRODUCT, L[i][j], L[i][jj], L[j][jj])(L[i][j], L[i][jj], L[j][jj])

    fixed = None
    for j in range(k + 1):
        left = range(min(j, t))
        # the tail's columns are factored together at the end: their updates are one stage
        stage = ("update", min(j, t))
        for jj in left:
            add("update", update(j, j, jj), stage, (j, j))
        if j < t or (j == k and tail is None):
            chol = kernels.kernel(kernels.CHOLESKY, L[j][j])(L[j][j])
            if j == k:
                fixed = chol
            else:
                add("factor", chol, ("factor", j), j)
        for i in range(j + 1, k + 1):
            for jj in left:
                add("update", update(i, j, jj), stage, (i, j))
            if j < t:
                add("divide", kernels.kernel(kernels.RDIV, L[i][j], L[j][j])(L[i][j], L[j][j]), ("divide", j), i)
    if tail is not None:
        fixed = tail.cholesky_op()
    kept = [(step, op) for step, op in ops if op is not None]
    # stages in a valid order: zero the tail, scale, then column by column its updates, its factor, its divisions
    keys = [("zero",), ("scale",)] + [(name, j) for j in range(k + 1) for name in ("update", "factor", "divide")]
    staged = tuple(tuple(_in_order(o) for o in stages[key].values()) for key in keys if key in stages)
    dense = [blk.size for row in L for blk in row if isinstance(blk, np.ndarray)]
    return Program(tuple(op for _, op in kept), fixed, tuple(refresh), tuple(step for step, _ in kept), staged,
                   int(np.sqrt(max(dense, default=0))))

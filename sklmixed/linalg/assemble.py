r"""Assembly of :math:`A = [Z\;X\;y]^\top W [Z\;X\;y]` into the blocks the layout chose.

Every random-effects block of ``A`` is a sum over observations of products of ``z``
columns (times the weight), landing at the pair of levels the observation belongs to: one
``bincount`` per block fills it, with the landing positions worked out once (blocks that share
the dense tail's array share one ``bincount``). The ``[X y]`` rows are
:math:`[X\,y]^\top W Z_j`, one ``bincount`` per column of ``[X y]`` (and of ``Z_j``) with no
index arrays to keep, and the dense :math:`[X\,y]^\top W [X\,y]`.
A GLMM reweights and changes the response at every PIRLS iteration; nothing else changes.
"""

from __future__ import annotations

import numpy as np

from .blocks import BlockedSparse, UniformBlockDiagonal
from .dense import flat_view

__all__ = ["Assembly"]


class Assembly:
    """Fills the blocks ``A`` of a factor from its terms, ``[X y]`` and case weights.

    Parameters
    ----------
    remats : list of ReMat
    A : list of lists
        The blocks of ``A`` (``A[i][j]`` for ``i >= j``; index ``k`` is ``[X y]``), allocated.
    Xy : ndarray of shape (n, p + 1)
        The full-rank fixed-effects matrix with the response as last column; its last
        column may change (:meth:`fixed_rows` picks that up).
    """

    def __init__(self, remats, A, Xy):
        self.remats, self.A, self.Xy = remats, A, Xy
        self._plan = None

    # the plans are index arrays as large as the data: rebuilt instead of pickled
    def __getstate__(self):
        return {"remats": self.remats, "A": self.A, "Xy": self.Xy}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._plan = None

    def _scatter_plan(self):
        """For every random-effects block of A: the flat buffer, the target of each product, the factors."""
        R, k = self.remats, len(self.remats)
        plan = []
        for i in range(k):
            for j in range(i + 1):
                blk = self.A[i][j]
                Si, Sj = R[i].S, R[j].S
                s = np.arange(Si)[:, None, None]
                t = np.arange(Sj)[None, :, None]
                if isinstance(blk, UniformBlockDiagonal):
                    pos = R[i].refs[None, None, :] * (Si * Si) + s * Si + t
                    flat = blk.data.reshape(-1)
                elif isinstance(blk, BlockedSparse):
                    where = blk.block_index(R[i].refs, R[j].refs)  # the block of every observation
                    pos = where[None, None, :] * (Si * Sj) + s * Sj + t
                    flat = blk.data.reshape(-1)
                else:
                    flat, Ni, base = flat_view(blk)
                    pos = base + (R[j].refs[None, None, :] * Sj + t) * Ni + R[i].refs[None, None, :] * Si + s
                # products of intercept-only columns are all ones: skip multiplying by them
                ones = R[i].scalar_intercept and R[j].scalar_intercept
                zz = None if ones else R[i].z[:, None, :] * R[j].z[None, :, :]
                plan.append((flat, pos.astype(np.intp).reshape(-1), zz))
        # blocks that share one array (the dense tail) get one bincount between them
        grouped = {}
        for flat, pos, zz in plan:
            grouped.setdefault(id(flat.base if flat.base is not None else flat), []).append((flat, pos, zz))
        out = []
        for parts in grouped.values():
            if len(parts) == 1:
                out.append((parts[0][0], parts[0][1], [parts[0][2]]))
            else:
                out.append((parts[0][0], np.concatenate([p for _, p, _ in parts]), [zz for _, _, zz in parts]))
        return out

    def update(self, weights=None) -> None:
        """Recompute every block of ``A`` for the current ``Xy`` and case weights."""
        w = None if weights is None else np.asarray(weights, dtype=float)
        if self._plan is None:
            self._plan = self._scatter_plan()
        ones = np.ones(self.Xy.shape[0]) if w is None else w
        for flat, pos, zzs in self._plan:
            vals = [ones if zz is None else (zz if w is None else zz * w) for zz in zzs]  # None: 1 x 1 terms
            vals = np.ravel(vals[0]) if len(vals) == 1 else np.concatenate([np.ravel(v) for v in vals])
            flat[...] = np.bincount(pos, weights=vals, minlength=flat.size)
        self.fixed_rows(w)

    def fixed_rows(self, w) -> None:
        """The ``[X y]`` rows of ``A``: ``[X y]' W Z_j`` for every term, and ``[X y]' W [X y]``."""
        k = len(self.remats)
        wXy = self.Xy if w is None else self.Xy * w[:, None]
        columns = np.ascontiguousarray(wXy.T)  # each column of [X y] contiguous, for bincount
        for j, r in enumerate(self.remats):
            out, S = self.A[k][j], r.S
            for s in range(S):
                z = None if r.scalar_intercept else r.z[s]
                for c, column in enumerate(columns):  # a loop over columns, not over levels or rows
                    out[c, s::S] = np.bincount(r.refs, weights=column if z is None else column * z, minlength=r.nlev)
        self.A[k][k][...] = self.Xy.T @ wXy

r"""The pass that sums ``A``: the blocks of a linear mixed model, per partition, added over partitions.

Each partition's rows are encoded, centred and scaled with the means and scales of the
previous pass (:mod:`~sklmixed.outofcore.moments`) and summed into the blocks of
:math:`A = [Z\,\tilde X\,\tilde y]^\top W [Z\,\tilde X\,\tilde y]`
(:class:`~sklmixed.linalg.statistics.CrossProducts`: per level, per pair of levels that occur,
and the ``[X y]`` rows). With them come what the checks of a model need of its rows, as
triangular factors of QR decompositions (a tall matrix's :math:`R` is the :math:`R` of the
stacked :math:`R`'s of its parts, the *TSQR* reduction, as stable as one QR of all rows):
the raw fixed-effects columns (their rank, as :class:`~sklmixed.terms.FeTerm` finds it), the
weighted :math:`[\tilde X\,\tilde y]` (whether the fixed effects fit the response exactly)
and the random-effects columns of the terms with equally many levels (whether a column
depends on others). For the moments start of θ, the unweighted counts and response sums of
every level come along too.

Examples
--------
>>> import numpy as np
>>> a = np.random.default_rng(0).normal(size=(100, 3))
>>> R = qr_r(np.vstack([qr_r(a[:40]), qr_r(a[40:])]))
>>> bool(np.allclose(np.abs(np.diag(R)), np.abs(np.diag(qr_r(a)))))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..linalg.statistics import CrossProducts

__all__ = ["PartitionSums", "partition_sums", "qr_r"]


def qr_r(a) -> np.ndarray:
    """The triangular factor of ``a``'s QR decomposition (``min(n, m) x m``)."""
    return np.linalg.qr(np.asarray(a, dtype=float), mode="r")


def _stack_r(a, b):
    return qr_r(np.vstack([a, b]))


@dataclass
class PartitionSums:
    """The sums of one pass (of a partition, or of all of them added).

    Attributes
    ----------
    cross : CrossProducts
        The blocks of ``A`` for ``[X̃ ỹ]`` with every fixed-effects column.
    r_raw : ndarray
        ``R`` of the raw, unweighted fixed-effects columns.
    r_std : ndarray
        ``R`` of ``√w [X̃ ỹ]``.
    r_z : list of ndarray
        Per group of terms with equally many levels, ``R`` of their unweighted columns side by side.
    counts, ysums : list of ndarray or None
        Per term, the unweighted number of rows and sum of ``ỹ`` of every level (moments start).
    ysum, y2sum : float
        Unweighted sums of ``ỹ`` and ``ỹ²``.
    """

    cross: CrossProducts
    r_raw: np.ndarray
    r_std: np.ndarray
    r_z: list
    counts: list | None
    ysums: list | None
    ysum: float
    y2sum: float

    def __add__(self, other: PartitionSums) -> PartitionSums:
        def add(a, b):
            return None if a is None else [u + v for u, v in zip(a, b)]

        return PartitionSums(self.cross + other.cross, _stack_r(self.r_raw, other.r_raw),
                             _stack_r(self.r_std, other.r_std), [_stack_r(a, b) for a, b in zip(self.r_z, other.r_z)],
                             add(self.counts, other.counts), add(self.ysums, other.ysums), self.ysum + other.ysum,
                             self.y2sum + other.y2sum)


def partition_sums(part, recipe, encoder, std, groups, moments_start: bool) -> PartitionSums | None:
    """The sums of one partition (None if it has no rows).

    ``std`` is the :class:`~sklmixed.models.standardize.Standardization` of every
    fixed-effects column; ``groups`` lists the terms (model order) with equally many levels.
    """
    frame = recipe(part)
    if frame is None:
        return None
    enc = encoder(frame)
    yt = std.y(enc.y)
    Xy = np.column_stack([std.X(enc.X), yt])
    nlevs = [len(t.grouping.levels) for t in encoder.terms]
    cross = CrossProducts.of_rows(enc.codes, enc.z, nlevs, Xy, enc.weights)
    sw = 1.0 if enc.weights is None else np.sqrt(enc.weights)[:, None]
    r_z = [qr_r(np.vstack([enc.z[j] for j in group]).T) for group in groups]
    counts = ysums = None
    if moments_start:
        counts = [np.bincount(c, minlength=m).astype(float) for c, m in zip(enc.codes, nlevs)]
        ysums = [np.bincount(c, yt, minlength=m) for c, m in zip(enc.codes, nlevs)]
    return PartitionSums(cross, qr_r(enc.X), qr_r(Xy * sw), r_z, counts, ysums, float(yt.sum()),
                         float(yt @ yt))

r"""Weighted means, spreads and magnitudes of columns, summed over partitions without cancellation.

A model fit in memory centres and scales :math:`X` and :math:`y` before anything is summed
(:mod:`~sklmixed.models.standardize`); out of core the means and scales come from a pass of
their own, so that the pass that sums the cross-products can centre each partition's rows
as it goes. Sums of squares about a partition's own mean are combined by the update of Chan,
Golub and LeVeque,

.. math::

    M_{ab} = M_a + M_b + \delta^2 \frac{W_a W_b}{W_a + W_b},\qquad \delta = \bar x_b - \bar x_a,

which never subtracts two large sums, and kept in units of the column's largest magnitude
(so that a column near the float range does not overflow its squares). The largest
magnitudes, the extremes and the non-finite values of every column come with them, for the
checks a model makes of its columns.

Examples
--------
>>> import numpy as np
>>> x = np.array([[1e8 + 1.0], [1e8 + 2.0], [1e8 + 3.0], [1e8 + 6.0]])
>>> both = ColumnMoments.of(x[:2]) + ColumnMoments.of(x[2:])
>>> float(both.mean[0] - 1e8), round(float(both.rms(centred=True)[0] ** 2), 12)
(3.0, 3.5)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ColumnMoments"]


@dataclass
class ColumnMoments:
    """Per column of an ``n x m`` array: weighted mean, sum of squares about it, extremes.

    Attributes
    ----------
    W : float
        Sum of the weights.
    mean : ndarray of shape (m,)
        Weighted means.
    m2 : ndarray of shape (m,)
        Weighted sums of squares about the means, in units of ``big²``.
    big : ndarray of shape (m,)
        Largest magnitude of the finite values.
    low, high : ndarray of shape (m,)
        Smallest and largest finite values.
    nonfinite : ndarray of shape (m,)
        Number of non-finite values (left out of everything else).
    """

    W: float
    mean: np.ndarray
    m2: np.ndarray
    big: np.ndarray
    low: np.ndarray
    high: np.ndarray
    nonfinite: np.ndarray

    @classmethod
    def of(cls, values, weights=None) -> ColumnMoments:
        values = np.asarray(values, dtype=float)
        n, m = values.shape
        finite = np.isfinite(values)
        nonfinite = (~finite).sum(axis=0)
        if nonfinite.any():
            values = np.where(finite, values, 0.0)
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
        W = float(w.sum())
        wf = w[:, None] * finite  # a non-finite value is left out of its column's sums
        Wc = wf.sum(axis=0)
        mean = (wf * values).sum(axis=0) / np.where(Wc > 0, Wc, 1.0)
        big = np.max(np.abs(values), axis=0, initial=0.0)
        unit = np.where(big > 0, big, 1.0)
        dev = (values - mean) / unit
        m2 = (wf * dev * dev).sum(axis=0)
        low = np.min(np.where(finite, values, np.inf), axis=0, initial=np.inf)
        high = np.max(np.where(finite, values, -np.inf), axis=0, initial=-np.inf)
        return cls(W, mean, m2, big, low, high, nonfinite)

    def __add__(self, other: ColumnMoments) -> ColumnMoments:
        W = self.W + other.W
        big = np.maximum(self.big, other.big)
        unit = np.where(big > 0, big, 1.0)
        fa, fb = self.W / W if W else 0.0, other.W / W if W else 0.0
        delta = (other.mean - self.mean) / unit
        m2 = (self.m2 * (self.big / unit) ** 2 + other.m2 * (other.big / unit) ** 2
              + delta * delta * self.W * fb)
        return ColumnMoments(W, self.mean * fa + other.mean * fb, m2, big, np.minimum(self.low, other.low),
                             np.maximum(self.high, other.high), self.nonfinite + other.nonfinite)

    def rms(self, centred: bool) -> np.ndarray:
        """Weighted root mean square about the mean (``centred``) or about 0."""
        unit = np.where(self.big > 0, self.big, 1.0)
        ss = self.m2 if centred else self.m2 + self.W * (self.mean / unit) ** 2
        return unit * np.sqrt(ss / self.W)

    @property
    def constant(self) -> np.ndarray:
        """Columns whose finite values are all equal."""
        return self.low == self.high


@dataclass
class PartitionMoments:
    """The moments pass of a partition (or of all of them added).

    Attributes
    ----------
    xy : ColumnMoments
        The fixed-effects columns and the response, weighted.
    z : list of ColumnMoments
        Per random-effects term, its columns, unweighted.
    n : int
        Rows.
    log_weights : float
        Sum of the logarithms of the weights (0 without weights).
    """

    xy: ColumnMoments
    z: list
    n: int
    log_weights: float

    def __add__(self, other: PartitionMoments) -> PartitionMoments:
        return PartitionMoments(self.xy + other.xy, [a + b for a, b in zip(self.z, other.z)], self.n + other.n,
                                self.log_weights + other.log_weights)


def partition_moments(part, recipe, encoder) -> PartitionMoments | None:
    """The moments of one partition's model frame (None if it has no rows)."""
    frame = recipe(part)
    if frame is None:
        return None
    enc = encoder(frame)
    logw = 0.0 if enc.weights is None else float(np.sum(np.log(enc.weights)))
    return PartitionMoments(ColumnMoments.of(np.column_stack([enc.X, enc.y]), enc.weights),
                            [ColumnMoments.of(z.T) for z in enc.z], len(frame), logw)

r"""What goes into ``A``: the fixed-effects columns and the response, centred and scaled.

The penalised residual sum of squares is the square of the last diagonal entry of ``L``,
reached by subtracting from :math:`y^\top W y` everything the model explains. For a
response far from zero (``reaction + 1e8``) that subtraction cancels almost every digit,
and for one on a huge scale (``reaction * 1e200``) :math:`y^\top W y` overflows. A linear
mixed model is therefore fit to

.. math::

    \tilde y = (y - c\,\mathbf 1) / s_y, \qquad \tilde X = X T,

where, when ``X`` has an intercept column, :math:`c` is the weighted mean of ``y`` and ``T``
centres every other column on its weighted mean; :math:`s_y` and the columns of ``T`` scale
to unit weighted root mean square. Both are exact reparametrisations: θ is unchanged,
:math:`\beta = s_y T \tilde\beta + c\,e_0`, :math:`u = s_y \tilde u`,
:math:`r^2 = s_y^2 \tilde r^2`, and :math:`\log|L_X|^2 = \log|L_{\tilde X}|^2 - 2\log|\det T|`,
so every number the model reports is in the units of the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Standardization"]


def _finite_rms(values, w, sw):
    """Weighted root mean square of ``values`` (of each column of a matrix), computed without
    overflow for values up to the float range: 1 for zeros, NaN where a value is not finite."""
    big = np.max(np.abs(values), axis=0, initial=0.0)
    scaled = values / np.where(np.isfinite(big) & (big > 0), big, 1.0)
    rms = big * np.sqrt((w @ (scaled * scaled)) / sw)
    return np.where(big == 0, 1.0, np.where(np.isfinite(big), rms, np.nan))


@dataclass(frozen=True)
class Standardization:
    """The affine map from ``[X y]`` to what the factor sees (see the module docstring).

    Attributes
    ----------
    T : ndarray of shape (p, p)
        ``X̃ = X T`` (upper triangular; the identity where nothing is changed).
    y_shift, y_scale : float
        ``ỹ = (y - y_shift) / y_scale``.
    intercept : int or None
        The column of ``X`` that is all ones, if any.
    log_det_T : float
        ``log |det T|``.
    """

    T: np.ndarray
    y_shift: float
    y_scale: float
    intercept: int | None
    log_det_T: float

    @classmethod
    def of(cls, X, y, weights=None) -> Standardization:
        X = np.asarray(X, dtype=float)
        n, p = X.shape
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
        sw = float(np.sum(w))
        ones = np.flatnonzero(np.all(X == 1.0, axis=0))
        intercept = int(ones[0]) if len(ones) else None
        shifts = (w @ X) / sw if intercept is not None else np.zeros(p)
        scales = _finite_rms(X - shifts, w, sw)
        y_shift = float(np.sum(w * y) / sw) if intercept is not None else 0.0
        return cls.from_columns(shifts, scales, intercept, y_shift, float(_finite_rms(y - y_shift, w, sw)))

    @classmethod
    def from_columns(cls, shifts, scales, intercept, y_shift, y_scale) -> Standardization:
        """The map that centres column ``j`` by ``shifts[j]`` (with an intercept) and scales it by
        ``scales[j]``, and ``y`` by ``y_shift`` and ``y_scale``; a scale that is not finite and
        positive is 1 (shifts and scales worked out elsewhere: from sums over partitions, say)."""
        p = len(scales)
        T = np.eye(p)
        log_det = 0.0
        for j in range(p):
            if j == intercept:
                continue
            scale = scales[j] if np.isfinite(scales[j]) and scales[j] > 0 else 1.0
            # x̃_j = (x_j - shift · 1) / scale = X (e_j - shift e_0) / scale
            T[j, j] = 1.0 / scale
            if intercept is not None:
                T[intercept, j] = -shifts[j] / scale
            log_det -= np.log(scale)
        if not (np.isfinite(y_scale) and y_scale > 0):
            y_scale = 1.0
        return cls(T, float(y_shift), float(y_scale), intercept, float(log_det))

    def X(self, X) -> np.ndarray:
        """``X̃``: every column centred and scaled as such (no product with ``T``)."""
        scale = np.diag(self.T).copy()
        shift = np.zeros(len(scale))
        if self.intercept is not None:
            shift = -self.T[self.intercept] / scale
            shift[self.intercept] = 0.0
        return (np.asarray(X, dtype=float) - shift) * scale

    def y(self, y) -> np.ndarray:
        return (np.asarray(y, dtype=float) - self.y_shift) / self.y_scale

    def beta(self, beta_tilde) -> np.ndarray:
        """β in the units of the data from the factor's ``β̃``."""
        beta = self.y_scale * (self.T @ beta_tilde)
        if self.intercept is not None:
            beta[self.intercept] += self.y_shift
        return beta

    def vcov(self, V_tilde) -> np.ndarray:
        """``T V T'``: the unscaled covariance of β from that of ``β̃`` (σ carries ``s_y``)."""
        return self.T @ V_tilde @ self.T.T

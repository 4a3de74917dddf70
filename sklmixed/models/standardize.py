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


def _finite_rms(values, w, sw) -> float:
    """Weighted root mean square, computed without overflow for values up to the float range."""
    big = np.max(np.abs(values), initial=0.0)
    if not np.isfinite(big) or big == 0:
        return 1.0 if big == 0 else np.nan
    scaled = values / big
    return float(big * np.sqrt(np.sum(w * scaled * scaled) / sw))


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
        n, p = X.shape
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
        sw = float(np.sum(w))
        ones = [j for j in range(p) if np.all(X[:, j] == 1.0)]
        intercept = ones[0] if ones else None
        shifts = [float(np.sum(w * X[:, j]) / sw) if intercept is not None else 0.0 for j in range(p)]
        scales = [_finite_rms(X[:, j] - shifts[j], w, sw) for j in range(p)]
        y_shift = float(np.sum(w * y) / sw) if intercept is not None else 0.0
        return cls.from_columns(shifts, scales, intercept, y_shift, _finite_rms(y - y_shift, w, sw))

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
        """``X̃``, column by column (no product: a centred column is computed as such)."""
        out = np.empty_like(X, dtype=float)
        for j in range(X.shape[1]):
            shift = -self.T[self.intercept, j] / self.T[j, j] if self.intercept is not None and j != self.intercept \
                else 0.0
            out[:, j] = (X[:, j] - shift) * self.T[j, j]
        return out

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

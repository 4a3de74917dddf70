r"""The objectives of mixed models, as functions of what the blocked factor provides.

Every caller (the optimiser, ``objective_at``, the ``objective`` property, profiles) goes
through these functions, so the criterion is written once.

**Linear mixed models.** Profiled over β and σ, with :math:`r^2_\theta` the penalised
weighted residual sum of squares, :math:`\nu = n` for maximum likelihood and
:math:`\nu = n - p` for REML,

.. math::

    -2\,\ell(\theta) = \log|L_\theta|^2 + \nu\Bigl[1 + \log\frac{2\pi r^2_\theta}{\nu}\Bigr]
    - \sum_i \log w_i,

where :math:`\log|L_\theta|^2` covers the random-effects blocks for ML, and the
fixed-effects block too for REML (:meth:`BlockedCholesky.logdet`).

**Generalized linear mixed models.** The Laplace approximation to the deviance at the
conditional modes :math:`\tilde u` found by PIRLS,

.. math::

    \sum_i d_i(y_i, \mu_i) + \|\tilde u\|^2 + \log|L_\theta|^2 .
"""

from __future__ import annotations

import numpy as np

__all__ = ["profiled_deviance", "laplace_deviance", "penalised_deviance"]

_TWO_PI = 2.0 * np.pi


def profiled_deviance(logdet: float, pwrss: float, dof: int, sum_log_weights: float | None = None,
                      log_scale2: float = 0.0) -> float:
    r"""The ML deviance (``dof = n``) or REML criterion (``dof = n - p``, ``logdet`` with ``log|L_X|²``).

    ``pwrss`` may be that of a response divided by a scale :math:`s`; ``log_scale2`` is then
    :math:`\log s^2`, added in the logarithm so that neither :math:`s^2` nor the
    residual sum of squares in the data's units has to be a float (a response of 1e200).
    """
    val = logdet + dof * (1.0 + np.log(_TWO_PI * pwrss / dof) + log_scale2)
    return float(val if sum_log_weights is None else val - sum_log_weights)


def penalised_deviance(dev_resid: np.ndarray, u) -> float:
    """``Σ d_i + ‖u‖²``: what a PIRLS step minimises."""
    return float(np.sum(dev_resid)) + sum(float(np.sum(uj * uj)) for uj in u)


def laplace_deviance(pdev: float, logdet: float) -> float:
    """The Laplace approximation: the penalised deviance plus ``log|L_θ|²``."""
    return pdev + logdet

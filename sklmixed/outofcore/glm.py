r"""The GLM that starts a generalized model, fit by IRLS with one pass per iteration.

The iteration of :func:`~sklmixed.glm.irls.fit_glm`, step for step: from the family's starting
means, solve the weighted least-squares problem of the working response, halve a step that
raises the deviance, stop when the deviance changes by at most ``tol`` relative. The least-
squares problem of a pass is its triangular factor :math:`R` of :math:`\sqrt{W}[X\,z]`
(:func:`~sklmixed.outofcore.working.glm_sums`), whose solution is that of the rows
(:math:`\sqrt W X = Q R_X`, :math:`\sqrt W z = Q r_z`); and a pass computes the deviance at the
new coefficients together with the next problem, so that an iteration without halving is one
pass. The last factor also tells whether the fixed effects fit the working response exactly
(the data are separable, or the response constant), which is refused as in memory.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..exceptions import ConvergenceWarning
from .passes import run_pass
from .working import GLMSums, glm_sums

__all__ = ["fit_glm_by_passes", "check_glm_start_by_r"]


def _solve(r, p) -> np.ndarray:
    return np.linalg.lstsq(r[:, :p], r[:, p], rcond=None)[0]


def _glm_pass(log, chunks, family, link, beta, keep) -> GLMSums:
    out = run_pass(log, "GLM start (IRLS)", chunks, glm_sums, GLMSums.__add__, family, link, beta, keep)
    if out.nonfinite:
        raise ValueError(f"the working response or weights of the GLM start are not finite for {out.nonfinite} "
                         "row(s): check the response and the link")
    return out


def fit_glm_by_passes(log, chunks, family, link, keep, *, maxiter=100, tol=1e-10):
    """``(beta, deviance, last)``: the GLM of the fixed-effects columns ``keep`` (``last`` is the last pass)."""
    p = len(keep)
    out = _glm_pass(log, chunks, family, link, None, keep)
    beta, dev_old = np.zeros(p), np.inf
    for _ in range(maxiter):
        beta_new = _solve(out.r, p)
        for _half in range(30):
            out = _glm_pass(log, chunks, family, link, beta_new, keep)
            dev = out.deviance
            if np.isfinite(dev) and dev <= dev_old * (1 + 1e-12) + 1e-12:
                break
            beta_new = (beta_new + beta) / 2 if np.isfinite(dev_old) else beta_new
            if not np.isfinite(dev_old):
                break
        beta = beta_new
        if abs(dev - dev_old) <= tol * (abs(dev) + 0.1):
            return beta, dev, out
        dev_old = dev
    warnings.warn(f"the GLM fit for starting values did not converge in {maxiter} iterations",
                  ConvergenceWarning, stacklevel=3)
    return beta, dev_old, out


def check_glm_start_by_r(r, p, name, constant) -> None:
    """Refuse a working response the fixed effects fit exactly (:func:`~sklmixed.models.glmm_start.check_glm_start`).

    ``r`` is the triangular factor of ``√W [X z]`` at the GLM start; ``constant`` says
    whether the response is constant.
    """
    if p == 0:
        return
    resid = abs(r[p, p]) if r.shape[0] > p else 0.0
    if resid <= 1e-8 * np.linalg.norm(r[:, p]):
        if constant:
            raise ValueError(f"the response {name!r} is constant: the fixed effects fit it exactly and there is "
                             "nothing to fit")
        raise ValueError(f"the fixed effects fit the response {name!r} exactly (the generalized linear model "
                         "without random effects has zero residuals: the data are separable); there is nothing "
                         "left for random effects to explain")

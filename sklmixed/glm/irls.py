"""Generalized linear models by iteratively reweighted least squares (starting values for GLMMs)."""

from __future__ import annotations

import warnings

import numpy as np

from ..exceptions import ConvergenceWarning

__all__ = ["fit_glm", "working_response_and_weights"]

_RELATIVE_WEIGHT_FLOOR = 1e-10


def working_response_and_weights(family, link, y, eta, offset, prior):
    """The IRLS working response ``z = η − offset + (y − μ) dη/dμ`` and weights ``w``."""
    raw, mu_eta = link.inverse_and_derivative(eta)
    mu = family.clip_mu(raw)
    clipped = mu != raw
    if np.any(clipped):
        # the step (y - μ) / (dμ/dη) at a clipped μ must divide by the derivative there too:
        # the unclipped one (2e-16 for the log link) sends η off by 1e5 per iteration, the
        # clipped one by about 1, as R's glm and lme4 drift
        mu_eta = mu_eta.copy()
        with np.errstate(all="ignore"):
            mu_eta[clipped] = link.mu_eta(link.link(mu[clipped]))
    z = eta - offset + (y - mu) / mu_eta
    with np.errstate(over="ignore"):  # an overshooting trial point: PIRLS rejects non-finite weights
        w = prior * mu_eta * mu_eta / family.variance(mu)
    # weights that underflow next to the others (a Poisson cell of zeros, a separated
    # Bernoulli group: mu -> 0 as beta -> -inf) make X'WX numerically singular, and every
    # Newton step in that direction then fails; raised to a tiny fraction of the largest
    # they carry as little information, and the iterations stop where the deviance stops
    # changing, as R's glm and lme4 do
    w = np.maximum(w, _RELATIVE_WEIGHT_FLOOR * np.max(w, initial=0.0))
    return z, w, mu


def fit_glm(X, y, family, link, prior=None, offset=None, *, maxiter=100, tol=1e-10):
    """Maximum-likelihood coefficients of a GLM by IRLS with step halving.

    Returns
    -------
    beta : ndarray
    deviance : float
    """
    n, p = X.shape
    prior = np.ones(n) if prior is None else prior
    offset = np.zeros(n) if offset is None else offset
    mu = family.initial_mu(y, prior)
    eta = link.link(mu)
    dev_old = np.inf
    beta = np.zeros(p)
    for _ in range(maxiter):
        z, w, _ = working_response_and_weights(family, link, y, eta, offset, prior)
        sw = np.sqrt(w)
        beta_new = np.linalg.lstsq(X * sw[:, None], z * sw, rcond=None)[0]
        for _half in range(30):
            eta_new = X @ beta_new + offset
            dev = float(np.sum(family.dev_resid(y, family.clip_mu(link.inverse(eta_new)), prior)))
            if np.isfinite(dev) and dev <= dev_old * (1 + 1e-12) + 1e-12:
                break
            beta_new = (beta_new + beta) / 2 if np.isfinite(dev_old) else beta_new
            if not np.isfinite(dev_old):
                break
        beta, eta = beta_new, X @ beta_new + offset
        if abs(dev - dev_old) <= tol * (abs(dev) + 0.1):
            return beta, dev
        dev_old = dev
    warnings.warn(f"the GLM fit for starting values did not converge in {maxiter} iterations",
                  ConvergenceWarning, stacklevel=2)
    return beta, dev_old

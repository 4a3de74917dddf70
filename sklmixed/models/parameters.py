r"""The parameters inference reports on: fixed effects, standard deviations, correlations, σ.

The optimiser works with θ, the entries of the relative covariance factors λ; people read
the standard deviations and correlations of the random effects,

.. math::

    \Sigma_j = s^2\,\lambda_j\lambda_j^\top = D_j R_j D_j,

with :math:`s = \sigma` for a linear mixed model and :math:`s = 1` for a GLMM (whose
:math:`b = \Lambda u` carries its own scale). Bootstrap tables, profiles and intervals all
name them here, as ``sd_<column>|<group>``, ``cor_<column>,<column>|<group>`` and ``sigma``,
after the fixed effects under their own names.

Examples
--------
>>> from sklmixed import LinearMixedModel, load_dataset
>>> m = LinearMixedModel("reaction ~ 1 + days + (1 + days|subj)", load_dataset("sleepstudy")).fit(progress=False)
>>> {k: round(v, 3) for k, v in variance_parameters(m).items()}
{'sd_(Intercept)|subj': 23.78, 'cor_(Intercept),days|subj': 0.081, 'sd_days|subj': 5.717, 'sigma': 25.592}
"""

from __future__ import annotations

import numpy as np

__all__ = ["variance_parameters", "re_scale", "theta_from_variance", "variance_names"]


def re_scale(model, sigma=None) -> float:
    r"""The factor between λ and the random effects' standard deviations: σ for an LMM, 1 for a GLMM.

    A GLMM whose family estimates its dispersion (Gamma, inverse Gaussian) has :math:`b = \Lambda u`
    on the scale of the linear predictor: 1. A Pearson (quasi-family) dispersion keeps the
    LMM convention, σ.
    """
    family = getattr(model, "family", None)
    if family is not None and (not model.has_dispersion or family.free_parameter):
        return 1.0
    return float(model.sigma if sigma is None else sigma)


def _entries(r):
    """``(kind, a, b)`` of every parameter of term ``r``: standard deviations, then free correlations."""
    out = []
    for a in range(r.S):
        for b in range(a):
            if r.free[a, b]:
                out.append(("cor", b, a))
        out.append(("sd", a, a))
    return out


def variance_names(model) -> list[str]:
    """Names of the variance parameters, term by term (sd's and correlations), then ``sigma``."""
    names = []
    for r in model.reterms:
        for kind, a, b in _entries(r):
            cols = r.cnames[a] if kind == "sd" else f"{r.cnames[a]},{r.cnames[b]}"
            names.append(f"{kind}_{cols}|{r.name}")
    if model.has_dispersion:
        names.append("sigma")
    return names


def variance_parameters(model, theta=None, sigma=None) -> dict[str, float]:
    """Standard deviations and correlations of the random effects, and σ, at θ (default: the estimates)."""
    theta = model.theta if theta is None else np.asarray(theta, dtype=float)
    scale = re_scale(model, sigma)
    values, offset = [], 0
    for r in model.reterms:
        lam = np.zeros((r.S, r.S))
        lam[r.theta_rows, r.theta_cols] = theta[offset:offset + r.ntheta]
        offset += r.ntheta
        cov = scale * scale * (lam @ lam.T)
        sd = np.sqrt(np.diag(cov))
        for kind, a, b in _entries(r):
            if kind == "sd":
                values.append(sd[a])
            else:
                values.append(cov[a, b] / (sd[a] * sd[b]) if sd[a] > 0 and sd[b] > 0 else np.nan)
    if model.has_dispersion:
        values.append(float(model.sigma if sigma is None else sigma))
    return dict(zip(variance_names(model), map(float, values)))


def theta_from_variance(model, values, sigma: float) -> np.ndarray | None:
    """θ for the standard deviations and correlations ``values`` (in :func:`variance_names` order,
    without ``sigma``) at residual scale ``sigma``; None when the correlations are not a valid
    correlation matrix."""
    values = np.asarray(values, dtype=float)
    scale = re_scale(model, sigma)
    thetas, k = [], 0
    for r in model.reterms:
        sd, corr = np.zeros(r.S), np.eye(r.S)
        for kind, a, b in _entries(r):
            if kind == "sd":
                sd[a] = values[k]
            else:
                corr[a, b] = corr[b, a] = values[k]
            k += 1
        if np.any(sd < 0) or np.any(np.abs(corr) > 1):
            return None
        try:
            chol = np.linalg.cholesky(corr) if r.S > 1 else np.ones((1, 1))
        except np.linalg.LinAlgError:
            return None
        lam = (sd[:, None] * chol) / scale
        thetas.append(lam[r.theta_rows, r.theta_cols])
    return np.concatenate(thetas) if thetas else np.zeros(0)

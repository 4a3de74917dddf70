r"""Adaptive Gauss-Hermite quadrature of a GLMM's likelihood, for a single scalar random-effects term.

With one scalar term the integral over the random effects factors into one-dimensional
integrals, one per level :math:`\ell`. Each is centred at the conditional mode
:math:`\tilde u_\ell` and scaled by its conditional standard deviation
:math:`1 / L_{\ell\ell}` (the diagonal of the factor), and evaluated with the normalised
Gauss-Hermite rule :math:`(z_k, w_k)` of :func:`~sklmixed.glm.gh_norm`:

.. math::

    -2\log L \approx \sum_\ell \Bigl[d_\ell(\tilde u_\ell)
    - 2\log\sum_k w_k \exp\bigl((z_k^2 + d_\ell(\tilde u_\ell) - d_\ell(u_{\ell k}))/2\bigr)
    - 2\log(1/L_{\ell\ell})\Bigr],\qquad u_{\ell k} = \tilde u_\ell + z_k / L_{\ell\ell},

where :math:`d_\ell(u) = u^2 + \sum_{i \in \ell} d_i(y_i, \mu_i(u))`. One point is the
Laplace approximation.
"""

from __future__ import annotations

import numpy as np

from ..glm.gausshermite import gh_norm

__all__ = ["agq_deviance", "check_nagq"]


def check_nagq(nagq, reterms) -> int:
    """Validate a number of quadrature points for these terms."""
    if not isinstance(nagq, (int, np.integer)) or isinstance(nagq, bool) or nagq < 1:
        raise ValueError(f"nagq must be a positive integer, got {nagq!r}")
    if nagq > 1 and (len(reterms) != 1 or reterms[0].S != 1):
        raise ValueError("adaptive Gauss-Hermite quadrature (nagq > 1) needs a single scalar random-effects "
                         f"term such as (1|g); this model has {[str(r.name) + ' S=' + str(r.S) for r in reterms]}")
    return int(nagq)


def agq_deviance(pirls, nagq: int) -> float:
    """The AGQ deviance around the modes a PIRLS run left in ``pirls`` (its factor factored there)."""
    r = pirls.reterms[0]
    family, y, prior = pirls.family, pirls.y, pirls.prior
    refs, nlev = r.refs, r.nlev
    uhat = pirls.u[0][:, 0]
    devc0 = uhat * uhat + np.bincount(refs, family.dev_resid(y, pirls.mu, prior), minlength=nlev)
    sd = 1.0 / pirls.factor.diagonal(0)
    fixed = pirls.X @ pirls.beta + pirls.offset
    zl = r.z[0] * r.lambda_[0, 0]
    mult = np.zeros(nlev)
    for zk, wk in zip(*gh_norm(nagq)):  # a handful of quadrature points, each vectorised over levels
        if zk == 0:
            mult += wk
            continue
        uk = uhat + zk * sd
        mu = family.clip_mu(pirls.link.inverse(fixed + zl * uk[refs]))
        devc = uk * uk + np.bincount(refs, family.dev_resid(y, mu, prior), minlength=nlev)
        mult += wk * np.exp((zk * zk + devc0 - devc) / 2)
    return float(np.sum(devc0) - 2 * (np.sum(np.log(mult)) + np.sum(np.log(sd))))

r"""New responses from a fitted mixed model: the generator of parametric bootstraps.

For a linear mixed model with parameters :math:`(\beta, \theta, \sigma)`,

.. math::

    y^* = X\beta + Z\Lambda_\theta u^* + \varepsilon^*,\qquad
    u^* \sim \mathcal N(0, \sigma^2 I),\quad \varepsilon^*_i \sim \mathcal N(0, \sigma^2 / w_i),

and for a GLMM :math:`u^* \sim \mathcal N(0, I)` and :math:`y^*_i` drawn from the family
with mean :math:`g^{-1}(x_i^\top\beta + z_i^\top\Lambda_\theta u^* + o_i)`. By default the
random effects are drawn anew (lme4's ``simulate(use.u = FALSE)``, what a bootstrap needs);
``use_u=True`` keeps the conditional modes (``use.u = TRUE``).

Examples
--------
>>> from sklmixed import LinearMixedModel, load_dataset
>>> m = LinearMixedModel("yield ~ 1 + (1|batch)", load_dataset("dyestuff")).fit(progress=False)
>>> simulate(m, 3, random_state=1).shape
(3, 30)
"""

from __future__ import annotations

import numpy as np

__all__ = ["simulate", "Simulator"]


class Simulator:
    """The parameters and design of a fitted model, frozen: draws stay those of the fit, whatever
    later refits do to the model.

    Parameters
    ----------
    model : LinearMixedModel or GeneralizedLinearMixedModel
        A fitted model.
    use_u : bool, default=False
        Keep the conditional modes of the random effects instead of drawing new ones.
    """

    def __init__(self, model, *, use_u: bool = False):
        model._check_fitted()
        self.family = getattr(model, "family", None)
        self.link = getattr(model, "link", None)
        self.fixed = model.feterm.X @ model.beta + (model.offset if self.family is not None else 0.0)
        self.sigma = model.sigma if self.family is None else 1.0
        self.terms = [(r.refs, r.z.copy(), r.lambda_.copy(), r.nlev, r.scalar_intercept) for r in model.reterms]
        self.modes = [u.copy() for u in model._u()] if use_u else None
        if self.modes is not None and self.family is None:
            self.modes = [u / self.sigma for u in self.modes]  # spherical, in units of σ
        self.weights = getattr(model, "weights", None) if self.family is None else model.prior
        self.n = model.n

    def draw(self, rng) -> np.ndarray:
        """One simulated response vector."""
        eta = self.fixed.copy()
        for j, (refs, z, lam, nlev, scalar) in enumerate(self.terms):
            u = self.modes[j] if self.modes is not None else rng.standard_normal((nlev, lam.shape[0]))
            b = self.sigma * (u @ lam.T)
            eta += b[refs, 0] if scalar else np.einsum("sn,ns->n", z, b[refs])
        if self.family is None:
            noise = rng.standard_normal(self.n) * self.sigma
            return eta + (noise if self.weights is None else noise / np.sqrt(self.weights))
        mu = self.family.clip_mu(self.link.inverse(eta))
        return self.family.sample(mu, self.weights, rng)


def simulate(model, n=None, random_state=None, *, use_u: bool = False) -> np.ndarray:
    """Responses simulated from a fitted model at its estimates.

    Parameters
    ----------
    model : LinearMixedModel or GeneralizedLinearMixedModel
        A fitted model.
    n : int, optional
        Number of response vectors; None returns one vector of shape ``(nobs,)``.
    random_state : None, int, numpy.random.Generator or SeedSequence, optional
        Seed of the draws.
    use_u : bool, default=False
        Use the conditional modes of the random effects instead of new draws.

    Returns
    -------
    ndarray of shape (nobs,) or (n, nobs)
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise ValueError(f"n must be a positive integer or None, got {n!r}")
    sim = Simulator(model, use_u=use_u)
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    if n is None:
        return sim.draw(rng)
    return np.stack([sim.draw(rng) for _ in range(int(n))])

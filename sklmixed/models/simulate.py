r"""New responses from a fitted mixed model: the generator of parametric bootstraps.

For a linear mixed model with parameters :math:`(\beta, \theta, \sigma)`,

.. math::

    y^* = X\beta + Z\Lambda_\theta u^* + \varepsilon^*,\qquad
    u^* \sim \mathcal N(0, \sigma^2 I),\quad \varepsilon^*_i \sim \mathcal N(0, \sigma^2 / w_i),

and for a GLMM :math:`u^* \sim \mathcal N(0, I)` and :math:`y^*_i` drawn from the family
with mean :math:`g^{-1}(x_i^\top\beta + z_i^\top\Lambda_\theta u^* + o_i)`. By default the
random effects are drawn anew (lme4's ``simulate(use.u = FALSE)``, what a bootstrap needs);
``use_u=True`` keeps the conditional modes (``use.u = TRUE``).

New data (lme4's ``newdata``) give the rows of :math:`X` and :math:`Z`. A level not seen in
fitting is refused unless ``allow_new_levels=True``; then every distinct unseen label gets
its own draw from the term's :math:`\mathcal N(0, \Sigma)` (with ``use_u=True`` too: a new
level has no conditional mode to keep), and a missing label no random effect of the term,
as :meth:`predict` gives it. lme4 gives unseen levels a draw with ``use.u = FALSE`` and none
with ``use.u = TRUE``.

Examples
--------
>>> import pandas as pd
>>> from sklmixed import LinearMixedModel, load_dataset
>>> m = LinearMixedModel("yield ~ 1 + (1|batch)", load_dataset("dyestuff")).fit(progress=False)
>>> simulate(m, 3, random_state=1).shape
(3, 30)
>>> new = pd.DataFrame({"batch": ["A", "G", "G"]})  # batch G is new: one draw for both rows
>>> simulate(m, 2, random_state=1, data=new, allow_new_levels=True).shape
(2, 3)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..formula.frame import case_weights
from ..glm.families import Binomial
from .newdata import new_offset, number_new_levels, random_terms

__all__ = ["simulate", "Simulator"]


class Simulator:
    """The parameters and design of a fitted model, frozen: draws stay those of the fit, whatever
    later refits do to the model.

    Parameters
    ----------
    model : LinearMixedModel or GeneralizedLinearMixedModel
        A fitted model.
    use_u : bool, default=False
        Keep the conditional modes of the random effects of the levels seen in fitting instead
        of drawing new ones.
    data : pandas.DataFrame, optional
        New rows (the fixed-effects and grouping columns); None simulates the fitting data.
    allow_new_levels : bool, default=False
        Draw the random effects of levels of ``data`` not seen in fitting (else they raise).
    weights : str or array-like, optional
        Prior weights of the rows of ``data`` (a column name or one per row; numbers of
        trials for a binomial model); 1 by default, as lme4.
    offset : float or array-like, optional
        Offset of the rows of ``data`` (GLMMs; 0 by default, as in ``predict``).
    """

    def __init__(self, model, *, use_u: bool = False, data=None, allow_new_levels: bool = False, weights=None,
                 offset=None):
        model._check_fitted()
        self.family = getattr(model, "family", None)
        self.link = getattr(model, "link", None)
        self.sigma = model.sigma if self.family is None else 1.0
        if data is None:
            if weights is not None or offset is not None:
                raise ValueError("weights and offset are for new data; the fitting data keep their own")
            X, self.weights = model.feterm.X, (getattr(model, "weights", None) if self.family is None else model.prior)
            codes, zs, unseen = [r.refs for r in model.reterms], [r.z for r in model.reterms], [0] * len(model.reterms)
            offset = model.offset if self.family is not None else 0.0
        else:
            if self.family is None and offset is not None:
                raise ValueError("a linear mixed model has no offset; offset is for generalized models")
            X, codes, zs, unseen = self._new_rows(model, data, allow_new_levels)
            self.weights = self._new_weights(weights, data)
            offset = new_offset(offset, len(data))
        self.fixed = X @ model.beta + offset
        # per term: codes (-1 for a missing label), columns, λ, fitted and unseen levels, scalar, any missing
        self.terms = [(c, z.copy(), r.lambda_.copy(), r.nlev, k, r.scalar_intercept, bool(np.any(c < 0)))
                      for r, c, z, k in zip(model.reterms, codes, zs, unseen)]
        self.modes = [u.copy() for u in model._u()] if use_u else None
        if self.modes is not None and self.family is None:
            self.modes = [u / self.sigma for u in self.modes]  # spherical, in units of σ
        self.n = X.shape[0]

    def _new_rows(self, model, data, allow_new_levels):
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        codes, zs = random_terms(model, data)
        numbered = [number_new_levels(r, data, c, allow_new_levels=allow_new_levels)
                    for r, c in zip(model.reterms, codes)]
        return model.feterm.new_X(data), [c for c, _ in numbered], zs, [k for _, k in numbered]

    def _new_weights(self, weights, data):
        w = case_weights(weights, data, len(data))
        if w is not None and isinstance(self.family, Binomial) and np.any(w != np.rint(w)):
            raise ValueError("weights of a binomial model are numbers of trials and must be whole numbers")
        return w if w is not None or self.family is None else np.ones(len(data))

    def draw(self, rng) -> np.ndarray:
        """One simulated response vector."""
        eta = self.fixed.copy()
        for j, (refs, z, lam, nlev, unseen, scalar, missing) in enumerate(self.terms):
            if self.modes is None:
                u = rng.standard_normal((nlev + unseen, lam.shape[0]))
            else:
                u = self.modes[j]
                if unseen:  # a level not seen in fitting has no mode to keep
                    u = np.vstack([u, rng.standard_normal((unseen, lam.shape[0]))])
            b = self.sigma * (u @ lam.T)
            if missing:  # a last row of zeros, which the code -1 of a missing label picks
                b = np.vstack([b, np.zeros((1, b.shape[1]))])
            eta += b[refs, 0] if scalar else np.einsum("sn,ns->n", z, b[refs])
        if self.family is None:
            noise = rng.standard_normal(self.n) * self.sigma
            return eta + (noise if self.weights is None else noise / np.sqrt(self.weights))
        mu = self.family.clip_mu(self.link.inverse(eta))
        return self.family.sample(mu, self.weights, rng)


def simulate(model, n=None, random_state=None, *, use_u: bool = False, data=None, allow_new_levels: bool = False,
             weights=None, offset=None) -> np.ndarray:
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
        Use the conditional modes of the random effects of the levels seen in fitting instead
        of new draws.
    data : pandas.DataFrame, optional
        New rows to simulate (lme4's ``newdata``); None simulates the fitting data.
    allow_new_levels : bool, default=False
        Give every distinct level of ``data`` not seen in fitting a random effect drawn from
        its term's :math:`\\mathcal N(0, \\Sigma)`, and rows with a missing label none; False
        refuses both with a ``ValueError``.
    weights : str or array-like, optional
        Prior weights of the rows of ``data`` (numbers of trials for a binomial model); 1 by default.
    offset : float or array-like, optional
        Offset of the rows of ``data`` (GLMMs); 0 by default.

    Returns
    -------
    ndarray of shape (nobs,) or (n, nobs)
        ``nobs`` is the number of rows of ``data`` when given.
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise ValueError(f"n must be a positive integer or None, got {n!r}")
    sim = Simulator(model, use_u=use_u, data=data, allow_new_levels=allow_new_levels, weights=weights, offset=offset)
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    if n is None:
        return sim.draw(rng)
    return np.stack([sim.draw(rng) for _ in range(int(n))])

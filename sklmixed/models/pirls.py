r"""Penalised iteratively reweighted least squares: the conditional modes of a GLMM.

For fixed θ (and, with ``vary_beta``, free β), PIRLS finds the modes :math:`\tilde u` of

.. math::

    \sum_i d_i\bigl(y_i, g^{-1}(x_i^\top\beta + z_i^\top\Lambda_\theta u + o_i)\bigr) + \|u\|^2

by Newton's method on the *working LMM*: at the current η, the IRLS working response
:math:`z = \eta - o + (y - \mu)\,d\eta/d\mu` and weights :math:`w = (d\mu/d\eta)^2/V(\mu)`
are installed in the blocked factor, whose solution gives the next β and u. A step that
raises the penalised deviance is halved (``maxhalf`` times at most); PIRLS stops when both
the penalised deviance and the Laplace value :math:`\sum d_i + \|u\|^2 + \log|L|^2` change
by at most ``atol`` (``maxiter`` iterations at most; see :class:`~sklmixed.optim.PIRLSSettings`).

Steps are judged on the penalised deviance, which they minimise, not on the Laplace value
with its ``log|L|²`` term (as MixedModels.jl does): that term can favour an early iterate and
stop PIRLS short of the mode. Convergence needs the Laplace value too, because the penalised
deviance is flat at the mode while ``log|L|²`` is not.

MixedModels.jl and lme4 start every evaluation afresh. For the optimiser's nearby points the
previous modes are a far better start: Newton's method then needs about half the iterations,
and the modes it reaches differ from a fresh start's by no more than the tolerance (the
penalised deviance of the canonical links is convex). So within a fit (``warm``) a run starts
from the last converged modes, falling back to ``u = 0`` should that start fail or end above
the deviance at ``u = 0``; outside a fit it always starts from 0, so that a deviance depends
on its arguments alone.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import PIRLSError, PosDefError
from ..glm.irls import working_response_and_weights
from .objective import laplace_deviance, penalised_deviance

__all__ = ["PIRLS"]

#: what makes a PIRLS trial point unusable: a singular working factor, non-finite working values
_TRIAL_FAILURES = (PosDefError, FloatingPointError)


class PIRLS:
    """The PIRLS state and iteration of one GLMM.

    Parameters
    ----------
    factor : BlockedCholesky
        The working LMM's factor (its response column and weights are PIRLS's to set).
    X : ndarray of shape (n, p)
        The full-rank fixed-effects matrix.
    reterms : list of ReMat
    y, prior, offset : ndarray of shape (n,)
        Response, prior weights, offset.
    family, link : Family, Link
    settings : PIRLSSettings
        ``maxiter``, ``maxhalf`` and ``atol`` (read at every run: ``optsum.pirls``).
    beta : ndarray
        Starting fixed effects.

    Attributes
    ----------
    beta, u : ndarray, list of ndarray
        Current fixed effects and spherical modes (``nlev x S`` per term).
    eta, mu : ndarray
        Linear predictor and mean at them.
    pdev : float
        Penalised deviance ``Σ d_i + ‖u‖²`` at them.
    converged : bool
        Whether the last run met its tolerance.
    warm : bool
        Start runs from the last converged modes (within a fit).
    """

    def __init__(self, factor, X, reterms, y, prior, offset, family, link, settings, beta):
        self.factor, self.X, self.reterms = factor, X, reterms
        self.y, self.prior, self.offset = y, prior, offset
        self.family, self.link, self.settings = family, link, settings
        self.beta = np.array(beta, dtype=float)
        self.u = [np.zeros((r.nlev, r.S)) for r in reterms]
        self.converged = True
        self.warm = False
        self.u_start = None  # the modes of the last converged run (used when warm)

    # ------------------------------------------------------------------ one point
    def linear_predictor(self, beta, u) -> np.ndarray:
        eta = self.X @ beta + self.offset
        for r, uj in zip(self.reterms, u):
            if r.scalar_intercept:  # b = λ u, one value per level
                eta += (uj[:, 0] * r.lambda_[0, 0])[r.refs]
            else:
                eta += np.einsum("sn,ns->n", r.z, (uj @ r.lambda_.T)[r.refs])
        return eta

    def laplace_update(self, fixed: bool = True) -> float:
        """Install η and μ for the current β and u, reweight and refactor the working LMM.

        ``fixed=False`` when β is held fixed: the fixed-effects block of the factor is then
        not needed (see :meth:`BlockedCholesky.update_L`). Returns the Laplace deviance.
        """
        self.eta = self.linear_predictor(self.beta, self.u)
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite values are an error just below
            z, w, self.mu = working_response_and_weights(self.family, self.link, self.y, self.eta, self.offset,
                                                         self.prior)
        if not (np.all(np.isfinite(z)) and np.all(np.isfinite(w))):
            raise FloatingPointError("non-finite working response or weights in PIRLS")
        with np.errstate(over="raise", invalid="raise"):  # an overflow (θ far out) is a failed trial point
            self.factor.reweight(z, w)
            self.factor.update_L(fixed)
        self.pdev = penalised_deviance(self.family.dev_resid(self.y, self.mu, self.prior), self.u)
        return laplace_deviance(self.pdev, self.factor.logdet())

    def _trial(self, fixed: bool) -> tuple[float, float]:
        """``(Laplace deviance, penalised deviance)`` at a trial point; ``inf`` if it is unusable.

        A full step can overshoot so far (β of a (quasi-)separable fixed effect, say) that the
        IRLS weights underflow and the working factor is singular, or the working values
        overflow: such a point is treated as worse than any other, so that PIRLS halves the step.
        """
        try:
            lap = self.laplace_update(fixed)
        except _TRIAL_FAILURES:
            return np.inf, np.inf
        return lap, self.pdev

    def zero_u_pdev(self, beta) -> float:
        """The penalised deviance at ``u = 0``: the deviance of the fixed effects alone."""
        with np.errstate(all="ignore"):
            mu = self.family.clip_mu(self.link.inverse(self.X @ beta + self.offset))
            return float(np.sum(self.family.dev_resid(self.y, mu, self.prior)))

    # ------------------------------------------------------------------ the iteration
    def run(self, vary_beta: bool = False) -> float:
        """The conditional modes of u (and, with ``vary_beta``, β); returns the Laplace deviance there.

        Raises
        ------
        PIRLSError
            If the first iteration cannot reduce the deviance in ``maxhalf`` halvings.
        """
        start = self.u_start if self.warm else None
        if start is not None:
            beta = self.beta.copy()
            try:
                lap = self._run_from([uj.copy() for uj in start], vary_beta)
                # the mode's penalised deviance is at most that of u = 0 (at the start's β):
                # a PIRLS stuck far out (saturated μ, vanishing weights) is not taken for one
                if self.converged and self.pdev <= self.zero_u_pdev(beta):
                    return lap
            except (PIRLSError, *_TRIAL_FAILURES):
                pass
            self.beta = beta  # the modes of another θ were a bad start: start afresh
        return self._run_from([np.zeros_like(uj) for uj in self.u], vary_beta)

    def _run_from(self, u, vary_beta: bool) -> float:
        settings = self.settings
        self.u = u
        u0 = [uj.copy() for uj in self.u]
        beta0 = self.beta.copy()
        lap = self.laplace_update(vary_beta)
        obj0, lap0 = self.pdev * 1.0001, lap
        self.converged = False
        for it in range(settings.maxiter):
            if vary_beta:
                self.beta = self.factor.fixef()
            self.u = self.factor.ranef_u(self.beta)
            lap, obj = self._trial(vary_beta)
            nhalf = 0
            while not obj <= obj0:
                nhalf += 1
                if nhalf > settings.maxhalf:
                    if it == 0:
                        raise PIRLSError(f"PIRLS could not reduce the deviance in {settings.maxhalf} step "
                                         "halvings; try fast=True, other starting values, or check for "
                                         "separation in the data")
                    break
                self.u = [(a + b) / 2 for a, b in zip(self.u, u0)]
                if vary_beta:
                    self.beta = (self.beta + beta0) / 2
                lap, obj = self._trial(vary_beta)
            if nhalf > settings.maxhalf:
                self.u, self.beta = u0, beta0
                lap = self.laplace_update(vary_beta)
                break
            if abs(obj - obj0) <= settings.atol and abs(lap - lap0) <= settings.atol:
                self.converged = True
                self.u_start = [uj.copy() for uj in self.u]
                break
            u0 = [uj.copy() for uj in self.u]
            beta0, obj0, lap0 = self.beta.copy(), obj, lap
        return lap

    # ------------------------------------------------------------------ state
    def state(self) -> tuple:
        """A copy of what a later :meth:`restore` puts back: β, u and whether the run converged."""
        return self.beta.copy(), [uj.copy() for uj in self.u], self.converged

    def restore(self, state) -> None:
        self.beta, self.u, self.converged = state[0].copy(), [uj.copy() for uj in state[1]], state[2]

"""Where a GLMM starts: the GLM fit of its fixed effects, and what must hold for PIRLS to start there."""

from __future__ import annotations

import numpy as np

from ..glm.irls import working_response_and_weights

__all__ = ["check_glm_start", "unstartable"]


def _tiny_irls_weights(model) -> np.ndarray:
    """Observations whose IRLS weight at the GLM start is negligible next to the largest."""
    eta = model.feterm.X @ model.beta_glm + model.offset
    with np.errstate(all="ignore"):
        _, w, _ = working_response_and_weights(model.family, model.link, model.y, eta, model.offset, model.prior)
    w = np.where(np.isfinite(w), w, 0.0)
    return w <= 1e-10 * np.max(w, initial=0.0)


def check_glm_start(model) -> None:
    """Refuse a response the fixed effects fit exactly (a constant response, say).

    The working response of the GLM start then lies in the span of ``X``: the
    penalised residual sum of squares is 0 at every θ and the Laplace approximation
    has nothing to approximate.
    """
    X = model.feterm.X
    name = model.formula.response
    if X.shape[1] == 0:
        return
    eta = X @ model.beta_glm + model.offset
    with np.errstate(all="ignore"):
        z, w, _ = working_response_and_weights(model.family, model.link, model.y, eta, model.offset, model.prior)
    if not (np.all(np.isfinite(z)) and np.all(np.isfinite(w))):
        return  # PIRLS reports non-finite working values itself
    sw = np.sqrt(w)
    A, t = X * sw[:, None], z * sw
    resid = t - A @ np.linalg.lstsq(A, t, rcond=None)[0]
    if np.linalg.norm(resid) <= 1e-8 * np.linalg.norm(t):
        if np.ptp(model.y) == 0:
            raise ValueError(f"the response {name!r} is constant (every value is {model.y[0]:g}): the fixed "
                             "effects fit it exactly and there is nothing to fit")
        raise ValueError(f"the fixed effects fit the response {name!r} exactly (the generalized linear model "
                         "without random effects has zero residuals: the data are separable); there is "
                         "nothing left for random effects to explain")


def unstartable(model, err) -> ValueError:
    """The error for a GLM start whose working factor cannot be formed (``err`` says why)."""
    tiny = int(np.sum(_tiny_irls_weights(model)))
    return ValueError(
        f"cannot start PIRLS from the generalized linear model of the fixed effects ({err}); "
        f"{tiny} of {model.n} observation(s) get (numerically) zero IRLS weight there. The data may be "
        "(quasi-)separable: the fixed effects predict the response with probability 0 or 1 (or "
        "a mean of 0); try the canonical link, fewer fixed effects, or check for separation")

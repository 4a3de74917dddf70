"""Links and families: inverses, derivatives, deviance residuals, tested on their own."""

from __future__ import annotations

import numpy as np
import pytest

from sklmixed.glm.families import get_family
from sklmixed.glm.links import get_link


@pytest.mark.parametrize("name", ["logit", "probit", "cloglog", "log", "identity", "sqrt", "inverse"])
def test_links_invert_and_differentiate(name):
    link = get_link(name)
    # cloglog's inverse saturates at 1 quickly: stay where μ is representable to ~1e-12
    eta = np.linspace(0.2, 1.5, 7) if name in ("sqrt", "inverse", "log") else np.linspace(-3, 2, 7)
    if name == "log":
        eta = -eta
    mu = link.inverse(eta)
    np.testing.assert_allclose(link.link(mu), eta, rtol=1e-10, atol=1e-12)
    h = 1e-6
    np.testing.assert_allclose(link.mu_eta(eta), (link.inverse(eta + h) - link.inverse(eta - h)) / (2 * h), rtol=1e-6)
    m2, d2 = link.inverse_and_derivative(eta)
    np.testing.assert_allclose(m2, mu)
    np.testing.assert_allclose(d2, link.mu_eta(eta))


@pytest.mark.parametrize("fam", ["bernoulli", "binomial", "poisson"])
def test_deviance_residuals_are_twice_the_loglik_gap(fam):
    family = get_family(fam)
    rng = np.random.default_rng(3)
    wt = rng.integers(1, 8, 50).astype(float)
    if fam == "poisson":
        y = rng.poisson(3, 50).astype(float)
        mu = rng.uniform(0.5, 6, 50)
    else:
        y = rng.binomial(wt.astype(int) if fam == "binomial" else 1, 0.4, size=50) / (wt if fam == "binomial" else 1)
        mu = rng.uniform(0.05, 0.95, 50)
        if fam == "bernoulli":
            wt = np.ones(50)
    sat = family.loglik_obs(y, family.clip_mu(y.copy()) if fam != "poisson" else y, wt)
    np.testing.assert_allclose(family.dev_resid(y, mu, wt), 2 * (sat - family.loglik_obs(y, mu, wt)), atol=1e-9)


def test_a_dispersion_family_is_one_class(poisson_data):
    """A family that declares a dispersion parameter changes σ, the covariance of β, the degrees of
    freedom and the variance table of a GLMM, with nothing else to edit."""
    from sklmixed import GeneralizedLinearMixedModel
    from sklmixed.glm.families import Poisson

    class OverdispersedPoisson(Poisson):
        name = "quasi-Poisson"
        has_dispersion = True

    formula = "y ~ 1 + x + (1|g)"
    plain = GeneralizedLinearMixedModel(formula, poisson_data, family="poisson").fit(fast=True, progress=False)
    quasi = GeneralizedLinearMixedModel(formula, poisson_data, family=OverdispersedPoisson()).fit(
        fast=True, progress=False)
    phi = np.sum((quasi.y - quasi.mu) ** 2 / quasi.mu) / (quasi.nobs - quasi.feterm.rank)
    assert quasi.sigma == pytest.approx(np.sqrt(phi), rel=1e-12)
    assert np.isnan(plain.sigma)
    np.testing.assert_allclose(quasi.stderror(), plain.stderror() * np.sqrt(phi), rtol=1e-9)
    assert quasi.dof == plain.dof + 1
    assert list(quasi.var_components()["group"])[-1] == "Residual"
    assert "Residual" not in list(plain.var_components()["group"])

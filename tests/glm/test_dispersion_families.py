"""Gamma, inverse Gaussian and negative binomial families, and GLMMs with them against glmmTMB.

References: ``benchmarks/peers/inference_reference.R`` (glmmTMB 1.1 Laplace fits; glmmTMB has
no inverse Gaussian family, whose reference is the exact marginal likelihood by ``integrate``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sklmixed import GeneralizedLinearMixedModel, load_dataset
from sklmixed.glm.families import Gamma, InverseGaussian, NegativeBinomial, get_family
from sklmixed.glm.links import get_link

DATA = Path(__file__).parents[1] / "data"
REFERENCE = json.loads((DATA / "inference_reference.json").read_text())["families"]


def test_log_likelihoods_are_scipys():
    y, mu, wt = np.array([0.5, 2.0, 7.0]), np.array([1.0, 1.5, 6.0]), np.ones(3)
    g = Gamma(0.3)
    np.testing.assert_allclose(g.loglik_obs(y, mu, wt), stats.gamma.logpdf(y, a=1 / 0.3, scale=mu * 0.3))
    ig = InverseGaussian(0.2)
    np.testing.assert_allclose(ig.loglik_obs(y, mu, wt), stats.invgauss.logpdf(y, mu=mu * 0.2, scale=1 / 0.2))
    nb = NegativeBinomial(2.5)
    k = np.array([0.0, 3.0, 9.0])
    np.testing.assert_allclose(nb.loglik_obs(k, mu, wt), stats.nbinom.logpmf(k, 2.5, 2.5 / (2.5 + mu)))
    for fam, yy in ((g, y), (ig, y), (nb, k)):
        # the deviance is -2 log-likelihood up to a term free of μ, and 0 at μ = y
        const = fam.loglik_obs(yy, mu, wt) + fam.dev_resid(yy, mu, wt) / 2
        np.testing.assert_allclose(const, fam.loglik_obs(yy, np.maximum(yy, 1e-300), wt)
                                   + fam.dev_resid(yy, np.maximum(yy, 1e-300), wt) / 2, rtol=1e-10)


def test_sampling_moments():
    rng = np.random.default_rng(0)
    mu, wt = np.full(200_000, 3.0), np.ones(200_000)
    for fam in (Gamma(0.2), InverseGaussian(0.05), NegativeBinomial(2.0)):
        draws = fam.sample(mu, wt, rng)
        assert draws.mean() == pytest.approx(3.0, rel=0.01)
        assert draws.var() == pytest.approx(fam.variance(np.array([3.0]))[0], rel=0.03)


def test_family_names_links_and_validation():
    assert isinstance(get_family("gamma"), Gamma) and get_family("gamma").canonical_link == "inverse"
    assert get_family("inverse_gaussian").canonical_link == "inverse_squared"
    link = get_link("inverse_squared")
    eta = np.array([0.25, 4.0])
    np.testing.assert_allclose(link.link(link.inverse(eta)), eta)
    np.testing.assert_allclose(link.mu_eta(eta), (link.inverse(eta + 1e-7) - link.inverse(eta - 1e-7)) / 2e-7,
                               rtol=1e-6)
    with pytest.raises(ValueError, match="positive"):
        Gamma(-1.0)
    with pytest.raises(ValueError, match="must be positive"):
        Gamma().check_response(np.array([1.0, 0.0]), np.ones(2))
    with pytest.raises(ValueError, match="whole number"):
        NegativeBinomial().check_response(np.array([1.5]), np.ones(1))
    with pytest.raises(ValueError, match="not available"):
        Gamma().make_link("logit")


@pytest.mark.parametrize("key, family, link", [("gamma_log", "gamma", "log"),
                                                ("gamma_identity", "gamma", "identity"),
                                                ("invgauss_log", "inverse_gaussian", "log")])
def test_positive_response_glmms_match_glmmtmb(key, family, link):
    ref = REFERENCE[key]
    m = GeneralizedLinearMixedModel("reaction ~ 1 + days + (1|subj)", load_dataset("sleepstudy"), family=family,
                                    link=link).fit(progress=False)
    assert -2 * m.loglikelihood == pytest.approx(ref["minus2loglik"], rel=1e-4)
    np.testing.assert_allclose(m.beta, ref["beta"], rtol=2e-3)
    assert m.var_components()["std_dev"].iloc[0] == pytest.approx(ref["re_sd"], rel=2e-3)
    phi = ref["sigma"] ** 2 if "sigma" in ref else ref["dispersion"]
    assert m.sigma ** 2 == pytest.approx(phi, rel=2e-3)
    assert m.dof == ref["df"] and m.family.value == pytest.approx(m.sigma ** 2)
    # the dispersion is in the working weights: the standard errors are those of the fit, not σ² times them
    assert np.all(m.stderror() < 0.05 * np.abs(m.coef()) + 1)


def test_negative_binomial_matches_glmer_nb_and_glmmtmb():
    ref = REFERENCE["nbinom_log"]
    data = pd.read_csv(DATA / "grouseticks.csv").astype({"YEAR": str, "BROOD": str, "LOCATION": str})
    m = GeneralizedLinearMixedModel(ref["formula"], data, family="negative_binomial").fit(progress=False)
    assert -2 * m.loglikelihood == pytest.approx(ref["glmer_nb"]["minus2loglik"], abs=2e-3)
    assert -2 * m.loglikelihood == pytest.approx(ref["minus2loglik"], rel=1e-3)
    assert m.family.value == pytest.approx(ref["glmer_nb"]["theta_nb"], rel=1e-3)
    np.testing.assert_allclose(m.beta, ref["glmer_nb"]["beta"], rtol=2e-3, atol=1e-4)
    assert m.dof == ref["df"] and not m.has_dispersion
    assert len(m.optsum.family_parameter) > 3


def test_refit_of_a_family_with_a_parameter_estimates_it_again():
    d = load_dataset("sleepstudy")
    m = GeneralizedLinearMixedModel("reaction ~ 1 + days + (1|subj)", d, family="gamma", link="log").fit(
        fast=True, progress=False)
    first = m.family.value
    m.refit(d["reaction"].to_numpy() * np.exp(np.random.default_rng(1).normal(0, 0.2, len(d))), fast=True)
    assert m.family.value > 2 * first and not m.family.held

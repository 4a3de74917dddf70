"""The classifier's ``class_weight`` and the GLMM regressor's ``score``, D² with the family's deviance."""

import numpy as np
import pandas as pd
import pytest
from _estimator_data import sites_fixture  # noqa: F401 (fixtures)
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import d2_log_loss_score, d2_tweedie_score

from sklmixed import GeneralizedMixedClassifier, GeneralizedMixedRegressor


@pytest.fixture(scope="module")
def imbalanced():
    """Rare events (about 15 %) at 20 sites."""
    rng = np.random.default_rng(7)
    n, n_sites = 600, 20
    site = pd.Series(rng.integers(0, n_sites, n), name="site")
    X = pd.DataFrame({"x": rng.normal(size=n)})
    eta = -2.0 + X["x"] + rng.normal(0, 0.8, n_sites)[site]
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-eta)), "event", "none")
    return X, y, site


def _balanced_weights(y):
    labels, counts = np.unique(y, return_counts=True)
    return (len(y) / (2 * counts))[np.searchsorted(labels, y)]


# ---------------------------------------------------------------- class_weight
def test_balanced_class_weight_is_sample_weight(imbalanced):
    X, y, g = imbalanced
    balanced = GeneralizedMixedClassifier(fast=True, class_weight="balanced").fit(X, y, groups=g)
    weighted = GeneralizedMixedClassifier(fast=True).fit(X, y, groups=g, sample_weight=_balanced_weights(y))
    np.testing.assert_array_equal(balanced.beta_, weighted.beta_)
    np.testing.assert_array_equal(balanced.theta_, weighted.theta_)
    plain = GeneralizedMixedClassifier(fast=True).fit(X, y, groups=g)
    # balancing moves the intercept towards the rare class: more events predicted
    assert np.mean(balanced.predict(X, groups=g) == "event") > 2 * np.mean(plain.predict(X, groups=g) == "event")


def test_class_weight_dict_multiplies_sample_weight(imbalanced):
    X, y, g = imbalanced
    sw = np.linspace(0.5, 1.5, len(y))
    by_dict = GeneralizedMixedClassifier(fast=True, class_weight={"event": 3.0}).fit(X, y, groups=g, sample_weight=sw)
    manual = GeneralizedMixedClassifier(fast=True).fit(X, y, groups=g, sample_weight=sw * np.where(y == "event", 3, 1))
    np.testing.assert_array_equal(by_dict.beta_, manual.beta_)
    np.testing.assert_array_equal(by_dict.theta_, manual.theta_)


def test_class_weight_without_groups_matches_logistic_regression(imbalanced):
    X, y, _ = imbalanced
    ours = GeneralizedMixedClassifier(group_columns=[], class_weight="balanced").fit(X, y)
    ref = LogisticRegression(C=1e12, tol=1e-12, max_iter=10_000, class_weight="balanced").fit(X, y)
    assert ours.intercept_ == pytest.approx(ref.intercept_[0], rel=1e-5)
    np.testing.assert_allclose(ours.coef_, ref.coef_[0], rtol=1e-5)


@pytest.mark.parametrize("class_weight, match", [
    ({"evnt": 2.0}, r"class_weight has label\(s\) \['evnt'\] that are not classes of y; the classes are "
                    r"\['event', 'none'\]"),
    ({"event": -1.0}, r"class_weight must give every class a finite non-negative weight; class 'event' has -1.0"),
    ({"event": 0.0}, r"a classifier needs both classes with positive weight"),
    ("auto", r'class_weight must be None, "balanced" or a dict'),
    ([1.0, 2.0], r'class_weight must be None, "balanced" or a dict'),
])
def test_class_weight_errors(imbalanced, class_weight, match):
    X, y, g = imbalanced
    with pytest.raises(ValueError, match=match):
        GeneralizedMixedClassifier(fast=True, class_weight=class_weight).fit(X, y, groups=g)


# ---------------------------------------------------------------- D²
@pytest.fixture(scope="module")
def counts():
    rng = np.random.default_rng(11)
    n, n_sites = 500, 25
    site = pd.Series(rng.integers(0, n_sites, n), name="site")
    X = pd.DataFrame({"x": rng.normal(size=n)})
    y = rng.poisson(np.exp(0.3 + 0.4 * X["x"] + rng.normal(0, 0.6, n_sites)[site]))
    return X, y, site


def test_poisson_score_is_d2_tweedie(counts):
    X, y, g = counts
    w = np.linspace(0.5, 2.0, len(y))
    reg = GeneralizedMixedRegressor().fit(X, y, groups=g)
    mu = reg.predict(X, groups=g)
    assert reg.score(X, y, groups=g) == pytest.approx(d2_tweedie_score(y, mu, power=1), rel=1e-12)
    assert reg.score(X, y, groups=g, sample_weight=w) == pytest.approx(
        d2_tweedie_score(y, mu, power=1, sample_weight=w), rel=1e-12)
    with pytest.warns(UserWarning, match="predict got no groups"):
        population = reg.score(X, y)
    assert population == pytest.approx(d2_tweedie_score(y, reg.predict(X, groups=[None] * len(y)), power=1))
    assert reg.score(X, y, groups=g) > population + 0.1  # the sites' random effects explain deviance


def test_bernoulli_score_is_d2_log_loss(imbalanced):
    X, y, g = imbalanced
    y01 = (y == "event").astype(int)
    reg = GeneralizedMixedRegressor(family="bernoulli", fast=True).fit(X, y01, groups=g)
    p = reg.predict(X, groups=g)
    assert reg.score(X, y01, groups=g) == pytest.approx(d2_log_loss_score(y01, np.column_stack([1 - p, p])),
                                                        rel=1e-10)


def test_binomial_score_is_deviance_explained(counts):
    X, _, g = counts
    rng = np.random.default_rng(2)
    trials = rng.integers(1, 12, len(X)).astype(float)
    successes = rng.binomial(trials.astype(int), 1 / (1 + np.exp(-(0.5 * X["x"] + 0.8 * (g % 3 - 1)))))
    prop = successes / trials
    reg = GeneralizedMixedRegressor(family="binomial", fast=True).fit(X, prop, groups=g, sample_weight=trials)
    mu = reg.predict(X, groups=g)
    # the binomial deviance from scipy's log-probabilities: twice the saturated minus the fitted log-likelihood
    def deviance(m):
        return 2 * np.sum(stats.binom.logpmf(successes, trials, prop) - stats.binom.logpmf(successes, trials, m))
    null = np.full(len(prop), np.sum(successes) / np.sum(trials))
    expected = 1 - deviance(mu) / deviance(null)
    assert reg.score(X, prop, groups=g, sample_weight=trials) == pytest.approx(expected, rel=1e-9)


def test_score_checks_the_response(counts):
    X, y, g = counts
    reg = GeneralizedMixedRegressor().fit(X, y, groups=g)
    with pytest.raises(ValueError, match="negative"):
        reg.score(X, -y, groups=g)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        reg.score(X, y[:-1], groups=g)
    with pytest.raises(ValueError, match="Input y contains NaN"):
        reg.score(X, np.where(np.arange(len(y)) == 3, np.nan, y), groups=g)


def test_constant_response_scores_like_r2(counts):
    X, y, g = counts
    reg = GeneralizedMixedRegressor(group_columns=[]).fit(X, y)
    zeros = np.zeros(len(y))
    assert reg.score(X, zeros) == 0.0  # predictions are not 0: no better than the (constant) mean

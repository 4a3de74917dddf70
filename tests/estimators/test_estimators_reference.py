"""The estimators reproduce the reference fits of the formula interface."""

import numpy as np
import pytest

from sklmixed import (
    GeneralizedLinearMixedModel,
    GeneralizedMixedClassifier,
    LinearMixedModel,
    LinearMixedRegressor,
    load_dataset,
)
from sklmixed.exceptions import PopulationPredictionWarning


@pytest.fixture(scope="module")
def sleepstudy():
    return load_dataset("sleepstudy")


@pytest.fixture(scope="module")
def insteval_fit():
    """One fit of y ~ 1 + service + (1|s) + (1|d) + (1|dept) (about 10 s)."""
    data = load_dataset("insteval")
    reg = LinearMixedRegressor().fit(data[["service"]], data["y"], groups=data[["s", "d", "dept"]])
    return data, reg


@pytest.fixture(scope="module")
def verbagg():
    data = load_dataset("verbagg")
    return data[["anger", "gender", "btype", "situ"]], data["r2"], data[["subj", "item"]]


@pytest.fixture(scope="module")
def verbagg_full(verbagg):
    X, y, groups = verbagg
    return GeneralizedMixedClassifier().fit(X, y, groups=groups)


def test_sleepstudy_random_slopes(sleepstudy):
    reg = LinearMixedRegressor(random_slopes=["days"])
    reg.fit(sleepstudy[["days"]], sleepstudy["reaction"], groups=sleepstudy["subj"])
    np.testing.assert_allclose(reg.theta_, [0.929191, 0.018166, 0.222643], atol=1e-3)
    np.testing.assert_allclose(reg.beta_, [251.405105, 10.467286], rtol=1e-4)
    assert reg.sigma_ == pytest.approx(25.591907, rel=1e-4)
    assert reg.intercept_ == pytest.approx(251.405105, rel=1e-4)
    np.testing.assert_allclose(reg.coef_, [10.467286], rtol=1e-4)
    assert reg.coef_names_.tolist() == ["days"]
    assert reg.n_features_in_ == 1
    assert reg.feature_names_in_.tolist() == ["days"]
    assert isinstance(reg.model_, LinearMixedModel)
    assert reg.model_.formula.text == "reaction ~ 1 + days + (1 + days | subj)"
    assert reg.optsum_ is reg.model_.optsum
    assert list(reg.ranef_) == ["subj"]
    ranef = reg.ranef_["subj"]
    assert ranef.shape == (18, 2)
    assert ranef.columns.tolist() == ["(Intercept)", "days"]
    assert ranef.index.name == "subj"


def test_sleepstudy_matches_formula_interface(sleepstudy):
    reg = LinearMixedRegressor(random_slopes=["days"], reml=True)
    reg.fit(sleepstudy[["days"]], sleepstudy["reaction"], groups=sleepstudy["subj"])
    m = LinearMixedModel("reaction ~ 1 + days + (1 + days | subj)", sleepstudy).fit(reml=True, progress=False)
    np.testing.assert_allclose(reg.theta_, m.theta, rtol=1e-6)
    np.testing.assert_allclose(reg.predict(sleepstudy[["days"]], groups=sleepstudy["subj"]), m.fitted(), rtol=1e-7)
    assert reg.optsum_.reml


def test_insteval_categorical_and_crossed_groups(insteval_fit):
    data, reg = insteval_fit
    np.testing.assert_allclose(reg.theta_, [0.276458, 0.437355, 0.066683], atol=1e-3)
    np.testing.assert_allclose(reg.beta_, [3.282581, -0.092589], rtol=1e-4)
    assert reg.coef_names_.tolist() == ["service[T.Y]"]
    assert reg.coef_[0] == pytest.approx(-0.092589, rel=1e-4)
    assert set(reg.ranef_) == {"s", "d", "dept"}
    assert reg.ranef_["dept"].shape == (14, 1)


def test_insteval_predictions(insteval_fit):
    data, reg = insteval_fit
    head = data.head(5)
    fitted = reg.model_.fitted()[:5]
    np.testing.assert_allclose(reg.predict(head[["service"]], groups=head[["s", "d", "dept"]]), fitted, rtol=1e-10)
    with pytest.warns(PopulationPredictionWarning, match="predict got no groups"):
        population = reg.predict(head[["service"]])
    expected = reg.intercept_ + reg.coef_[0] * (head["service"] == "Y").to_numpy()
    np.testing.assert_allclose(population, expected, rtol=1e-12)


def test_verbagg_classifier_full(verbagg, verbagg_full):
    X, y, groups = verbagg
    clf = verbagg_full
    assert isinstance(clf.model_, GeneralizedLinearMixedModel)
    assert clf.model_.deviance == pytest.approx(8151.399719, rel=1e-4)
    assert clf.classes_.tolist() == ["N", "Y"]
    assert clf.coef_names_.tolist() == ["anger", "gender[T.M]", "btype[T.scold]", "btype[T.shout]", "situ[T.self]"]
    # the resolved settings include xtol_abs for every optimised parameter, [β; θ]
    assert len(clf.optsum_.initial) == len(clf.beta_) + len(clf.theta_)
    assert len(clf.optsum_.xtol_abs) == len(clf.optsum_.initial)


def test_verbagg_classifier_fast(verbagg):
    X, y, groups = verbagg
    clf = GeneralizedMixedClassifier(fast=True).fit(X, y, groups=groups)
    assert clf.model_.deviance == pytest.approx(8151.583340, rel=1e-4)
    reference = GeneralizedLinearMixedModel("r2 ~ 1 + anger + gender + btype + situ + (1|subj) + (1|item)",
                                            load_dataset("verbagg")).fit(fast=True, progress=False)
    np.testing.assert_allclose(clf.theta_, reference.theta, rtol=1e-6)
    np.testing.assert_allclose(clf.beta_, reference.beta, rtol=1e-6)


def test_verbagg_predictions(verbagg, verbagg_full):
    X, y, groups = verbagg
    clf = verbagg_full
    proba = clf.predict_proba(X, groups=groups)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[:, 1], clf.model_.fitted(), rtol=1e-6)
    eta = clf.decision_function(X, groups=groups)
    assert np.array_equal(clf.predict(X, groups=groups), np.where(eta > 0, "Y", "N"))
    with pytest.warns(PopulationPredictionWarning, match="predict got no groups"):
        assert clf.score(X, y, groups=groups) > clf.score(X, y)  # conditional modes help
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X, groups=groups)), proba, rtol=1e-10)

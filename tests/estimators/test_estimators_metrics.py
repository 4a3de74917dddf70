"""``sklmixed.metrics``: scikit-learn's scorers, made to pass ``groups`` on to the response method."""

import numpy as np
import pytest
import sklearn
from _estimator_data import fitted_fixture, sites_fixture, sleep_routes_fixture  # noqa: F401 (fixtures)
from sklearn.metrics import get_scorer as sklearn_get_scorer
from sklearn.metrics import mean_absolute_error, r2_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline

from sklmixed import GeneralizedMixedClassifier, LinearMixedRegressor
from sklmixed.exceptions import PopulationPredictionWarning
from sklmixed.metrics import GroupScorer, get_scorer, make_scorer


def test_scorer_passes_groups_without_routing(sleep_routes, fitted):
    X, y, g, _ = sleep_routes
    r2 = get_scorer("r2")
    assert isinstance(r2, GroupScorer) and repr(r2).startswith("sklmixed.make_scorer(r2_score")
    assert r2(fitted, X, y, groups=g) == pytest.approx(r2_score(y, fitted.predict(X, groups=g)), rel=1e-15)
    with pytest.warns(PopulationPredictionWarning, match="predict got no groups"):
        population = r2(fitted, X, y)
    assert population == pytest.approx(sklearn_get_scorer("r2")(fitted.set_params(new_levels="population"), X, y))
    fitted.set_params(new_levels="warn")
    w = np.linspace(0.5, 2.0, len(y))
    assert r2(fitted, X, y, groups=g, sample_weight=w) == pytest.approx(
        r2_score(y, fitted.predict(X, groups=g), sample_weight=w), rel=1e-15)
    with pytest.raises(TypeError, match=r"got unexpected keyword argument\(s\) \['other'\]"):
        r2(fitted, X, y, groups=g, other=1)


def test_make_scorer_and_losses(sleep_routes, fitted):
    X, y, g, _ = sleep_routes
    mae = make_scorer(mean_absolute_error, greater_is_better=False)
    assert mae(fitted, X, y, groups=g) == pytest.approx(-mean_absolute_error(y, fitted.predict(X, groups=g)))
    assert get_scorer("neg_mean_absolute_error")(fitted, X, y, groups=g) == mae(fitted, X, y, groups=g)
    with pytest.raises(ValueError, match="not a valid scoring value"):
        get_scorer("r3")
    assert get_scorer(r2_score) is r2_score  # another callable is returned as it is
    assert get_scorer(get_scorer("r2"))._score_func is r2_score


def test_classifier_scorers_use_the_positive_class(sites):
    X, y, g, _ = sites
    labels = np.where(y, "yes", "no")
    clf = GeneralizedMixedClassifier(fast=True).fit(X, labels, groups=g)
    proba = clf.predict_proba(X, groups=g)[:, list(clf.classes_).index("yes")]
    assert get_scorer("roc_auc")(clf, X, labels, groups=g) == pytest.approx(roc_auc_score(labels == "yes", proba))
    ll = get_scorer("neg_log_loss")(clf, X, labels, groups=g)
    assert ll == pytest.approx(np.mean(np.log(np.where(labels == "yes", proba, 1 - proba))), rel=1e-12)
    accuracy = get_scorer("accuracy")(clf, X, labels, groups=g)
    assert accuracy == clf.score(X, labels, groups=g)


def test_metadata_requests():
    scorer = get_scorer("r2")
    assert scorer.get_metadata_routing().score.requests["groups"] is True
    with sklearn.config_context(enable_metadata_routing=True):
        weighted = get_scorer("r2").set_score_request(sample_weight=True)
        declined = get_scorer("r2").set_score_request(groups=False)
    assert weighted.get_metadata_routing().score.requests == {"sample_weight": True, "groups": True}
    assert declined.get_metadata_routing().score.requests["groups"] is False


def test_groups_through_a_pipeline(sleep_routes):
    X, y, g, _ = sleep_routes
    pipe = make_pipeline(LinearMixedRegressor(random_slopes=["days"]))
    pipe.fit(X, y, linearmixedregressor__groups=g)
    expected = r2_score(y, pipe[-1].predict(X, groups=g))
    assert get_scorer("r2")(pipe, X, y, groups=g) == pytest.approx(expected, rel=1e-15)
    with sklearn.config_context(enable_metadata_routing=True):
        assert get_scorer("r2")(pipe, X, y, groups=g) == pytest.approx(expected, rel=1e-15)


def test_a_response_method_without_metadata_gets_none(sleep_routes):
    """A search's own predict takes no groups: the scorer calls it as it is, and the model says so."""
    X, y, g, _ = sleep_routes
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(LinearMixedRegressor(), {"reml": [False]}, cv=KFold(2, shuffle=True, random_state=0))
        search.fit(X, y, groups=g)
    assert search.best_estimator_.model_ is not None
    with pytest.warns(PopulationPredictionWarning):
        score = get_scorer("r2")(search, X, y, groups=g)
    assert score == pytest.approx(r2_score(y, search.best_estimator_.predict(X, groups=[None] * len(y))))


def test_scorers_by_name_and_sklmixed_scorers_do_not_share_predictions(sleep_routes):
    """scikit-learn caches one prediction per response method across a dict of scorers: ours must not
    take the population-level prediction of a scorer given by name, nor give it its own."""
    X, y, g, _ = sleep_routes
    cv = KFold(3, shuffle=True, random_state=0)
    scoring = {"plain": sklearn_get_scorer("r2"), "grouped": get_scorer("r2"),
               "plain_mse": sklearn_get_scorer("neg_mean_squared_error")}
    with sklearn.config_context(enable_metadata_routing=True):
        with pytest.warns(PopulationPredictionWarning):
            result = cross_validate(LinearMixedRegressor(random_slopes=["days"]), X, y, params={"groups": g},
                                    scoring=scoring, cv=cv, return_estimator=True)
    for est, (_, test), plain, grouped in zip(result["estimator"], cv.split(X), result["test_plain"],
                                              result["test_grouped"]):
        Xt, yt, gt = X.iloc[test], y.iloc[test], g.iloc[test]
        assert grouped == pytest.approx(r2_score(yt, est.predict(Xt, groups=gt)), rel=1e-12)
        assert plain == pytest.approx(r2_score(yt, est.predict(Xt, groups=[None] * len(test))), rel=1e-12)
        assert grouped > plain + 0.2

"""The estimators inside scikit-learn's model-selection tools: routing, pipelines, search."""

import pickle

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklmixed import GeneralizedMixedClassifier, GeneralizedMixedRegressor, LinearMixedRegressor, load_dataset
from sklmixed.exceptions import NoRandomEffectsWarning, PopulationPredictionWarning


@pytest.fixture(scope="module")
def sleep():
    data = load_dataset("sleepstudy")
    return data[["days"]], data["reaction"], data["subj"]


def _fold_subjects(cv, X, y, groups):
    return [set(groups.iloc[test]) for _, test in cv.split(X, y, groups)]


class _Recorder(LinearMixedRegressor):
    """Remembers the groups each fit received (for checking what the tools pass)."""

    seen = []

    def fit(self, X, y, groups=None, sample_weight=None):
        type(self).seen.append(None if groups is None else set(pd.Series(np.asarray(groups))))
        return super().fit(X, y, groups=groups, sample_weight=sample_weight)


def test_default_metadata_requests():
    for est in (LinearMixedRegressor(), GeneralizedMixedClassifier(), GeneralizedMixedRegressor()):
        routing = est.get_metadata_routing()
        for method in ("fit", "predict", "score"):
            assert getattr(routing, method).requests["groups"] is True
        assert routing.fit.requests["sample_weight"] is None
    routing = GeneralizedMixedClassifier().get_metadata_routing()
    for method in ("predict_proba", "predict_log_proba", "decision_function"):
        assert getattr(routing, method).requests["groups"] is True


def test_set_requests():
    with sklearn.config_context(enable_metadata_routing=True):
        est = LinearMixedRegressor().set_fit_request(groups=False, sample_weight=True)
        est = est.set_predict_request(groups="subject").set_score_request(groups=False)
    routing = est.get_metadata_routing()
    assert routing.fit.requests == {"groups": False, "sample_weight": True}
    assert routing.predict.requests == {"groups": "subject"}
    assert routing.score.requests["groups"] is False
    assert clone(est).get_metadata_routing().predict.requests == {"groups": "subject"}


def test_cross_validate_with_routing(sleep):
    X, y, groups = sleep
    _Recorder.seen = []
    cv = GroupKFold(n_splits=3)
    with sklearn.config_context(enable_metadata_routing=True), pytest.warns(PopulationPredictionWarning,
                                                                            match="not seen in fitting"):
        result = cross_validate(_Recorder(random_slopes=["days"]), X, y, params={"groups": groups}, cv=cv,
                                return_estimator=True)
    held_out = _fold_subjects(cv, X, y, groups)
    assert len(_Recorder.seen) == 3
    for seen, test_subjects in zip(_Recorder.seen, held_out):
        # fit got the groups of the training folds only: the splitter used them too
        assert seen == set(groups) - test_subjects
    for est in result["estimator"]:
        assert len(est.theta_) == 3 and est.ranef_["subj"].shape == (12, 2)
    # the test subjects are new, so scoring is at the population level
    for est, (_, test), score in zip(result["estimator"], cv.split(X, y, groups), result["test_score"]):
        Xt, yt = X.iloc[test], y.iloc[test]
        with pytest.warns(PopulationPredictionWarning, match="predict got no groups"):
            assert score == pytest.approx(est.score(Xt, yt))


def test_cross_validate_with_routing_scores_with_groups(sleep):
    X, y, groups = sleep
    cv = KFold(n_splits=3, shuffle=True, random_state=0)
    est = LinearMixedRegressor(random_slopes=["days"])
    with sklearn.config_context(enable_metadata_routing=True):
        routed = cross_validate(est, X, y, params={"groups": groups}, cv=cv, return_estimator=True)
    for fitted, (_, test), score in zip(routed["estimator"], cv.split(X), routed["test_score"]):
        Xt, yt, gt = X.iloc[test], y.iloc[test], groups.iloc[test]
        assert score == pytest.approx(fitted.score(Xt, yt, groups=gt))
        with pytest.warns(PopulationPredictionWarning, match="predict got no groups"):
            assert score > fitted.score(Xt, yt) + 0.2  # known subjects: conditional modes help


def test_cross_validate_without_routing(sleep):
    X, y, groups = sleep
    _Recorder.seen = []
    cv = GroupKFold(n_splits=3)
    # without routing the score gets no groups (and the test subjects are new anyway)
    with pytest.warns(PopulationPredictionWarning, match="predict got no groups"):
        result = cross_validate(_Recorder(random_slopes=["days"]), X, y, groups=groups, params={"groups": groups},
                                cv=cv, return_estimator=True)
    held_out = _fold_subjects(cv, X, y, groups)
    for seen, test_subjects in zip(_Recorder.seen, held_out):
        assert seen == set(groups) - test_subjects
    assert all(len(est.theta_) == 3 for est in result["estimator"])


def test_pipeline_grid_search_with_routing(sleep):
    X, y, groups = sleep
    pipe = Pipeline([("scale", StandardScaler()), ("lmm", LinearMixedRegressor(random_slopes=["days"]))])
    pipe.set_output(transform="pandas")
    grid = {"lmm__optimizer": ["LN_BOBYQA", "LN_NELDERMEAD"], "lmm__ftol_rel": [1e-12, 1e-8]}
    with sklearn.config_context(enable_metadata_routing=True):
        with pytest.warns(PopulationPredictionWarning, match="not seen in fitting"):  # GroupKFold: new subjects
            search = GridSearchCV(pipe, grid, cv=GroupKFold(n_splits=3)).fit(X, y, groups=groups)
        score_with_groups = search.score(X, y, groups=groups)
    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_[-1]
    assert best.optimizer in grid["lmm__optimizer"]
    assert best.optsum_.optimizer == best.optimizer
    assert best.optsum_.ftol_rel == best.ftol_rel
    assert len(best.theta_) == 3 and len(best.ranef_["subj"]) == 18
    # scaling days rescales the slope and its random effects; the fit is the same model
    reference = LinearMixedRegressor(random_slopes=["days"]).fit(X, y, groups=groups)
    np.testing.assert_allclose(search.best_estimator_.predict(X, groups=groups),
                               reference.predict(X, groups=groups), rtol=1e-4)
    assert score_with_groups == pytest.approx(reference.score(X, y, groups=groups), rel=1e-4)


def test_pipeline_with_routing_integer_slopes(sleep):
    """Without set_output the scaler returns an array: name the slope column by index."""
    X, y, groups = sleep
    pipe = Pipeline([("scale", StandardScaler()), ("lmm", LinearMixedRegressor(random_slopes=[0]))])
    with sklearn.config_context(enable_metadata_routing=True):
        pipe.fit(X, y, groups=groups)
        pred = pipe.predict(X, groups=groups)
    assert len(pipe[-1].theta_) == 3
    assert pred.shape == (180,)


def test_pipeline_without_routing(sleep):
    X, y, groups = sleep
    pipe = Pipeline([("scale", StandardScaler()), ("lmm", LinearMixedRegressor(random_slopes=[0]))])
    pipe.fit(X, y, lmm__groups=groups)
    assert len(pipe[-1].theta_) == 3
    np.testing.assert_allclose(pipe.predict(X, groups=groups), pipe[-1].model_.fitted(), rtol=1e-10)


def test_grid_search_trap_without_routing(sleep):
    """Without routing, GridSearchCV gives groups to the splitter only: no random effects (and a warning)."""
    X, y, groups = sleep
    with pytest.warns(NoRandomEffectsWarning, match="splitter only"):
        search = GridSearchCV(LinearMixedRegressor(random_slopes=["days"]), {"optimizer": ["LN_BOBYQA"]},
                          cv=GroupKFold(n_splits=3)).fit(X, y, groups=groups)
    assert search.best_estimator_.theta_.size == 0
    assert search.best_estimator_.model_ is None


def test_group_columns_through_grid_search_without_routing(sleep):
    X, y, groups = sleep
    Xg = pd.concat([X, groups], axis=1)
    est = LinearMixedRegressor(random_slopes=["days"], group_columns=["subj"])
    with pytest.warns(PopulationPredictionWarning, match="not seen in fitting"):  # GroupKFold: new subjects
        search = GridSearchCV(est, {"optimizer": ["LN_BOBYQA", "LN_NELDERMEAD"], "ftol_rel": [1e-12, 1e-8]},
                              cv=GroupKFold(n_splits=3)).fit(Xg, y, groups=groups)
    best = search.best_estimator_
    np.testing.assert_allclose(best.theta_, [0.929191, 0.018166, 0.222643], atol=1e-3)
    assert best.n_features_in_ == 2 and best.coef_names_.tolist() == ["days"]
    # the search's own predict passes no metadata, but the groups are in X
    np.testing.assert_allclose(search.predict(Xg), best.model_.fitted(), rtol=1e-10)


def test_group_columns_with_kfold_scores_known_groups(sleep):
    X, y, groups = sleep
    Xg = pd.concat([X, groups], axis=1)
    cv = KFold(n_splits=3, shuffle=True, random_state=0)
    mixed = cross_validate(LinearMixedRegressor(random_slopes=["days"], group_columns=["subj"]), Xg, y, cv=cv)
    with pytest.warns(NoRandomEffectsWarning):
        fixed = cross_validate(LinearMixedRegressor(), X, y, cv=cv)
    assert np.all(mixed["test_score"] > fixed["test_score"] + 0.2)


def test_group_columns_with_routing_must_decline_groups(sleep):
    X, y, groups = sleep
    Xg = pd.concat([X, groups], axis=1)
    est = LinearMixedRegressor(group_columns=["subj"])
    with sklearn.config_context(enable_metadata_routing=True):
        with pytest.raises(ValueError, match="set_fit_request"):
            cross_validate(est, Xg, y, params={"groups": groups}, cv=GroupKFold(n_splits=3), error_score="raise")
        est = est.set_fit_request(groups=False).set_score_request(groups=False)
        with pytest.warns(PopulationPredictionWarning, match="not seen in fitting"):  # GroupKFold: new subjects
            result = cross_validate(est, Xg, y, params={"groups": groups}, cv=GroupKFold(n_splits=3),
                                    return_estimator=True)
    assert all(len(e.theta_) == 1 for e in result["estimator"])


def test_routing_with_aliased_groups_for_crossed_factors():
    """One column splits the folds, two grouping factors reach fit (alias the request)."""
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame({"x": rng.normal(size=n), "a": rng.integers(0, 20, n), "b": rng.integers(0, 8, n)})
    eta = 0.5 * frame["x"] + rng.normal(0, 0.7, 20)[frame["a"]] + rng.normal(0, 0.7, 8)[frame["b"]]
    y = rng.random(n) < 1 / (1 + np.exp(-eta))
    with sklearn.config_context(enable_metadata_routing=True):
        clf = GeneralizedMixedClassifier(fast=True).set_fit_request(groups="factors")
        clf = clf.set_score_request(groups=False)
        with pytest.warns(PopulationPredictionWarning, match="predict got no groups"):  # the score gets none
            result = cross_validate(clf, frame[["x"]], y, params={"groups": frame["a"], "factors": frame[["a", "b"]]},
                                    cv=GroupKFold(n_splits=4), return_estimator=True)
    for est in result["estimator"]:
        assert set(est.ranef_) == {"a", "b"}
        assert len(est.ranef_["a"]) == 15


def test_pickle_round_trip(sleep):
    X, y, groups = sleep
    # keep_model=True: the pickle keeps the core model (by default it holds what predict needs)
    reg = LinearMixedRegressor(random_slopes=["days"], keep_model=True).fit(X, y, groups=groups)
    new_groups = groups.astype(str).where(np.arange(len(groups)) % 2 == 0, "new")
    restored = pickle.loads(pickle.dumps(reg))
    for g in (groups, new_groups):
        assert np.array_equal(restored.predict(X, groups=g), reg.predict(X, groups=g))
    with pytest.warns(PopulationPredictionWarning, match="predict got no groups"):
        assert np.array_equal(restored.predict(X, groups=None), reg.predict(X, groups=None))
    np.testing.assert_array_equal(restored.theta_, reg.theta_)
    assert str(restored.model_) == str(reg.model_)


def test_pickle_round_trip_glmm():
    data = load_dataset("verbagg").head(1200)
    X, y, groups = data[["anger", "gender"]], data["r2"], data["subj"]
    clf = GeneralizedMixedClassifier(fast=True).fit(X, y, groups=groups)
    restored = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(restored.predict_proba(X, groups=groups), clf.predict_proba(X, groups=groups))
    with pytest.warns(PopulationPredictionWarning, match="predict got no groups"):
        assert np.array_equal(restored.predict(X), clf.predict(X))

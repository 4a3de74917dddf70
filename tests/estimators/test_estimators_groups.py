"""Grouping factors in and out: fits without them warn, predict matches them by name, new levels and
missing labels follow ``new_levels``, and every input type scikit-learn tools pass works."""

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from _estimator_data import fitted_fixture, sites_fixture, sleep_routes_fixture  # noqa: F401 (fixtures)
from sklearn.feature_selection import RFE, SelectFromModel
from sklearn.model_selection import GridSearchCV, GroupKFold

from sklmixed import GeneralizedMixedClassifier, GeneralizedMixedRegressor, LinearMixedRegressor
from sklmixed.exceptions import NoRandomEffectsWarning, PopulationPredictionWarning
from sklmixed.feature_selection import SelectFromMixedModel


@pytest.fixture(scope="module")
def crossed():
    """Two crossed factors, ``a`` (20 levels) and ``b`` (8 levels), and a Gaussian response."""
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame({"x": rng.normal(size=n), "a": rng.integers(0, 20, n).astype(str),
                          "b": rng.integers(0, 8, n)})
    y = (frame["x"] + rng.normal(0, 1, 20)[frame["a"].astype(int)] + rng.normal(0, 2, 8)[frame["b"]]
         + rng.normal(size=n))
    return frame, y


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn()


# ---------------------------------------------------------------- fits without groups say so
@pytest.mark.parametrize("est", [LinearMixedRegressor(), GeneralizedMixedClassifier(), GeneralizedMixedRegressor()])
def test_fit_without_groups_warns(est, sites):
    X, y, _, _ = sites
    with pytest.warns(NoRandomEffectsWarning, match="neither groups nor group_columns.*group_columns=\\[\\]"):
        est.fit(X, y)
    assert est.model_ is None and est.theta_.size == 0


def test_fit_without_groups_says_random_slopes_are_ignored(sleep_routes):
    X, y, _, _ = sleep_routes
    with pytest.warns(NoRandomEffectsWarning, match="random_slopes is ignored"):
        LinearMixedRegressor(random_slopes=["days"]).fit(X, y)


def test_empty_group_columns_fits_without_random_effects_on_purpose(sleep_routes):
    X, y, g, _ = sleep_routes
    reg = _quiet(lambda: LinearMixedRegressor(group_columns=[]).fit(X, y))
    assert reg.model_ is None and reg.coef_names_.tolist() == ["days"]
    with pytest.raises(ValueError, match=r"group_columns=\[\] declares a model without random effects"):
        LinearMixedRegressor(group_columns=[]).fit(X, y, groups=g)


def test_grid_search_without_routing_is_not_silent(sleep_routes):
    X, y, g, _ = sleep_routes
    with pytest.warns(NoRandomEffectsWarning, match="splitter only"):
        search = GridSearchCV(LinearMixedRegressor(random_slopes=["days"]), {"reml": [False, True]},
                              cv=GroupKFold(n_splits=3)).fit(X, y, groups=g)
    assert search.best_estimator_.model_ is None


# ---------------------------------------------------------------- groups matched by name
def test_groups_frame_matched_by_name(crossed):
    frame, y = crossed
    reg = LinearMixedRegressor().fit(frame[["x"]], y, groups=frame[["a", "b"]])
    ordered = reg.predict(frame[["x"]], groups=frame[["a", "b"]])
    np.testing.assert_array_equal(reg.predict(frame[["x"]], groups=frame[["b", "a"]]), ordered)
    np.testing.assert_allclose(ordered, reg.model_.fitted(), rtol=1e-10)
    with pytest.raises(ValueError, match=r"groups has the column\(s\) \['c'\], which are not grouping factors.*"
                                         r"lacks \['b'\].*\['a', 'b'\]"):
        reg.predict(frame[["x"]], groups=frame[["a", "b"]].rename(columns={"b": "c"}))
    with pytest.raises(ValueError, match=r"groups has 1 column\(s\), but the model was fit with 2 grouping factor"):
        reg.predict(frame[["x"]], groups=frame[["b"]])
    with pytest.raises(ValueError, match=r"groups has 3 column\(s\).*groups has the columns \['a', 'b', 'x'\]"):
        reg.predict(frame[["x"]], groups=frame[["a", "b", "x"]])


def test_groups_without_names_are_matched_by_position(crossed):
    frame, y = crossed
    reg = LinearMixedRegressor().fit(frame[["x"]], y, groups=frame[["a", "b"]].to_numpy())
    fit_order = reg.predict(frame[["x"]], groups=frame[["a", "b"]].to_numpy())
    np.testing.assert_array_equal(reg.predict(frame[["x"]], groups=frame[["a", "b"]].set_axis(["p", "q"], axis=1)),
                                  fit_order)
    named = LinearMixedRegressor().fit(frame[["x"]], y, groups=frame[["a", "b"]])
    np.testing.assert_array_equal(named.predict(frame[["x"]], groups=frame[["a", "b"]].to_numpy()),
                                  named.predict(frame[["x"]], groups=frame[["a", "b"]]))


def test_repeated_group_names_are_an_error(crossed):
    frame, y = crossed
    with pytest.raises(ValueError, match="repeated column names"):
        LinearMixedRegressor().fit(frame[["x"]], y, groups=frame[["a", "a"]])


# ---------------------------------------------------------------- new levels and missing labels
def test_new_levels_policies(sleep_routes, fitted):
    X, y, g, _ = sleep_routes
    population = X["days"].to_numpy() * fitted.coef_[0] + fitted.intercept_
    unseen = pd.Series(["new"] * len(X))
    few_unseen = g.astype(object).where(np.arange(len(g)) % 10 > 0, "new")
    missing = pd.Series([None] * len(X), dtype=object)
    reg = fitted.set_params(new_levels="warn")
    with pytest.warns(PopulationPredictionWarning, match=r"180 of 180 labelled rows have levels of 'subj' not seen"):
        np.testing.assert_allclose(reg.predict(X, groups=unseen), population)
    with pytest.warns(PopulationPredictionWarning, match="predict got no groups"):
        np.testing.assert_allclose(reg.predict(X), population)
    # a few unseen levels, missing labels (asked for), known levels: no warning
    _quiet(lambda: reg.predict(X, groups=few_unseen))
    np.testing.assert_allclose(_quiet(lambda: reg.predict(X, groups=missing)), population)
    reg.set_params(new_levels="population")  # on a fitted estimator, without refitting
    np.testing.assert_allclose(_quiet(lambda: reg.predict(X, groups=unseen)), population)
    np.testing.assert_allclose(_quiet(lambda: reg.predict(X)), population)
    reg.set_params(new_levels="error")
    with pytest.raises(ValueError, match=r"18 row\(s\) have levels of 'subj' not seen in fitting, e.g. \['new'\]"):
        reg.predict(X, groups=few_unseen)
    with pytest.raises(ValueError, match=r"random effects for \['subj'\], but predict got no groups"):
        reg.score(X, y)
    np.testing.assert_allclose(reg.predict(X, groups=missing), population)  # missing labels are not new levels
    np.testing.assert_allclose(reg.predict(X, groups=g), reg.model_.fitted(), rtol=1e-10)
    reg.set_params(new_levels="sometimes")
    with pytest.raises(ValueError, match="new_levels must be one of"):
        reg.predict(X, groups=g)
    reg.set_params(new_levels="warn")


def test_new_levels_is_validated_at_fit(sleep_routes):
    X, y, g, _ = sleep_routes
    with pytest.raises(ValueError, match=r"new_levels must be one of \['warn', 'population', 'error'\]"):
        LinearMixedRegressor(new_levels=None).fit(X, y, groups=g)


def test_classifier_methods_follow_new_levels(sites):
    X, y, g, _ = sites
    clf = GeneralizedMixedClassifier(fast=True, new_levels="error").fit(X, y, groups=g)
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        with pytest.raises(ValueError, match="not seen in fitting"):
            getattr(clf, method)(X, groups=g + 100)
        with pytest.raises(ValueError, match="predict got no groups"):
            getattr(clf, method)(X)


def test_missing_group_label_in_group_columns_is_population_level(sleep_routes):
    X, y, g, Xg = sleep_routes
    reg = LinearMixedRegressor(random_slopes=["days"], group_columns=["subj"], new_levels="error").fit(Xg, y)
    blank = Xg.astype({"subj": object})
    blank.loc[[0, 5], "subj"] = [None, np.nan]
    pred = reg.predict(blank)
    full = reg.predict(Xg)
    np.testing.assert_allclose(pred[[0, 5]], reg.intercept_ + reg.coef_[0] * X["days"].to_numpy()[[0, 5]])
    np.testing.assert_array_equal(pred[1:5], full[1:5])
    with pytest.raises(ValueError, match=r"Input X contains NaN or infinity: 2 missing .* in column 'subj'"):
        reg.fit(blank, y)  # every row needs a label when fitting


# ---------------------------------------------------------------- input types
def _labels(g):
    codes = pd.Series(g.cat.codes.to_numpy())
    return {
        "object": g.astype(str).astype(object).to_numpy(),
        "category": g.to_numpy(),
        "string": g.astype(str).astype("string").array,
        "int64": codes.to_numpy(),
        "Int64": codes.astype("Int64").array,
        "float": codes.astype(float).to_numpy(),
        "Float64": codes.astype("Float64").array,
        "bool": (codes % 2 == 0).to_numpy(),
        "boolean": (codes % 2 == 0).astype("boolean").array,
    }


@pytest.mark.parametrize("dtype", list(_labels(pd.Series(["a"], dtype="category"))))
@pytest.mark.parametrize("spec", [["subj"], [1], [-1], "subj"])
def test_group_columns_of_every_pandas_dtype(dtype, spec, sleep_routes):
    X, y, g, _ = sleep_routes
    labels = _labels(g)[dtype]
    Xg = X.assign(subj=labels)
    reg = _quiet(lambda: LinearMixedRegressor(random_slopes=["days"], group_columns=spec).fit(Xg, y))
    ref = LinearMixedRegressor(random_slopes=["days"]).fit(X, y, groups=pd.Series(labels, name="subj"))
    np.testing.assert_allclose(reg.theta_, ref.theta_, rtol=1e-8)
    np.testing.assert_allclose(reg.predict(Xg), ref.predict(X, groups=pd.Series(labels)), rtol=1e-10)
    if dtype not in ("bool", "int64", "category", "object"):  # dtypes that hold a missing value as it is
        blank = Xg.copy()
        blank.iloc[0, 1] = pd.NA if dtype in ("Int64", "Float64", "boolean", "string") else np.nan
        pred = _quiet(lambda: reg.predict(blank))
        assert pred[0] == pytest.approx(reg.intercept_ + reg.coef_[0] * X["days"].iloc[0], rel=1e-12)


def test_group_columns_of_a_numpy_object_array(sleep_routes):
    X, y, g, Xg = sleep_routes
    arr = Xg.astype({"subj": str}).to_numpy(dtype=object)
    reg = _quiet(lambda: LinearMixedRegressor(random_slopes=[0], group_columns=[-1]).fit(arr, y))
    ref = LinearMixedRegressor(random_slopes=["days"]).fit(X, y, groups=g)
    np.testing.assert_allclose(reg.predict(arr), ref.predict(X, groups=g), rtol=1e-8)
    arr[:2, 1] = [None, np.nan]
    np.testing.assert_allclose(reg.predict(arr)[:2], ref.predict(X.iloc[:2], groups=[None, None]), rtol=1e-8)
    text = arr.copy()
    text[3, 0] = "three"
    with pytest.raises(ValueError, match="X column 0 must be numeric .only grouping columns may hold text."):
        reg.predict(text)


def test_grouping_columns_of_a_nameless_x_come_last(sleep_routes):
    X, y, g, Xg = sleep_routes
    arr = np.column_stack([g.cat.codes, X["days"]])
    with pytest.raises(ValueError, match=r"group_columns \[0\] are columns \[0\] of an X of 2 columns without column "
                                         r"names; there they must be the last columns.*group_columns=\[-1\]"):
        LinearMixedRegressor(group_columns=[0]).fit(arr, y)
    # a DataFrame names its columns: any position will do
    _quiet(lambda: LinearMixedRegressor(group_columns=[0]).fit(pd.DataFrame(arr, columns=["subj", "days"]), y))


def test_fractional_numbers_are_not_group_labels(sleep_routes):
    X, y, g, _ = sleep_routes
    shifted = X.assign(other=np.linspace(0, 1, len(X)))
    with pytest.raises(ValueError, match="grouping column 'other' holds fractional numbers"):
        LinearMixedRegressor(group_columns=["other"]).fit(shifted, y)


# ---------------------------------------------------------------- feature selection
@pytest.fixture(scope="module")
def selection():
    """Five numeric features, two of them with large effects, and a random intercept per group."""
    rng = np.random.default_rng(0)
    n, n_groups = 400, 20
    g = rng.integers(0, n_groups, n)
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=[f"x{j}" for j in range(5)])
    y = 2 * X["x1"] - 1.5 * X["x3"] + 0.1 * X["x4"] + rng.normal(0, 1, n_groups)[g] + rng.normal(size=n)
    return X, y, g


@pytest.mark.parametrize("routing", [False, True])
def test_feature_selection_with_groups_as_metadata(selection, routing):
    X, y, g = selection
    expected = [False, True, False, True, False]
    with sklearn.config_context(enable_metadata_routing=routing):
        rfe = RFE(LinearMixedRegressor(), n_features_to_select=2).fit(X, y, groups=g)
        sfm = SelectFromModel(LinearMixedRegressor(), threshold=0.5).fit(X, y, groups=g)
    assert rfe.support_.tolist() == expected and sfm.get_support().tolist() == expected
    assert rfe.estimator_.model_ is not None and len(rfe.estimator_.ranef_["group"]) == 20
    # SelectFromModel reads coef_: one entry per column of X, the model's own estimates
    np.testing.assert_array_equal(sfm.estimator_.coef_, LinearMixedRegressor().fit(X, y, groups=g).coef_)


def test_rfe_with_grouping_columns_last(selection):
    X, y, g = selection
    Xg = X.assign(g=g)
    rfe = _quiet(lambda: RFE(LinearMixedRegressor(group_columns=[-1]), n_features_to_select=3).fit(Xg, y))
    assert rfe.support_.tolist() == [False, True, False, True, False, True]  # the grouping column is kept
    assert len(rfe.estimator_.ranef_["x2"]) == 20  # RFE hands on arrays: columns named by position
    np.testing.assert_allclose(rfe.predict(Xg), LinearMixedRegressor().fit(X[["x1", "x3"]], y, groups=g).predict(
        X[["x1", "x3"]], groups=g), rtol=1e-8)


def test_feature_selection_misuse_is_an_error_or_works(selection):
    X, y, g = selection
    first = pd.concat([pd.Series(g, name="g"), X], axis=1)
    with pytest.raises(ValueError, match="must be the last columns"):
        RFE(LinearMixedRegressor(group_columns=[0]), n_features_to_select=3).fit(first, y)
    with pytest.raises(ValueError, match="could not convert string to float"):
        RFE(LinearMixedRegressor(), n_features_to_select=2).fit(X.assign(c=np.where(g % 2, "p", "q")), y, groups=g)
    # coef_ has no entry for a grouping column: SelectFromMixedModel reads one importance per fixed-effects
    # column of X and keeps the grouping column (plain SelectFromModel: test_estimators_selection.py)
    sfm = _quiet(lambda: SelectFromMixedModel(LinearMixedRegressor(group_columns=["g"]), threshold=0.5).fit(
        X.assign(g=g), y))
    assert sfm.get_support().tolist() == [False, True, False, True, False, True]
    np.testing.assert_array_equal(sfm.transform(X.assign(g=g)), X.assign(g=g)[["x1", "x3", "g"]].to_numpy())

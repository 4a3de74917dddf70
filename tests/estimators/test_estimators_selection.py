"""SelectFromMixedModel: one importance per column of X, the grouping columns kept, for every estimator and
every way the groups arrive; alone, with max_features, prefit, and in a Pipeline before the estimator."""

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.exceptions import NotFittedError
from sklearn.feature_selection import SelectFromModel
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from sklmixed import GeneralizedMixedClassifier, GeneralizedMixedRegressor, LinearMixedRegressor
from sklmixed.feature_selection import SelectFromMixedModel

NUMERIC = [f"x{j}" for j in range(4)]


@pytest.fixture(scope="module")
def data():
    """Four numeric columns (x1 and x3 matter), a categorical ``c`` (its level "c" matters), 20 groups ``g``,
    and a response per estimator: Gaussian, Poisson counts, binary."""
    rng = np.random.default_rng(1)
    n, n_groups = 400, 20
    g = rng.integers(0, n_groups, n)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=NUMERIC)
    X["c"] = rng.choice(list("abc"), n)
    eta = X["x1"] - 0.8 * X["x3"] + (X["c"] == "c") + rng.normal(0, 0.5, n_groups)[g]
    ys = {LinearMixedRegressor: eta + rng.normal(size=n), GeneralizedMixedRegressor: rng.poisson(np.exp(0.3 * eta)),
          GeneralizedMixedClassifier: rng.random(n) < 1 / (1 + np.exp(-eta))}
    return X, pd.Series(g, name="g"), ys


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn()


def _layout(name, X, g):
    """``(X, group_columns, fit params, expected support, pandas output)`` of one way to pass the groups."""
    if name == "names":  # grouping column by name, last, next to a categorical column
        return X.assign(g=g), ["g"], {}, [False, True, False, True, True, True], True
    if name == "first":  # grouping column by name, first
        return pd.concat([g, X], axis=1), ["g"], {}, [True, False, True, False, True, True], True
    if name == "index":  # a NumPy array, the grouping column last and named by negative index
        return np.column_stack([X[NUMERIC], g]), [-1], {}, [False, True, False, True, True], False
    return X, None, {"groups": g}, [False, True, False, True, True], True  # "metadata", "routing"


# ---------------------------------------------------------------- the importances
def test_importances_are_per_column_of_X(data):
    X, g, ys = data
    sfm = _quiet(lambda: SelectFromMixedModel(LinearMixedRegressor(group_columns=["g"])).fit(X.assign(g=g),
                                                                                             ys[LinearMixedRegressor]))
    coef = sfm.estimator_.fixed_effects_
    importances = sfm.importance_getter(sfm.estimator_)
    assert importances.shape == (5,)  # x0..x3 and c; none for g
    np.testing.assert_array_equal(importances[:4], np.abs([coef[x] for x in NUMERIC]))
    # the largest difference between two levels of c, the reference level "a" at 0
    assert importances[4] == np.ptp([0.0, coef["c[T.b]"], coef["c[T.c]"]])
    assert sfm.threshold_ == pytest.approx(importances.mean())  # threshold=None is the mean, over x0..x3 and c
    assert sfm.estimator_.fixed_effects_.shape == (6,)  # the model's coefficients, by name


def test_categorical_importance_does_not_depend_on_the_coding(data):
    X, g, ys = data
    y = ys[LinearMixedRegressor]

    def importance(frame, **kw):
        est = LinearMixedRegressor(**kw).fit(frame, y, groups=g)
        return SelectFromMixedModel(est, prefit=True).importance_getter(est)

    base = importance(X)
    reversed_levels = X.assign(c=pd.Categorical(X["c"], categories=["c", "b", "a"]))  # reference "c", not "a"
    np.testing.assert_allclose(importance(reversed_levels), base, rtol=1e-6)
    np.testing.assert_allclose(importance(X, fit_intercept=False), base, rtol=1e-6)  # c fully coded
    binary = X.assign(c=np.where(X["c"] == "c", "yes", "no"))
    numeric = X.assign(c=(X["c"] == "c").astype(float))
    np.testing.assert_allclose(importance(binary), importance(numeric), rtol=1e-10)


# ---------------------------------------------------------------- every estimator, every layout
@pytest.mark.parametrize("estimator", [LinearMixedRegressor, GeneralizedMixedRegressor, GeneralizedMixedClassifier])
@pytest.mark.parametrize("layout", ["names", "first", "index", "metadata", "routing"])
def test_pipeline_selects_and_keeps_the_groups(data, estimator, layout):
    X, g, ys = data
    y = ys[estimator]
    Xl, group_columns, params, expected, pandas = _layout(layout, X, g)
    pipe = Pipeline([("select", SelectFromMixedModel(estimator(group_columns=group_columns))),
                     ("model", estimator(group_columns=group_columns))])
    if pandas:
        pipe.set_output(transform="pandas")
    if layout == "metadata":  # routing off: the groups are given to each step
        params = {"select__groups": g, "model__groups": g}
    with sklearn.config_context(enable_metadata_routing=layout == "routing"):
        _quiet(lambda: pipe.fit(Xl, y, **params))
        predicted = pipe.predict(Xl, **({"groups": g} if layout in ("metadata", "routing") else {}))
    assert pipe["select"].get_support().tolist() == expected
    model = pipe["model"]
    assert model.n_features_in_ == sum(expected)
    assert len(model.ranef_[model._layout.group_names[0]]) == 20  # the last step got the grouping factor
    # a NumPy array's columns are named by position: x1 and x3 are the selected array's x0 and x1
    names = "x1 x3 c[T.b] c[T.c]".split() if layout != "index" else ["x0", "x1"]
    assert model.coef_names_.tolist() == names
    if estimator is LinearMixedRegressor:  # the same as the estimator fit on the selected columns
        direct = LinearMixedRegressor(group_columns=group_columns)
        if layout in ("metadata", "routing"):
            direct.fit(Xl[["x1", "x3", "c"]], y, groups=g)
            np.testing.assert_allclose(predicted, direct.predict(Xl[["x1", "x3", "c"]], groups=g), rtol=1e-8)
        else:
            selected = Xl.loc[:, expected] if pandas else Xl[:, expected]
            np.testing.assert_allclose(predicted, direct.fit(selected, y).predict(selected), rtol=1e-8)


def test_transform_alone_keeps_the_grouping_column_in_place(data):
    X, g, ys = data
    Xg = pd.concat([g, X], axis=1)
    sfm = SelectFromMixedModel(GeneralizedMixedClassifier(group_columns=["g"])).fit(Xg, ys[GeneralizedMixedClassifier])
    assert sfm.get_feature_names_out().tolist() == ["g", "x1", "x3", "c"]
    out = sfm.transform(Xg)  # a NumPy array by default, as SelectFromModel's
    np.testing.assert_array_equal(out[:, 0], g)
    np.testing.assert_array_equal(out[:, 3], X["c"])
    assert sfm.set_output(transform="pandas").transform(Xg).columns.tolist() == ["g", "x1", "x3", "c"]
    assert sfm.inverse_transform(out).shape == Xg.shape


# ---------------------------------------------------------------- threshold and max_features
def test_max_features_counts_the_fixed_effects_columns(data):
    X, g, ys = data
    Xg, y = X.assign(g=g), ys[LinearMixedRegressor]
    est = LinearMixedRegressor(group_columns=["g"])
    sfm = SelectFromMixedModel(est, threshold=-np.inf, max_features=2).fit(Xg, y)
    assert sfm.get_feature_names_out().tolist() == ["x1", "c", "g"]  # the two largest importances, and g
    assert SelectFromMixedModel(est, threshold=-np.inf, max_features=lambda X: X.shape[1]).fit(Xg, y) \
        .get_support().all()
    assert SelectFromMixedModel(est, threshold="median", max_features=1).fit(Xg, y) \
        .get_feature_names_out().tolist() == ["x1", "g"]
    median = SelectFromMixedModel(est, threshold="median").fit(Xg, y)
    assert median.threshold_ == pytest.approx(np.median(median.importance_getter(median.estimator_)))
    assert median.get_feature_names_out().tolist() == ["x1", "x3", "c", "g"]
    none = SelectFromMixedModel(est, threshold=-np.inf, max_features=0).fit(Xg, y)
    with pytest.warns(UserWarning, match="No fixed-effects columns were selected: only the grouping columns"):
        assert none.transform(Xg).shape == (len(Xg), 1)


def test_prefit(data):
    X, g, ys = data
    Xg, y = X.assign(g=g), ys[GeneralizedMixedRegressor]
    est = GeneralizedMixedRegressor(group_columns=["g"]).fit(Xg, y)
    sfm = SelectFromMixedModel(est, prefit=True, threshold=0.15)
    with warnings.catch_warnings():  # a prefit SelectFromModel never fit has no feature names, and says so
        warnings.filterwarnings("ignore", "X has feature names", UserWarning)
        assert sfm.transform(Xg).shape == (len(Xg), 4)  # without fit: x1, x3, c, g
        with pytest.raises(NotFittedError, match="prefit=True"):
            SelectFromMixedModel(GeneralizedMixedRegressor(), prefit=True).transform(Xg)
        with pytest.raises(NotFittedError):  # prefit=False: the estimator is fit by fit, not before
            SelectFromMixedModel(GeneralizedMixedRegressor()).transform(Xg)
    sfm.fit(Xg)  # no y: not refitted, a copy
    assert sfm.estimator_ is not est and sfm.estimator_.fixed_effects_.tolist() == est.fixed_effects_.tolist()
    assert sfm.get_feature_names_out().tolist() == ["x1", "x3", "c", "g"]


@pytest.mark.parametrize("layout", ["names", "index"])
def test_a_missing_group_label_reaches_the_estimator(data, layout):
    X, g, ys = data
    Xl, group_columns, _, expected, pandas = _layout(layout, X, g)
    pipe = make_pipeline(SelectFromMixedModel(LinearMixedRegressor(group_columns=group_columns)),
                         LinearMixedRegressor(group_columns=group_columns))
    pipe.set_output(transform="pandas" if pandas else "default").fit(Xl, ys[LinearMixedRegressor])
    row = Xl.head(1).assign(g=[np.nan]) if pandas else np.append(Xl[0, :-1], np.nan)[None, :]
    values = np.asarray(row, dtype=object)[0, expected][:-1]  # the selected fixed-effects columns
    design = [values[0], values[1]] + ([values[2] == "b", values[2] == "c"] if pandas else [])
    model = pipe[-1]
    population = model.intercept_ + model.fixed_effects_.to_numpy() @ np.asarray(design, dtype=float)
    np.testing.assert_allclose(_quiet(lambda: pipe.predict(row)), [population], rtol=1e-12)
    missing_x1 = Xl.head(1).assign(x1=np.nan) if pandas else np.where(np.arange(5) == 1, np.nan, Xl[:1])
    with pytest.raises(ValueError, match=r"Input X contains NaN or infinity: 1 missing .* in column (.x1.|1) \(1\)"):
        pipe.predict(missing_x1)


# ---------------------------------------------------------------- misuse
@pytest.mark.parametrize("estimator", [Ridge(), make_pipeline(StandardScaler(), LinearMixedRegressor())])
def test_other_estimators_are_refused_before_fitting(data, estimator):
    X, g, ys = data
    sfm = SelectFromMixedModel(estimator)
    with pytest.raises(TypeError, match="by the fixed effects of a sklmixed estimator.*got (Ridge|Pipeline).*"
                                        "SelectFromModel"):
        sfm.fit(X[NUMERIC], ys[LinearMixedRegressor])
    assert not hasattr(sfm, "estimator_")


def test_plain_select_from_model_fails_where_coef_would_be_misread(data):
    """What the guide warns about: SelectFromModel reads coef_ as one entry per column of X. With a grouping
    column last it fails in scikit-learn; with a categorical column too, whose extra entry would make up for the
    grouping column's (dropping c, keeping g by c[T.c]), the estimator has no coef_, so it fails as well."""
    X, g, ys = data
    y = ys[LinearMixedRegressor]
    numeric = _quiet(lambda: SelectFromModel(LinearMixedRegressor(group_columns=["g"])).fit(X[NUMERIC].assign(g=g), y))
    with pytest.raises(IndexError, match="boolean index did not match"):
        numeric.transform(X[NUMERIC].assign(g=g))
    both = SelectFromModel(LinearMixedRegressor(group_columns=["g"])).fit(X.assign(g=g), y)
    assert not hasattr(both.estimator_, "coef_")
    with pytest.raises(ValueError, match="should have `coef_` or `feature_importances_`"):
        both.get_feature_names_out()
    with pytest.raises(ValueError, match="should have `coef_` or `feature_importances_`"):
        both.transform(X.assign(g=g))
    # asked for coef_ by name, SelectFromModel passes on the estimator's reason
    named = SelectFromModel(LinearMixedRegressor(group_columns=["g"]), importance_getter="coef_").fit(X.assign(g=g), y)
    with pytest.raises(AttributeError, match=r"X column 'c' is categorical, coded as 2 coefficients \(c\[T.b\], "
                                             r"c\[T.c\]\).*SelectFromMixedModel"):
        named.transform(X.assign(g=g))
    right = SelectFromMixedModel(LinearMixedRegressor(group_columns=["g"])).fit(X.assign(g=g), y)
    assert right.get_feature_names_out().tolist() == ["x1", "x3", "c", "g"]

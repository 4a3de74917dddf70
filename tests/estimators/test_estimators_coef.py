"""coef_ only where it lines up with the columns of X (entry j for column j, grouping columns last), an
AttributeError saying why elsewhere, so that scikit-learn's tools stop instead of misreading it; the
coefficients by name in fixed_effects_ always."""

import copy
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.feature_selection import RFE, SelectFromModel

from sklmixed import GeneralizedMixedClassifier, GeneralizedMixedRegressor, LinearMixedRegressor

ESTIMATORS = [LinearMixedRegressor, GeneralizedMixedRegressor, GeneralizedMixedClassifier]


@pytest.fixture(scope="module")
def data():
    """x1 and x2 matter, x0 does not; a three-level c (level "c" matters), a two-level d, 15 groups g; a response
    per estimator."""
    rng = np.random.default_rng(7)
    n, n_groups = 300, 15
    g = pd.Series(rng.integers(0, n_groups, n), name="g")
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x0", "x1", "x2"])
    X["c"] = rng.choice(list("abc"), n)
    X["d"] = rng.choice(["no", "yes"], n)
    eta = 1.5 * X["x1"] - X["x2"] + 0.05 * X["x0"] + 1.2 * (X["c"] == "c") + rng.normal(0, 0.5, n_groups)[g]
    ys = {LinearMixedRegressor: eta + rng.normal(size=n), GeneralizedMixedRegressor: rng.poisson(np.exp(0.3 * eta)),
          GeneralizedMixedClassifier: rng.random(n) < 1 / (1 + np.exp(-eta))}
    return X, g, ys


def _fit(est, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no-random-effects and convergence warnings are other tests' business
        return est.fit(X, y, **kw)


# ---------------------------------------------------------------- where coef_ lines up with X
ALIGNED = {
    "numeric, groups as metadata": (lambda X, g: X[["x0", "x1", "x2"]], {}, True),
    "numeric, grouping column last": (lambda X, g: X[["x0", "x1", "x2"]].assign(g=g), {"group_columns": ["g"]}, False),
    "numeric, no groups": (lambda X, g: X[["x0", "x1", "x2"]], {"group_columns": []}, False),
    "two-level categorical": (lambda X, g: X[["x1", "d"]].assign(g=g), {"group_columns": ["g"]}, False),
    "numpy, grouping column by negative index": (lambda X, g: np.column_stack([X[["x0", "x1"]], g]),
                                                 {"group_columns": [-1]}, False),
}


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("layout", list(ALIGNED))
def test_coef_is_there_where_it_lines_up_with_X(data, Est, layout):
    X, g, ys = data
    make, params, metadata = ALIGNED[layout]
    est = _fit(Est(**params), make(X, g), ys[Est], **({"groups": g} if metadata else {}))
    assert hasattr(est, "coef_")
    np.testing.assert_array_equal(est.coef_, est.fixed_effects_.to_numpy())
    assert est.fixed_effects_.index.tolist() == est.coef_names_.tolist()
    np.testing.assert_array_equal(est.beta_, np.r_[est.intercept_, est.coef_])  # full rank here


# ---------------------------------------------------------------- where it does not, and why
def test_a_categorical_column_with_several_coefficients_has_no_coef_(data):
    X, g, ys = data
    est = _fit(LinearMixedRegressor(group_columns=["g"]), X[["x0", "c"]].assign(g=g), ys[LinearMixedRegressor])
    assert not hasattr(est, "coef_")
    with pytest.raises(AttributeError) as err:
        est.coef_  # noqa: B018
    message = str(err.value)
    assert message.startswith("coef_ is not available: it would not have one entry per column of X")
    assert "X column 'c' is categorical, coded as 2 coefficients (c[T.b], c[T.c])" in message
    for remedy in ("fixed_effects_", "SelectFromMixedModel", "one-hot encode the categorical columns upstream"):
        assert remedy in message
    assert "grouping" not in message  # g is last: not a reason
    assert est.fixed_effects_.index.tolist() == ["x0", "c[T.b]", "c[T.c]"]


def test_a_grouping_column_before_fixed_effects_has_no_coef_(data):
    X, g, ys = data
    est = _fit(LinearMixedRegressor(group_columns=["g"]), pd.concat([g, X[["x1", "x2"]]], axis=1),
               ys[LinearMixedRegressor])
    with pytest.raises(AttributeError, match=r"grouping column\(s\) 'g' \(column 0\) come before fixed-effects "
                                             r"columns\. .*or put the grouping columns last to have coef_ line up"):
        est.coef_  # noqa: B018
    assert est.fixed_effects_.index.tolist() == ["x1", "x2"]


def test_every_reason_is_named(data):
    X, g, ys = data
    Xm = pd.concat([g, X[["x1"]], X[["c"]].astype("category"), X[["x2"]]], axis=1).assign(one="k")
    est = _fit(LinearMixedRegressor(group_columns=["g"]), Xm, ys[LinearMixedRegressor])
    with pytest.raises(AttributeError, match=r"'c' is categorical, coded as 2 .*; X column 'one' is categorical, "
                                             r"coded as no coefficient; grouping column\(s\) 'g' \(column 0\).*"
                                             r"one-hot encode the categorical columns upstream and put the grouping"):
        est.coef_  # noqa: B018


def test_without_intercept_the_first_categorical_column_is_fully_coded(data):
    X, g, ys = data
    est = _fit(LinearMixedRegressor(fit_intercept=False), X[["d", "x1"]], ys[LinearMixedRegressor], groups=g)
    with pytest.raises(AttributeError, match=r"'d' is categorical, coded as 2 coefficients \(d\[no\], d\[yes\]\)"):
        est.coef_  # noqa: B018
    with_intercept = _fit(LinearMixedRegressor(), X[["d", "x1"]], ys[LinearMixedRegressor], groups=g)
    assert with_intercept.coef_names_.tolist() == ["d[T.yes]", "x1"] and with_intercept.coef_.shape == (2,)


def test_an_unfitted_estimator_has_no_coef_():
    est = LinearMixedRegressor()
    assert not hasattr(est, "coef_")
    with pytest.raises(AttributeError, match="^'LinearMixedRegressor' object has no attribute 'coef_'$"):
        est.coef_  # noqa: B018


def test_a_refit_decides_again(data):
    X, g, ys = data
    y = ys[LinearMixedRegressor]
    est = _fit(LinearMixedRegressor(group_columns=["g"]), X[["x0", "c"]].assign(g=g), y)
    assert not hasattr(est, "coef_")
    _fit(est, X[["x0", "x1"]].assign(g=g), y)
    np.testing.assert_array_equal(est.coef_, est.fixed_effects_.to_numpy())
    _fit(est, pd.concat([g, X[["x0"]]], axis=1), y)
    assert not hasattr(est, "coef_")


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_pickles_and_copies_keep_coef_or_its_reason(data, Est):
    X, g, ys = data
    aligned = _fit(Est(group_columns=["g"]), X[["x0", "x1"]].assign(g=g), ys[Est])
    misaligned = _fit(Est(group_columns=["g"]), X[["x1", "c"]].assign(g=g), ys[Est])
    for copy_of in (lambda e: pickle.loads(pickle.dumps(e)), copy.copy, copy.deepcopy):
        np.testing.assert_array_equal(copy_of(aligned).coef_, aligned.coef_)
        other = copy_of(misaligned)
        pd.testing.assert_series_equal(other.fixed_effects_, misaligned.fixed_effects_)
        with pytest.raises(AttributeError, match="'c' is categorical"):
            other.coef_  # noqa: B018
    assert not hasattr(clone(misaligned), "fixed_effects_")


# ---------------------------------------------------------------- scikit-learn's tools
def test_select_from_model_stops_at_a_misaligned_coef_(data):
    """X = [x0, c, g]: three coefficients for three columns. Reading coef_ by position, SelectFromModel would keep g
    by c[T.c] and drop c; without coef_ it stops."""
    X, g, ys = data
    Xc = X[["x0", "c"]].assign(g=g)
    sfm = _fit(SelectFromModel(LinearMixedRegressor(group_columns=["g"])), Xc, ys[LinearMixedRegressor])
    assert sfm.estimator_.fixed_effects_.abs().idxmax() == "c[T.c]"  # the entry that would have stood for g
    with pytest.raises(ValueError, match="should have `coef_` or `feature_importances_`"):
        sfm.transform(Xc)


def test_select_from_model_works_on_numeric_X_without_grouping_columns(data):
    X, g, ys = data
    Xn = X[["x0", "x1", "x2"]]
    sfm = _fit(SelectFromModel(LinearMixedRegressor(), threshold=0.5), Xn, ys[LinearMixedRegressor], groups=g)
    assert sfm.get_feature_names_out().tolist() == ["x1", "x2"]
    np.testing.assert_array_equal(sfm.transform(Xn), Xn[["x1", "x2"]].to_numpy())


def test_rfe_stops_at_a_grouping_column_first(data):
    """X = [g, x1, x2] by name: coef_ by position would give x1's effect to g and x2's to x1. RFE hands the
    estimator a NumPy array, so the name is refused; fitted on the DataFrame, the estimator offers no coef_ to
    rank by."""
    X, g, ys = data
    Xf = pd.concat([g, X[["x0", "x1", "x2"]]], axis=1)
    with pytest.raises(ValueError, match="group_columns names column 'g', but X has no column names"):
        _fit(RFE(LinearMixedRegressor(group_columns=["g"]), n_features_to_select=3), Xf, ys[LinearMixedRegressor])
    fitted = _fit(LinearMixedRegressor(group_columns=["g"]), Xf, ys[LinearMixedRegressor])
    with pytest.raises(ValueError, match="should have `coef_` or `feature_importances_`"):
        SelectFromModel(fitted, prefit=True).fit(Xf).get_support()


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_rfe_works_where_coef_lines_up(data, Est):
    X, g, ys = data
    Xn = X[["x0", "x1", "x2"]]
    by_column = _fit(RFE(Est(group_columns=[-1]), n_features_to_select=3), Xn.assign(g=g), ys[Est])
    assert by_column.support_.tolist() == [False, True, True, True]  # x0 goes; the grouping column stays
    metadata = _fit(RFE(Est(), n_features_to_select=2), Xn, ys[Est], groups=g)
    assert metadata.support_.tolist() == [False, True, True]

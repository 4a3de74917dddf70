"""Lean fitted estimators: a pickle holds what ``predict`` needs, predicts bit for bit as the
estimator it came from, and keeps the core model only on request (``keep_model=True``)."""

import copy
import pickle

import numpy as np
import pandas as pd
import pytest
from _estimator_data import sites_fixture, sleep_routes_fixture  # noqa: F401 (fixtures)

from sklmixed import GeneralizedMixedClassifier, LinearMixedRegressor, load_dataset


@pytest.fixture(scope="module")
def insteval():
    data = load_dataset("insteval")
    X = data[["service", "s", "d", "dept"]]
    reg = LinearMixedRegressor(group_columns=["s", "d", "dept"], new_levels="population").fit(X, data["y"])
    return X, data["y"], reg


def test_insteval_pickles_small_and_predicts_bit_for_bit(insteval):
    """``y ~ service + (1|s) + (1|d) + (1|dept)``: 73 421 rows, 35 MB pickled with its core model."""
    X, y, reg = insteval
    lean = pickle.dumps(reg)
    assert len(lean) < 5e6
    assert len(lean) < 0.3 * X.memory_usage(deep=True).sum()  # less than the data itself
    loaded = pickle.loads(lean)
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    new = X.head(500).astype({"s": object, "d": object}).copy()
    new.loc[new.index[::3], "s"] = "a new student"
    new.loc[new.index[1::3], "d"] = None
    np.testing.assert_array_equal(loaded.predict(new), reg.predict(new))
    for name in ("beta_", "theta_", "coef_", "intercept_", "sigma_", "n_iter_", "converged_", "objective_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(reg, name))
    for factor, modes in reg.ranef_.items():
        pd.testing.assert_frame_equal(loaded.ranef_[factor], modes)
    assert loaded.score(X, y) == reg.score(X, y)


def test_the_core_model_is_left_out_and_says_so(insteval):
    X, y, reg = insteval
    loaded = pickle.loads(pickle.dumps(reg))
    assert "keep_model=True" in repr(loaded.model_)
    with pytest.raises(AttributeError, match=r"model_ was left out when this estimator was pickled \(keep_model=False\)"
                                             r", so model_.fitted is not available"):
        loaded.model_.fitted()
    assert reg.model_.fitted().shape == (len(y),)  # the fitted estimator itself still has it


def test_keep_model_pickles_the_core_model(insteval):
    X, y, reg = insteval
    full = pickle.dumps(copy.copy(reg).set_params(keep_model=True))
    assert len(full) > 100 * len(pickle.dumps(reg))  # 35.5 MB against 0.18 MB: the factor, the data, the terms
    kept = pickle.loads(full)
    assert str(kept.model_) == str(reg.model_)  # the summary
    np.testing.assert_array_equal(kept.model_.fitted(), reg.model_.fitted())
    np.testing.assert_array_equal(kept.predict(X), reg.predict(X))


def test_pickle_size_does_not_grow_with_the_rows():
    data = load_dataset("sleepstudy")
    sizes = []
    for copies in (1, 20):
        rows = pd.concat([data] * copies, ignore_index=True)
        reg = LinearMixedRegressor(random_slopes=["days"], group_columns=["subj"]).fit(rows[["days", "subj"]],
                                                                                      rows["reaction"])
        sizes.append(len(pickle.dumps(reg)))
    assert abs(sizes[1] - sizes[0]) < 2000  # 180 or 3600 rows: the same levels, the same pickle


def test_classifier_round_trip(sites):
    X, y, g, Xg = sites
    clf = GeneralizedMixedClassifier(fast=True, group_columns=["site"]).fit(Xg, y)
    loaded = pickle.loads(pickle.dumps(clf))
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        np.testing.assert_array_equal(getattr(loaded, method)(Xg), getattr(clf, method)(Xg))
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)


def test_copies_in_memory_keep_everything(sleep_routes):
    X, y, g, _ = sleep_routes
    reg = LinearMixedRegressor(random_slopes=["days"]).fit(X, y, groups=g)
    twin = copy.deepcopy(reg)
    assert twin.model_ is not reg.model_ and str(twin.model_) == str(reg.model_)
    np.testing.assert_array_equal(twin.predict(X, groups=g), reg.predict(X, groups=g))
    assert copy.copy(reg).model_ is reg.model_


def test_unfitted_and_fixed_only_estimators_pickle(sleep_routes):
    X, y, g, _ = sleep_routes
    fresh = pickle.loads(pickle.dumps(LinearMixedRegressor(keep_model=True)))
    assert fresh.get_params()["keep_model"] is True
    ols = LinearMixedRegressor(group_columns=[]).fit(X, y)
    loaded = pickle.loads(pickle.dumps(ols))
    assert loaded.model_ is None
    np.testing.assert_array_equal(loaded.predict(X), ols.predict(X))

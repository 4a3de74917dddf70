"""The estimators with Dask: fits of Dask DataFrames and Dask predictions (dask-ml's conventions), and model
selection on a LocalCluster through joblib's Dask backend."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

dd = pytest.importorskip("dask.dataframe")
da = pytest.importorskip("dask.array")

from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, cross_validate  # noqa: E402

from sklmixed import (  # noqa: E402
    GeneralizedMixedClassifier,
    GeneralizedMixedRegressor,
    LinearMixedRegressor,
    load_dataset,  # noqa: E402
)

SLEEP = load_dataset("sleepstudy")
X, Y = SLEEP[["days", "subj"]], SLEEP["reaction"]


def _dask(frame, n=3):
    return dd.from_pandas(frame, npartitions=n)


@pytest.fixture
def threads():
    """Dask's threads for the generalized estimators: their PIRLS passes would spend ~30 ms each in the
    LocalCluster's scheduling (the out-of-core tests run one such fit on the cluster)."""
    import dask

    with dask.config.set(scheduler="threads"):
        yield


def test_regressor_fits_a_dask_dataframe_as_a_pandas_one(dask_client):
    est = LinearMixedRegressor(random_slopes=["days"], group_columns=["subj"], ftol_rel=1e-15, ftol_abs=0.0,
                               xtol_abs=1e-12)
    ooc = est.fit(_dask(X), _dask(Y))
    mem = LinearMixedRegressor(**ooc.get_params()).fit(X, Y)
    np.testing.assert_allclose(ooc.theta_, mem.theta_, atol=1e-6)  # θ is about 1 (its unit)
    np.testing.assert_allclose(ooc.coef_, mem.coef_, rtol=1e-6)
    assert ooc.objective_ == pytest.approx(mem.objective_, rel=1e-9)
    assert list(ooc.coef_names_) == list(mem.coef_names_) and ooc.n_features_in_ == 2
    pred = ooc.predict(_dask(X))
    assert isinstance(pred, da.Array)
    np.testing.assert_allclose(pred.compute(), mem.predict(X), rtol=1e-6)
    np.testing.assert_allclose(ooc.predict(X), mem.predict(X), rtol=1e-6)  # pandas in, NumPy out, as ever
    # the score of Dask collections is the score of the same estimator on pandas ones
    assert ooc.score(_dask(X), _dask(Y)) == pytest.approx(ooc.score(X, Y), rel=1e-12)
    assert ooc.score(X, Y) == pytest.approx(mem.score(X, Y), rel=1e-6)
    assert type(ooc.model_).__name__ == "PartitionedLinearMixedModel"
    again = pickle.loads(pickle.dumps(ooc))
    np.testing.assert_array_equal(again.predict(X), ooc.predict(X))


def test_classifier_labels_probabilities_and_categorical_columns(threads):
    vb = load_dataset("verbagg")
    Xv, yv = vb[["anger", "gender", "btype", "subj", "item"]], vb["r2"]
    est = GeneralizedMixedClassifier(fast=True, group_columns=["subj", "item"])
    ooc = est.fit(_dask(Xv, 4), _dask(yv, 4))
    mem = GeneralizedMixedClassifier(**ooc.get_params()).fit(Xv, yv)
    assert list(ooc.classes_) == list(mem.classes_) == ["N", "Y"]
    assert list(ooc.coef_names_) == list(mem.coef_names_)
    np.testing.assert_allclose(ooc.fixed_effects_, mem.fixed_effects_, rtol=1e-4, atol=1e-5)
    assert not hasattr(ooc, "coef_") and not hasattr(mem, "coef_")  # btype: three levels, two coefficients
    proba = ooc.predict_proba(_dask(Xv, 4))
    assert isinstance(proba, da.Array) and proba.shape[1] == 2
    np.testing.assert_allclose(proba.compute(), mem.predict_proba(Xv), atol=1e-5)
    labels = ooc.predict(_dask(Xv, 4)).compute()
    assert (labels == mem.predict(Xv)).mean() > 0.999
    assert ooc.score(_dask(Xv, 4), _dask(yv, 4)) == pytest.approx(ooc.score(Xv, yv), rel=1e-12)


def test_poisson_regressor_deviance_explained(threads):
    rng = np.random.default_rng(3)
    data = SLEEP.assign(count=rng.poisson(np.exp(1 + 0.1 * SLEEP["days"])))
    Xp, yp = data[["days", "subj"]], data["count"]
    ooc = GeneralizedMixedRegressor(family="poisson", fast=True, group_columns=["subj"]).fit(_dask(Xp), _dask(yp))
    mem = GeneralizedMixedRegressor(family="poisson", fast=True, group_columns=["subj"]).fit(Xp, yp)
    assert ooc.score(_dask(Xp), _dask(yp)) == pytest.approx(ooc.score(Xp, yp), rel=1e-12)
    assert ooc.score(Xp, yp) == pytest.approx(mem.score(Xp, yp), rel=1e-6)


def test_dask_routes_refused_clearly(dask_client):
    with pytest.raises(ValueError, match="takes its grouping factors from X"):
        LinearMixedRegressor().fit(_dask(X[["days"]]), _dask(Y), groups=SLEEP["subj"])
    with pytest.raises(ValueError, match="group_columns"):
        LinearMixedRegressor().fit(_dask(X), _dask(Y))
    with pytest.raises(TypeError, match="Dask Series"):
        LinearMixedRegressor(group_columns=["subj"]).fit(_dask(X), Y.to_numpy())
    with pytest.raises(ValueError, match="class_weight"):
        GeneralizedMixedClassifier(group_columns=["subj"], class_weight="balanced").fit(_dask(X), _dask(Y > 300))
    fitted = LinearMixedRegressor(group_columns=["subj"]).fit(X, Y)
    with pytest.raises(ValueError, match="do not pass groups"):
        fitted.predict(_dask(X), groups=SLEEP["subj"])


def test_model_selection_on_the_cluster_through_joblib(dask_client):
    """cross_validate and GridSearchCV over optimizer settings with joblib's Dask backend give the
    results of a run in this process."""
    import joblib

    est = LinearMixedRegressor(random_slopes=["days"], group_columns=["subj"], new_levels="population")
    grid = {"optimizer": ["LN_BOBYQA", "LN_SBPLX"], "ftol_rel": [1e-6, 1e-10]}
    cv = KFold(3, shuffle=True, random_state=0)
    local_cv = cross_validate(est, X, Y, cv=GroupKFold(3), groups=SLEEP["subj"], n_jobs=1)
    local_grid = GridSearchCV(est, grid, cv=cv, n_jobs=1).fit(X, Y)
    with joblib.parallel_backend("dask"):
        remote_cv = cross_validate(est, X, Y, cv=GroupKFold(3), groups=SLEEP["subj"], n_jobs=-1)
        remote_grid = GridSearchCV(est, grid, cv=cv, n_jobs=-1).fit(X, Y)
    np.testing.assert_array_equal(remote_cv["test_score"], local_cv["test_score"])
    np.testing.assert_array_equal(remote_grid.cv_results_["mean_test_score"], local_grid.cv_results_["mean_test_score"])
    assert remote_grid.best_params_ == local_grid.best_params_
    assert len(dask_client.scheduler_info()["workers"]) == 2

"""Determinism and persistence: the same fit twice is bit-identical, pickled models predict alike,
and fitting never changes the caller's data."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone

from sklmixed import (
    GeneralizedLinearMixedModel,
    GeneralizedMixedClassifier,
    GeneralizedMixedRegressor,
    LinearMixedModel,
    LinearMixedRegressor,
)

# the estimators are asked for population-level predictions (groups=None) on purpose here
pytestmark = pytest.mark.filterwarnings("ignore::sklmixed.exceptions.PopulationPredictionWarning")


@pytest.fixture(scope="module")
def glmm_data():
    rng = np.random.default_rng(17)
    g = np.repeat(np.arange(30), 10)
    h = np.tile(np.arange(10), 30)
    x = rng.normal(size=g.size)
    eta = 0.1 + 0.6 * x + rng.normal(0, 0.8, 30)[g] + rng.normal(0, 0.3, 30)[g] * x + rng.normal(0, 0.4, 10)[h]
    d = pd.DataFrame({"g": pd.Categorical([f"g{v:02d}" for v in g]), "h": h, "x": x,
                      "kind": np.where(rng.random(g.size) < 0.5, "a", "b")})
    d["y"] = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    d["c"] = rng.poisson(np.exp(eta))
    d["n"] = rng.integers(1, 6, g.size)
    d["p"] = rng.binomial(d["n"], 1 / (1 + np.exp(-eta))) / d["n"]
    return d


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


LMM_CASES = [
    ("sleepstudy", "reaction ~ 1 + days + (1 + days|subj)", {}),
    ("sleepstudy", "reaction ~ 1 + days + (1 + days||subj)", {"reml": True}),
    ("penicillin", "diameter ~ 1 + (1|plate) + (1|sample)", {}),
    ("pastes", "strength ~ 1 + (1|batch/cask)", {}),
]


def _same_lmm(a, b):
    assert a.objective == b.objective
    assert_array_equal(a.theta, b.theta)
    assert_array_equal(a.beta, b.beta)
    assert a.sigma == b.sigma
    assert_array_equal(a.fitted(), b.fitted())
    for k in a.ranef():
        pd.testing.assert_frame_equal(a.ranef()[k], b.ranef()[k], check_exact=True)
    assert a.optsum.feval == b.optsum.feval
    assert a.optsum.returnvalue == b.optsum.returnvalue


# ---------------------------------------------------------------------- the same fit twice
@pytest.mark.parametrize("dataset, formula, kw", LMM_CASES)
def test_lmm_fit_twice_is_bit_identical(request, dataset, formula, kw):
    data = request.getfixturevalue(dataset)
    a = LinearMixedModel(formula, data).fit(progress=False, fitlog=True, **kw)
    b = LinearMixedModel(formula, data).fit(progress=False, fitlog=True, **kw)
    _same_lmm(a, b)
    for (xa, fa), (xb, fb) in zip(a.optsum.fitlog, b.optsum.fitlog):
        assert_array_equal(xa, xb)
        assert fa == fb


def test_weighted_lmm_fit_twice_is_bit_identical(sleepstudy):
    w = np.random.default_rng(0).uniform(0.5, 2, len(sleepstudy))
    f = "reaction ~ 1 + days + (1 + days|subj)"
    _same_lmm(LinearMixedModel(f, sleepstudy, weights=w).fit(progress=False),
              LinearMixedModel(f, sleepstudy, weights=w.copy()).fit(progress=False))


@pytest.mark.parametrize("formula, kw, fit_kw", [
    ("y ~ 1 + x + (1 + x|g) + (1|h)", {}, {"fast": True}),
    ("y ~ 1 + x + kind + (1|g)", {}, {"fast": False}),
    ("y ~ 1 + x + (1|g)", {}, {"nagq": 7}),
    ("c ~ 1 + x + (1|g) + (1|h)", {"family": "poisson"}, {}),
    ("p ~ 1 + x + (1|g)", {"family": "binomial", "weights": "n", "link": "probit"}, {}),
])
def test_glmm_fit_twice_is_bit_identical(glmm_data, formula, kw, fit_kw):
    a, b = (_quiet(lambda: GeneralizedLinearMixedModel(formula, glmm_data, **kw).fit(progress=False, **fit_kw))
            for _ in range(2))
    assert a.objective == b.objective
    assert_array_equal(a.theta, b.theta)
    assert_array_equal(a.beta, b.beta)
    assert_array_equal(a.fitted(), b.fitted())
    for ua, ub in zip(a.u, b.u):
        assert_array_equal(ua, ub)
    assert a.optsum.feval == b.optsum.feval


def _estimators():
    return [
        (LinearMixedRegressor(random_slopes=["x"]), "c"),
        (GeneralizedMixedClassifier(), "y"),
        (GeneralizedMixedClassifier(fast=True, random_slopes=["x"]), "y"),
        (GeneralizedMixedRegressor(), "c"),
        (GeneralizedMixedRegressor(family="binomial", link="cloglog"), "p"),
    ]


def _estimator_fit(est, data, response):
    sw = data["n"].to_numpy(float) if response == "p" else None
    return _quiet(lambda: est.fit(data[["x", "kind"]], data[response], groups=data[["g", "h"]], sample_weight=sw))


def _same_estimator(a, b, data):
    for attr in ("beta_", "coef_", "theta_", "intercept_"):
        assert_array_equal(getattr(a, attr), getattr(b, attr))
    for k in a.ranef_:
        pd.testing.assert_frame_equal(a.ranef_[k], b.ranef_[k], check_exact=True)
    X, groups = data[["x", "kind"]], data[["g", "h"]]
    assert_array_equal(a.predict(X, groups=groups), b.predict(X, groups=groups))
    assert_array_equal(a.predict(X), b.predict(X))
    if hasattr(a, "predict_proba"):
        assert_array_equal(a.predict_proba(X, groups=groups), b.predict_proba(X, groups=groups))


@pytest.mark.parametrize("index", range(5))
def test_estimator_fit_twice_is_bit_identical(glmm_data, index):
    est, response = _estimators()[index]
    a = _estimator_fit(clone(est), glmm_data, response)
    b = _estimator_fit(clone(est), glmm_data, response)
    _same_estimator(a, b, glmm_data)
    # refitting the same estimator object gives the same again
    _same_estimator(_estimator_fit(a, glmm_data, response), b, glmm_data)


# ---------------------------------------------------------------------- pickling
@pytest.mark.parametrize("dataset, formula, kw", LMM_CASES)
def test_lmm_pickle_round_trip(request, dataset, formula, kw):
    data = request.getfixturevalue(dataset)
    m = LinearMixedModel(formula, data).fit(progress=False, **kw)
    clone_ = pickle.loads(pickle.dumps(m))
    _same_lmm(m, clone_)
    assert_array_equal(clone_.predict(data), m.predict(data))
    assert str(clone_) == str(m)
    # the loaded model still works: evaluate, refit
    theta = m.theta.copy()
    assert clone_.objective_at(theta) == m.objective_at(theta)
    fresh = pickle.loads(pickle.dumps(LinearMixedModel(formula, data)))
    _same_lmm(fresh.fit(progress=False, **kw), m)
    assert clone_.refit(progress=False).objective == m.objective


@pytest.mark.parametrize("fit_kw", [{"fast": True}, {"fast": False}, {"nagq": 5}])
def test_glmm_pickle_round_trip(glmm_data, fit_kw):
    m = _quiet(lambda: GeneralizedLinearMixedModel("y ~ 1 + x + kind + (1|g)", glmm_data).fit(progress=False, **fit_kw))
    clone_ = pickle.loads(pickle.dumps(m))
    assert clone_.objective == m.objective
    for kind in ("response", "link"):
        assert_array_equal(clone_.predict(glmm_data, type=kind), m.predict(glmm_data, type=kind))
    new = glmm_data.iloc[:20].assign(g=pd.Categorical(["unseen"] * 20))
    assert_array_equal(clone_.predict(new), m.predict(new))
    assert str(clone_) == str(m)
    refit = _quiet(lambda: clone_.refit(progress=False))
    assert refit.objective == m.objective


@pytest.mark.parametrize("index", range(5))
def test_estimator_pickle_round_trip(glmm_data, index):
    est, response = _estimators()[index]
    fitted = _estimator_fit(clone(est), glmm_data, response)
    loaded = pickle.loads(pickle.dumps(fitted))
    _same_estimator(fitted, loaded, glmm_data)
    assert loaded.get_params() == fitted.get_params()


def test_group_columns_estimator_pickle_round_trip(sleepstudy):
    X = sleepstudy[["days", "subj"]]
    reg = LinearMixedRegressor(random_slopes=["days"], group_columns=["subj"]).fit(X, sleepstudy["reaction"])
    loaded = pickle.loads(pickle.dumps(reg))
    assert_array_equal(loaded.predict(X), reg.predict(X))
    assert loaded.score(X, sleepstudy["reaction"]) == reg.score(X, sleepstudy["reaction"])


# ---------------------------------------------------------------------- the caller's data is left alone
def _snapshot(frame):
    return frame.copy(deep=True), list(frame.dtypes), frame.index.copy()


def _unchanged(frame, snap):
    before, dtypes, index = snap
    pd.testing.assert_frame_equal(frame, before, check_exact=True)
    assert list(frame.dtypes) == dtypes
    pd.testing.assert_index_equal(frame.index, index)
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            assert list(frame[col].cat.categories) == list(before[col].cat.categories)


def _read_only(*arrays):
    out = []
    for a in arrays:
        a = np.array(a, copy=True)
        a.flags.writeable = False
        out.append(a)
    return out


def test_formula_interface_leaves_data_alone(glmm_data):
    data = glmm_data.copy()
    data.index = np.random.default_rng(1).permutation(len(data)) + 1000  # not a RangeIndex
    data.loc[data.index[3], "x"] = np.nan
    data["o"] = np.linspace(-0.1, 0.1, len(data))
    snap = _snapshot(data)
    w, off = _read_only(np.linspace(0.5, 2.0, len(data)), np.linspace(-0.2, 0.2, len(data)))
    lmm = _quiet(lambda: LinearMixedModel("x ~ 1 + kind + (1|g)", data.assign(x=data["x"].fillna(0)), weights=w,
                                          contrasts={"kind": "sum"}).fit(progress=False))
    lmm.predict(data.fillna(0))
    _quiet(lambda: lmm.refit(lmm.y + 1, progress=False))  # θ = 0: BOBYQA may end ROUNDOFF_LIMITED there
    glmm = _quiet(lambda: GeneralizedLinearMixedModel("c ~ 1 + x + kind + (1|g)", data, family="poisson", offset=off,
                                                      missing="drop").fit(progress=False))
    glmm.predict(data.dropna(), offset=off[:len(data.dropna())])
    _quiet(lambda: GeneralizedLinearMixedModel("p ~ 1 + x + (1|g)", data, family="binomial", weights="n",
                                               offset="o", missing="drop").fit(fast=True, progress=False))
    _unchanged(data, snap)
    assert not w.flags.writeable and not off.flags.writeable


def test_estimators_leave_data_alone(glmm_data):
    X = glmm_data[["x", "kind"]].copy()
    y, c = glmm_data["y"].copy(), glmm_data["c"].copy()
    groups = glmm_data[["g", "h"]].copy()
    sw = pd.Series(np.linspace(0.5, 2.0, len(X)), index=X.index)
    snaps = [_snapshot(f) for f in (X, groups, y.to_frame(), c.to_frame(), sw.to_frame())]
    for est, target in ((LinearMixedRegressor(random_slopes=["x"]), c.astype(float)), (GeneralizedMixedClassifier(), y),
                        (GeneralizedMixedRegressor(), c)):
        _quiet(lambda: est.fit(X, target, groups=groups, sample_weight=sw))
        est.predict(X, groups=groups), est.predict(X), est.score(X, target, groups=groups)
    for frame, snap in zip((X, groups, y.to_frame(), c.to_frame(), sw.to_frame()), snaps):
        _unchanged(frame, snap)


def test_estimators_leave_numpy_arrays_alone(glmm_data):
    X, y, c, g, sw = _read_only(glmm_data[["x", "h"]].to_numpy(float), glmm_data["y"].to_numpy(),
                                glmm_data["c"].to_numpy(float), glmm_data["g"].astype(str).to_numpy(),
                                np.linspace(0.5, 2.0, len(glmm_data)))
    copies = [a.copy() for a in (X, y, c, g, sw)]
    Xg = _read_only(np.column_stack([glmm_data["x"], glmm_data["g"].cat.codes]))[0]
    Xg_copy = Xg.copy()
    for est, target in ((LinearMixedRegressor(random_slopes=[0]), c), (GeneralizedMixedClassifier(), y),
                        (GeneralizedMixedRegressor(), c)):
        # read-only inputs: an attempt to write into them would raise
        _quiet(lambda: est.fit(X, target, groups=g, sample_weight=sw))
        est.predict(X, groups=g)
        _quiet(lambda: clone(est).set_params(group_columns=[1]).fit(Xg, target, sample_weight=sw)).predict(Xg)
    for a, b in zip((X, y, c, g, sw), copies):
        assert_array_equal(a, b)
    assert_array_equal(Xg, Xg_copy)

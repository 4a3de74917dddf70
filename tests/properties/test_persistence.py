"""Safe persistence: a fitted model saved with any pickle protocol or joblib computes as the original.

Protocol 5 (and joblib, which uses it) rebuilds arrays over the pickle's own buffer; the
dense tail of the factor is then no longer an array whose blocks are views of it, and the
assembly of ``A`` wrote into copies (objectives off by hundreds, PosDefError on refits).
Protocols 0 and 1 cannot pickle formulaic's specs (classes with ``__slots__``).
"""

from __future__ import annotations

import io
import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from sklmixed import (
    GeneralizedLinearMixedModel,
    GeneralizedMixedClassifier,
    GeneralizedMixedRegressor,
    LinearMixedModel,
    LinearMixedRegressor,
)

HOW = [*range(pickle.HIGHEST_PROTOCOL + 1), "joblib"]


def _round_trip(obj, how):
    if how == "joblib":
        buf = io.BytesIO()
        joblib.dump(obj, buf)
        buf.seek(0)
        return joblib.load(buf)
    return pickle.loads(pickle.dumps(obj, protocol=how))


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


@pytest.fixture(scope="module")
def crossed():
    """Crossed factors with a dense tail (as insteval's), a categorical fixed effect (a formulaic spec)."""
    rng = np.random.default_rng(3)
    n = 400
    g, h = rng.integers(0, 40, n), rng.integers(0, 12, n)
    d = pd.DataFrame({"g": pd.Categorical(g), "h": pd.Categorical(h), "x": rng.normal(size=n),
                      "kind": np.where(rng.random(n) < 0.4, "a", "b"), "w": rng.uniform(0.5, 2.0, n)})
    eta = 0.3 * d["x"] + rng.normal(0, 0.7, 40)[g] + rng.normal(0, 0.5, 12)[h] + (d["kind"] == "a")
    d["y"] = 3 + eta + rng.normal(size=n)
    d["b"] = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    return d


def _lmm(data, reml=False):
    m = LinearMixedModel("y ~ 1 + x + kind + (1|g) + (1|h)", data, weights="w").fit(progress=False, reml=reml)
    assert m._factor.tail is not None  # the case that broke
    return m


@pytest.fixture(scope="module")
def lmm(crossed):
    return _lmm(crossed)


@pytest.mark.parametrize("how", HOW)
def test_lmm_round_trip_computes_as_the_original(lmm, crossed, how):
    clone = _round_trip(lmm, how)
    assert str(clone) == str(lmm)
    assert_array_equal(clone.predict(crossed), lmm.predict(crossed))
    theta = lmm.theta * 1.3 + 0.05  # away from the optimum: A and L are recomputed, not reused
    assert clone.objective_at(theta) == _lmm(crossed).objective_at(theta)
    fresh = _lmm(crossed)
    refit = clone.refit(progress=False)
    assert refit.objective == fresh.objective
    assert_array_equal(refit.theta, fresh.theta)
    assert_array_equal(refit.beta, fresh.beta)
    # a new response goes through the assembly of A's rows too
    y2 = crossed["y"].to_numpy() * 2 + 1
    assert (_round_trip(lmm, how).refit(y2, progress=False).objective
            == _lmm(crossed).refit(y2, progress=False).objective)


@pytest.mark.parametrize("how", HOW)
def test_lmm_round_trip_before_fitting(crossed, how):
    clone = _round_trip(LinearMixedModel("y ~ 1 + x + kind + (1|g) + (1|h)", crossed, weights="w"), how)
    assert clone.fit(progress=False).objective == _lmm(crossed).objective


def _glmm(data, fit_kw):
    bars = "(1|g)" if "nagq" in fit_kw else "(1|g) + (1|h)"
    m = GeneralizedLinearMixedModel(f"b ~ 1 + x + kind + {bars}", data, family="bernoulli")
    return _quiet(lambda: m.fit(progress=False, **fit_kw))


@pytest.mark.parametrize("fit_kw", [{"fast": True}, {"fast": False}, {"nagq": 5}], ids=["fast", "full", "agq"])
def test_glmm_round_trip_computes_as_the_original(crossed, fit_kw):
    m = _glmm(crossed, fit_kw)
    fresh_refit = _quiet(lambda: _glmm(crossed, fit_kw).refit(progress=False))
    for how in HOW:
        clone = _round_trip(m, how)
        assert str(clone) == str(m), how
        for kind in ("response", "link"):
            assert_array_equal(clone.predict(crossed, type=kind), m.predict(crossed, type=kind))
        theta = m.theta * 1.2 + 0.05
        expected = _glmm(crossed, fit_kw).objective_at(theta, nagq=m.optsum.nagq)
        assert clone.objective_at(theta, nagq=m.optsum.nagq) == expected, how
        refit = _quiet(lambda: _round_trip(m, how).refit(progress=False))  # noqa: B023
        assert refit.objective == fresh_refit.objective, how
        assert_array_equal(refit.beta, fresh_refit.beta)


def _estimators():
    return [
        (LinearMixedRegressor(random_slopes=["x"]), "y"),
        (GeneralizedMixedClassifier(), "b"),
        (GeneralizedMixedClassifier(fast=True), "b"),
        (GeneralizedMixedRegressor(family="poisson"), "b"),
    ]


@pytest.mark.parametrize("index", range(len(_estimators())))
def test_estimator_round_trip_computes_as_the_original(crossed, index):
    est, response = _estimators()[index]
    X, groups, y = crossed[["x", "kind"]], crossed[["g", "h"]], crossed[response]
    fitted = _quiet(lambda: est.fit(X, y, groups=groups))
    for how in HOW:
        loaded = _round_trip(fitted, how)
        assert loaded.get_params() == fitted.get_params()
        assert_array_equal(loaded.predict(X, groups=groups), fitted.predict(X, groups=groups))
        assert loaded.score(X, y, groups=groups) == fitted.score(X, y, groups=groups)
        assert_array_equal(loaded.theta_, fitted.theta_)
        # the loaded estimator fits again exactly as a fresh one
        again = _quiet(lambda: loaded.fit(X, y, groups=groups))  # noqa: B023
        assert_array_equal(again.predict(X, groups=groups), fitted.predict(X, groups=groups))

"""Degenerate designs: a sound answer (or a clear error) rather than a crash, a hang or a wrong number.

Rank-deficient X, constant responses, one observation per level, a single level, fits on
the boundary, separation, covariates on huge and tiny scales, nearly collinear random
slopes, and optimisations cut short by ``maxfeval``/``maxtime``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from sklmixed import (
    ConvergenceWarning,
    GeneralizedLinearMixedModel,
    GeneralizedMixedClassifier,
    GeneralizedMixedRegressor,
    LinearMixedModel,
    LinearMixedRegressor,
    RankDeficiencyWarning,
)
from sklmixed.exceptions import SeparationWarning

import _designs

GLMM = GeneralizedLinearMixedModel
LMM = LinearMixedModel


def _fit(model, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficiencyWarning)
        return model.fit(progress=False, **kw)


@pytest.fixture(scope="module")
def binary():
    """Bernoulli and Poisson responses with a random intercept (sd 0.8) over 25 groups of 12."""
    rng = np.random.default_rng(42)
    g = np.repeat(np.arange(25), 12)
    x = rng.normal(size=g.size)
    b = rng.normal(0, 0.8, 25)[g]
    d = pd.DataFrame({"g": [f"g{v:02d}" for v in g], "x": x, "z": rng.normal(size=g.size)})
    d["y"] = rng.binomial(1, 1 / (1 + np.exp(-(0.2 + 0.7 * x + b))))
    d["c"] = rng.poisson(np.exp(0.3 + 0.4 * x + b))
    return d


# ---------------------------------------------------------------------- rank-deficient X
@pytest.mark.parametrize("name", ["scalar", "vector2", "crossed2", "nested2"])
def test_rank_deficient_lmm_equals_reduced_model(name):
    data, formula = _designs.make(name, seed=1)
    data = data.assign(x2=2 * data["x"] - 3, x3=data["x"] + data["z"], zz=data["z"])
    full = formula.replace("y ~ 1 + x", "y ~ 1 + x + x2 + z + x3 + zz")
    reduced = formula.replace("y ~ 1 + x", "y ~ 1 + x + z")
    with pytest.warns(RankDeficiencyWarning, match=r"dropped 3 column\(s\) \['x2', 'x3', 'zz'\]"):
        m1 = LMM(full, data)
    m2 = LMM(reduced, data)
    assert m1.feterm.kept_names == m2.feterm.kept_names
    rng = np.random.default_rng(0)
    for _ in range(3):
        theta = _designs.random_theta(m2, rng)
        assert m1.objective_at(theta) == pytest.approx(m2.objective_at(theta), rel=1e-12)
        assert m1.objective_at(theta, reml=True) == pytest.approx(m2.objective_at(theta, reml=True), rel=1e-12)
    _fit(m1), _fit(m2)
    assert m1.objective == pytest.approx(m2.objective, rel=1e-12)
    coef = m1.coef()
    assert coef[["x2", "x3", "zz"]].isna().all()
    assert_allclose(coef[m2.feterm.kept_names], m2.beta, rtol=1e-9)
    assert m1.dof == m2.dof


def test_aliased_categorical_levels_are_dropped(binary):
    """A dummy equal to another column: the later one goes, the deviance is the reduced model's."""
    d = binary.assign(kind=np.where(binary["x"] > 0, "pos", "neg"), pos=(binary["x"] > 0).astype(float))
    with pytest.warns(RankDeficiencyWarning, match="pos"):
        m1 = LMM("z ~ 1 + kind + pos + (1|g)", d)
    m2 = LMM("z ~ 1 + kind + (1|g)", d)
    for theta in ([0.0], [0.4], [1.3]):
        assert m1.objective_at(theta) == pytest.approx(m2.objective_at(theta), rel=1e-12)


@pytest.mark.parametrize("family, response", [("bernoulli", "y"), ("poisson", "c")])
@pytest.mark.parametrize("fast", [True, False])
def test_rank_deficient_glmm_equals_reduced_model(binary, family, response, fast):
    d = binary.assign(x2=-0.5 * binary["x"], x3=binary["x"] - binary["z"])
    with pytest.warns(RankDeficiencyWarning, match=r"\['x2', 'x3'\]"):
        m1 = GLMM(f"{response} ~ 1 + x + x2 + z + x3 + (1|g)", d, family=family)
    m2 = GLMM(f"{response} ~ 1 + x + z + (1|g)", d, family=family)
    for theta, beta in (([0.5], [0.1, 0.4, 0.0]), ([1.2], [-0.2, 0.7, 0.3])):
        assert m1.objective_at(theta, beta) == pytest.approx(m2.objective_at(theta, beta), rel=1e-12)
    _fit(m1, fast=fast), _fit(m2, fast=fast)
    assert m1.objective == pytest.approx(m2.objective, rel=1e-9)
    assert_allclose(m1.coef()[["(Intercept)", "x", "z"]], m2.beta, rtol=1e-5, atol=1e-6)
    assert np.isnan(m1.coef()["x2"]) and np.isnan(m1.stderror()["x3"])


def test_rank_deficient_estimators(binary):
    X = binary[["x", "z"]].assign(x2=lambda d: 3 * d["x"])
    X2 = binary[["x", "z"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficiencyWarning)
        clf = GeneralizedMixedClassifier().fit(X, binary["y"], groups=binary["g"])
    ref = GeneralizedMixedClassifier().fit(X2, binary["y"], groups=binary["g"])
    assert clf.model_.deviance == pytest.approx(ref.model_.deviance, rel=1e-9)
    assert clf.coef_[2] == 0.0
    assert_allclose(clf.predict_proba(X, groups=binary["g"]), ref.predict_proba(X2, groups=binary["g"]), rtol=1e-6)


# ---------------------------------------------------------------------- constant and exactly fitted responses
def test_constant_response_glmm_families(binary):
    for family, value, extra in (("bernoulli", 1, {}), ("poisson", 3, {}), ("binomial", 0.5, {"weights": "n"})):
        d = binary.assign(r=value, n=2)
        with pytest.raises(ValueError, match=rf"the response 'r' is constant \(every value is {value:g}\)"):
            GLMM("r ~ 1 + x + (1|g)", d, family=family, **extra)


def test_constant_response_without_intercept_is_fitted(binary):
    """Without an intercept a constant count is not fitted exactly by the fixed effects: a proper fit."""
    m = _fit(GLMM("r ~ 0 + x + (1|g)", binary.assign(r=2), family="poisson"), fast=True)
    assert np.isfinite(m.objective)


def test_response_exactly_linear_in_the_fixed_effects(binary):
    with pytest.raises(ValueError, match="fit the response 'r' exactly"):
        LMM("r ~ 1 + x + z + (1|g)", binary.assign(r=1 + 2 * binary["x"] - binary["z"])).fit(progress=False)
    # the same with weights
    w = np.random.default_rng(0).uniform(0.5, 2, len(binary))
    with pytest.raises(ValueError, match="exactly"):
        LMM("r ~ 1 + x + (1|g)", binary.assign(r=3 - binary["x"]), weights=w).fit(progress=False)
    # a response that is only nearly linear is fine
    r = 1 + 2 * binary["x"] + 1e-3 * np.random.default_rng(1).normal(size=len(binary))
    m = _fit(LMM("r ~ 1 + x + (1|g)", binary.assign(r=r)))
    assert m.sigma == pytest.approx(1e-3, rel=0.2)


# ---------------------------------------------------------------------- one observation per level
def test_one_observation_per_level_lmm_is_an_error_but_the_objective_is_available(binary):
    d = binary.assign(obs=np.arange(len(binary)))
    m = LMM("z ~ 1 + x + (1|obs)", d)
    # the deviance is defined for every θ, and flat along the ridge σ²(1 + θ²) = const
    assert np.isfinite(m.objective_at([0.5]))
    with pytest.raises(ValueError, match=r"the grouping factor 'obs' has 300 levels for 300 observations"):
        m.fit(progress=False)
    # the same when only one of several factors has a level per observation, and with weights
    with pytest.raises(ValueError, match="'obs' has 300 levels"):
        LMM("z ~ 1 + x + (1|g) + (1|obs)", d, weights=np.linspace(1, 2, 300)).fit(progress=False)


def test_one_observation_per_nested_cell_lmm_is_an_error():
    a = np.repeat(np.arange(10), 4)
    b = np.tile(np.arange(4), 10)
    d = pd.DataFrame({"a": a, "b": b, "y": np.random.default_rng(0).normal(size=40)})
    with pytest.raises(ValueError, match=r"the grouping factor 'a:b' has 40 levels for 40 observations"):
        LMM("y ~ 1 + (1|a/b)", d).fit(progress=False)
    # two observations per cell are fine
    d2 = pd.concat([d, d.assign(y=d["y"] + 1)], ignore_index=True)
    assert np.isfinite(_fit(LMM("y ~ 1 + (1|a/b)", d2)).objective)


def test_observation_level_random_effect_glmm_is_fitted(binary):
    """For a GLMM an observation-level effect is identifiable: the standard model of overdispersion."""
    rng = np.random.default_rng(5)
    d = binary.assign(obs=np.arange(len(binary)))
    d["c"] = rng.poisson(np.exp(0.5 + 0.3 * d["x"] + rng.normal(0, 0.7, len(d))))
    m = _fit(GLMM("c ~ 1 + x + (1|obs)", d, family="poisson"))
    assert m.theta[0] == pytest.approx(0.7, abs=0.25)
    assert not m.issingular()
    mb = _fit(GLMM("y ~ 1 + x + (1|obs)", d))  # Bernoulli: not informative, but no crash
    assert np.isfinite(mb.objective) and np.all(np.isfinite(mb.theta))


# ---------------------------------------------------------------------- a single level
@pytest.mark.parametrize("formula", ["z ~ 1 + x + (1|one)", "z ~ 1 + x + (1 + x|one)"])
def test_single_group_lmm(binary, formula):
    d = binary.assign(one="only")
    m = _fit(LMM(formula, d))
    assert np.isfinite(m.objective) and np.all(np.isfinite(m.theta))
    # a single level cannot be told from the fixed effects: the fit is theirs
    ols = np.linalg.lstsq(m.feterm.X, m.y, rcond=None)[0]
    assert_allclose(m.fitted(), m.feterm.X @ ols, rtol=1e-5, atol=1e-5)
    assert np.all(np.isfinite(m.predict(d)))
    m.var_components(), str(m)


@pytest.mark.parametrize("family, response", [("bernoulli", "y"), ("poisson", "c")])
def test_single_group_glmm(binary, family, response):
    d = binary.assign(one="only")
    for fast in (True, False):
        m = _fit(GLMM(f"{response} ~ 1 + x + (1|one)", d, family=family), fast=fast)
        assert np.isfinite(m.objective) and np.all(np.isfinite(m.predict(d)))


# ---------------------------------------------------------------------- singular fits
def test_singular_fits_are_reported():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(20), 10)
    x = rng.normal(size=g.size)
    d = pd.DataFrame({"g": g, "x": x, "y": 1 + x + rng.normal(size=g.size)})  # no group effect
    m = _fit(LMM("y ~ 1 + x + (1|g)", d))
    assert m.theta[0] == 0.0 and m.issingular()
    assert m.var_components().loc[0, "variance"] == 0.0
    # intercepts and slopes perfectly correlated: λ is singular, its second diagonal entry 0
    b = rng.normal(size=20)
    d2 = d.assign(y=1 + x + b[g] + 0.5 * b[g] * x + rng.normal(scale=0.3, size=g.size))
    m2 = _fit(LMM("y ~ 1 + x + (1 + x|g)", d2))
    assert m2.issingular() and m2.theta[2] == 0.0
    assert m2.var_components().loc[1, "corr_1"] == pytest.approx(1.0)
    assert "(Intercept)" in str(m2)
    # and a GLMM with no group effect
    d3 = d.assign(yb=rng.binomial(1, 0.4, g.size))
    m3 = _fit(GLMM("yb ~ 1 + (1|g)", d3))
    assert m3.issingular() == (m3.theta[0] == 0.0)
    assert m3.theta[0] < 0.3


# ---------------------------------------------------------------------- separation
@pytest.mark.filterwarnings("ignore::sklmixed.ConvergenceWarning")  # the optimiser runs into the boundary
def test_complete_separation_is_bounded_and_warned(binary):
    d = binary.assign(y=(binary["x"] > 0).astype(int))
    for fast in (True, False):
        start = time.perf_counter()
        with pytest.warns(SeparationWarning, match="fitted probabilities numerically 0 or 1"):
            m = GLMM("y ~ 1 + x + (1|g)", d).fit(fast=fast, progress=False)
        assert time.perf_counter() - start < 30
        assert np.isfinite(m.objective) and m.optsum.feval < 2000
        assert np.all(np.isfinite(m.predict(d)))


@pytest.mark.parametrize("fast", [True, False])
def test_separation_by_a_factor_level_and_by_groups(binary, fast):
    d = binary.assign(kind=np.where(binary.index % 4 == 0, "a", "b"))
    d.loc[d["kind"] == "a", "y"] = 1
    # PIRLS steps in β overshoot until the IRLS weights of the separated rows underflow and the
    # working factor is singular: such a step is halved, not an error
    with pytest.warns(SeparationWarning):
        m = GLMM("y ~ 1 + x + kind + (1|g)", d).fit(progress=False, fast=fast)
    assert np.isfinite(m.objective) and abs(m.coef()["kind[T.b]"]) > 5
    assert m.pirls_converged
    # groups whose outcomes are all 1: the random intercepts absorb them, a proper fit
    d2 = binary.assign(y=np.where(binary["g"] < "g05", 1, binary["y"]))
    m2 = _fit(GLMM("y ~ 1 + x + (1|g)", d2))
    assert np.isfinite(m2.objective) and 0 < m2.theta[0] < 5


def test_classifier_separation_warns_and_predicts(binary):
    with pytest.warns(SeparationWarning):
        clf = GeneralizedMixedClassifier().fit(binary[["x"]], binary["x"] > 0.3, groups=binary["g"])
    proba = clf.predict_proba(binary[["x"]], groups=binary["g"])
    assert np.all(np.isfinite(proba)) and np.all((proba >= 0) & (proba <= 1))
    assert clf.score(binary[["x"]], binary["x"] > 0.3, groups=binary["g"]) == 1.0


# ---------------------------------------------------------------------- scales
@pytest.mark.parametrize("factor", [1e6, 1e-6])
@pytest.mark.parametrize("family, response", [("bernoulli", "y"), ("poisson", "c")])
@pytest.mark.parametrize("fast", [True, False])
def test_glmm_fixed_effect_on_huge_and_tiny_scales(binary, factor, family, response, fast):
    m1 = _fit(GLMM(f"{response} ~ 1 + x + (1|g)", binary, family=family), fast=fast)
    m2 = _fit(GLMM(f"{response} ~ 1 + xs + (1|g)", binary.assign(xs=binary["x"] * factor), family=family), fast=fast)
    assert m2.objective == pytest.approx(m1.objective, rel=1e-6)
    assert m2.beta[1] * factor == pytest.approx(m1.beta[1], rel=1e-4)
    assert m2.beta[0] == pytest.approx(m1.beta[0], rel=1e-4, abs=1e-5)
    assert m2.theta[0] == pytest.approx(m1.theta[0], rel=1e-3, abs=1e-4)


@pytest.mark.parametrize("factor", [1e6, 1e3, 1e-3, 1e-6])
def test_lmm_random_slope_on_huge_and_tiny_scales(sleepstudy, factor):
    """θ of a slope is in the slope's units; the fit is the same in any units."""
    m1 = _fit(LMM("reaction ~ 1 + days + (1 + days|subj)", sleepstudy))
    m2 = _fit(LMM("reaction ~ 1 + xs + (1 + xs|subj)", sleepstudy.assign(xs=sleepstudy["days"] * factor)))
    assert m2.objective == pytest.approx(m1.objective, rel=1e-9)
    assert_allclose(m2.theta * [1, factor, factor], m1.theta, rtol=1e-3, atol=1e-5)
    assert m2.beta[1] * factor == pytest.approx(m1.beta[1], rel=1e-6)
    m2.refit(progress=False)
    assert m2.objective == pytest.approx(m1.objective, rel=1e-9)


@pytest.mark.parametrize("factor", [1e6, 1e-6])
@pytest.mark.parametrize("fast", [True, False])
def test_glmm_estimator_random_slope_on_huge_and_tiny_scales(binary, factor, fast):
    ref = GeneralizedMixedRegressor(random_slopes=["x"], fast=fast).fit(binary[["x"]], binary["c"], groups=binary["g"])
    Xs = binary[["x"]].assign(x=binary["x"] * factor)
    est = GeneralizedMixedRegressor(random_slopes=["x"], fast=fast).fit(Xs, binary["c"], groups=binary["g"])
    assert est.model_.objective == pytest.approx(ref.model_.objective, rel=1e-6)
    assert_allclose(est.predict(Xs, groups=binary["g"]), ref.predict(binary[["x"]], groups=binary["g"]), rtol=1e-3)


@pytest.mark.parametrize("factor", [1e6, 1e-6])
@pytest.mark.parametrize("fast", [True, False])
def test_glmm_random_slope_on_huge_and_tiny_scales(binary, factor, fast):
    m = GLMM("c ~ 1 + xs + (1 + xs|g)", binary.assign(xs=binary["x"] * factor), family="poisson")
    ref = _fit(GLMM("c ~ 1 + x + (1 + x|g)", binary, family="poisson"), fast=fast)
    assert _fit(m, fast=fast).objective == pytest.approx(ref.objective, rel=1e-6)


def test_lmm_estimator_on_huge_scale(sleepstudy):
    X = sleepstudy[["days"]]
    ref = LinearMixedRegressor(random_slopes=["days"]).fit(X, sleepstudy["reaction"], groups=sleepstudy["subj"])
    big = LinearMixedRegressor(random_slopes=["days"]).fit(X * 1e6, sleepstudy["reaction"], groups=sleepstudy["subj"])
    assert big.model_.objective == pytest.approx(ref.model_.objective, rel=1e-9)
    assert big.coef_[0] * 1e6 == pytest.approx(ref.coef_[0], rel=1e-6)
    assert_allclose(big.predict(X * 1e6, groups=sleepstudy["subj"]), ref.predict(X, groups=sleepstudy["subj"]),
                    rtol=1e-6)


# ---------------------------------------------------------------------- nearly collinear random slopes
def test_nearly_collinear_random_slopes(binary):
    rng = np.random.default_rng(9)
    g = binary["g"].str[1:].astype(int).to_numpy()
    b = rng.normal(size=25)
    d = binary.assign(x2=binary["x"] + 1e-7 * rng.normal(size=len(binary)))
    d["r"] = 1 + d["x"] + b[g] + 0.5 * b[g] * d["x"] + rng.normal(scale=0.3, size=len(d))
    start = time.perf_counter()
    m = _fit(LMM("r ~ 1 + x + (1 + x + x2|g)", d))
    assert time.perf_counter() - start < 30
    smaller = _fit(LMM("r ~ 1 + x + (1 + x|g)", d))
    # the larger model contains the smaller: its optimum is as good, to the optimiser's accuracy on
    # a ridge (the x and x2 directions are all but the same)
    assert m.objective <= smaller.objective * (1 + 1e-7)
    assert np.all(np.isfinite(m.theta)) and np.all(np.isfinite(m.predict(d)))
    m.var_components(), str(m)
    g2 = _fit(GLMM("c ~ 1 + x + (1 + x + x2|g)", d, family="poisson"), fast=True)
    assert np.isfinite(g2.objective)


# ---------------------------------------------------------------------- optimisation cut short
def test_lmm_maxtime_keeps_the_best_point(sleepstudy):
    m = LMM("reaction ~ 1 + days + (1 + days|subj)", sleepstudy)
    m.optsum.maxtime = 1e-9
    with pytest.warns(ConvergenceWarning, match="MAXTIME_REACHED"):
        m.fit(progress=False, fitlog=True)
    best_theta, best = min(m.optsum.fitlog, key=lambda entry: entry[1])
    assert m.objective == best == m.optsum.fmin
    assert_allclose(m.theta, best_theta)
    assert not m.optsum.converged


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("limit", [{"maxfeval": 7}, {"maxtime": 1e-9}])
def test_glmm_cut_short_keeps_the_best_point(binary, fast, limit):
    m = GLMM("y ~ 1 + x + (1|g)", binary)
    for key, value in limit.items():
        setattr(m.optsum, key, value)
    with pytest.warns(ConvergenceWarning, match="MAXEVAL_REACHED|MAXTIME_REACHED"):
        m.fit(fast=fast, progress=False, fitlog=True)
    best = min(f for _, f in m.optsum.fitlog)
    assert m.objective == pytest.approx(best, rel=1e-12)
    assert not m.optsum.converged
    assert np.all(np.isfinite(m.predict(binary)))


@pytest.mark.parametrize("est", [LinearMixedRegressor(maxtime=1e-9), GeneralizedMixedClassifier(maxfeval=3)])
def test_estimators_cut_short_warn_and_predict(binary, est):
    y = binary["y"] if isinstance(est, GeneralizedMixedClassifier) else binary["z"]
    with pytest.warns(ConvergenceWarning):
        est.fit(binary[["x"]], y, groups=binary["g"])
    assert not est.optsum_.converged
    assert np.all(np.isfinite(est.predict(binary[["x"]], groups=binary["g"])))

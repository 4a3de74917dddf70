"""Profiles and confidence intervals against lme4's confint(method = "profile").

Reference: ``benchmarks/peers/inference_reference.R`` (lme4 1.1-31, ML fits) and
``benchmarks/peers/reml_profile_reference.R`` (REML fits, which lme4 profiles at their ML
refit). lme4 reads its interval ends off an interpolating spline through the ζ points;
sklmixed finds them by root finding on ζ, so the two differ by lme4's interpolation error (at
most 1.7e-4 relative here, on dyestuff's lower end for the batch standard deviation, where ζ
at lme4's end is -1.95984 instead of -1.95996).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklmixed import GeneralizedLinearMixedModel, LinearMixedModel, load_dataset
from sklmixed.models.intervals import confint
from sklmixed.models.parameters import variance_parameters
from sklmixed.models.profile import profile

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "inference_reference.json").read_text())["profile"]
# lme4's profiles of REML fits (benchmarks/peers/reml_profile_reference.R): those of the ML refit
REML_REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "reml_profile_reference.json").read_text())["profile"]
MODELS = {"dyestuff": "yield ~ 1 + (1|batch)", "penicillin": "diameter ~ 1 + (1|plate) + (1|sample)",
          "sleepstudy": "reaction ~ 1 + days + (1 + days|subj)"}


def _fit(name):
    return LinearMixedModel(MODELS[name], load_dataset(name)).fit(progress=False)


def _lme4_order(ci: pd.DataFrame, p: int) -> np.ndarray:
    """lme4 lists .sig01.., .sigma, then the fixed effects; sklmixed the fixed effects first."""
    values = ci[["lower", "upper"]].to_numpy()
    return np.vstack([values[p:], values[:p]])


@pytest.mark.parametrize("name", list(MODELS))
def test_profile_intervals_match_lme4(name):
    m = _fit(name)
    ref = REFERENCE[name]
    assert m.objective == pytest.approx(ref["deviance"], abs=1e-6)
    prof = profile(m)
    ci = prof.confint(0.95)
    expected = np.column_stack([ref["lower"], ref["upper"]])
    np.testing.assert_allclose(_lme4_order(ci, m.feterm.rank), expected, rtol=1e-3)
    # ζ is 0 at the estimates and ±z at the ends of the interval
    z = 1.959963984540054
    for parameter, (lo, hi) in ci[["lower", "upper"]].iterrows():
        curve = prof._curves[parameter]
        assert curve.zeta(lo, prof._dev_hat) == pytest.approx(-z, abs=1e-5)
        assert curve.zeta(hi, prof._dev_hat) == pytest.approx(z, abs=1e-5)
    table = prof.table
    assert set(table["parameter"]) == set(ci.index)
    for _, rows in table.groupby("parameter"):  # ζ increases with the parameter
        assert np.all(np.diff(rows.sort_values("value")["zeta"].to_numpy()) > -1e-6)


def test_profile_leaves_the_model_alone_and_is_wider_at_higher_level():
    m = _fit("dyestuff")
    theta, objective = m.theta.copy(), m.objective
    prof = profile(m)
    assert np.array_equal(m.theta, theta) and m.objective == objective
    narrow, wide = prof.confint(0.8), prof.confint(0.99)
    assert np.all(wide["lower"] < narrow["lower"]) and np.all(wide["upper"] > narrow["upper"])


def test_profile_of_a_singular_fit_starts_at_zero():
    m = LinearMixedModel("yield ~ 1 + (1|batch)", load_dataset("dyestuff2")).fit(progress=False)
    assert m.theta[0] == 0
    ci = profile(m).confint()
    assert ci.loc["sd_(Intercept)|batch", "lower"] == 0.0
    assert ci.loc["sd_(Intercept)|batch", "upper"] > 0


@pytest.mark.parametrize("name", list(MODELS))
def test_profile_of_a_reml_fit_is_lme4s(name):
    reml = LinearMixedModel(MODELS[name], load_dataset(name)).fit(reml=True, progress=False)
    ref = REML_REFERENCE[name]
    assert reml.objective == pytest.approx(ref["reml_criterion"], abs=1e-6)
    theta, objective = reml.theta.copy(), reml.objective
    ci = confint(reml, method="profile")
    p = reml.feterm.rank
    for expected in (ref, ref["default"]):  # lme4's tight settings and lmer()'s defaults
        np.testing.assert_allclose(_lme4_order(ci, p), np.column_stack([expected["lower"], expected["upper"]]),
                                   rtol=1e-3)
    # the profile of the ML fit, estimates (ζ = 0) included, not the REML ones; the REML fit is left alone
    ml = _fit(name)
    pd.testing.assert_frame_equal(ci, confint(ml, method="profile"))
    first_sd = ci.index[p]  # ML shrinks the standard deviations of the random effects
    assert ci.loc[first_sd, "estimate"] == variance_parameters(ml)[first_sd] < variance_parameters(reml)[first_sd]
    assert reml.reml and np.array_equal(reml.theta, theta) and reml.objective == objective


def test_profile_refuses_glmms():
    d = pd.read_csv(Path(__file__).parents[1] / "data" / "glmm_poisson.csv")
    glmm = GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", d, family="poisson").fit(fast=True, progress=False)
    with pytest.raises(ValueError, match="linear mixed models only"):
        profile(glmm)
    with pytest.raises(ValueError, match="level"):
        profile(_fit("dyestuff")).confint(1.0)


def test_confint_methods():
    m = _fit("dyestuff")
    wald = confint(m, method="wald")
    se = m.stderror()["(Intercept)"]
    assert wald.loc["(Intercept)", "upper"] - wald.loc["(Intercept)", "estimate"] == pytest.approx(1.959964 * se)
    assert wald.loc["sigma"].isna()[["lower", "upper"]].all()
    prof = confint(m, method="profile")
    assert list(prof.index) == list(wald.index)
    boot = confint(m, method="bootstrap", n_boot=30, random_state=3, progress=False)
    assert list(boot.index) == list(wald.index) and np.all(boot["lower"] < boot["upper"])
    with pytest.raises(ValueError, match="method"):
        confint(m, method="score")

"""Tests for sklmixed.linearmixedmodel: reference fits, the MixedModels.jl targets, the API.

Targets are from ``../shared/reference/reference_fits.csv`` and section 7.3 of
``../shared/design/algorithms.md`` (MixedModels.jl v4.38 tests, re-computed with lme4).
Quantities evaluated at the optimum inherit the optimiser's ~1e-6 precision in θ, so they
are compared with a relative tolerance matched to how sensitive they are to θ.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import parse_reference_fits, reference_fits_path
from numpy.testing import assert_allclose, assert_array_equal

import sklmixed
from sklmixed import ConvergenceWarning, LinearMixedModel, RankDeficiencyWarning, load_dataset

import _dense

SLEEP_FORMULA = "reaction ~ 1 + days + (1 + days|subj)"

GAUSSIAN_IDS = [
    "dyestuff_ml", "dyestuff_reml", "dyestuff2_ml", "sleepstudy_ml", "sleepstudy_reml",
    "sleepstudy_zerocorr_ml", "penicillin_ml", "insteval_ml",
]


def _fit(formula, data, **kwargs):
    """Fit quietly; a ConvergenceWarning is an error in these tests."""
    fit_kwargs = {k: kwargs.pop(k) for k in ("reml", "fitlog", "start") if k in kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return LinearMixedModel(formula, data, **kwargs).fit(progress=False, **fit_kwargs)


@pytest.fixture(scope="module")
def reference_model(reference_fits):
    """Fitted models of the reference rows, each fit once for the module (insteval ~ seconds)."""
    cache = {}

    def get(ref_id):
        if ref_id not in cache:
            rec = reference_fits[ref_id]
            cache[ref_id] = _fit(rec["formula"], load_dataset(rec["dataset"]), reml=rec["criterion"] == "REML")
        return cache[ref_id]

    return get


@pytest.fixture(scope="module")
def fm_sleep(sleepstudy):
    return _fit(SLEEP_FORMULA, sleepstudy, fitlog=True)


@pytest.fixture(scope="module")
def fm_dyestuff(dyestuff):
    return _fit("yield ~ 1 + (1|batch)", dyestuff)


@pytest.fixture(scope="module")
def fm_penicillin(penicillin):
    # MixedModels' start: its documented estimates below are at the end of its own optimiser path
    return _fit("diameter ~ 1 + (1|plate) + (1|sample)", penicillin, start="ones")


@pytest.fixture(scope="module")
def fm_pastes(pastes):
    return _fit("strength ~ 1 + (1|batch/cask)", pastes)


# ---------------------------------------------------------------------- reference fits
def test_reference_ids_cover_every_gaussian_row():
    fits = parse_reference_fits(reference_fits_path())
    assert sorted(k for k, r in fits.items() if r["family"] == "gaussian") == sorted(GAUSSIAN_IDS)


@pytest.mark.parametrize("ref_id", GAUSSIAN_IDS)
def test_reference_fit(reference_fits, reference_model, ref_id):
    rec = reference_fits[ref_id]
    m = reference_model(ref_id)
    assert m.reml == (rec["criterion"] == "REML")
    assert m.objective == pytest.approx(rec["objective"], rel=1e-6)
    assert m.optsum.fmin == pytest.approx(m.objective, rel=1e-14)
    assert_allclose(m.theta, rec["theta"], rtol=0, atol=1e-3)
    assert_allclose(m.beta, rec["beta"], rtol=1e-4)
    assert m.sigma == pytest.approx(rec["sigma"], rel=1e-4)
    assert m.optsum.converged, m.optsum.returnvalue
    if rec["evals_reference"] is not None:
        assert m.optsum.feval == rec["evals_reference"]


# ---------------------------------------------------------------------- sleepstudy (1 + days|subj)
def test_sleepstudy_fitlog_and_optsum(fm_sleep):
    os = fm_sleep.optsum
    assert os.optimizer == "LN_BOBYQA"
    assert os.feval == 57
    assert_array_equal(os.initial_step, [0.75, 1.0, 0.75])
    assert os.returnvalue == "FTOL_REACHED"
    assert len(os.fitlog) == os.feval
    theta0, f0 = os.fitlog[0]
    assert_array_equal(theta0, [1.0, 0.0, 1.0])
    assert f0 == pytest.approx(1784.642296192471, rel=1e-9)
    assert os.finitial == f0
    theta1, f1 = os.fitlog[1]
    assert_array_equal(theta1, [1.75, 0.0, 1.0])
    assert f1 == pytest.approx(1790.1256369894638, rel=1e-9)
    assert_array_equal(os.final, fm_sleep.theta)
    assert os.fmin == min(f for _, f in os.fitlog)
    assert_allclose(fm_sleep.theta, [0.9292213195402981, 0.01816837807519162, 0.22264487477788353], atol=1e-5)
    assert fm_sleep.objective == pytest.approx(1751.9393444647046, rel=1e-10)
    table = os.fitlog_table()
    assert list(table.columns) == ["iter", "objective", "theta"] and len(table) == 57


def test_sleepstudy_estimates(fm_sleep):
    m = fm_sleep
    assert m.pwrss == pytest.approx(117889.46144025437, rel=1e-6)
    assert m._factor.logdet() == pytest.approx(73.90322, rel=1e-6)
    assert_allclose(m.beta, [251.40510484848477, 10.4672859595959], rtol=1e-10)
    assert_allclose(m.stderror().to_numpy(), [6.632257721914501, 1.5022354739749826], rtol=1e-5)
    assert m.sigma == pytest.approx(25.5918, rel=1e-5)
    assert m.loglikelihood == pytest.approx(-875.9696722323523, rel=1e-10)
    assert m.dof == 6
    assert m.vcov(corr=True).iloc[0, 1] == pytest.approx(-0.1375451788, rel=1e-5)
    assert np.linalg.cond(m.reterms[0].lambda_) == pytest.approx(4.175251, rel=1e-5)


def test_sleepstudy_variance_components(fm_sleep):
    vc = fm_sleep.var_components()
    assert list(vc["group"]) == ["subj", "subj", "Residual"]
    assert list(vc["column"][:2]) == ["(Intercept)", "days"]
    assert_allclose(vc["variance"], [565.51069, 32.68212, 654.94145], rtol=1e-6)
    assert_allclose(vc["std_dev"][:2], [23.7804686, 5.7168278], rtol=1e-6)
    assert vc["corr_1"].iloc[1] == pytest.approx(0.08, abs=0.005)


def test_sleepstudy_conditional_modes(fm_sleep):
    u = fm_sleep.ranef(uscale=True)["subj"]
    b = fm_sleep.ranef()["subj"]
    assert u.iloc[0, 0] == pytest.approx(3.0303001, rel=1e-5)
    assert b.iloc[0, 0] == pytest.approx(2.8158194, rel=1e-5)
    # b = λ u for every level
    assert_allclose(b.to_numpy(), u.to_numpy() @ fm_sleep.reterms[0].lambda_.T, rtol=1e-12)


def test_sleepstudy_condvar(fm_sleep):
    cv = fm_sleep.condvar()["subj"]
    assert cv.shape == (18, 2, 2)
    assert cv[0, 0, 0] == pytest.approx(140.96612241, rel=1e-5)
    assert cv[-1, 1, 1] == pytest.approx(5.15775022, rel=1e-5)
    assert cv[0, 1, 0] == pytest.approx(-20.60428046, rel=1e-5)
    assert cv[0, 0, 1] == cv[0, 1, 0]
    sd = np.sqrt(np.diagonal(cv[0]))
    assert_allclose(sd, [11.87291550, 2.27106808], rtol=1e-5)
    assert cv[0, 1, 0] / (sd[0] * sd[1]) == pytest.approx(-0.76413470, rel=1e-5)


def test_sleepstudy_nelder_mead_reaches_same_optimum(sleepstudy, fm_sleep):
    m = LinearMixedModel(SLEEP_FORMULA, sleepstudy)
    m.optsum.optimizer = "LN_NELDERMEAD"
    m.fit(progress=False)
    assert m.optsum.optimizer == "LN_NELDERMEAD"
    assert m.optsum.returnvalue == "FTOL_REACHED"
    assert m.objective == pytest.approx(fm_sleep.objective, rel=1e-6)
    assert_allclose(m.theta, fm_sleep.theta, atol=1e-3)
    assert "Optimizer:                LN_NELDERMEAD" in str(m.optsum)


@pytest.mark.parametrize(
    "formula, objective, theta",
    [
        ("reaction ~ 1 + days + (1|subj)", 1794.07864, [1.1656121258575225]),
        ("reaction ~ 1 + days + (0 + days|subj)", 1774.080315280528, [0.24353985679033105]),
        ("reaction ~ 1 + days + (1|subj) + (0 + days|subj)", 1752.0032551398835,
         [0.9458106880922268, 0.22692826607677266]),
    ],
)
def test_sleepstudy_other_models(sleepstudy, formula, objective, theta):
    m = _fit(formula, sleepstudy)
    assert m.objective == pytest.approx(objective, rel=1e-8)
    assert_allclose(m.theta, theta, atol=1e-5)


def test_sleepstudy_scalar_estimates(sleepstudy):
    m = _fit("reaction ~ 1 + days + (1|subj)", sleepstudy)
    assert m.sigma == pytest.approx(30.8954, rel=1e-5)
    assert m.var_components()["std_dev"].iloc[0] == pytest.approx(36.0121, rel=1e-5)
    assert_allclose(m.stderror().to_numpy(), [9.5062, 0.8017], rtol=1e-4)


def test_sleepstudy_zerocorr_estimates(sleepstudy):
    m = _fit("reaction ~ 1 + days + (1 + days||subj)", sleepstudy)
    assert_allclose(m.stderror().to_numpy(), [6.707710260, 1.519308324], rtol=1e-5)
    vc = m.var_components()
    assert_allclose(vc["std_dev"][:2], [24.171449463, 5.799379721], rtol=1e-5)
    assert m.sigma == pytest.approx(25.556130034, rel=1e-6)
    assert m._factor.logdet() == pytest.approx(74.46952586, rel=1e-6)
    assert vc["corr_1"].iloc[1] == 0.0


# ---------------------------------------------------------------------- dyestuff, dyestuff2
def test_dyestuff_objective_at_fixed_theta(dyestuff):
    m = LinearMixedModel("yield ~ 1 + (1|batch)", dyestuff)
    assert m.objective_at([0.713]) == pytest.approx(327.34216280955366, rel=1e-12)


def test_dyestuff_estimates(fm_dyestuff):
    m = fm_dyestuff
    assert m.objective == pytest.approx(327.3270598811428, rel=1e-12)
    assert m.theta[0] == pytest.approx(0.7525806757718846, abs=1e-6)
    assert m.sigma == pytest.approx(49.510099986, rel=1e-6)
    assert m.sigma ** 2 == pytest.approx(2451.25010896, rel=1e-6)
    assert m.var_components()["std_dev"].iloc[0] == pytest.approx(37.26034462, rel=1e-6)
    assert m.beta[0] == pytest.approx(1527.5, rel=1e-12)
    assert m.stderror().iloc[0] == pytest.approx(17.69455188898, rel=1e-6)
    assert m._factor.logdet() == pytest.approx(8.06014523, rel=1e-6)
    assert m.pwrss == pytest.approx(73537.5015, rel=1e-6)
    assert m.aic == pytest.approx(333.32705988, rel=1e-9)
    assert m.bic == pytest.approx(337.53065203, rel=1e-9)
    assert m.dof == 3
    assert m.nobs == 30


def test_dyestuff_reml(dyestuff):
    m = _fit("yield ~ 1 + (1|batch)", dyestuff, reml=True)
    assert m.reml and m.optsum.reml
    assert m.objective == pytest.approx(319.65427684225216, rel=1e-12)
    assert m.theta[0] == pytest.approx(0.84832, abs=1e-5)
    # the variance of β̂ moves by ~1.4e-3 (relative) per unit change of θ: 1e-5 is θ to ~1e-5
    assert m.vcov().iloc[0, 0] == pytest.approx(375.7167775, rel=1e-5)
    assert m.sigma == pytest.approx(np.sqrt(m.pwrss / 29), rel=1e-14)


def test_dyestuff2_singular(dyestuff2):
    m = _fit("yield ~ 1 + (1|batch)", dyestuff2)
    assert m.objective == pytest.approx(162.87303665382575, rel=1e-12)
    assert m.theta[0] == 0.0
    assert m.issingular()
    assert m.sigma == pytest.approx(3.653231351374652, rel=1e-10)
    assert m.stderror().iloc[0] == pytest.approx(0.6669857396, rel=1e-8)
    assert m.beta[0] == pytest.approx(5.6656, rel=1e-12)
    assert m._factor.logdet() == 0.0
    assert not LinearMixedModel("yield ~ 1 + (1|batch)", dyestuff2).issingular([0.5])


# ---------------------------------------------------------------------- penicillin, pastes, insteval
def test_penicillin_estimates(fm_penicillin, penicillin):
    m = fm_penicillin
    assert [r.name for r in m.reterms] == ["plate", "sample"]
    assert m.objective == pytest.approx(332.18834867227616, rel=1e-10)
    assert_allclose(m.theta, [1.5375772376554968, 3.219751321180035], atol=1e-5)
    # from lme4's start (the default), the blocked program ends where lme4 does
    with _dense.factor_storage("blocked"):
        default = _fit("diameter ~ 1 + (1|plate) + (1|sample)", penicillin)
    assert_allclose(default.theta, [1.537594, 3.219756], atol=1e-6)
    assert default.objective == pytest.approx(332.18834867227616, rel=1e-10)
    assert (m.nobs, m.feterm.rank, sum(r.nranef for r in m.reterms), len(m.reterms)) == (144, 1, 30, 2)
    assert m.beta[0] == pytest.approx(22.97222222, rel=1e-9)
    assert m.stderror().iloc[0] == pytest.approx(0.7445960347, rel=1e-6)
    vc = m.var_components()
    assert_allclose(vc["std_dev"][:2], [0.8455645948, 1.770647779], rtol=1e-6)
    assert m.sigma ** 2 == pytest.approx(0.3024263988, rel=1e-6)
    assert m._factor.logdet() == pytest.approx(95.74614821, rel=1e-6)
    cv = m.condvar()
    assert cv["plate"][0, 0, 0] == pytest.approx(0.0733132024, rel=1e-6)
    assert cv["sample"][-1, 0, 0] == pytest.approx(0.0405154721, rel=1e-6)
    assert m.ranef(uscale=True)["plate"].iloc[0, 0] == pytest.approx(0.5231623927, rel=1e-5)
    assert m.ranef()["sample"].iloc[-1, 0] == pytest.approx(-3.00182383, rel=1e-5)


def test_pastes_nested(fm_pastes):
    m = fm_pastes
    assert [(r.name, r.nlev) for r in m.reterms] == [("batch:cask", 30), ("batch", 10)]
    assert m.objective == pytest.approx(247.99446586289676, rel=1e-10)
    assert_allclose(m.theta, [3.5268858714382905, 1.3299230213750168], atol=1e-5)
    assert m.beta[0] == pytest.approx(60.05333333, rel=1e-9)
    assert m.stderror().iloc[0] == pytest.approx(0.6421359884, rel=1e-6)
    assert_allclose(m.var_components()["std_dev"], [2.904069003, 1.095070372, 0.8234088395], rtol=1e-6)
    assert m.sigma ** 2 == pytest.approx(0.6780020743, rel=1e-6)
    assert m._factor.logdet() == pytest.approx(101.038134, rel=1e-6)
    cv = m.condvar()
    assert cv["batch:cask"][0, 0, 0] == pytest.approx(1.1118733357, rel=1e-6)
    assert cv["batch"][-1, 0, 0] == pytest.approx(0.8504287710, rel=1e-6)


def test_pastes_likelihood_ratio_test(pastes, fm_pastes):
    m0 = _fit("strength ~ 1 + (1|batch:cask)", pastes)
    assert m0.objective == pytest.approx(248.4017, abs=1e-4)
    assert m0.theta[0] == pytest.approx(3.7693106, abs=1e-5)
    assert hasattr(sklmixed, "likelihood_ratio_test"), "sklmixed.likelihood_ratio_test is missing"
    table = sklmixed.likelihood_ratio_test(m0, fm_pastes)
    assert list(table["dof"]) == [3, 4]
    assert table["chisq"].iloc[1] == pytest.approx(m0.objective - fm_pastes.objective, rel=1e-12)
    assert table["chisq_dof"].iloc[1] == 1
    assert table["p"].iloc[1] == pytest.approx(0.5233767966395597, rel=1e-6)
    # argument order does not matter: models are sorted by dof
    again = sklmixed.likelihood_ratio_test(fm_pastes, m0)
    assert again["p"].iloc[1] == table["p"].iloc[1]


def test_likelihood_ratio_test_rejects_reml(dyestuff, fm_dyestuff):
    reml = _fit("yield ~ 1 + (1|batch)", dyestuff, reml=True)
    with pytest.raises(ValueError, match="maximum-likelihood"):
        sklmixed.likelihood_ratio_test(fm_dyestuff, reml)


def test_insteval(reference_model):
    m = reference_model("insteval_ml")
    assert m.nobs == 73421
    assert [(r.name, r.nlev) for r in m.reterms] == [("s", 2972), ("d", 1128), ("dept", 14)]
    assert m.fitted()[0] == pytest.approx(3.17876, abs=1e-4)
    assert m.residuals()[0] == pytest.approx(1.82124, abs=1e-4)
    assert m.objective == pytest.approx(237721.7687745563, rel=1e-9)
    assert m.optsum.feval == 82  # lme4's count from the same start and settings; 108 from lambda = I


# ---------------------------------------------------------------------- start values
#: (dataset, formula, reml, lme4's evaluations with MixedModels' NLopt settings: the "R feval" of
#: the design's correctness table; dyestuff2 is 21 there, 20 here: its objective is flat near 0)
R_FEVAL = [
    ("dyestuff", "yield ~ 1 + (1|batch)", False, 22),
    ("dyestuff", "yield ~ 1 + (1|batch)", True, 16),
    ("sleepstudy", "reaction ~ 1 + days + (1|subj)", False, 17),
    ("penicillin", "diameter ~ 1 + (1|plate) + (1|sample)", False, 33),
    ("pastes", "strength ~ 1 + (1|batch/cask)", False, 35),
    ("pastes", "strength ~ 1 + (1|batch:cask)", False, 20),
]


@pytest.mark.parametrize("dataset,formula,reml,feval", R_FEVAL)
def test_moments_start_takes_lme4s_path(request, dataset, formula, reml, feval):
    """The blocked program follows lme4's path evaluation for evaluation; the small dense factor
    (the default for these models) rounds differently, and may take a few more or fewer."""
    data = request.getfixturevalue(dataset)
    with _dense.factor_storage("blocked"):
        m = _fit(formula, data, reml=reml)
    assert m.optsum.feval == feval
    ones = _fit(formula, data, reml=reml, start="ones")
    assert m.objective == pytest.approx(ones.objective, rel=1e-10)
    assert_allclose(ones.optsum.initial, 1.0)
    auto = _fit(formula, data, reml=reml)
    assert abs(auto.optsum.feval - feval) <= 0.1 * feval
    assert auto.objective == pytest.approx(m.objective, rel=1e-10)


def test_moments_start_values(dyestuff, penicillin, sleepstudy):
    # lme4: v_j = var(ave(y, f_j)); theta_j = sqrt(v_j / (var(y) - sum(v)))
    m = LinearMixedModel("diameter ~ 1 + (1|plate) + (1|sample)", penicillin)
    y = penicillin["diameter"].to_numpy(dtype=float)
    v = [penicillin.groupby(g, observed=True)["diameter"].transform("mean").var() for g in ("plate", "sample")]
    assert_allclose(m.optsum.initial, np.sqrt(np.array(v) / (y.var(ddof=1) - sum(v))), rtol=1e-12)
    assert_allclose(m.optsum.initial, [1.74491502, 3.59401348], rtol=1e-8)
    # anything but scalar intercepts starts at lambda = I, as MixedModels always does
    assert_allclose(LinearMixedModel(SLEEP_FORMULA, sleepstudy).optsum.initial, [1.0, 0.0, 1.0])
    zc = LinearMixedModel("reaction ~ 1 + days + (1|subj) + (0 + days|subj)", sleepstudy)
    assert_allclose(zc.optsum.initial, [1.0, 1.0])


def test_start_explicit_and_invalid(dyestuff):
    m = _fit("yield ~ 1 + (1|batch)", dyestuff, start=[0.5])
    assert m.optsum.initial.tolist() == [0.5] and m.optsum.fitlog == [] and m.optsum.feval > 0
    assert m.objective == pytest.approx(327.3270598811428, rel=1e-10)
    for bad, msg in [("lme4", "start must be 'moments', 'ones'"), ([0.5, 1.0], "must have 1 θ value"),
                     ([-1.0], "within the lower bounds"), ([np.nan], "finite")]:
        with pytest.raises(ValueError, match=msg):
            LinearMixedModel("yield ~ 1 + (1|batch)", dyestuff).fit(start=bad, progress=False)


def test_refit_starts_from_the_new_response_moments(dyestuff):
    m = _fit("yield ~ 1 + (1|batch)", dyestuff)
    y2 = dyestuff["yield"].to_numpy(dtype=float)[::-1].copy()
    fresh = _fit("yield ~ 1 + (1|batch)", dyestuff.assign(**{"yield": y2}))
    m.refit(y2, progress=False)
    assert_allclose(m.optsum.initial, fresh.optsum.initial, rtol=1e-14)
    assert m.optsum.feval == fresh.optsum.feval and m.objective == pytest.approx(fresh.objective, rel=1e-12)


# ---------------------------------------------------------------------- display
def test_summary_ml(fm_sleep):
    text = str(fm_sleep)
    assert text.startswith("Linear mixed model fit by maximum likelihood")
    assert SLEEP_FORMULA in text
    for piece in ("logLik", "-2 logLik", "AIC", "AICc", "BIC", "Variance components:", "Residual",
                  "Number of obs: 180; levels of grouping factors: 18", "Fixed-effects parameters",
                  "(Intercept)", "days", "Std. Error"):
        assert piece in text, piece
    assert "-875.9697" in text
    assert "REML" not in text


def test_summary_reml(dyestuff):
    text = str(_fit("yield ~ 1 + (1|batch)", dyestuff, reml=True))
    assert text.startswith("Linear mixed model fit by REML")
    assert "REML criterion at convergence: 319.6543" in text
    assert "logLik" not in text


def test_summary_crossed_levels(fm_penicillin):
    assert "Number of obs: 144; levels of grouping factors: 24, 6" in str(fm_penicillin)


def test_summary_unfitted(dyestuff):
    assert "yield ~ 1 + (1|batch)" in str(LinearMixedModel("yield ~ 1 + (1|batch)", dyestuff))


def test_summary_without_fixed_effects():
    """``y ~ 0 + (1|g)`` is a valid model (MixedModels' fixed-σ test uses it); printing it must work."""
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"g": np.repeat(np.arange(10), 10)})
    d["y"] = rng.normal(size=100) + np.repeat(rng.normal(0, 3, 10), 10)
    m = _fit("y ~ 0 + (1|g)", d)
    assert m.feterm.rank == 0 and len(m.coef()) == 0
    text = str(m)
    assert "Variance components:" in text
    assert "Number of obs: 100; levels of grouping factors: 10" in text


def test_optsum_text_has_every_field(fm_sleep):
    text = str(fm_sleep.optsum)
    fields = ["Initial parameter vector:", "Initial objective value:", "Backend:", "Optimizer:", "Lower bounds:",
              "ftol_rel:", "ftol_abs:", "xtol_rel:", "xtol_abs:", "initial_step:", "maxfeval:", "maxtime:",
              "Function evaluations:", "xtol_zero_abs:", "ftol_zero_abs:", "Final parameter vector:",
              "Final objective value:", "Return code:"]
    positions = [text.index(f) for f in fields]
    assert positions == sorted(positions)
    for line in ("Initial parameter vector: [1.0, 0.0, 1.0]", "Backend:                  nlopt",
                 "Optimizer:                LN_BOBYQA", "Lower bounds:             [0.0, -Inf, 0.0]",
                 "ftol_rel:                 1.0e-12", "ftol_abs:                 1.0e-8",
                 "xtol_rel:                 0.0", "xtol_abs:                 [1.0e-10, 1.0e-10, 1.0e-10]",
                 "initial_step:             [0.75, 1.0, 0.75]", "maxfeval:                 -1",
                 "maxtime:                  -1.0", "Function evaluations:     57",
                 "xtol_zero_abs:            0.001", "ftol_zero_abs:            1.0e-5",
                 "Return code:              FTOL_REACHED"):
        assert line in text, line


# ---------------------------------------------------------------------- optimizer settings
def test_invalid_optimizer_name(sleepstudy):
    m = LinearMixedModel(SLEEP_FORMULA, sleepstudy)
    m.optsum.optimizer = "LN_FOO"
    with pytest.raises(ValueError, match="LN_FOO") as err:
        m.fit(progress=False)
    for name in ("LN_BOBYQA", "LN_NELDERMEAD", "LN_COBYLA"):
        assert name in str(err.value)


def test_maxfeval_warns_and_keeps_best_point(sleepstudy):
    m = LinearMixedModel(SLEEP_FORMULA, sleepstudy)
    m.optsum.maxfeval = 5
    with pytest.warns(sklmixed.ConvergenceWarning, match="MAXEVAL_REACHED"):
        m.fit(progress=False, fitlog=True)
    os = m.optsum
    assert os.returnvalue == "MAXEVAL_REACHED"
    assert os.feval == 5
    best_theta, best = min(os.fitlog, key=lambda entry: entry[1])
    assert m.objective == best
    assert os.fmin == best
    assert_array_equal(m.theta, best_theta)
    assert not os.converged


def test_fit_twice_raises(sleepstudy):
    m = _fit("reaction ~ 1 + days + (1|subj)", sleepstudy)
    with pytest.raises(ValueError, match="refit"):
        m.fit(progress=False)


def test_refit_with_new_response_equals_fresh_fit(sleepstudy):
    rng = np.random.default_rng(0)
    ynew = sleepstudy["reaction"].to_numpy() + rng.normal(0, 20, len(sleepstudy))
    m = _fit(SLEEP_FORMULA, sleepstudy)
    m.refit(ynew, progress=False)
    fresh = _fit(SLEEP_FORMULA, sleepstudy.assign(reaction=ynew))
    assert m.objective == pytest.approx(fresh.objective, rel=1e-12)
    assert_allclose(m.theta, fresh.theta, rtol=0, atol=1e-10)
    assert_allclose(m.beta, fresh.beta, rtol=1e-10)
    assert m.optsum.feval == fresh.optsum.feval
    assert_allclose(m.fitted(), fresh.fitted(), rtol=1e-10)


def test_refit_same_response_is_bit_identical(sleepstudy):
    m = _fit(SLEEP_FORMULA, sleepstudy)
    theta, obj = m.theta.copy(), m.objective
    m.refit(progress=False)
    assert_array_equal(m.theta, theta)
    assert m.objective == obj


def test_refit_weighted_with_new_response(sleepstudy):
    rng = np.random.default_rng(1)
    w = rng.uniform(0.5, 2.0, len(sleepstudy))
    ynew = 1.1 * sleepstudy["reaction"].to_numpy() + rng.normal(0, 5, len(sleepstudy))
    m = _fit("reaction ~ 1 + days + (1|subj)", sleepstudy, weights=w)
    m.refit(ynew, progress=False)
    fresh = _fit("reaction ~ 1 + days + (1|subj)", sleepstudy.assign(reaction=ynew), weights=w)
    assert m.objective == pytest.approx(fresh.objective, rel=1e-12)


def test_refit_reml_switch(sleepstudy):
    m = _fit("reaction ~ 1 + days + (1|subj)", sleepstudy)
    m.refit(reml=True, progress=False)
    fresh = _fit("reaction ~ 1 + days + (1|subj)", sleepstudy, reml=True)
    assert m.reml
    assert m.objective == pytest.approx(fresh.objective, rel=1e-12)


def test_refit_rejects_bad_response(sleepstudy):
    m = _fit("reaction ~ 1 + days + (1|subj)", sleepstudy)
    with pytest.raises(ValueError, match="180"):
        m.refit(np.ones(10), progress=False)
    y = sleepstudy["reaction"].to_numpy().copy()
    y[3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        m.refit(y, progress=False)


# ---------------------------------------------------------------------- prediction, ranef
@pytest.mark.parametrize("which", ["fm_sleep", "fm_penicillin", "fm_pastes"])
def test_predict_on_training_data_equals_fitted(request, which):
    m = request.getfixturevalue(which)
    data = {"fm_sleep": "sleepstudy", "fm_penicillin": "penicillin", "fm_pastes": "pastes"}[which]
    data = request.getfixturevalue(data)
    assert_allclose(m.predict(data), m.fitted(), rtol=1e-12, atol=1e-12)
    assert_array_equal(m.predict(), m.fitted())
    assert_allclose(m.residuals(), m.y - m.fitted(), rtol=0, atol=1e-12)


def test_predict_does_not_need_response(fm_sleep, sleepstudy):
    new = sleepstudy.drop(columns="reaction").iloc[:7]
    assert_allclose(fm_sleep.predict(new), fm_sleep.fitted()[:7], rtol=1e-12)


def test_predict_new_levels(fm_sleep):
    new = pd.DataFrame({"subj": ["S308", "NEW"], "days": [3, 3]})
    pred = fm_sleep.predict(new, new_levels="population")
    beta = fm_sleep.beta
    b = fm_sleep.ranef()["subj"].loc["S308"].to_numpy()
    assert pred[1] == pytest.approx(beta[0] + 3 * beta[1], rel=1e-12)
    assert pred[0] == pytest.approx(beta[0] + b[0] + 3 * (beta[1] + b[1]), rel=1e-12)
    with pytest.raises(ValueError, match="not seen in fitting"):
        fm_sleep.predict(new, new_levels="error")
    with pytest.raises(ValueError, match="new_levels"):
        fm_sleep.predict(new, new_levels="bogus")


def test_predict_single_level_of_fixed_factor(pastes):
    """MixedModels #625: new data holding one level of a contrast-coded factor."""
    m = _fit("strength ~ 1 + cask + (1|batch)", pastes)
    rows = (pastes["cask"] == "a").to_numpy()
    assert_allclose(m.predict(pastes[rows]), m.fitted()[rows], rtol=1e-12)
    assert_allclose(m.predict(pastes[rows].assign(cask="a")), m.fitted()[rows], rtol=1e-12)


def test_predict_nested_unseen_combination(fm_pastes, pastes):
    new = pd.DataFrame({"batch": ["A"], "cask": ["zz"]})
    b = fm_pastes.ranef()
    expected = fm_pastes.beta[0] + b["batch"].loc["A"].iloc[0]  # the batch:cask effect is new: 0
    assert fm_pastes.predict(new)[0] == pytest.approx(expected, rel=1e-12)


def test_ranef_tables(fm_sleep, fm_penicillin):
    re = fm_sleep.ranef()
    assert list(re) == ["subj"]
    t = re["subj"]
    assert isinstance(t, pd.DataFrame)
    assert t.shape == (18, 2)
    assert list(t.columns) == ["(Intercept)", "days"]
    assert t.index.name == "subj"
    assert list(t.index[:3]) == ["S308", "S309", "S310"]
    re = fm_penicillin.ranef(uscale=True)
    assert list(re) == ["plate", "sample"]
    assert list(re["sample"].index) == list("ABCDEF")
    assert list(re["plate"].columns) == ["(Intercept)"]


def test_fixef_coef_names(fm_sleep):
    assert list(fm_sleep.fixef().index) == ["(Intercept)", "days"]
    assert list(fm_sleep.coef().index) == ["(Intercept)", "days"]
    tab = fm_sleep.coef_table()
    assert list(tab.columns) == ["coef", "std_error", "z", "p"]
    assert_allclose(tab["z"], tab["coef"] / tab["std_error"], rtol=1e-14)


def test_unfitted_model_raises_on_results(dyestuff):
    m = LinearMixedModel("yield ~ 1 + (1|batch)", dyestuff)
    for call in (m.coef, m.ranef, m.fitted, m.stderror, m.condvar):
        with pytest.raises(ValueError, match="not been fit"):
            call()


# ---------------------------------------------------------------------- fixed effects
def test_rank_deficient_model_matrix(sleepstudy):
    data = sleepstudy.assign(x2=2 * sleepstudy["days"])
    with pytest.warns(RankDeficiencyWarning, match="x2"):
        m = LinearMixedModel("reaction ~ 1 + days + x2 + (1|subj)", data)
    m.fit(progress=False)
    reduced = _fit("reaction ~ 1 + days + (1|subj)", sleepstudy)
    coef = m.coef()
    assert list(coef.index) == ["(Intercept)", "days", "x2"]
    assert np.isnan(coef["x2"])
    assert_allclose(coef[["(Intercept)", "days"]], reduced.beta, rtol=1e-10)
    assert list(m.fixef().index) == ["(Intercept)", "days"]
    assert m.objective == pytest.approx(reduced.objective, rel=1e-12)
    assert np.isnan(m.stderror()["x2"])
    assert np.all(np.isnan(m.vcov().loc["x2"]))
    assert m.dof == reduced.dof


def test_contrasts_argument(pastes):
    m_t = LinearMixedModel("strength ~ 1 + cask + (1|batch)", pastes)
    m_s = LinearMixedModel("strength ~ 1 + cask + (1|batch)", pastes, contrasts={"cask": "sum"})
    assert m_t.coefnames != m_s.coefnames
    with pytest.raises(ValueError, match="unknown contrast coding"):
        LinearMixedModel("strength ~ 1 + cask + (1|batch)", pastes, contrasts={"cask": "bogus"})
    with pytest.raises(ValueError, match="not in the data"):
        LinearMixedModel("strength ~ 1 + cask + (1|batch)", pastes, contrasts={"nope": "sum"})


# ---------------------------------------------------------------------- weights
def test_weights_column_name_equals_array(sleepstudy):
    w = np.random.default_rng(0).integers(1, 4, len(sleepstudy)).astype(float)
    by_name = _fit(SLEEP_FORMULA, sleepstudy.assign(w=w), weights="w")
    by_array = _fit(SLEEP_FORMULA, sleepstudy, weights=w)
    assert by_name.objective == by_array.objective
    assert_array_equal(by_name.theta, by_array.theta)
    assert_array_equal(by_name.beta, by_array.beta)


def test_unit_weights_change_nothing(sleepstudy, fm_sleep):
    m = LinearMixedModel(SLEEP_FORMULA, sleepstudy, weights=np.ones(180))
    assert m.objective_at(fm_sleep.theta) == pytest.approx(fm_sleep.objective, rel=1e-12)


def test_integer_weights_versus_duplicated_rows(sleepstudy):
    """Case weights are precision weights (y_i ~ N(., σ²/w_i)), as in lme4 and MixedModels.

    Duplicating row i w_i times gives the same cross-products [Z X y]'W[Z X y], hence at
    every θ the same factor L, logdet, pwrss, β̂ and u. The likelihoods differ, though, in the
    number of observations (n vs N = Σw), which the profiled σ̂² = pwrss/n uses:

        weighted(θ) − duplicated(θ) = n(1 + log(2π r²/n)) − N(1 + log(2π r²/N)) − Σ log w,

    with r² = pwrss(θ). The difference depends on θ, so the two fits do *not* have the same θ̂;
    the weighted θ̂ minimises the weighted objective rebuilt from the duplicated model's factor.
    """
    w = np.random.default_rng(0).integers(1, 4, len(sleepstudy))
    n, N = len(sleepstudy), int(w.sum())
    weighted = LinearMixedModel(SLEEP_FORMULA, sleepstudy, weights=w.astype(float))
    dup = LinearMixedModel(SLEEP_FORMULA, sleepstudy.loc[sleepstudy.index.repeat(w)].reset_index(drop=True))
    assert dup.nobs == N

    rng = np.random.default_rng(1)
    for theta in ([1.0, 0.0, 1.0], [0.7, 0.1, 0.2], rng.uniform(0.1, 2, 3)):
        ow, od = weighted.objective_at(theta), dup.objective_at(theta)
        assert weighted._factor.logdet() == pytest.approx(dup._factor.logdet(), rel=1e-11)
        assert weighted.pwrss == pytest.approx(dup.pwrss, rel=1e-11)
        assert_allclose(weighted.beta, dup.beta, rtol=1e-10)
        assert_allclose(weighted._u()[0], dup._u()[0], rtol=1e-9, atol=1e-9)
        r2 = dup.pwrss
        expected = n * (1 + np.log(2 * np.pi * r2 / n)) - N * (1 + np.log(2 * np.pi * r2 / N)) - np.log(w).sum()
        assert ow - od == pytest.approx(expected, rel=1e-10)

    weighted.fit(progress=False)
    theta_w, beta_w, sigma_w = weighted.theta.copy(), weighted.beta.copy(), weighted.sigma

    def rebuilt(theta):
        dup.objective_at(theta)
        return dup._factor.logdet() + n * (1 + np.log(2 * np.pi * dup.pwrss / n)) - np.log(w).sum()

    assert rebuilt(theta_w) == pytest.approx(weighted.objective, rel=1e-10)
    assert_allclose(dup.beta, beta_w, rtol=1e-6)
    assert np.sqrt(dup.pwrss / n) == pytest.approx(sigma_w, rel=1e-6)
    # θ̂_w is a minimum of the rebuilt objective
    for k in range(3):
        step = np.zeros(3)
        step[k] = 1e-3
        assert rebuilt(theta_w + step) > weighted.objective
        assert rebuilt(theta_w - step) > weighted.objective
    # and the duplicated-data fit is a different fit
    dup.fit(progress=False)
    assert np.max(np.abs(dup.theta - theta_w)) > 1e-2


@pytest.mark.parametrize("bad, match", [
    (np.zeros(180), "positive"),
    (np.full(180, -1.0), "positive"),
    (np.ones(10), "entries"),
    (np.r_[np.nan, np.ones(179)], "non-finite"),
])
def test_invalid_weights(sleepstudy, bad, match):
    with pytest.raises(ValueError, match=match):
        LinearMixedModel("reaction ~ 1 + days + (1|subj)", sleepstudy, weights=bad)


def test_unknown_weights_column(sleepstudy):
    with pytest.raises(ValueError, match="wt"):
        LinearMixedModel("reaction ~ 1 + days + (1|subj)", sleepstudy, weights="wt")


# ---------------------------------------------------------------------- data checks
def test_missing_response_raises(sleepstudy):
    data = sleepstudy.copy()
    data.loc[[3, 7, 9], "reaction"] = np.nan
    with pytest.raises(ValueError, match=r"'reaction' \(3\)"):
        LinearMixedModel("reaction ~ 1 + days + (1|subj)", data)


def test_missing_drop(sleepstudy):
    data = sleepstudy.assign(days=sleepstudy["days"].astype(float))
    data.loc[[3, 7, 9], "reaction"] = np.nan
    data.loc[11, "days"] = np.inf
    m = _fit("reaction ~ 1 + days + (1|subj)", data, missing="drop")
    assert m.n_dropped == 4
    assert m.nobs == 176
    kept = data.drop(index=[3, 7, 9, 11]).reset_index(drop=True)
    ref = _fit("reaction ~ 1 + days + (1|subj)", kept)
    assert m.objective == pytest.approx(ref.objective, rel=1e-12)
    assert m.n_dropped == 4 and ref.n_dropped == 0


def test_missing_drop_with_weights_array(sleepstudy):
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(sleepstudy))
    data = sleepstudy.copy()
    data.loc[[3, 50], "reaction"] = np.nan
    m = _fit("reaction ~ 1 + days + (1|subj)", data, weights=w, missing="drop")
    keep = data["reaction"].notna().to_numpy()
    ref = _fit("reaction ~ 1 + days + (1|subj)", data[keep].reset_index(drop=True), weights=w[keep])
    assert m.objective == pytest.approx(ref.objective, rel=1e-12)


def test_missing_in_unused_column_is_ignored(sleepstudy):
    m = LinearMixedModel("reaction ~ 1 + days + (1|subj)", sleepstudy.assign(other=np.nan))
    assert m.nobs == 180 and m.n_dropped == 0


def test_missing_in_grouping_factor(sleepstudy):
    data = sleepstudy.copy()
    data["subj"] = data["subj"].astype(object)
    data.loc[0, "subj"] = None
    with pytest.raises(ValueError, match=r"'subj' \(1\)"):
        LinearMixedModel("reaction ~ 1 + days + (1|subj)", data)


@pytest.mark.parametrize("formula, name", [
    ("reaction ~ 1 + dayz + (1|subj)", "dayz"),
    ("reaction ~ 1 + days + (1|subject)", "subject"),
    ("reaction ~ 1 + days + (1 + hours|subj)", "hours"),
    ("rt ~ 1 + days + (1|subj)", "rt"),
])
def test_unknown_column(sleepstudy, formula, name):
    with pytest.raises(ValueError, match=name):
        LinearMixedModel(formula, sleepstudy)


def test_constant_response(sleepstudy):
    m = LinearMixedModel("reaction ~ 1 + days + (1|subj)", sleepstudy.assign(reaction=3.0))
    with pytest.raises(ValueError, match="constant"):
        m.fit(progress=False)


@pytest.mark.parametrize("values", [
    lambda d: np.where(d["days"] > 4, "hi", "lo"),
    lambda d: pd.Categorical(np.where(d["days"] > 4, "hi", "lo")),
])
def test_non_numeric_response(sleepstudy, values):
    with pytest.raises(TypeError, match="numeric"):
        LinearMixedModel("reaction ~ 1 + days + (1|subj)", sleepstudy.assign(reaction=values(sleepstudy)))


def test_response_expression(sleepstudy):
    m = _fit("log(reaction) ~ 1 + days + (1|subj)", sleepstudy)
    ref = _fit("lr ~ 1 + days + (1|subj)", sleepstudy.assign(lr=np.log(sleepstudy["reaction"])))
    assert m.objective == pytest.approx(ref.objective, rel=1e-12)


def test_data_must_be_a_dataframe():
    with pytest.raises(TypeError, match="DataFrame"):
        LinearMixedModel("y ~ 1 + (1|g)", [[1, 2], [3, 4]])


def test_callers_dataframe_is_not_modified(sleepstudy):
    data = sleepstudy.copy()
    data["w"] = np.random.default_rng(3).uniform(0.5, 2, len(data))
    data.loc[[5, 6], "reaction"] = np.nan
    data["subj_str"] = data["subj"].astype(str)
    before = data.copy(deep=True)
    m = LinearMixedModel("reaction ~ 1 + days + (1 + days|subj_str)", data, weights="w", missing="drop")
    m.fit(progress=False)
    m.predict(data.dropna())
    m.refit(m.y + 1.0, progress=False)
    pd.testing.assert_frame_equal(data, before)
    assert list(data.dtypes) == list(before.dtypes)


@pytest.mark.parametrize("dataset, formula", [
    ("sleepstudy", SLEEP_FORMULA),
    ("penicillin", "diameter ~ 1 + (1|plate) + (1|sample)"),
    ("dyestuff2", "yield ~ 1 + (1|batch)"),  # snapped to the boundary: the snapped point is the last evaluated
])
def test_fit_keeps_the_factor_of_the_last_evaluation_when_it_is_the_optimum(request, dataset, formula):
    m = LinearMixedModel(formula, request.getfixturevalue(dataset))
    calls = []
    make = m._objective_function

    def counted(reml, **kw):
        objective = make(reml, **kw)
        return lambda theta: calls.append(np.array(theta)) or objective(theta)
    m._objective_function = counted
    m.fit(progress=False, fitlog=True)
    del m._objective_function
    assert_array_equal(calls[-1], m.theta)
    assert len(calls) == len(m.optsum.fitlog)  # every evaluation is logged: no extra one at the end
    fresh = LinearMixedModel(formula, request.getfixturevalue(dataset))
    assert fresh.objective_at(m.theta) == m.objective
    assert_array_equal(fresh.beta, m.beta)


def test_fit_refactors_when_the_optimum_was_not_evaluated_last(sleepstudy):
    m = LinearMixedModel(SLEEP_FORMULA, sleepstudy)
    m.optsum.maxfeval = 5  # stops early: here the best of the five points is the first
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m.fit(progress=False, fitlog=True)
    assert not np.array_equal(m.optsum.fitlog[-1][0], m.theta)
    fresh = LinearMixedModel(SLEEP_FORMULA, sleepstudy)
    assert fresh.objective_at(m.theta) == m.objective == m.optsum.fmin


# ---------------------------------------------------------------------- models built from terms
def _terms_of(sleepstudy):
    from sklmixed.terms import ArrayColumns, FeTerm, GroupingFactor, ReMat

    n = len(sleepstudy)
    X = np.column_stack([np.ones(n), sleepstudy["days"]])
    fe = FeTerm(X, ["(Intercept)", "days"])
    grouping, refs = GroupingFactor.with_codes(sleepstudy, ("subj",))
    return X, fe, ReMat(grouping, refs, [ArrayColumns(X, ["(Intercept)", "days"])]), refs


def test_a_model_built_from_terms_is_the_formula_model(sleepstudy, fm_sleep):
    fm2 = fm_sleep
    X, fe, re, refs = _terms_of(sleepstudy)
    m = LinearMixedModel.from_terms(sleepstudy["reaction"], fe, [re]).fit(progress=False)
    assert m.objective == fm2.objective
    assert_allclose(m.theta, fm2.theta, rtol=0, atol=0)
    assert m.formula.text == "y ~ 1 + days + (1 + days | subj)"
    # new rows encoded by the caller: the same predictions as from a DataFrame
    new = sleepstudy.iloc[[0, 15, 100]]
    codes = [refs[[0, 15, 100]]]
    assert_allclose(m.linear_predictor(X[[0, 15, 100]], codes, [re.z[:, [0, 15, 100]]]), fm2.predict(new),
                    rtol=1e-12)
    unseen = [np.array([-1, 3, -1])]
    pop = m.linear_predictor(X[:3], unseen, [re.z[:, :3]])
    assert pop[0] == pytest.approx(fm2.fixef().iloc[0] + fm2.fixef().iloc[1] * X[0, 1])
    with pytest.raises(ValueError, match="2 row\\(s\\) have levels of 'subj' not seen"):
        m.linear_predictor(X[:3], unseen, [re.z[:, :3]], new_levels="error")


def test_terms_of_other_lengths_are_refused(sleepstudy):
    X, fe, re, _ = _terms_of(sleepstudy)
    with pytest.raises(ValueError, match="the terms have 180 rows and the response 179"):
        LinearMixedModel.from_terms(sleepstudy["reaction"][:-1], fe, [re])

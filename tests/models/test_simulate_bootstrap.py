"""simulate(), refit(y) and the parametric bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sklmixed import GeneralizedLinearMixedModel, LinearMixedModel, load_dataset
from sklmixed.models.bootstrap import parametric_bootstrap, shortestcovint
from sklmixed.models.simulate import simulate


@pytest.fixture(scope="module")
def sleep_fit():
    return LinearMixedModel("reaction ~ 1 + days + (1 + days|subj)", load_dataset("sleepstudy")).fit(progress=False)


@pytest.fixture(scope="module")
def dyestuff_fit():
    return LinearMixedModel("yield ~ 1 + (1|batch)", load_dataset("dyestuff")).fit(progress=False)


def test_simulated_moments_match_the_model(sleep_fit):
    Y = simulate(sleep_fit, 2000, random_state=0)
    assert Y.shape == (2000, 180)
    # E y = Xβ; Var y_i = z_i' Σ_b z_i + σ²
    mean = sleep_fit.feterm.X @ sleep_fit.beta
    assert np.max(np.abs(Y.mean(axis=0) - mean)) < 4 * 50 / np.sqrt(2000)
    r = sleep_fit.reterms[0]
    sigma_b = sleep_fit.sigma ** 2 * r.lambda_ @ r.lambda_.T
    var = np.einsum("sn,st,tn->n", r.z, sigma_b, r.z) + sleep_fit.sigma ** 2
    np.testing.assert_allclose(Y.var(axis=0), var, rtol=0.15)
    # observations of one subject are correlated through its random effects, those of two are not
    c_same = np.corrcoef(Y[:, 0], Y[:, 9])[0, 1]
    c_other = np.corrcoef(Y[:, 0], Y[:, 10])[0, 1]
    assert c_same > 0.3 and abs(c_other) < 0.1


def test_simulate_is_reproducible_and_use_u_keeps_the_modes(sleep_fit):
    a = simulate(sleep_fit, random_state=3)
    assert a.shape == (180,) and np.array_equal(a, simulate(sleep_fit, random_state=3))
    assert not np.array_equal(a, simulate(sleep_fit, random_state=4))
    cond = simulate(sleep_fit, 3000, random_state=1, use_u=True)
    assert np.max(np.abs(cond.mean(axis=0) - sleep_fit.fitted())) < 4 * sleep_fit.sigma / np.sqrt(3000)
    with pytest.raises(ValueError, match="positive integer"):
        simulate(sleep_fit, 0)


def test_simulate_glmm_counts_and_binary():
    d = pd.read_csv(__import__("pathlib").Path(__file__).parents[1] / "data" / "glmm_poisson.csv")
    m = GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", d, family="poisson").fit(fast=True, progress=False)
    Y = simulate(m, 500, random_state=2)
    assert np.all(Y == np.rint(Y)) and Y.min() >= 0
    b = np.exp(m.theta[0] ** 2 / 2)  # E exp(b) for b ~ N(0, θ²)
    assert Y.mean() == pytest.approx(np.mean(np.exp(m.feterm.X @ m.beta)) * b, rel=0.05)
    v = GeneralizedLinearMixedModel("r2 ~ 1 + anger + (1|item)", load_dataset("verbagg").iloc[:800]).fit(
        fast=True, progress=False)
    assert set(np.unique(simulate(v, 2, random_state=0))) == {0.0, 1.0}


def test_refit_a_simulated_response_equals_a_fresh_fit(sleep_fit):
    y = simulate(sleep_fit, random_state=8)
    work = __import__("copy").deepcopy(sleep_fit)
    work.refit(y, start=sleep_fit.theta, initial_step=0.1 * sleep_fit.theta + 0.01, progress=False)
    fresh = LinearMixedModel("reaction ~ 1 + days + (1 + days|subj)",
                             load_dataset("sleepstudy").assign(reaction=y)).fit(progress=False)
    assert work.objective == pytest.approx(fresh.objective, abs=1e-6)
    np.testing.assert_allclose(work.beta, fresh.beta, rtol=1e-5)


def test_bootstrap_is_the_same_whatever_n_jobs(dyestuff_fit):
    one = parametric_bootstrap(dyestuff_fit, 12, random_state=42, progress=False)
    two = parametric_bootstrap(dyestuff_fit, 12, random_state=42, n_jobs=2, progress=False)
    pd.testing.assert_frame_equal(one.table, two.table)
    other = parametric_bootstrap(dyestuff_fit, 12, random_state=43, progress=False)
    assert not np.allclose(one.table["objective"], other.table["objective"])
    # the model is not changed by its bootstrap
    assert dyestuff_fit.objective == pytest.approx(327.3270598811, abs=1e-6)


def test_bootstrap_rows_are_refits_of_the_simulated_responses(dyestuff_fit):
    boot = parametric_bootstrap(dyestuff_fit, 3, random_state=7, progress=False)
    seeds = np.random.SeedSequence(7).spawn(3)
    from sklmixed.models.simulate import Simulator

    y = Simulator(dyestuff_fit).draw(np.random.default_rng(seeds[2]))
    fresh = LinearMixedModel("yield ~ 1 + (1|batch)", load_dataset("dyestuff").assign(yield_=y).drop(columns="yield")
                             .rename(columns={"yield_": "yield"})).fit(progress=False)
    row = boot.table.iloc[2]
    assert row["objective"] == pytest.approx(fresh.objective, abs=1e-6)
    assert row["sigma"] == pytest.approx(fresh.sigma, rel=1e-5)
    assert row["sd_(Intercept)|batch"] == pytest.approx(fresh.sigma * fresh.theta[0], rel=1e-4, abs=1e-6)


def test_intervals_cover_the_estimates(dyestuff_fit):
    boot = parametric_bootstrap(dyestuff_fit, 40, random_state=1, progress=False)
    for method in ("shortest", "percentile"):
        ci = boot.confint(0.9, method=method)
        assert list(ci.index) == ["(Intercept)", "sd_(Intercept)|batch", "sigma"]
        assert np.all(ci["lower"] <= ci["upper"])
        assert ci.loc["(Intercept)", "lower"] < dyestuff_fit.beta[0] < ci.loc["(Intercept)", "upper"]
    with pytest.raises(ValueError, match="method"):
        boot.confint(method="bca")


def test_shortestcovint():
    v = np.array([5.0, 1.0, 2.0, 3.0, 2.5, 100.0, np.nan])
    assert shortestcovint(v, 0.5) == (2.0, 3.0)  # 3 of the 6 finite values in the shortest window
    assert shortestcovint(np.arange(10.0), 0.99) == (0.0, 9.0)
    assert shortestcovint(np.arange(100.0), 0.95) == (0.0, 94.0)
    with pytest.raises(ValueError, match="level"):
        shortestcovint(v, 1.5)


def test_bootstrap_validates_its_arguments(dyestuff_fit):
    with pytest.raises(ValueError, match="n_boot"):
        parametric_bootstrap(dyestuff_fit, 0)
    with pytest.raises(ValueError, match="n_jobs"):
        parametric_bootstrap(dyestuff_fit, 2, n_jobs=0)
    unfit = LinearMixedModel("yield ~ 1 + (1|batch)", load_dataset("dyestuff"))
    with pytest.raises(Exception, match="not been fit"):
        parametric_bootstrap(unfit, 2)


def test_glmm_bootstrap_runs_and_counts_failures():
    d = pd.read_csv(__import__("pathlib").Path(__file__).parents[1] / "data" / "glmm_poisson.csv")
    m = GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", d, family="poisson").fit(fast=True, progress=False)
    boot = parametric_bootstrap(m, 6, random_state=0, progress=False)
    assert list(boot.table.columns) == ["replicate", "objective", "(Intercept)", "x", "sd_(Intercept)|g", "theta_1",
                                        "converged"]
    assert boot.table["objective"].notna().all()
    assert abs(boot.table["x"].mean() - m.beta[1]) < 0.2


def test_glmm_refit_of_a_simulated_response_equals_a_fresh_fit():
    d = pd.read_csv(__import__("pathlib").Path(__file__).parents[1] / "data" / "glmm_poisson.csv")
    m = GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", d, family="poisson").fit(progress=False)
    y = simulate(m, random_state=5)
    work = __import__("copy").deepcopy(m)
    work.refit(y, start=m.theta, initial_step=0.1 * m.theta, progress=False)
    fresh = GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", d.assign(y=y), family="poisson").fit(progress=False)
    assert work.objective == pytest.approx(fresh.objective, abs=1e-5)
    np.testing.assert_allclose(work.beta, fresh.beta, rtol=1e-4, atol=1e-6)

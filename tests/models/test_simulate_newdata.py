"""simulate() for new data: levels not seen in fitting drawn from their term's distribution.

The moment checks compare a sample mean and a sample variance of ``N`` draws with their
expected values, within four standard errors estimated from the draws themselves: the
standard error of a mean is :math:`\\sqrt{s^2/N}` and that of a variance
:math:`\\sqrt{(m_4 - s^4)/N}` (:math:`m_4` the fourth central moment; for normal draws
:math:`s^2\\sqrt{2/N}`, 2.2% at ``N = 4000``). Four standard errors fail by chance about
once in 16 000 checks; the seeds are fixed, so a test fails only when the model changes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special

from sklmixed import GeneralizedLinearMixedModel, LinearMixedModel, load_dataset
from sklmixed.models.simulate import simulate

N = 4000
DATA = Path(__file__).parents[1] / "data"


def _assert_moments(draws, mean, var, k=4.0):
    """Sample mean and variance of ``draws`` (one column per row) within ``k`` standard errors."""
    draws = np.asarray(draws, dtype=float)
    m, s2 = draws.mean(axis=0), draws.var(axis=0, ddof=1)
    m4 = np.mean((draws - m) ** 4, axis=0)
    assert np.all(np.abs(m - mean) <= k * np.sqrt(s2 / len(draws))), (m, mean)
    assert np.all(np.abs(s2 - var) <= k * np.sqrt((m4 - s2 ** 2) / len(draws))), (s2, var)


@pytest.fixture(scope="module")
def sleep_fit():
    return LinearMixedModel("reaction ~ 1 + days + (1 + days|subj)", load_dataset("sleepstudy")).fit(progress=False)


@pytest.fixture(scope="module")
def poisson_fit():
    d = pd.read_csv(DATA / "glmm_poisson.csv")
    return GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", d, family="poisson").fit(progress=False)


NEW = pd.DataFrame({"days": [0, 0, 9, 9, 9], "subj": ["S308", "new1", "new1", "new2", None]})


def _sleep_moments(m, new):
    """Fixed part, the covariance Σ of a subject's (intercept, slope), σ² and z of every row."""
    r = m.reterms[0]
    Sigma = m.sigma ** 2 * r.lambda_ @ r.lambda_.T
    z = np.column_stack([np.ones(len(new)), new["days"]])
    return m.beta[0] + m.beta[1] * new["days"].to_numpy(), Sigma, m.sigma ** 2, z


def test_lmm_new_levels_vary_as_their_term_says(sleep_fit):
    m = sleep_fit
    fixed, Sigma, s2, z = _sleep_moments(m, NEW)
    var_re = np.einsum("ij,jk,ik->i", z, Sigma, z)
    for use_u in (False, True):
        Y = simulate(m, N, random_state=11, data=NEW, allow_new_levels=True, use_u=use_u)
        assert Y.shape == (N, 5)
        # new subjects (rows 1-3): the fixed part, and σ² + z'Σz whatever use_u (no mode to keep)
        _assert_moments(Y[:, 1:4], fixed[1:4], s2 + var_re[1:4])
        # a missing label: no random effect (the population level, as predict gives it)
        _assert_moments(Y[:, 4:], m.predict(NEW.iloc[4:]), s2)
        # two rows of one new subject share its draw; two new subjects are independent
        c_same = np.cov(Y[:, 1], Y[:, 2])[0, 1]
        c_other = np.cov(Y[:, 2], Y[:, 3])[0, 1]
        expected = z[1] @ Sigma @ z[2]
        assert abs(c_same - expected) < 4 * np.sqrt(((s2 + var_re[1]) * (s2 + var_re[2]) + expected ** 2) / N)
        assert abs(c_other) < 4 * np.sqrt((s2 + var_re[2]) * (s2 + var_re[3]) / N)
    # a seen subject: a fresh draw, or its conditional mode with use_u
    fresh = simulate(m, N, random_state=12, data=NEW.iloc[:1], allow_new_levels=True)
    _assert_moments(fresh, fixed[:1], s2 + var_re[:1])
    kept = simulate(m, N, random_state=12, data=NEW.iloc[:1], use_u=True)
    _assert_moments(kept, m.predict(NEW.iloc[:1]), s2)


def test_nested_factor_draws_only_the_unseen_combination():
    m = LinearMixedModel("strength ~ 1 + (1|batch/cask)", load_dataset("pastes")).fit(progress=False)
    vc = m.var_components().set_index("group")["variance"]
    new = pd.DataFrame({"batch": ["A", "A", "A"], "cask": ["a", "z", "z"]})  # A:z was never observed
    Y = simulate(m, N, random_state=5, data=new, use_u=True, allow_new_levels=True)
    pred = m.predict(new)  # batch A's mode (and cask A:a's in row 0); A:z at the population value of its term
    _assert_moments(Y, pred, np.array([0, 1, 1]) * vc["batch:cask"] + vc["Residual"])
    assert abs(np.cov(Y[:, 1], Y[:, 2])[0, 1] - vc["batch:cask"]) < 4 * (vc["batch:cask"] + vc["Residual"]) / np.sqrt(N)
    with pytest.raises(ValueError, match=r"'batch:cask' not seen in fitting, e\.g\. \[\{'batch': 'A', 'cask': 'z'\}\]"):
        simulate(m, data=new)


def test_glmm_new_levels_poisson(poisson_fit):
    m = poisson_fit
    s2 = m.theta[0] ** 2  # b ~ N(0, θ²) for a GLMM
    new = pd.DataFrame({"x": [0.5, 0.5, -1.0, 0.5], "g": ["nobody", "nobody", "else", np.nan]})
    eta = m.beta[0] + m.beta[1] * new["x"].to_numpy()
    Y = simulate(m, N, random_state=3, data=new, allow_new_levels=True)
    assert np.all(Y == np.rint(Y)) and Y.min() >= 0
    # y | b ~ Poisson(exp(η + b)), b ~ N(0, s²): E y = e^{η + s²/2}, Var y = E y + e^{2η}(e^{2s²} - e^{s²})
    mean = np.exp(eta[:3] + s2 / 2)
    _assert_moments(Y[:, :3], mean, mean + np.exp(2 * eta[:3]) * (np.exp(2 * s2) - np.exp(s2)))
    # a missing label: Poisson(exp(η)), as predict's population value
    _assert_moments(Y[:, 3:], m.predict(new.iloc[3:]), m.predict(new.iloc[3:]))
    # rows of one new level are correlated through its draw, rows of two are not
    assert np.corrcoef(Y[:, 0], Y[:, 1])[0, 1] > 0.1 and abs(np.corrcoef(Y[:, 0], Y[:, 2])[0, 1]) < 4 / np.sqrt(N)
    # a seen level with use_u: Poisson with its conditional mean
    seen = pd.DataFrame({"x": [0.5], "g": [m.reterms[0].grouping.labels[0]]})
    kept = simulate(m, N, random_state=4, data=seen, use_u=True)
    _assert_moments(kept, m.predict(seen), m.predict(seen))


def test_glmm_binomial_trials_as_weights():
    d = pd.read_csv(DATA / "glmm_binomial.csv")
    m = GeneralizedLinearMixedModel("prop ~ 1 + x + (1|g)", d, family="binomial", weights="n").fit(progress=False)
    new = pd.DataFrame({"x": [0.2, 0.2], "g": ["new", "new"], "trials": [10, 3]})
    Y = simulate(m, N, random_state=9, data=new, allow_new_levels=True, weights="trials")
    np.testing.assert_allclose(Y * [10, 3], np.rint(Y * [10, 3]), atol=1e-12)  # successes out of the trials
    # E μ and E μ(1-μ) over b ~ N(0, θ²) by Gauss-Hermite quadrature; Var p = E μ(1-μ)/n + Var μ
    nodes, w = np.polynomial.hermite_e.hermegauss(60)
    mu = special.expit(m.beta[0] + 0.2 * m.beta[1] + m.theta[0] * nodes)
    w = w / w.sum()
    e_mu, e_mu2 = w @ mu, w @ mu ** 2
    _assert_moments(Y, np.full(2, e_mu), (e_mu - e_mu2) / np.array([10, 3]) + e_mu2 - e_mu ** 2)
    with pytest.raises(ValueError, match="whole numbers"):
        simulate(m, data=new, allow_new_levels=True, weights=[2.5, 3])
    with pytest.raises(ValueError, match="2 rows"):
        simulate(m, data=new, allow_new_levels=True, weights=[1, 2, 3])
    # default weights are 1 (lme4's): proportions of one trial
    assert set(np.unique(simulate(m, 50, random_state=0, data=new, allow_new_levels=True))) <= {0.0, 1.0}


def test_new_data_simulations_are_reproducible(sleep_fit, poisson_fit):
    a = simulate(sleep_fit, 3, random_state=7, data=NEW, allow_new_levels=True)
    assert np.array_equal(a, simulate(sleep_fit, 3, random_state=7, data=NEW, allow_new_levels=True))
    assert not np.array_equal(a, simulate(sleep_fit, 3, random_state=8, data=NEW, allow_new_levels=True))
    # the fitting data given as new data: the same draws as simulating the fit
    sleep = load_dataset("sleepstudy")
    for use_u in (False, True):
        np.testing.assert_allclose(simulate(sleep_fit, 2, random_state=1, data=sleep, use_u=use_u),
                                   simulate(sleep_fit, 2, random_state=1, use_u=use_u), rtol=1e-12)
    d = pd.read_csv(DATA / "glmm_poisson.csv")
    np.testing.assert_array_equal(simulate(poisson_fit, 2, random_state=1, data=d),
                                  simulate(poisson_fit, 2, random_state=1))
    g = np.random.default_rng(2)
    b = simulate(poisson_fit, data=d.assign(g="fresh"), allow_new_levels=True, random_state=g)
    assert b.shape == (len(d),)


def test_unseen_and_missing_labels_are_refused_by_default(sleep_fit):
    with pytest.raises(ValueError, match=r"2 row\(s\) with levels of 'subj' not seen in fitting, e\.g\. \['new1'\]"):
        simulate(sleep_fit, data=NEW.iloc[:3])
    with pytest.raises(ValueError, match=r"allow_new_levels=True"):
        simulate(sleep_fit, data=NEW.iloc[[0, 3]], use_u=True)
    with pytest.raises(ValueError, match=r"1 row\(s\) with a missing label of 'subj'"):
        simulate(sleep_fit, data=NEW.iloc[[0, 4]])
    with pytest.raises(ValueError, match=r"lacks the grouping column\(s\) \['subj'\]"):
        simulate(sleep_fit, data=NEW[["days"]], allow_new_levels=True)
    with pytest.raises(TypeError, match="pandas DataFrame"):
        simulate(sleep_fit, data=NEW.to_numpy())
    with pytest.raises(ValueError, match="no offset"):
        simulate(sleep_fit, data=NEW.iloc[:1], offset=1.0)
    with pytest.raises(ValueError, match="for new data"):
        simulate(sleep_fit, weights=np.ones(180))
    # seen levels only: nothing to allow
    assert simulate(sleep_fit, data=NEW.iloc[:1], random_state=0).shape == (1,)


def test_lmm_weights_and_glmm_offset_of_new_rows(sleep_fit, poisson_fit):
    new = pd.DataFrame({"days": [3, 3], "subj": ["S308", "S308"]})
    Y = simulate(sleep_fit, N, random_state=21, data=new, use_u=True, weights=[1.0, 4.0])
    _assert_moments(Y, sleep_fit.predict(new), sleep_fit.sigma ** 2 / np.array([1.0, 4.0]))
    seen = pd.DataFrame({"x": [0.0, 0.0], "g": [poisson_fit.reterms[0].grouping.labels[1]] * 2})
    Z = simulate(poisson_fit, N, random_state=22, data=seen, use_u=True, offset=[0.0, np.log(3)])
    mean = poisson_fit.predict(seen, offset=[0.0, np.log(3)])
    _assert_moments(Z, mean, mean)
    with pytest.raises(ValueError, match="offset has 1 missing"):
        simulate(poisson_fit, data=seen, offset=[0.0, np.nan])

"""PIRLS as a solver object on its own: built from terms, a factor and a family, checked against a
dense Newton search for the conditional modes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.linalg

from sklmixed.exceptions import PIRLSError
from sklmixed.formula import parse_formula
from sklmixed.glm.families import get_family
from sklmixed.glm.irls import fit_glm
from sklmixed.linalg import BlockedCholesky
from sklmixed.models.glmm_search import FastSearch, JointSearch, TwoStageSearch, choose_search
from sklmixed.models.pirls import PIRLS
from sklmixed.optim import OptSummary, PIRLSSettings
from sklmixed.terms import FeTerm, build_remats

import _dense


def _problem(family="poisson", seed=0, slopes=False):
    rng = np.random.default_rng(seed)
    n, ng = 240, 12
    g = rng.integers(0, ng, n)
    h = rng.integers(0, 5, n)
    x = rng.normal(size=n)
    eta = 0.3 + 0.5 * x + rng.normal(0, 0.6, ng)[g] + rng.normal(0, 0.3, 5)[h]
    if family == "poisson":
        y = rng.poisson(np.exp(eta)).astype(float)
    else:
        y = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    data = pd.DataFrame({"y": y, "x": x, "g": [f"g{v}" for v in g], "h": [f"h{v}" for v in h]})
    formula = parse_formula("y ~ 1 + x + (1 + x|g) + (1|h)" if slopes else "y ~ 1 + x + (1|g) + (1|h)")
    return data, formula


def _solver(family="poisson", seed=0, settings=None, slopes=False):
    data, formula = _problem(family, seed, slopes)
    fam = get_family(family)
    link = fam.make_link()
    feterm = FeTerm.from_formula(formula.fixed, data)
    reterms = build_remats(formula.bars, data)
    y, n = data["y"].to_numpy(float), len(data)
    prior, offset = np.ones(n), np.zeros(n)
    beta, _ = fit_glm(feterm.X, y, fam, link, prior, offset)
    factor = BlockedCholesky(reterms, np.column_stack([feterm.X, np.zeros(n)]), np.ones(n))
    pirls = PIRLS(factor, feterm.X, reterms, y, prior, offset, fam, link, settings or PIRLSSettings(), beta)
    return pirls, data, fam


def _ZL(pirls):
    Z = np.hstack([r.z_matrix().toarray() for r in pirls.reterms])
    Lam = scipy.linalg.block_diag(*[np.kron(np.eye(r.nlev), r.lambda_) for r in pirls.reterms])
    return Z @ Lam


@pytest.mark.parametrize("family", ["poisson", "bernoulli"])
@pytest.mark.parametrize("slopes", [False, True])
def test_modes_at_fixed_beta_match_a_dense_newton_search(family, slopes):
    pirls, data, fam = _solver(family, slopes=slopes)
    theta = np.concatenate([r.initial_theta * 0.7 for r in pirls.reterms])
    pirls.factor.install_theta(theta)
    lap = pirls.run(vary_beta=False)
    assert pirls.converged
    link = "log" if family == "poisson" else "logit"
    expected, u, mu = _dense.laplace_deviance(pirls.y, pirls.X, _ZL(pirls), pirls.beta, pirls.offset, family, link,
                                              pirls.prior)
    assert lap == pytest.approx(expected, rel=1e-9)
    np.testing.assert_allclose(np.concatenate([uj.ravel() for uj in pirls.u]), u, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(pirls.mu, mu, rtol=1e-7)


@pytest.mark.parametrize("family", ["poisson", "bernoulli"])
def test_joint_modes_of_beta_and_u_match_a_dense_newton_search(family):
    pirls, data, fam = _solver(family, seed=1)
    theta = np.concatenate([r.initial_theta * 0.5 for r in pirls.reterms])
    pirls.factor.install_theta(theta)
    lap = pirls.run(vary_beta=True)
    link = "log" if family == "poisson" else "logit"
    expected, beta, u, _ = _dense.laplace_deviance_joint(pirls.y, pirls.X, _ZL(pirls), pirls.offset, family, link,
                                                         pirls.prior, pirls.beta.copy())
    assert lap == pytest.approx(expected, rel=1e-9)
    np.testing.assert_allclose(pirls.beta, beta, rtol=1e-5, atol=1e-7)


def test_settings_are_read_at_every_run():
    pirls, _, _ = _solver(settings=PIRLSSettings(maxiter=1))
    pirls.factor.install_theta(np.concatenate([r.initial_theta for r in pirls.reterms]))
    pirls.run()
    assert not pirls.converged  # one iteration is never enough from u = 0
    pirls.settings = PIRLSSettings()
    pirls.run()
    assert pirls.converged


def test_a_first_iteration_that_cannot_descend_is_an_error(monkeypatch):
    pirls, _, _ = _solver(settings=PIRLSSettings(maxhalf=2))
    pirls.factor.install_theta(np.concatenate([r.initial_theta for r in pirls.reterms]))
    monkeypatch.setattr(pirls, "_trial", lambda fixed: (np.inf, np.inf))  # every trial point unusable
    with pytest.raises(PIRLSError, match="2 step halvings"):
        pirls.run()


def test_warm_start_reaches_the_cold_modes_in_fewer_updates():
    pirls, _, _ = _solver(seed=3)
    theta = np.concatenate([r.initial_theta for r in pirls.reterms])
    pirls.factor.install_theta(theta)
    pirls.warm = True
    pirls.run()
    calls = []
    update = pirls.laplace_update
    pirls.laplace_update = lambda fixed=True: calls.append(1) or update(fixed)
    pirls.factor.install_theta(theta * 1.01)
    warm = pirls.run()
    warm_calls = len(calls)
    pirls.warm, pirls.u_start = False, None
    calls.clear()
    cold = pirls.run()
    assert warm == pytest.approx(cold, abs=1e-6)
    assert warm_calls < len(calls)


def test_state_and_restore_round_trip():
    pirls, _, _ = _solver()
    pirls.factor.install_theta(np.concatenate([r.initial_theta for r in pirls.reterms]))
    pirls.run()
    saved = pirls.state()
    before = pirls.laplace_update()
    pirls.u = [uj + 1.0 for uj in pirls.u]
    pirls.restore(saved)
    assert pirls.laplace_update() == before


@pytest.mark.parametrize("settings", [{"maxiter": 0}, {"maxhalf": -1}, {"atol": 0.0}, {"maxiter": 2.5},
                                      {"atol": True}])
def test_settings_are_validated(settings):
    with pytest.raises(ValueError, match="pirls"):
        PIRLSSettings(**settings)


# ---------------------------------------------------------------------- the searches
@pytest.mark.parametrize("fast, initial, expected", [
    (True, 1, FastSearch), (True, 3, FastSearch), (False, 1, TwoStageSearch), (False, 3, JointSearch),
])
def test_choose_search(fast, initial, expected):
    optsum = OptSummary(initial=np.ones(initial), lowerbd=np.zeros(initial))
    assert type(choose_search(fast, optsum, p=2, ntheta=1)) is expected

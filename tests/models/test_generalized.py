"""Generalized linear mixed models: reference fits, lme4 comparisons, a dense Laplace oracle, AGQ."""

import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special

from sklmixed import GeneralizedLinearMixedModel, LinearMixedModel
from sklmixed.exceptions import SeparationWarning

DATA = Path(__file__).resolve().parents[1] / "data"
VAFORM = "r2 ~ 1 + anger + gender + btype + situ + (1|subj) + (1|item)"


@pytest.fixture(scope="module")
def verbagg_fast(verbagg):
    return GeneralizedLinearMixedModel(VAFORM, verbagg).fit(fast=True, progress=False)


@pytest.fixture(scope="module")
def verbagg_full(verbagg):
    return GeneralizedLinearMixedModel(VAFORM, verbagg).fit(progress=False, fitlog=True)


@pytest.fixture(scope="module")
def lme4_ref():
    return json.loads((DATA / "glmm_lme4_reference.json").read_text())


# ---------------------------------------------------------------------------- verbagg
@pytest.mark.parametrize("ref_id, fast", [("verbagg_fast", True), ("verbagg_laplace", False)])
def test_verbagg_reference(ref_id, fast, reference_fits, verbagg_fast, verbagg_full):
    ref = reference_fits[ref_id]
    m = verbagg_fast if fast else verbagg_full
    assert m.objective == pytest.approx(ref["objective"], rel=1e-4)
    assert m.objective <= ref["objective"] * (1 + 1e-6)
    np.testing.assert_allclose(m.theta, ref["theta"], atol=2e-3)
    # the optimum is flat along the intercept: compare β in units of its standard error
    assert np.all(np.abs(m.beta - np.array(ref["beta"])) <= 0.01 * m.stderror().values)
    assert m.optsum.returnvalue == "FTOL_REACHED"


def test_verbagg_seed_figures(verbagg):
    m = GeneralizedLinearMixedModel(VAFORM, verbagg)
    # the starting β is the GLM fit of the fixed part
    # GLM.jl stops its IRLS at a relative deviance change of 1e-6; ours runs to 1e-10, so check the
    # score equations too: at the maximum-likelihood β, X'(y - μ) = 0
    np.testing.assert_allclose(m.beta_glm, [0.20605302210322662, 0.03994037605114991, 0.23131667674984457,
                                            -0.794185724920536, -1.5391882085456916, -0.7766556048305915], rtol=1e-5)
    mu = special.expit(m.feterm.X @ m.beta_glm)
    np.testing.assert_allclose(m.feterm.X.T @ (m.y - mu), 0, atol=1e-6)
    np.testing.assert_array_equal(m.theta, [1.0, 1.0])
    # pirls!(mdl, true) at θ = [1, 1]
    assert m.objective_at(np.array([1.0, 1.0])) == pytest.approx(8201.848559060621, rel=1e-10)
    np.testing.assert_allclose(m.beta, [0.21853493716520925, 0.05143854258081349, 0.29022454166301315,
                                        -0.9791237061900625, -1.9540167628141254, -0.9794925718037453], rtol=1e-6)


def test_verbagg_fast_optsum(verbagg_fast):
    os = verbagg_fast.optsum
    assert os.finitial == pytest.approx(8201.848559060621, rel=1e-10)
    assert abs(os.feval - 37) <= 4
    np.testing.assert_array_equal(os.initial_step, [0.75, 0.75])
    np.testing.assert_allclose(verbagg_fast.theta, [1.3395639000055852, 0.4968327839109795], atol=1e-4)


def test_verbagg_full_is_better_and_logged(verbagg_fast, verbagg_full):
    assert verbagg_full.objective < verbagg_fast.objective
    os = verbagg_full.optsum
    assert len(os.initial) == 8 and np.all(np.isneginf(os.lowerbd[:6])) and np.all(os.lowerbd[6:] == 0)
    assert len(os.fitlog) >= os.feval
    assert min(f for _, f in os.fitlog) == pytest.approx(os.fmin, abs=1e-6)
    # Bernoulli: the deviance is -2 log-likelihood
    assert verbagg_full.loglikelihood == pytest.approx(-verbagg_full.objective / 2, rel=1e-12)
    assert verbagg_full.aic == pytest.approx(8167.3998, abs=2e-3)
    assert verbagg_full.bic == pytest.approx(8222.8701, abs=2e-3)
    np.testing.assert_allclose(verbagg_full.stderror().values,
                               [0.405187, 0.0167577, 0.191263, 0.256809, 0.258532, 0.210305], rtol=2e-3)


def test_verbagg_summary(verbagg_full):
    text = str(verbagg_full)
    for piece in ("Generalized Linear Mixed Model fit by maximum likelihood (nAGQ = 1)", "Distribution: Bernoulli",
                  "Link: logit", "deviance", "Variance components:", "levels of grouping factors: 316, 24",
                  "Fixed-effects parameters"):
        assert piece in text
    assert "Residual" not in text


def test_verbagg_ranef_and_fitted(verbagg_full):
    re = verbagg_full.ranef()
    assert set(re) == {"subj", "item"}
    assert re["subj"].shape == (316, 1) and re["item"].shape == (24, 1)
    u = verbagg_full.ranef(uscale=True)
    np.testing.assert_allclose(re["subj"].values, u["subj"].values * verbagg_full.theta[0])
    mu = verbagg_full.fitted()
    assert np.all((mu > 0) & (mu < 1))
    np.testing.assert_allclose(verbagg_full.predict(type="link"), special.logit(mu), rtol=1e-10)


def test_full_fit_starts_from_the_fast_fit(verbagg_fast, verbagg_full):
    """Two stages, as lme4's glmer: the fast fit of θ, then [β; θ] from its estimates."""
    os, pre = verbagg_full.optsum, verbagg_full.optsum.prefit
    assert pre is not None and pre.prefit is None
    assert pre.feval == verbagg_fast.optsum.feval
    assert pre.fmin == pytest.approx(verbagg_fast.objective, rel=1e-12)
    np.testing.assert_allclose(pre.final, verbagg_fast.theta, rtol=1e-12)
    p = verbagg_full.feterm.rank
    np.testing.assert_allclose(os.initial[p:], pre.final, rtol=1e-12)
    np.testing.assert_allclose(os.initial[:p], verbagg_fast.beta, rtol=1e-10)
    # at the fast estimates, PIRLS over u alone reaches the fast fit's Laplace value
    assert os.finitial == pytest.approx(pre.fmin, abs=1e-6)
    assert os.fmin <= os.finitial
    # the fit log holds [β; θ] in model coordinates; its best point is where the fit ended
    x, f = min(os.fitlog, key=lambda entry: entry[1])
    assert f == pytest.approx(os.fmin, abs=1e-9)
    np.testing.assert_allclose(np.concatenate([verbagg_full.beta, verbagg_full.theta]), x, rtol=1e-9, atol=1e-12)
    # β is searched in standard errors: a few dozen evaluations, where raw coordinates need hundreds
    assert os.feval < 120
    assert os.fit_time >= pre.fit_time > 0
    assert "Prefit (fast, θ only):" in str(os) and f"{pre.feval} evaluations" in str(os)


def test_full_fit_from_a_given_joint_start(binomial_data):
    """A [β; θ] start set by the caller runs one joint search from there, as MixedModels.jl does."""
    formula, kw = "prop ~ 1 + x + (1|g)", dict(family="binomial", weights="n")
    two_stage = GeneralizedLinearMixedModel(formula, binomial_data, **kw).fit(progress=False)
    m = GeneralizedLinearMixedModel(formula, binomial_data, **kw)
    p = m.feterm.rank
    m.optsum.initial = np.concatenate([m.beta_glm, [1.0]])
    m.optsum.lowerbd = np.concatenate([np.full(p, -np.inf), [0.0]])
    m.fit(progress=False)
    assert m.optsum.prefit is None
    np.testing.assert_allclose(m.optsum.initial, np.concatenate([m.beta_glm, [1.0]]))
    assert m.objective == pytest.approx(two_stage.objective, abs=1e-5)
    np.testing.assert_allclose(m.beta, two_stage.beta, rtol=1e-3)


def test_refit_after_a_full_fit_keeps_the_theta_tolerances(binomial_data):
    m = GeneralizedLinearMixedModel("prop ~ 1 + x + (1|g)", binomial_data, family="binomial", weights="n")
    m.optsum.xtol_abs = np.array([1e-7])
    m.fit(progress=False)
    p = m.feterm.rank
    np.testing.assert_array_equal(m.optsum.xtol_abs, np.concatenate([np.full(p, 1e-10), [1e-7]]))
    first = m.objective
    m.refit(progress=False)
    np.testing.assert_array_equal(m.optsum.xtol_abs, np.concatenate([np.full(p, 1e-10), [1e-7]]))
    assert m.objective == first
    m.refit(fast=True, progress=False)
    np.testing.assert_array_equal(m.optsum.xtol_abs, [1e-7])
    assert m.optsum.prefit is None


@pytest.mark.parametrize("fast", [True, False])
def test_pirls_starts_from_the_previous_modes_within_a_fit(verbagg, fast):
    """Within a fit PIRLS starts from the last modes: fewer iterations, the same deviances."""
    m = GeneralizedLinearMixedModel(VAFORM, verbagg)
    updates = []
    update = m._pirls.laplace_update
    m._pirls.laplace_update = lambda fixed=True: updates.append(fixed) or update(fixed)
    m.fit(fast=fast, progress=False, fitlog=True)
    del m._pirls.laplace_update
    assert m._pirls.u_start is None and not m._pirls.warm  # nothing carries over to later evaluations
    # the same points from u = 0: every logged deviance is what PIRLS gives there, to its tolerance,
    # and from u = 0 the fit's evaluations take many more PIRLS iterations (about 8 each, not 6)
    fresh = GeneralizedLinearMixedModel(VAFORM, verbagg)
    cold_updates = []
    cold_update = fresh._pirls.laplace_update
    fresh._pirls.laplace_update = lambda fixed=True: cold_updates.append(fixed) or cold_update(fixed)
    p = m.feterm.rank
    log = m.optsum.fitlog if fast else m.optsum.prefit.fitlog + m.optsum.fitlog
    for i, (x, f) in enumerate(log):
        cold = fresh.objective_at(x, nagq=1) if len(x) == m.ntheta else fresh.objective_at(x[p:], x[:p])
        if i >= len(log) - 5:
            assert f == pytest.approx(cold, abs=1e-6)
    assert len(updates) < 0.8 * len(cold_updates)


def test_objective_at_outside_a_fit_depends_on_its_arguments_alone(binomial_data):
    m = GeneralizedLinearMixedModel("prop ~ 1 + x + (1|g)", binomial_data, family="binomial", weights="n")
    theta, beta = np.array([0.8]), np.array([-0.4, 0.6])
    first = m.objective_at(theta, beta)
    m.objective_at(np.array([0.3]), beta + 0.1)
    m.fit(progress=False)
    assert m.objective_at(theta, beta) == first


def test_a_failing_warm_start_falls_back_to_u_zero(binomial_data):
    m = GeneralizedLinearMixedModel("prop ~ 1 + x + (1|g)", binomial_data, family="binomial", weights="n")
    cold = m.objective_at(np.array([0.9]))
    m._pirls.warm, m._pirls.u_start = True, [np.full_like(uj, 1e6) for uj in m.u]  # an absurd start
    try:
        warm = m.objective_at(np.array([0.9]))
    finally:
        m._pirls.warm, m._pirls.u_start = False, None
    assert warm == pytest.approx(cold, abs=1e-6)


# ---------------------------------------------------------------------------- lme4 comparisons
CASES = {
    "binomial": ("prop ~ 1 + x + (1|g)", dict(family="binomial", weights="n")),
    "poisson": ("y ~ 1 + x + (1|g)", dict(family="poisson")),
}


@pytest.mark.parametrize("family", ["binomial", "poisson"])
@pytest.mark.parametrize("key, fast, nagq", [("nAGQ0", True, 1), ("nAGQ1", False, 1), ("nAGQ5", False, 5)])
def test_against_lme4(family, key, fast, nagq, lme4_ref, binomial_data, poisson_data):
    formula, kw = CASES[family]
    data = binomial_data if family == "binomial" else poisson_data
    m = GeneralizedLinearMixedModel(formula, data, **kw).fit(fast=fast, nagq=nagq, progress=False)
    ref = lme4_ref[family][key]
    # -2 log-likelihood on lme4's scale (saturated terms included): equal or better
    assert -2 * m.loglikelihood == pytest.approx(ref["minus2loglik_full"], rel=1e-5)
    assert -2 * m.loglikelihood <= ref["minus2loglik_full"] + 1e-4
    np.testing.assert_allclose(m.theta, ref["theta"], atol=2e-3)
    np.testing.assert_allclose(m.beta, ref["beta"], atol=2e-3)
    if fast:  # lme4's nAGQ = 0 standard errors come from the same PIRLS weights
        np.testing.assert_allclose(m.stderror().values, ref["beta_se"], rtol=1e-3)
    # the objective omits the saturated-model terms, so it differs from -2 log-likelihood
    assert m.objective != pytest.approx(-2 * m.loglikelihood, rel=1e-3)


def _simulate(family, rng, ngroups=150, per=30, beta=(-0.3, 0.8), sd=0.7):
    g = np.repeat(np.arange(ngroups), per)
    x = rng.normal(size=g.size)
    b = rng.normal(scale=sd, size=ngroups)
    eta = beta[0] + beta[1] * x + b[g]
    data = pd.DataFrame({"g": g.astype(str), "x": x})
    if family == "binomial":
        n = rng.integers(5, 25, size=g.size)
        data["n"] = n
        data["prop"] = rng.binomial(n, special.expit(eta)) / n
    else:
        data["y"] = rng.poisson(np.exp(eta))
    return data


@pytest.mark.parametrize("family", ["binomial", "poisson"])
def test_recovers_simulated_parameters(family):
    rng = np.random.default_rng(20261125)
    data = _simulate(family, rng)
    formula, kw = CASES[family]
    m = GeneralizedLinearMixedModel(formula, data, **kw).fit(progress=False)
    se = m.stderror().values
    assert np.all(np.abs(m.beta - np.array([-0.3, 0.8])) < 4 * se)
    assert m.theta[0] == pytest.approx(0.7, abs=0.15)


# ---------------------------------------------------------------------------- dense oracle
def _dense_laplace(m, theta, beta):
    """Laplace deviance by a dense Newton search for the conditional modes."""
    fam, link, y, wt = m.family, m.link, m.y, m.prior
    Z = np.hstack([r.z_matrix().toarray() @ np.kron(np.eye(r.nlev), r.lambda_) for r in m.reterms])
    off = m.feterm.X @ beta + m.offset
    u = np.zeros(Z.shape[1])

    def pieces(u):
        eta = off + Z @ u
        mu, mu_eta = link.inverse_and_derivative(eta)
        mu = fam.clip_mu(mu)
        w = wt * mu_eta**2 / fam.variance(mu)
        return eta, mu, mu_eta, w

    for _ in range(100):
        eta, mu, mu_eta, w = pieces(u)
        grad = Z.T @ (wt * (y - mu) * mu_eta / fam.variance(mu)) - u
        H = Z.T @ (w[:, None] * Z) + np.eye(len(u))
        step = np.linalg.solve(H, grad)
        u = u + step
        if np.max(np.abs(step)) < 1e-13:
            break
    eta, mu, mu_eta, w = pieces(u)
    H = Z.T @ (w[:, None] * Z) + np.eye(len(u))
    return np.sum(fam.dev_resid(y, mu, wt)) + u @ u + np.linalg.slogdet(H)[1]


@pytest.mark.parametrize("family, link", [("bernoulli", "logit"), ("bernoulli", "probit"), ("binomial", "logit"),
                                          ("poisson", "log"), ("binomial", "cloglog")])
def test_laplace_equals_dense_computation(family, link):
    rng = np.random.default_rng(7)
    n = 240
    data = pd.DataFrame({"g": rng.integers(0, 12, n), "h": rng.integers(0, 5, n), "x": rng.normal(size=n)})
    eta = 0.2 + 0.5 * data["x"] + rng.normal(scale=0.8, size=12)[data["g"]]
    kw = {}
    if family == "bernoulli":
        data["y"] = rng.binomial(1, special.expit(eta))
    elif family == "binomial":
        data["n"] = rng.integers(1, 10, n)
        data["y"] = rng.binomial(data["n"], special.expit(eta)) / data["n"]
        kw["weights"] = "n"
    else:
        data["y"] = rng.poisson(np.exp(eta))
    m = GeneralizedLinearMixedModel("y ~ 1 + x + (1 + x|g) + (1|h)", data, family=family, link=link, **kw)
    for theta in ([0.8, 0.1, 0.4, 0.6], [1.5, -0.3, 0.2, 0.05]):
        theta = np.array(theta)
        beta = np.array([0.1, 0.4])
        got = m.objective_at(theta, beta)
        want = _dense_laplace(m, theta, beta)
        assert got == pytest.approx(want, rel=1e-8)


# ---------------------------------------------------------------------------- AGQ
def test_agq_one_point_is_laplace(poisson_data):
    m = GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", poisson_data, family="poisson")
    theta, beta = np.array([0.45]), np.array([0.6, 0.5])
    lap = m.objective_at(theta, beta)
    assert m.objective_at(theta, beta, nagq=1) == lap
    # k = 2 puts no node at the mode; 3 and more approach the integral
    devs = [m.objective_at(theta, beta, nagq=k) for k in (3, 5, 7, 9, 11, 15, 21, 25)]
    diffs = np.abs(np.diff(devs))
    assert abs(devs[0] - lap) > 1e-4
    assert diffs[-1] < 1e-7 and diffs[-1] < diffs[0]
    assert np.all(diffs[2:] <= diffs[:-2] + 1e-12)


def test_agq_requires_single_scalar_term(verbagg, binomial_data):
    m = GeneralizedLinearMixedModel(VAFORM, verbagg)
    with pytest.raises(ValueError, match="single scalar random-effects term"):
        m.fit(nagq=3, progress=False)
    m = GeneralizedLinearMixedModel("prop ~ 1 + x + (1 + x|g)", binomial_data, family="binomial", weights="n")
    with pytest.raises(ValueError, match="single scalar"):
        m.fit(nagq=5, progress=False)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="nagq must be a positive integer"):
            GeneralizedLinearMixedModel("prop ~ 1 + x + (1|g)", binomial_data, family="binomial",
                                        weights="n").fit(nagq=bad, progress=False)


# ---------------------------------------------------------------------------- responses, links, offsets
def test_bernoulli_response_codings_agree(verbagg):
    sub = verbagg.iloc[:1500]
    base = GeneralizedLinearMixedModel("r2 ~ 1 + anger + (1|subj)", sub).fit(fast=True, progress=False)
    codings = {
        "num": (sub["r2"] == "Y").astype(int),
        "bool": sub["r2"] == "Y",
        "str": sub["r2"].astype(str),
        "cat": sub["r2"],
    }
    for name, col in codings.items():
        d = sub.assign(resp=col)
        m = GeneralizedLinearMixedModel("resp ~ 1 + anger + (1|subj)", d).fit(fast=True, progress=False)
        assert m.objective == pytest.approx(base.objective, rel=1e-12), name
    assert base.response_levels == ("N", "Y")


def test_bad_responses(verbagg, poisson_data, binomial_data):
    with pytest.raises(ValueError, match="exactly two levels"):
        GeneralizedLinearMixedModel("btype ~ 1 + anger + (1|subj)", verbagg)
    with pytest.raises(ValueError, match="must be 0 or 1"):
        GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", poisson_data)
    with pytest.raises(ValueError, match="non-negative whole number"):
        GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", poisson_data.assign(y=poisson_data["y"] - 5), family="poisson")
    with pytest.raises(ValueError, match=r"proportion in \[0, 1\]"):
        GeneralizedLinearMixedModel("n ~ 1 + x + (1|g)", binomial_data, family="binomial", weights="n")
    with pytest.raises(ValueError, match="unknown family"):
        GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", poisson_data, family="tweedie")
    with pytest.raises(ValueError, match="not available for the Poisson family"):
        GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", poisson_data, family="poisson", link="logit")
    with pytest.raises(ValueError, match="unknown link"):
        GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", poisson_data, family="poisson", link="loglog")


def test_offset_shifts_intercept(poisson_data):
    m0 = GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", poisson_data, family="poisson").fit(fast=True, progress=False)
    m1 = GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", poisson_data.assign(o=0.7), family="poisson",
                                     offset="o").fit(fast=True, progress=False)
    assert m1.objective == pytest.approx(m0.objective, rel=1e-9)
    assert m1.beta[0] == pytest.approx(m0.beta[0] - 0.7, abs=1e-6)
    assert m1.beta[1] == pytest.approx(m0.beta[1], abs=1e-6)


# ---------------------------------------------------------------------------- robustness
def test_separation_is_bounded_and_warns():
    rng = np.random.default_rng(11)
    g = np.repeat(np.arange(20), 10)
    x = rng.normal(size=g.size)
    y = (x > 0).astype(int)  # x separates the outcome perfectly
    data = pd.DataFrame({"g": g, "x": x, "y": y})
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        m = GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", data)
        m.optsum.maxfeval = 200
        m.fit(fast=True, progress=False)
    assert any(issubclass(w.category, SeparationWarning) for w in rec)
    assert np.isfinite(m.objective)


def test_predict_new_levels_and_pickle(verbagg_fast, verbagg):
    new = verbagg.iloc[:5].copy()
    new["subj"] = new["subj"].astype(str)
    new.loc[new.index[0], "subj"] = "nobody"
    pop = verbagg_fast.predict(new, type="link")
    known = verbagg_fast.predict(verbagg.iloc[:5], type="link")
    re_item = verbagg_fast.ranef()["item"].loc[str(verbagg["item"].iloc[0]), "(Intercept)"]
    fixed = verbagg_fast.feterm.new_X(verbagg.iloc[:1]) @ verbagg_fast.beta
    assert pop[0] == pytest.approx(fixed[0] + re_item)
    np.testing.assert_allclose(pop[1:], known[1:])
    with pytest.raises(ValueError, match="not seen in fitting"):
        verbagg_fast.predict(new, new_levels="error")
    clone = pickle.loads(pickle.dumps(verbagg_fast))
    np.testing.assert_array_equal(clone.predict(verbagg.iloc[:50]), verbagg_fast.predict(verbagg.iloc[:50]))
    assert clone.objective == verbagg_fast.objective


def test_fit_twice_and_refit(binomial_data):
    m = GeneralizedLinearMixedModel("prop ~ 1 + x + (1|g)", binomial_data, family="binomial", weights="n")
    m.fit(fast=True, progress=False)
    with pytest.raises(ValueError, match="refit"):
        m.fit(progress=False)
    first = m.objective
    assert m.refit(progress=False).objective == pytest.approx(first, rel=1e-12)


def test_lmm_and_glmm_share_the_block_machinery(verbagg):
    # an identity-link "GLMM" is not offered; the LMM core is reused through the same factor type
    g = GeneralizedLinearMixedModel(VAFORM, verbagg)
    lm = LinearMixedModel("anger ~ 1 + gender + (1|subj) + (1|item)", verbagg)
    assert type(g._factor) is type(lm._factor)
    assert g.block_description().splitlines()[1:3] == lm.block_description().splitlines()[1:3]


def test_unseen_categorical_level_in_new_data_is_an_error(verbagg):
    m = LinearMixedModel("anger ~ 1 + btype + (1|item)", verbagg).fit(progress=False)
    new = verbagg.iloc[:3].copy()
    new["btype"] = new["btype"].astype(str)
    new.loc[new.index[0], "btype"] = "whisper"
    with pytest.raises(ValueError, match="not seen in fitting.*whisper"):
        m.predict(new)
    g = GeneralizedLinearMixedModel("r2 ~ 1 + btype + (1|item)", verbagg).fit(fast=True, progress=False)
    with pytest.raises(ValueError, match="categorical levels not seen"):
        g.predict(new)
    assert isinstance(g.objective, float)


def test_a_glmm_built_from_terms_is_the_formula_model(binomial_data):
    from sklmixed.terms import ArrayColumns, FeTerm, GroupingFactor, ReMat

    formula = GeneralizedLinearMixedModel("prop ~ 1 + x + (1|g)", binomial_data, family="binomial", weights="n")
    formula.fit(fast=True, progress=False)
    n = len(binomial_data)
    X = np.column_stack([np.ones(n), binomial_data["x"]])
    grouping, refs = GroupingFactor.with_codes(binomial_data, ("g",))
    re = ReMat(grouping, refs, [ArrayColumns(np.ones((n, 1)), ["(Intercept)"], intercept_only=True)])
    m = GeneralizedLinearMixedModel.from_terms(binomial_data["prop"], FeTerm(X, ["(Intercept)", "x"]), [re],
                                               family="binomial", weights=binomial_data["n"])
    m.fit(fast=True, progress=False)
    assert m.objective == formula.objective
    np.testing.assert_array_equal(m.beta, formula.beta)
    np.testing.assert_allclose(m.linear_predictor(X[:4], [refs[:4]]), formula.predict(binomial_data.head(4), type="link"),
                               rtol=1e-12)

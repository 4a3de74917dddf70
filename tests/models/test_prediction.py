"""Uncertainty of predictions against a dense oracle, rePCA and the block description table."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklmixed import (
    BlockDescription,
    GeneralizedLinearMixedModel,
    GeneralizedMixedClassifier,
    GeneralizedMixedRegressor,
    LinearMixedModel,
    LinearMixedRegressor,
    load_dataset,
    predict_interval,
    repca,
)
from sklmixed.models.prediction import conditional_variances, fitted_se, prediction_se


@pytest.fixture(scope="module")
def sleep_fit():
    return LinearMixedModel("reaction ~ 1 + days + (1 + days|subj)", load_dataset("sleepstudy")).fit(progress=False)


def _dense_se(model, scale):
    """``ZΛ`` and ``X`` built densely, for the oracle ``s² a' M⁻¹ a``."""
    ZL = np.column_stack([r.z_matrix().toarray() @ np.kron(np.eye(r.nlev), r.lambda_) for r in model.reterms])
    return ZL, model.feterm.X, None


def test_fitted_se_is_the_dense_oracle(sleep_fit):
    m = sleep_fit
    ZL, X, _ = _dense_se(m, m.sigma)
    M = np.block([[ZL.T @ ZL + np.eye(ZL.shape[1]), ZL.T @ X], [X.T @ ZL, X.T @ X]])
    A = np.column_stack([ZL, X])
    oracle = m.sigma * np.sqrt(np.einsum("ij,jk,ik->i", A, np.linalg.inv(M), A))
    np.testing.assert_allclose(fitted_se(m), oracle, rtol=1e-8)
    pop = fitted_se(m, random_effects=False)
    np.testing.assert_allclose(pop, np.sqrt(np.einsum("ij,jk,ik->i", X, m.vcov().to_numpy(), X)), rtol=1e-8)


def test_glmm_prediction_se_uses_the_working_weights():
    d = pd.read_csv(Path(__file__).parents[1] / "data" / "glmm_poisson.csv")
    m = GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", d, family="poisson").fit(progress=False)
    r = m.reterms[0]
    ZL = r.z_matrix().toarray() * r.lambda_[0, 0]
    w = m.mu  # Poisson, log link: the IRLS weight is μ
    X = m.feterm.X
    M = np.block([[ZL.T @ (w[:, None] * ZL) + np.eye(ZL.shape[1]), ZL.T @ (w[:, None] * X)],
                  [X.T @ (w[:, None] * ZL), X.T @ (w[:, None] * X)]])
    A = np.column_stack([ZL, X])
    oracle = np.sqrt(np.einsum("ij,jk,ik->i", A, np.linalg.inv(M), A))
    np.testing.assert_allclose(fitted_se(m), oracle, rtol=1e-6)
    # condVar, as lme4's: given β, from the random-effects block alone
    cv = m.condvar()["g"][:, 0, 0]
    q = r.nlev
    np.testing.assert_allclose(cv, r.lambda_[0, 0] ** 2 * np.diag(np.linalg.inv(M[:q, :q])), rtol=1e-6)
    ci = m.predict(interval="confidence")
    assert np.all((ci["lower"] < ci["fit"]) & (ci["fit"] < ci["upper"]))
    np.testing.assert_allclose(ci["fit"], m.fitted(), rtol=1e-10)


def test_confidence_intervals_of_predictions(sleep_fit):
    new = pd.DataFrame({"days": [0, 9, 9], "subj": ["S308", "S308", "nobody"]})
    ci = sleep_fit.predict(new, interval="confidence", level=0.9)
    np.testing.assert_allclose(ci["fit"], sleep_fit.predict(new))
    half = 1.6448536269514722 * ci["se"]
    np.testing.assert_allclose(ci["upper"] - ci["fit"], half)
    pop = predict_interval(sleep_fit, new, 0.9, random_effects=False)
    # an unseen subject gets the population prediction and its standard error
    assert ci["se"].iloc[2] == pytest.approx(pop["se"].iloc[2])
    assert ci["se"].iloc[0] > pop["se"].iloc[0]  # the subject's own effect adds uncertainty
    with pytest.raises(ValueError, match="interval"):
        sleep_fit.predict(new, interval="prediction")
    with pytest.raises(ValueError, match="max_dense"):
        prediction_se(sleep_fit, np.ones((1, 2)), max_dense=10)


def test_condvar_is_the_same_for_every_path(sleep_fit):
    np.testing.assert_allclose(conditional_variances(sleep_fit)["subj"], sleep_fit.condvar()["subj"])


def test_estimator_return_std(sleep_fit):
    d = load_dataset("sleepstudy")
    reg = LinearMixedRegressor(random_slopes=["days"], group_columns=["subj"]).fit(d[["days", "subj"]], d["reaction"])
    pred, std = reg.predict(d[["days", "subj"]], return_std=True)
    np.testing.assert_allclose(pred, sleep_fit.fitted(), rtol=1e-6)
    np.testing.assert_allclose(std, fitted_se(sleep_fit), rtol=1e-5)
    plain = LinearMixedRegressor().fit(d[["days"]], d["reaction"])
    with pytest.raises(ValueError, match="without groups"):
        plain.predict(d[["days"]], return_std=True)


def test_repca_finds_an_overparameterised_term():
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(30), 8)
    x = rng.normal(size=g.size)
    b = rng.normal(size=30)
    y = 1 + x + b[g] + 0.5 * b[g] * x + rng.normal(scale=0.3, size=g.size)  # slopes a multiple of intercepts
    m = LinearMixedModel("y ~ 1 + x + (1 + x|g)", pd.DataFrame({"g": g, "x": x, "y": y})).fit(progress=False)
    pca = repca(m)
    assert pca["cumulative"].iloc[0] > 0.999 and pca["cumulative"].iloc[-1] == pytest.approx(1.0)
    cov = repca(m, corr=False)
    vc = m.var_components()
    assert (cov["std_dev"] ** 2).sum() == pytest.approx((vc["variance"].iloc[:2]).sum(), rel=1e-10)


def test_block_description_table():
    m = LinearMixedModel("diameter ~ 1 + (1|plate) + (1|sample)", load_dataset("penicillin"))
    d = BlockDescription(m)
    assert list(d.table.index) == ["plate", "sample", "fixed"] and d.table.loc["plate", "fixed"] == ""
    assert d.sizes.tolist() == [24, 6, 2]
    assert str(d) == m.block_description()


def _glmm_pair(family, data, formula, y, weights=None):
    """The regressor and the formula model of the same GLMM (random intercepts by ``g``)."""
    reg = GeneralizedMixedRegressor(family=family, group_columns=["g"], new_levels="population")
    reg.fit(data[["x", "g"]], data[y], sample_weight=None if weights is None else data[weights])
    core = GeneralizedLinearMixedModel(formula, data, family=family, weights=weights).fit(progress=False)
    return reg, core


@pytest.mark.parametrize("family", ["poisson", "binomial"])
def test_glmm_regressor_return_std_is_the_delta_method(family):
    data_dir = Path(__file__).parents[1] / "data"
    if family == "poisson":
        d = pd.read_csv(data_dir / "glmm_poisson.csv")
        reg, core = _glmm_pair(family, d, "y ~ 1 + x + (1|g)", "y")
    else:
        d = pd.read_csv(data_dir / "glmm_binomial.csv")
        reg, core = _glmm_pair(family, d, "prop ~ 1 + x + (1|g)", "prop", weights="n")
    # a seen level at three x, an unseen level and a missing label (both population level) at the same x
    new = pd.DataFrame({"x": [-1.0, 0.0, 1.5, 0.3, 0.3], "g": ["g01", "g05", "g05", "nobody", None]})
    mu, std = reg.predict(new, return_std=True)
    np.testing.assert_array_equal(mu, reg.predict(new))
    # the core model's own intervals at a tiny level: (upper - lower) / 2z is the finite-difference
    # derivative of the inverse link times the link-scale standard error
    level = 1e-4
    z = 1.2533141373155003e-04  # norm.ppf(0.5 + level / 2)
    ci = predict_interval(core, new.assign(g=new["g"].fillna("nobody")), level)
    np.testing.assert_allclose(mu, ci["fit"], rtol=1e-5)
    np.testing.assert_allclose(std, (ci["upper"] - ci["lower"]) / (2 * z), rtol=1e-4)
    # the delta method in closed form: dμ/dη = μ (log) or μ(1 - μ) (logit)
    dmu = mu if family == "poisson" else mu * (1 - mu)
    np.testing.assert_allclose(std, dmu * ci["se"], rtol=1e-4)
    # unseen and missing labels: the population-level mean, whose se is sqrt(x'V x) from vcov()
    x = np.array([1.0, 0.3])
    pop_se = np.sqrt(x @ core.vcov().to_numpy() @ x)
    pop_mu = core.link.inverse(x @ core.beta)
    np.testing.assert_allclose(mu[3:], pop_mu, rtol=1e-5)
    pop_dmu = pop_mu if family == "poisson" else pop_mu * (1 - pop_mu)
    np.testing.assert_allclose(std[3:], pop_dmu * pop_se, rtol=1e-4)
    # a seen level's own effect adds uncertainty to the population's
    assert std[1] / dmu[1] > ci["se"].iloc[3]
    # population level for every row when predict gets no groups
    mu0, std0 = reg.predict(new.assign(g=None), return_std=True)
    np.testing.assert_allclose(std0[3:], std[3:], rtol=1e-12)
    assert np.all(std0 > 0) and np.all(np.isfinite(std0))


def test_glmm_regressor_return_std_needs_the_model():
    d = pd.read_csv(Path(__file__).parents[1] / "data" / "glmm_poisson.csv")
    plain = GeneralizedMixedRegressor(family="poisson", group_columns=[]).fit(d[["x"]], d["y"])
    with pytest.raises(ValueError, match="without groups"):
        plain.predict(d[["x"]], return_std=True)
    reg = GeneralizedMixedRegressor(family="poisson", group_columns=["g"]).fit(d[["x", "g"]], d["y"])
    lean = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(lean.predict(d[["x", "g"]]), reg.predict(d[["x", "g"]]))
    with pytest.raises(AttributeError, match="keep_model"):
        lean.predict(d[["x", "g"]], return_std=True)


def test_classifier_probabilities_have_their_standard_errors_from_the_bernoulli_regressor():
    # what the classifier's docstring offers instead of return_std: the same model, with standard errors
    d = pd.read_csv(Path(__file__).parents[1] / "data" / "glmm_poisson.csv")
    label = np.where(d["y"] > 2, "many", "few")
    clf = GeneralizedMixedClassifier(group_columns=["g"]).fit(d[["x", "g"]], label)
    reg = GeneralizedMixedRegressor(family="bernoulli", group_columns=["g"]).fit(
        d[["x", "g"]], (label == clf.classes_[1]).astype(float))
    p, std = reg.predict(d[["x", "g"]], return_std=True)
    np.testing.assert_allclose(p, clf.predict_proba(d[["x", "g"]])[:, 1], rtol=1e-6)
    assert np.all((std > 0) & (std < 0.5))

"""Uncertainty of predictions against a dense oracle, rePCA and the block description table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklmixed import (
    BlockDescription,
    GeneralizedLinearMixedModel,
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

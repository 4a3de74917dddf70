"""Behaviour of the estimators' own API: inputs, random-effects specs, attributes, errors."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, PoissonRegressor

from sklmixed import (
    ConvergenceWarning,
    GeneralizedLinearMixedModel,
    GeneralizedMixedClassifier,
    GeneralizedMixedRegressor,
    LinearMixedModel,
    LinearMixedRegressor,
    RankDeficiencyWarning,
    load_dataset,
)
from sklmixed.exceptions import NoRandomEffectsWarning, PopulationPredictionWarning


@pytest.fixture(scope="module")
def sleepstudy():
    return load_dataset("sleepstudy")


@pytest.fixture(scope="module")
def counts():
    """Poisson counts with a random intercept per site and a random slope of x."""
    rng = np.random.default_rng(11)
    n_sites, per_site = 25, 24
    site = np.repeat([f"s{k:02d}" for k in range(n_sites)], per_site)
    codes = np.repeat(np.arange(n_sites), per_site)
    x = rng.normal(size=site.size)
    kind = rng.choice(["a", "b", "c"], size=site.size)
    eta = (0.4 + 0.3 * x + 0.5 * (kind == "b") + rng.normal(0, 0.6, n_sites)[codes]
           + rng.normal(0, 0.2, n_sites)[codes] * x)
    X = pd.DataFrame({"x": x, "kind": kind})
    return X, rng.poisson(np.exp(eta)), pd.Series(site, name="site")


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(5)
    n_groups, per = 30, 20
    g = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=g.size)
    eta = -0.3 + 0.8 * x + rng.normal(0, 1.0, n_groups)[g]
    y = rng.random(g.size) < 1 / (1 + np.exp(-eta))
    return pd.DataFrame({"x": x}), y, g


# ---------------------------------------------------------------- without groups
def test_no_groups_is_least_squares(sleepstudy):
    X, y = sleepstudy[["days"]], sleepstudy["reaction"]
    w = np.linspace(0.5, 2.0, len(y))
    with pytest.warns(NoRandomEffectsWarning):
        reg = LinearMixedRegressor().fit(X, y, sample_weight=w)
    A = np.column_stack([np.ones(len(y)), X["days"]]) * np.sqrt(w)[:, None]
    beta = np.linalg.lstsq(A, y * np.sqrt(w), rcond=None)[0]
    np.testing.assert_allclose(reg.beta_, beta, rtol=1e-10)
    resid = y - reg.predict(X)
    assert reg.sigma_ == pytest.approx(np.sqrt(np.sum(w * resid**2) / len(y)))
    assert reg.theta_.shape == (0,) and reg.ranef_ == {} and reg.optsum_ is None and reg.model_ is None


def test_no_groups_poisson_matches_sklearn(counts):
    X, y, _ = counts
    with pytest.warns(NoRandomEffectsWarning):
        reg = GeneralizedMixedRegressor().fit(X[["x"]], y)
    ref = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=1000).fit(X[["x"]], y)
    assert reg.intercept_ == pytest.approx(ref.intercept_, rel=1e-6)
    np.testing.assert_allclose(reg.coef_, ref.coef_, rtol=1e-6)
    np.testing.assert_allclose(reg.predict(X[["x"]]), ref.predict(X[["x"]]), rtol=1e-6)


def test_no_groups_logistic_matches_sklearn(binary):
    X, y, _ = binary
    with pytest.warns(NoRandomEffectsWarning):
        clf = GeneralizedMixedClassifier().fit(X, y)
    ref = LogisticRegression(C=1e12, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(clf.coef_, ref.coef_[0], rtol=1e-5)
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), rtol=1e-5)


# ---------------------------------------------------------------- random-effects specification
def test_random_slopes_forms(sleepstudy):
    X, y, g = sleepstudy[["days"]], sleepstudy["reaction"], sleepstudy["subj"]
    by_name = LinearMixedRegressor(random_slopes=["days"]).fit(X, y, groups=g)
    by_index = LinearMixedRegressor(random_slopes=[0]).fit(X.to_numpy(), y, groups=g.to_numpy())
    single = LinearMixedRegressor(random_slopes="days").fit(X, y, groups=g)
    per_factor = LinearMixedRegressor(random_slopes={"subj": ["days"]}).fit(X, y, groups=g)
    for other in (by_index, single, per_factor):
        np.testing.assert_allclose(other.theta_, by_name.theta_, rtol=1e-6)
    assert list(by_index.ranef_) == ["group"]
    assert by_index.ranef_["group"].columns.tolist() == ["(Intercept)", "x0"]
    uncorrelated = LinearMixedRegressor(random_slopes=["days"], correlated=False).fit(X, y, groups=g)
    assert len(uncorrelated.theta_) == 2
    ref = LinearMixedModel("reaction ~ 1 + days + (1 + days || subj)", sleepstudy).fit(progress=False)
    np.testing.assert_allclose(uncorrelated.theta_, ref.theta, rtol=1e-6)
    intercept_only = LinearMixedRegressor(random_slopes={"subj": None}).fit(X, y, groups=g)
    assert len(intercept_only.theta_) == 1


def test_random_slopes_dict_per_factor():
    rng = np.random.default_rng(2)
    n = 600
    a, b = rng.integers(0, 15, n), rng.integers(0, 10, n)
    X = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n)})
    y = (1 + X["x"] + rng.normal(0, 1, 15)[a] + rng.normal(0, 0.5, 15)[a] * X["x"] + rng.normal(0, 1, 10)[b]
         + rng.normal(size=n))
    groups = pd.DataFrame({"a": a, "b": b})
    reg = LinearMixedRegressor(random_slopes={"a": ["x"], 1: ["z"]}, correlated=False).fit(X, y, groups=groups)
    assert reg.ranef_["a"].columns.tolist() == ["(Intercept)", "x"]
    assert reg.ranef_["b"].columns.tolist() == ["(Intercept)", "z"]
    assert "(1 + x || a)" in reg.model_.formula.text and "(1 + z || b)" in reg.model_.formula.text


@pytest.mark.parametrize(
    "slopes, match",
    [
        (["nope"], "not in X"),
        ([3], "column index 3"),
        ({"nope": ["days"]}, "not a grouping factor"),
        ([1.5], "column names"),
    ],
)
def test_random_slopes_errors(sleepstudy, slopes, match):
    X, y, g = sleepstudy[["days"]], sleepstudy["reaction"], sleepstudy["subj"]
    with pytest.raises(ValueError, match=match):
        LinearMixedRegressor(random_slopes=slopes).fit(X, y, groups=g)


def test_random_slopes_by_name_needs_column_names(sleepstudy):
    with pytest.raises(ValueError, match="no column names"):
        LinearMixedRegressor(random_slopes=["days"]).fit(sleepstudy[["days"]].to_numpy(), sleepstudy["reaction"],
                                                         groups=sleepstudy["subj"])


def test_random_slope_on_grouping_column_is_an_error(sleepstudy):
    X = sleepstudy[["days", "subj"]]
    with pytest.raises(ValueError, match="grouping column"):
        LinearMixedRegressor(random_slopes=["subj"], group_columns=["subj"]).fit(X, sleepstudy["reaction"])


# ---------------------------------------------------------------- fixed effects and encoding
def test_dummy_coding_and_coef_layout(counts):
    X, y, site = counts
    X = X.assign(kind=X["kind"].astype("category"))
    reg = GeneralizedMixedRegressor().fit(X, y, groups=site)
    assert reg.coef_names_.tolist() == ["x", "kind[T.b]", "kind[T.c]"]
    assert reg.fixed_effects_.shape == (3,) and len(reg.beta_) == 4  # coef_ is absent: kind has two
    np.testing.assert_allclose(reg.beta_, np.r_[reg.intercept_, reg.fixed_effects_])
    ref = GeneralizedLinearMixedModel("y ~ 1 + x + kind + (1 | site)", X.assign(y=y, site=site),
                                      family="poisson").fit(progress=False)
    assert reg.model_.deviance == pytest.approx(ref.deviance, rel=1e-6)
    np.testing.assert_allclose(reg.beta_, ref.beta, rtol=1e-4, atol=1e-6)
    # text columns are coded like categorical ones
    text = GeneralizedMixedRegressor().fit(X.assign(kind=X["kind"].astype(str)), y, groups=site)
    np.testing.assert_allclose(text.beta_, reg.beta_, rtol=1e-8)
    # without an intercept the first level keeps its column
    no_int = GeneralizedMixedRegressor(fit_intercept=False).fit(X, y, groups=site)
    assert no_int.coef_names_.tolist() == ["x", "kind[a]", "kind[b]", "kind[c]"]
    assert no_int.intercept_ == 0.0


def test_unseen_fixed_effect_level_is_an_error(counts):
    X, y, site = counts
    with pytest.warns(NoRandomEffectsWarning):
        reg = GeneralizedMixedRegressor().fit(X, y)
    with pytest.raises(ValueError, match="categories not seen in fit"):
        reg.predict(X.assign(kind="zzz"))


def test_collinear_column_gets_zero(sleepstudy):
    X = sleepstudy[["days"]].assign(twice=2.0 * sleepstudy["days"])
    with pytest.warns(RankDeficiencyWarning):
        reg = LinearMixedRegressor().fit(X, sleepstudy["reaction"], groups=sleepstudy["subj"])
    assert reg.coef_names_.tolist() == ["days", "twice"]
    assert reg.coef_[1] == 0.0 and len(reg.beta_) == 2
    np.testing.assert_allclose(reg.coef_[0], 10.467286, rtol=1e-4)


def test_awkward_column_names_are_kept_for_display():
    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame({"my x": rng.normal(size=n), "log": rng.normal(size=n), "cat": rng.choice(["u", "v"], n)})
    groups = pd.DataFrame({"the group": rng.integers(0, 12, n)})
    y = X["my x"] + 0.5 * X["log"] + rng.normal(0, 1, 12)[groups["the group"]] + rng.normal(size=n)
    reg = LinearMixedRegressor(random_slopes=["my x"]).fit(X, y, groups=groups)
    assert reg.coef_names_.tolist() == ["my x", "log", "cat[T.v]"]
    assert list(reg.ranef_) == ["the group"]
    assert reg.ranef_["the group"].columns.tolist() == ["(Intercept)", "my x"]
    assert reg.ranef_["the group"].index.name == "the group"


def test_fit_intercept_false(sleepstudy):
    X, y, g = sleepstudy[["days"]], sleepstudy["reaction"], sleepstudy["subj"]
    reg = LinearMixedRegressor(fit_intercept=False).fit(X, y, groups=g)
    assert reg.intercept_ == 0.0 and reg.coef_.shape == (1,)
    assert reg.model_.formula.text == "reaction ~ 0 + days + (1 | subj)"


def test_only_grouping_columns(sleepstudy):
    reg = LinearMixedRegressor(group_columns=["subj"]).fit(sleepstudy[["subj"]], sleepstudy["reaction"])
    assert reg.coef_.shape == (0,) and len(reg.beta_) == 1
    ref = LinearMixedModel("reaction ~ 1 + (1 | subj)", sleepstudy).fit(progress=False)
    np.testing.assert_allclose(reg.theta_, ref.theta, rtol=1e-6)
    with pytest.raises(ValueError, match="no fixed effects"):
        LinearMixedRegressor(group_columns=["subj"], fit_intercept=False).fit(sleepstudy[["subj"]],
                                                                              sleepstudy["reaction"])


# ---------------------------------------------------------------- groups
def test_groups_formats(sleepstudy):
    X, y, g = sleepstudy[["days"]], sleepstudy["reaction"], sleepstudy["subj"]
    base = LinearMixedRegressor().fit(X, y, groups=g)
    for groups in (g.to_numpy(), list(g.astype(str)), g.to_frame(), g.to_numpy()[:, None]):
        other = LinearMixedRegressor().fit(X, y, groups=groups)
        np.testing.assert_allclose(other.theta_, base.theta_, rtol=1e-6)
        np.testing.assert_allclose(other.predict(X, groups=groups), base.predict(X, groups=g), rtol=1e-8)
    two = LinearMixedRegressor().fit(X, y, groups=np.column_stack([g.astype(str), (sleepstudy["days"] // 5)]))
    assert set(two.ranef_) == {"group0", "group1"}


def test_unseen_and_missing_levels_predict_at_population_level(sleepstudy):
    X, y, g = sleepstudy[["days"]], sleepstudy["reaction"], sleepstudy["subj"]
    reg = LinearMixedRegressor(random_slopes=["days"]).fit(X, y, groups=g)
    with pytest.warns(PopulationPredictionWarning, match="predict got no groups"):
        population = reg.predict(X)
    np.testing.assert_allclose(population, reg.intercept_ + reg.coef_[0] * X["days"])
    mixed = g.astype(object).copy()
    mixed.iloc[::3] = "new subject"
    mixed.iloc[1::3] = None
    pred = reg.predict(X, groups=mixed)
    seen = np.arange(len(X)) % 3 == 2
    np.testing.assert_allclose(pred[~seen], population[~seen])
    np.testing.assert_allclose(pred[seen], reg.model_.fitted()[seen])


def test_groups_errors(sleepstudy):
    X, y, g = sleepstudy[["days"]], sleepstudy["reaction"], sleepstudy["subj"]
    with pytest.raises(ValueError, match="rows but X has"):
        LinearMixedRegressor().fit(X, y, groups=g.iloc[:10])
    with pytest.raises(ValueError, match="missing values"):
        LinearMixedRegressor().fit(X, y, groups=g.astype(object).where(np.arange(180) > 0, None))
    reg = LinearMixedRegressor().fit(X, y, groups=g)
    with pytest.raises(ValueError, match="grouping factor"):
        reg.predict(X, groups=pd.DataFrame({"a": g, "b": g}))


def test_group_columns_by_index_and_conflicts(sleepstudy):
    Xg = pd.DataFrame({"days": sleepstudy["days"], "subj": sleepstudy["subj"].cat.codes})
    y = sleepstudy["reaction"]
    by_index = LinearMixedRegressor(random_slopes=[0], group_columns=[1]).fit(Xg.to_numpy(), y)
    by_name = LinearMixedRegressor(random_slopes=["days"], group_columns="subj").fit(Xg, y)
    np.testing.assert_allclose(by_index.theta_, by_name.theta_, rtol=1e-6)
    np.testing.assert_allclose(by_index.theta_, [0.929191, 0.018166, 0.222643], atol=1e-3)
    assert list(by_index.ranef_) == ["x1"]
    with pytest.raises(ValueError, match="both"):
        LinearMixedRegressor(group_columns=["subj"]).fit(Xg, y, groups=sleepstudy["subj"])
    with pytest.raises(ValueError, match="group_columns"):
        by_name.predict(Xg, groups=sleepstudy["subj"])
    with pytest.raises(ValueError, match="not in X"):
        LinearMixedRegressor(group_columns=["nope"]).fit(Xg, y)


def test_zero_weights_drop_rows(sleepstudy):
    X, y, g = sleepstudy[["days"]], sleepstudy["reaction"], sleepstudy["subj"]
    w = np.where(np.arange(len(y)) % 4 == 0, 0.0, 1.0)
    weighted = LinearMixedRegressor(random_slopes=["days"]).fit(X, y, groups=g, sample_weight=w)
    keep = w > 0
    dropped = LinearMixedRegressor(random_slopes=["days"]).fit(X[keep], y[keep], groups=g[keep])
    np.testing.assert_allclose(weighted.theta_, dropped.theta_, rtol=1e-6)
    np.testing.assert_allclose(weighted.predict(X, groups=g), dropped.predict(X, groups=g), rtol=1e-6)


# ---------------------------------------------------------------- classifier labels
@pytest.mark.parametrize(
    "labels",
    [np.array(["no", "yes"]), np.array([3, 7]), np.array([False, True]), np.array([-1.0, 1.0])],
)
def test_classifier_labels(binary, labels):
    X, y, g = binary
    yl = labels[y.astype(int)]
    clf = GeneralizedMixedClassifier(fast=True).fit(X, yl, groups=g)
    np.testing.assert_array_equal(clf.classes_, labels)
    proba = clf.predict_proba(X, groups=g)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    pred = clf.predict(X, groups=g)
    assert set(np.unique(pred)) <= set(labels)
    np.testing.assert_array_equal(pred, labels[(proba[:, 1] > 0.5).astype(int)])
    assert clf.score(X, yl, groups=g) == pytest.approx(np.mean(pred == yl))


def test_classifier_target_errors(binary):
    X, y, g = binary
    with pytest.raises(ValueError, match="Only binary classification"):
        GeneralizedMixedClassifier().fit(X, np.arange(len(y)) % 3, groups=g)
    with pytest.raises(ValueError, match="class"):
        GeneralizedMixedClassifier().fit(X, np.ones(len(y)), groups=g)
    with pytest.raises(ValueError, match="Unknown label type"):
        GeneralizedMixedClassifier().fit(X, np.linspace(0, 1, len(y)), groups=g)


def test_classifier_matches_core(binary):
    X, y, g = binary
    clf = GeneralizedMixedClassifier().fit(X, y, groups=g)
    ref = GeneralizedLinearMixedModel("y ~ 1 + x + (1 | g)", X.assign(y=y.astype(float), g=g)).fit(progress=False)
    assert clf.model_.deviance == pytest.approx(ref.deviance, rel=1e-6)
    np.testing.assert_allclose(clf.theta_, ref.theta, rtol=1e-3)
    agq = GeneralizedMixedClassifier(nagq=7).fit(X, y, groups=g)
    ref7 = GeneralizedLinearMixedModel("y ~ 1 + x + (1 | g)", X.assign(y=y.astype(float), g=g)).fit(nagq=7,
                                                                                                     progress=False)
    assert agq.model_.deviance == pytest.approx(ref7.deviance, rel=1e-6)
    assert agq.optsum_.nagq == 7


# ---------------------------------------------------------------- count and proportion regression
def test_poisson_random_slopes(counts):
    X, y, site = counts
    reg = GeneralizedMixedRegressor(random_slopes=["x"]).fit(X, y, groups=site)
    ref = GeneralizedLinearMixedModel("y ~ 1 + x + kind + (1 + x | site)", X.assign(y=y, site=site),
                                      family="poisson").fit(progress=False)
    assert reg.model_.deviance == pytest.approx(ref.deviance, rel=1e-6)
    assert reg.ranef_["site"].columns.tolist() == ["(Intercept)", "x"]
    mu = reg.predict(X, groups=site)
    np.testing.assert_allclose(mu, reg.model_.fitted(), rtol=1e-8)
    assert np.all(mu > 0)


def test_binomial_proportions_with_trials_equal_bernoulli_rows():
    rng = np.random.default_rng(8)
    n_groups, per = 20, 6
    g = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=g.size)
    trials = rng.integers(1, 9, g.size)
    p = 1 / (1 + np.exp(-(0.2 + 0.7 * x + rng.normal(0, 0.8, n_groups)[g])))
    successes = rng.binomial(trials, p)
    binom = GeneralizedMixedRegressor(family="binomial").fit(pd.DataFrame({"x": x}), successes / trials,
                                                             groups=g, sample_weight=trials)
    # the same data as one Bernoulli row per trial
    rows = np.repeat(np.arange(g.size), trials)
    outcome = np.concatenate([np.arange(t) < s for t, s in zip(trials, successes)])
    bern = GeneralizedMixedClassifier().fit(pd.DataFrame({"x": x[rows]}), outcome, groups=g[rows])
    np.testing.assert_allclose(binom.beta_, bern.beta_, rtol=1e-4)
    np.testing.assert_allclose(binom.theta_, bern.theta_, rtol=1e-3)
    np.testing.assert_allclose(binom.predict(pd.DataFrame({"x": x}), groups=g),
                               bern.predict_proba(pd.DataFrame({"x": x}), groups=g)[:, 1], rtol=1e-4)
    with pytest.raises(ValueError, match="whole numbers"):
        GeneralizedMixedRegressor(family="binomial").fit(pd.DataFrame({"x": x}), successes / trials / 2.5,
                                                         groups=g, sample_weight=trials)


def test_poisson_response_checks(counts):
    X, y, site = counts
    with pytest.raises(ValueError, match="negative"):
        GeneralizedMixedRegressor().fit(X, y - 1.0, groups=site)
    # non-integer responses are accepted, as by PoissonRegressor
    GeneralizedMixedRegressor().fit(X, y + 0.5, groups=site)


# ---------------------------------------------------------------- hyper-parameters
@pytest.mark.parametrize(
    "est, match",
    [
        (LinearMixedRegressor(optimizer="LN_NOPE"), "unknown optimizer"),
        (LinearMixedRegressor(ftol_rel=-1.0), "ftol_rel"),
        (LinearMixedRegressor(xtol_abs="small"), "xtol_abs"),
        (LinearMixedRegressor(maxfeval=1.5), "maxfeval"),
        (LinearMixedRegressor(correlated="yes"), "correlated"),
        (LinearMixedRegressor(reml=1), "reml"),
        (GeneralizedMixedClassifier(nagq=0), "nagq"),
        (GeneralizedMixedClassifier(fast="no"), "fast"),
        (GeneralizedMixedRegressor(family="gamma"), "family"),
        (GeneralizedMixedRegressor(link="probit"), "probit link is not available"),
    ],
)
def test_invalid_hyper_parameters(sleepstudy, est, match):
    X, y = sleepstudy[["days"]], (sleepstudy["reaction"] > 300) if isinstance(est, GeneralizedMixedClassifier) \
        else sleepstudy["reaction"].round()
    with pytest.raises(ValueError, match=match):
        est.fit(X, y, groups=sleepstudy["subj"])


def test_nagq_needs_a_single_scalar_term(binary):
    X, y, g = binary
    with pytest.raises(ValueError, match="single scalar"):
        GeneralizedMixedClassifier(nagq=3).fit(X, y, groups=np.column_stack([g, g % 3]))


def test_optimizer_settings_resolved_on_optsum(sleepstudy):
    X, y, g = sleepstudy[["days"]], sleepstudy["reaction"], sleepstudy["subj"]
    reg = LinearMixedRegressor(random_slopes=["days"], optimizer="LN_NELDERMEAD", ftol_rel=1e-9, ftol_abs=1e-7,
                               xtol_abs=1e-6, maxtime=60).fit(X, y, groups=g)
    os = reg.optsum_
    assert (os.optimizer, os.ftol_rel, os.ftol_abs, os.maxtime, os.maxfeval) == ("LN_NELDERMEAD", 1e-9, 1e-7, 60.0, -1)
    np.testing.assert_array_equal(os.xtol_abs, np.full(3, 1e-6))
    with pytest.warns(ConvergenceWarning, match="MAXEVAL_REACHED"):
        short = LinearMixedRegressor(random_slopes=["days"], maxfeval=5).fit(X, y, groups=g)
    assert short.optsum_.feval == 5 and short.optsum_.returnvalue == "MAXEVAL_REACHED"


def test_parameters_are_stored_untouched():
    slopes = {"subj": ["days"]}
    cols = ["subj"]
    est = LinearMixedRegressor(random_slopes=slopes, group_columns=cols)
    assert est.get_params()["random_slopes"] is slopes
    assert est.get_params()["group_columns"] is cols


def test_unfitted_methods_raise():
    X = np.zeros((3, 1))
    for est in (LinearMixedRegressor(), GeneralizedMixedRegressor()):
        with pytest.raises(NotFittedError):
            est.predict(X)
    clf = GeneralizedMixedClassifier()
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        with pytest.raises(NotFittedError):
            getattr(clf, method)(X)
    with pytest.raises(NotFittedError):
        clf.score(X, np.zeros(3))


def test_nothing_is_printed(sleepstudy, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LinearMixedRegressor(random_slopes=["days"]).fit(sleepstudy[["days"]], sleepstudy["reaction"],
                                                         groups=sleepstudy["subj"])
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_refit_resets_state(sleepstudy):
    X, y, g = sleepstudy[["days"]], sleepstudy["reaction"], sleepstudy["subj"]
    reg = LinearMixedRegressor(random_slopes=["days"]).fit(X, y, groups=g)
    with pytest.warns(NoRandomEffectsWarning):
        reg.fit(X.to_numpy(), y)
    assert reg.theta_.size == 0 and reg.ranef_ == {} and reg.model_ is None
    assert not hasattr(reg, "feature_names_in_")
    np.testing.assert_allclose(reg.predict(X.to_numpy()), reg.intercept_ + reg.coef_[0] * X["days"])

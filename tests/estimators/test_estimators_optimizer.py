"""Searches over optimizer settings: what a fit reports (``n_iter_``, ``converged_``, ``objective_``),
the objective scorer, the successive-halving recipe, clear parameter errors, and warnings that
scikit-learn's filters catch."""

import warnings

import numpy as np
import pytest
import sklearn.exceptions
from _estimator_data import sites_fixture, sleep_routes_fixture  # noqa: F401 (fixtures)
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklmixed
from sklmixed import (
    GeneralizedMixedClassifier,
    GeneralizedMixedRegressor,
    LinearMixedModel,
    LinearMixedRegressor,
    load_dataset,
)
from sklmixed.metrics import get_scorer, objective_scorer


def _all_rows(n):
    return [(np.arange(n), np.arange(n))]


def test_fit_reports_evaluations_convergence_and_objective(sleep_routes):
    X, y, g, _ = sleep_routes
    reg = LinearMixedRegressor(random_slopes=["days"]).fit(X, y, groups=g)
    ref = LinearMixedModel("reaction ~ 1 + days + (1 + days|subj)", load_dataset("sleepstudy")).fit(progress=False)
    assert reg.n_iter_ == ref.optsum.feval == 57
    assert reg.converged_ is True
    assert reg.objective_ == pytest.approx(ref.objective, rel=1e-12)
    assert reg.objective_ == pytest.approx(1751.9393444647, abs=1e-6)  # lme4 1.1-31 (benchmarks/peers/RESULTS.md)
    with pytest.warns(sklmixed.ConvergenceWarning, match="MAXEVAL_REACHED"):
        short = LinearMixedRegressor(random_slopes=["days"], maxfeval=10).fit(X, y, groups=g)
    assert short.n_iter_ == 10 and short.converged_ is False and short.objective_ > reg.objective_


def test_full_glmm_fit_counts_both_stages(sites):
    X, y, g, _ = sites
    clf = GeneralizedMixedClassifier().fit(X, y, groups=g)
    os = clf.optsum_
    assert clf.n_iter_ == os.feval + os.prefit.feval and os.prefit.feval > 0
    assert clf.converged_ is True
    assert clf.objective_ == pytest.approx(clf.model_.objective, rel=1e-12)


def test_objective_without_random_effects_is_the_deviance_at_theta_zero(sleep_routes, sites):
    X, y, g, _ = sleep_routes
    w = np.linspace(0.5, 2.0, len(y))
    for reml in (False, True):
        ols = LinearMixedRegressor(group_columns=[], reml=reml).fit(X, y, sample_weight=w)
        # the mixed model's criterion at θ = 0, through the core
        model = LinearMixedModel("reaction ~ 1 + days + (1|subj)", load_dataset("sleepstudy").assign(w=w),
                                 weights="w")
        assert ols.objective_ == pytest.approx(model.objective_at([0.0], reml=reml), rel=1e-9)
        assert ols.n_iter_ == 0 and ols.converged_ is True
    Xc, yc, _, _ = sites
    glm = GeneralizedMixedClassifier(group_columns=[]).fit(Xc, yc)
    p = glm.predict_proba(Xc)[:, 1]
    assert glm.objective_ == pytest.approx(-2 * np.sum(np.where(yc, np.log(p), np.log1p(-p))), rel=1e-9)


def test_objective_scorer(sleep_routes):
    X, y, g, Xg = sleep_routes
    reg = LinearMixedRegressor(random_slopes=["days"], group_columns=["subj"]).fit(Xg, y)
    assert objective_scorer(reg, Xg, y) == -reg.objective_
    assert get_scorer("neg_objective") is objective_scorer
    pipe = make_pipeline(LinearMixedRegressor(random_slopes=["days"], group_columns=["subj"])).fit(Xg, y)
    assert objective_scorer(pipe) == -reg.objective_
    search = GridSearchCV(LinearMixedRegressor(random_slopes=["days"], group_columns=["subj"]), {"reml": [False]},
                          cv=_all_rows(len(y))).fit(Xg, y)
    assert objective_scorer(search) == -reg.objective_
    with pytest.raises(TypeError, match="needs a fitted sklmixed estimator"):
        objective_scorer(StandardScaler().fit(X))


def test_objective_scorer_ranks_optimizer_budgets(sleep_routes):
    X, y, g, Xg = sleep_routes
    est = LinearMixedRegressor(random_slopes=["days"], group_columns=["subj"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        search = GridSearchCV(est, {"maxfeval": [8, 20, -1]}, scoring=get_scorer("neg_objective"),
                              cv=_all_rows(len(y))).fit(Xg, y)
    scores = search.cv_results_["mean_test_score"]
    assert scores[0] < scores[1] < scores[2]  # more evaluations, a lower criterion
    assert search.best_params_ == {"maxfeval": -1} and search.best_estimator_.converged_


def test_halving_search_with_the_evaluation_budget_as_resource(sleep_routes):
    X, y, g, Xg = sleep_routes
    est = LinearMixedRegressor(random_slopes=["days"], group_columns=["subj"])
    optimizers = {"optimizer": ["LN_BOBYQA", "LN_NELDERMEAD", "LN_COBYLA", "LN_SBPLX"]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)  # scikit-learn's own class
        search = HalvingGridSearchCV(est, optimizers, resource="maxfeval", min_resources=15, max_resources=120,
                                     factor=2, scoring=get_scorer("neg_objective"), cv=_all_rows(len(y))).fit(Xg, y)
    assert not [w for w in caught if issubclass(w.category, sklmixed.ConvergenceWarning)]
    assert search.n_resources_ == [15, 30, 60] and search.n_candidates_ == [4, 2, 1]
    results = search.cv_results_
    for budget, score, params in zip(results["n_resources"], results["mean_test_score"], results["params"]):
        fit = LinearMixedRegressor(random_slopes=["days"], group_columns=["subj"], **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sklmixed.ConvergenceWarning)
            fit.fit(Xg, y)
        assert fit.maxfeval == budget and fit.n_iter_ <= budget
        assert score == pytest.approx(-fit.objective_, rel=1e-12)
    best = search.best_estimator_
    assert best.optimizer == "LN_BOBYQA" and best.converged_ and best.n_iter_ == 57


def test_convergence_warning_is_scikit_learns():
    assert issubclass(sklmixed.ConvergenceWarning, sklearn.exceptions.ConvergenceWarning)
    assert issubclass(sklmixed.ConvergenceWarning, UserWarning)
    from sklmixed.exceptions import ConvergenceWarning

    assert ConvergenceWarning is sklmixed.ConvergenceWarning


@pytest.mark.parametrize("params, match", [
    ({"maxfeval": 0}, r"maxfeval must be a positive number of objective evaluations, or -1 for no limit; got 0"),
    ({"maxfeval": -5}, r"maxfeval must be a positive number .* got -5"),
    ({"maxfeval": 2.5}, r"maxfeval must be an int"),
    ({"maxtime": 0}, r"maxtime must be a positive number of seconds, or -1 for no limit"),
    ({"maxtime": -3.0}, r"maxtime must be a positive number of seconds"),
    ({"optimizer": "LN_NOPE"}, r"unknown optimizer 'LN_NOPE'; choose one of .*LN_BOBYQA"),
    ({"optimizer": "LD_LBFGS"}, r"unknown optimizer 'LD_LBFGS'"),
])
@pytest.mark.parametrize("cls", [LinearMixedRegressor, GeneralizedMixedRegressor, GeneralizedMixedClassifier])
def test_optimizer_parameter_errors_are_clear(cls, params, match, sites):
    X, y, g, _ = sites
    with pytest.raises(ValueError, match=match):
        cls(**params).fit(X, y.astype(int), groups=g)


def test_no_limit_is_minus_one(sleep_routes):
    X, y, g, _ = sleep_routes
    reg = LinearMixedRegressor(maxfeval=-1, maxtime=-1).fit(X, y, groups=g)
    assert reg.converged_ and reg.optsum_.maxfeval == -1

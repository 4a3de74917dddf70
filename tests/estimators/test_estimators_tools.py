"""Every scikit-learn tool that takes an estimator, on the three routes of the grouping factors.

The routes: ``group_columns`` (the groups are columns of X), metadata routing on (groups
passed as ``groups``/``params`` with ``enable_metadata_routing=True``), and routing off (the
same calls, or the ones the tool offers without routing). For every tool and route the test
measures what the predictions carry, by comparing them with the fitted models' own
predictions for the same rows with their groups (conditional) and without (population
level), and which warnings were given. :data:`TABLE` holds the outcomes; the guide's table
"Which path delivers groups where" must say the same (checked at the end).
"""

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn
from _estimator_data import sites_fixture, sleep_routes_fixture  # noqa: F401 (fixtures)
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import BaggingRegressor, StackingRegressor, VotingClassifier
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.inspection import partial_dependence, permutation_importance
from sklearn.linear_model import LinearRegression
from sklearn.metrics import log_loss, mean_squared_error, r2_score, roc_auc_score
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    KFold,
    RandomizedSearchCV,
    cross_val_predict,
    cross_validate,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklmixed import GeneralizedMixedClassifier, LinearMixedRegressor
from sklmixed.exceptions import NoRandomEffectsWarning, PopulationPredictionWarning
from sklmixed.metrics import get_scorer

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide" / "estimators.rst"
ROUTES = ("group_columns", "routing on", "routing off")
COND, POP, NO_RE, ERROR = "conditional", "population (warns)", "no random effects (warns)", "error"

#: tool -> what its predictions carry on each route (the guide's table)
TABLE = {
    "cross_validate, scoring=None (the estimator's score)": (COND, COND, POP),
    "cross_validate, scorers by name (r2, roc_auc, neg_log_loss, lists)": (COND, POP, POP),
    "cross_validate, sklmixed.metrics.get_scorer (alone or in a dict)": (COND, COND, POP),
    "cross_val_predict": (COND, POP, POP),
    "GridSearchCV: CV scores, refit, score(X, y, groups=g)": (COND, COND, NO_RE),
    "GridSearchCV.predict (a search's own predict)": (COND, POP, NO_RE),
    "RandomizedSearchCV": (COND, COND, NO_RE),
    "HalvingGridSearchCV": (COND, COND, NO_RE),
    "StackingRegressor": (COND, ERROR, ERROR),
    "VotingClassifier": (COND, POP, ERROR),
    "CalibratedClassifierCV": (COND, POP, POP),
    "permutation_importance": (COND, POP, POP),
    "partial_dependence": (COND, POP, POP),
    "BaggingRegressor": (COND, COND, ERROR),
    "TransformedTargetRegressor": (COND, COND, COND),
    "Pipeline with ColumnTransformer, pandas output": (COND, COND, COND),
    "Pipeline with ColumnTransformer, NumPy output": (COND, COND, COND),
}
#: what the errors say
ERRORS = {
    ("StackingRegressor", "routing on"): "LinearRegression.fit.. got an unexpected keyword argument 'groups'",
    ("StackingRegressor", "routing off"): "only supported if enable_metadata_routing=True",
    ("VotingClassifier", "routing off"): "only supported if enable_metadata_routing=True",
    ("BaggingRegressor", "routing off"): "only supported if enable_metadata_routing=True",
}

CV = KFold(3, shuffle=True, random_state=0)  # test folds hold known subjects: conditional modes matter
NO_RANDOM_EFFECTS = "the fitted models have no random effects"


# ---------------------------------------------------------------------- the routes
def _on(route):
    return sklearn.config_context(enable_metadata_routing=route == "routing on")


def _lmm(route, **kw):
    if route == "group_columns":
        return LinearMixedRegressor(random_slopes=["days"], group_columns=["subj"], **kw)
    return LinearMixedRegressor(random_slopes=["days"], **kw)


def _glmm(route, cls=GeneralizedMixedClassifier):
    return cls(fast=True, group_columns=["site"]) if route == "group_columns" else cls(fast=True)


def _own(est, method, X, groups, route):
    """The model's own predictions of ``X`` with its groups, and at the population level (missing labels)."""
    call = getattr(est, method)
    if route == "group_columns":
        column = est.group_columns[0]
        blank = X.copy()
        if isinstance(blank, pd.DataFrame):
            blank[column] = None
        else:
            blank[:, column] = None
        return call(X), call(blank)
    return call(X, groups=groups), call(X, groups=pd.Series([None] * len(X), dtype=object))


_FOLDS = {}


def _folds(data, make, method="predict"):
    """Per test fold of CV: the test rows, and the conditional and population-level ``method`` of a
    model fit to the training folds with its groups (computed once)."""
    key = (id(data), make, method)
    if key not in _FOLDS:
        X, y, g, _ = data
        out = []
        for train, test in CV.split(X):
            est = make("routing off").fit(X.iloc[train], y[train], groups=g.iloc[train])
            out.append((test, *_own(est, method, X.iloc[test], g.iloc[test], "routing off")))
        _FOLDS[key] = out
    return _FOLDS[key]


# ---------------------------------------------------------------------- the cases
def _scores(route, data, make, scoring, metrics):
    """``cross_validate`` test scores against the scores of the folds' own predictions."""
    X, y, g, Xg = data
    with _on(route):
        result = cross_validate(make(route), Xg if route == "group_columns" else X, y, cv=CV, scoring=scoring,
                                params=None if route == "group_columns" else {"groups": g})
    out = []
    for key, (metric, method) in metrics.items():
        for k, (test, cond, pop) in enumerate(_folds(data, make, method)):
            got = result[f"test_{key}"][k]
            out.append((got, metric(y[test], cond), metric(y[test], pop)))
    return out


def _regression_metrics(names):
    table = {"r2": (r2_score, "predict"), "neg_mean_squared_error": (lambda a, b: -mean_squared_error(a, b), "predict")}
    return {("score" if len(names) == 1 else name): table[name] for name in names}


def _proba(method):
    return lambda y, p: roc_auc_score(y, p[:, 1]) if method == "auc" else -log_loss(y, p)


def cross_validate_default(route, sleep, sites):
    return (_scores(route, sleep, _lmm, None, {"score": (r2_score, "predict")})
            + _scores(route, sites, _glmm, None, {"score": (lambda a, b: np.mean(a == b), "predict")}))


def cross_validate_names(route, sleep, sites):
    names = ["r2", "neg_mean_squared_error"]
    return (_scores(route, sleep, _lmm, "r2", _regression_metrics(["r2"]))
            + _scores(route, sleep, _lmm, names, _regression_metrics(names))
            + _scores(route, sites, _glmm, ["roc_auc", "neg_log_loss"],
                      {"roc_auc": (_proba("auc"), "predict_proba"), "neg_log_loss": (_proba("ll"), "predict_proba")}))


def cross_validate_sklmixed(route, sleep, sites):
    names = ["r2", "neg_mean_squared_error"]
    return (_scores(route, sleep, _lmm, get_scorer("r2"), _regression_metrics(["r2"]))
            + _scores(route, sleep, _lmm, {n: get_scorer(n) for n in names}, _regression_metrics(names))
            + _scores(route, sites, _glmm, {"roc_auc": get_scorer("roc_auc"), "neg_log_loss": get_scorer("neg_log_loss")},
                      {"roc_auc": (_proba("auc"), "predict_proba"), "neg_log_loss": (_proba("ll"), "predict_proba")}))


def cross_val_predict_case(route, sleep, sites):
    X, y, g, Xg = sleep
    with _on(route):
        pred = cross_val_predict(_lmm(route), Xg if route == "group_columns" else X, y, cv=CV,
                                 params=None if route == "group_columns" else {"groups": g})
    cond, pop = np.empty(len(y)), np.empty(len(y))
    for test, c, p in _folds(sleep, _lmm):
        cond[test], pop[test] = c, p
    return [(pred, cond, pop)]


def _search(route, sleep, make_search, *, own_predict=False):
    X, y, g, Xg = sleep
    Xr = Xg if route == "group_columns" else X
    search = make_search(_lmm(route))
    with _on(route):
        search.fit(Xr, y, **({} if route == "group_columns" else {"groups": g}))
        if search.best_estimator_.model_ is None:
            return NO_RANDOM_EFFECTS
        if own_predict:
            got = search.predict(Xr)
        else:
            got = search.score(Xr, y, **({"groups": g} if route == "routing on" else {}))
    folds = _folds(sleep, _lmm)
    out = []
    if not own_predict:
        results = search.cv_results_
        for key in [k for k in results if re.fullmatch(r"split\d_test_score", k)]:
            test, cond, pop = folds[int(key[5])]
            out += [(score, r2_score(y[test], cond), r2_score(y[test], pop)) for score in results[key]]
    cond, pop = _own(search.best_estimator_, "predict", Xr, g, route)
    out.append((got, cond, pop) if own_predict else (got, r2_score(y, cond), r2_score(y, pop)))
    return out


def grid_search(route, sleep, sites):
    # both candidates fit the same model: keep_model changes what a pickle holds, not the fit
    return _search(route, sleep, lambda est: GridSearchCV(est, {"keep_model": [False, True]}, cv=CV))


def grid_search_predict(route, sleep, sites):
    return _search(route, sleep, lambda est: GridSearchCV(est, {"keep_model": [False]}, cv=CV), own_predict=True)


def randomized_search(route, sleep, sites):
    return _search(route, sleep, lambda est: RandomizedSearchCV(est, {"keep_model": [False, True]}, n_iter=2, cv=CV,
                                                                random_state=0))


def halving_search(route, sleep, sites):
    # budgets far above the 57 evaluations the fit needs: every candidate reaches the optimum
    return _search(route, sleep, lambda est: HalvingGridSearchCV(
        est, {"keep_model": [False, True]}, resource="maxfeval", min_resources=500, max_resources=1000, cv=CV))


def stacking(route, sleep, sites):
    X, y, g, Xg = sleep
    stack = StackingRegressor([("lmm", _lmm(route))], final_estimator=LinearRegression(), cv=CV)
    with _on(route):
        if route == "group_columns":
            stack.fit(Xg, y)
            got = stack.transform(Xg)[:, 0]
        else:
            stack.fit(X, y, groups=g)
            got = stack.transform(X)[:, 0]
    return [(got, *_own(stack.estimators_[0], "predict", Xg if route == "group_columns" else X, g, route))]


def voting(route, sites_data):
    X, y, g, Xg = sites_data
    vote = VotingClassifier([("glmm", _glmm(route))], voting="soft")
    Xr = Xg if route == "group_columns" else X
    with _on(route):
        vote.fit(Xr, y, **({} if route == "group_columns" else {"groups": g}))
        got = vote.predict_proba(Xr)
    return [(got, *_own(vote.estimators_[0], "predict_proba", Xr, g, route))]


class _RecordingClassifier(GeneralizedMixedClassifier):
    """Logs the decision values it returns (CalibratedClassifierCV calls them without groups, or with)."""

    log = []

    def decision_function(self, X, groups=None):
        eta = super().decision_function(X, groups=groups)
        type(self).log.append((self, eta))
        return eta


class _RecordingRegressor(LinearMixedRegressor):
    log = []

    def predict(self, X, groups=None):
        pred = super().predict(X, groups=groups)
        type(self).log.append(pred)
        return pred


def calibrated(route, sites_data):
    X, y, g, Xg = sites_data
    Xr = Xg if route == "group_columns" else X
    cal = CalibratedClassifierCV(_glmm(route, _RecordingClassifier), cv=CV)
    with _on(route):
        cal.fit(Xr, y, **({} if route == "group_columns" else {"groups": g}))
        _RecordingClassifier.log = []
        cal.predict_proba(Xr)
    calls = list(_RecordingClassifier.log)
    assert len(calls) == 3  # one calibrated model per fold
    return [(eta, *_own(est, "decision_function", Xr, g, route)) for est, eta in calls]


def permutation(route, sleep, sites):
    X, y, g, Xg = sleep
    Xr = Xg if route == "group_columns" else X
    if route == "group_columns":
        est = _RecordingRegressor(random_slopes=["days"], group_columns=["subj"]).fit(Xg, y)
    else:
        est = _RecordingRegressor(random_slopes=["days"]).fit(X, y, groups=g)
    _RecordingRegressor.log = []
    with _on(route):
        permutation_importance(est, Xr, y, n_repeats=2, random_state=0)
    baseline = _RecordingRegressor.log[0].copy()  # the scorer's predictions of the unpermuted rows
    return [(baseline, *_own(est, "predict", Xr, g, route))]


def partial(route, sleep, sites):
    X, y, g, Xg = sleep
    Xr = Xg if route == "group_columns" else X
    est = _lmm(route).fit(Xr, y, **({} if route == "group_columns" else {"groups": g}))
    grid = [0.0, 4.5, 9.0]
    with _on(route):
        result = partial_dependence(est, Xr, ["days"], kind="individual", custom_values={"days": grid})
    return [(result["individual"][0][:, k], *_own(est, "predict", Xr.assign(days=v), g, route))
            for k, v in enumerate(grid)]


def bagging(route, sleep, sites):
    X, y, g, Xg = sleep
    if route == "group_columns":
        # Bagging hands NumPy arrays on: the grouping column by (negative) index
        bag = BaggingRegressor(LinearMixedRegressor(random_slopes=[0], group_columns=[-1]), n_estimators=3,
                               random_state=0).fit(Xg, y)
        got = bag.predict(Xg)
        own = [_own(e, "predict", Xg.to_numpy(dtype=object), g, route) for e in bag.estimators_]
    else:
        bag = BaggingRegressor(LinearMixedRegressor(random_slopes=[0]), n_estimators=3, random_state=0)
        with _on(route):
            bag.fit(X, y, groups=g)
            got = bag.predict(X, groups=g)
        own = [_own(e, "predict", X.to_numpy(), g, route) for e in bag.estimators_]
    return [(got, np.mean([c for c, _ in own], axis=0), np.mean([p for _, p in own], axis=0))]


def transformed_target(route, sleep, sites):
    X, y, g, Xg = sleep
    Xr = Xg if route == "group_columns" else X
    ttr = TransformedTargetRegressor(_lmm(route), func=np.log, inverse_func=np.exp)
    with _on(route):
        ttr.fit(Xr, y, **({} if route == "group_columns" else {"groups": g}))
        got = ttr.predict(Xr, **({} if route == "group_columns" else {"groups": g}))
    cond, pop = _own(ttr.regressor_, "predict", Xr, g, route)
    return [(got, np.exp(cond), np.exp(pop))]


def _pipeline(route, sleep, pandas):
    X, y, g, Xg = sleep
    scale = ColumnTransformer([("scale", StandardScaler(), ["days"])], remainder="passthrough",
                              verbose_feature_names_out=False)
    if pandas:
        model = _lmm(route)
    else:  # NumPy output: columns by index, the passed-through grouping column last
        model = LinearMixedRegressor(random_slopes=[0], **({"group_columns": [-1]} if route == "group_columns" else {}))
    pipe = Pipeline([("ct", scale), ("lmm", model)])
    if pandas:
        pipe.set_output(transform="pandas")
    Xr = Xg if route == "group_columns" else X
    with _on(route):
        if route == "group_columns":
            got = pipe.fit(Xr, y).predict(Xr)
        elif route == "routing on":
            got = pipe.fit(Xr, y, groups=g).predict(Xr, groups=g)
        else:
            got = pipe.fit(Xr, y, lmm__groups=g).predict(Xr, groups=g)
    Xt = pipe[:-1].transform(Xr)
    if route == "group_columns" and not pandas:
        assert Xt.dtype == object  # ColumnTransformer's NumPy output of numbers and labels
    return [(got, *_own(pipe[-1], "predict", Xt, g, route))]


CASES = {
    "cross_validate, scoring=None (the estimator's score)": cross_validate_default,
    "cross_validate, scorers by name (r2, roc_auc, neg_log_loss, lists)": cross_validate_names,
    "cross_validate, sklmixed.metrics.get_scorer (alone or in a dict)": cross_validate_sklmixed,
    "cross_val_predict": cross_val_predict_case,
    "GridSearchCV: CV scores, refit, score(X, y, groups=g)": grid_search,
    "GridSearchCV.predict (a search's own predict)": grid_search_predict,
    "RandomizedSearchCV": randomized_search,
    "HalvingGridSearchCV": halving_search,
    "StackingRegressor": stacking,
    "VotingClassifier": lambda route, sleep, sites: voting(route, sites),
    "CalibratedClassifierCV": lambda route, sleep, sites: calibrated(route, sites),
    "permutation_importance": permutation,
    "partial_dependence": partial,
    "BaggingRegressor": bagging,
    "TransformedTargetRegressor": transformed_target,
    "Pipeline with ColumnTransformer, pandas output": lambda route, sleep, sites: _pipeline(route, sleep, True),
    "Pipeline with ColumnTransformer, NumPy output": lambda route, sleep, sites: _pipeline(route, sleep, False),
}


def _close(a, b):
    return np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-6, atol=1e-9)


def _measure(tool, route, sleep, sites):
    """What the tool's predictions carry on this route, as the table words it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            measured = CASES[tool](route, sleep, sites)
        except (TypeError, ValueError) as err:
            expected = ERRORS.get((tool.split(" ")[0].rstrip(":"), route))
            assert expected is not None and re.search(expected, str(err)), f"unexpected error: {err!r}"
            return ERROR
    warned = {w.category for w in caught}
    if measured == NO_RANDOM_EFFECTS:
        return NO_RE if NoRandomEffectsWarning in warned else "no random effects, silently"
    differs = [not _close(c, p) for _, c, p in measured]
    assert all(differs), "a reference whose random effects do not change it tells nothing"
    if all(_close(got, c) for got, c, _ in measured):
        return COND if PopulationPredictionWarning not in warned else "conditional, with a population warning"
    if all(_close(got, p) for got, _, p in measured):
        return POP if PopulationPredictionWarning in warned else "population, silently"
    return "mixed"


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("tool", list(TABLE))
def test_what_each_tool_delivers(tool, route, sleep_routes, sites):
    assert _measure(tool, route, sleep_routes, sites) == TABLE[tool][ROUTES.index(route)]


def test_the_guide_has_the_measured_table():
    """The guide's table "Which path delivers groups where" says what the tests measure."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text[text.index("Which path delivers groups where"):]
    table = section[section.index(".. list-table::"):]
    rows, row = [], None
    for line in table.splitlines()[1:]:
        if line.startswith("   * - "):
            row = [line[7:]]
            rows.append(row)
        elif line.startswith("     - ") and row is not None:
            row.append(line[7:])
        elif line.startswith("       ") and row is not None:
            row[-1] += " " + line.strip()
        elif line.strip() and not line.startswith("   :"):
            break
    cells = [[re.sub(r"``|\\\*|:\w+:`~?|`", "", c).strip() for c in r] for r in rows]
    assert cells[0] == ["Tool", "group_columns", "routing on", "routing off"]
    documented = {r[0]: tuple(c.split(":")[0].split(" (see")[0].strip() for c in r[1:]) for r in cells[1:]}
    assert documented == TABLE

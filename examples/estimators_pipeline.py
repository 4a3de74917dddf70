"""Mixed-effects estimators in scikit-learn pipelines, cross-validation and grid search.

The ways to give the estimators their grouping factors, on the sleepstudy data
(reaction times of 18 subjects over 10 days of sleep deprivation):

1. ``group_columns`` (the default route): the grouping factor is a column of ``X`` and
   travels with it through every tool, so every fit and every prediction sees it.
2. Metadata routing: ``groups`` is requested by ``fit``, ``predict`` and ``score`` by
   default, so one ``groups`` array splits the ``GroupKFold`` folds *and* reaches the
   model inside a ``Pipeline`` in ``GridSearchCV``. Scorers given by name call
   ``predict(X)`` alone: the model then predicts at the population level and warns;
   ``sklmixed.metrics.get_scorer`` passes the groups on.
3. The trap: without routing, ``GridSearchCV(...).fit(X, y, groups=g)`` hands ``g`` to
   the splitter only; the model is fit without random effects (``theta_`` empty), and
   says so with a ``NoRandomEffectsWarning``.

``GroupKFold`` scores predictions for *new* subjects (population level, asked for with
``new_levels="population"``); ``KFold`` scores new days of *known* subjects, where the
subjects' conditional modes help. A last row fits the logistic mixed model of the
verbal-aggression data with crossed subject and item factors, both as ``group_columns``.

Run with ``python examples/estimators_pipeline.py``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import sklearn
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklmixed import GeneralizedMixedClassifier, LinearMixedRegressor, load_dataset
from sklmixed.metrics import get_scorer


def _row(how, cv, scores, estimator, caught):
    theta = np.round(estimator.theta_, 3).tolist() if len(estimator.theta_) else "[] (no random effects)"
    warned = sorted({w.category.__name__ for w in caught if w.category.__module__.startswith("sklmixed")})
    return {"how groups are passed": how, "cv": cv, "mean R² or accuracy": round(float(np.mean(scores)), 3),
            "theta_ of the refit": theta, "warnings": ", ".join(warned) or "-"}


def _cv(result):
    """The test scores of a ``cross_validate(..., return_estimator=True)`` and its first estimator."""
    return result["test_score"], result["estimator"][0]


def _run(rows, how, cv, fit):
    """Run ``fit() -> (scores, estimator)``, recording the warnings it gives."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores, estimator = fit()
    rows.append(_row(how, cv, scores, estimator, caught))


def main() -> pd.DataFrame:
    start = time.perf_counter()
    data = load_dataset("sleepstudy")
    X, y, subj = data[["days"]], data["reaction"], data["subj"]
    known_cv = KFold(n_splits=6, shuffle=True, random_state=0)
    rows = []

    # 1. group_columns: the groups travel in X, nothing to route
    Xg = data[["days", "subj"]]
    mixed = LinearMixedRegressor(random_slopes=["days"], group_columns=["subj"], new_levels="population")
    search = GridSearchCV(mixed, {"optimizer": ["LN_BOBYQA", "LN_NELDERMEAD"]}, cv=GroupKFold(n_splits=6))
    _run(rows, "group_columns + GridSearchCV", "GroupKFold",
         lambda: ([search.fit(Xg, y, groups=subj).best_score_], search.best_estimator_))  # groups split the folds
    _run(rows, "group_columns + cross_validate", "KFold",
         lambda: _cv(cross_validate(mixed, Xg, y, cv=known_cv, return_estimator=True)))

    # 2. metadata routing: one groups array for the splitter, fit and score
    grid = {"linearmixedregressor__optimizer": ["LN_BOBYQA", "LN_NELDERMEAD"],
            "linearmixedregressor__ftol_rel": [1e-12, 1e-8]}
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(StandardScaler(), LinearMixedRegressor(random_slopes=["days"], new_levels="population"))
        pipe.set_output(transform="pandas")  # keep the column name "days" for random_slopes
        search = GridSearchCV(pipe, grid, cv=GroupKFold(n_splits=6))
        _run(rows, "routing + GridSearchCV", "GroupKFold",
             lambda: ([search.fit(X, y, groups=subj).best_score_], search.best_estimator_[-1]))
        lmm = LinearMixedRegressor(random_slopes=["days"])
        for how, scoring in (("routing + scoring=get_scorer('r2')", get_scorer("r2")),
                             ("routing + scoring='r2' (population)", "r2")):
            _run(rows, how, "KFold", lambda scoring=scoring: _cv(cross_validate(
                lmm, X, y, params={"groups": subj}, scoring=scoring, cv=known_cv, return_estimator=True)))

    # 3. the trap: without routing the groups reach the splitter only
    trap = GridSearchCV(LinearMixedRegressor(random_slopes=["days"]), {"optimizer": ["LN_BOBYQA"]},
                        cv=GroupKFold(n_splits=6))
    _run(rows, "groups to GridSearchCV, no routing", "GroupKFold",
         lambda: ([trap.fit(X, y, groups=subj).best_score_], trap.best_estimator_))

    # a classifier with crossed factors as group_columns, folds by subject
    verbagg = load_dataset("verbagg")
    Xv = verbagg[["anger", "gender", "btype", "situ", "subj", "item"]]
    clf = GeneralizedMixedClassifier(group_columns=["subj", "item"], fast=True, new_levels="population")
    _run(rows, "classifier, group_columns (accuracy)", "GroupKFold",
         lambda: _cv(cross_validate(clf, Xv, verbagg["r2"], groups=verbagg["subj"], cv=GroupKFold(n_splits=3),
                                    return_estimator=True)))

    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 160, "display.max_colwidth", 60):
        print(table.to_string(index=False))
    print(f"\n(took {time.perf_counter() - start:.1f} s)")
    return table


if __name__ == "__main__":
    main()

"""Mixed-effects estimators in scikit-learn pipelines, cross-validation and grid search.

Three ways to give the estimators their grouping factors, on the sleepstudy data
(reaction times of 18 subjects over 10 days of sleep deprivation):

1. Metadata routing: ``groups`` is requested by ``fit``, ``predict`` and ``score`` by
   default, so one ``groups`` array splits the ``GroupKFold`` folds *and* reaches the
   model inside a ``Pipeline`` in ``GridSearchCV``.
2. ``group_columns``: the grouping factor is a column of ``X`` and travels with it, no
   routing needed.
3. The trap: without routing, ``GridSearchCV(...).fit(X, y, groups=g)`` hands ``g`` to
   the splitter only, and the model is fit without random effects (``theta_`` empty).

``GroupKFold`` scores predictions for *new* subjects (population level); ``KFold``
scores new days of *known* subjects, where the subjects' conditional modes help.
A last row fits the logistic mixed model of the verbal-aggression data with crossed
subject and item factors, both as ``group_columns``.

Run with ``python examples/estimators_pipeline.py``.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import sklearn
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklmixed import GeneralizedMixedClassifier, LinearMixedRegressor, load_dataset


def _row(how, cv, scores, estimator):
    theta = np.round(estimator.theta_, 3).tolist() if len(estimator.theta_) else "[] (no random effects)"
    return {"how groups are passed": how, "cv": cv, "mean R² or accuracy": round(float(np.mean(scores)), 3),
            "theta_ of the refit": theta}


def main() -> pd.DataFrame:
    start = time.perf_counter()
    data = load_dataset("sleepstudy")
    X, y, subj = data[["days"]], data["reaction"], data["subj"]
    grid = {"linearmixedregressor__optimizer": ["LN_BOBYQA", "LN_NELDERMEAD"],
            "linearmixedregressor__ftol_rel": [1e-12, 1e-8]}
    rows = []

    # 1. metadata routing: one groups array for the splitter, fit and score
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(StandardScaler(), LinearMixedRegressor(random_slopes=["days"]))
        pipe.set_output(transform="pandas")  # keep the column name "days" for random_slopes
        search = GridSearchCV(pipe, grid, cv=GroupKFold(n_splits=6)).fit(X, y, groups=subj)
        rows.append(_row("routing + GridSearchCV", "GroupKFold", [search.best_score_], search.best_estimator_[-1]))
        known = cross_validate(search.best_estimator_, X, y, params={"groups": subj},
                               cv=KFold(n_splits=6, shuffle=True, random_state=0), return_estimator=True)
        rows.append(_row("routing + cross_validate", "KFold", known["test_score"], known["estimator"][0][-1]))

    # 2. group_columns: the groups travel in X, nothing to route
    Xg = data[["days", "subj"]]
    mixed = LinearMixedRegressor(random_slopes=["days"], group_columns=["subj"])
    search = GridSearchCV(mixed, {"optimizer": ["LN_BOBYQA", "LN_NELDERMEAD"]}, cv=GroupKFold(n_splits=6))
    search.fit(Xg, y, groups=subj)  # these groups only split the folds
    rows.append(_row("group_columns + GridSearchCV", "GroupKFold", [search.best_score_], search.best_estimator_))
    known = cross_validate(mixed, Xg, y, cv=KFold(n_splits=6, shuffle=True, random_state=0), return_estimator=True)
    rows.append(_row("group_columns + cross_validate", "KFold", known["test_score"], known["estimator"][0]))

    # 3. the trap: without routing the groups reach the splitter only
    trap = GridSearchCV(LinearMixedRegressor(random_slopes=["days"]), {"optimizer": ["LN_BOBYQA"]},
                        cv=GroupKFold(n_splits=6)).fit(X, y, groups=subj)
    rows.append(_row("groups to GridSearchCV, no routing", "GroupKFold", [trap.best_score_], trap.best_estimator_))

    # a classifier with crossed factors as group_columns, folds by subject
    verbagg = load_dataset("verbagg")
    Xv = verbagg[["anger", "gender", "btype", "situ", "subj", "item"]]
    clf = GeneralizedMixedClassifier(group_columns=["subj", "item"], fast=True)
    result = cross_validate(clf, Xv, verbagg["r2"], groups=verbagg["subj"], cv=GroupKFold(n_splits=3),
                            return_estimator=True)
    rows.append(_row("classifier, group_columns (accuracy)", "GroupKFold", result["test_score"],
                     result["estimator"][0]))

    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 140, "display.max_colwidth", 60):
        print(table.to_string(index=False))
    print(f"\n(took {time.perf_counter() - start:.1f} s)")
    return table


if __name__ == "__main__":
    main()

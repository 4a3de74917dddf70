"""Grouping factors on their way into an estimator, and the labels of new rows against the fit.

Grouping factors arrive as the ``groups`` argument (:func:`groups_columns`; at predict time
a DataFrame is matched to the fit's factors by column name, :func:`match_groups`) or as
``group_columns`` of X (:func:`group_column_values`). At fit time every row needs a label
of every factor. At predict time a missing label (NaN, None) asks for the population-level
prediction, and :func:`check_new_levels` applies the estimator's ``new_levels`` policy to
labels not seen in fitting and to predictions that got no groups at all.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..exceptions import NoRandomEffectsWarning, PopulationPredictionWarning

__all__ = []

#: "most" labels unseen: more than this share of the labelled rows of a factor
MOSTLY_UNSEEN = 0.5

_ROUTE = ("scikit-learn tools that call predict(X) alone (cross_val_predict, scorers given by name such as "
          "scoring='r2', a search's own predict, StackingRegressor, VotingClassifier, CalibratedClassifierCV, "
          "permutation_importance, partial_dependence) do not pass groups: give the grouping factors as "
          "group_columns of X, or score with sklmixed.metrics.get_scorer(...) and metadata routing")


def is_frame(X) -> bool:
    return hasattr(X, "columns") and hasattr(X, "iloc") and getattr(X, "ndim", 2) == 2


def rows_text(mask) -> str:
    rows = np.flatnonzero(mask)
    shown = ", ".join(str(r) for r in rows[:5])
    return f"row {shown}" if len(rows) == 1 else f"rows {shown}" + (", ..." if len(rows) > 5 else "")


def missing_labels(values) -> np.ndarray:
    """Which labels are missing (NaN, None, pd.NA, NaT)."""
    return np.asarray(pd.isna(np.asarray(values, dtype=object)), dtype=bool)


def _check_complete(cols, names, where):
    for name, col in zip(names, cols):
        missing = missing_labels(col)
        if missing.any():
            raise ValueError(f"{where} {name!r} has missing values: {int(missing.sum())}, in {rows_text(missing)}; "
                             "every sample needs a level of every grouping factor when fitting (at predict time a "
                             "missing label asks for the population-level prediction)")


def groups_columns(groups, n_samples, *, fitting):
    """Validate ``groups``: a list of 1-D arrays (one per factor), their names, and whether the
    names are the user's (a DataFrame's columns, a Series' name) rather than made up."""
    if is_frame(groups):
        cols = [groups.iloc[:, k].array for k in range(groups.shape[1])]
        names, named = [str(c) for c in groups.columns], True
    elif isinstance(groups, pd.Series):
        cols = [groups.array]
        names, named = [str(groups.name) if groups.name is not None else "group"], groups.name is not None
    else:
        arr = np.asarray(groups)
        if arr.ndim == 1:
            cols, names = [arr], ["group"]
        elif arr.ndim == 2:
            cols = [arr[:, k] for k in range(arr.shape[1])]
            names = [f"group{k}" for k in range(arr.shape[1])]
        else:
            raise ValueError(f"groups must be 1-D (one grouping factor) or 2-D (one column per factor), "
                             f"got an array of shape {arr.shape}")
        named = False
    if not cols:
        raise ValueError("groups has no columns")
    if len(cols[0]) != n_samples:
        raise ValueError(f"groups has {len(cols[0])} rows but X has {n_samples} samples")
    if len(set(names)) < len(names):
        raise ValueError(f"groups has repeated column names: {names}")
    if fitting:
        _check_complete(cols, names, "groups column")
    return cols, names, named


def match_groups(groups, n_samples, fit_names, fit_named) -> list:
    """The columns of ``groups`` at predict time, in the order of the fit's grouping factors.

    A DataFrame is matched by column name when the fit's factors had names; anything else
    by position.
    """
    cols, names, _ = groups_columns(groups, n_samples, fitting=False)
    by_name = is_frame(groups) and fit_named
    if len(cols) != len(fit_names):
        given = f"; groups has the columns {names}" if by_name else ""
        raise ValueError(f"groups has {len(cols)} column(s), but the model was fit with "
                         f"{len(fit_names)} grouping factor(s) {list(fit_names)}{given}")
    if not by_name:
        return cols
    unknown = [n for n in names if n not in fit_names]
    if unknown:
        absent = [n for n in fit_names if n not in names]
        raise ValueError(f"groups has the column(s) {unknown}, which are not grouping factors of the model, and "
                         f"lacks {absent}; the model was fit with the grouping factors {list(fit_names)} (a groups "
                         "DataFrame is matched to them by column name)")
    return [cols[names.index(name)] for name in fit_names]


def group_column_values(X, X_arr, positions, names, *, fitting) -> list:
    """The grouping columns of X (original values for a DataFrame, whose dtypes validation may change)."""
    cols = [X.iloc[:, j].array if is_frame(X) else X_arr[:, j] for j in positions]
    if fitting:
        _check_complete(cols, names, "grouping column")
        for name, col in zip(names, cols):
            _check_labels_look_like_labels(col, name)
    return cols


def _check_labels_look_like_labels(col, name):
    """Refuse a column of fractional numbers as a grouping factor: the mark of a column taken by position
    from an X whose columns a tool dropped or reordered."""
    values = np.asarray(col)
    if values.dtype.kind == "O" and pd.api.types.infer_dtype(values, skipna=True) in ("floating",
                                                                                    "mixed-integer-float"):
        values = values.astype(float)
    if values.dtype.kind != "f":
        return
    fractional = values != np.round(values)
    if fractional.any():
        example = values[np.flatnonzero(fractional)[0]]
        raise ValueError(f"grouping column {name!r} holds fractional numbers (e.g. {example!r}), not group labels. "
                         "If a scikit-learn tool dropped or reordered the columns of X (RFE, "
                         "SequentialFeatureSelector, BaggingRegressor with max_features < 1), group_columns given "
                         "by position point at another column: give the groups as metadata, or keep the grouping "
                         "columns last and name them by negative index")


# ---------------------------------------------------------------------- policies
def warn_no_random_effects(random_slopes) -> None:
    """The fit got neither ``groups`` nor ``group_columns``."""
    slopes = " (random_slopes is ignored)" if random_slopes is not None else ""
    warnings.warn("fit got neither groups nor group_columns, so the model has no random effects" + slopes + ". "
                  "A search or cross-validation given groups=... with metadata routing off passes them to the "
                  "splitter only: use group_columns, or sklearn.set_config(enable_metadata_routing=True). "
                  "Set group_columns=[] to fit without random effects on purpose.",
                  NoRandomEffectsWarning, stacklevel=4)


def check_no_groups(policy, factor_names) -> None:
    """Predict got no groups for a model with random effects for ``factor_names``."""
    if policy == "population":
        return
    what = f"this model has random effects for {list(factor_names)}, but predict got no groups"
    if policy == "error":
        raise ValueError(f"{what}: pass groups=..., or set new_levels='population' to predict at the population "
                         "level")
    warnings.warn(f"{what}: predicting at the population level (random effects at zero). {_ROUTE}. Set "
                  "new_levels='population' to predict at the population level on purpose.",
                  PopulationPredictionWarning, stacklevel=4)


def check_new_levels(policy, factor_names, values, codes) -> None:
    """Apply ``new_levels`` to the labels ``values`` of every factor, coded ``codes`` (-1: not seen or missing)."""
    if policy == "population":
        return
    for name, vals, c in zip(factor_names, values, codes):
        coded_out = np.asarray(c) < 0
        if not coded_out.any():  # every label seen: nothing to tell missing from unseen
            continue
        labelled = ~missing_labels(vals)
        unseen = coded_out & labelled
        count = int(unseen.sum())
        if not count:
            continue
        examples = list(pd.unique(np.asarray(vals, dtype=object)[unseen])[:5])
        if policy == "error":
            raise ValueError(f"{count} row(s) have levels of {name!r} not seen in fitting, e.g. {examples}; set "
                             "new_levels='population' to predict them at the population level")
        if count > MOSTLY_UNSEEN * labelled.sum():
            warnings.warn(f"{count} of {int(labelled.sum())} labelled rows have levels of {name!r} not seen in "
                          f"fitting (e.g. {examples}): they are predicted at the population level. Expected when "
                          "the folds hold out whole groups (GroupKFold); set new_levels='population' to predict "
                          "new levels on purpose, or 'error' to refuse them.",
                          PopulationPredictionWarning, stacklevel=4)

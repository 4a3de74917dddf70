"""From ``(X, groups)`` to the core's terms, and back for new data: the estimators' layout.

At fit time :func:`fit_layout` checks the inputs, names every column, learns the levels of
the categorical and text columns, resolves ``group_columns`` and ``random_slopes``, and
describes every model-matrix column as a :class:`Column` recipe. The recipes build the
fixed-effects :class:`~sklmixed.terms.FeTerm` and the :class:`~sklmixed.terms.ReMat` of
every grouping factor directly, with no formula text in between, and encode new rows the
same way at predict time. The coding is formulaic's, which the formula interface uses:
the intercept ``(Intercept)`` first, then every non-grouping column of X in order;
numeric and boolean columns as floats; a categorical or text column with treatment
coding ``col[T.level]`` (first level dropped) when an intercept is in the model, and the
full coding ``col[level]`` for the first categorical column of a model without one.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.utils.validation import validate_data

from ..terms.grouping import GroupingFactor
from ..terms.remat import ArrayColumns, ReMat
from ._groups import group_column_values, groups_columns, is_frame, match_groups, rows_text
from ._params import as_column_list

__all__ = []

_NUMERIC_INFERRED = {"integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty"}
_INTERCEPT = "(Intercept)"


# ---------------------------------------------------------------------- inputs
def _is_numeric_column(values) -> bool:
    """True for a numeric or boolean pandas column, False for categorical or text."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return False
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return True
    if dtype == np.dtype(object):
        return pd.api.types.infer_dtype(values, skipna=True) in _NUMERIC_INFERRED
    return False


def _missing_mask(values):
    """Missing or non-finite entries of an array-like (1-D or 2-D); None when it cannot be inspected."""
    if values is None or sp.issparse(values):
        return None
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError):  # ragged lists and the like: scikit-learn's validation reports them
        return None
    if arr.dtype.kind in "biuf":
        return ~np.isfinite(arr)
    if arr.dtype.kind == "O":
        return np.asarray(pd.isna(arr), dtype=bool)
    return None


def check_no_missing(values, what, skip=()):
    """Raise a ``ValueError`` naming the columns of ``values`` that hold NaN, infinity or None, with counts.

    The message starts like scikit-learn's ("Input X contains NaN ...") and says where.
    Columns at the positions ``skip`` (grouping columns, checked on their own) are left out.
    """
    if is_frame(values):
        if values.shape[1] == 0:
            return
        masks = [_missing_mask(values.iloc[:, j]) for j in range(values.shape[1])]
        # columns that cannot be inspected (dates, say) are left to scikit-learn's validation
        mask = np.column_stack([np.zeros(len(values), dtype=bool) if m is None else m for m in masks])
        labels = [f"column {str(c)!r}" for c in values.columns]
    else:
        mask = _missing_mask(values)
        if mask is None or mask.ndim not in (1, 2):
            return
        labels = [f"column {j}" for j in range(mask.shape[1])] if mask.ndim == 2 else None
    if skip and mask.ndim == 2:
        mask = mask.copy()
        mask[:, list(skip)] = False
    total = int(mask.sum())
    if not total:
        return
    if mask.ndim == 1:
        raise ValueError(f"Input {what} contains NaN or infinity: {total} missing or non-finite value(s), "
                         f"in {rows_text(mask)}")
    counts = mask.sum(axis=0)
    desc = ", ".join(f"{labels[j]} ({int(counts[j])})" for j in np.flatnonzero(counts))
    raise ValueError(f"Input {what} contains NaN or infinity: {total} missing or non-finite value(s) in {desc}; "
                     f"first in {rows_text(mask.any(axis=1))}")


def validate_X(estimator, X, y="no_validation", *, reset, numeric=None, y_numeric=True, group_pos=()):
    """``validate_data`` on X (and y); returns the array(s) and the per-column kinds (True: numeric).

    The grouping columns at ``group_pos`` may hold labels of any type, and, at predict
    time (``reset=False``), missing labels.
    """
    group_pos = list(group_pos)
    if numeric is None:
        if is_frame(X):
            numeric = [_is_numeric_column(X.iloc[:, j]) for j in range(X.shape[1])]
        elif group_pos and getattr(X, "dtype", None) is not None and X.dtype.kind in "OUS" and X.ndim == 2:
            # a NumPy array of objects (ColumnTransformer's, BaggingRegressor's, RFE's output): the
            # grouping columns may hold text, every other column must be numeric
            numeric = [j not in group_pos for j in range(X.shape[1])]
    mixed = numeric is not None and not all(numeric)
    kwargs = {"dtype": None if mixed else "numeric", "reset": reset}
    if group_pos:
        kwargs["ensure_all_finite"] = False  # the grouping columns may hold missing labels
    # at fit time every row needs a label (the message names the grouping column); at predict
    # time a missing label asks for the population-level prediction
    check_no_missing(X, "X", skip=() if reset else group_pos)
    if isinstance(y, str) and y == "no_validation":
        X_arr = validate_data(estimator, X, **kwargs)
    else:
        check_no_missing(y, "y")
        X_arr, y = validate_data(estimator, X, y, y_numeric=y_numeric, **kwargs)
    if mixed:
        num = [j for j, ok in enumerate(numeric) if ok and j not in group_pos]
        if num:
            try:
                values = X_arr[:, num].astype(float)
            except (TypeError, ValueError) as err:
                bad = next(j for j in num if not _converts(X_arr[:, j]))
                raise ValueError(f"X column {bad} must be numeric (only grouping columns may hold text): {err}. "
                                 "Categorical columns need a DataFrame (in a Pipeline, call "
                                 "set_output(transform='pandas'))") from None
            # validate_data only looks for NaN in object arrays; check the numeric columns for infinity too
            if not np.all(np.isfinite(values)):
                raise ValueError("Input X contains infinity or a value too large for dtype('float64').")
    return X_arr, y, [True] * X_arr.shape[1] if numeric is None else numeric


def _converts(column) -> bool:
    try:
        column.astype(float)
    except (TypeError, ValueError):
        return False
    return True


def feature_names(X):
    """The column names of X as ``validate_data`` records them (None unless all are strings)."""
    if is_frame(X) and len(X.columns) and all(isinstance(c, str) for c in X.columns):
        return np.asarray(X.columns, dtype=object)
    return None


def group_positions(X, group_columns):
    """X positions of the ``group_columns`` (empty for None); checked before X is validated."""
    if group_columns is None:
        return []
    shape = np.shape(X)
    if len(shape) != 2:
        return []  # validate_data reports the shape
    names = feature_names(X)
    pos = column_positions(group_columns, "group_columns", shape[1], None, names)
    if names is None and sorted(pos) != list(range(shape[1] - len(pos), shape[1])):
        # positions are all a nameless X offers, and tools that drop columns (RFE) keep the last ones last
        raise ValueError(f"group_columns {group_columns!r} are columns {sorted(pos)} of an X of {shape[1]} columns "
                         "without column names; there they must be the last columns, named by negative index "
                         f"(group_columns={list(range(-len(pos), 0))}), which stay right when a tool such as RFE "
                         "drops columns. Or pass a DataFrame and name them.")
    return pos


def column_positions(spec, name, n_features, allowed, feature_names):
    """X positions of the columns ``spec`` names, checked against ``allowed`` (None: any)."""
    out = []
    for item in as_column_list(spec, name):
        if isinstance(item, str):
            if feature_names is None:
                raise ValueError(f"{name} names column {item!r}, but X has no column names; "
                                 "pass a pandas DataFrame (in a Pipeline, call set_output(transform='pandas')) "
                                 "or use integer column indices")
            hits = np.flatnonzero(feature_names == item)
            if len(hits) == 0:
                raise ValueError(f"{name} names column {item!r}, which is not in X; X has {list(feature_names)}")
            pos = int(hits[0])
        else:
            pos = int(item)
            if not -n_features <= pos < n_features:
                raise ValueError(f"{name} has column index {pos}, but X has {n_features} columns")
            pos %= n_features
        if allowed is not None and pos not in allowed:
            raise ValueError(f"{name} refers to X column {item!r}, which is a grouping column")
        if pos not in out:
            out.append(pos)
    return out


# ---------------------------------------------------------------------- model-matrix columns
class Column(NamedTuple):
    """One model-matrix column: the intercept (``pos == -1``), numeric X column ``pos``
    (``level`` None), or the indicator of level ``level`` of categorical X column ``pos``."""

    pos: int
    level: int | None = None


@dataclass
class Design:
    """The columns of one term (or block of a term): recipes, names, how to build them."""

    columns: list
    names: list
    intercept_only: bool = False

    def matrix(self, encoded, n) -> np.ndarray:
        """The ``(n, len(columns))`` matrix of the encoded X columns."""
        out = np.empty((n, len(self.columns)))
        for c, (pos, level) in enumerate(self.columns):
            if pos < 0:
                out[:, c] = 1.0
            elif level is None:
                out[:, c] = encoded[pos]
            else:
                out[:, c] = encoded[pos] == level
        return out


def _design(intercept, positions, names, categories, *, intercept_only=False) -> Design:
    """formulaic's coding of ``[1 +|0 +] col + col + ...``: treatment coding of every categorical
    column once the intercept (or a fully coded column) spans it, full coding before."""
    columns, out = ([Column(-1)], [_INTERCEPT]) if intercept else ([], [])
    spanned = intercept
    for pos in positions:
        cats = categories.get(pos)
        if cats is None:
            columns.append(Column(pos))
            out.append(names[pos])
            continue
        first, fmt = (1, "{}[T.{}]") if spanned else (0, "{}[{}]")
        columns += [Column(pos, level) for level in range(first, len(cats))]
        out += [fmt.format(names[pos], cats[level]) for level in range(first, len(cats))]
        spanned = True
    return Design(columns, out, intercept_only)


def _quoted(name: str) -> str:
    return name if name.isidentifier() else f"`{name}`"


@dataclass
class Layout:
    """How ``(X, groups)`` became the model's terms at fit time (kept for ``predict``)."""

    n_features: int
    numeric: list  # per X column: True numeric, False categorical/text
    names: list  # per X column: the user's name (x0, x1, ... without column names)
    feature_pos: list  # X positions of the fixed-effects columns
    categories: dict = field(default_factory=dict)  # X position -> pd.Index of levels
    group_source: str = "none"  # "none", "groups" or "columns"
    group_pos: list = field(default_factory=list)  # X positions (group_source == "columns")
    group_names: list = field(default_factory=list)
    group_named: bool = False  # the group names are the user's (matched by name at predict time)
    fixed: Design | None = None
    random: list = field(default_factory=list)  # per grouping factor: its blocks (Designs)
    slopes: list = field(default_factory=list)  # per grouping factor: X positions of its slopes
    correlated: bool = True
    keep: np.ndarray | None = None  # fixed-effects columns kept at full rank
    term_factor: list = field(default_factory=list)  # per model term (model order): the factor index

    # ------------------------------------------------------------------ encoding
    def encode(self, X, X_arr) -> list:
        """Every fixed-effects column of X as floats (numeric) or level codes (categorical); None elsewhere."""
        encoded = [None] * self.n_features
        for j in self.feature_pos:
            if self.numeric[j]:
                encoded[j] = np.asarray(X_arr[:, j], dtype=float)
                continue
            values = np.asarray(X.iloc[:, j] if is_frame(X) else X_arr[:, j], dtype=object)
            codes = self.categories[j].get_indexer(values)
            unknown = (codes < 0) & ~pd.isna(values)
            if unknown.any():
                raise ValueError(f"X column {self.names[j]!r} has categories not seen in fit: "
                                 f"{list(pd.unique(values[unknown])[:5])}")
            encoded[j] = codes
        return encoded

    def group_values(self, X, X_arr, groups) -> list | None:
        """The grouping columns of new rows (None: predict them at the population level)."""
        if self.group_source == "columns":
            if groups is not None:
                raise ValueError("this estimator takes its groups from the group_columns of X; "
                                 "do not pass groups as well")
            return group_column_values(X, X_arr, self.group_pos, self.group_names, fitting=False)
        if self.group_source == "none" or groups is None:
            return None
        return match_groups(groups, X_arr.shape[0], self.group_names, self.group_named)

    def _frame(self, k, values, n) -> pd.DataFrame:
        return pd.DataFrame({self.group_names[k]: values}, index=pd.RangeIndex(n))

    # ------------------------------------------------------------------ terms
    def remats(self, encoded, gcols, n) -> list[ReMat]:
        """One random-effects term per grouping factor, in factor order."""
        out = []
        for k, blocks in enumerate(self.random):
            grouping, refs = GroupingFactor.with_codes(self._frame(k, gcols[k], n), (self.group_names[k],))
            columns = [ArrayColumns(b.matrix(encoded, n), b.names, intercept_only=b.intercept_only) for b in blocks]
            out.append(ReMat(grouping, refs, columns))
        return out

    def random_parts(self, reterms, encoded, gcols, m):
        """Per model term: the level codes of new rows (-1 unseen or missing) and their columns."""
        codes, zs = [], []
        for r, k in zip(reterms, self.term_factor):
            codes.append(r.grouping.codes(self._frame(k, gcols[k], m)))
            zs.append(None if r.scalar_intercept else np.vstack([b.matrix(encoded, m).T for b in self.random[k]]))
        return codes, zs

    def display_formula(self, response, fit_intercept) -> tuple[str, str]:
        """The model in lme4's notation with the user's names, and its fixed part (for summaries only)."""
        fixed = " + ".join(["1" if fit_intercept else "0"] + [_quoted(self.names[j]) for j in self.feature_pos])
        bar = "|" if self.correlated else "||"
        bars = [f"({' + '.join(['1'] + [_quoted(self.names[j]) for j in slopes])} {bar} {_quoted(g)})"
                for g, slopes in zip(self.group_names, self.slopes)]
        return f"{_quoted(response)} ~ {' + '.join([fixed] + bars)}", fixed


def _slopes_by_factor(spec, layout, feature_names) -> list[list[int]]:
    """X positions of the random-slope columns of every grouping factor."""
    out = [[] for _ in layout.group_names]
    if spec is None or not out:  # no random effects: nothing to resolve
        return out
    fpos = layout.feature_pos

    def positions(cols):
        return column_positions(cols, "random_slopes", layout.n_features, fpos, feature_names)
    if not isinstance(spec, dict):
        return [positions(spec) for _ in out]
    for key, cols in spec.items():
        if isinstance(key, str) and key in layout.group_names:
            k = layout.group_names.index(key)
        elif (isinstance(key, numbers.Integral) and not isinstance(key, (bool, np.bool_))
              and 0 <= key < len(layout.group_names)):
            k = int(key)
        else:
            raise ValueError(f"random_slopes has key {key!r}, which is not a grouping factor; "
                             f"the factors are {layout.group_names} (or their positions)")
        if cols is not None:
            out[k] = positions(cols)
    return out


def fit_layout(X, X_arr, numeric, groups, group_pos, feature_names, params) -> tuple[Layout, list | None]:
    """The layout of the fitting data, and its grouping columns (None without groups).

    ``params`` are the resolved hyper-parameters; ``group_pos`` the X positions of the
    ``group_columns``; ``feature_names`` is ``feature_names_in_`` (None when X has no string
    column names).
    """
    n, p = X_arr.shape
    group_columns = params["group_columns"]
    if group_columns is not None and groups is not None:
        declared = ("group_columns=[] declares a model without random effects, but fit got groups as well"
                    if not group_pos else "groups were given both as the group_columns of X and as the groups "
                    "argument; use one")
        raise ValueError(
            f"{declared}. (With metadata routing enabled, estimators request groups by default: "
            "call set_fit_request(groups=False), set_predict_request(groups=False) and "
            "set_score_request(groups=False) when the groups travel in X.)"
        )
    names = [str(feature_names[j]) if feature_names is not None else f"x{j}" for j in range(p)]
    layout = Layout(n_features=p, numeric=numeric, names=names,
                    feature_pos=[j for j in range(p) if j not in group_pos], correlated=params["correlated"])
    for j in layout.feature_pos:
        if not numeric[j]:
            values = X.iloc[:, j] if is_frame(X) else pd.Series(X_arr[:, j])
            if isinstance(values.dtype, pd.CategoricalDtype):
                layout.categories[j] = pd.Index(values.cat.categories)
            else:
                layout.categories[j] = pd.Index(pd.Categorical(np.asarray(values, dtype=object)).categories)
    gcols = None
    if group_pos:
        layout.group_source, layout.group_pos = "columns", group_pos
        layout.group_names = [names[j] for j in group_pos]
        gcols = group_column_values(X, X_arr, group_pos, layout.group_names, fitting=True)
    elif groups is not None:
        layout.group_source = "groups"
        gcols, layout.group_names, layout.group_named = groups_columns(groups, n, fitting=True)
    if not params["fit_intercept"] and not layout.feature_pos:
        raise ValueError("there are no fixed effects: X has no columns besides the grouping columns "
                         "and fit_intercept=False")

    layout.fixed = _design(params["fit_intercept"], layout.feature_pos, names, layout.categories)
    layout.slopes = _slopes_by_factor(params["random_slopes"], layout, feature_names)
    for slopes in layout.slopes:
        if layout.correlated:
            blocks = [_design(True, slopes, names, layout.categories, intercept_only=not slopes)]
        else:
            blocks = [_design(True, [], names, layout.categories, intercept_only=True)]
            blocks += [_design(False, [j], names, layout.categories) for j in slopes]
        layout.random.append(blocks)
    return layout, gcols

"""What the scikit-learn estimators share: validation, the model frame, fitting glue.

The estimators turn ``(X, y, groups, sample_weight)`` into a pandas DataFrame and an
lme4-style formula for the numerical core (:class:`~sklmixed.LinearMixedModel`,
:class:`~sklmixed.GeneralizedLinearMixedModel`), using internal column names that the
formula parser accepts.  Everything learned about that layout at fit time is kept in a
private :class:`_Layout` so that ``predict`` builds the same frame for new data.
"""

from __future__ import annotations

import keyword
import numbers
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import _check_sample_weight, validate_data

from ..terms.feterm import FeTerm
from ..optim import check_algorithm

__all__ = []

# Names the formula machinery treats specially: sklmixed's response context
# (``log``, ``exp``, ...), formulaic's functions, Python keywords.
_RESERVED = frozenset(
    {"np", "log", "exp", "sqrt", "log10", "log2", "C", "I", "Q", "Intercept", "center", "scale",
     "poly", "bs", "cr", "cs", "cc", "te", "lag", "hashed", "contr", "standardize", "offset"}
    | set(keyword.kwlist)
)
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")

_NUMERIC_INFERRED = {"integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty"}


def _is_frame(X) -> bool:
    return hasattr(X, "columns") and hasattr(X, "iloc") and getattr(X, "ndim", 2) == 2


def _is_numeric_column(values) -> bool:
    """True for a numeric or boolean pandas column, False for categorical or text."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return False
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return True
    if dtype == object:
        return pd.api.types.infer_dtype(values, skipna=True) in _NUMERIC_INFERRED
    return False


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a bool, got {value!r}")


def _check_real(value, name, *, minimum=None):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")


def _check_int(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int, got {value!r}")


def _as_column_list(spec, name):
    """A column reference (name or index) or a list of them, as a list."""
    if isinstance(spec, (str, numbers.Integral)) and not isinstance(spec, (bool, np.bool_)):
        return [spec]
    if isinstance(spec, (list, tuple, np.ndarray, pd.Index)):
        items = list(spec)
        for item in items:
            if isinstance(item, (bool, np.bool_)) or not isinstance(item, (str, numbers.Integral)):
                raise ValueError(f"{name} must hold column names (str) or column indices (int), got {item!r}")
        return items
    raise ValueError(f"{name} must be a column name, a column index or a list of them, got {spec!r}")


@dataclass
class _Layout:
    """How ``(X, groups)`` became the model frame at fit time (kept for ``predict``)."""

    n_features: int
    numeric: list  # per X column: True numeric, False categorical/text
    feature_pos: list  # X positions of the fixed-effects columns
    feature_internal: list
    feature_display: list
    categories: dict = field(default_factory=dict)  # X position -> pd.Index of levels
    group_source: str = "none"  # "none", "groups" or "columns"
    group_pos: list = field(default_factory=list)  # X positions (group_source == "columns")
    group_internal: list = field(default_factory=list)
    group_display: list = field(default_factory=list)
    response: str = "y"

    @property
    def has_groups(self) -> bool:
        return bool(self.group_internal)

    def display(self, name: str) -> str:
        """Map an internal (encoded) column name back to the user's names."""
        lookup = dict(zip(self.feature_internal, self.feature_display))
        lookup.update(zip(self.group_internal, self.group_display))
        if name in lookup:
            return lookup[name]
        for internal, shown in lookup.items():
            if name.startswith(internal + "["):
                return shown + name[len(internal):]
        return name


class _Namer:
    """Unique formula-safe internal names: the user's name when it is safe, else a fallback."""

    def __init__(self):
        self.taken = set()

    def __call__(self, wanted, fallback) -> str:
        candidates = []
        if isinstance(wanted, str) and _IDENTIFIER.match(wanted) and wanted not in _RESERVED:
            candidates.append(wanted)
        candidates.append(fallback)
        for name in candidates:
            if name not in self.taken:
                self.taken.add(name)
                return name
        name = fallback
        while name in self.taken:
            name += "_"
        self.taken.add(name)
        return name


def _missing_mask(values):
    """Missing or non-finite entries of an array-like (1-D or 2-D); None when it cannot be inspected."""
    if values is None or sp.issparse(values):
        return None
    try:
        arr = np.asarray(values)
    except Exception:  # ragged lists and the like: scikit-learn's validation reports them
        return None
    if arr.dtype.kind in "biuf":
        return ~np.isfinite(arr)
    if arr.dtype.kind == "O":
        return np.asarray(pd.isna(arr), dtype=bool)
    return None


def _rows(mask) -> str:
    rows = np.flatnonzero(mask)
    shown = ", ".join(str(r) for r in rows[:5])
    return f"row {shown}" if len(rows) == 1 else f"rows {shown}" + (", ..." if len(rows) > 5 else "")


def _check_no_missing(values, what):
    """Raise a ``ValueError`` naming the columns of ``values`` that hold NaN, infinity or None, with counts.

    The message starts like scikit-learn's ("Input X contains NaN ...") and says where.
    """
    if _is_frame(values):
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
    total = int(mask.sum())
    if not total:
        return
    if mask.ndim == 1:
        raise ValueError(f"Input {what} contains NaN or infinity: {total} missing or non-finite value(s), "
                         f"in {_rows(mask)}")
    counts = mask.sum(axis=0)
    desc = ", ".join(f"{labels[j]} ({int(counts[j])})" for j in np.flatnonzero(counts))
    raise ValueError(f"Input {what} contains NaN or infinity: {total} missing or non-finite value(s) in {desc}; "
                     f"first in {_rows(mask.any(axis=1))}")


def _groups_columns(groups, n_samples, *, fitting):
    """Validate ``groups``: a list of 1-D arrays (one per factor) and their display names."""
    if _is_frame(groups):
        cols = [groups.iloc[:, k].array for k in range(groups.shape[1])]
        names = [str(c) for c in groups.columns]
    elif isinstance(groups, pd.Series):
        cols = [groups.array]
        names = [str(groups.name) if groups.name is not None else "group"]
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
    if not cols:
        raise ValueError("groups has no columns")
    if len(cols[0]) != n_samples:
        raise ValueError(f"groups has {len(cols[0])} rows but X has {n_samples} samples")
    if fitting:
        for name, col in zip(names, cols):
            missing = np.asarray(pd.isna(np.asarray(col, dtype=object)), dtype=bool)
            if missing.any():
                raise ValueError(f"groups column {name!r} has missing values: {int(missing.sum())}, in "
                                 f"{_rows(missing)}; every sample needs a level of every grouping factor")
    return cols, names


class _MixedModelEstimator(BaseEstimator):
    """Shared machinery of the mixed-model estimators (not a public class)."""

    # ``groups`` is requested by default, as scikit-learn's group splitters do, so that
    # with metadata routing one ``groups`` array reaches both the splitter and the model.
    __metadata_request__fit = {"groups": True}
    __metadata_request__predict = {"groups": True}
    __metadata_request__score = {"groups": True}

    _y_numeric = True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags

    # ------------------------------------------------------------------ parameters
    def _validate_params_common(self):
        if self.random_slopes is not None and not isinstance(self.random_slopes, dict):
            _as_column_list(self.random_slopes, "random_slopes")
        if isinstance(self.random_slopes, dict):
            for value in self.random_slopes.values():
                if value is not None:
                    _as_column_list(value, "random_slopes values")
        if self.group_columns is not None:
            _as_column_list(self.group_columns, "group_columns")
        _check_bool(self.correlated, "correlated")
        _check_bool(self.fit_intercept, "fit_intercept")
        check_algorithm(self.optimizer)
        _check_real(self.ftol_rel, "ftol_rel", minimum=0)
        _check_real(self.ftol_abs, "ftol_abs", minimum=0)
        _check_real(self.xtol_abs, "xtol_abs", minimum=0)
        _check_int(self.maxfeval, "maxfeval")
        _check_real(self.maxtime, "maxtime")
        if self.progress is not None:
            _check_bool(self.progress, "progress")

    def _configure_optsum(self, optsum, units=None):
        """Install the optimizer hyper-parameters on a core model's OptSummary.

        ``units`` scales ``xtol_abs`` per parameter (the core's units of θ for covariates on
        huge or tiny scales; 1 for β).
        """
        optsum.optimizer = self.optimizer
        optsum.ftol_rel = float(self.ftol_rel)
        optsum.ftol_abs = float(self.ftol_abs)
        units = np.ones(len(optsum.initial)) if units is None else np.asarray(units, dtype=float)
        optsum.xtol_abs = float(self.xtol_abs) * units
        optsum.maxfeval = int(self.maxfeval)
        optsum.maxtime = float(self.maxtime)

    # ------------------------------------------------------------------ columns
    def _column_positions(self, spec, name, n_features, allowed):
        """X positions of the columns ``spec`` names, checked against ``allowed``."""
        names = getattr(self, "feature_names_in_", None)
        out = []
        for item in _as_column_list(spec, name):
            if isinstance(item, str):
                if names is None:
                    raise ValueError(f"{name} names column {item!r}, but X has no column names; "
                                     "pass a pandas DataFrame (in a Pipeline, call set_output(transform='pandas')) "
                                     "or use integer column indices")
                hits = np.flatnonzero(names == item)
                if len(hits) == 0:
                    raise ValueError(f"{name} names column {item!r}, which is not in X; "
                                     f"X has {list(names)}")
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

    def _slopes_by_factor(self, layout):
        """Internal names of the random-slope columns of every grouping factor."""
        spec = self.random_slopes
        fpos = layout.feature_pos
        to_internal = dict(zip(fpos, layout.feature_internal))
        out = [[] for _ in layout.group_internal]
        if spec is None or not out:  # no random effects: nothing to resolve
            return out
        if isinstance(spec, dict):
            for key, cols in spec.items():
                if isinstance(key, str) and key in layout.group_display:
                    k = layout.group_display.index(key)
                elif (isinstance(key, numbers.Integral) and not isinstance(key, (bool, np.bool_))
                      and 0 <= key < len(layout.group_display)):
                    k = int(key)
                else:
                    raise ValueError(f"random_slopes has key {key!r}, which is not a grouping factor; "
                                     f"the factors are {layout.group_display} (or their positions)")
                if cols is not None:
                    pos = self._column_positions(cols, "random_slopes", layout.n_features, fpos)
                    out[k] = [to_internal[p] for p in pos]
            return out
        pos = self._column_positions(spec, "random_slopes", layout.n_features, fpos)
        return [[to_internal[p] for p in pos] for _ in out]

    # ------------------------------------------------------------------ validation
    def _validate_X(self, X, y="no_validation", *, reset, numeric=None):
        """``validate_data`` on X (and y); returns the array(s) and the per-column kinds."""
        if numeric is None:
            numeric = ([_is_numeric_column(X.iloc[:, j]) for j in range(X.shape[1])]
                       if _is_frame(X) else None)
        mixed = numeric is not None and not all(numeric)
        kwargs = {"dtype": None if mixed else "numeric", "reset": reset}
        _check_no_missing(X, "X")
        if not (isinstance(y, str) and y == "no_validation"):
            _check_no_missing(y, "y")
        if isinstance(y, str) and y == "no_validation":
            X_arr = validate_data(self, X, **kwargs)
        else:
            X_arr, y = validate_data(self, X, y, y_numeric=self._y_numeric, **kwargs)
        if mixed:
            num = [j for j, ok in enumerate(numeric) if ok]
            # validate_data only looks for NaN in object arrays; check the numeric
            # columns for infinity as well
            if num and not np.all(np.isfinite(X_arr[:, num].astype(float))):
                raise ValueError("Input X contains infinity or a value too large for dtype('float64').")
        if numeric is None:
            numeric = [True] * X_arr.shape[1]
        return X_arr, y, numeric

    def _feature_column(self, X, X_arr, j, layout):
        """Column ``j`` of X ready for the model frame (float or a fixed-level Categorical)."""
        if layout.numeric[j]:
            return np.asarray(X_arr[:, j], dtype=float)
        values = X.iloc[:, j] if _is_frame(X) else pd.Series(X_arr[:, j])
        cats = layout.categories[j]
        values = np.asarray(values, dtype=object)
        codes = cats.get_indexer(values)
        unknown = (codes < 0) & ~pd.isna(values)
        if unknown.any():
            bad = pd.unique(values[unknown])[:5]
            raise ValueError(f"X column {layout.feature_display[layout.feature_pos.index(j)]!r} has "
                             f"categories not seen in fit: {list(bad)}")
        return pd.Categorical.from_codes(codes, categories=cats)

    def _prepare_fit(self, X, y, groups, sample_weight):
        """Validate the fit inputs; return the model frame, response, weights and layout."""
        self._validate_params_common()
        y_name = getattr(y, "name", None)
        X_arr, y_arr, numeric = self._validate_X(X, y, reset=True)
        n, p = X_arr.shape
        sw = None
        if sample_weight is not None:
            _check_no_missing(sample_weight, "sample_weight")
            sw = _check_sample_weight(sample_weight, X_arr, dtype=np.float64, ensure_non_negative=True)

        if self.group_columns is not None and groups is not None:
            raise ValueError(
                "groups were given both as the group_columns of X and as the groups argument; "
                "use one. (With metadata routing enabled, estimators request groups by default: "
                "call set_fit_request(groups=False), set_predict_request(groups=False) and "
                "set_score_request(groups=False) when the groups travel in X.)"
            )
        group_pos = []
        if self.group_columns is not None:
            group_pos = self._column_positions(self.group_columns, "group_columns", p, None)
        feature_pos = [j for j in range(p) if j not in group_pos]
        names = getattr(self, "feature_names_in_", None)
        feature_display = [str(names[j]) if names is not None else f"x{j}" for j in range(p)]

        namer = _Namer()
        layout = _Layout(n_features=p, numeric=numeric, feature_pos=feature_pos,
                         feature_internal=[namer(feature_display[j], f"x{j}") for j in feature_pos],
                         feature_display=[feature_display[j] for j in feature_pos])
        columns = {}
        for j, internal in zip(feature_pos, layout.feature_internal):
            if not numeric[j]:
                values = X.iloc[:, j] if _is_frame(X) else pd.Series(X_arr[:, j])
                if isinstance(values.dtype, pd.CategoricalDtype):
                    cats = pd.Index(values.cat.categories)
                else:
                    cats = pd.Index(pd.Categorical(np.asarray(values, dtype=object)).categories)
                layout.categories[j] = cats
            columns[internal] = self._feature_column(X, X_arr, j, layout)

        if group_pos:
            gcols = [(X.iloc[:, j].array if _is_frame(X) else X_arr[:, j]) for j in group_pos]
            layout.group_source, layout.group_pos = "columns", group_pos
            layout.group_display = [feature_display[j] for j in group_pos]
        elif groups is not None:
            gcols, layout.group_display = _groups_columns(groups, n, fitting=True)
            layout.group_source = "groups"
        else:
            gcols = []
        layout.group_internal = [namer(name, f"g{k}") for k, name in enumerate(layout.group_display)]
        for internal, col in zip(layout.group_internal, gcols):
            columns[internal] = col
        layout.response = namer(str(y_name) if y_name is not None else "y", "y")

        if not self.fit_intercept and not feature_pos:
            raise ValueError("there are no fixed effects: X has no columns besides the grouping columns "
                             "and fit_intercept=False")
        return columns, y_arr, sw, layout

    @staticmethod
    def _subset(columns, y, sw):
        """Drop the rows with zero sample weight (they do not enter the likelihood)."""
        if sw is None or np.all(sw > 0):
            return columns, y, sw
        keep = sw > 0
        return {k: np.asarray(v)[keep] if not isinstance(v, pd.api.extensions.ExtensionArray) else v[keep]
                for k, v in columns.items()}, y[keep], sw[keep]

    def _formula(self, layout) -> tuple[str, str]:
        """The fixed-effects right-hand side and the full mixed-model formula."""
        fixed = " + ".join(["1" if self.fit_intercept else "0"] + layout.feature_internal)
        bars = []
        bar = "|" if self.correlated else "||"
        for g, slopes in zip(layout.group_internal, self._slopes_by_factor(layout)):
            bars.append(f"({' + '.join(['1'] + slopes)} {bar} {g})")
        return fixed, f"{layout.response} ~ {' + '.join([fixed] + bars)}"

    def _fixed_design(self, fixed, frame):
        return FeTerm.from_formula(fixed, frame)

    # ------------------------------------------------------------------ results
    def _set_fixed_effects(self, feterm, beta):
        """``beta_``, ``coef_``, ``intercept_`` and ``coef_names_`` from full-rank estimates."""
        layout = self._layout
        self._feterm = feterm
        self.beta_ = np.asarray(beta, dtype=float).copy()
        full = np.zeros(len(feterm.names))
        full[feterm.keep] = self.beta_
        names = [layout.display(nm) for nm in feterm.names]
        if self.fit_intercept:
            self.intercept_ = float(full[0])
            self.coef_, self.coef_names_ = full[1:], np.asarray(names[1:], dtype=object)
        else:
            self.intercept_ = 0.0
            self.coef_, self.coef_names_ = full, np.asarray(names, dtype=object)

    def _set_random_effects(self, model):
        layout = self._layout
        self.model_ = model
        if model is None:
            self.theta_ = np.zeros(0)
            self.ranef_ = {}
            self.optsum_ = None
            return
        self.theta_ = np.asarray(model.theta, dtype=float).copy()
        self.optsum_ = model.optsum
        ranef = {}
        for name, df in model.ranef().items():
            df = df.copy()
            shown = layout.display(name)
            df.index.name = shown
            df.columns = [layout.display(c) for c in df.columns]
            ranef[shown] = df
        self.ranef_ = ranef

    # ------------------------------------------------------------------ prediction
    def _predict_frame(self, X, groups):
        """The model frame for new data and whether it carries grouping columns."""
        layout = self._layout
        X_arr, _, _ = self._validate_X(X, reset=False, numeric=layout.numeric)
        n = X_arr.shape[0]
        frame = {internal: self._feature_column(X, X_arr, j, layout)
                 for j, internal in zip(layout.feature_pos, layout.feature_internal)}
        has_groups = False
        if layout.group_source == "columns":
            if groups is not None:
                raise ValueError("this estimator takes its groups from the group_columns of X; "
                                 "do not pass groups as well")
            for j, internal in zip(layout.group_pos, layout.group_internal):
                frame[internal] = X.iloc[:, j].array if _is_frame(X) else X_arr[:, j]
            has_groups = True
        elif layout.group_source == "groups" and groups is not None:
            gcols, _ = _groups_columns(groups, n, fitting=False)
            if len(gcols) != len(layout.group_internal):
                raise ValueError(f"groups has {len(gcols)} column(s), but the model was fit with "
                                 f"{len(layout.group_internal)} grouping factor(s) {layout.group_display}")
            for internal, col in zip(layout.group_internal, gcols):
                frame[internal] = col
            has_groups = True
        return pd.DataFrame(frame, index=pd.RangeIndex(n)), has_groups, n

    def _linear_predictor(self, X, groups):
        """``Xβ`` plus the conditional modes of the levels seen in fitting."""
        frame, has_groups, n = self._predict_frame(X, groups)
        if self.model_ is not None and has_groups:
            return self._model_linear_predictor(frame)
        Xf = self._feterm.new_X(frame) if frame.shape[1] else np.ones((n, 1))
        return Xf @ self.beta_

    def _model_linear_predictor(self, frame):  # pragma: no cover - overridden
        raise NotImplementedError

"""The model frame: the columns a formula needs, one missing-value scan, response, weights, offset."""

from __future__ import annotations

import functools
import re
import warnings

import numpy as np
import pandas as pd

from .columns import check_columns, dense_columns, normalise_dtypes, plain_message
from .parse import MixedFormula, plain_terms

__all__ = ["prepare_data", "response_values", "case_weights", "offset_values", "required_columns",
           "missing_counts"]

# pandas >= 3 always copies on write: a shallow copy of a frame is then as independent as a deep one
_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3 or getattr(pd.options.mode, "copy_on_write", False) is True


_RESPONSE_CONTEXT = {"np": np, "log": np.log, "exp": np.exp, "sqrt": np.sqrt, "log10": np.log10, "log2": np.log2}


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def _variables(expr: str, what: str) -> set[str]:
    simple = plain_terms(expr)
    if simple is not None:  # formulaic would find exactly these names, at a hundred times the cost
        return set(simple[1])
    import formulaic

    try:
        return set(formulaic.Formula(expr).required_variables)
    except Exception as err:  # formulaic raises many types for syntax errors
        raise ValueError(f"cannot parse the {what} {expr!r}: {plain_message(err)}") from None


def missing_counts(frame: pd.DataFrame) -> dict:
    """``{column: count}`` of the missing (or, in numeric columns, non-finite) values of ``frame``."""
    return _missing(frame)[1]


def _missing(frame: pd.DataFrame, columns=None) -> tuple[np.ndarray | None, dict]:
    """``(bad, counts)``: which rows miss a value in ``columns`` (default: all), and how many per column.

    ``bad`` is None when column names repeat (the frame-wide pandas check is used then; the
    caller selects the columns itself).
    """
    masks = _missing_masks(frame, columns)
    if masks is None:
        na = _missing_frame(frame if columns is None else frame.loc[:, [c for c in frame.columns if c in columns]])
        return None, {c: int(k) for c, k in na.sum().items() if k}
    bad = np.zeros(len(frame), dtype=bool)
    for m in masks.values():
        bad |= m
    return bad, ({c: int(m.sum()) for c, m in masks.items() if m.any()} if bad.any() else {})


def _missing_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The missing (or, in numeric columns, non-finite) values of ``frame`` as a boolean frame."""
    na = frame.isna()
    num = frame.select_dtypes(include="number")
    if num.shape[1]:
        na.loc[:, num.columns] |= ~np.isfinite(num.to_numpy(dtype=float))
    return na


def _missing_masks(frame: pd.DataFrame, columns=None) -> dict | None:
    """``{column: boolean mask}`` of the missing (or, in numeric columns, non-finite) values.

    The common dtypes are checked with NumPy on the column's own array; pandas'
    ``isna``/``select_dtypes`` machinery on the whole frame costs far more than the check
    itself for the small frames mixed models are often built from. Other dtypes (extension,
    datetime, complex) keep the pandas route, so that what counts as missing never changes.
    ``columns`` (default: all) are checked in the frame's column order. None when column
    names repeat (only the frame-wide check can tell such columns apart).
    """
    if not frame.columns.is_unique:
        return None
    masks, other = {}, []
    for c in frame.columns if columns is None else [c for c in frame.columns if c in columns]:
        col = frame[c]
        dtype = col.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "biu":
            masks[c] = None  # cannot hold a missing value
        elif isinstance(dtype, np.dtype) and dtype.kind == "f":
            masks[c] = ~np.isfinite(col.to_numpy())
        elif isinstance(dtype, pd.CategoricalDtype):
            masks[c] = np.asarray(col.array.codes) < 0
        elif (isinstance(dtype, np.dtype) and dtype.kind == "O") or isinstance(dtype, pd.StringDtype):
            masks[c] = col.isna().to_numpy()
        else:
            masks[c] = None
            other.append(c)
    if other:
        na = _missing_frame(frame.loc[:, other])
        for c in other:
            masks[c] = na[c].to_numpy()
    empty = np.zeros(len(frame), dtype=bool)
    return {c: empty if m is None else m for c, m in masks.items()}


def describe_counts(counts: dict) -> str:
    return ", ".join(f"{c!r} ({k})" for c, k in counts.items())


# Cached per formula: parsing the variables out of a formula is the costly part of checking
# the data for small models, and depends on the formula alone (errors are not cached).
@functools.lru_cache(maxsize=512)
def required_columns(formula: MixedFormula) -> frozenset[str]:
    """Every data column a mixed formula refers to."""
    if _NAME.match(formula.response):
        cols = {formula.response}
    else:  # a transformed response may call the functions the response context provides
        cols = _variables(f"0 + I({formula.response})", "response") - set(_RESPONSE_CONTEXT)
    cols |= _variables(formula.fixed, "fixed-effects part")
    for bar in formula.bars:
        lhs = _variables(bar.lhs, f"random-effects term {bar}")
        both = lhs & set(bar.factors)
        if both:
            raise ValueError(f"random-effects term {bar} uses {sorted(both)} on both sides of the bar")
        cols |= lhs | set(bar.factors)
    return frozenset(cols)


def prepare_data(formula: MixedFormula, data, *, extra=(), missing: str = "raise") -> tuple[pd.DataFrame, np.ndarray]:
    """Check that ``data`` holds every column the formula needs, free of missing values.

    Returns a new DataFrame (the caller's is never changed, and changes to it do not reach
    the caller's) with those columns, perhaps others too, and a boolean mask of the rows
    of ``data`` it keeps (all of them unless ``missing="drop"``); its index is ``0..n-1``.
    """
    if not isinstance(data, pd.DataFrame):
        if isinstance(data, dict):
            data = pd.DataFrame(data)
        else:
            raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if missing not in ("raise", "drop"):
        raise ValueError(f"missing must be 'raise' or 'drop', got {missing!r}")
    if len(data) == 0:
        raise ValueError("data has no rows")
    check_columns(data, formula)
    needed = required_columns(formula)
    extra = {e for e in extra if isinstance(e, str)}
    wanted = needed | extra
    unknown = sorted(c for c in wanted if c not in data.columns)
    if unknown:
        raise ValueError(f"the formula {formula.text!r} uses column(s) {unknown} not in the data; "
                         f"available: {list(map(str, data.columns))}")
    data = dense_columns(data, wanted)
    bad, counts = _missing(data, wanted)
    if bad is None:  # repeated column names
        out = data.loc[:, [c for c in data.columns if c in wanted]].copy()
        bad = _missing_frame(out).any(axis=1).to_numpy()
    else:
        if _COPY_ON_WRITE and not bad.any():
            # nothing to drop: a shallow copy, which copy-on-write keeps independent of the
            # caller's frame, at a fraction of the cost of selecting the columns
            out = data.copy(deep=False)
        else:
            out = data.take([i for i, c in enumerate(data.columns) if c in wanted], axis=1)
    dropped = int(bad.sum())
    if dropped:
        desc = describe_counts(counts)
        if missing == "raise":
            raise ValueError(f"missing or non-finite values in column(s) {desc}; "
                             "remove those rows or pass missing='drop'")
        out = out.loc[~bad]
        if len(out) == 0:
            raise ValueError(f"no complete rows remain after dropping the {dropped} row(s) with missing or "
                             f"non-finite values in column(s) {desc}")
        warnings.warn(f"dropped {dropped} of {len(data)} row(s) with missing or non-finite values in column(s) "
                      f"{desc} (missing='drop')", UserWarning, stacklevel=3)
    index = out.index
    if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 and index.name is None):
        out = out.reset_index(drop=True)
    return normalise_dtypes(out, needed - _grouping_columns(formula)), ~bad


def _grouping_columns(formula: MixedFormula) -> set[str]:
    return {f for bar in formula.bars for f in bar.factors}


def response_values(formula: MixedFormula, data: pd.DataFrame):
    """The response column (or expression) as given, not yet converted."""
    if formula.response in data.columns:
        return data[formula.response]
    import formulaic

    try:
        with np.errstate(all="ignore"):
            mm = formulaic.model_matrix(f"0 + I({formula.response})", data, context=_RESPONSE_CONTEXT,
                                        na_action="ignore")
    except Exception as err:  # formulaic raises many types
        raise ValueError(f"cannot evaluate the response {formula.response!r}: {plain_message(err)}") from None
    if mm.shape[1] != 1:
        raise ValueError(f"the response {formula.response!r} gives {mm.shape[1]} column(s) "
                         f"{[str(c) for c in mm.columns]}; it must give exactly one numeric column")
    values = np.asarray(mm, dtype=float)[:, 0]
    bad = int(np.sum(~np.isfinite(values)))
    if bad:
        raise ValueError(f"the response {formula.response!r} is missing or non-finite in {bad} row(s) "
                         "(a logarithm of 0 or of a negative number, say)")
    return pd.Series(values, name=formula.response)


def case_weights(weights, data: pd.DataFrame, n: int, keep=None, *, what: str = "weights") -> np.ndarray | None:
    """Validate case weights given as a column name or an array."""
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights not in data.columns:
            raise ValueError(f"{what} column {weights!r} is not in the data")
        w = data[weights]
    else:
        w = np.asarray(weights)
        if w.ndim != 1:
            raise ValueError(f"{what} must be one-dimensional, got shape {w.shape}")
        if keep is not None:
            if len(w) != len(keep):
                raise ValueError(f"{what} has {len(w)} entries but the data has {len(keep)} rows")
            w = w[keep]
    try:
        w = np.asarray(w, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be numeric") from None
    if len(w) != n:
        raise ValueError(f"{what} has {len(w)} entries but the data has {n} rows")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{what} has {int(np.sum(~np.isfinite(w)))} missing or non-finite values")
    if np.any(w <= 0):
        raise ValueError(f"{what} must be positive; {int(np.sum(w <= 0))} are zero or negative")
    return w


def offset_values(offset, frame, n, keep=None) -> np.ndarray:
    """Validate an offset given as a column name or an array (of the data's rows before ``keep``)."""
    if offset is None:
        return np.zeros(n)
    if isinstance(offset, str):
        if offset not in frame.columns:
            raise ValueError(f"offset column {offset!r} is not in the data")
        off = frame[offset].to_numpy(dtype=float)
    else:
        off = np.asarray(offset, dtype=float)
        rows = n if keep is None else len(keep)
        if off.ndim != 1 or len(off) != rows:
            raise ValueError(f"offset must have one entry per row of the data ({rows}), got shape {off.shape}")
        off = off if keep is None else off[keep]
    if not np.all(np.isfinite(off)):
        raise ValueError(f"offset has {int(np.sum(~np.isfinite(off)))} missing or non-finite values")
    return off

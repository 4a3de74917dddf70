"""Checking and preparing the data a mixed model is built from."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from .formula import MixedFormula

__all__ = ["prepare_data", "response_values", "case_weights", "required_columns", "encode_new"]

_RESPONSE_CONTEXT = {"np": np, "log": np.log, "exp": np.exp, "sqrt": np.sqrt, "log10": np.log10, "log2": np.log2}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def _variables(expr: str, what: str) -> set[str]:
    import formulaic

    try:
        return set(formulaic.Formula(expr).required_variables)
    except Exception as err:  # formulaic raises many types for syntax errors
        raise ValueError(f"cannot parse the {what} {expr!r}: {err}") from None


def encode_new(spec, data: pd.DataFrame, what: str, context=None) -> np.ndarray:
    """A formulaic model spec applied to new data; unseen categorical levels are an error.

    formulaic only warns about such levels and encodes them as the reference level,
    which would silently give wrong predictions.
    """
    from formulaic.errors import DataMismatchWarning

    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"new data must be a pandas DataFrame, got {type(data).__name__}")
    needed = sorted(v for v in getattr(spec, "required_variables", ()) if v not in (context or {}))
    absent = [v for v in needed if v not in data.columns]
    if absent:
        raise ValueError(f"new data for the {what} lacks the column(s) {absent}; "
                         f"available: {list(map(str, data.columns))}")
    counts = missing_counts(data.loc[:, needed]) if needed else {}
    if counts:
        raise ValueError(f"new data for the {what} has missing or non-finite values in column(s) "
                         f"{_describe_counts(counts)}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataMismatchWarning)
        warnings.simplefilter("ignore", FutureWarning)
        try:
            kwargs = {"context": context} if context else {}
            mm = spec.get_model_matrix(data, na_action="raise", **kwargs)
        except DataMismatchWarning as warn:
            raise ValueError(f"new data for the {what} has categorical levels not seen in fitting: {warn}") from None
        except Exception as err:  # formulaic raises many types: name the part of the model that failed
            raise ValueError(f"cannot encode new data for the {what}: {err}") from None
    return np.asarray(mm, dtype=float)


def missing_counts(frame: pd.DataFrame) -> dict:
    """``{column: count}`` of the missing (or, in numeric columns, non-finite) values of ``frame``."""
    na = frame.isna()
    num = frame.select_dtypes(include="number")
    if num.shape[1]:
        na.loc[:, num.columns] |= ~np.isfinite(num.to_numpy(dtype=float))
    counts = na.sum()
    return {c: int(k) for c, k in counts.items() if k}


def _describe_counts(counts: dict) -> str:
    return ", ".join(f"{c!r} ({k})" for c, k in counts.items())


def required_columns(formula: MixedFormula) -> set[str]:
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
    return cols


def prepare_data(formula: MixedFormula, data, *, extra=(), missing: str = "raise") -> tuple[pd.DataFrame, np.ndarray]:
    """Check that ``data`` holds every column the formula needs, free of missing values.

    Returns a new DataFrame (the caller's is never changed) with only those columns, and
    a boolean mask of the rows of ``data`` it keeps (all of them unless ``missing="drop"``).
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
    needed = required_columns(formula)
    extra = [e for e in extra if isinstance(e, str)]
    unknown = sorted(c for c in needed | set(extra) if c not in data.columns)
    if unknown:
        raise ValueError(f"the formula {formula.text!r} uses column(s) {unknown} not in the data; "
                         f"available: {list(map(str, data.columns))}")
    cols = [c for c in data.columns if c in needed or c in set(extra)]
    out = data.loc[:, cols].copy()
    na = out.isna()
    if out.select_dtypes(include="number").shape[1]:
        num = out.select_dtypes(include="number")
        na.loc[:, num.columns] |= ~np.isfinite(num.to_numpy(dtype=float))
    bad = na.any(axis=1)
    dropped = int(bad.sum())
    if dropped:
        counts = na.sum()
        desc = _describe_counts({c: int(k) for c, k in counts.items() if k})
        if missing == "raise":
            raise ValueError(f"missing or non-finite values in column(s) {desc}; "
                             "remove those rows or pass missing='drop'")
        out = out.loc[~bad]
        if len(out) == 0:
            raise ValueError(f"no complete rows remain after dropping the {dropped} row(s) with missing or "
                             f"non-finite values in column(s) {desc}")
        warnings.warn(f"dropped {dropped} of {len(data)} row(s) with missing or non-finite values in column(s) "
                      f"{desc} (missing='drop')", UserWarning, stacklevel=3)
    out = out.reset_index(drop=True)
    return out, ~bad.to_numpy()


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
        raise ValueError(f"cannot evaluate the response {formula.response!r}: {err}") from None
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

"""lme4 spellings that need the data: the trials of a ``cbind`` response and ``offset()`` terms.

:func:`~sklmixed.formula.parse.parse_formula` turns ``cbind(successes, failures)`` into the
proportion of successes with its number of trials (``MixedFormula.trials``) and takes
``offset(expr)`` terms out of the fixed part (``MixedFormula.offsets``); here they are
evaluated on the model frame, as the response is.

Examples
--------
>>> import pandas as pd
>>> from sklmixed.formula.parse import parse_formula
>>> f = parse_formula("cbind(k, n - k) ~ 1 + offset(log(e)) + (1|g)")
>>> data = pd.DataFrame({"k": [1, 2], "n": [4, 4], "e": [1.0, 2.0], "g": ["a", "b"]})
>>> sorted(formula_columns(f))
['e', 'n']
>>> formula_trials(f, data).tolist()
[4.0, 4.0]
>>> formula_offset(f, data, 2).round(3).tolist()
[0.0, 0.693]
"""

from __future__ import annotations

import numpy as np

from .frame import _RESPONSE_CONTEXT, _variables

__all__ = ["formula_columns", "formula_trials", "formula_offset", "refuse_in_linear_model"]


def formula_columns(formula) -> set[str]:
    """The data columns the trials and offsets of a formula use."""
    cols: set[str] = set()
    for expr in (*formula.offsets, *([formula.trials] if formula.trials else [])):
        cols |= _variables(f"0 + I({expr})", f"expression {expr!r}") - set(_RESPONSE_CONTEXT)
    return cols


def _evaluate(expr: str, frame, what: str) -> np.ndarray:
    if expr in frame.columns:
        values = frame[expr].to_numpy(dtype=float)
    else:
        import formulaic

        try:
            with np.errstate(all="ignore"):
                mm = formulaic.model_matrix(f"0 + I({expr})", frame, context=_RESPONSE_CONTEXT, na_action="ignore")
        except Exception as err:  # formulaic raises many types
            raise ValueError(f"cannot evaluate the {what} {expr!r}: {err}") from None
        values = np.asarray(mm, dtype=float)[:, 0]
    bad = int(np.sum(~np.isfinite(values)))
    if bad:
        raise ValueError(f"the {what} {expr!r} is missing or non-finite in {bad} row(s) (a logarithm of 0, say)")
    return values


def formula_trials(formula, frame) -> np.ndarray | None:
    """The number of trials of a ``cbind(successes, failures)`` response; None for any other response."""
    if formula.trials is None:
        return None
    trials = _evaluate(formula.trials, frame, "number of trials")
    if np.any(trials <= 0):
        raise ValueError(f"the number of trials {formula.trials!r} of the response cbind(...) is zero or negative "
                         f"in {int(np.sum(trials <= 0))} row(s); remove those rows")
    return trials


def formula_offset(formula, frame, n: int) -> np.ndarray:
    """The sum of the formula's ``offset(expr)`` terms (zeros when it has none)."""
    out = np.zeros(n)
    for expr in formula.offsets:
        out += _evaluate(expr, frame, "offset")
    return out


def refuse_in_linear_model(formula) -> None:
    """A linear mixed model takes neither a ``cbind`` response nor an ``offset()``: say how to write them."""
    if formula.trials is not None:
        raise ValueError(f"the response of {formula.text!r} is cbind(successes, failures), a binomial response: fit "
                         "it with GeneralizedLinearMixedModel(..., family='binomial')")
    if formula.offsets:
        raise ValueError(f"a linear mixed model takes no offset; subtract it from the response instead, e.g. "
                         f"'y - {formula.offsets[0]} ~ ...' (offset() is for GeneralizedLinearMixedModel)")

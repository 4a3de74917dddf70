r"""Strict formulas: column names, numbers, the formula operators and safe transforms only.

A formula is code. formulaic evaluates every term as Python (``I(...)``, any function call,
attribute access), and so can a transformed response: ``I(__import__('os').system('...'))``
runs a shell command when the model is built. That is what makes ``np.log(x)`` work, and why
a formula must be trusted like any other code. A service that takes formulas from its users
must not pass them on as they come: :func:`validate_formula` (or a model's
``formula_policy="strict"``) accepts only

* column names (plain, or backquoted: ```my column```), checked against the data's columns
  when they are given;
* numbers;
* the formula operators ``~ + - * / : ^ ** | ||`` and parentheses;
* a call of an allowed transform (:data:`SAFE_TRANSFORMS`) on one column name, optionally
  followed by numbers: ``log(x)``, ``np.sqrt(x)``, ``center(x)``, ``C(f)``, ``poly(x, 2)``.

Nothing else (``I(...)``, other calls, strings, indexing, keyword arguments, dunder names)
passes. No peer offers this (patsy and formulaic declined a safe mode; lme4 evaluates R).

Examples
--------
>>> validate_formula("log(y) ~ 1 + x + C(f) + (1 + x | `my group`)", ["y", "x", "f", "my group"])
'log(y) ~ 1 + x + C(f) + (1 + x | `my group`)'
>>> validate_formula("y ~ I(__import__('os').system('echo hi'))")
Traceback (most recent call last):
    ...
sklmixed.exceptions.UnsafeFormulaError: formula "y ~ I(__import__('os').s..." is not strict: ...
"""

from __future__ import annotations

import keyword
import re

from ..exceptions import UnsafeFormulaError

__all__ = ["validate_formula", "SAFE_TRANSFORMS", "FORMULA_POLICIES", "check_policy"]

#: transforms a strict formula may apply to a column name (with numbers as further arguments)
SAFE_TRANSFORMS = frozenset({
    "log", "log2", "log10", "exp",
    "np.log", "np.log2", "np.log10", "np.log1p", "np.exp", "np.sqrt", "np.abs",
    "center", "scale", "standardize", "C", "poly",
})

#: what a model's ``formula_policy`` may be: formulas as Python code, or strict formulas
FORMULA_POLICIES = ("python", "strict")

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<quoted>`[^`]+`)
  | (?P<name>[^\W\d][\w.]*)
  | (?P<op>\*\*|\|\||[~+\-*/:^|()])
  | (?P<comma>,)
""", re.VERBOSE)

_SHOWN = 24


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise _unsafe(text, f"the character {text[pos]!r} at position {pos} is not part of a strict formula")
        if m.lastgroup != "space":
            out.append((m.lastgroup, m.group(), pos))
        pos = m.end()
    return out


def _unsafe(text: str, why: str) -> UnsafeFormulaError:
    shown = text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
    return UnsafeFormulaError(f"formula {shown!r} is not strict: {why}. A strict formula has column names, numbers, "
                              f"the operators ~ + - * / : ^ ** | || and parentheses, and the transforms "
                              f"{sorted(SAFE_TRANSFORMS)} applied to a column name")


def validate_formula(formula, columns=None, *, transforms=SAFE_TRANSFORMS) -> str:
    """Return ``formula`` if it is a strict formula; raise :class:`~sklmixed.exceptions.UnsafeFormulaError`.

    Parameters
    ----------
    formula : str
        The formula, as a user gave it.
    columns : iterable of str, optional
        The data's column names: every name the formula uses must be one of them.
    transforms : set of str, default=SAFE_TRANSFORMS
        The function names a term may apply to a column name.

    Returns
    -------
    str
        ``formula`` itself.
    """
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a string, got {type(formula).__name__}")
    known = None if columns is None else {str(c) for c in columns}
    tokens = _tokens(formula)
    i = 0
    while i < len(tokens):
        kind, value, pos = tokens[i]
        following = tokens[i + 1][1] if i + 1 < len(tokens) else None
        if kind == "name" and following == "(":
            if value not in transforms:
                raise _unsafe(formula, f"the call {value}(...) at position {pos} is not an allowed transform")
            i = _call_arguments(formula, tokens, i + 2, known)
            continue
        if kind in ("name", "quoted"):
            _check_name(formula, value, pos, known)
        elif kind == "comma":
            raise _unsafe(formula, f"a ',' at position {pos} outside the arguments of a transform")
        i += 1
    return formula


def _check_name(formula, value, pos, known) -> None:
    name = value[1:-1] if value.startswith("`") else value
    if not value.startswith("`") and keyword.iskeyword(name):
        raise _unsafe(formula, f"the Python keyword {name!r} at position {pos} (backquote a column of that name)")
    if "__" in name:
        raise _unsafe(formula, f"the name {name!r} at position {pos} has a double underscore")
    if known is not None and name not in known:
        raise _unsafe(formula, f"the name {name!r} at position {pos} is not a column of the data")


def _call_arguments(formula, tokens, i, known) -> int:
    """Check ``name [, number]* )`` from token ``i``; return the index after the ``)``."""
    if i >= len(tokens) or tokens[i][0] not in ("name", "quoted"):
        where = tokens[i][2] if i < len(tokens) else len(formula)
        raise _unsafe(formula, f"a transform at position {where} must be applied to a column name")
    _check_name(formula, tokens[i][1], tokens[i][2], known)
    i += 1
    while i + 1 < len(tokens) and tokens[i][0] == "comma" and tokens[i + 1][0] == "number":
        i += 2
    if i >= len(tokens) or tokens[i][1] != ")":
        where = tokens[i][2] if i < len(tokens) else len(formula)
        raise _unsafe(formula, f"a transform's arguments are a column name and numbers (position {where})")
    return i + 1


def check_policy(policy, formula, data) -> None:
    """Apply a model's ``formula_policy`` to the formula text it was given, before anything is built."""
    if policy not in FORMULA_POLICIES:
        raise ValueError(f"formula_policy must be one of {FORMULA_POLICIES}, got {policy!r}")
    if policy == "strict":
        validate_formula(formula, getattr(data, "columns", None) if data is not None else None)

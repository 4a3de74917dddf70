"""Tests for sklmixed.formula: lme4-style mixed-model formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sklmixed import LinearMixedModel
from sklmixed.formula import BarTerm, MixedFormula, parse_formula


def bars(text):
    return [(b.lhs, b.factors, b.correlated) for b in parse_formula(text).bars]


# ---------------------------------------------------------------------- random-effects syntax
@pytest.mark.parametrize(
    "text, expected",
    [
        ("y ~ 1 + (1|g)", [("1", ("g",), True)]),
        ("y ~ 1 + (1 | g)", [("1", ("g",), True)]),
        ("y ~ 1 + x + (1 + x|g)", [("1 + x", ("g",), True)]),
        # implicit intercept: the lhs is kept as written, the intercept is added when building
        ("y ~ 1 + (x|g)", [("x", ("g",), True)]),
        ("y ~ 1 + (0 + x|g)", [("0 + x", ("g",), True)]),
        ("y ~ 1 + (x - 1|g)", [("x - 1", ("g",), True)]),
        # nesting a/b -> a + a:b
        ("y ~ 1 + (1|g1/g2)", [("1", ("g1",), True), ("1", ("g1", "g2"), True)]),
        ("y ~ 1 + (1|a/b/c)", [("1", ("a",), True), ("1", ("a", "b"), True), ("1", ("a", "b", "c"), True)]),
        ("y ~ 1 + (1 + x|a/b)", [("1 + x", ("a",), True), ("1 + x", ("a", "b"), True)]),
        # interactions
        ("y ~ 1 + (1|g1:g2)", [("1", ("g1", "g2"), True)]),
        ("y ~ 1 + (1|g1 & g2)", [("1", ("g1", "g2"), True)]),
        # (lhs | a + b) -> two terms
        ("y ~ 1 + (1|g + h)", [("1", ("g",), True), ("1", ("h",), True)]),
        # uncorrelated: one term per column, intercept first
        ("y ~ 1 + (1 + x||g)", [("1", ("g",), False), ("0 + x", ("g",), False)]),
        ("y ~ 1 + (x + z||g)", [("1", ("g",), False), ("0 + x", ("g",), False), ("0 + z", ("g",), False)]),
        ("y ~ 1 + (0 + x + z||g)", [("0 + x", ("g",), False), ("0 + z", ("g",), False)]),
        # several terms, in formula order
        (
            "y ~ 1 + x + (1|g) + (1 + x|h) + (0 + z|g)",
            [("1", ("g",), True), ("1 + x", ("h",), True), ("0 + z", ("g",), True)],
        ),
    ],
)
def test_bar_terms(text, expected):
    assert bars(text) == expected


def test_bar_term_str_and_group_name():
    f = parse_formula("y ~ x + (1 + x | g) + (1 | a/b) + (1 + z || h)")
    assert [str(b) for b in f.bars] == ["(1 + x | g)", "(1 | a)", "(1 | a:b)", "(1 || h)", "(0 + z || h)"]
    assert [b.group_name for b in f.bars] == ["g", "a", "a:b", "h", "h"]
    assert isinstance(f, MixedFormula) and all(isinstance(b, BarTerm) for b in f.bars)


# ---------------------------------------------------------------------- fixed part
@pytest.mark.parametrize(
    "text, response, fixed",
    [
        ("y ~ 1 + (1|g)", "y", "1"),
        ("y ~ (1|g)", "y", "1"),
        ("y ~ x + (1|g)", "y", "x"),
        ("y ~ (1|g) + x", "y", "x"),
        ("y ~ a*b + (1|g) + (1 + x|h)", "y", "a*b"),
        ("y ~ 1 + x + I(x**2) + (1|g)", "y", "1 + x + I(x**2)"),
        ("y ~ x - 1 + (1|g)", "y", "x - 1"),
        ("y ~ 0 + x + (1|g)", "y", "0 + x"),
        ("y ~ (a + b) + (1|g)", "y", "(a + b)"),
        ("log(y) ~ x + (1|g)", "log(y)", "x"),
    ],
)
def test_fixed_part(text, response, fixed):
    f = parse_formula(text)
    assert f.response == response
    assert f.fixed == fixed
    assert f.fixed_formula == f"{response} ~ {fixed}"
    assert f.text == text


@pytest.fixture(scope="module")
def small_data():
    rng = np.random.default_rng(1)
    n = 60
    return pd.DataFrame({
        "y": rng.normal(size=n),
        "x": rng.normal(size=n),
        "z": rng.normal(size=n),
        "a": rng.choice(["p", "q"], n),
        "b": rng.choice(["u", "v", "w"], n),
        "g": np.repeat(np.arange(6), 10),
    })


@pytest.mark.parametrize(
    "text, coefnames",
    [
        ("y ~ a*b + (1|g)", ["(Intercept)", "a[T.q]", "b[T.v]", "b[T.w]", "a[T.q]:b[T.v]", "a[T.q]:b[T.w]"]),
        ("y ~ 1 + x + I(x**2) + (1|g)", ["(Intercept)", "x", "I(x ** 2)"]),
        ("y ~ x - 1 + (1|g)", ["x"]),
        ("y ~ 0 + x + (1|g)", ["x"]),
        ("y ~ (1|g)", ["(Intercept)"]),
        ("y ~ 0 + (1|g)", []),
    ],
)
def test_fixed_part_builds_expected_columns(small_data, text, coefnames):
    assert LinearMixedModel(text, small_data).coefnames == coefnames


@pytest.mark.parametrize(
    "text, cnames",
    [
        ("y ~ x + (1|g)", ["(Intercept)"]),
        ("y ~ x + (x|g)", ["(Intercept)", "x"]),  # implicit intercept
        ("y ~ x + (1 + x|g)", ["(Intercept)", "x"]),
        ("y ~ x + (0 + x|g)", ["x"]),
        ("y ~ x + (x - 1|g)", ["x"]),
        ("y ~ x + (1 + x + z|g)", ["(Intercept)", "x", "z"]),
    ],
)
def test_random_lhs_columns(small_data, text, cnames):
    (r,) = LinearMixedModel(text, small_data).reterms
    assert r.cnames == cnames


def test_require_random_false():
    f = parse_formula("y ~ 1 + x", require_random=False)
    assert f.bars == () and f.fixed == "1 + x"


# ---------------------------------------------------------------------- errors
def test_no_random_term():
    with pytest.raises(ValueError, match=r"no random-effects term"):
        parse_formula("y ~ 1 + x")


@pytest.mark.parametrize("text", ["y ~ x + (1|g", "y ~ x + 1|g)", "y ~ x + ((1|g)", "y ~ (1|g))"])
def test_unbalanced_parentheses(text):
    with pytest.raises(ValueError, match="unbalanced parentheses"):
        parse_formula(text)


@pytest.mark.parametrize("text", ["y ~ x + (|g)", "y ~ x + ( | g)", "y ~ x + (||g)"])
def test_empty_lhs(text):
    with pytest.raises(ValueError, match="empty left-hand side"):
        parse_formula(text)


@pytest.mark.parametrize("text", ["y ~ x + (1|)", "y ~ x + (1| )", "y ~ x + (1||)"])
def test_empty_grouping(text):
    with pytest.raises(ValueError, match="empty grouping factor"):
        parse_formula(text)


@pytest.mark.parametrize("text", ["y ~ x + 1|g", "y ~ 1 | g", "y ~ x + 1 + x||g"])
def test_bar_outside_parentheses(text):
    with pytest.raises(ValueError, match="must be in parentheses"):
        parse_formula(text)


@pytest.mark.parametrize(
    "text, match",
    [
        ("~ (1|g)", "must have the form"),
        ("y", "must have the form"),
        ("y ~ x ~ (1|g)", "must have the form"),
        ("y ~ x - (1|g)", "cannot subtract a random-effects term"),
        ("y ~ (1|g - h)", "cannot subtract a grouping factor"),
        ("y ~ (1|g|h)", r"more than one '\|'"),
        ("y ~ (1|1g)", "must be a column name"),
        ("y ~ (1|log(g))", "must be a column name"),
    ],
)
def test_other_syntax_errors(text, match):
    with pytest.raises(ValueError, match=match):
        parse_formula(text)


def test_formula_must_be_str():
    with pytest.raises(TypeError, match="formula must be a string"):
        parse_formula(None)

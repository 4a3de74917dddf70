"""Formulas are code; the strict policy accepts only names, numbers, operators and safe transforms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

import sklmixed
from sklmixed import GeneralizedLinearMixedModel, LinearMixedModel
from sklmixed.exceptions import UnsafeFormulaError
from sklmixed.formula import SAFE_TRANSFORMS, validate_formula

COLUMNS = ["y", "x", "f", "g", "h", "my group"]

_CANARY = "I(__import__('sklmixed').__dict__.__setitem__('_formula_ran', 1) or x)"


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(2)
    n = 120
    d = pd.DataFrame({"g": np.repeat([f"g{i}" for i in range(12)], 10), "x": rng.uniform(1, 2, n),
                      "h": rng.integers(0, 4, n)})
    d["f"] = np.where(d["x"] > 1.5, "a", "b")
    d["y"] = d["x"] + rng.normal(size=n) + np.repeat(rng.normal(size=12), 10) + 5
    d["my group"] = d["g"]
    return d


@pytest.mark.parametrize("formula", [
    "y ~ 1 + x + (1|g)",
    "log(y) ~ 1 + np.log(x) + C(f) + (1 + x | `my group`)",
    "y ~ x * f + x:f + x^2 + x ** 2 + poly(x, 2) + center(x) + (x || g) + (1 | g/h)",
    "y ~ 0 + f - 1 + (1|g:h)",
    "np.sqrt(y) ~ scale(x) + standardize(x) + 1e-3 + (1|g)",
])
def test_strict_formulas_pass(formula):
    assert validate_formula(formula, COLUMNS) == formula
    assert validate_formula(formula) == formula


@pytest.mark.parametrize("formula, why", [
    ("y ~ I(__import__('os').system('echo pwned'))", "character"),
    (f"y ~ 1 + {_CANARY} + (1|g)", "character"),
    ("y ~ x + os.system(x)", "call os.system"),
    ("y ~ x + eval(x)", "call eval"),
    ("y ~ I(x)", "call I"),
    ("y ~ x + np.log(x + 1)", "a column name and numbers"),
    ("y ~ x + log(np.exp(x))", "not strict"),
    ("y ~ C(f, contr.sum)", "a column name and numbers"),
    ("y ~ C(f, levels=x)", "character '='"),
    ("y ~ x[0]", "character '\\['"),
    ("y ~ x.__class__", "double underscore"),
    ("y ~ __builtins__", "double underscore"),
    ("y ~ lambda: 1", "keyword 'lambda'"),
    ("y ~ x; import os", "character ';'"),
    ("y ~ 'x'", "character"),
    ("y ~ x, x", "','"),
    ("y ~ log()", "applied to a column name"),
    ("y ~ log(x", "column name and numbers"),
    ("y ~ {x}", "character '\\{'"),
    ("y ~ x @ x", "character '@'"),
    ("y ~ z", "not a column"),
    ("y ~ x + (1 | `other group`)", "not a column"),
])
def test_hostile_or_unknown_formulas_are_refused(formula, why):
    with pytest.raises(UnsafeFormulaError, match=why) as info:
        validate_formula(formula, COLUMNS)
    assert isinstance(info.value, ValueError)
    assert "is not strict" in str(info.value)


def test_the_formula_must_be_text():
    with pytest.raises(TypeError, match="must be a string"):
        validate_formula(None)


def test_the_allow_list_can_be_narrowed():
    with pytest.raises(UnsafeFormulaError, match="call poly"):
        validate_formula("y ~ poly(x, 2)", transforms=SAFE_TRANSFORMS - {"poly"})


def test_formulas_are_code_by_default_and_strict_refuses_before_running_anything(data, tmp_path):
    """The default policy runs the formula's Python (the documented danger: here it writes a
    file); the strict policy refuses the formula before anything of it runs."""
    canary = tmp_path / "canary.npy"
    formula = f"y ~ 1 + I(np.save({str(canary)!r}, x) or x) + (1|g)"
    for model in (LinearMixedModel, GeneralizedLinearMixedModel):
        with pytest.raises(UnsafeFormulaError):
            model(formula, data.assign(y=(data["y"] > 6).astype(int)), formula_policy="strict")
        assert not canary.exists()
    for hostile in (formula, f"y ~ 1 + {_CANARY} + (1|g)"):
        with pytest.raises(UnsafeFormulaError):
            LinearMixedModel(hostile, data, formula_policy="strict")
    assert not hasattr(sklmixed, "_formula_ran")
    LinearMixedModel(formula, data)  # formula_policy="python": the formula is code, and runs
    assert canary.exists()


def test_strict_models_equal_python_ones(data):
    formula = "log(y) ~ 1 + np.log(x) + C(f) + (1 + x | `my group`)"
    strict = LinearMixedModel(formula, data, formula_policy="strict").fit(progress=False)
    plain = LinearMixedModel(formula, data).fit(progress=False)
    assert strict.objective == plain.objective
    assert_array_equal(strict.predict(data), plain.predict(data))


def test_strict_checks_names_against_the_data(data):
    with pytest.raises(UnsafeFormulaError, match="'z' at position .* not a column of the data"):
        LinearMixedModel("y ~ 1 + z + (1|g)", data, formula_policy="strict")


def test_unknown_policy(data):
    with pytest.raises(ValueError, match=r"formula_policy must be one of \('python', 'strict'\)"):
        LinearMixedModel("y ~ 1 + x + (1|g)", data, formula_policy="safe")

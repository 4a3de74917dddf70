"""A fuzzer for formulas: whatever the text, building a model ends in a model or in one of the
package's own errors (``ValueError``/``TypeError`` and their subclasses) with a clear message,
never an IndexError, KeyError, AttributeError or a numpy traceback from deep inside.

Formulas are drawn from the tokens of the formula language (the data's columns, unknown
names, numbers, operators, bars, transforms, quotes and stray characters), and from
mutations of valid formulas. ``HYPOTHESIS_PROFILE=long`` runs many more examples.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from sklmixed import GeneralizedLinearMixedModel, LinearMixedModel
from sklmixed.formula import validate_formula

_TOKENS = ["y", "x", "z", "f", "g", "h", "w", "`my g`", "unknown", "Intercept", "1", "0", "-1", "2", "1e300",
           "+", "-", "*", "/", ":", "^", "**", "~", "|", "||", "(", ")", "(", ")", ",", "&",
           "log(", "np.log(", "C(", "poly(", "center(", "I(", "scale(", "`", "'", "[", "]", ".", " ", "%", "$"]

_VALID = ["y ~ 1 + x + (1|g)", "y ~ x * f + (1 + x|g) + (1|h)", "log(y) ~ 0 + f + (x||g)",
          "y ~ 1 + (1|g/h)", "y ~ x + C(f) + (1|g:h)", "y ~ poly(x, 2) + (1|`my g`)"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    n = 60
    d = pd.DataFrame({"g": np.repeat([f"g{i}" for i in range(6)], 10), "h": np.tile(["a", "b", "c"], 20),
                      "x": rng.uniform(1, 2, n), "z": rng.normal(size=n), "f": np.tile(["u", "v"], 30),
                      "w": rng.uniform(0.5, 2, n)})
    d["y"] = 5 + d["x"] + rng.normal(size=n) + np.repeat(rng.normal(size=6), 10)
    d["my g"] = d["g"]
    return d


def _tokens():
    return st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=14).map(" ".join)


def _mutated():
    @st.composite
    def build(draw):
        text = draw(st.sampled_from(_VALID))
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(text)))
            j = min(len(text), i + draw(st.integers(0, 3)))
            text = text[:i] + draw(st.sampled_from(["", *_TOKENS])) + text[j:]
        return text
    return build()


def _check(formula, data, model):
    note(f"formula={formula!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warnings are allowed; only the kind of error matters
        try:
            kw = {"family": "poisson"} if model is GeneralizedLinearMixedModel else {}
            m = model(formula, data.assign(y=np.round(data["y"])) if kw else data, **kw)
        except (ValueError, TypeError) as err:
            message = str(err)
            assert len(message) >= 15, message
            assert "\x1b" not in message, message
            return
        except RecursionError:  # a formula nested hundreds deep: Python's own limit, said as such
            return
    assert m.n == len(data)


@given(formula=st.one_of(_tokens(), _mutated()))
def test_random_formulas_give_a_model_or_a_clear_error(data, formula):
    _check(formula, data, LinearMixedModel)


@settings(max_examples=15)
@given(formula=_mutated())
def test_random_glmm_formulas_give_a_model_or_a_clear_error(data, formula):
    _check(formula, data, GeneralizedLinearMixedModel)


@given(formula=st.one_of(_tokens(), _mutated(), st.text(max_size=40)))
def test_validate_formula_accepts_or_refuses_and_never_crashes(data, formula):
    try:
        validate_formula(formula, data.columns)
    except ValueError as err:
        assert "is not strict" in str(err)


def test_estimators_never_turn_column_names_into_code(data, tmp_path):
    """The estimators build terms, not formula text: a column named like code is only a name."""
    from sklmixed import LinearMixedRegressor

    canary = tmp_path / "canary.npy"
    hostile = f"I(np.save({str(canary)!r}, x) or x)"
    X = data[["x", "z"]].rename(columns={"x": hostile, "z": "a + b ~ (1|c)"})
    reg = LinearMixedRegressor(random_slopes=[hostile]).fit(X, data["y"], groups=data["g"])
    reg.predict(X, groups=data["g"])
    assert not canary.exists()
    plain = LinearMixedRegressor(random_slopes=["x"]).fit(data[["x", "z"]], data["y"], groups=data["g"])
    np.testing.assert_allclose(reg.predict(X, groups=data["g"]), plain.predict(data[["x", "z"]], groups=data["g"]))

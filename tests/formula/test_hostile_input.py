"""Hostile inputs to the formula interface: each ends in the right answer, a clear error or a warning."""

from __future__ import annotations

import re
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from sklmixed import GeneralizedLinearMixedModel, LinearMixedModel
from sklmixed.formula import parse_formula
from sklmixed.formula.parse import MAX_BAR_TERMS


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 120
    d = pd.DataFrame({"g": np.repeat([f"g{i}" for i in range(12)], 10), "h": rng.integers(0, 3, n),
                      "x": rng.normal(size=n)})
    d["y"] = d["x"] + rng.normal(size=n) + d["h"] + np.repeat(rng.normal(size=12), 10)
    return d


@pytest.fixture(scope="module")
def reference(data):
    return LinearMixedModel("y ~ 1 + x + (1|g)", data).fit(progress=False)


def _fit(formula, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return LinearMixedModel(formula, data, **kw).fit(progress=False)


@pytest.mark.parametrize("response, ncols", [("C(h)", 3), ("I(None)", 0), ("np.column_stack([y, x])", 2)])
def test_response_must_be_one_numeric_column(data, response, ncols):
    with pytest.raises(ValueError, match=rf"the response '{re.escape(response)}' gives {ncols} column\(s\).*exactly "
                                         "one numeric column"):
        LinearMixedModel(f"{response} ~ 1 + x + (1|g)", data)


def test_transformed_response_still_works(data, reference):
    m = _fit("I(y * 2) ~ 1 + x + (1|g)", data)
    assert_allclose(m.beta, 2 * reference.beta, rtol=1e-6)


def test_a_data_column_named_intercept_is_refused(data):
    with pytest.raises(ValueError, match="column named 'Intercept'.*rename"):
        LinearMixedModel("y ~ 1 + Intercept + (1|g)", data.assign(Intercept=data["x"] * 2))
    # a column of that name the formula does not use is no problem
    _fit("y ~ 1 + x + (1|g)", data.assign(Intercept=1.0))


def test_object_columns_of_numbers_are_numeric_with_a_warning(data, reference):
    """One rule for formulas and estimators: numbers are numeric, whatever the dtype."""
    with pytest.warns(UserWarning, match="column 'x' has object dtype but holds numbers only: it is treated as numeric"):
        m = LinearMixedModel("y ~ 1 + x + (1|g)", data.assign(x=data["x"].astype(object))).fit(progress=False)
    assert m.feterm.names == ["(Intercept)", "x"]
    assert_allclose(m.beta, reference.beta, rtol=1e-10)
    # text stays categorical; a grouping factor of numbers keeps them as levels, without a warning
    _fit("y ~ 1 + x + (1|gn)", data.assign(gn=pd.Series(np.repeat(np.arange(12), 10), dtype=object)))


def test_declared_but_never_observed_category_is_an_unseen_level(data):
    k = pd.Categorical(np.where(data["x"] > 0, "a", "b"), categories=["a", "b", "c"])
    with pytest.warns(Warning, match="rank deficient"):
        m = LinearMixedModel("y ~ 1 + k + (1|g)", data.assign(k=k)).fit(progress=False)
    seen = data.assign(k=k)
    m.predict(seen)  # observed categories predict
    unseen = data.assign(k=pd.Categorical(["c"] * len(data), categories=["a", "b", "c"]))
    with pytest.raises(ValueError, match=r"k\[T.c\].*never observed.*cannot be predicted"):
        m.predict(unseen)
    with pytest.raises(ValueError, match="not seen in fitting"):  # as a level never declared at all
        m.predict(data.assign(k=pd.Categorical(["zz"] * len(data))))


def test_declared_but_never_observed_group_is_an_unseen_level(data):
    cats = [f"g{i}" for i in range(12)] + ["zz"]
    m = _fit("y ~ 1 + x + (1|gc)", data.assign(gc=pd.Categorical(data["g"], categories=cats)))
    new = data.assign(gc=pd.Categorical(["zz"] * len(data), categories=cats))
    assert_allclose(m.predict(new), m.beta[0] + m.beta[1] * data["x"])
    with pytest.raises(ValueError, match="not seen in fitting"):
        m.predict(new, new_levels="error")


def test_multiindex_and_repeated_column_names_are_refused(data):
    mi = data.copy()
    mi.columns = pd.MultiIndex.from_tuples([("a", c) for c in data.columns])
    with pytest.raises(ValueError, match="MultiIndex columns.*flatten"):
        LinearMixedModel("y ~ 1 + x + (1|g)", mi)
    dup = data.copy()
    dup.columns = ["g", "h", "x", "x"]
    with pytest.raises(ValueError, match=r"repeated column names \['x'\]"):
        LinearMixedModel("x ~ 1 + h + (1|g)", dup)


@pytest.mark.parametrize("convert", [
    lambda s: s.astype(np.float16),
    lambda s: pd.arrays.SparseArray(s.to_numpy()),
    lambda s: s.astype("Float64"),
], ids=["float16", "sparse", "nullable"])
def test_numeric_column_types(data, convert):
    m = _fit("y ~ 1 + x2 + (1|g)", data.assign(x2=convert(data["x"])))
    ref = _fit("y ~ 1 + x2 + (1|g)", data.assign(x2=np.asarray(convert(data["x"]), dtype=float)))
    assert_allclose(m.beta, ref.beta, rtol=1e-12)


def test_pandas_string_columns_are_categorical(data):
    as_object = _fit("y ~ 1 + k + (1|gs)", data.assign(k=np.where(data["x"] > 0, "a", "b"), gs=data["g"]))
    as_string = _fit("y ~ 1 + k + (1|gs)", data.assign(k=pd.Series(np.where(data["x"] > 0, "a", "b"),
                                                                   dtype="string"),
                                                       gs=data["g"].astype("string")))
    assert as_string.feterm.names == as_object.feterm.names == ["(Intercept)", "k[T.b]"]
    assert_allclose(as_string.beta, as_object.beta, rtol=1e-12)


@pytest.mark.parametrize("name", ["my g", "grüppe", "g-1", "g:h/x", "日本"])
def test_backquoted_and_non_ascii_grouping_names_work_after_the_bar(data, reference, name):
    quoted = f"`{name}`" if not name.isidentifier() else name
    m = _fit(f"y ~ 1 + x + (1|{quoted})", data.assign(**{name: data["g"]}))
    assert m.reterms[0].name == name
    assert_allclose(m.theta, reference.theta, rtol=1e-8)
    assert_allclose(m.predict(data.assign(**{name: data["g"]})), reference.predict(data), rtol=1e-8)


def test_backquoted_names_nest_and_interact():
    f = parse_formula("y ~ 1 + (1 | `a b`/`c:d`) + (1 | `e f`:g)")
    assert [b.factors for b in f.bars] == [("a b",), ("a b", "c:d"), ("e f", "g")]


def test_tilde_inside_a_bar_is_refused(data):
    with pytest.raises(ValueError, match="'~' inside the random-effects term"):
        LinearMixedModel("y ~ 1 + x + (y ~ x|g)", data)
    with pytest.raises(ValueError, match="'~' inside"):
        LinearMixedModel("y ~ 1 + x + (1|g ~ h)", data)


@pytest.mark.parametrize("col", ["my k", "k(2)", "k[a]", "ü", "k+1", "k"])
def test_contrasts_of_columns_with_special_characters_are_applied(data, col):
    values = np.where(data["x"] > 0, "a", "b")
    name = col if col.isidentifier() else f"`{col}`"
    m = _fit(f"y ~ 1 + {name} + (1|g)", data.assign(**{col: values}), contrasts={col: "sum"})
    assert "contr.sum" in m.feterm.names[1]  # sum coding, not silently treatment coding
    ref = _fit("y ~ 1 + k + (1|g)", data.assign(k=values), contrasts={"k": "sum"})
    assert_allclose(m.beta, ref.beta, rtol=1e-10)


def test_contrasts_for_a_column_the_formula_does_not_use_are_an_error(data):
    with pytest.raises(ValueError, match="contrasts names column 'h', which the fixed-effects part"):
        LinearMixedModel("y ~ 1 + x + (1|g)", data.assign(h=data["h"].astype(str)), contrasts={"h": "sum"})


def test_absurd_numbers_of_bar_terms_fail_fast(data):
    formula = "y ~ 1 + " + " + ".join(["(1|g)"] * 4000)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=f"4000 random-effects terms.*at most {MAX_BAR_TERMS}"):
        LinearMixedModel(formula, data)
    assert time.perf_counter() - start < 2.0
    cols = " + ".join(f"x{i}" for i in range(300))
    with pytest.raises(ValueError, match="301 random-effects terms"):
        parse_formula(f"y ~ 1 + ({cols} || g)")


@pytest.mark.parametrize("formula", ["y ~ 1 + x + (x + + ) + (1|g)", "y ~ 1 + x + ) + (1|g)",
                                     "y ~ 1 + x + foo( + (1|g)", "y ~ 1 + x + (1 + |g)"])
def test_formulaic_colour_codes_do_not_leak(data, formula):
    with pytest.raises(ValueError) as info:
        LinearMixedModel(formula, data).fit(progress=False)
    assert "\x1b" not in str(info.value)


def test_glmm_shares_the_rules(data):
    d = data.assign(b=(data["y"] > data["y"].median()).astype(int))
    with pytest.raises(ValueError, match="exactly one numeric column"):
        GeneralizedLinearMixedModel("C(h) ~ 1 + x + (1|g)", d)
    with pytest.raises(ValueError, match="'~' inside"):
        GeneralizedLinearMixedModel("b ~ 1 + x + (b ~ x|g)", d)

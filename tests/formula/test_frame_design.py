"""Tests for sklmixed.data: the NumPy fast path for plain formulas and the missing-value checks.

The fast path must build exactly what formulaic builds, or hand over to formulaic; the
missing-value check must find exactly what pandas' ``isna`` (and, for numbers, ``isfinite``)
finds, for every dtype.
"""

from __future__ import annotations

import formulaic
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklmixed import GeneralizedLinearMixedModel, LinearMixedModel
from sklmixed.formula import parse_formula, plain_terms
from sklmixed.formula.design import LazySpec, encode_new, plain_design
from sklmixed.formula.frame import missing_counts, prepare_data


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(3)
    n = 30
    return pd.DataFrame({
        "x": rng.normal(size=n),
        "k": rng.integers(-5, 5, n),
        "u8": rng.integers(0, 200, n).astype(np.uint8),
        "f32": rng.normal(size=n).astype(np.float32),
        "flag": rng.random(n) > 0.5,
        "cat": pd.Categorical(rng.choice(["a", "b", "c"], n)),
        "s": rng.choice(["p", "q"], n),
        "nullable": pd.array(rng.integers(0, 9, n), dtype="Int64"),
        "g": rng.choice(["g1", "g2", "g3", "g4"], n),
        "y": rng.normal(size=n),
    })


# ---------------------------------------------------------------------- plain_terms
@pytest.mark.parametrize("rhs, expected", [
    ("1", (True, ())),
    ("0", (False, ())),
    ("x", (True, ("x",))),
    ("1 + x", (True, ("x",))),
    ("0 + x + k", (False, ("x", "k"))),
    ("  1+x +  k ", (True, ("x", "k"))),
    ("x + k", (True, ("x", "k"))),
])
def test_plain_terms_recognises_sums_of_names(rhs, expected):
    assert plain_terms(rhs) == expected


@pytest.mark.parametrize("rhs", [
    "x - 1", "-1 + x", "x + 0", "x + 1", "np.log(x)", "I(x**2)", "x:k", "x*k", "C(k)", "x + x",
    "`x y`", "class", "Intercept", "x +", "1 + 1", "a.b",
])
def test_plain_terms_leaves_everything_else_to_formulaic(rhs):
    assert plain_terms(rhs) is None


# ---------------------------------------------------------------------- plain_design
@pytest.mark.parametrize("rhs", ["1", "1 + x", "0 + x + k", "x + k + u8 + f32", "0 + f32"])
def test_plain_design_equals_formulaic(frame, rhs):
    X, names, spec = plain_design(rhs, frame)
    mm = formulaic.model_matrix(rhs, frame, na_action="raise")
    assert isinstance(spec, LazySpec) and spec.rhs == rhs
    assert names == list(mm.columns)
    assert X.dtype == np.float64
    assert_array_equal(X, np.asarray(mm, dtype=float))


@pytest.mark.parametrize("rhs", ["1 + flag", "1 + cat", "1 + s", "1 + nullable", "1 + missing_column",
                                 "np.log(x)", "0"])
def test_plain_design_declines_what_formulaic_must_encode(frame, rhs):
    assert plain_design(rhs, frame) is None


def test_plain_design_declines_non_finite_values(frame):
    bad = frame.assign(x=frame["x"].where(frame.index != 3, np.inf))
    assert plain_design("1 + x", bad) is None


def test_plain_design_declines_repeated_column_names(frame):
    dup = pd.concat([frame[["x"]], frame[["x"]]], axis=1)
    assert plain_design("1 + x", dup) is None


@pytest.mark.parametrize("column", ["x", "k", "u8", "f32"])
def test_lazy_spec_encodes_new_data_as_formulaic_does(frame, column):
    rhs = f"1 + {column}"
    lazy = plain_design(rhs, frame)[2]
    assert lazy.dtypes == LazySpec(rhs, frame).dtypes == {column: frame[column].dtype}
    spec = formulaic.model_matrix(rhs, frame, na_action="raise").model_spec
    new = frame.iloc[[4, 0, 7]]
    assert_array_equal(encode_new(lazy.get(), new, "new data"), encode_new(spec, new, "new data"))
    assert lazy.get() is lazy.get()  # built once


@pytest.mark.parametrize("formula", [
    "y ~ 1 + x + k + (1 + x|g)",
    "y ~ 0 + x + (0 + k + f32|g)",
])
def test_fast_path_model_equals_the_formulaic_model(frame, formula, monkeypatch):
    fast = LinearMixedModel(formula, frame)
    with monkeypatch.context() as patch:  # without the fast path every matrix comes from formulaic
        patch.setattr("sklmixed.formula.design.plain_design", lambda rhs, data: None)  # build_matrix's fast path
        slow = LinearMixedModel(formula, frame)
    assert isinstance(fast.feterm._spec, LazySpec) and not isinstance(slow.feterm._spec, LazySpec)
    assert fast.coefnames == slow.coefnames
    assert [r.cnames for r in fast.reterms] == [r.cnames for r in slow.reterms]
    assert_array_equal(fast.feterm.X, slow.feterm.X)
    for a, b in zip(fast.reterms, slow.reterms):
        assert_array_equal(a.z, b.z)
    fast.fit(progress=False)
    slow.fit(progress=False)
    assert fast.objective == slow.objective
    new = frame.iloc[:6].assign(g=["g1", "g2", "zz", "g4", "g1", "g3"])
    assert_array_equal(fast.predict(new), slow.predict(new))


def test_fast_path_glmm_predicts_new_data(frame):
    d = frame.assign(b=(frame["y"] > 0).astype(int))
    m = GeneralizedLinearMixedModel("b ~ 1 + x + (1 + x|g)", d, family="bernoulli").fit(progress=False, fast=True)
    assert_allclose(m.predict(d, type="link"), m.eta, rtol=1e-12)


# ---------------------------------------------------------------------- missing values
def _pandas_counts(frame):
    na = frame.isna()
    num = frame.select_dtypes(include="number")
    if num.shape[1]:
        na.loc[:, num.columns] |= ~np.isfinite(num.to_numpy(dtype=float))
    return {c: int(k) for c, k in na.sum().items() if k}


def test_missing_counts_agree_with_pandas_for_every_dtype(frame):
    d = frame.copy()
    d["x"] = d["x"].where(d.index % 7 != 0, np.nan)
    d["f32"] = d["f32"].where(d.index % 5 != 0, np.inf)
    d["cat"] = d["cat"].where(d.index % 6 != 0)
    d["s"] = d["s"].where(d.index % 4 != 0, None)
    d["nullable"] = d["nullable"].where(d.index % 9 != 0)
    d["string"] = pd.array(np.where(d.index % 8 == 0, None, "v"), dtype="string")
    d["when"] = pd.to_datetime("2026-01-01") + pd.to_timedelta(d.index, unit="D")
    d.loc[2, "when"] = pd.NaT
    counts = missing_counts(d)
    assert counts == _pandas_counts(d)
    assert set(counts) == {"x", "f32", "cat", "s", "nullable", "string", "when"}


def test_prepare_data_drops_the_rows_pandas_would_drop(frame):
    d = frame.copy()
    d.loc[[1, 5], "x"] = np.nan
    d.loc[[5, 8], "g"] = None
    formula = parse_formula("y ~ 1 + x + (1|g)")
    with pytest.warns(UserWarning, match=r"dropped 3 of 30 row\(s\)"):
        out, keep = prepare_data(formula, d, missing="drop")
    assert_array_equal(keep, ~d[["x", "g"]].isna().any(axis=1).to_numpy())
    assert list(out.columns) == ["x", "g", "y"]
    assert isinstance(out.index, pd.RangeIndex) and out.index.start == 0 and len(out) == 27
    with pytest.raises(ValueError, match=r"'x' \(2\), 'g' \(2\)"):
        prepare_data(formula, d)


def test_prepare_data_copies_and_resets_the_index(frame):
    d = frame.set_index(frame.index * 3 + 100)
    formula = parse_formula("y ~ 1 + x + (1|g)")
    out, keep = prepare_data(formula, d)
    assert keep.all() and list(out.index) == list(range(len(d)))
    out.loc[0, "x"] = 1e6
    assert d["x"].iloc[0] != 1e6
    out2, _ = prepare_data(formula, frame)
    out2.loc[0, "x"] = 1e6
    assert frame.loc[0, "x"] != 1e6


@pytest.mark.parametrize("dtype", [pd.StringDtype("python"), pd.StringDtype("pyarrow"),
                                   pd.StringDtype("pyarrow", na_value=np.nan)], ids=str)
def test_new_data_in_pandas_string_dtypes_predicts_as_text(dtype):
    # text in a string dtype (Dask's partitions, pandas 3's default) is categorical in new data as in fitting
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"y": rng.normal(size=40), "f": list("abcd") * 10, "g": list("uvwxy") * 8})
    model = LinearMixedModel("y ~ 1 + f + (1|g)", data).fit(progress=False)
    new = data.head(8).astype({"f": dtype, "g": dtype})
    assert_allclose(model.predict(new), model.predict(data.head(8)), rtol=1e-14)

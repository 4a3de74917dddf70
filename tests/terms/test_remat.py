"""Tests for sklmixed.remat: random-effects terms, amalgamation, ordering, θ layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklmixed import LinearMixedModel
from sklmixed.formula import parse_formula
from sklmixed.terms.grouping import GroupingFactor
from sklmixed.terms.remat import ReMat, build_remats


def remats(formula, data):
    return build_remats(parse_formula(formula).bars, data)


@pytest.fixture(scope="module")
def synth():
    """Three crossed factors with 50, 20 and 5 levels, and two covariates."""
    rng = np.random.default_rng(0)
    n = 400
    d = pd.DataFrame({
        "big": np.concatenate([np.arange(50), rng.integers(0, 50, n - 50)]),
        "mid": np.concatenate([np.arange(20), rng.integers(0, 20, n - 20)]),
        "small": np.concatenate([np.arange(5), rng.integers(0, 5, n - 5)]),
        "x": rng.normal(size=n),
        "z": rng.normal(size=n),
    })
    d["y"] = rng.normal(size=n)
    return d


# ---------------------------------------------------------------------- amalgamation
@pytest.mark.parametrize("formula", [
    "reaction ~ 1 + days + (1|subj) + (0 + days|subj)",
    "reaction ~ 1 + days + (1 + days||subj)",
])
def test_amalgamation_gives_one_diagonal_term(sleepstudy, formula):
    (r,) = remats(formula, sleepstudy)
    assert r.name == "subj" and r.S == 2 and r.nlev == 18 and r.nranef == 36
    assert r.cnames == ["(Intercept)", "days"]
    assert r.is_diagonal
    assert r.ntheta == 2
    assert_array_equal(r.free, np.eye(2, dtype=bool))
    assert_array_equal(r.theta_rows, [0, 1])
    assert_array_equal(r.theta_cols, [0, 1])
    r.theta = [1.5, 0.25]
    assert_array_equal(r.lambda_, np.diag([1.5, 0.25]))
    assert_array_equal(r.lowerbd, [0.0, 0.0])


def test_amalgamated_fit_equals_zerocorr_fit(sleepstudy):
    m1 = LinearMixedModel("reaction ~ 1 + days + (1|subj) + (0 + days|subj)", sleepstudy)
    m2 = LinearMixedModel("reaction ~ 1 + days + (1 + days||subj)", sleepstudy)
    for theta in ([1.0, 1.0], [0.9, 0.2], [0.0, 0.5]):
        assert m1.objective_at(theta) == m2.objective_at(theta)


def test_amalgamation_of_vector_and_scalar_terms():
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"g": np.repeat(np.arange(6), 8), "x": rng.normal(size=48), "z": rng.normal(size=48)})
    (r,) = remats("y ~ 1 + (1 + x|g) + (0 + z|g)", d)
    assert r.S == 3 and r.cnames == ["(Intercept)", "x", "z"]
    assert not r.is_diagonal
    expected = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1]], dtype=bool)
    assert_array_equal(r.free, expected)
    # column-major order of the free entries: (0,0), (1,0), (1,1), (2,2)
    assert_array_equal(np.column_stack([r.theta_rows, r.theta_cols]), [[0, 0], [1, 0], [1, 1], [2, 2]])
    assert_array_equal(r.lowerbd, [0, -np.inf, 0, 0])
    assert_array_equal(r.initial_theta, [1, 0, 1, 1])


# ---------------------------------------------------------------------- ordering
def test_sort_by_decreasing_nranef_penicillin(penicillin):
    for formula in ("diameter ~ 1 + (1|sample) + (1|plate)", "diameter ~ 1 + (1|plate) + (1|sample)"):
        rs = remats(formula, penicillin)
        assert [r.name for r in rs] == ["plate", "sample"]
        assert [r.nranef for r in rs] == [24, 6]


def test_sort_by_decreasing_nranef_synthetic(synth):
    rs = remats("y ~ 1 + (1|small) + (1|mid) + (1|big)", synth)
    assert [r.name for r in rs] == ["big", "mid", "small"]
    assert [r.nlev for r in rs] == [50, 20, 5]
    # a vector term counts S * nlev random effects: (1 + x + z|mid) has 60 > 50
    rs = remats("y ~ 1 + (1|small) + (1|big) + (1 + x + z|mid)", synth)
    assert [(r.name, r.nranef) for r in rs] == [("mid", 60), ("big", 50), ("small", 5)]


def test_sort_ties_keep_formula_order(synth):
    d = synth.assign(big2=synth["big"])
    assert [r.name for r in remats("y ~ 1 + (1|big2) + (1|big)", d)] == ["big2", "big"]
    assert [r.name for r in remats("y ~ 1 + (1|big) + (1|big2)", d)] == ["big", "big2"]


def test_model_theta_concatenates_terms_in_sorted_order(synth):
    m = LinearMixedModel("y ~ 1 + (1|small) + (1 + x|big)", synth)
    assert [r.name for r in m.reterms] == ["big", "small"]
    assert m.ntheta == 4
    assert_array_equal(m.theta_lowerbd, [0, -np.inf, 0, 0])
    assert_array_equal(m.optsum.initial, [1, 0, 1, 1])
    assert_array_equal(m.optsum.lowerbd, [0, -np.inf, 0, 0])
    m._install_theta([2.0, -0.5, 0.75, 3.0])
    assert_array_equal(m.reterms[0].lambda_, [[2.0, 0.0], [-0.5, 0.75]])
    assert_array_equal(m.reterms[1].lambda_, [[3.0]])
    assert_array_equal(m.theta, [2.0, -0.5, 0.75, 3.0])
    with pytest.raises(ValueError, match="theta must have length 4"):
        m._install_theta([1.0, 2.0])


# ---------------------------------------------------------------------- θ layout
@pytest.mark.parametrize(
    "lhs, S, pairs",
    [
        ("1", 1, [(0, 0)]),
        ("1 + x", 2, [(0, 0), (1, 0), (1, 1)]),  # MixedModels' inds [1, 2, 4]
        ("1 + x + z", 3, [(0, 0), (1, 0), (2, 0), (1, 1), (2, 1), (2, 2)]),  # inds [1, 2, 3, 5, 6, 9]
    ],
)
def test_theta_is_column_major_lower_triangle(synth, lhs, S, pairs):
    (r,) = remats(f"y ~ 1 + ({lhs}|mid)", synth)
    assert r.S == S and r.ntheta == len(pairs)
    assert list(zip(r.theta_rows.tolist(), r.theta_cols.tolist())) == pairs
    # column-major linear indices, 1-based, as MixedModels' `inds`
    inds = [c * S + rr + 1 for rr, c in pairs]
    assert inds == sorted(inds)
    theta = np.arange(1.0, len(pairs) + 1)
    r.theta = theta
    expected = np.zeros((S, S))
    for value, (rr, c) in zip(theta, pairs):
        expected[rr, c] = value
    assert_array_equal(r.lambda_, expected)
    assert_array_equal(r.theta, theta)
    diag = np.array([rr == c for rr, c in pairs])
    assert_array_equal(r.lowerbd, np.where(diag, 0.0, -np.inf))
    assert_array_equal(r.initial_theta, diag.astype(float))
    assert not r.is_diagonal or S == 1


def test_initial_lambda_is_identity(synth):
    (r,) = remats("y ~ 1 + (1 + x + z|mid)", synth)
    assert_array_equal(r.lambda_, np.eye(3))
    assert_array_equal(r.theta, r.initial_theta)


# ---------------------------------------------------------------------- the Z matrix
def test_z_matrix_layout(sleepstudy):
    (r,) = remats("reaction ~ 1 + days + (1 + days|subj)", sleepstudy)
    Z = r.z_matrix().toarray()
    assert Z.shape == (180, 36)
    codes = sleepstudy["subj"].cat.codes.to_numpy()
    days = sleepstudy["days"].to_numpy(dtype=float)
    expected = np.zeros((180, 36))
    expected[np.arange(180), 2 * codes] = 1.0
    expected[np.arange(180), 2 * codes + 1] = days
    assert_array_equal(Z, expected)
    assert_array_equal(r.refs, codes)
    assert_array_equal(r.z, np.vstack([np.ones(180), days]))


def test_new_z_uses_fitted_encoding(sleepstudy):
    (r,) = remats("reaction ~ 1 + days + (1 + days|subj)", sleepstudy)
    new = pd.DataFrame({"days": [0.5, 7.0], "subj": ["S308", "S999"]})
    assert_array_equal(r.new_z(new), [[1.0, 1.0], [0.5, 7.0]])


# ---------------------------------------------------------------------- grouping factors
def _grouping_variants(dyestuff):
    codes = dyestuff["batch"].cat.codes.to_numpy()
    return {
        "categorical": dyestuff["batch"],
        "str": dyestuff["batch"].astype(str),
        "object": dyestuff["batch"].astype(object),
        "int": pd.Series(codes * 7 + 3),
        "negative int": pd.Series(-codes),
        "float": pd.Series(codes * 0.5 + 0.25),
        "categorical, unused and reordered categories": pd.Series(
            pd.Categorical(dyestuff["batch"].astype(str), categories=list("ZFEDCBA"))),
    }


def test_grouping_factor_dtype_does_not_change_fit(dyestuff):
    fits = {}
    for name, g in _grouping_variants(dyestuff).items():
        d = pd.DataFrame({"yield": dyestuff["yield"], "batch": g})
        m = LinearMixedModel("yield ~ 1 + (1|batch)", d)
        assert m.reterms[0].nlev == 6, name
        assert m.objective_at([0.713]) == pytest.approx(327.34216280955366, rel=1e-12), name
        m.fit(progress=False)
        fits[name] = (m.objective, m.theta[0], m.beta[0])
    ref = fits["categorical"]
    for name, (obj, theta, beta) in fits.items():
        assert obj == pytest.approx(ref[0], rel=1e-12), name
        assert theta == pytest.approx(ref[1], abs=1e-6), name
        assert beta == pytest.approx(ref[2], rel=1e-10), name


def test_grouping_factor_bool():
    rng = np.random.default_rng(5)
    b = np.repeat([True, False], 20)
    y = rng.normal(size=40) + 2 * b
    variants = [b, b.astype(int), np.where(b, "yes", "no"), pd.Categorical(b)]
    objs = [LinearMixedModel("y ~ 1 + (1|g)", pd.DataFrame({"y": y, "g": g})).objective_at([1.3])
            for g in variants]
    assert_allclose(objs, objs[0], rtol=1e-13)


def test_levels_sorted_and_unused_categories_dropped():
    d = pd.DataFrame({"g": pd.Categorical(["b", "c", "b", "c"], categories=["c", "a", "b"])})
    gf = GroupingFactor.from_data(d, ("g",))
    assert list(gf.levels) == ["c", "b"]  # category order, unused 'a' dropped
    assert_array_equal(gf.codes(d), [1, 0, 1, 0])
    d = pd.DataFrame({"g": [10, 2, 33, 2]})
    gf = GroupingFactor.from_data(d, ("g",))
    assert list(gf.levels) == [2, 10, 33]
    assert gf.labels == ["2", "10", "33"]
    assert_array_equal(gf.codes(pd.DataFrame({"g": [33, 5]})), [2, -1])


def test_interaction_grouping_levels(pastes):
    (r,) = remats("strength ~ 1 + (1|batch:cask)", pastes)
    assert r.name == "batch:cask" and r.grouping.factors == ("batch", "cask")
    assert r.nlev == 30
    assert r.grouping.labels[:4] == ["A:a", "A:b", "A:c", "B:a"]
    # every row points at its own (batch, cask) combination
    labels = np.array(r.grouping.labels)[r.refs]
    assert_array_equal(labels, (pastes["batch"].astype(str) + ":" + pastes["cask"].astype(str)).to_numpy())
    # same as grouping by the pre-built 'sample' column
    (r2,) = remats("strength ~ 1 + (1|sample)", pastes)
    assert r2.nlev == 30
    m1 = LinearMixedModel("strength ~ 1 + (1|batch:cask)", pastes)
    m2 = LinearMixedModel("strength ~ 1 + (1|sample)", pastes)
    assert m1.objective_at([3.7]) == pytest.approx(m2.objective_at([3.7]), rel=1e-13)


def test_interaction_keeps_only_observed_combinations():
    d = pd.DataFrame({"a": ["x", "x", "y", "y", "z"], "b": [1, 2, 1, 1, 2]})
    gf = GroupingFactor.from_data(d, ("a", "b"))
    assert gf.labels == ["x:1", "x:2", "y:1", "z:2"]
    assert_array_equal(gf.codes(d), [0, 1, 2, 2, 3])
    new = pd.DataFrame({"a": ["z", "y"], "b": [1, 1]})  # z:1 never observed
    assert_array_equal(gf.codes(new), [-1, 2])


def test_nested_grouping_builds_interaction_terms(pastes):
    rs = remats("strength ~ 1 + (1|batch/cask)", pastes)
    assert [(r.name, r.nlev) for r in rs] == [("batch:cask", 30), ("batch", 10)]
    rs = remats("strength ~ 1 + (1|batch/cask/sample)", pastes)
    assert [r.name for r in rs] == ["batch:cask", "batch:cask:sample", "batch"]
    assert [r.nlev for r in rs] == [30, 30, 10]


def test_remat_repr(sleepstudy):
    (r,) = remats("reaction ~ 1 + days + (1 + days|subj)", sleepstudy)
    assert isinstance(r, ReMat)
    assert repr(r) == "ReMat('subj', S=2, nlev=18, cnames=['(Intercept)', 'days'])"


# ---------------------------------------------------------------------- one-pass levels and codes
def _level_variants():
    rng = np.random.default_rng(8)
    k = rng.integers(0, 6, 50)
    strings = np.array(["b", "a", "d", "c", "f", "e"])[k]
    return {
        "int": pd.Series(k * 3 - 4),
        "float with NaN": pd.Series(np.where(k == 2, np.nan, k * 0.5)),
        "str": pd.Series(strings),
        "str with None": pd.Series(np.where(k == 1, None, strings).astype(object)),
        "string dtype": pd.Series(strings, dtype="string"),
        "bool": pd.Series(k > 2),
        "categorical, unused and reordered": pd.Series(pd.Categorical(strings, categories=list("zfedcba"))),
        "categorical with missing": pd.Series(pd.Categorical(np.where(k == 0, None, strings))),
        "mixed types": pd.Series(np.where(k > 3, k, strings).astype(object)).map(
            lambda v: int(v) if str(v).isdigit() else v),
    }


@pytest.mark.parametrize("name", list(_level_variants()))
def test_levels_and_codes_in_one_pass_equal_the_lookup(name):
    from sklmixed.terms.grouping import _levels_and_codes, _sorted_levels

    values = _level_variants()[name]
    levels, codes = _levels_and_codes(values)
    expected = _sorted_levels(values)
    assert list(levels) == list(expected)
    assert_array_equal(codes, expected.get_indexer(values))


@pytest.mark.parametrize("pair", [("a", "b"), ("b", "a"), ("a", "c"), ("c", "b", "a")])
def test_interaction_codes_in_one_pass_equal_the_lookup(pair):
    rng = np.random.default_rng(9)
    n = 60
    d = pd.DataFrame({
        "a": rng.choice(["x", "y", "z"], n),
        "b": rng.integers(0, 4, n),
        "c": pd.Categorical(rng.choice(["p", "q"], n), categories=["q", "p", "r"]),
    })
    gf, codes = GroupingFactor.with_codes(d, pair)
    assert_array_equal(codes, gf.codes(d))
    # the observed combinations, ordered factor by factor as each factor's levels are
    from sklmixed.terms.grouping import _sorted_levels

    ranks = np.column_stack([_sorted_levels(d[f]).get_indexer(d[f]) for f in pair])
    combos = np.unique(ranks, axis=0)
    expected = [tuple(_sorted_levels(d[f])[c] for f, c in zip(pair, row)) for row in combos]
    assert list(gf.levels) == expected
    assert gf.levels.names == list(pair)


def test_z_matrix_is_canonical_csr(synth):
    for formula in ("y ~ 1 + (1|big)", "y ~ 1 + (1 + x + z|mid)"):
        (r,) = remats(formula, synth)
        Z = r.z_matrix()
        n, S = r.z.shape[1], r.S
        rows = np.repeat(np.arange(n), S)
        cols = (r.refs[:, None] * S + np.arange(S)).ravel()
        import scipy.sparse as sp

        expected = sp.csr_matrix((r.z.T.ravel(), (rows, cols)), shape=(n, r.nranef))
        assert Z.has_canonical_format
        assert_array_equal(Z.toarray(), expected.toarray())
        assert_array_equal((Z.T @ Z).toarray(), (expected.T @ expected).toarray())

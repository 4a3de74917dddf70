"""Invariances of the profiled deviance: things that must not change a fit.

Each check compares the objective at fixed θ values (no optimiser involved: agreement to
rounding) and the fitted optimum (the optimiser may take a slightly different path, but the
optimum value is flat, so it agrees to far better than the change in θ).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from sklmixed import LinearMixedModel

import _designs

CASES = {
    "sleepstudy": ("sleepstudy", "reaction ~ 1 + days + (1 + days|subj)"),
    "penicillin": ("penicillin", "diameter ~ 1 + (1|plate) + (1|sample)"),
    "pastes": ("pastes", "strength ~ 1 + (1|batch/cask)"),
}


def _thetas(m, seed=0):
    rng = np.random.default_rng(seed)
    lb = m.theta_lowerbd
    out = [m.optsum.initial]
    for _ in range(3):
        out.append(np.where(np.isfinite(lb), rng.uniform(0.05, 3, len(lb)), rng.uniform(-1, 1, len(lb))))
    return out


def _assert_same_deviance(m1, m2, thetas2=None, *, rel_fixed=1e-10, rel_fit=1e-8):
    thetas = _thetas(m1)
    thetas2 = thetas if thetas2 is None else [thetas2(t) for t in thetas]
    for t1, t2 in zip(thetas, thetas2):
        assert m2.objective_at(t2) == pytest.approx(m1.objective_at(t1), rel=rel_fixed)
    m1.fit(progress=False)
    m2.fit(progress=False)
    assert m2.objective == pytest.approx(m1.objective, rel=rel_fit)


# ---------------------------------------------------------------------- row order
@pytest.mark.parametrize("case", list(CASES))
def test_row_permutation(request, case):
    dataset, formula = CASES[case]
    data = request.getfixturevalue(dataset)
    perm = np.random.default_rng(1).permutation(len(data))
    shuffled = data.iloc[perm].reset_index(drop=True)
    m1, m2 = LinearMixedModel(formula, data), LinearMixedModel(formula, shuffled)
    _assert_same_deviance(m1, m2)
    assert_allclose(m2.theta, m1.theta, atol=1e-4)
    assert_allclose(m2.beta, m1.beta, rtol=1e-6)
    # fitted values follow their rows
    assert_allclose(m2.fitted(), m1.fitted()[perm], rtol=1e-6)


def test_row_permutation_with_weights(sleepstudy):
    w = np.random.default_rng(2).uniform(0.5, 2, len(sleepstudy))
    perm = np.random.default_rng(3).permutation(len(sleepstudy))
    f = "reaction ~ 1 + days + (1 + days|subj)"
    m1 = LinearMixedModel(f, sleepstudy, weights=w)
    m2 = LinearMixedModel(f, sleepstudy.iloc[perm].reset_index(drop=True), weights=w[perm])
    _assert_same_deviance(m1, m2)


# ---------------------------------------------------------------------- level labels
def _relabel(series, mapping_kind, seed=0):
    levels = sorted(pd.unique(series.astype(str)))
    rng = np.random.default_rng(seed)
    if mapping_kind == "strings":
        new = [f"L{v}" for v in rng.permutation(len(levels))]  # changes the sorted order too
    elif mapping_kind == "ints":
        new = list(rng.permutation(len(levels)) * 3 - 7)
    else:
        raise ValueError(mapping_kind)
    return series.astype(str).map(dict(zip(levels, new)))


@pytest.mark.parametrize("kind", ["strings", "ints"])
@pytest.mark.parametrize("case", list(CASES))
def test_relabelling_levels(request, case, kind):
    dataset, formula = CASES[case]
    data = request.getfixturevalue(dataset)
    grouping = {"sleepstudy": ["subj"], "penicillin": ["plate", "sample"], "pastes": ["batch", "cask"]}[case]
    relabelled = data.copy()
    for i, col in enumerate(grouping):
        relabelled[col] = _relabel(data[col], kind, seed=i)
    m1, m2 = LinearMixedModel(formula, data), LinearMixedModel(formula, relabelled)
    assert [r.nlev for r in m1.reterms] == [r.nlev for r in m2.reterms]
    _assert_same_deviance(m1, m2)
    assert_allclose(m2.theta, m1.theta, atol=1e-4)
    assert_allclose(m2.fitted(), m1.fitted(), rtol=1e-6)


# ---------------------------------------------------------------------- order of random terms
def test_reordering_random_terms_penicillin(penicillin):
    m1 = LinearMixedModel("diameter ~ 1 + (1|plate) + (1|sample)", penicillin)
    m2 = LinearMixedModel("diameter ~ 1 + (1|sample) + (1|plate)", penicillin)
    assert [r.name for r in m2.reterms] == ["plate", "sample"]
    _assert_same_deviance(m1, m2, rel_fixed=1e-14, rel_fit=1e-14)


def test_reordering_random_terms_with_ties():
    """Terms tied on size keep formula order, so θ is permuted; the deviance is not."""
    rng = np.random.default_rng(0)
    n = 120
    d = pd.DataFrame({"g": np.repeat(np.arange(10), 12), "h": np.tile(np.arange(10), 12), "x": rng.normal(size=n)})
    d["y"] = rng.normal(size=n) + 0.3 * d["g"] + 0.1 * d["h"] + d["x"]
    m1 = LinearMixedModel("y ~ 1 + x + (1|g) + (1|h)", d)
    m2 = LinearMixedModel("y ~ 1 + x + (1|h) + (1|g)", d)
    assert [r.name for r in m1.reterms] == ["g", "h"]
    assert [r.name for r in m2.reterms] == ["h", "g"]
    _assert_same_deviance(m1, m2, thetas2=lambda t: t[::-1])
    assert_allclose(m2.theta[::-1], m1.theta, atol=1e-5)


def test_reordering_vector_and_scalar_terms(sleepstudy):
    f1 = "reaction ~ 1 + days + (1|subj) + (0 + days|subj)"
    f2 = "reaction ~ 1 + days + (0 + days|subj) + (1|subj)"
    m1, m2 = LinearMixedModel(f1, sleepstudy), LinearMixedModel(f2, sleepstudy)
    assert m2.reterms[0].cnames == ["days", "(Intercept)"]
    _assert_same_deviance(m1, m2, thetas2=lambda t: t[::-1])


def test_reordering_fixed_terms(sleepstudy):
    d = sleepstudy.assign(d2=sleepstudy["days"] ** 2)
    m1 = LinearMixedModel("reaction ~ 1 + days + d2 + (1 + days|subj)", d)
    m2 = LinearMixedModel("reaction ~ d2 + days + 1 + (1 + days|subj)", d)
    _assert_same_deviance(m1, m2)


# ---------------------------------------------------------------------- contrasts
@pytest.fixture(scope="module")
def categorical_data():
    rng = np.random.default_rng(4)
    n = 240
    d = pd.DataFrame({
        "subj": np.repeat(np.arange(40), 6),
        "cat": rng.choice(["curse", "scold", "shout"], n),
        "x": rng.normal(size=n),
    })
    effect = d["cat"].map({"curse": 0.0, "scold": 1.0, "shout": -0.5})
    d["y"] = 2 + effect + 0.5 * d["x"] + np.repeat(rng.normal(0, 1, 40), 6) + rng.normal(size=n)
    return d


@pytest.mark.parametrize("coding", ["sum", "helmert", "diff"])
@pytest.mark.parametrize("formula", ["y ~ 1 + cat + (1|subj)", "y ~ 1 + cat * x + (1 + x|subj)"])
def test_contrast_coding(categorical_data, formula, coding):
    m1 = LinearMixedModel(formula, categorical_data)
    m2 = LinearMixedModel(formula, categorical_data, contrasts={"cat": coding})
    assert m1.coefnames != m2.coefnames
    assert m1.feterm.rank == m2.feterm.rank
    _assert_same_deviance(m1, m2, rel_fit=1e-8)
    assert_allclose(m2.fitted(), m1.fitted(), rtol=1e-6)
    # the intercept of sum coding is the mean of the level means
    if coding == "sum" and formula == "y ~ 1 + cat + (1|subj)":
        b = m1.coef()
        means = [b["(Intercept)"], b["(Intercept)"] + b["cat[T.scold]"], b["(Intercept)"] + b["cat[T.shout]"]]
        assert m2.coef().iloc[0] == pytest.approx(np.mean(means), rel=1e-6)


def test_explicit_treatment_contrasts(categorical_data):
    formula = "y ~ 1 + cat + (1|subj)"
    m1 = LinearMixedModel(formula, categorical_data)
    m2 = LinearMixedModel(formula, categorical_data, contrasts={"cat": "treatment"})
    for theta in ([1.0], [0.3], [2.5]):
        assert m2.objective_at(theta) == pytest.approx(m1.objective_at(theta), rel=1e-13)


# ---------------------------------------------------------------------- scaling
@pytest.mark.parametrize("factor", [1e6, 1e-6])
def test_scaling_a_fixed_effect_predictor(sleepstudy, factor):
    m1 = LinearMixedModel("reaction ~ 1 + days + (1|subj)", sleepstudy)
    m2 = LinearMixedModel("reaction ~ 1 + xs + (1|subj)", sleepstudy.assign(xs=sleepstudy["days"] * factor))
    assert m2.feterm.rank == 2
    _assert_same_deviance(m1, m2, rel_fixed=1e-7, rel_fit=1e-7)
    assert m2.beta[1] == pytest.approx(m1.beta[1] / factor, rel=1e-6)
    assert m2.beta[0] == pytest.approx(m1.beta[0], rel=1e-6)
    assert m2.stderror().iloc[1] == pytest.approx(m1.stderror().iloc[1] / factor, rel=1e-5)
    assert_allclose(m2.theta, m1.theta, atol=1e-5)


def test_scaling_the_response(sleepstudy):
    """y → c·y scales σ, β and b by c; θ is unchanged and the deviance shifts by 2n log c."""
    c = 1000.0
    f = "reaction ~ 1 + days + (1 + days|subj)"
    m1 = LinearMixedModel(f, sleepstudy)
    m2 = LinearMixedModel(f, sleepstudy.assign(reaction=c * sleepstudy["reaction"]))
    for theta in _thetas(m1):
        assert m2.objective_at(theta) == pytest.approx(m1.objective_at(theta) + 2 * 180 * np.log(c), rel=1e-12)
    m1.fit(progress=False)
    m2.fit(progress=False)
    assert_allclose(m2.theta, m1.theta, atol=1e-5)
    assert m2.sigma == pytest.approx(c * m1.sigma, rel=1e-6)
    assert_allclose(m2.beta, c * m1.beta, rtol=1e-6)


def test_shifting_the_response_with_intercept(sleepstudy):
    f = "reaction ~ 1 + days + (1 + days|subj)"
    m1 = LinearMixedModel(f, sleepstudy)
    m2 = LinearMixedModel(f, sleepstudy.assign(reaction=sleepstudy["reaction"] + 1e4))
    _assert_same_deviance(m1, m2, rel_fixed=1e-9, rel_fit=1e-9)
    assert m2.beta[0] == pytest.approx(m1.beta[0] + 1e4, rel=1e-9)


# ---------------------------------------------------------------------- the same, on random designs
# Every design of tests/_designs.py (scalar, vector, uncorrelated, crossed, nested, partially
# crossed, sparse blocks) with random data, θ and transformations; objectives at fixed θ only,
# so agreement is to rounding. More examples with HYPOTHESIS_PROFILE=long.
_design_names = st.sampled_from(sorted(_designs.DESIGNS))


def _random_design(name, seed):
    data, formula = _designs.make(name, seed)
    note(f"design={name} seed={seed} formula={formula}")
    return data, formula


def _grouping_columns(formula):
    from sklmixed.formula import parse_formula

    return sorted({f for bar in parse_formula(formula).bars for f in bar.factors})


@given(_design_names, st.integers(0, 2**16), st.booleans(), st.booleans())
def test_random_row_permutation(name, seed, reml, weighted):
    data, formula = _random_design(name, seed)
    rng = np.random.default_rng(seed + 1)
    perm = rng.permutation(len(data))
    w = rng.uniform(0.3, 3.0, len(data)) if weighted else None
    m1 = LinearMixedModel(formula, data, weights=w)
    m2 = LinearMixedModel(formula, data.iloc[perm].reset_index(drop=True), weights=None if w is None else w[perm])
    theta = _designs.random_theta(m1, rng, zero_some=bool(seed % 2))
    assert m2.objective_at(theta, reml=reml) == pytest.approx(m1.objective_at(theta, reml=reml), rel=1e-10)
    assert_allclose(m2.beta, m1.beta, rtol=1e-8, atol=1e-8)


@given(_design_names, st.integers(0, 2**16), st.booleans())
def test_random_level_relabelling(name, seed, reml):
    data, formula = _random_design(name, seed)
    rng = np.random.default_rng(seed + 2)
    relabelled = data.copy()
    for col in _grouping_columns(formula):
        levels = sorted(pd.unique(data[col].astype(str)))
        new = [f"L{v}" for v in rng.permutation(len(levels))]  # a different sort order
        relabelled[col] = data[col].astype(str).map(dict(zip(levels, new)))
    m1, m2 = LinearMixedModel(formula, data), LinearMixedModel(formula, relabelled)
    theta = _designs.random_theta(m1, rng)
    assert m2.objective_at(_designs.map_theta(m1, m2, theta), reml=reml) == \
        pytest.approx(m1.objective_at(theta, reml=reml), rel=1e-10)
    assert_allclose(m2.beta, m1.beta, rtol=1e-8, atol=1e-8)


@given(_design_names, st.integers(0, 2**16), st.booleans())
def test_random_term_reordering(name, seed, reml):
    data, formula = _random_design(name, seed)
    reordered = _designs.reversed_formula(formula)
    note(f"reordered={reordered}")
    m1, m2 = LinearMixedModel(formula, data), LinearMixedModel(reordered, data)
    theta = _designs.random_theta(m1, np.random.default_rng(seed + 3))
    assert m2.objective_at(_designs.map_theta(m1, m2, theta), reml=reml) == \
        pytest.approx(m1.objective_at(theta, reml=reml), rel=1e-10)
    beta1 = pd.Series(m1.beta, index=m1.feterm.kept_names)
    assert_allclose(pd.Series(m2.beta, index=m2.feterm.kept_names)[beta1.index], beta1, rtol=1e-8, atol=1e-8)


@given(_design_names, st.integers(0, 2**16), st.sampled_from(["sum", "helmert", "diff", "poly"]),
       st.integers(2, 5))
def test_random_contrast_coding(name, seed, coding, nlevels):
    data, formula = _random_design(name, seed)
    rng = np.random.default_rng(seed + 4)
    data = data.assign(cat=rng.choice([f"c{k}" for k in range(nlevels)], len(data)))
    data["y"] += data["cat"].map({f"c{k}": 0.5 * k for k in range(nlevels)})
    formula = formula.replace(" ~ 1 + x", " ~ 1 + x + cat")
    m1 = LinearMixedModel(formula, data)
    m2 = LinearMixedModel(formula, data, contrasts={"cat": coding})
    assert m1.feterm.rank == m2.feterm.rank
    theta = _designs.random_theta(m1, rng)
    # the ML deviance depends on X only through its column space (the REML criterion does not)
    assert m2.objective_at(theta) == pytest.approx(m1.objective_at(theta), rel=1e-10)
    assert_allclose(m2.feterm.X @ m2.beta, m1.feterm.X @ m1.beta, rtol=1e-8, atol=1e-8)

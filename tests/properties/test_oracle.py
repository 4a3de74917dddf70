"""A dense oracle for the profiled objective, with property-based (hypothesis) designs.

For small random designs (scalar and vector terms, zero-correlation terms, crossed,
partially crossed and nested factors, with and without case weights, with and without
fixed effects) and any θ within its bounds, the blocked evaluation must equal the marginal
log-likelihood formed densely:

    y ~ N(Xβ, σ² V0),   V0 = Z Λ Λ' Z' + W⁻¹

* ML: ``objective = -2 log N(y; Xβ̂, σ̂² V0)`` with the GLS β̂ and ``σ̂² = r²/n``;
* REML: ``objective = -2 log ∫ N(y; Xβ, σ̂² V0) dβ`` with ``σ̂² = r²/(n - p)``.

Z and Λ are built here from the data and θ (θ being the column-major lower triangle of
each term's λ, terms by decreasing number of random effects), not taken from the package.
With weights the package subtracts Σ log w from log|L|²+…, which is exactly
``log|V0| = log|Λ'Z'WZΛ + I| - Σ log w``: the identity holds with no constant offset.

Run more examples with ``HYPOTHESIS_PROFILE=long``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
from hypothesis import assume, given, note
from hypothesis import strategies as st

from sklmixed import LinearMixedModel

import _dense

REL = 1e-9

# structure -> list of random terms (grouping column(s), covariate columns, correlated)
STRUCTURES = {
    "scalar": [(("g",), ["1"], True)],
    "vector": [(("g",), ["1", "x"], True)],
    "vector3": [(("g",), ["1", "x", "z"], True)],
    "slope_only": [(("g",), ["x"], True)],
    "zerocorr": [(("g",), ["1", "x"], False)],
    "crossed": [(("g",), ["1"], True), (("h",), ["1"], True)],
    "crossed_vector": [(("g",), ["1", "x"], True), (("h",), ["1"], True)],
    "partially_crossed": [(("g",), ["1"], True), (("h",), ["1"], True)],
    "three_crossed": [(("g",), ["1"], True), (("h",), ["1"], True), (("k",), ["1"], True)],
    "nested": [(("g",), ["1"], True), (("g", "h"), ["1"], True)],
    "nested_vector": [(("g",), ["1", "x"], True), (("g", "h"), ["1"], True)],
    "nested3": [(("g",), ["1"], True), (("g", "h"), ["1"], True), (("g", "h", "k"), ["1"], True)],
}

FIXED = {"1": ["1"], "1 + x": ["1", "x"], "0": [], "1 + w2": ["1", "w2"]}


def _lhs(cols):
    return "0 + x" if cols == ["x"] else " + ".join(cols)


# the nesting syntax a/b expands to the same terms as (1|a) + (1|a:b)
SYNTAX = {"nested": "(1 | g/h)", "nested3": "(1 | g/h/k)"}


def _formula(structure, fixed):
    if structure in SYNTAX:
        return f"y ~ {fixed} + {SYNTAX[structure]}"
    parts = []
    for factors, cols, correlated in STRUCTURES[structure]:
        bar = "|" if correlated else "||"
        parts.append(f"({_lhs(cols)} {bar} {':'.join(factors)})")
    return f"y ~ {fixed} + " + " + ".join(parts)


def _cover(rng, nlev, n):
    return rng.permutation(np.concatenate([np.arange(nlev), rng.integers(0, nlev, n - nlev)]))


def _make_data(structure, rng):
    if structure.startswith("nested"):
        na, nb, nc = rng.integers(2, 5), rng.integers(2, 4), rng.integers(2, 4)
        reps = rng.integers(1, 4)
        g = np.repeat(np.arange(na), nb * nc * reps)
        h = np.tile(np.repeat(np.arange(nb), nc * reps), na)
        k = np.tile(np.repeat(np.arange(nc), reps), na * nb)
        keep = rng.random(len(g)) < 0.85  # unbalanced cells
        keep[:: reps] = True  # every cell keeps an observation
        g, h, k = g[keep], h[keep], k[keep]
        n = len(g)
    elif structure == "partially_crossed":
        n = int(rng.integers(30, 50))
        g, h, k = _cover(rng, int(rng.integers(12, 20)), n), _cover(rng, int(rng.integers(10, 16)), n), np.zeros(n)
    else:
        n = int(rng.integers(15, 45))
        g = _cover(rng, int(rng.integers(2, 8)), n)
        h = _cover(rng, int(rng.integers(2, 6)), n)
        k = _cover(rng, int(rng.integers(2, 4)), n)
    d = pd.DataFrame({
        "g": [f"g{v}" for v in g], "h": h.astype(int), "k": k.astype(float),
        "x": rng.normal(size=n), "z": rng.normal(size=n), "w2": rng.uniform(-1, 1, n),
    })
    scale = 10.0 ** rng.uniform(-1, 2)
    d["y"] = scale * (1 + d["x"] + rng.normal(size=n) + pd.Series(g).map(dict(enumerate(rng.normal(size=g.max() + 1)))))
    return d


@st.composite
def problems(draw):
    structure = draw(st.sampled_from(sorted(STRUCTURES)))
    fixed = draw(st.sampled_from(sorted(FIXED)))
    seed = draw(st.integers(0, 2**32 - 1))
    weighted = draw(st.booleans())
    reml = draw(st.booleans())
    storage = draw(st.sampled_from(["blocked", "auto"]))  # small designs: one dense array unless blocked
    rng = np.random.default_rng(seed)
    data = _make_data(structure, rng)
    weights = rng.uniform(0.2, 5.0, len(data)) if weighted else None
    terms = []
    for factors, cols, correlated in STRUCTURES[structure]:
        Z, levels, S = _dense.term_matrix(data, factors, cols)
        if correlated:
            diag = [row == col for col in range(S) for row in range(col, S)]
        else:
            diag = [True] * S
        theta = [draw(st.floats(0.0, 3.0)) if d else draw(st.floats(-2.0, 2.0)) for d in diag]
        terms.append(dict(name=":".join(factors), Z=Z, levels=list(levels), nlev=len(levels), S=S,
                          correlated=correlated, theta=theta))
    return dict(structure=structure, fixed=fixed, data=data, weights=weights, reml=reml, terms=terms, seed=seed,
                storage=storage)


def _dense_objective(problem):
    """Dense criterion, β̂, σ̂ and the spherical conditional modes u (one nlev x S array per term)."""
    data, terms = problem["data"], problem["terms"]
    n = len(data)
    ZLs = [t["Z"] @ np.kron(np.eye(t["nlev"]), _dense.lambda_from_theta(t["S"], t["theta"], t["correlated"]))
           for t in terms]
    ZL = np.hstack(ZLs)
    w = np.ones(n) if problem["weights"] is None else problem["weights"]
    V0 = ZL @ ZL.T + np.diag(1.0 / w)
    cols = FIXED[problem["fixed"]]
    X = np.column_stack([np.ones(n) if c == "1" else data[c].to_numpy(float) for c in cols]) if cols \
        else np.zeros((n, 0))
    y = data["y"].to_numpy(float)
    crit, beta, sigma = _dense.profiled_criterion(y, X, V0, reml=problem["reml"])
    # E(u | y) at β̂: Λ'Z' V0⁻¹ (y - Xβ̂)
    v = np.linalg.solve(V0, y - X @ beta)
    u = [(ZLj.T @ v).reshape(t["nlev"], t["S"]) for ZLj, t in zip(ZLs, terms)]
    return crit, beta, sigma, u


@given(problems())
def test_objective_equals_dense_marginal_likelihood(problem):
    note(f"structure={problem['structure']} fixed={problem['fixed']} reml={problem['reml']} "
         f"weighted={problem['weights'] is not None} seed={problem['seed']} storage={problem['storage']}")
    formula = _formula(problem["structure"], problem["fixed"])
    with _dense.factor_storage(problem["storage"]):
        m = LinearMixedModel(formula, problem["data"], weights=problem["weights"])

    # terms in decreasing order of S * nlev, ties in formula order
    expected_order = sorted(problem["terms"], key=lambda t: -t["S"] * t["nlev"])
    assert [r.name for r in m.reterms] == [t["name"] for t in expected_order]
    assert [r.nlev for r in m.reterms] == [t["nlev"] for t in expected_order]
    theta = np.concatenate([t["theta"] for t in expected_order])
    note(f"theta={theta.tolist()}")

    objective = m.objective_at(theta, reml=problem["reml"])
    expected, beta, sigma, u = _dense_objective(problem)
    assert objective == pytest.approx(expected, rel=REL)
    scale = max(1.0, float(np.max(np.abs(beta), initial=0.0)))
    np.testing.assert_allclose(m.beta, beta, rtol=1e-7, atol=1e-7 * scale)
    nu = m.nobs - m.feterm.rank if problem["reml"] else m.nobs
    assert np.sqrt(m.pwrss / nu) == pytest.approx(sigma, rel=1e-8)

    # conditional modes, matched by level label
    u_pkg = m._u()
    by_name = {t["name"]: (t, uj) for t, uj in zip(problem["terms"], u)}
    for r, ur in zip(m.reterms, u_pkg):
        t, uj = by_name[r.name]
        order = [t["levels"].index(label) for label in r.grouping.labels]
        uscale = max(1.0, float(np.max(np.abs(uj))))
        np.testing.assert_allclose(ur, uj[order], rtol=1e-7, atol=1e-7 * uscale)


# ---------------------------------------------------------------------- the oracle itself
def _dyestuff_V0(dyestuff, theta):
    codes = dyestuff["batch"].cat.codes.to_numpy()
    Z = np.eye(6)[codes]
    return theta**2 * Z @ Z.T + np.eye(len(codes))


@pytest.mark.parametrize("reml, objective, theta", [
    (False, 327.3270598811428, 0.7525806757718846),
    (True, 319.65427684225216, 0.84832),
])
def test_dense_oracle_reproduces_dyestuff_references(dyestuff, reml, objective, theta):
    """The dense formulas alone (no sklmixed) minimised over θ give the published optima."""
    y = dyestuff["yield"].to_numpy(float)
    X = np.ones((len(y), 1))

    def crit(t):
        return _dense.profiled_criterion(y, X, _dyestuff_V0(dyestuff, t), reml=reml)[0]

    res = scipy.optimize.minimize_scalar(crit, bounds=(0.0, 3.0), method="bounded",
                                         options={"xatol": 1e-10})
    assert res.fun == pytest.approx(objective, rel=1e-11)
    assert res.x == pytest.approx(theta, abs=1e-5)
    # and sklmixed agrees with the oracle away from the optimum too
    m = LinearMixedModel("yield ~ 1 + (1|batch)", dyestuff)
    for t in (0.0, 0.3, 0.713, 1.7):
        assert m.objective_at([t], reml=reml) == pytest.approx(crit(t), rel=1e-12)
    if not reml:
        assert crit(0.713) == pytest.approx(327.34216280955366, rel=1e-12)


def test_dense_oracle_weighted_constant(sleepstudy):
    """With weights the package's objective is exactly the dense -2 log-likelihood: no offset."""
    rng = np.random.default_rng(0)
    data = sleepstudy[sleepstudy["subj"].isin(sleepstudy["subj"].cat.categories[:8])]  # keep it small
    w = rng.uniform(0.2, 4.0, len(data))
    m = LinearMixedModel("reaction ~ 1 + days + (1 + days|subj)", data, weights=w)
    Z = np.hstack([r.z_matrix().toarray() for r in m.reterms])
    X = m.feterm.X
    y = m.y
    diffs = []
    for theta in ([1.0, 0.0, 1.0], [0.5, -0.3, 0.2], [2.0, 0.7, 0.0]):
        lam = _dense.lambda_from_theta(2, theta)
        ZL = Z @ np.kron(np.eye(m.reterms[0].nlev), lam)
        V0 = ZL @ ZL.T + np.diag(1 / w)
        for reml in (False, True):
            diffs.append(m.objective_at(theta, reml=reml) - _dense.profiled_criterion(y, X, V0, reml=reml)[0])
    np.testing.assert_allclose(diffs, 0.0, atol=1e-8)


# ---------------------------------------------------------------------- predictions
def _new_rows(data, rng):
    """Rows like the fitting data with new covariates, some at levels never seen in fitting."""
    new = data.iloc[rng.integers(0, len(data), 15)].reset_index(drop=True).drop(columns=["y"])
    for col in ("x", "z", "w2"):
        new[col] = rng.normal(size=len(new))
    new.loc[::3, "g"] = "unseen"
    new.loc[1::4, "h"] = 99
    return new


@given(problems(), st.integers(0, 2**16))
def test_predictions_equal_dense_computation(problem, seed):
    """After a fit, fitted values and predictions on new data are ``Xβ̂ + Σ Z_j Λ_j û_j`` formed densely.

    Levels not seen in fitting contribute nothing (the population value); the dense β̂ and û
    are the GLS estimate and ``E(u | y)`` at the fitted θ.
    """
    note(f"structure={problem['structure']} fixed={problem['fixed']} reml={problem['reml']} "
         f"weighted={problem['weights'] is not None} seed={problem['seed']} storage={problem['storage']}")
    with _dense.factor_storage(problem["storage"]):
        m = LinearMixedModel(_formula(problem["structure"], problem["fixed"]), problem["data"],
                             weights=problem["weights"])
    assume(all(r.nranef < m.nobs for r in m.reterms))  # otherwise not identifiable: fit() refuses
    assume(np.ptp(problem["data"]["y"]) > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # singular fits are fine here
        m.fit(reml=problem["reml"], progress=False)
    chunks, offset = {}, 0
    for r in m.reterms:
        chunks[r.name] = m.theta[offset: offset + r.ntheta]
        offset += r.ntheta
    at_fit = dict(problem, terms=[dict(t, theta=chunks[t["name"]]) for t in problem["terms"]])
    crit, beta, sigma, u = _dense_objective(at_fit)
    assert m.objective == pytest.approx(crit, rel=REL)
    assert m.sigma == pytest.approx(sigma, rel=1e-8)

    data = problem["data"]
    cols = FIXED[problem["fixed"]]
    terms = dict(zip([t["name"] for t in problem["terms"]], STRUCTURES[problem["structure"]]))

    def dense_predict(frame):
        n = len(frame)
        X = np.column_stack([np.ones(n) if c == "1" else frame[c].to_numpy(float) for c in cols]) if cols \
            else np.zeros((n, 0))
        eta = X @ beta
        for t, uj in zip(at_fit["terms"], u):
            factors, tcols, _ = terms[t["name"]]
            Z = _dense.term_matrix_new(frame, factors, tcols, t["levels"])
            lam = _dense.lambda_from_theta(t["S"], t["theta"], t["correlated"])
            eta = eta + Z @ (uj @ lam.T).ravel()
        return eta

    scale = max(1.0, float(np.max(np.abs(data["y"]))))
    np.testing.assert_allclose(m.fitted(), dense_predict(data), rtol=1e-7, atol=1e-7 * scale)
    new = _new_rows(data, np.random.default_rng(seed))
    np.testing.assert_allclose(m.predict(new), dense_predict(new), rtol=1e-7, atol=1e-7 * scale)
    with pytest.raises(ValueError, match="not seen in fitting"):
        m.predict(new, new_levels="error")

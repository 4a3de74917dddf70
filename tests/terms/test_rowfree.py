"""Terms without rows (terms/rowfree.py): the same decisions as the terms built from rows, and clear refusals."""

from __future__ import annotations

import pickle
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from sklmixed.exceptions import RankDeficiencyWarning
from sklmixed.formula import parse_formula
from sklmixed.terms import FeTerm, build_remats, check_independent
from sklmixed.terms.rowfree import RowFreeFeTerm, RowFreeReMat, check_independent_by_r


def _r(X):
    return np.linalg.qr(np.asarray(X, dtype=float), mode="r")


@pytest.mark.parametrize("seed", range(6))
def test_fixed_columns_kept_as_from_the_rows(seed):
    rng = np.random.default_rng(seed)
    n = 200
    a, b, c = rng.normal(size=(3, n))
    # exact dependences, a column of zeros, and one dependent to 1e-12 (far from the 1e-8 tolerance),
    # each column on its own scale (which the decisions do not depend on)
    cols = [np.ones(n), a, b, a - 2 * b, np.zeros(n), c, 3 + 1e-12 * c, 1e12 + b, a + b + c]
    X = np.column_stack(cols)[:, rng.permutation(len(cols))] * rng.choice([1e-3, 1.0, 1e4], len(cols))
    names = [f"c{j}" for j in range(X.shape[1])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficiencyWarning)
        expected = FeTerm(X, names)
        got = RowFreeFeTerm(_r(X), names, np.abs(X).max(axis=0))
    np.testing.assert_array_equal(got.keep, expected.keep)
    assert got.dropped == expected.dropped and got.never_observed == expected.never_observed


def test_rank_deficiency_warns_and_rows_are_refused_by_name():
    X = np.column_stack([np.ones(5), np.arange(5.0), 2 * np.arange(5.0)])
    with pytest.warns(RankDeficiencyWarning, match=re.escape("dropped 1 column(s) ['x2']")):
        fe = RowFreeFeTerm(_r(X), ["(Intercept)", "x", "x2"], np.abs(X).max(axis=0))
    with pytest.raises(TypeError, match=re.escape("holds no rows (its model matrix X)")):
        fe.X  # noqa: B018
    again = pickle.loads(pickle.dumps(fe))
    assert again.rank == 2
    with pytest.raises(TypeError, match="holds no rows"):
        again.X  # noqa: B018


def test_magnitudes_are_checked_from_the_largest_values():
    X = np.column_stack([np.ones(3), [1e-200, 2e-200, 0.0]])
    with pytest.raises(ValueError, match="'x' has no value larger than 2e-200"):
        RowFreeFeTerm(_r(X), ["(Intercept)", "x"], np.abs(X).max(axis=0))


def _terms(formula, data):
    return build_remats(parse_formula(formula).bars, data)


def test_remat_without_rows_keeps_levels_columns_and_scale():
    data = pd.DataFrame({"g": list("aabbcc"), "x": [1e4, 2e4, 3e4, 1e4, 5e4, 6e4], "y": np.arange(6.0)})
    (full,) = _terms("y ~ 1 + (1 + x | g)", data)
    rms = np.sqrt(np.mean(full.z * full.z, axis=1))
    r = RowFreeReMat(full.grouping, full.lhs_terms, rms, np.abs(full.z).max(axis=1))
    assert (r.S, r.nlev, r.ntheta, r.cnames) == (2, 3, 3, ["(Intercept)", "x"])
    np.testing.assert_allclose(r.column_scale, full.column_scale)
    np.testing.assert_array_equal(r.new_z(data.head(2)), full.z[:, :2])
    for name in ("refs", "z"):
        with pytest.raises(TypeError, match="holds no rows"):
            getattr(r, name)
    with pytest.raises(TypeError, match="model matrix Z"):
        r.z_matrix()
    assert pickle.loads(pickle.dumps(r)).S == 2


@pytest.mark.parametrize("formula", ["y ~ 1 + (1|g) + (1|g)", "y ~ 1 + (1 + c|g)", "y ~ 1 + (1|g) + (1|g2)",
                                     "y ~ 1 + (0 + z|g)", "y ~ 1 + (1 + x|g) + (1|h)"])
def test_dependence_refused_as_from_the_rows(formula):
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(6), 4)
    data = pd.DataFrame({"g": g, "g2": g + 100, "h": np.tile(np.arange(4), 6), "c": 2.0, "z": 0.0,
                         "x": rng.normal(size=24), "y": rng.normal(size=24)})
    terms = _terms(formula, data)
    # the class of every term as check_independent groups them: all on g's partition here, or h alone
    classes = [[r for r in terms if r.name != "h"]] + ([[r for r in terms if r.name == "h"]]
                                                       if any(r.name == "h" for r in terms) else [])
    factors = [_r(np.vstack([r.z for r in cls]).T) for cls in classes]
    try:
        check_independent(terms)
    except ValueError as err:
        with pytest.raises(ValueError, match=re.escape(str(err))):
            check_independent_by_r(classes, factors)
    else:
        check_independent_by_r(classes, factors)

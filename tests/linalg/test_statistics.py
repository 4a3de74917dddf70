"""A factor built from cross-products (linalg/statistics.py) against the factor built from the rows."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from sklmixed import LinearMixedModel, load_dataset
from sklmixed.linalg.blocks import to_dense
from sklmixed.linalg.statistics import CrossProducts, SummaryCholesky
from sklmixed.linalg.symbolic import use_thresholds


def _data(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    g, h, k = rng.integers(0, 150, n), rng.integers(0, 25, n), rng.integers(0, 4, n)
    x = rng.normal(size=n)
    y = x + rng.normal(size=150)[g] + rng.normal(size=25)[h] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g": g, "h": h, "k": k, "w": rng.uniform(0.5, 2.0, n)})


FORMULAS = ["y ~ 1 + x + (1 + x | g) + (1 | h)", "y ~ 1 + x + (1 | g) + (1 | h) + (1 | k)",
            "y ~ 1 + (1 + x | h) + (1 | h:k) + (1 | g)", "y ~ 1 + x + (1 + x || g)"]


def _cross(factor, weights=None, rows=slice(None)):
    R = factor.remats
    return CrossProducts.of_rows([r.refs[rows] for r in R], [r.z[:, rows] for r in R], [r.nlev for r in R],
                                 factor.Xy[rows], None if weights is None else weights[rows])


@pytest.mark.parametrize("dense_order", [64, 0], ids=["small-dense", "blocked"])
@pytest.mark.parametrize("formula", FORMULAS)
def test_same_factor_as_from_rows(formula, dense_order):
    d = _data()
    w = d["w"].to_numpy()
    with use_thresholds(dense_order=dense_order):
        m = LinearMixedModel(formula, d, weights=w)
        full = m._factor
        rowfree = SummaryCholesky(m.reterms, _cross(full, w))
    assert rowfree.layout.kinds == full.layout.kinds and rowfree.layout.tail == full.layout.tail
    assert rowfree.block_description() == full.block_description()
    for i in range(full.k + 1):
        for j in range(i + 1):
            np.testing.assert_allclose(to_dense(rowfree.A[i][j]), to_dense(full.A[i][j]), rtol=1e-12, atol=1e-9)
    theta = np.random.default_rng(1).uniform(0.2, 1.5, m.ntheta)
    full.evaluate(theta)
    rowfree.evaluate(theta)
    assert rowfree.logdet() == pytest.approx(full.logdet(), rel=1e-12)
    assert rowfree.pwrss == pytest.approx(full.pwrss, rel=1e-10)
    np.testing.assert_allclose(rowfree.fixef(), full.fixef(), rtol=1e-9, atol=1e-12)
    for a, b in zip(rowfree.ranef_u(full.fixef()), full.ranef_u(full.fixef())):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_sums_of_parts_are_the_sum_of_the_whole():
    d = _data(900)
    m = LinearMixedModel(FORMULAS[1], d)
    whole = _cross(m._factor)
    parts = _cross(m._factor, rows=slice(0, 300)) + _cross(m._factor, rows=slice(300, 650)) \
        + _cross(m._factor, rows=slice(650, None))
    assert parts.n == whole.n == 900
    for key, (rows, cols, values) in whole.pairs.items():
        prow, pcol, pvalues = parts.pairs[key]
        np.testing.assert_array_equal(prow, rows)
        np.testing.assert_array_equal(pcol, cols)
        np.testing.assert_allclose(pvalues, values, rtol=1e-13)
    np.testing.assert_allclose(parts.fixed, whole.fixed, rtol=1e-13, atol=1e-12 * np.abs(whole.fixed).max())
    for a, b in zip(parts.diagonal + parts.fixed_rows, whole.diagonal + whole.fixed_rows):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_install_replaces_every_block_and_rows_are_refused():
    d = _data(600)
    m = LinearMixedModel(FORMULAS[0], d)
    w = d["w"].to_numpy()
    factor = SummaryCholesky(m.reterms, _cross(m._factor))
    factor.install(_cross(m._factor, w))  # another weighting of the same rows and level pairs
    m._factor.update_A(w)
    theta = np.array([0.8, 0.1, 0.3, 0.6])
    factor.evaluate(theta)
    m._factor.evaluate(theta)
    assert factor.pwrss == pytest.approx(m._factor.pwrss, rel=1e-10)
    for method in (factor.update_A, factor.reweight, factor.set_response):
        with pytest.raises(TypeError, match="holds no rows"):
            method(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="fixed columns"):
        factor.install(CrossProducts(1, [], {}, [], np.zeros((2, 2))))


def test_pickle_round_trip_evaluates_alike():
    m = LinearMixedModel("reaction ~ 1 + days + (1 + days | subj)", load_dataset("sleepstudy"))
    factor = SummaryCholesky(m.reterms, _cross(m._factor))
    again = pickle.loads(pickle.dumps(factor))
    theta = np.array([0.9, 0.02, 0.2])
    factor.evaluate(theta)
    again.evaluate(theta)
    assert again.logdet() == factor.logdet() and again.pwrss == factor.pwrss
    assert again.n == 180 and again.Xy.shape == (0, 3)

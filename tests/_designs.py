"""Small synthetic designs covering the block structures of the blocked Cholesky factor.

Each builder takes a seed and returns ``(data, formula)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _cover(rng, nlev, n):
    """``n`` level indices in ``range(nlev)`` in which every level occurs."""
    out = np.concatenate([np.arange(nlev), rng.integers(0, nlev, n - nlev)])
    return rng.permutation(out)


def _frame(rng, n, **cols):
    d = pd.DataFrame(cols)
    d["x"] = rng.normal(size=n)
    d["z"] = rng.normal(size=n)
    d["y"] = 10 + 2 * d["x"] + rng.normal(size=n) * 3
    for c in cols:  # some group signal, so fits are not all singular
        d["y"] += pd.Series(d[c]).astype("category").cat.codes.to_numpy() % 3
    return d


def scalar(rng):
    n = 40
    return _frame(rng, n, g=[f"g{v}" for v in _cover(rng, 7, n)]), "y ~ 1 + x + (1|g)"


def vector2(rng):
    n = 60
    return _frame(rng, n, g=_cover(rng, 8, n)), "y ~ 1 + x + (1 + x|g)"


def vector3(rng):
    n = 80
    return _frame(rng, n, g=_cover(rng, 9, n)), "y ~ 1 + x + (1 + x + z|g)"


def zerocorr(rng):
    n = 60
    return _frame(rng, n, g=_cover(rng, 8, n)), "y ~ 1 + x + (1|g) + (0 + x|g)"


def crossed2(rng):
    n = 70
    return _frame(rng, n, g=_cover(rng, 12, n), h=_cover(rng, 5, n)), "y ~ 1 + x + (1|g) + (1|h)"


def crossed3(rng):
    n = 90
    return (_frame(rng, n, g=_cover(rng, 15, n), h=_cover(rng, 7, n), i=_cover(rng, 4, n)),
            "y ~ 1 + x + (1|g) + (1|h) + (1|i)")


def crossed_vector(rng):
    n = 90
    return _frame(rng, n, g=_cover(rng, 12, n), h=_cover(rng, 5, n)), "y ~ 1 + x + (1 + x|g) + (1 + z|h)"


def nested2(rng):
    a = np.repeat(np.arange(5), 12)
    b = np.tile(np.repeat(np.arange(3), 4), 5)  # labels of b repeat across a: only a:b identifies a cell
    return _frame(rng, len(a), a=a, b=b), "y ~ 1 + x + (1|a/b)"


def nested3(rng):
    a = np.repeat(np.arange(4), 24)
    b = np.tile(np.repeat(np.arange(3), 8), 4)
    c = np.tile(np.repeat(np.arange(2), 4), 12)
    return _frame(rng, len(a), a=a, b=b, c=c), "y ~ 1 + x + (1|a/b/c)"


def nested3_sparse(rng):
    # many levels: the nested blocks are stored sparse and the (a, a:b) block is
    # updated by a sparse x sparse product
    a = np.repeat(np.arange(20), 16)
    b = np.tile(np.repeat(np.arange(4), 4), 20)
    c = np.tile(np.repeat(np.arange(2), 2), 80)
    return _frame(rng, len(a), a=a, b=b, c=c), "y ~ 1 + x + (1|a/b/c)"


def nested_vector(rng):
    a = np.repeat(np.arange(15), 12)
    b = np.tile(np.repeat(np.arange(4), 3), 15)
    return _frame(rng, len(a), a=a, b=b), "y ~ 1 + x + (1 + x|a/b)"


def partially_crossed(rng):
    # g and h crossed, but each g level meets only a few h levels: the (h, g) block is sparse
    n = 240
    return _frame(rng, n, g=_cover(rng, 60, n), h=_cover(rng, 50, n)), "y ~ 1 + x + (1|g) + (1|h)"


def partially_crossed_vector(rng):
    n = 240
    return (_frame(rng, n, g=_cover(rng, 60, n), h=_cover(rng, 50, n)),
            "y ~ 1 + x + (1 + x|g) + (1 + x|h)")


def partially_crossed3(rng):
    n = 300
    return (_frame(rng, n, g=_cover(rng, 90, n), h=_cover(rng, 70, n), i=_cover(rng, 50, n)),
            "y ~ 1 + x + (1|g) + (1|h) + (1|i)")


def scalar_with_vector_sparse(rng):
    n = 250
    return _frame(rng, n, g=_cover(rng, 90, n), h=_cover(rng, 40, n)), "y ~ 1 + x + (1|g) + (1 + x|h)"


DESIGNS = {
    f.__name__: f
    for f in (
        scalar, vector2, vector3, zerocorr, crossed2, crossed3, crossed_vector, nested2, nested3,
        nested3_sparse, nested_vector, partially_crossed, partially_crossed_vector, partially_crossed3,
        scalar_with_vector_sparse,
    )
}


def make(name, seed=0):
    return DESIGNS[name](np.random.default_rng(seed))


def random_theta(m, rng, *, zero_some=False):
    """A random θ within the bounds of ``m`` (diagonals in (0.1, 2.5), off-diagonals in (-1, 1))."""
    lb = m.theta_lowerbd
    theta = np.where(np.isfinite(lb), rng.uniform(0.1, 2.5, len(lb)), rng.uniform(-1, 1, len(lb)))
    if zero_some:
        diag = np.flatnonzero(np.isfinite(lb))
        theta[diag[rng.integers(0, len(diag))]] = 0.0
    return theta


def theta_entries(m, theta=None) -> dict:
    """θ keyed by (grouping factor, row column name, column column name) of its λ entry."""
    theta = m.theta if theta is None else np.asarray(theta, dtype=float)
    out, offset = {}, 0
    for r in m.reterms:
        for k, (i, j) in enumerate(zip(r.theta_rows, r.theta_cols)):
            out[(r.name, r.cnames[i], r.cnames[j])] = theta[offset + k]
        offset += r.ntheta
    return out


def map_theta(m_from, m_to, theta):
    """θ of ``m_from`` laid out for ``m_to``, a model of the same terms written in another order."""
    entries = theta_entries(m_from, theta)
    return np.array([entries[(r.name, r.cnames[i], r.cnames[j])]
                     for r in m_to.reterms for i, j in zip(r.theta_rows, r.theta_cols)])


def reversed_formula(formula: str) -> str:
    """The same model with its fixed and random terms written in reverse order (nesting expanded)."""
    from sklmixed.formula import parse_formula

    f = parse_formula(formula)
    fixed = " + ".join(reversed([t.strip() for t in f.fixed.split("+")]))
    bars = [f"({b.lhs} {'|' if b.correlated else '||'} {':'.join(b.factors)})" for b in reversed(f.bars)]
    return f"{f.response} ~ {fixed} + {' + '.join(bars)}"

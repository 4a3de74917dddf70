"""Data sets for the out-of-core tests, and the comparison of a fit from a Dask DataFrame with one in memory."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: both fits converge tightly, so that the comparison measures the out-of-core sums, not where
#: BOBYQA stops in a flat valley (the default ftol_rel of 1e-12 leaves θ to about 1e-5 on small data)
TIGHT = {"ftol_rel": 1e-15, "ftol_abs": 0.0, "xtol_abs": 1e-12}


def crossed(n=6000, seed=0, ng=120, nh=25) -> pd.DataFrame:
    """Crossed factors ``g`` (text) and ``h`` (integers) with a random slope of ``x`` on ``g``, a
    categorical ``f``, a factor ``k`` nested in ``h``, weights ``w`` and a binary ``b``."""
    rng = np.random.default_rng(seed)
    g, h, k = rng.integers(0, ng, n), rng.integers(0, nh, n), rng.integers(0, 4, n)
    x = rng.normal(size=n)
    f = rng.choice(list("abcd"), n)
    eta = (0.5 * x + rng.normal(size=ng)[g] + 0.4 * rng.normal(size=ng)[g] * x + 0.7 * rng.normal(size=nh)[h]
           + 0.8 * (f == "b"))
    return pd.DataFrame({"y": 10 + eta + rng.normal(size=n), "x": x, "g": [f"g{v:03d}" for v in g], "h": h, "k": k,
                         "f": f, "w": rng.uniform(0.5, 2.0, n),
                         "b": (rng.random(n) < 1 / (1 + np.exp(-(eta - 0.3)))).astype(int),
                         "c": rng.poisson(np.exp(0.3 * eta)), "e": rng.uniform(0.5, 2.0, n)})


def fit_tight(model, **fit):
    os = model.optsum
    os.ftol_rel, os.ftol_abs, os.xtol_abs = TIGHT["ftol_rel"], TIGHT["ftol_abs"], TIGHT["xtol_abs"]
    return model.fit(progress=False, **fit)


def assert_same_fit(ooc, mem, *, objective=1e-9, estimates=1e-6):
    """The issue's agreement: the objective to ``objective`` relative, θ and β to ``estimates``
    (relative to the largest magnitude, or absolute below 1)."""
    assert abs(ooc.objective - mem.objective) <= objective * abs(mem.objective)
    for name in ("theta", "beta"):
        a, b = np.asarray(getattr(ooc, name)), np.asarray(getattr(mem, name))
        assert a.shape == b.shape, name
        assert np.max(np.abs(a - b), initial=0.0) <= estimates * max(1.0, np.max(np.abs(b), initial=0.0)), \
            (name, a, b)

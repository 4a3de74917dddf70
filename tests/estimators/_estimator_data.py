"""Data shared by the estimator tests: sleepstudy laid out for both routes of the groups, and
binary outcomes with a random intercept per site, made once, and the fixtures that hand them
to tests: a test module imports the fixtures it uses (a ``conftest.py`` here would shadow the
``conftest`` module other tests import)."""

from functools import cache

import numpy as np
import pandas as pd
import pytest

from sklmixed import LinearMixedRegressor, load_dataset


@cache
def sleep_routes():
    """``X`` (days, as floats), ``y``, ``groups`` (subj) and ``Xg`` (days and subj: the group_columns route)."""
    data = load_dataset("sleepstudy")
    X = data[["days"]].astype(float)
    return X, data["reaction"], data["subj"], X.assign(subj=data["subj"])


@cache
def sites():
    """Binary outcomes of 300 rows at 15 sites: ``X`` (x), ``y`` (bool), ``groups`` (site) and ``Xg``."""
    rng = np.random.default_rng(0)
    n, n_sites = 300, 15
    site = pd.Series(rng.integers(0, n_sites, n), name="site")
    X = pd.DataFrame({"x": rng.normal(size=n)})
    y = rng.random(n) < 1 / (1 + np.exp(-(X["x"] + rng.normal(0, 1.5, n_sites)[site])))
    return X, y, site, X.assign(site=site)


@pytest.fixture(scope="module", name="sleep_routes")
def sleep_routes_fixture():
    return sleep_routes()


@pytest.fixture(scope="module", name="sites")
def sites_fixture():
    return sites()


@pytest.fixture(scope="module", name="fitted")
def fitted_fixture(sleep_routes):
    """A random-slope fit of sleepstudy with groups as metadata."""
    X, y, g, _ = sleep_routes
    return LinearMixedRegressor(random_slopes=["days"]).fit(X, y, groups=g)

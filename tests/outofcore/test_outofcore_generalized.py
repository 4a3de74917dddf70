"""Generalized linear mixed models fit to a Dask DataFrame (PIRLS passes over persisted partitions).

One test runs on the LocalCluster; the others run their hundreds of PIRLS passes on Dask's
threads, as a LocalCluster's scheduling (about 30 ms a pass) would make them the slowest
tests of the suite. The code is the same; only the scheduler differs.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

dd = pytest.importorskip("dask.dataframe")

from _partitioned_data import assert_same_fit, crossed, fit_tight  # noqa: E402

from sklmixed import GeneralizedLinearMixedModel  # noqa: E402

DATA = crossed().assign(trials=5, label=lambda d: np.where(d["b"] == 1, "yes", "no"))
DATA["successes"] = np.minimum(DATA["c"], 5)

DESIGNS = {
    "bernoulli, crossed": ("b ~ 1 + x + f + (1 | g) + (1 | h)", {}),
    "poisson, slope, offset column": ("c ~ 1 + x + (1 + x | g)", {"family": "poisson", "offset": "e"}),
    "binomial cbind": ("cbind(successes, trials - successes) ~ 1 + x + (1 | g)", {}),
}


@pytest.fixture
def threads():
    import dask

    with dask.config.set(scheduler="threads"):
        yield


@pytest.mark.parametrize("design", DESIGNS)
def test_fast_fit_same_as_in_memory(threads, design):
    formula, kw = DESIGNS[design]
    ooc = fit_tight(GeneralizedLinearMixedModel(formula, dd.from_pandas(DATA, npartitions=6), **kw), fast=True)
    mem = fit_tight(GeneralizedLinearMixedModel(formula, DATA, **kw), fast=True)
    assert type(ooc).__name__ == "PartitionedGeneralizedLinearMixedModel"
    assert_same_fit(ooc, mem)
    assert ooc.loglikelihood == pytest.approx(mem.loglikelihood, rel=1e-9)
    assert ooc.aic == pytest.approx(mem.aic, rel=1e-9)
    np.testing.assert_array_equal(ooc.beta_glm.round(6), mem.beta_glm.round(6))
    names = ooc.passes.table()["name"]
    # one pass per PIRLS iteration: many more than the handful before it
    assert (names == "PIRLS").sum() > 5 * ooc.optsum.feval // 2
    assert names.iloc[0] == "levels and categories" and names.iloc[1] == "encode and persist"
    np.testing.assert_allclose(ooc.stderror(), mem.stderror(), rtol=1e-5)



def test_full_fit_same_as_in_memory(threads):
    """β in the search (lme4's nAGQ = 1): the same route, a pass for every PIRLS iteration."""
    data = DATA.head(1500)
    formula = "b ~ 1 + x + (1 | h)"
    ooc = fit_tight(GeneralizedLinearMixedModel(formula, dd.from_pandas(data, npartitions=3)), fast=False)
    mem = fit_tight(GeneralizedLinearMixedModel(formula, data), fast=False)
    assert_same_fit(ooc, mem)
    assert ooc.loglikelihood == pytest.approx(mem.loglikelihood, rel=1e-9)

def test_labels_from_every_partition_predictions_and_pickle(dask_client):
    data = DATA.sort_values("label", kind="stable").reset_index(drop=True)  # the first partitions say "no" only
    ddf = dd.from_pandas(data, npartitions=5)
    formula = "label ~ 1 + x + (1 | h)"
    ooc = fit_tight(GeneralizedLinearMixedModel(formula, ddf), fast=True)
    mem = fit_tight(GeneralizedLinearMixedModel(formula, data), fast=True)
    assert ooc.response_levels == mem.response_levels == ("no", "yes")
    assert_same_fit(ooc, mem)
    got = ooc.predict(ddf)
    assert isinstance(got, dd.Series)
    np.testing.assert_allclose(got.compute(), mem.predict(data), rtol=1e-6)
    np.testing.assert_allclose(ooc.predict(ddf, type="link").compute(), mem.predict(data, type="link"), rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_allclose(ooc.fitted().compute(), mem.fitted(), rtol=1e-6)
    np.testing.assert_allclose(ooc.predict(data.head(9)), mem.predict(data.head(9)), rtol=1e-6)
    again = pickle.loads(pickle.dumps(ooc))
    assert again.objective == ooc.objective
    np.testing.assert_array_equal(again.predict(data.head(9)), ooc.predict(data.head(9)))


def test_what_needs_the_rows_is_refused(threads):
    ddf = dd.from_pandas(DATA, npartitions=3)
    with pytest.raises(ValueError, match="Gamma family estimates a parameter"):
        GeneralizedLinearMixedModel("e ~ 1 + x + (1 | g)", ddf, family="gamma")
    with pytest.raises(TypeError, match="offset must name a column"):
        GeneralizedLinearMixedModel("c ~ 1 + x + (1 | h)", ddf, family="poisson", offset=np.zeros(6000))
    model = GeneralizedLinearMixedModel("b ~ 1 + x + (1 | h)", ddf)
    with pytest.raises(ValueError, match="nagq > 1"):
        model.fit(nagq=3)
    for name in ("y", "mu", "eta", "prior", "offset"):
        with pytest.raises(TypeError, match="holds no rows"):
            getattr(model, name)
    with pytest.raises(ValueError, match="neither an offset array nor an interval"):
        model.fit(fast=True, progress=False).predict(ddf, interval="confidence")
    with pytest.raises(TypeError, match="holds no rows"):
        model.refit(np.zeros(6000))


def test_separable_and_constant_responses_refused(threads):
    data = DATA.assign(sep=(DATA["x"] > 0).astype(int), one=1)
    ddf = dd.from_pandas(data, npartitions=3)
    with pytest.raises(ValueError, match="a Bernoulli response must be 0 or 1"):
        GeneralizedLinearMixedModel("c ~ 1 + x + (1 | h)", ddf)
    with pytest.raises(ValueError, match="is constant"):
        GeneralizedLinearMixedModel("one ~ 1 + x + (1 | h)", ddf, family="poisson")

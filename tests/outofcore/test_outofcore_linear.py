"""Linear mixed models fit to a Dask DataFrame on a LocalCluster, against the same fit in memory."""

from __future__ import annotations

import pickle
import re
import warnings

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")

from _partitioned_data import assert_same_fit, crossed, fit_tight  # noqa: E402

from sklmixed import LinearMixedModel, profile, simulate  # noqa: E402
from sklmixed.exceptions import RankDeficiencyWarning  # noqa: E402

DATA = crossed()

DESIGNS = {
    "crossed + slope": ("y ~ 1 + x + f + (1 + x | g) + (1 | h)", {}, {}),
    "uncorrelated + nested + weights": ("y ~ 1 + x + (1 + x || g) + (1 | h/k)", {"weights": "w"}, {}),
    "sum contrasts + interaction factor": ("y ~ 1 + x * f + (1 | g) + (1 | h:k)", {"contrasts": {"f": "sum"}}, {}),
    "REML, transforms": ("np.log(y) ~ 1 + I(x ** 2) + np.exp(x / 4) + (1 | g) + (1 | h)", {}, {"reml": True}),
}


@pytest.mark.parametrize("design", DESIGNS)
def test_same_fit_as_in_memory(dask_client, design):
    formula, kw, fit = DESIGNS[design]
    ddf = dd.from_pandas(DATA, npartitions=8)
    ooc = fit_tight(LinearMixedModel(formula, ddf, **kw), **fit)
    mem = fit_tight(LinearMixedModel(formula, DATA, **kw), **fit)
    assert type(ooc).__name__ == "PartitionedLinearMixedModel" and isinstance(ooc, LinearMixedModel)
    assert_same_fit(ooc, mem)
    # the same function: at the same θ the objectives agree to rounding
    assert ooc.objective_at(mem.theta) == pytest.approx(mem.objective_at(mem.theta), rel=1e-12)
    assert ooc.nobs == mem.nobs and ooc.dof == mem.dof and ooc.feterm.names == mem.feterm.names
    assert [r.name for r in ooc.reterms] == [r.name for r in mem.reterms]
    assert [list(r.grouping.levels) for r in ooc.reterms] == [list(r.grouping.levels) for r in mem.reterms]
    assert len(ooc.passes) == 3 and ooc.passes.table()["partitions"].tolist() == [8, 8, 8]
    assert ooc.sigma == pytest.approx(mem.sigma, rel=1e-6)
    np.testing.assert_allclose(ooc.stderror(), mem.stderror(), rtol=1e-5)
    for name, frame in mem.ranef().items():
        pd.testing.assert_index_equal(ooc.ranef()[name].index, frame.index)
        np.testing.assert_allclose(ooc.ranef()[name], frame, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ooc.var_components().select_dtypes("number"),
                               mem.var_components().select_dtypes("number"), rtol=1e-5, atol=1e-8)
    assert str(ooc).splitlines()[:2] == str(mem).splitlines()[:2]


def test_predictions_fitted_and_residuals_are_dask_series(dask_client):
    formula = "y ~ 1 + x + f + (1 + x | g) + (1 | h)"
    ddf = dd.from_pandas(DATA, npartitions=6)
    ooc = fit_tight(LinearMixedModel(formula, ddf))
    mem = fit_tight(LinearMixedModel(formula, DATA))
    new = DATA.head(500).assign(g=lambda d: d["g"].where(d.index % 7 > 0, "unseen"))
    pred = ooc.predict(dd.from_pandas(new, npartitions=3))
    assert isinstance(pred, dd.Series)
    got = pred.compute()
    pd.testing.assert_index_equal(got.index, new.index)
    np.testing.assert_allclose(got, mem.predict(new), rtol=1e-6)
    np.testing.assert_allclose(ooc.predict(new), mem.predict(new), rtol=1e-6)  # a pandas DataFrame as in memory
    np.testing.assert_allclose(ooc.fitted().compute(), mem.fitted(), rtol=1e-6)
    resid = ooc.residuals().compute()
    np.testing.assert_allclose(resid, mem.residuals(), rtol=1e-5, atol=1e-6 * DATA["y"].abs().max())
    with pytest.raises(ValueError, match="levels of 'g' not seen"):
        ooc.predict(dd.from_pandas(new, npartitions=3), new_levels="error").compute()
    with pytest.raises(ValueError, match="interval"):
        ooc.predict(dd.from_pandas(new, npartitions=3), interval="confidence")


def test_missing_values_dropped_or_refused_with_the_totals(dask_client):
    data = DATA.copy()
    data.loc[[3, 1500, 4000, 4001], "x"] = np.nan
    data.loc[[10, 5999], "g"] = None
    ddf = dd.from_pandas(data, npartitions=6)
    formula = "y ~ 1 + x + (1 | g) + (1 | h)"
    with pytest.raises(ValueError) as in_memory:
        LinearMixedModel(formula, data)
    with pytest.raises(ValueError, match=re.escape("missing or non-finite values in column(s) 'x' (4), 'g' (2)")) \
            as out_of_core:
        LinearMixedModel(formula, ddf)
    assert str(out_of_core.value) == str(in_memory.value)
    with pytest.warns(UserWarning, match=re.escape("dropped 6 of 6000 row(s)")):
        ooc = fit_tight(LinearMixedModel(formula, ddf, missing="drop"))
    with pytest.warns(UserWarning, match="dropped 6"):
        mem = fit_tight(LinearMixedModel(formula, data, missing="drop"))
    assert ooc.n_dropped == mem.n_dropped == 6 and ooc.nobs == 5994
    assert_same_fit(ooc, mem)
    assert len(ooc.residuals().compute()) == 5994


def test_categories_declared_but_unseen_and_collinear_columns_as_in_memory(dask_client):
    data = DATA.assign(f=pd.Categorical(DATA["f"], categories=list("abcde")), x2=2 * DATA["x"] + 1)
    ddf = dd.from_pandas(data, npartitions=5)
    assert ddf["f"].cat.known
    formula = "y ~ 1 + x + x2 + f + (1 | g)"
    with pytest.warns(RankDeficiencyWarning, match=re.escape("['x2', 'f[T.e]']")):
        ooc = fit_tight(LinearMixedModel(formula, ddf))
    with pytest.warns(RankDeficiencyWarning):
        mem = fit_tight(LinearMixedModel(formula, data))
    assert ooc.feterm.dropped == mem.feterm.dropped and ooc.feterm.never_observed == mem.feterm.never_observed
    assert_same_fit(ooc, mem)
    np.testing.assert_array_equal(ooc.coef().isna(), mem.coef().isna())


def test_empty_partitions_and_a_lazily_generated_frame(dask_client):
    def part(i):
        return DATA.iloc[i * 1000:(i + 1) * 1000] if i % 2 == 0 else DATA.iloc[:0]

    ddf = dd.from_map(part, range(12))
    assert ddf.npartitions == 12
    formula = "y ~ 1 + x + (1 | g) + (1 | h)"
    ooc = fit_tight(LinearMixedModel(formula, ddf))
    rows = pd.concat([part(i) for i in range(12)])
    assert_same_fit(ooc, fit_tight(LinearMixedModel(formula, rows)))


def test_pickled_model_keeps_no_rows(dask_client):
    ddf = dd.from_pandas(DATA, npartitions=4)
    model = LinearMixedModel("y ~ 1 + x + (1 + x | g)", ddf).fit(progress=False)
    blob = pickle.dumps(model)
    assert len(blob) < 200_000  # levels, estimates and the factor: not the 6000 rows
    again = pickle.loads(blob)
    assert again.objective == model.objective
    np.testing.assert_array_equal(again.predict(DATA.head(20)), model.predict(DATA.head(20)))
    with pytest.raises(ValueError, match="unpickled without its Dask DataFrame"):
        again.fitted()
    np.testing.assert_allclose(again.fitted(ddf).compute(), model.fitted().compute())


def test_what_needs_the_rows_is_refused_by_name(dask_client):
    ddf = dd.from_pandas(DATA, npartitions=4)
    model = LinearMixedModel("y ~ 1 + x + (1 | g)", ddf).fit(progress=False)
    for get in (lambda: model.y, lambda: model.weights, lambda: model.feterm.X, lambda: model.reterms[0].refs):
        with pytest.raises(TypeError, match="holds no rows"):
            get()
    with pytest.raises(TypeError, match="holds no rows"):
        model.refit(np.zeros(6000))
    with pytest.raises(TypeError, match="shrinkage plots"):
        model.within_level_estimates(0, np.zeros((120, 1)))
    with pytest.raises(TypeError, match="holds no rows"):
        simulate(model, random_state=1)
    with pytest.raises(TypeError, match="holds no rows"):
        profile(model)
    refit = model.refit(progress=False)  # the same data from a fresh start needs no rows
    assert refit.objective == pytest.approx(model.objective, rel=1e-10)


@pytest.mark.filterwarnings("ignore:invalid value encountered in log:RuntimeWarning",
                            "ignore:divide by zero encountered in log:RuntimeWarning")
@pytest.mark.parametrize("formula, kw, error, message", [
    ("y ~ 1 + x + (1 | g)", {"weights": np.ones(6000)}, TypeError, "weights must name a column"),
    ("y ~ 1 + center(x) + (1 | g)", {}, ValueError, "stateful|state"),
    ("y ~ 1 + poly(x, 2) + (1 | g)", {}, ValueError, "learns from the data"),
    ("y ~ 1 + (1 + center(x) | g)", {}, ValueError, "learns from the data"),
    ("y ~ 1 + nope + (1 | g)", {}, ValueError, re.escape("column(s) ['nope'] not in the data")),
    ("y ~ 1 + np.log(z0) + (1 | g)", {}, ValueError, re.escape("'np.log(z0)' (6000) have non-finite values")),
    ("y ~ 1 + np.log(x) + (1 | g)", {}, ValueError, "cannot build the fixed-effects matrix.*null values"),
    ("y ~ 1 + x + (1 | g) + (1 | g)", {}, ValueError, "depends on the columns before it"),
    ("y ~ 1 + x + (1 + c2 | g)", {}, ValueError, "depends on the columns before it"),
    ("y ~ 1 + x + (0 + z0 | g)", {}, ValueError, "is all zero"),
    ("y ~ 1 + big + (1 | g)", {}, ValueError, "'big' has values as large as"),
    ("f ~ 1 + x + (1 | g)", {}, TypeError, "must be numeric"),
])
def test_refusals(dask_client, formula, kw, error, message):
    data = DATA.assign(c2=2.0, z0=0.0, big=DATA["x"] * 1e200)
    ddf = dd.from_pandas(data, npartitions=3)
    with pytest.raises(error, match=message):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RankDeficiencyWarning)
            LinearMixedModel(formula, ddf, **kw)


def test_estimability_refused_at_fit_as_in_memory(dask_client):
    data = DATA.assign(const=3.0, exact=1 + 2 * DATA["x"], one=np.arange(6000))
    ddf = dd.from_pandas(data, npartitions=3)
    for formula, message in [("const ~ 1 + x + (1 | g)", "is constant"), ("exact ~ 1 + x + (1 | g)", "exactly"),
                             ("y ~ 1 + x + (1 | one)", "6000 levels for 6000 observations")]:
        model = LinearMixedModel(formula, ddf)
        with pytest.raises(ValueError, match=message):
            model.fit(progress=False)
        with pytest.raises(ValueError, match=message):
            LinearMixedModel(formula, data).fit(progress=False)


def test_strict_formula_policy_reads_the_dask_columns(dask_client):
    from sklmixed.exceptions import UnsafeFormulaError

    ddf = dd.from_pandas(DATA, npartitions=2)
    with pytest.raises(UnsafeFormulaError):
        LinearMixedModel("y ~ 1 + __import__('os').getcwd() + (1 | g)", ddf, formula_policy="strict")
    assert LinearMixedModel("y ~ 1 + x + (1 | g)", ddf, formula_policy="strict").n == 6000

"""Extreme magnitudes get a rescale message naming the column, never a failure from deep inside."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from sklmixed import GeneralizedLinearMixedModel, LinearMixedModel
from sklmixed.terms.magnitude import LARGEST, SMALLEST, check_magnitudes

_NOT = ("PosDefError", "rank deficient", "SVD did not converge", "separa", "not positive definite")


@pytest.fixture(scope="module")
def counts():
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(20), 10)
    x = rng.normal(size=200)
    return pd.DataFrame({"g": g.astype(str), "x": x,
                         "y": rng.poisson(np.exp(0.5 + 0.3 * x + rng.normal(0, 0.5, 20)[g])).astype(float)})


def _refused(build, pattern):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning, no RankDeficiencyWarning on the way
        with pytest.raises(ValueError, match=pattern) as info:
            build()
    assert not any(text in str(info.value) for text in _NOT), str(info.value)


@pytest.mark.parametrize("c", [1e200, 1e-200, -1e200, 1e155])
@pytest.mark.parametrize("place", ["fixed", "slope"])
def test_covariates_out_of_scale_are_refused_by_name(sleepstudy, counts, c, place):
    data = sleepstudy.assign(big=sleepstudy["days"] * c)
    formula = "reaction ~ 1 + big + (1|subj)" if place == "fixed" else "reaction ~ 1 + days + (1 + big|subj)"
    what = "fixed-effects" if place == "fixed" else "random-effects"
    _refused(lambda: LinearMixedModel(formula, data), rf"the {what} column 'big'.* rescale it")
    gdata = counts.assign(big=counts["x"] * c)
    gformula = "y ~ 1 + big + (1|g)" if place == "fixed" else "y ~ 1 + x + (0 + big|g)"
    _refused(lambda: GeneralizedLinearMixedModel(gformula, gdata, family="poisson"), r"column 'big'.* rescale it")


@pytest.mark.parametrize("c", [1e-140, 1e140])
def test_large_but_safe_covariates_are_fit(sleepstudy, c):
    base = LinearMixedModel("reaction ~ 1 + days + (1 + days|subj)", sleepstudy).fit(progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = LinearMixedModel("reaction ~ 1 + x + (1 + x|subj)", sleepstudy.assign(x=sleepstudy["days"] * c))
        m.fit(progress=False)
    assert m.objective == pytest.approx(base.objective, abs=1e-6)
    assert m.beta[1] * c == pytest.approx(base.beta[1], rel=1e-6)


def test_poisson_counts_of_1e15_are_refused(counts):
    _refused(lambda: GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", counts.assign(y=counts["y"] * 1e15),
                                                 family="poisson"), "response 'y' has counts as large as .*rescale")
    m = GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", counts, family="poisson")
    with pytest.raises(ValueError, match="counts as large as"):
        m.refit(counts["y"].to_numpy() * 1e15)


def test_glmm_start_of_1e300_is_a_clear_error(counts):
    m = GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", counts, family="poisson")
    m.optsum.initial = np.array([1e300])
    _refused(lambda: m.fit(progress=False), r"starting point \[1e\+300\].*start θ near 1")


def test_check_magnitudes_bounds():
    ok = np.array([[LARGEST, SMALLEST, 0.0]])
    check_magnitudes(ok, ["a", "b", "c"], "test")
    with pytest.raises(ValueError, match="'b' .* no value larger than"):
        check_magnitudes(np.array([[1.0, SMALLEST / 10]]), ["a", "b"], "test")

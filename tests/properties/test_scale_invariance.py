"""Invariance of linear mixed-model fits to the response's location and scale and to the weights' scale.

A response far from zero or on a huge or tiny scale, and weights multiplied by any constant,
must give the same θ (to 1e-6), the same deviance up to its exact constant, and the same
estimates in the data's units. The fit is searched in centred and scaled units with the
constants left out of what the optimiser sees, so the tolerances act alike at every scale.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from sklmixed import LinearMixedModel
from sklmixed.exceptions import ConvergenceWarning

import _designs

FORMULA = "reaction ~ 1 + days + (1 + days|subj)"


@pytest.fixture(scope="module")
def base(sleepstudy):
    return {reml: LinearMixedModel(FORMULA, sleepstudy).fit(progress=False, reml=reml) for reml in (False, True)}


def _fit(data, reml=False, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow, no convergence warning, no false "fits exactly"
        return LinearMixedModel(FORMULA, data, **kw).fit(progress=False, reml=reml)


@pytest.mark.parametrize("shift", [1e3, 1e8, 1e9, 1e10, -1e10])
@pytest.mark.parametrize("reml", [False, True])
def test_shifted_response_gives_the_same_fit(sleepstudy, base, shift, reml):
    m = _fit(sleepstudy.assign(reaction=sleepstudy["reaction"] + shift), reml)
    b = base[reml]
    assert_allclose(m.theta, b.theta, atol=1e-6)
    assert m.objective == pytest.approx(b.objective, rel=1e-9)  # a shift adds no constant
    assert m.sigma == pytest.approx(b.sigma, rel=1e-6)
    assert m.beta[0] == pytest.approx(b.beta[0] + shift, rel=1e-12)
    assert m.beta[1] == pytest.approx(b.beta[1], rel=1e-5)


@pytest.mark.parametrize("scale", [1e-200, 1e-100, 1e-3, 1e-1, 10.0, 1e3, 1e6, 1e9, 1e100, 1e200])
def test_scaled_response_gives_the_same_fit(sleepstudy, base, scale):
    m = _fit(sleepstudy.assign(reaction=sleepstudy["reaction"] * scale))
    b = base[False]
    assert_allclose(m.theta, b.theta, atol=1e-6)
    # the deviance shifts by exactly n log c² (computed as 2 n log c: c² itself may overflow)
    assert m.objective - 2 * m.n * np.log(scale) == pytest.approx(b.objective, abs=1e-6)
    assert m.sigma == pytest.approx(b.sigma * scale, rel=1e-6)
    assert_allclose(m.beta, b.beta * scale, rtol=1e-6)
    assert_allclose(m.stderror().to_numpy(), b.stderror().to_numpy() * scale, rtol=1e-5)
    vc, vb = m.var_components(), b.var_components()
    assert_allclose(vc["std_dev"], vb["std_dev"] * scale, rtol=1e-5)
    assert np.all(np.isfinite(vc["std_dev"]))
    assert str(m)  # the summary prints at any scale


@pytest.mark.parametrize("shift, scale", [(1e10, 1.0), (0.0, 1e200), (0.0, 1e-200)])
def test_exact_fit_check_still_fires_at_any_scale(sleepstudy, shift, scale):
    """A response that is a linear function of the fixed effects is refused, far from zero too."""
    exact = sleepstudy.assign(reaction=(3.0 * sleepstudy["days"] + 1.0) * scale + shift)
    with pytest.raises(ValueError, match="fit the response 'reaction' exactly"):
        LinearMixedModel(FORMULA, exact).fit(progress=False)


@pytest.fixture(scope="module")
def weights(sleepstudy):
    return np.random.default_rng(0).uniform(0.5, 2.0, len(sleepstudy))


@pytest.fixture(scope="module")
def weighted_base(sleepstudy, weights):
    return LinearMixedModel(FORMULA, sleepstudy, weights=weights).fit(progress=False)


@pytest.mark.parametrize("c", [1e-100, 1e-4, 1e-2, 1e2, 1e4, 1e6, 1e8, 1e100])
def test_weight_scale_invariance(sleepstudy, weights, weighted_base, c):
    """Λ'Z'(cW)ZΛ = (√c Λ)'Z'W Z(√c Λ): the optimal θ scales by exactly 1/√c; the deviance
    (with its −Σ log w), β and σ²θθ' do not change (lme4 stops on the boundary for c = 1e4)."""
    b = weighted_base
    m = _fit(sleepstudy, weights=weights * c)
    assert_allclose(m.theta * np.sqrt(c), b.theta, rtol=1e-6, atol=1e-6 * np.abs(b.theta).max())
    assert m.objective == pytest.approx(b.objective, abs=1e-6)
    assert_allclose(m.beta, b.beta, rtol=1e-8)
    assert not m.issingular()
    for mm, bb in zip(m.lambda_, b.lambda_):
        assert_allclose(m.sigma**2 * mm @ mm.T, b.sigma**2 * bb @ bb.T, rtol=1e-6)
    assert_allclose(m.var_components()["variance"][:2], b.var_components()["variance"][:2], rtol=1e-6)


def test_a_far_start_ending_on_the_boundary_is_tried_again(sleepstudy, base):
    """From θ = [1e3, 0, 1e3] BOBYQA stops on the boundary at a deviance 22 above the optimum."""
    with pytest.warns(ConvergenceWarning, match="stopped on the boundary"):
        m = LinearMixedModel(FORMULA, sleepstudy).fit(progress=False, start=[1e3, 0.0, 1e3])
    assert m.objective == pytest.approx(base[False].objective, abs=1e-6)
    assert_allclose(m.theta, base[False].theta, atol=1e-5)
    assert not m.issingular()


def test_a_singular_fit_from_the_default_start_is_not_repeated(dyestuff2):
    m = LinearMixedModel("yield ~ 1 + (1|batch)", dyestuff2).fit(progress=False, fitlog=True)
    assert m.issingular()
    assert m.optsum.feval == len(m.optsum.fitlog)  # one search only


def test_a_start_of_1e300_is_a_clear_error(sleepstudy):
    m = LinearMixedModel(FORMULA, sleepstudy)
    with pytest.raises(ValueError, match=r"starting θ = \[1e\+300.*start near 1 in those units, or rescale"):
        m.fit(progress=False, start=[1e300, 0.0, 1e300])


# ---------------------------------------------------------------------- the same, on random designs
# Objectives at fixed θ on every design of tests/_designs.py: no optimiser, agreement to rounding.
_design_names = st.sampled_from(sorted(_designs.DESIGNS))


@given(name=_design_names, seed=st.integers(0, 2**16), log_scale=st.floats(-3, 9), log_shift=st.floats(-3, 9),
       reml=st.booleans())
def test_random_designs_response_shift_and_scale(name, seed, log_scale, log_shift, reml):
    """y → c·y + s: the objective at θ moves by exactly ν log c² (ν = n, or n − p for REML)."""
    data, formula = _designs.make(name, seed)
    c, s = 10.0**log_scale, 10.0**log_shift
    note(f"design={name} c={c:g} s={s:g}")
    base = LinearMixedModel(formula, data)
    moved = LinearMixedModel(formula, data.assign(y=data["y"] * c + s))
    theta = _designs.random_theta(base, np.random.default_rng(seed))
    nu = base.n - base.feterm.rank if reml else base.n
    expected = base.objective_at(theta, reml=reml) + 2 * nu * np.log(c)
    # storing c·y + s rounds every value by up to s·2⁻⁵³: the data themselves carry that much
    rounding = 20 * base.n * np.finfo(float).eps * s / (c * np.std(data["y"]))
    assert moved.objective_at(theta, reml=reml) == pytest.approx(expected, rel=1e-9, abs=1e-7 + rounding)


@given(name=_design_names, seed=st.integers(0, 2**16), log_c=st.floats(-100, 100), reml=st.booleans())
def test_random_designs_weight_scale(name, seed, log_c, reml):
    """w → c·w: the objective at θ/√c equals that at θ (Λ'Z'(cW)ZΛ = (√cΛ)'Z'WZ(√cΛ))."""
    data, formula = _designs.make(name, seed)
    c = 10.0**log_c
    note(f"design={name} c={c:g}")
    w = np.random.default_rng(seed + 1).uniform(0.3, 3.0, len(data))
    base = LinearMixedModel(formula, data, weights=w)
    scaled = LinearMixedModel(formula, data, weights=w * c)
    theta = _designs.random_theta(base, np.random.default_rng(seed))
    # −Σ log w falls by n log c, ν log r² rises by ν log c, REML's log|L_X|² by p log c: no change
    expected = base.objective_at(theta, reml=reml)
    assert scaled.objective_at(theta / np.sqrt(c), reml=reml) == pytest.approx(expected, rel=1e-9, abs=1e-7)

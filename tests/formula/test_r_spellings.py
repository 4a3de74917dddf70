"""lme4 spellings users paste: cbind responses, offset() terms, factor(x), ^ inside calls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sklmixed import GeneralizedLinearMixedModel, LinearMixedModel, load_dataset
from sklmixed.formula.parse import binomial_response, parse_formula, r_spellings

DATA = pd.read_csv(__import__("pathlib").Path(__file__).parents[1] / "data" / "glmm_binomial.csv")


def test_power_inside_a_call_is_a_power_not_xor():
    sleep = load_dataset("sleepstudy")
    pasted = LinearMixedModel("reaction ~ 1 + days + I(days^2) + (1|subj)", sleep).fit(progress=False)
    by_hand = LinearMixedModel("reaction ~ 1 + days + d2 + (1|subj)", sleep.assign(d2=sleep.days ** 2)).fit(progress=False)
    assert pasted.objective == pytest.approx(by_hand.objective, rel=1e-12)
    np.testing.assert_allclose(pasted.beta, by_hand.beta, rtol=1e-8)
    # XOR would have given days ^ 2 = [2, 3, 0, 1, 6, ...]
    np.testing.assert_array_equal(pasted.feterm.X[:, 2], sleep.days.to_numpy() ** 2)


def test_interaction_power_outside_calls_keeps_its_formula_meaning():
    assert r_spellings("y ~ (a + b)^2 + log(x^3) + (1|g)") == "y ~ (a + b)^2 + log(x**3) + (1|g)"


def test_factor_is_C_on_both_sides_of_the_bar():
    f = parse_formula("y ~ 1 + factor(x) + as.factor(z) + (1 | factor(g))")
    assert f.fixed == "1 + C(x) + C(z)"
    assert f.bars[0].factors == ("g",)


def test_factor_fits_as_a_categorical_column():
    sleep = load_dataset("sleepstudy")
    a = LinearMixedModel("reaction ~ 1 + factor(days) + (1|subj)", sleep).fit(progress=False)
    b = LinearMixedModel("reaction ~ 1 + C(days) + (1|subj)", sleep).fit(progress=False)
    assert len(a.beta) == 10 and a.objective == pytest.approx(b.objective, rel=1e-12)


def test_cbind_is_a_binomial_response_with_its_trials():
    assert binomial_response("cbind(k, n - k)") == ("(k) / (n)", "n")
    assert binomial_response("cbind(k, f)") == ("(k) / ((k) + (f))", "(k) + (f)")
    with pytest.raises(ValueError, match="cbind\\(successes, failures\\)"):
        binomial_response("cbind(k)")
    pasted = GeneralizedLinearMixedModel("cbind(succ, n - succ) ~ 1 + x + (1|g)", DATA, family="binomial")
    python = GeneralizedLinearMixedModel("prop ~ 1 + x + (1|g)", DATA, family="binomial", weights="n")
    default_family = GeneralizedLinearMixedModel("cbind(succ, n - succ) ~ 1 + x + (1|g)", DATA)
    objectives = [m.fit(fast=True, progress=False).objective for m in (pasted, python, default_family)]
    assert objectives[0] == pytest.approx(objectives[1], rel=1e-12) == objectives[2]
    assert default_family.family.name == "Binomial"


def test_cbind_refusals_say_what_to_write():
    with pytest.raises(ValueError, match="binomial family"):
        GeneralizedLinearMixedModel("cbind(succ, n - succ) ~ 1 + x + (1|g)", DATA, family="poisson")
    with pytest.raises(ValueError, match="do not give weights"):
        GeneralizedLinearMixedModel("cbind(succ, n - succ) ~ 1 + x + (1|g)", DATA, family="binomial", weights="n")
    with pytest.raises(ValueError, match="family='binomial'"):
        LinearMixedModel("cbind(succ, n - succ) ~ 1 + x + (1|g)", DATA)
    with pytest.raises(ValueError, match="zero or negative"):
        GeneralizedLinearMixedModel("cbind(succ, n - succ) ~ 1 + x + (1|g)", DATA.assign(n=DATA.succ),
                                    family="binomial")


def test_offset_in_the_formula_is_the_offset_argument():
    data = DATA.assign(e=np.exp(0.1 * DATA.x))
    pasted = GeneralizedLinearMixedModel("succ ~ 1 + x + offset(log(e)) + (1|g)", data, family="poisson")
    python = GeneralizedLinearMixedModel("succ ~ 1 + x + (1|g)", data, family="poisson", offset=np.log(data.e))
    a, b = (m.fit(fast=True, progress=False) for m in (pasted, python))
    assert a.objective == pytest.approx(b.objective, rel=1e-12)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-8)
    with pytest.raises(ValueError, match="subtract it from the response"):
        LinearMixedModel("succ ~ 1 + x + offset(log(e)) + (1|g)", data)
    with pytest.raises(ValueError, match="cannot subtract an offset"):
        parse_formula("y ~ x - offset(e) + (1|g)")
    with pytest.raises(ValueError, match="non-finite"):
        GeneralizedLinearMixedModel("succ ~ 1 + x + offset(log(e)) + (1|g)", data.assign(e=0.0), family="poisson")

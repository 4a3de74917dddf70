"""Separation beyond Bernoulli: a Poisson fixed effect that separates the zeros is flagged as a
Bernoulli one is, with no numpy RuntimeWarning escaping, and failed evaluations are counted."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from sklmixed import GeneralizedLinearMixedModel
from sklmixed.exceptions import ConvergenceWarning, PIRLSError, SeparationWarning

# lme4's colonizer_rand.rda (its tests): respspecies H has no colonizers without removal.
# lme4 reports β of -23 and +23 with standard errors of 3e4 (benchmarks/peers/colonizer.R).
_COUNTS = [6, 0, 8, 0, 4, 0, 4, 2, 6, 0, 6, 0, 5, 0, 2, 5, 4, 0, 7, 0, 1, 0, 4, 10]


@pytest.fixture(scope="module")
def colonizer():
    plot = np.repeat(np.arange(1, 7), 4).astype(str)
    home = np.repeat(["T", "X", "T", "X", "T", "X"], 4)
    return pd.DataFrame({"Plot": plot, "homespecies": home, "Treatment": np.tile(["Control", "Control", "Removal",
                         "Removal"], 6), "respspecies": np.tile(["C", "H"], 12), "colonizers": _COUNTS})


FORMULA = "colonizers ~ Treatment * homespecies * respspecies + (1 | Plot)"


def _fit(data, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = GeneralizedLinearMixedModel(FORMULA, data, family="poisson").fit(progress=False, **kw)
    return m, caught


@pytest.mark.parametrize("fit_kw", [{"fast": True}, {}, {"nagq": 3}], ids=["fast", "full", "agq"])
def test_separated_poisson_warns_as_bernoulli_does(colonizer, fit_kw):
    m, caught = _fit(colonizer, **fit_kw)
    kinds = [w.category for w in caught]
    assert SeparationWarning in kinds
    message = next(str(w.message) for w in caught if w.category is SeparationWarning)
    assert "fitted means numerically 0" in message and "separable" in message
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]
    # the separated coefficient runs off (lme4 stops at -23): only the warning makes it usable
    assert np.min(m.beta) < -20


def test_failed_evaluations_are_counted_and_warned(poisson_data):
    """An evaluation whose PIRLS fails is given the start's objective (BOBYQA needs a number), but
    never silently: the failures are counted and reported."""
    m = GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", poisson_data, family="poisson")
    run, calls = m._pirls.run, []

    def failing(vary_beta=False):
        calls.append(1)
        if len(calls) % 4 == 0:
            raise PIRLSError("PIRLS could not reduce the deviance (injected)")
        return run(vary_beta)
    m._pirls.run = failing
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m.fit(fast=True, progress=False)
    assert m.optsum.nfailed > 0
    failed = [str(w.message) for w in caught if w.category is ConvergenceWarning and "failed" in str(w.message)]
    assert failed and f"{m.optsum.nfailed} of {m.optsum.feval} evaluations" in failed[0]


def test_a_well_posed_poisson_fit_has_no_failures_and_no_warning():
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(20), 10)
    x = rng.normal(size=g.size)
    d = pd.DataFrame({"g": g, "x": x, "y": rng.poisson(np.exp(0.5 + 0.4 * x + rng.normal(0, 0.5, 20)[g]))})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = GeneralizedLinearMixedModel("y ~ 1 + x + (1|g)", d, family="poisson").fit(progress=False)
    assert m.optsum.nfailed == 0

"""lme4's colonizer example: Poisson cells of zeros, whose coefficients run to -inf.

The fast fit used to stay at its start θ = 1, 14 deviance units above lme4's ``nAGQ = 0``:
the IRLS weights of the zero cells underflowed, X'WX was numerically singular at every
other θ, and every evaluation failed. Reference: ``benchmarks/peers/inference_reference.R``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklmixed import GeneralizedLinearMixedModel
from sklmixed.exceptions import SeparationWarning
from sklmixed.glm.families import Poisson
from sklmixed.glm.irls import working_response_and_weights
from sklmixed.glm.links import LogLink

DATA = Path(__file__).parents[1] / "data"
REFERENCE = json.loads((DATA / "inference_reference.json").read_text())["colonizer"]


@pytest.mark.parametrize("fast", [True, False])
def test_colonizer_fit_matches_lme4(fast):
    data = pd.read_csv(DATA / "colonizer.csv").astype({"Plot": str})
    m = GeneralizedLinearMixedModel(REFERENCE["formula"], data, family="poisson")
    with pytest.warns(SeparationWarning, match="fitted means numerically 0 occurred for 9"):
        m.fit(fast=fast, progress=False)
    assert -2 * m.loglikelihood == pytest.approx(REFERENCE["nAGQ0"]["minus2loglik"], abs=1e-6)
    assert m.theta[0] < 1e-3 and m.pirls_converged and m.optsum.feval > 3
    # the coefficients of cells with data are lme4's; the zero cells' run off (lme4 stops at -23)
    ref = np.array(REFERENCE["nAGQ0"]["beta"])
    np.testing.assert_allclose(m.beta[:3], ref[:3], atol=1e-3)
    assert m.beta[3] < -20


def test_clipped_means_step_by_about_one_unit():
    eta = np.array([-40.0, -30.0, 0.5])
    z, w, mu = working_response_and_weights(Poisson(), LogLink(), np.array([0.0, 0.0, 2.0]), eta, np.zeros(3),
                                            np.ones(3))
    assert np.all(np.abs(z[:2] - eta[:2]) <= 1.0 + 1e-12)
    assert np.all(w > 0) and w.min() >= 1e-10 * w.max() * (1 - 1e-12)
